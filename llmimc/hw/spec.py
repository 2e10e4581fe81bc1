"""Hardware spec models (DESIGN.md §3): pydantic v2, frozen, extra="forbid", SI units in field names.

Every spec section carries ``sources``: a map from each numeric field it sets to the paper, datasheet
or standard the number comes from (with a confidence tag, see shared/hw_reference.md). A numeric
field without a source is rejected, so no number enters a spec unexplained.

Two top-level kinds:
- ``ImcSystemSpec`` (kind "imc"): homogeneous IMC chiplets (crossbar arrays with ADCs/DACs grouped in
  tiles, digital units, SRAM, NoC) on a package (topology, die-to-die links, off-package memory).
- ``DigitalBaselineSpec`` (kind "digital"): a GPU-like machine for side-by-side comparison.
"""

from __future__ import annotations

import math
from enum import Enum
from typing import Annotated, Literal

from pydantic import Field, model_validator

from llmimc._base import Frozen

SCHEMA_VERSION: Literal[1] = 1

PosFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Fraction = Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]
PosInt = Annotated[int, Field(gt=0)]
NonNegInt = Annotated[int, Field(ge=0)]


class Sourced(Frozen):
    """A spec section whose numeric fields each need an entry in ``sources``."""

    sources: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _every_number_has_a_source(self) -> Sourced:
        numeric = [
            name
            for name, info in type(self).model_fields.items()
            if name != "sources"
            and getattr(self, name) is not None
            and isinstance(getattr(self, name), (int, float))
            and not isinstance(getattr(self, name), bool)
        ]
        missing = [n for n in numeric if not str(self.sources.get(n, "")).strip()]
        if missing:
            raise ValueError(
                f"numbers without a source: {', '.join(missing)}; add sources.{missing[0]}: '<paper/datasheet/standard>'"
            )
        unknown = sorted(set(self.sources) - set(type(self).model_fields))
        if unknown:
            raise ValueError(f"sources names unknown field(s): {', '.join(unknown)}")
        return self


class CellTechnology(str, Enum):
    RRAM = "rram"
    PCM = "pcm"
    SRAM = "sram"
    FEFET = "fefet"
    MRAM = "mram"


class Adc(Sourced):
    """Column ADCs. Energy and time per conversion are given at ``reference_bits`` (default: ``bits``);
    at another resolution they scale as ``llmimc.hw.derive`` says (Walden figure of merit: energy x2 per
    bit; SAR conversion time proportional to bits)."""

    bits: Annotated[int, Field(ge=1, le=16)]
    columns_per_adc: PosInt  # columns multiplexed onto one ADC (converted in sequence)
    energy_per_conversion_j: PosFloat  # at reference_bits
    conversion_time_s: PosFloat  # at reference_bits
    reference_bits: Annotated[int, Field(ge=1, le=16)] | None = None  # resolution the two above were given at
    # bits of the column sum that need no conversion because the weight encoding fixes them (ISAAC's
    # "flipped" encoding keeps the sum's MSB known: 1); 0 = the ADC must resolve the whole sum
    encoding_bits_saved: Annotated[int, Field(ge=0, le=4)] | None = None  # None = 0
    area_m2: NonNegFloat | None = None


class Dac(Sourced):
    bits_per_cycle: Annotated[int, Field(ge=1, le=16)]  # input bits applied per cycle; 1 = bit-serial
    energy_per_row_drive_j: NonNegFloat  # one row driven for one cycle


