"""Compile a Mapping into per-item cost coefficients (action counts and resource times).

An *item* is one op placed on one chiplet, one transfer, or one layer's KV-cache traffic. Every item's
action counts and resource times are linear in the iteration *features*

    f = [1, n_seq, Sum T, Sum L, Sum T*L]     (1 = the iteration has work)

plus, for KV items, the tokens spilled off-package on the item's chiplet s_c = max(0, Sum L - on_c)
(``llmimc.mapping.kv``). OpGraph Polys are per sequence, so Sum over sequences of Poly(T, L) =
c0*n_seq + c_t*Sum T + c_l*Sum L + c_tl*Sum T*L exactly. Coefficients are computed once here; an
iteration is then a few small matrix products (``llmimc.cost.model``).

Per-item resource times (the item's latency is the largest, i.e. its critical resource):
- analog: t_mvm x expert_load x vectors, vectors = the op's FLOPs / (2 K N E expert_load) as a Poly
  (one per token; lm_head: one per sequence and step), experts in parallel, and at least one t_mvm
  when the iteration has work (a top-k expert still runs a whole MVM);
- partial sums: the shift-and-add units next to each array's ADCs keep pace with the conversions, and
  the row blocks of a column block are summed in an adder tree next to the arrays at the width the sum
  needs (ISAAC IMA S+A and output registers, PUMA core, NeuroSim adder trees): pipelined at the
  conversion rate, so they add only the tree's latency ceil(log2 row_blocks) adder stages x one
  vector-unit cycle per iteration to the analog time; every add (one per conversion, plus
  (row_blocks - 1) x N cross-block adds per vector) is charged energy; no partial sum passes the
  tile buffer;
- tiles: an op is spread over the free tiles of its chiplet, min(tiles, arrays of the op on the
  chiplet) tiles (``llmimc.cost.power.tiles_holding``), row blocks of one column block kept together
  (tpc = ceil(row_blocks / arrays per tile of the op) tiles each) so that they sum in-tile;
- dpu: MACs or element ops / (DPU lanes x frequency);
- local / global SRAM: bytes / bandwidth (local: per tile, tiles used in parallel; a linear op reads
  its K_analog x a-bit input and writes its N x a-bit output through the tile buffers);
- noc: bits per vector = K_analog x a x (tile groups of tpc tiles, each needing the input) + N x a +
  (tiles per column block - 1) x N x acc_bits (cross-tile partial sums; sums inside a tile stay local),
  time = bytes / (link bandwidth x tiles used: every tile has its own router port) + mean hops x hop
  latency (mean Manhattan distance between two tiles of a w x w mesh, w = ceil(sqrt(tiles)):
  2 (w^2 - 1) / (3 w); 1 hop for bus/crossbar NoCs); energy: the input reaches its tile groups by
  multicast (about one link per receiving tile group), outputs and partial sums travel the mean hops;
- tile_min (MoE ops): the per-tile times above spread the expected expert load over every expert's
  tiles; a routed vector runs on its own expert's tiles only, so, like analog's one-MVM floor, an
  iteration with work takes at least one vector's local-SRAM / NoC time on one expert's tiles;
- non-linear ops (softmax, norms, activations, element-wise): fused on the DPU at its fp16 working
  precision (IBM's LDPU/global DPU, PUMA's VFU, 3D-SiM's GeLU unit all process fused vectors): the
  traced element ops run on the DPU lanes at ``dpu.energy_per_op_j`` each, and the activation traffic
  of the k aten ops the trace merged into the op is counted once (traced bytes / k) at 16 bits instead
  of once per aten op at the model dtype;
- transfer: for each die-to-die hop, latency + bytes / bandwidth (store and forward);
- split (tensor-parallel) stage of kk chiplets: each chiplet does 1/kk of a linear op's actions on
  its own share of the tiles (per-array and per-tile times unchanged, DPU and global SRAM times / kk);
  the root scatters the inputs and waits for every member's partial sums (scatter and gather times on
  the root's path; members' compute overlaps the root's);
- kv_cache: K/V of the new tokens written at kv_bits; the cache read (L tokens) is charged to the
  layer's attention ops' global-SRAM time, so it overlaps their DPU MACs (max, not sum);
- offpkg: bytes / memory bandwidth + memory latency.

Precision: crossbar inputs/outputs at act_bits; partial sums at acc_bits = a + w + ceil(log2 K) (the
exact width of a K-term integer dot product); non-linear ops at the DPU's 16 bits; the residual stream
between stages and embedding rows at the model dtype (OpGraph activation bytes are traced at the
model dtype; a linear op's activation bytes are rescaled to act_bits). Outlier weights are read from global SRAM once per
iteration for a dense op (one DPU matmul over the iteration's vectors) and once per routed vector for
MoE experts (which experts a vector uses is not known here: an upper bound).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from llmimc.compress.plan import CompressionPlan
from llmimc.cost import actions as A
from llmimc.cost.power import PowerStates, power_states, tiles_holding
from llmimc.hw.spec import Chiplet, ImcSystemSpec, NocTopology
from llmimc.mapping.model import ATTENTION_KINDS, Mapping, Stage, kv_free
from llmimc.mapping.placement import route_hops
from llmimc.mapping.tiling import OpTiling, per_vector_actions
from llmimc.model.opgraph import Op, OpGraph, OpKind, Poly

F_ONE, F_SEQ, F_T, F_L, F_TL = range(5)
NUM_F = 5
RESOURCES = (
    "analog",
    "analog_min",
    "tile_min",
    "shift_add",
    "dpu",
    "local_sram",
    "global_sram",
    "noc",
    "transfer",
    "offpkg",
)
R = {name: i for i, name in enumerate(RESOURCES)}
NUM_R = len(RESOURCES)
TOKEN_ID_BYTES = 4  # int32 token id returned for the next embedding lookup
DPU_NONLINEAR_BYTES = 2  # fp16: the DPU's working format for softmax, norms and activations
NONLINEAR_KINDS = (OpKind.SOFTMAX, OpKind.NORM, OpKind.ACTIVATION, OpKind.ELEMENTWISE)
_ATTN_VALUES = {k.value for k in ATTENTION_KINDS}


def poly_vec(p: Poly, scale: float = 1.0) -> np.ndarray:
    return np.array([0.0, p.c0, p.c_t, p.c_l, p.c_tl]) * scale


def unit(idx: int, scale: float) -> np.ndarray:
    v = np.zeros(NUM_F)
    v[idx] = scale
    return v


@dataclass
class Item:
    layer: str  # "layer 3", "embedding", "head", "package"
    kind: str  # OpKind value or transfer / reduction / kv_cache / reprogram
    chiplet: int
    slot: int  # virtual chiplet whose busy time this item adds to
    counts: np.ndarray = field(default_factory=lambda: np.zeros((A.NUM_ACTIONS, NUM_F)))
    times: np.ndarray = field(default_factory=lambda: np.zeros((NUM_R, NUM_F)))
    spill_counts: np.ndarray = field(default_factory=lambda: np.zeros(A.NUM_ACTIONS))
    spill_time_s: float = 0.0
    spill_chip: int = -1  # physical chiplet whose spill feature this item uses
    links: list[tuple[tuple[int, int], np.ndarray]] = field(default_factory=list)
    spill_links: list[tuple[tuple[int, int], float]] = field(default_factory=list)


@dataclass(frozen=True)
class Compiled:
    """All coefficient arrays of one system (inputs of ``llmimc.cost.model.CompiledCostModel``)."""

    items: list[Item]
    slot_chiplet: list[int]  # physical chiplet of each virtual chiplet (slot)
    stage_slots: list[list[int]]
    links: list[tuple[int, int]]  # directed links
    kv_chips: list[int]
    kv_tokens_on: list[int]
    energy_per_action_j: list[float]
    reprogram_time_s: float
    num_chiplets: int
    power: PowerStates
    mem_bw_bytes_per_s: float
    d2d_bw_bytes_per_s: float


def _noc_mean_hops(spec: ImcSystemSpec) -> float:
    if spec.chiplet.noc.topology != NocTopology.MESH2D:
        return 1.0
    w = math.ceil(math.sqrt(spec.chiplet.tiles))
    return max(1.0, 2.0 * (w * w - 1) / (3.0 * w))


def _tile_geometry(ch: Chiplet, t: OpTiling, share: float) -> tuple[int, int, int, int]:
    """Tiles of the share of one op on one chiplet: (all experts, one expert, tiles per column block,
    tile groups). The arrays are spread over min(tiles, arrays) tiles; the row blocks of a column block
    stay together (tpc tiles) and sum in the tile's adder tree; each group of tpc tiles receives the
    whole input once; partial sums of different tiles cross the NoC."""
    arrays_e = max(1, math.ceil(t.arrays_per_expert * share - 1e-9))  # one expert's arrays on one chiplet
    tiles_c = max(1, tiles_holding(ch, math.ceil(t.arrays * share - 1e-9)))
    tiles_e = max(1, tiles_holding(ch, arrays_e))
    tpc = max(1, math.ceil(t.row_blocks / math.ceil(arrays_e / tiles_e)))
    return tiles_c, tiles_e, tpc, max(1, math.ceil(tiles_e / tpc))


class _Builder:
    def __init__(self, graph: OpGraph, spec: ImcSystemSpec, plan: CompressionPlan, mapping: Mapping):
        self.g, self.spec, self.plan, self.m = graph, spec, plan, mapping
        ch = spec.chiplet
        self.dpu_rate = ch.dpu.macs_per_cycle * ch.dpu.frequency_hz
        self.vu_freq = ch.tile.vector_unit.frequency_hz
        self.noc_hops = _noc_mean_hops(spec)
        self.d2d = spec.package.d2d
        self.mem = spec.package.memory
        self.items: list[Item] = []

    # -- transfers ---------------------------------------------------------------------------------
    def transfer(self, item: Item, src: int, dst: int, bytes5: np.ndarray) -> None:
        """Add a die-to-die transfer of ``bytes5`` (feature coefficients, bytes) from src to dst."""
        hops = route_hops(self.m.route(src, dst))
        if not hops:
            return
        item.counts[A.D2D] += bytes5 * 8.0 * len(hops)
        t = bytes5 * len(hops) / self.d2d.bw_bytes_per_s
        t = t + unit(F_ONE, len(hops) * self.d2d.latency_s)
        item.times[R["transfer"]] += t
        for h in hops:
            item.links.append((h, bytes5.copy()))

    # -- ops ---------------------------------------------------------------------------------------
    def linear(self, op: Op, t: OpTiling, st: Stage, layer: str) -> None:
        ch = self.spec.chiplet
        g = max(op.num_experts, 1) * op.expert_load  # token vectors per token, all experts
        v = per_vector_actions(t)
        a, w, k, n = t.act_bits, t.weight_bits, t.in_features, t.out_features
        acc_bits = a + w + math.ceil(math.log2(max(k, 2)))
        meta_read = t.metadata_bits / t.num_experts  # one expert's index bits, read once per vector
        lsram_r = t.analog_rows * a + meta_read
        lsram_w = n * a
        kk = len(st.chiplets)
        share = 1.0 / kk  # the op's share (arrays, actions) on one chiplet
        tiles_c, tiles_e, tpc, groups = _tile_geometry(ch, t, share)
        noc_bits = t.analog_rows * a * groups + n * a + (tpc - 1) * n * acc_bits
        q = a / (8.0 * self.g.info.dtype_bytes)
        out_macs = t.outlier_rows * n
        bias_ops = n if op.bias_params > 0 else 0
        cross_block_adds = (t.row_blocks - 1) * n if t.row_blocks > 1 else 0
        # Token vectors per sequence as a Poly: FLOPs / (2 K N E load) (lm_head: one per step).
        macs = k * n * max(op.num_experts, 1) * op.expert_load
        vec = poly_vec(op.flops, 1.0 / (2.0 * macs)) if macs > 0 else unit(F_T, 1.0)
        base = Item(layer=layer, kind=op.kind.value, chiplet=st.chiplets[0], slot=st.virtual_chiplets[0])
        c = base.counts
        per_t = {
            A.CELL_READ: v["cell_read"],
            A.CONVERSION: v["conversion"],
            A.ROW_DRIVE: v["row_drive"],
            A.SHIFT_ADD: v["shift_add"] + cross_block_adds,
            A.MUX: v["mux_select"],
            A.LSRAM_R: lsram_r,
            A.LSRAM_W: lsram_w,
            # the input reaches its tile groups by multicast (about one link per receiving tile, an XY
            # multicast tree); outputs and cross-tile partial sums travel the mean hop distance
            A.NOC: t.analog_rows * a * groups + (noc_bits - t.analog_rows * a * groups) * self.noc_hops,
            A.DPU_MAC: out_macs,
            A.DPU_OP: bias_ops,
        }
        for idx, val in per_t.items():
            c[idx] += val * g * vec
        # outlier weights (fp16 rows on the DPU) are read from global SRAM once per iteration and applied
        # to all of its token vectors (a DPU matmul); MoE experts' per routed vector (top-k is not known)
        if t.num_experts > 1:
            c[A.GSRAM_R] += out_macs * t.outlier_bits * g * vec
        else:
            c[A.GSRAM_R, F_ONE] += out_macs * t.outlier_bits
        c[A.GSRAM_R] += poly_vec(op.act_bytes_read, 8.0 * q)
        c[A.GSRAM_W] += poly_vec(op.act_bytes_written, 8.0 * q)
        tm = base.times
        tree_s = math.ceil(math.log2(t.row_blocks)) / self.vu_freq if t.row_blocks > 1 else 0.0
        tm[R["analog"]] = t.timing.mvm_time_s * op.expert_load * vec
        tm[R["analog_min"], F_ONE] = t.timing.mvm_time_s + tree_s if t.rows_stored else 0.0
        tm[R["shift_add"], F_ONE] = tree_s  # adder-tree latency; its throughput matches the ADCs
        tm[R["dpu"]] = (out_macs + bias_ops) * g * vec / self.dpu_rate
        tm[R["global_sram"]] = (c[A.GSRAM_R] + c[A.GSRAM_W]) / 8.0 / ch.global_sram.bw_bytes_per_s
        # Per-tile resources (tile buffers, router ports) of ONE chiplet: a split op puts a share of its
        # work on each chiplet, but also only that share of its tiles, so these times do not shrink.
        per_tile = {
            R["local_sram"]: (lsram_r + lsram_w)
            * g
            * vec
            / 8.0
            * share
            / (ch.tile.local_sram.bw_bytes_per_s * tiles_c),
            R["noc"]: noc_bits * g * vec / 8.0 * share / (ch.noc.link_bw_bytes_per_s * tiles_c)
            + unit(F_ONE, self.noc_hops * ch.noc.hop_latency_s),
        }
        for r_idx, row in per_tile.items():
            tm[r_idx] = row
        # ... and at least one vector on ONE expert's tiles (top-k routing: a token's vector runs on its
        # expert's share of the tiles, not spread over all experts' tiles as the expected load is)
        e = max(t.num_experts, 1)
        if t.rows_stored and e > 1:
            tm[R["tile_min"], F_ONE] = max(
                (lsram_r + lsram_w) / 8.0 * share / (ch.tile.local_sram.bw_bytes_per_s * tiles_e),
                noc_bits / 8.0 * share / (ch.noc.link_bw_bytes_per_s * tiles_e)
                + self.noc_hops * ch.noc.hop_latency_s,
            )
        if kk == 1:
            self.items.append(base)
            return
        # Split (tensor-parallel) unit: each chiplet holds 1/k of the rows; partial sums reduce on the root.
        root = st.chiplets[0]
        for j, (chip, slot) in enumerate(zip(st.chiplets, st.virtual_chiplets, strict=True)):
            it = Item(layer=layer, kind=op.kind.value, chiplet=chip, slot=slot)
            it.counts = base.counts / kk
            it.times = base.times / kk
            for r_idx in (R["analog"], R["analog_min"], R["shift_add"], R["tile_min"], *per_tile):
                it.times[r_idx] = base.times[r_idx]
            self.items.append(it)
            if j == 0:
                continue
            scatter = Item(layer=layer, kind="reduction", chiplet=root, slot=st.virtual_chiplets[0])
            self.transfer(scatter, root, chip, vec * (g * k * a / 8.0 / kk))
            self.items.append(scatter)
            # the root waits for every member's partial sums before the next op: the gather's time is
            # on the root's (critical) path; its energy and bytes stay with the sending member
            gather = Item(layer=layer, kind="reduction", chiplet=chip, slot=st.virtual_chiplets[0])
            self.transfer(gather, chip, root, vec * (g * n * acc_bits / 8.0))
            gather.counts[A.SHIFT_ADD] += vec * (g * n)
            self.items.append(gather)

    def digital(self, op: Op, st: Stage, layer: str) -> None:
        ch = self.spec.chiplet
        it = Item(layer=layer, kind=op.kind.value, chiplet=st.chiplets[0], slot=st.virtual_chiplets[0])
        mac_like = op.kind in ATTENTION_KINDS or op.kind == OpKind.MOE_ROUTER
        work = poly_vec(op.flops, 0.5 if mac_like else 1.0)
        it.counts[A.DPU_MAC if mac_like else A.DPU_OP] += work
        scale = 8.0
        if op.kind in NONLINEAR_KINDS:  # fused on the DPU at fp16: each merged aten op's traffic once
            fused = max(1, len([x for x in op.aten.split(",") if x.strip()]))
            scale = 8.0 * DPU_NONLINEAR_BYTES / self.g.info.dtype_bytes / fused
        it.counts[A.GSRAM_R] += poly_vec(kv_free(op.act_bytes_read), scale)
        it.counts[A.GSRAM_W] += poly_vec(kv_free(op.act_bytes_written), scale)
        it.times[R["dpu"]] = work / self.dpu_rate
        it.times[R["global_sram"]] = (
            (it.counts[A.GSRAM_R] + it.counts[A.GSRAM_W]) / 8.0 / ch.global_sram.bw_bytes_per_s
        )
        self.items.append(it)

    def embedding(self, op: Op, st: Stage) -> None:
        root = st.chiplets[0]
        it = Item(layer="embedding", kind=op.kind.value, chiplet=root, slot=st.virtual_chiplets[0])
        row = poly_vec(op.act_bytes_written)  # one row per token at the model dtype
        it.counts[A.OFFPKG] += row * 8.0
        it.counts[A.GSRAM_W] += row * 8.0
        it.times[R["offpkg"]] = row / self.mem.bw_bytes_per_s + unit(F_ONE, self.mem.latency_s)
        self.transfer(it, self.m.memory_chiplet, root, row)
        self.items.append(it)

    def kv(self) -> None:
        ch = self.spec.chiplet
        attn_items: dict[tuple[str, int], list[Item]] = {}
        for x in self.items:
            if x.kind in _ATTN_VALUES:
                attn_items.setdefault((x.layer, x.slot), []).append(x)
        for kl in self.m.kv.layers:
            st = next(s for s in self.m.stages if kl.layer in s.layers)
            c = st.chiplets[0]
            b = kl.bytes_per_token
            it = Item(
                layer=f"layer {kl.layer}",
                kind="kv_cache",
                chiplet=c,
                slot=st.virtual_chiplets[0],
                spill_chip=c,
            )
            it.counts[A.GSRAM_R, F_L] = 8.0 * b
            it.counts[A.GSRAM_W, F_T] = 8.0 * b
            it.times[R["global_sram"], F_T] = b / ch.global_sram.bw_bytes_per_s
            # the K (V) half of the cache is read while the DPU computes scores (context): the read
            # overlaps the attention MACs, so its time goes to those ops' global-SRAM resource
            attn = attn_items.get((it.layer, it.slot), [])
            for x in attn:
                x.times[R["global_sram"], F_L] += b / ch.global_sram.bw_bytes_per_s / len(attn)
            if not attn:
                it.times[R["global_sram"], F_L] = b / ch.global_sram.bw_bytes_per_s
            hops = route_hops(self.m.route(self.m.memory_chiplet, c))
            it.spill_counts[A.GSRAM_R] = -8.0 * b
            it.spill_counts[A.OFFPKG] = 8.0 * b
            it.spill_counts[A.D2D] = 8.0 * b * len(hops)
            it.spill_time_s = b / self.mem.bw_bytes_per_s + len(hops) * b / self.d2d.bw_bytes_per_s
            it.spill_links = [(h, b) for h in hops]
            self.items.append(it)

    def stage_transfers(self) -> None:
        hidden_bytes = self.g.info.hidden_size * self.g.info.dtype_bytes
        stages = self.m.stages
        for a, b in zip(stages, stages[1:], strict=False):
            it = Item(layer=a.label, kind="transfer", chiplet=a.chiplets[0], slot=a.virtual_chiplets[0])
            self.transfer(it, a.chiplets[0], b.chiplets[0], unit(F_T, hidden_bytes))
            self.items.append(it)
        last = stages[-1]
        it = Item(layer=last.label, kind="transfer", chiplet=last.chiplets[0], slot=last.virtual_chiplets[0])
        self.transfer(it, last.chiplets[0], self.m.memory_chiplet, unit(F_SEQ, TOKEN_ID_BYTES))
        self.items.append(it)

    def reprogram(self) -> float:
        rp = self.m.reprogramming
        if rp is None:
            return 0.0
        cells = [0.0] * self.m.num_chiplets
        for st in self.m.stages:
            total = sum(st.arrays_per_chiplet) or 1
            st_cells = sum(
                p.tiling.cells_used for p in self.m.ops if p.tiling is not None and p.stage == st.index
            )
            for chip, arr in zip(st.chiplets, st.arrays_per_chiplet, strict=True):
                cells[chip] += st_cells * arr / total
        total_cells = sum(cells) or 1.0
        for chip, n_cells in enumerate(cells):
            if n_cells == 0:
                continue
            it = Item(layer="package", kind="reprogram", chiplet=chip, slot=self._slot_of(chip))
            it.counts[A.PROGRAM, F_ONE] = n_cells
            nbytes = rp.weight_bytes_streamed_per_iteration * n_cells / total_cells
            it.counts[A.OFFPKG, F_ONE] = nbytes * 8.0
            self.transfer(it, self.m.memory_chiplet, chip, unit(F_ONE, nbytes))
            it.times[:] = 0.0  # reprogramming time is charged once per iteration, below
            self.items.append(it)
        xbar = self.spec.chiplet.array
        per_round_prog = (
            rp.max_rows_per_array * xbar.program_time_per_row_s * (xbar.program_verify_iterations or 1)
        )
        per_round_stream = rp.weight_bytes_streamed_per_iteration / rp.rounds / self.mem.bw_bytes_per_s
        return rp.rounds * max(per_round_prog, per_round_stream)

    def _slot_of(self, chip: int) -> int:
        for st in self.m.stages:
            for c, s in zip(st.chiplets, st.virtual_chiplets, strict=True):
                if c == chip:
                    return s
        return 0


def compile_mapping(graph: OpGraph, spec: ImcSystemSpec, plan: CompressionPlan, mapping: Mapping) -> Compiled:
    """Build every item of ``mapping`` (see module docstring)."""
    b = _Builder(graph, spec, plan, mapping)
    for op, pl in zip(graph.ops, mapping.ops, strict=True):
        st = mapping.stages[pl.stage]
        layer = (
            f"layer {op.layer}"
            if op.layer is not None
            else ("embedding" if pl.stage == 0 and op.kind == OpKind.EMBEDDING else "head")
        )
        if op.kind == OpKind.EMBEDDING:
            b.embedding(op, st)
        elif pl.tiling is not None:
            b.linear(op, pl.tiling, st, layer)
        else:
            b.digital(op, st, layer)
    b.kv()
    b.stage_transfers()
    t_reprog = b.reprogram()
    n_slots = sum(len(s.virtual_chiplets) for s in mapping.stages)
    slot_chip = [0] * n_slots
    for st in mapping.stages:
        for c, s in zip(st.chiplets, st.virtual_chiplets, strict=True):
            slot_chip[s] = c
    directed = sorted({(a, b2) for a, b2 in mapping.links} | {(b2, a) for a, b2 in mapping.links})
    traffic = {lk for it in b.items for lk, b5 in it.links if b5.any()}
    traffic |= {lk for it in b.items for lk, nbytes in it.spill_links if nbytes}
    power = power_states(spec, mapping, traffic, directed)
    return Compiled(
        items=b.items,
        slot_chiplet=slot_chip,
        stage_slots=[list(s.virtual_chiplets) for s in mapping.stages],
        links=directed,
        kv_chips=[c.chiplet for c in mapping.kv.chiplets],
        kv_tokens_on=[c.tokens_on_package for c in mapping.kv.chiplets],
        energy_per_action_j=A.energy_per_action(spec),
        reprogram_time_s=t_reprog,
        num_chiplets=mapping.num_chiplets,
        power=power,
        mem_bw_bytes_per_s=spec.package.memory.bw_bytes_per_s,
        d2d_bw_bytes_per_s=spec.package.d2d.bw_bytes_per_s,
    )
