"""Crossbar tiling of static-weight ops and the matrix-vector-product (MVM) timing (DESIGN.md §4).

Tiling of a linear op with a K x N weight (K = in_features, the reduction dimension), stored
``num_experts`` times, compressed by an :class:`~llmimc.compress.plan.OpCompression` (w = weight_bits,
a = act_bits) onto arrays of R rows x C columns with c-bit cells:

- slices      s = ceil(w / c), x2 when cells are differential (one column per polarity);
- outliers    K_analog = K - outlier_rows; the outlier rows' MACs run on the chiplet DPU at outlier_bits;
- N:M         rows stored K_rows = ``compress.crossbar_rows``: array-shared N:M (``2:4:array``) keeps
              ceil(K_analog * n / m) rows, its pattern shared by the columns of one array (a row
              group's kept inputs are chosen once per array by an m:1 input mux), so the index
              metadata is K_rows x col_blocks x metadata_bits_per_kept bits per expert; standard
              per-output-channel N:M (``2:4``) keeps every row (pruned weights stay as zero cells):
              K_rows = K_analog, no index metadata and no input selection on the crossbar;
- arrays      = ceil(K_rows / R) x ceil(N * s / C) x num_experts   (row blocks x column blocks x experts).

MVM of one token vector through one expert copy (same equations as ``llmimc.hw.derive``):

- input cycles        n_in = ceil(a / dac_bits_per_cycle) (bit-serial for a 1-bit DAC);
- rows per cycle      r = ``llmimc.hw.derive.rows_per_cycle`` (the column sum must fit the ADC); a
                      row block of k rows reads in g_b = ceil(k / r) row groups; g = the largest g_b;
- cycle time          t_cyc = max(read_time_per_cycle_s, columns_per_adc x t_adc(B));
- MVM time            t_mvm = n_in x g x t_cyc; every array of the op reads in parallel, and token
                      vectors stream through the arrays one vector per t_mvm;
- action counts per vector (one expert):
    cell reads        n_in x K_rows x N x s     (used cells only)
    ADC conversions   n_in x (Sum_b g_b) x N x s (the used columns of every row group of every block)
    DAC row drives    n_in x K_rows x col_blocks
    shift-adds        n_in x (Sum_b g_b) x N x s  (one per conversion: every ADC output passes the
                      shift-and-add unit beside the ADCs, as in ISAAC and ``llmimc.hw.derive``, so a
                      full-array MVM here has exactly derive's reads, conversions, drives and adds)
    mux selections    K_rows x col_blocks for array-shared N:M (one m:1 input selection per kept row per array)

References: Shafiee et al., ISAAC (ISCA 2016) for bit slicing and bit-serial inputs; Peng et al.,
DNN+NeuroSim (IEDM 2019) for the columns-per-ADC multiplexing; Mishra et al., "Accelerating Sparse
Deep Neural Networks" (arXiv:2104.08378, 2021) for N:M metadata.
"""

from __future__ import annotations

import math

from llmimc._base import Frozen
from llmimc.compress.plan import OpCompression
from llmimc.compress.planner import crossbar_rows
from llmimc.hw.derive import cells_per_weight, cycle_time_s, input_cycles, row_groups
from llmimc.hw.spec import CrossbarArray
from llmimc.model.opgraph import Op


class MvmTiming(Frozen):
    """Timing of one MVM on one array at a given input precision."""

    input_cycles: int
    row_groups: int  # read cycles per input step (a full row block: ceil(rows / rows_per_cycle))
    cycle_time_s: float
    mvm_time_s: float