class DeviceNoise(Sourced):
    """Analog non-idealities of one cell technology, read by ``llmimc.accuracy`` (DESIGN.md §8).

    Conductances are normalised to g^ = g / g_max in [0, 1]. Every sigma is in siemens at ``g_max_s``.
    - programming noise  g_prog = g + N(0, sigma_p(g^)),  sigma_p(g^) = sum_i prog_sigma_poly_s[i] g^i
      (Nandakumar et al., ICECS 2019 for PCM; Wan et al., Nature 2022 for RRAM, as fitted in IBM AIHWKIT);
      clamped at 0 conductance.
    - relaxation (RRAM): at inference time t the deviation from target is re-drawn with the polynomial
      fitted at t (``relaxation_times_s`` / ``relaxation_sigma_poly_s``, linear in ln t between fits).
    - drift (PCM)  g(t) = g_prog ((t + t0) / t0)^-nu,  nu ~ N(mu_nu, sigma_nu) per device with
      mu_nu = clip(a ln g^ + b, lo, hi) from ``drift_nu_mean_log`` = [a, b, lo, hi] and sigma_nu likewise
      from ``drift_nu_std_log`` (Nandakumar et al. 2019; AIHWKIT PCMLikeNoiseModel).
    - accumulated 1/f noise, drawn once at t' = t + t0 (AIHWKIT convention): g(t) + N(0, g(t) Q_s
      sqrt(ln((t' + t_r) / (2 t_r)))),  Q_s = min(read_1f_coeff / g^^read_1f_exponent, read_1f_max)
      (Joshi et al., Nat. Commun. 2020); needs drift_t0_s.
    - short-term read noise, fresh on every read: N(0, read_sigma_fraction g_max) per device.
    - ``zero_cell_noise``: devices programmed to g = 0 get programming/read noise too (AIHWKIT default).
    - ``adc_range``: "calibrated" = each ADC's input range is the absmax partial sum of its (row block, slice)
      on a calibration window; "worst_case" = rows x max cell level x max input code (no clipping ever).
    - ``global_drift_compensation``: one digital scale per layer, the ratio of the layer's summed read-out
      conductance right after programming to that at time t (Le Gallo et al., Nat. Electron. 2023).
    Signed weights use differential pairs when ``CrossbarArray.differential`` (two columns) or
    ``weight_encoding: differential`` (both polarities in one unit cell), else an offset (bias) encoding.
    """

    g_max_s: PosFloat
    prog_sigma_poly_s: list[float] = Field(min_length=1)
    relaxation_times_s: list[float] = Field(default_factory=list)
    relaxation_sigma_poly_s: list[list[float]] = Field(default_factory=list)
    drift_nu_mean_log: list[float] = Field(default_factory=list)  # [a, b, lo, hi]; empty = no drift
    drift_nu_std_log: list[float] = Field(default_factory=list)  # [a, b, lo, hi]
    drift_t0_s: PosFloat | None = None  # required with drift
    read_sigma_fraction: NonNegFloat | None = None  # None = no constant read noise
    read_1f_coeff: NonNegFloat | None = None  # None = no 1/f read noise
    read_1f_exponent: NonNegFloat | None = None
    read_1f_max: NonNegFloat | None = None
    read_1f_t_read_s: PosFloat | None = None
    zero_cell_noise: bool = True
    adc_range: Literal["calibrated", "worst_case"] = "calibrated"
    global_drift_compensation: bool = True
    # how a signed weight sits on the devices of one column when CrossbarArray.differential is false:
    # "differential" = both polarities inside one (unit) cell, currents subtracted in the column;
    # "offset" = one device per slice holding w + 2^(w-1), offset removed digitally. None = "offset".
    weight_encoding: Literal["differential", "offset"] | None = None
    # how bit-serial inputs (DAC bits per cycle < act bits) are split into planes: "sign_magnitude" =
    # magnitude digits applied with the sign as pulse polarity; "twos_complement" = digits of the two's
    # complement code, top digit negative. None = "sign_magnitude" (llmimc.accuracy.analog).
    input_encoding: Literal["sign_magnitude", "twos_complement"] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> DeviceNoise:
        polys = [self.prog_sigma_poly_s, *self.relaxation_sigma_poly_s]
        for v in (*self.prog_sigma_poly_s, *(c for p in polys for c in p)):
            if not math.isfinite(v):
                raise ValueError("noise polynomial coefficients must be finite numbers")
        for i, poly in enumerate(polys):
            low = min(sum(c * (j / 100) ** n for n, c in enumerate(poly)) for j in range(101))
            if low < 0:
                where = "prog_sigma_poly_s" if i == 0 else f"relaxation_sigma_poly_s[{i - 1}]"
                raise ValueError(f"{where} gives a negative sigma ({low:.3g} S) for some g/g_max in [0, 1]")
        if len(self.relaxation_times_s) != len(self.relaxation_sigma_poly_s):
            raise ValueError("relaxation_times_s and relaxation_sigma_poly_s need the same length")
        if any(t <= 0 for t in self.relaxation_times_s) or self.relaxation_times_s != sorted(
            self.relaxation_times_s
        ):
            raise ValueError("relaxation_times_s must be positive and increasing")
        for name in ("drift_nu_mean_log", "drift_nu_std_log"):
            v = getattr(self, name)
            if v and (len(v) != 4 or v[2] > v[3] or v[2] < 0):
                raise ValueError(f"{name} must be [a, b, lo, hi] with 0 <= lo <= hi")
        if (self.drift_nu_mean_log or self.read_1f_coeff is not None) and self.drift_t0_s is None:
            raise ValueError("drift and 1/f noise need drift_t0_s")
        f_set = [self.read_1f_coeff, self.read_1f_exponent, self.read_1f_max, self.read_1f_t_read_s]
        if any(v is not None for v in f_set) and any(v is None for v in f_set):
            raise ValueError(
                "1/f read noise needs all of read_1f_coeff, read_1f_exponent, read_1f_max, read_1f_t_read_s"
            )
        return self


