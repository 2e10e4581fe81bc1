"""Typed results of an accuracy run (JSON-serialisable; rendered by ``llmimc.report.accuracy_report``)."""

from __future__ import annotations

from llmimc._base import Frozen


class SeedMetrics(Frozen):
    seed: int
    ppl: float
    kl: float  # mean KL(fp || cfg) per scored token, nats
    top1: float  # share of scored tokens whose argmax matches the float model's


class Spread(Frozen):
    mean: float
    std: float  # sample standard deviation over seeds (0 for one seed)


class OpRow(Frozen):
    """One linear op: where it runs, how it is tiled, and its output error in this run."""

    op_name: str
    placement: str  # "analog" | "digital" | "mixed" (outlier channels on digital units)
    weight_bits: int
    act_bits: int
    outlier_rows: int
    slices: int
    row_blocks: int
    input_cycles: int
    adc_bits: int | None  # None = ideal
    macs_per_token: float
    out_sqnr_db: float | None  # 10 log10(sum y_fp^2 / sum (y - y_fp)^2) on the first window, first seed
    gdc_alpha: float


class Timing(Frozen):
    load_s: float
    fp_s: float
    program_s: float  # all seeds
    calibrate_s: float  # all seeds
    eval_s: float  # all seeds
    cpu_s: float  # process CPU time of the whole run
    wall_s: float


class PpaSummary(Frozen):
    """The cost model's figures for the same plan on the same spec (``llmimc.sim.profile``)."""

    prompt_len: int
    gen_len: int
    ttft_s: float
    mean_tpot_s: float
    energy_per_output_token_j: float
    analog_mac_ratio: float
    arrays_used: int
    chiplets_used: int


class AccuracyResult(Frozen):
    model_id: str
    weights: str  # provenance of the weights (e.g. a GGUF dequantised)
    hw_name: str
    cell_technology: str
    noise_model: str  # "spec" | "ideal devices"
    encoding: str  # how signed weights sit on cells
    input_encoding: str = ""  # how inputs are applied (bit-serial planes: sign_magnitude | twos_complement)
    policy_name: str
    sparsity: str | None
    drift_s: float
    noise_scale: float
    adc: str  # "ideal" | "<bits>-bit <range policy>"
    gdc: bool
    post_calibration: bool  # per-column gain refit on the calibration window (Lammie et al. 2024)
    compensation: str = "none"  # "gptq": crossbar weights rounded by GPTQ on the calibration window
    text_source: str
    text_sha256: str
    text_pinned: bool
    seq_len: int
    windows: int
    tokens_scored: int
    calib_tokens: int
    fp_ppl: float
    seeds: list[SeedMetrics]
    ppl: Spread
    kl: Spread
    top1: Spread
    analog_mac_ratio: float
    ops: list[OpRow]
    timing: Timing
    ppa: PpaSummary | None = None
    ppa_error: str = ""
    notes: list[str]