class OpTiling(Frozen):
    """How one static-weight linear op sits on crossbars (all experts included)."""

    op_name: str
    in_features: int  # K
    out_features: int  # N
    num_experts: int
    weight_bits: int
    act_bits: int
    outlier_rows: int
    outlier_bits: int
    analog_rows: int  # K_analog = K - outlier_rows
    rows_stored: int  # K_rows after N:M
    slices: int  # columns per weight (bit slices x differential)
    row_blocks: int
    row_groups_total: int  # Sum over row blocks of ceil(rows in block / rows_per_cycle)
    col_blocks: int
    arrays: int  # row_blocks x col_blocks x num_experts
    cells_used: int  # rows_stored x N x slices x num_experts
    metadata_bits: float  # N:M index metadata, all experts
    sparsity_n: int
    sparsity_m: int
    timing: MvmTiming

    @property
    def arrays_per_expert(self) -> int:
        return self.row_blocks * self.col_blocks

    @property
    def weights_on_crossbar(self) -> int:
        """Dense weight elements represented on crossbars (before pruning), all experts."""
        return self.analog_rows * self.out_features * self.num_experts

    @property
    def weights_on_dpu(self) -> int:
        """Outlier weight elements kept digital, all experts."""
        return self.outlier_rows * self.out_features * self.num_experts


def mvm_timing(array: CrossbarArray, act_bits: int, rows_used: int | None = None) -> MvmTiming:
    """n_in = ceil(a / dac_bits), g = ceil(rows / r), t_cyc = max(read, columns_per_adc x t_adc),
    t_mvm = n_in x g x t_cyc (``rows_used``: the rows of the fullest row block; default a full array)."""
    cycles = input_cycles(array, act_bits)
    groups = row_groups(array, array.rows if rows_used is None else max(1, rows_used))
    cycle_s = cycle_time_s(array)
    return MvmTiming(
        input_cycles=cycles, row_groups=groups, cycle_time_s=cycle_s, mvm_time_s=cycles * groups * cycle_s
    )


def tile_op(op: Op, comp: OpCompression, array: CrossbarArray) -> OpTiling:
    """Tile one linear op onto crossbars following the module docstring's equations."""
    k, n, e = op.in_features, op.out_features, max(op.num_experts, 1)
    outlier_rows = min(comp.outlier_rows, k)
    analog_rows = k - outlier_rows
    rows_stored = crossbar_rows(comp, k) if analog_rows else 0
    s = cells_per_weight(array, comp.weight_bits)  # slices, x2 if differential
    row_blocks = math.ceil(rows_stored / array.rows)
    col_blocks = math.ceil(n * s / array.cols) if rows_stored else 0
    meta = rows_stored * col_blocks * e * comp.crossbar_metadata_bits_per_kept_row  # 0 unless array N:M
    full, rest = divmod(rows_stored, array.rows)
    groups_total = full * row_groups(array, array.rows) + (row_groups(array, rest) if rest else 0)
    return OpTiling(
        op_name=op.name,
        in_features=k,
        out_features=n,
        num_experts=e,
        weight_bits=comp.weight_bits,
        act_bits=comp.act_bits,
        outlier_rows=outlier_rows,
        outlier_bits=comp.outlier_bits,
        analog_rows=analog_rows,
        rows_stored=rows_stored,
        slices=s,
        row_blocks=row_blocks,
        row_groups_total=groups_total,
        col_blocks=col_blocks,
        arrays=row_blocks * col_blocks * e,
        cells_used=rows_stored * n * s * e,
        metadata_bits=meta,
        sparsity_n=comp.sparsity_n,
        sparsity_m=comp.sparsity_m,
        timing=mvm_timing(array, comp.act_bits, min(rows_stored, array.rows)),
    )


def per_vector_actions(t: OpTiling) -> dict[str, float]:
    """Action counts for one token vector through ONE expert copy (see module docstring)."""
    n_in = t.timing.input_cycles
    if t.rows_stored == 0:
        return {"cell_read": 0.0, "conversion": 0.0, "row_drive": 0.0, "shift_add": 0.0, "mux_select": 0.0}
    conversions = n_in * t.row_groups_total * t.out_features * t.slices
    sparse = t.metadata_bits > 0  # array-shared N:M selects its kept inputs; per-channel keeps every row
    return {
        "cell_read": float(n_in * t.rows_stored * t.out_features * t.slices),
        "conversion": float(conversions),
        "row_drive": float(n_in * t.rows_stored * t.col_blocks),
        "shift_add": float(conversions),
        "mux_select": float(t.rows_stored * t.col_blocks) if sparse else 0.0,
    }