class CrossbarArray(Sourced):
    cell_technology: CellTechnology
    rows: PosInt
    cols: PosInt
    bits_per_cell: Annotated[int, Field(ge=1, le=8)]
    differential: bool  # two cells (columns) per signed weight slice
    read_time_per_cycle_s: PosFloat  # one analog read/integration of all active rows, one input bit-slice
    read_energy_per_cell_j: NonNegFloat  # per active cell per read cycle
    adc: Adc
    dac: Dac
    # Rows driven together in one read cycle. None: the largest count whose column sum fits the ADC
    # (``llmimc.hw.derive.rows_per_cycle``); a value above that is allowed (lossy, range-clipped ADCs
    # such as IBM's CCO ADC with 8-bit PWM inputs) and reported as clipped bits.
    rows_active_per_cycle: PosInt | None = None
    # Programming: one program-and-verify iteration costs program_energy_per_cell_j per cell and
    # program_time_per_row_s per row (rows one at a time); multi-level cells need several iterations.
    program_energy_per_cell_j: NonNegFloat
    program_time_per_row_s: NonNegFloat
    program_verify_iterations: PosInt | None = None  # None = 1 (single-pass write)
    endurance_cycles: PosFloat | None = None  # None = effectively unlimited (e.g. SRAM)
    area_m2: NonNegFloat | None = None
    noise: DeviceNoise | None = None  # analog non-idealities for ``llmimc accuracy``; None = ideal devices


class Sram(Sourced):
    capacity_bytes: NonNegInt
    read_energy_per_bit_j: NonNegFloat
    write_energy_per_bit_j: NonNegFloat
    bw_bytes_per_s: PosFloat


class DigitalUnit(Sourced):
    """A digital vector / processing unit (partial-sum accumulation, attention, softmax, norms, outliers)."""

    macs_per_cycle: PosInt
    frequency_hz: PosFloat
    energy_per_mac_j: NonNegFloat  # at the unit's native format (see ``formats``)
    energy_per_op_j: NonNegFloat  # one non-MAC element op (add, compare, exp, ...)
    formats: list[str] = Field(default_factory=lambda: ["int8", "fp16"])

    @property
    def macs_per_s(self) -> float:
        """Peak MAC (or element-op) rate: macs_per_cycle x frequency_hz."""
        return self.macs_per_cycle * self.frequency_hz


class Tile(Sourced):
    arrays_per_tile: PosInt
    local_sram: Sram
    vector_unit: DigitalUnit
    accumulate_energy_j: NonNegFloat  # one shift-and-add of a partial sum
    area_m2: NonNegFloat | None = None  # whole tile/core incl. arrays and periphery, where published


class NocTopology(str, Enum):
    MESH2D = "mesh2d"
    BUS = "bus"
    CROSSBAR = "crossbar"


class Noc(Sourced):
    topology: NocTopology = NocTopology.MESH2D
    link_bw_bytes_per_s: PosFloat
    energy_per_bit_per_hop_j: NonNegFloat
    hop_latency_s: NonNegFloat


