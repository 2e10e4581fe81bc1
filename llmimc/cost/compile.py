"""Compile a Mapping into per-item cost coefficients (action counts and resource times).

An *item* is one op placed on one chiplet, one transfer, or one layer's KV-cache traffic. Every item's
action counts and resource times are linear in the iteration *features*

    f = [has_work, n_seq, Sum T, Sum L, Sum T*L]     (``llmimc.cost.features.Feature``)

plus, for KV items, the tokens of the item's KV chiplet beyond each spill breakpoint,
s_k = max(0, Sum L - T_k): tokens held away from the chiplet's own SRAM, in other chiplets' SRAM or in
the off-package stacks (``llmimc.mapping.kv`` gives the placement and the per-token equations). OpGraph Polys are per sequence, so Sum over sequences of Poly(T, L) =
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
  (tiles_per_col_block = ceil(row_blocks / arrays per tile of the op) tiles each) so that they sum
  in-tile;
- dpu: MACs or element ops / (DPU lanes x frequency);
- local / global SRAM: bytes / bandwidth (local: per tile, tiles used in parallel; a linear op reads
  its K_analog x a-bit input and writes its N x a-bit output through the tile buffers);
- noc: bits per vector = K_analog x a x tile_groups (groups of tiles_per_col_block tiles, each needing
  the input) + N x a + (tiles_per_col_block - 1) x N x acc_bits (cross-tile partial sums; sums inside a
  tile stay local),
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
- split or remote op (``llmimc.mapping.stages``: shards with fractions f, column-then-row split
  blocks, experts placed on member chiplets): each shard does f of the op's actions on its own share
  of the tiles (per-array and per-tile times unchanged, DPU and global SRAM times x the largest f);
  the shards run in parallel and the stage home waits for the block's transfers (``dispatch`` of the
  block input, ``reduction`` of partial outputs at act_bits, with one add per element; MoE: expected
  bytes under uniform top-k routing), all on the home's path;
- kv_cache: K/V of the new tokens written at kv_bits; the cache read (L tokens) is charged to the
  layer's attention ops' global-SRAM time, so it overlaps their DPU MACs (max, not sum); tokens held
  away from the attention chiplet add, per breakpoint, the change in per-token cost of
  ``llmimc.mapping.kv`` (die-to-die bits and bytes on each link of the route from the holding pool,
  off-package bits for a stack, and the read + store-and-forward time on the KV chiplet's slot);
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
from enum import IntEnum

import numpy as np

from llmimc.compress.plan import CompressionPlan
from llmimc.cost.actions import NUM_ACTIONS, Action, energy_per_action
from llmimc.cost.features import NUM_FEATURES, Feature, poly_vec, unit
from llmimc.cost.power import PowerStates, power_states, tiles_holding
from llmimc.hw.spec import Chiplet, ImcSystemSpec, NocTopology
from llmimc.mapping.model import Mapping, OpPlacement, Stage
from llmimc.mapping.placement import route_hops
from llmimc.mapping.tiling import OpTiling, per_vector_actions
from llmimc.model.opgraph import ATTENTION_KINDS, Op, OpGraph, OpKind, kv_free


class Resource(IntEnum):
    """Index of one resource of an item's time (the resource axis of ``Item.times``)."""

    ANALOG = 0  # the op's crossbar arrays: t_mvm per vector
    ANALOG_MIN = 1  # at least one MVM (+ adder tree) per iteration with work
    TILE_MIN = 2  # MoE: at least one vector on one expert's tiles
    SHIFT_ADD = 3  # adder-tree latency
    DPU = 4
    LOCAL_SRAM = 5
    GLOBAL_SRAM = 6
    NOC = 7
    TRANSFER = 8
    OFFPKG = 9


NUM_RESOURCES = len(Resource)
TOKEN_ID_BYTES = 4  # int32 token id returned for the next embedding lookup
DPU_NONLINEAR_BYTES = 2  # fp16: the DPU's working format for softmax, norms and activations
NONLINEAR_KINDS = (OpKind.SOFTMAX, OpKind.NORM, OpKind.ACTIVATION, OpKind.ELEMENTWISE)
_ATTN_VALUES = {k.value for k in ATTENTION_KINDS}