class Power(Sourced):
    """Leakage per component and the power-state policy (``llmimc.cost.power`` has the model).

    Every leakage is per instance: one ADC, one DAC (a row driver), one crossbar array (cell retention:
    0 for non-volatile cells, which keep their weights unpowered), one tile's buffer, vector unit and
    router, the chiplet's global SRAM and DPU, and one die-to-die PHY direction (idle). A component whose
    leakage is already inside a measured per-action energy has 0 here, with that said in its source.
    With ``power_gating`` the design gates arrays, tiles and chiplets that hold no weights, and the
    array periphery and tiles of a stage while the stage is idle; a gated domain wakes in
    ``wakeup_time_s`` and waking costs its leakage over ``breakeven_time_s`` (the break-even time of a
    power gate is, by definition, when the saved leakage repays the wake-up energy).
    """

    adc_leakage_w: NonNegFloat
    dac_leakage_w: NonNegFloat
    array_leakage_w: NonNegFloat
    tile_buffer_leakage_w: NonNegFloat
    vector_unit_leakage_w: NonNegFloat
    router_leakage_w: NonNegFloat
    global_sram_leakage_w: NonNegFloat
    dpu_leakage_w: NonNegFloat
    phy_idle_w: NonNegFloat  # one die-to-die link direction (TX + RX halves), idle
    power_gating: bool
    wakeup_time_s: NonNegFloat
    breakeven_time_s: NonNegFloat


class Chiplet(Sourced):
    name: str
    array: CrossbarArray
    tiles: PosInt
    tile: Tile
    noc: Noc
    global_sram: Sram  # activations and KV cache
    dpu: DigitalUnit  # attention, softmax, norms, outlier MACs
    clock_hz: PosFloat
    power: Power
    area_m2: NonNegFloat | None = None

    @property
    def arrays(self) -> int:
        """Crossbar arrays on one chiplet: tiles x arrays_per_tile."""
        return self.tiles * self.tile.arrays_per_tile

    @model_validator(mode="before")
    @classmethod
    def _static_power_replaced(cls, data: object) -> object:
        if isinstance(data, dict) and "static_power_w" in data:
            raise ValueError(
                "chiplet.static_power_w was replaced by chiplet.power (leakage per component and "
                "power_gating); copy the power section of hw_specs/rram-chiplet.yaml and adapt it"
            )
        return data


class PackageTopology(str, Enum):
    RING = "ring"
    MESH2D = "mesh2d"
    TORUS2D = "torus2d"
    ALL_TO_ALL = "all_to_all"
    EXPLICIT = "explicit"


class D2dLink(Sourced):
    name: str  # e.g. "UCIe 1.1 advanced package x64 @ 16 GT/s"
    bw_bytes_per_s: PosFloat  # per direction, per link
    latency_s: NonNegFloat
    energy_per_bit_j: NonNegFloat


class OffPackageMemory(Sourced):
    """Off-package memory: ``stacks`` identical stacks (HBM stacks, LPDDR packages), each of
    ``capacity_bytes`` and ``bw_bytes_per_s``; stack i's controller sits on ``attached_chiplets[i]``
    (one attach point for all stacks is allowed; without ``stacks`` the list names the controllers of the
    one memory). Totals scale with the stack count, so more stacks
    give more KV capacity and bandwidth."""

    kind: str  # "HBM3", "LPDDR5", ...
    capacity_bytes: NonNegInt  # per stack
    bw_bytes_per_s: PosFloat  # per stack
    energy_per_bit_j: NonNegFloat
    latency_s: NonNegFloat
    attached_chiplets: list[NonNegInt] = Field(default_factory=lambda: [0])  # where controllers sit
    stacks: PosInt | None = None  # None: 1 (a design choice; give its source, e.g. "design point")

    @property
    def num_stacks(self) -> int:
        return self.stacks or 1

    @property
    def total_capacity_bytes(self) -> int:
        return self.capacity_bytes * self.num_stacks

    @property
    def total_bw_bytes_per_s(self) -> float:
        return self.bw_bytes_per_s * self.num_stacks

    @model_validator(mode="after")
    def _attach_points(self) -> OffPackageMemory:
        if self.stacks is not None and len(self.attached_chiplets) not in (1, self.stacks):
            raise ValueError(
                f"memory.attached_chiplets lists {len(self.attached_chiplets)} chiplets for {self.num_stacks} stacks; "
                "give one attach point per stack (or one for all)"
            )
        return self


class Package(Sourced):
    num_chiplets: PosInt  # overridden by --chiplets
    topology: PackageTopology
    mesh_cols: PosInt | None = None  # mesh/torus width; default: near-square
    explicit_links: list[tuple[NonNegInt, NonNegInt]] = Field(default_factory=list)
    d2d: D2dLink
    memory: OffPackageMemory

    @model_validator(mode="after")
    def _links_valid(self) -> Package:
        if self.topology == PackageTopology.EXPLICIT and not self.explicit_links:
            raise ValueError("topology 'explicit' needs explicit_links: [[a, b], ...]")
        for a, b in self.explicit_links:
            if a >= self.num_chiplets or b >= self.num_chiplets or a == b:
                raise ValueError(
                    f"explicit link [{a}, {b}] is not between two chiplets of 0..{self.num_chiplets - 1}"
                )
        beyond = [c for c in self.memory.attached_chiplets if c >= self.num_chiplets]
        if beyond:
            raise ValueError(
                f"memory.attached_chiplets names chiplet {beyond[0]} but chiplets are 0..{self.num_chiplets - 1}; "
                "attach the memory to existing chiplets or use more chiplets"
            )
        if len(set(self.memory.attached_chiplets)) != len(self.memory.attached_chiplets):
            raise ValueError("memory.attached_chiplets lists a chiplet twice")
        return self


class PackageLink(Sourced):
    """Package-to-package link (one per package, full duplex) that carries KV caches between packages
    when prefill and decode run on different packages (``llmimc serve --disaggregate``)."""

    name: str  # e.g. "PCIe 5.0 x16"
    bw_bytes_per_s: PosFloat  # per direction
    latency_s: NonNegFloat  # per transfer (fixed part)
    energy_per_bit_j: NonNegFloat