@dataclass
class Item:
    layer: str  # "layer 3", "embedding", "head", "package"
    kind: str  # OpKind value or transfer / reduction / kv_cache / reprogram
    chiplet: int
    slot: int  # stage slot whose busy time this item adds to (one slot per stage: its home)
    # action counts (actions x features), resource times (s, resources x features)
    counts: np.ndarray = field(default_factory=lambda: np.zeros((NUM_ACTIONS, NUM_FEATURES)))
    times: np.ndarray = field(default_factory=lambda: np.zeros((NUM_RESOURCES, NUM_FEATURES)))
    spill_counts: np.ndarray = field(default_factory=lambda: np.zeros(NUM_ACTIONS))  # per spilled token
    spill_time_s: float = 0.0
    spill_chip: int = -1  # spill breakpoint whose max(0, Sum L - T_k) this item's spill counts scale
    # (directed link, bytes per feature) and (directed link, bytes per spilled token)
    links: list[tuple[tuple[int, int], np.ndarray]] = field(default_factory=list)
    spill_links: list[tuple[tuple[int, int], float]] = field(default_factory=list)


@dataclass(frozen=True)
class Compiled:
    """All coefficient arrays of one system (inputs of ``llmimc.cost.model.CompiledCostModel``)."""

    items: list[Item]
    slot_chiplet: list[int]  # physical chiplet of each slot (a stage's home)
    stage_slots: list[list[int]]
    links: list[tuple[int, int]]  # directed links
    # spill breakpoints (``_Builder.kv_breakpoints``): their ids (Item.spill_chip) and thresholds T_k
    kv_chips: list[int]
    kv_tokens_on: list[float]
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
    stay together (tiles_per_col_block tiles) and sum in the tile's adder tree; each group of
    tiles_per_col_block tiles receives the whole input once; partial sums of different tiles cross the
    NoC."""
    arrays_e = max(1, math.ceil(t.arrays_per_expert * share - 1e-9))  # one expert's arrays on one chiplet
    tiles_c = max(1, tiles_holding(ch, math.ceil(t.arrays * share - 1e-9)))
    tiles_e = max(1, tiles_holding(ch, arrays_e))
    tiles_per_col_block = max(1, math.ceil(t.row_blocks / math.ceil(arrays_e / tiles_e)))
    return tiles_c, tiles_e, tiles_per_col_block, max(1, math.ceil(tiles_e / tiles_per_col_block))


class _Builder:
    def __init__(self, graph: OpGraph, spec: ImcSystemSpec, mapping: Mapping):
        self.graph, self.spec, self.m = graph, spec, mapping
        ch = spec.chiplet
        self.dpu_rate = ch.dpu.macs_per_s
        self.vu_freq = ch.tile.vector_unit.frequency_hz
        self.noc_hops = _noc_mean_hops(spec)
        self.d2d = spec.package.d2d
        self.mem = spec.package.memory
        self.items: list[Item] = []
        # spill breakpoints (KV chiplet, segment) -> id (Item.spill_chip), and their thresholds T_k
        self.kv_breakpoints_ids: dict[tuple[int, int], int] = {}
        self.kv_thresholds: list[float] = []

    # -- transfers ---------------------------------------------------------------------------------
    def transfer(self, item: Item, src: int, dst: int, bytes_per_feature: np.ndarray) -> None:
        """Add a die-to-die transfer of ``bytes_per_feature`` (feature coefficients, bytes) from src to dst."""
        hops = route_hops(self.m.route(src, dst))
        if not hops:
            return
        item.counts[Action.D2D] += bytes_per_feature * 8.0 * len(hops)
        time = bytes_per_feature * len(hops) / self.d2d.bw_bytes_per_s
        time = time + unit(Feature.HAS_WORK, len(hops) * self.d2d.latency_s)
        item.times[Resource.TRANSFER] += time
        for hop in hops:
            item.links.append((hop, bytes_per_feature.copy()))

    # -- ops ---------------------------------------------------------------------------------------
    def linear(self, op: Op, t: OpTiling, pl: OpPlacement, st: Stage, layer: str) -> None:
        ch = self.spec.chiplet
        expert_vectors = max(op.num_experts, 1) * op.expert_load  # vectors per token over all experts
        per_vector = per_vector_actions(t)
        act_bits, weight_bits, k, n = t.act_bits, t.weight_bits, t.in_features, t.out_features
        acc_bits = act_bits + weight_bits + math.ceil(math.log2(max(k, 2)))
        meta_read = t.metadata_bits / t.num_experts  # one expert's index bits, read once per vector
        lsram_read_bits = t.analog_rows * act_bits + meta_read
        lsram_write_bits = n * act_bits
        share = max((sh.fraction for sh in pl.shards), default=1.0)  # largest share on one chiplet
        tiles_all, tiles_expert, tiles_per_col_block, tile_groups = _tile_geometry(ch, t, share)
        input_noc_bits = t.analog_rows * act_bits * tile_groups
        noc_bits = input_noc_bits + n * act_bits + (tiles_per_col_block - 1) * n * acc_bits
        act_rescale = act_bits / (8.0 * self.graph.info.dtype_bytes)  # traced model-dtype bytes -> act bits
        out_macs = t.outlier_rows * n
        bias_ops = n if op.bias_params > 0 else 0
        cross_block_adds = (t.row_blocks - 1) * n if t.row_blocks > 1 else 0
        vec = poly_vec(op.vectors_per_sequence)  # token vectors per sequence (lm_head: one per step)
        base = Item(layer=layer, kind=op.kind.value, chiplet=st.chiplets[0], slot=st.index)
        counts = base.counts
        per_t = {
            Action.CELL_READ: per_vector["cell_read"],
            Action.CONVERSION: per_vector["conversion"],
            Action.ROW_DRIVE: per_vector["row_drive"],
            Action.SHIFT_ADD: per_vector["shift_add"] + cross_block_adds,
            Action.MUX: per_vector["mux_select"],
            Action.LSRAM_READ: lsram_read_bits,
            Action.LSRAM_WRITE: lsram_write_bits,
            # the input reaches its tile groups by multicast (about one link per receiving tile, an XY
            # multicast tree); outputs and cross-tile partial sums travel the mean hop distance
            Action.NOC: input_noc_bits + (noc_bits - input_noc_bits) * self.noc_hops,
            Action.DPU_MAC: out_macs,
            Action.DPU_OP: bias_ops,
        }
        for idx, val in per_t.items():
            counts[idx] += val * expert_vectors * vec
        # outlier weights (fp16 rows on the DPU) are read from global SRAM once per iteration and applied
        # to all of its token vectors (a DPU matmul); MoE experts' per routed vector (top-k is not known)
        if t.num_experts > 1:
            counts[Action.GSRAM_READ] += out_macs * t.outlier_bits * expert_vectors * vec
        else:
            counts[Action.GSRAM_READ, Feature.HAS_WORK] += out_macs * t.outlier_bits
        counts[Action.GSRAM_READ] += poly_vec(op.act_bytes_read, 8.0 * act_rescale)
        counts[Action.GSRAM_WRITE] += poly_vec(op.act_bytes_written, 8.0 * act_rescale)
        times = base.times
        tree_s = math.ceil(math.log2(t.row_blocks)) / self.vu_freq if t.row_blocks > 1 else 0.0
        times[Resource.ANALOG] = t.timing.mvm_time_s * op.expert_load * vec
        times[Resource.ANALOG_MIN, Feature.HAS_WORK] = t.timing.mvm_time_s + tree_s if t.rows_stored else 0.0
        times[Resource.SHIFT_ADD, Feature.HAS_WORK] = (
            tree_s  # adder-tree latency; its throughput matches the ADCs
        )
        times[Resource.DPU] = (out_macs + bias_ops) * expert_vectors * vec / self.dpu_rate
        times[Resource.GLOBAL_SRAM] = (
            (counts[Action.GSRAM_READ] + counts[Action.GSRAM_WRITE]) / 8.0 / ch.global_sram.bw_bytes_per_s
        )
        # Per-tile resources (tile buffers, router ports) of ONE chiplet: a split op puts a share of its
        # work on each chiplet, but also only that share of its tiles, so these times do not shrink.
        per_tile = {
            Resource.LOCAL_SRAM: (lsram_read_bits + lsram_write_bits)
            * expert_vectors
            * vec
            / 8.0
            * share
            / (ch.tile.local_sram.bw_bytes_per_s * tiles_all),
            Resource.NOC: noc_bits
            * expert_vectors
            * vec
            / 8.0
            * share
            / (ch.noc.link_bw_bytes_per_s * tiles_all)
            + unit(Feature.HAS_WORK, self.noc_hops * ch.noc.hop_latency_s),
        }
        for r_idx, row in per_tile.items():
            times[r_idx] = row
        # ... and at least one vector on ONE expert's tiles (top-k routing: a token's vector runs on its
        # expert's share of the tiles, not spread over all experts' tiles as the expected load is)
        if t.rows_stored and max(t.num_experts, 1) > 1:
            times[Resource.TILE_MIN, Feature.HAS_WORK] = max(
                (lsram_read_bits + lsram_write_bits)
                / 8.0
                * share
                / (ch.tile.local_sram.bw_bytes_per_s * tiles_expert),
                noc_bits / 8.0 * share / (ch.noc.link_bw_bytes_per_s * tiles_expert)
                + self.noc_hops * ch.noc.hop_latency_s,
            )
        self.place_shards(base, pl, st, vec, share)

    def place_shards(self, base: Item, pl: OpPlacement, st: Stage, vec: np.ndarray, share: float) -> None:
        """One item per shard of a split or remote op (mapping.stages), plus its block's transfers.

        Shards run in parallel: the first carries the op's time on the stage home's slot (per-array and
        per-tile times unchanged, per-chiplet DPU and global-SRAM times x the largest share), the others
        only their share of the action counts. Transfers are on the home's path (vec = token vectors).
        """
        if len(pl.shards) <= 1 and not pl.transfers:  # whole on one chiplet, no traffic
            base.chiplet = pl.shards[0].chiplet if pl.shards else base.chiplet
            self.items.append(base)
            return
        for j, sh in enumerate(pl.shards):
            it = Item(layer=base.layer, kind=base.kind, chiplet=sh.chiplet, slot=st.index)
            it.counts = base.counts * sh.fraction
            if j == 0:
                it.times = base.times.copy()
                it.times[Resource.DPU] *= share
                it.times[Resource.GLOBAL_SRAM] *= share
            self.items.append(it)
        for tr in pl.transfers:
            x = Item(layer=base.layer, kind=tr.kind, chiplet=tr.src, slot=st.index)
            self.transfer(x, tr.src, tr.dst, vec * tr.bytes_per_vector)
            x.counts[Action.SHIFT_ADD] += vec * tr.adds_per_vector
            self.items.append(x)

    def digital(self, op: Op, st: Stage, layer: str) -> None:
        ch = self.spec.chiplet
        it = Item(layer=layer, kind=op.kind.value, chiplet=st.chiplets[0], slot=st.index)
        mac_like = op.kind in ATTENTION_KINDS or op.kind == OpKind.MOE_ROUTER
        work = poly_vec(op.flops, 0.5 if mac_like else 1.0)
        it.counts[Action.DPU_MAC if mac_like else Action.DPU_OP] += work
        scale = 8.0
        if op.kind in NONLINEAR_KINDS:  # fused on the DPU at fp16: each merged aten op's traffic once
            fused = max(1, len([x for x in op.aten.split(",") if x.strip()]))
            scale = 8.0 * DPU_NONLINEAR_BYTES / self.graph.info.dtype_bytes / fused
        it.counts[Action.GSRAM_READ] += poly_vec(kv_free(op.act_bytes_read), scale)
        it.counts[Action.GSRAM_WRITE] += poly_vec(kv_free(op.act_bytes_written), scale)
        it.times[Resource.DPU] = work / self.dpu_rate
        it.times[Resource.GLOBAL_SRAM] = (
            (it.counts[Action.GSRAM_READ] + it.counts[Action.GSRAM_WRITE])
            / 8.0
            / ch.global_sram.bw_bytes_per_s
        )
        self.items.append(it)

    def embedding(self, op: Op, st: Stage) -> None:
        root = st.chiplets[0]
        it = Item(layer="embedding", kind=op.kind.value, chiplet=root, slot=st.index)
        row = poly_vec(op.act_bytes_written)  # one row per token at the model dtype
        it.counts[Action.OFFPKG] += row * 8.0
        it.counts[Action.GSRAM_WRITE] += row * 8.0
        it.times[Resource.OFFPKG] = row / self.mem.bw_bytes_per_s + unit(Feature.HAS_WORK, self.mem.latency_s)
        self.transfer(it, self.m.memory_chiplet, root, row)
        self.items.append(it)

    def kv(self) -> None:
        ch = self.spec.chiplet
        attn_items: dict[tuple[str, int], list[Item]] = {}
        for prev in self.items:
            if prev.kind in _ATTN_VALUES:
                attn_items.setdefault((prev.layer, prev.slot), []).append(prev)
        for kl in self.m.kv.layers:
            st = next(s for s in self.m.stages if kl.layer in s.layers)
            home = st.chiplets[0]
            kv_bytes = kl.bytes_per_token  # K and V of one token of this layer, at kv_bits
            it = Item(
                layer=f"layer {kl.layer}",
                kind="kv_cache",
                chiplet=home,
                slot=st.index,
            )
            it.counts[Action.GSRAM_READ, Feature.CONTEXT] = 8.0 * kv_bytes
            it.counts[Action.GSRAM_WRITE, Feature.TOKENS] = 8.0 * kv_bytes
            it.times[Resource.GLOBAL_SRAM, Feature.TOKENS] = kv_bytes / ch.global_sram.bw_bytes_per_s
            # the K (V) half of the cache is read while the DPU computes scores (context): the read
            # overlaps the attention MACs, so its time goes to those ops' global-SRAM resource
            attn = attn_items.get((it.layer, it.slot), [])
            for op_item in attn:
                op_item.times[Resource.GLOBAL_SRAM, Feature.CONTEXT] += (
                    kv_bytes / ch.global_sram.bw_bytes_per_s / len(attn)
                )
            if not attn:
                it.times[Resource.GLOBAL_SRAM, Feature.CONTEXT] = kv_bytes / ch.global_sram.bw_bytes_per_s
            self.items.append(it)
            self.kv_breakpoints(kl.layer, kl.bytes_per_token, st.index, home)

    def kv_breakpoints(self, layer: int, kv_bytes: float, slot: int, home: int) -> None:
        """One item per spill breakpoint of ``home``'s KV segments (``llmimc.mapping.kv``): the change
        in per-token cost C_k - C_{k-1} of layer ``layer`` beyond threshold T_k."""
        kvc = next((c for c in self.m.kv.chiplets if c.chiplet == home), None)
        segments = kvc.segments if kvc is not None else []
        prev_counts = np.zeros(NUM_ACTIONS)
        prev_time_s = 0.0
        prev_links: list[tuple[tuple[int, int], float]] = []
        for k, seg in enumerate(segments):
            counts = np.zeros(NUM_ACTIONS)
            time_s = 0.0
            links: list[tuple[tuple[int, int], float]] = []
            if not (seg.pool == "sram" and seg.pool_chiplet == home):
                hops = route_hops(self.m.route(seg.pool_chiplet, home))
                counts[Action.D2D] = 8.0 * kv_bytes * len(hops)
                links = [(hop, kv_bytes) for hop in hops]
                time_s = len(hops) * kv_bytes / self.d2d.bw_bytes_per_s
                if seg.pool == "stack":  # off-package bits replace the SRAM read
                    counts[Action.GSRAM_READ] = -8.0 * kv_bytes
                    counts[Action.OFFPKG] = 8.0 * kv_bytes
                    time_s += kv_bytes / self.mem.bw_bytes_per_s
                else:  # read from another chiplet's global SRAM
                    time_s += kv_bytes / self.spec.chiplet.global_sram.bw_bytes_per_s
            if not (np.array_equal(counts, prev_counts) and time_s == prev_time_s and links == prev_links):
                it = Item(
                    layer=f"layer {layer}",
                    kind="kv_cache",
                    chiplet=home,
                    slot=slot,
                    spill_chip=self.kv_breakpoints_ids.setdefault((home, k), len(self.kv_breakpoints_ids)),
                )
                it.spill_counts = counts - prev_counts
                it.spill_time_s = time_s - prev_time_s
                it.spill_links = links + [(lk, -b) for lk, b in prev_links]
                if it.spill_chip == len(self.kv_thresholds):
                    self.kv_thresholds.append(seg.start_token)
                self.items.append(it)
            prev_counts, prev_time_s, prev_links = counts, time_s, links

    def stage_transfers(self) -> None:
        hidden_bytes = self.graph.info.hidden_size * self.graph.info.dtype_bytes
        stages = self.m.stages
        for src, dst in zip(stages, stages[1:], strict=False):
            it = Item(layer=src.label, kind="transfer", chiplet=src.chiplets[0], slot=src.index)
            self.transfer(it, src.chiplets[0], dst.chiplets[0], unit(Feature.TOKENS, hidden_bytes))
            self.items.append(it)
        last = stages[-1]
        it = Item(layer=last.label, kind="transfer", chiplet=last.chiplets[0], slot=last.index)
        self.transfer(it, last.chiplets[0], self.m.memory_chiplet, unit(Feature.SEQUENCES, TOKEN_ID_BYTES))
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
            it.counts[Action.PROGRAM, Feature.HAS_WORK] = n_cells
            nbytes = rp.weight_bytes_streamed_per_iteration * n_cells / total_cells
            it.counts[Action.OFFPKG, Feature.HAS_WORK] = nbytes * 8.0
            self.transfer(it, self.m.memory_chiplet, chip, unit(Feature.HAS_WORK, nbytes))
            it.times[:] = 0.0  # reprogramming time is charged once per iteration, below
            self.items.append(it)
        xbar = self.spec.chiplet.array
        per_round_prog = (
            rp.max_rows_per_array * xbar.program_time_per_row_s * (xbar.program_verify_iterations or 1)
        )
        per_round_stream = rp.weight_bytes_streamed_per_iteration / rp.rounds / self.mem.bw_bytes_per_s
        return rp.rounds * max(per_round_prog, per_round_stream)

    def _slot_of(self, chip: int) -> int:
        return next((st.index for st in self.m.stages if chip in st.chiplets), 0)


def compile_mapping(graph: OpGraph, spec: ImcSystemSpec, plan: CompressionPlan, mapping: Mapping) -> Compiled:
    """Build every item of ``mapping`` (see module docstring)."""
    b = _Builder(graph, spec, mapping)  # the plan is already in the mapping's tilings
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
            b.linear(op, pl.tiling, pl, st, layer)
        else:
            b.digital(op, st, layer)
    b.kv()
    b.stage_transfers()
    t_reprog = b.reprogram()
    slot_chip = [st.chiplets[0] for st in mapping.stages]  # one slot per stage: its home's busy time
    directed = sorted({(a, b) for a, b in mapping.links} | {(b, a) for a, b in mapping.links})
    traffic = {lk for it in b.items for lk, link_bytes in it.links if link_bytes.any()}
    traffic |= {lk for it in b.items for lk, nbytes in it.spill_links if nbytes}
    power = power_states(spec, mapping, traffic, directed)
    return Compiled(
        items=b.items,
        slot_chiplet=slot_chip,
        stage_slots=[[st.index] for st in mapping.stages],
        links=directed,
        kv_chips=list(range(len(b.kv_thresholds))),
        kv_tokens_on=b.kv_thresholds,
        energy_per_action_j=energy_per_action(spec),
        reprogram_time_s=t_reprog,
        num_chiplets=mapping.num_chiplets,
        power=power,
        mem_bw_bytes_per_s=spec.package.memory.total_bw_bytes_per_s,
        d2d_bw_bytes_per_s=spec.package.d2d.bw_bytes_per_s,
    )