class ImcSystemSpec(Frozen):
    schema_version: Literal[1] = SCHEMA_VERSION
    kind: Literal["imc"] = "imc"
    name: str
    description: str
    chiplet: Chiplet
    package: Package
    package_link: PackageLink | None = None  # between packages; presets in llmimc.hw.package_links

    def with_memory_stacks(self, stacks: int) -> ImcSystemSpec:
        """A copy with ``stacks`` off-package memory stacks attached at evenly spaced chiplets
        (i x num_chiplets // stacks); the spec is never mutated."""
        n = self.package.num_chiplets
        attach = sorted({i * n // stacks for i in range(stacks)})
        if len(attach) != stacks:
            raise ValueError(f"{stacks} memory stacks need at least {stacks} chiplets to attach to; got {n}")
        data = self.package.memory.model_dump()
        sources = dict(data["sources"], stacks="design point (with_memory_stacks / --memory-stacks)")
        data.update(stacks=stacks, attached_chiplets=attach, sources=sources)
        memory = OffPackageMemory.model_validate(data)
        return self.model_copy(update={"package": self.package.model_copy(update={"memory": memory})})

    def with_chiplets(self, num_chiplets: int) -> ImcSystemSpec:
        """A copy with a different chiplet count (the --chiplets override); the spec is never mutated."""
        pkg = self.package.model_copy(update={"num_chiplets": num_chiplets})
        Package.model_validate(pkg.model_dump())  # re-check explicit links against the new count
        return self.model_copy(update={"package": pkg})


class SoftwareStackName(str, Enum):
    """Which software runs the model on a digital machine (llmimc.gpu.stack names the terms)."""

    SERVING = "serving"  # a serving engine (vLLM/TensorRT-LLM style)
    HF_EAGER = "hf-eager"  # Hugging Face transformers eager forward


class GpuKernelCalibration(Sourced):
    """Per-kernel throughput figures of a GPU (llmimc.gpu.kernels): fractions of the spec's peaks.

    GEMM throughput = peak x gemm_efficiency_max x K / (K + gemm_k_half); attention (fused, causal)
    throughput = peak x attn_efficiency_max x keys / (keys + attn_keys_half); memory-bound kernels
    stream at a fraction of ``memory_bw_bytes_per_s`` by kernel class; no kernel is shorter than
    ``kernel_min_s``.
    """

    gemm_efficiency_max: Fraction
    gemm_k_half: NonNegFloat  # reduction length at which a GEMM reaches half its efficiency ceiling
    weight_stream_bw_fraction: Fraction  # small-M GEMM (decode) weight streaming
    stream_bw_fraction: Fraction  # elementwise / copy kernels
    concat_bw_fraction: Fraction  # eager torch.cat (DynamicCache update, rotate_half)
    attn_efficiency_max: Fraction
    attn_keys_half: NonNegFloat
    attn_kv_bw_fraction: Fraction  # decode attention streaming the KV cache
    kernel_min_s: PosFloat  # shortest kernel (execution time of a tiny kernel)
    gemm_min_s: PosFloat  # shortest GEMM kernel (a tiny matmul)
    memory_usable_fraction: Fraction  # share of HBM a serving engine may fill (weights + KV)


class GpuInterconnect(Sourced):
    """GPU-to-GPU link for tensor parallelism (``--chiplets N`` = N GPUs); ring all-reduce."""

    name: str
    bw_bytes_per_s: PosFloat  # per GPU, per direction
    allreduce_base_latency_s: NonNegFloat
    allreduce_hop_latency_s: NonNegFloat
    energy_per_bit_j: NonNegFloat


class DigitalBaselineSpec(Frozen):
    """GPU-like digital machine: roofline with achievable fractions; energy from board power.

    With ``kernels`` set, the machine is also a first-class ``--hw`` target costed kernel by kernel
    (llmimc.gpu) under ``software_stack``; ``num_gpus`` is the tensor-parallel degree (``--chiplets``).
    """

    schema_version: Literal[1] = SCHEMA_VERSION
    kind: Literal["digital"] = "digital"
    name: str
    description: str
    peak_flops_per_s: dict[str, PosFloat]  # dense, by format: {"fp16": ..., "int8": ...}
    memory_capacity_bytes: PosInt
    memory_bw_bytes_per_s: PosFloat
    achievable_compute_fraction: Fraction
    achievable_bw_fraction: Fraction
    board_power_w: PosFloat  # maximum board power (TDP)
    idle_power_w: NonNegFloat
    software_stack: SoftwareStackName = SoftwareStackName.SERVING
    kernels: GpuKernelCalibration | None = None
    interconnect: GpuInterconnect | None = None
    num_gpus: PosInt = 1
    sources: dict[str, str] = Field(default_factory=dict)

    @property
    def achievable_bw_bytes_per_s(self) -> float:
        """Roofline memory bandwidth: memory_bw_bytes_per_s x achievable_bw_fraction."""
        return self.memory_bw_bytes_per_s * self.achievable_bw_fraction

    def achievable_flops_per_s(self, fmt: str) -> float:
        """Roofline compute rate of one format: peak_flops_per_s[fmt] x achievable_compute_fraction."""
        return self.peak_flops_per_s[fmt] * self.achievable_compute_fraction

    def with_gpus(self, num_gpus: int) -> DigitalBaselineSpec:
        """A copy with a different tensor-parallel GPU count (the --chiplets override)."""
        return self.model_copy(update={"num_gpus": num_gpus})

    @model_validator(mode="after")
    def _sourced(self) -> DigitalBaselineSpec:
        for name in (
            "peak_flops_per_s",
            "memory_capacity_bytes",
            "memory_bw_bytes_per_s",
            "achievable_compute_fraction",
            "achievable_bw_fraction",
            "board_power_w",
            "idle_power_w",
        ):
            if not str(self.sources.get(name, "")).strip():
                raise ValueError(f"numbers without a source: {name}; add sources.{name}")
        for fmt, v in self.peak_flops_per_s.items():
            if not math.isfinite(v):
                raise ValueError(f"peak_flops_per_s.{fmt} must be finite")
        return self


HwSpec = Annotated[ImcSystemSpec | DigitalBaselineSpec, Field(discriminator="kind")]
