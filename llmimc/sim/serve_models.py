"""Typed inputs and outputs of the serving emulator (``llmimc.sim.serve.run_serve``).

ServeConfig holds the scheduler knobs; its defaults follow vLLM's (Kwon et al., SOSP 2023; vLLM
``SchedulerConfig``/``CacheConfig``): ``max_num_seqs`` = 256, ``max_num_batched_tokens`` = 2048 with
chunked prefill, KV block size 16 tokens. ServeResult is plain, JSON-serialisable data: the same inputs
give byte-identical JSON (``model_dump_json``).

Metric definitions (DESIGN.md §5; names follow vLLM/Vidur):
- TTFT = first output token time - arrival; time between tokens (TBT) = gap between consecutive output
  tokens of one request (stalls from preemption included); TPOT of a request = (finish - first token) /
  (decode tokens - 1); end-to-end latency = finish - arrival.
- Throughput = finished output tokens (or requests, or prompt + output tokens: total-token throughput)
  / simulated time; goodput = finished requests that meet every given SLO (TTFT <= slo_ttft_s,
  TPOT <= slo_tpot_s, E2E <= slo_e2e_s) / simulated time (vLLM benchmark_serving ``request_goodput``;
  DistServe's goodput is the highest rate sustaining an attainment target, which needs a rate sweep).
  Simulated time runs from the first arrival (t = 0) to the last finish. Queueing delay = first
  admission - arrival.
- Prefix cache: hits count at a request's first admission only (re-admission hits after a preemption,
  mostly its own released blocks, are reported apart); the ideal is an unbounded cache replaying the
  requests in arrival order (``llmimc.sim.serve_metrics.ideal_prefix_hit_tokens``).
- Energy: each iteration's energy is split over its requests in proportion to the tokens each
  processed in it, so the per-request energies sum to the total; energy per output token = total /
  output tokens. Idle gaps between iterations (simulated_time_s - busy_time_s) draw the package's
  static power; that ``idle_energy_j`` is reported separately (it belongs to no request), and
  ``total_energy_j`` = energy_j + idle_energy_j.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from llmimc._base import Frozen


class ServeConfig(Frozen):
    max_batch: int = Field(default=256, ge=1)  # requests in flight (vLLM max_num_seqs)
    max_tokens_per_iter: int = Field(default=2048, ge=1)  # token budget (vLLM max_num_batched_tokens)
    # most prompt tokens of one request per iteration; not given: the token budget (vLLM's default)
    chunk_size: int = Field(default=2048, ge=1)
    block_tokens: int = Field(default=16, ge=1)  # KV block size (vLLM block_size)
    enable_prefix_caching: bool = False
    slo_ttft_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    slo_tpot_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    max_context_tokens: int | None = Field(default=None, ge=1)  # model context (max_position_embeddings)
    record_timeline: bool = False
    kv_series_points: int = Field(default=120, ge=2)  # samples of the KV occupancy series
    # Admission leaves this share of KV blocks free (vLLM CacheConfig/Vidur watermark; floor(f x blocks)).
    watermark_fraction: float = Field(default=0.01, ge=0.0, lt=1.0)
    event_skipping: bool = True  # advance decode-only stretches in closed form (same results)
    slo_e2e_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    percentiles: tuple[float, ...] = (50.0, 90.0, 99.0)  # reported in Percentiles.values
    keep_request_records: bool = True  # False: records only go to run_serve's on_record sink
    time_scale: float = Field(default=1.0, gt=0, allow_inf_nan=False)  # arrivals at t x time_scale
    # Timeline iterations kept (start, end) in simulated seconds; None keeps all.
    timeline_window_s: tuple[float, float] | None = None
    # Cluster: identical packages behind a global router (llmimc.sim.cluster).
    replicas: int = Field(default=1, ge=1)
    router: Literal["round-robin", "least-loaded", "prefix-affinity"] = "round-robin"
    # Prefill/decode disaggregation: (prefill packages, decode packages) (llmimc.sim.disagg).
    disaggregate: tuple[int, int] | None = None
    # Preemption: recompute (vLLM v1) or swap the KV to off-package memory and back (llmimc.sim.swap);
    # the swap region is reserved out of the KV capacity (vLLM swap_space, 4 GiB by default).
    preemption: Literal["recompute", "swap"] = "recompute"
    swap_space_bytes: float = Field(default=4 * 2**30, ge=0, allow_inf_nan=False)

    @property
    def num_packages(self) -> int:
        return sum(self.disaggregate) if self.disaggregate is not None else self.replicas

    @model_validator(mode="after")
    def _check_lists(self) -> ServeConfig:
        if not self.percentiles or any(not 0.0 <= q <= 100.0 for q in self.percentiles):
            raise ValueError(f"percentiles must be within 0..100, got {list(self.percentiles)}")
        if self.disaggregate is not None:
            if min(self.disaggregate) < 1:
                raise ValueError(
                    f"disaggregate needs >= 1 prefill and >= 1 decode package, got {self.disaggregate}"
                )
            if self.replicas != 1:
                raise ValueError("give either replicas or disaggregate (P:D packages), not both")
        w = self.timeline_window_s
        if w is not None and not 0.0 <= w[0] < w[1]:
            raise ValueError(f"timeline_window_s must be 0 <= start < end, got {w}")
        return self

    @model_validator(mode="before")
    @classmethod
    def _chunk_defaults_to_budget(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("chunk_size") is None:
            data = {k: v for k, v in data.items() if k != "chunk_size"}
            data["chunk_size"] = data.get(
                "max_tokens_per_iter", cls.model_fields["max_tokens_per_iter"].default
            )
        return data


RequestStatus = Literal["finished", "rejected"]

# Why a request can never be served (RequestRecord.reason).
REJECT_PROMPT_EXCEEDS_CONTEXT = "prompt_exceeds_context"
REJECT_TOTAL_EXCEEDS_CONTEXT = "prompt_plus_decode_exceeds_context"
REJECT_EXCEEDS_KV_CAPACITY = "kv_exceeds_capacity"


class RequestRecord(Frozen):
    request_id: int
    status: RequestStatus
    reason: str | None = None  # set when rejected: one of the REJECT_* keys
    num_prefill_tokens: int
    num_decode_tokens: int
    arrived_at_s: float
    scheduled_at_s: float | None = None  # first admitted to the running batch
    first_token_at_s: float | None = None
    finished_at_s: float | None = None
    ttft_s: float | None = None
    tpot_s: float | None = None  # None with a single output token
    e2e_s: float | None = None
    energy_j: float = 0.0
    preemptions: int = 0
    prefix_cache_hit_tokens: int = 0  # at the first admission
    prefix_cache_readmit_hit_tokens: int = 0  # at re-admissions after preemption
    queue_delay_s: float | None = None  # first admission - arrival
    kv_transfer_s: float | None = None  # disaggregation: prefill end to KV delivered (link queue + transfer)


class Percentiles(Frozen):
    count: int
    mean: float | None
    p50: float | None
    p90: float | None
    p99: float | None
    values: dict[str, float] = Field(default_factory=dict)  # "p99.9" -> value, ServeConfig.percentiles


class KvOccupancySeries(Frozen):
    """Share of KV blocks in use (running requests) sampled at evenly spaced simulated times."""

    time_s: list[float]
    used_fraction: list[float]
    peak_used_fraction: float
    mean_used_fraction: float  # time-weighted over the simulated time


class ServeTimeline(Frozen):
    """Per-iteration columns and preemption events (only with ServeConfig.record_timeline)."""

    iteration_start_s: list[float]
    iteration_latency_s: list[float]
    iteration_energy_j: list[float]
    prefill_requests: list[int]
    prefill_tokens: list[int]
    decode_requests: list[int]
    preemptions: list[tuple[float, int]]  # (time_s, request_id)
    # several packages (replicas, disaggregation): the package of each iteration and preemption, in
    # the order above (iterations sorted by start time); empty for one package
    iteration_package: list[int] = Field(default_factory=list)
    preemption_package: list[int] = Field(default_factory=list)
    kv_transfers: list[tuple[float, float, int]] = Field(
        default_factory=list
    )  # (start_s, duration_s, request_id)
    # KV blocks in use as an exact step function: the share from kv_time_s[k] until the next point
    # (a point at each iteration start, and after each iteration in which requests finished).
    kv_time_s: list[float] = Field(default_factory=list)
    kv_used_fraction: list[float] = Field(default_factory=list)

    @model_validator(mode="after")
    def _same_length(self) -> ServeTimeline:
        n = len(self.iteration_start_s)
        cols = (self.iteration_latency_s, self.iteration_energy_j, self.prefill_requests)
        if any(len(c) != n for c in (*cols, self.prefill_tokens, self.decode_requests)):
            raise ValueError("timeline columns must have one entry per iteration")
        if self.iteration_package and len(self.iteration_package) != n:
            raise ValueError("iteration_package must have one entry per iteration (or none)")
        if self.preemption_package and len(self.preemption_package) != len(self.preemptions):
            raise ValueError("preemption_package must have one entry per preemption (or none)")
        if len(self.kv_time_s) != len(self.kv_used_fraction):
            raise ValueError("kv_time_s and kv_used_fraction must have the same length")
        return self


class ReplicaSummary(Frozen):
    """One package of a cluster (``ServeConfig.replicas`` > 1)."""

    replica: int
    num_requests: int  # routed here (requests that can never be served are rejected before routing)
    num_finished: int
    iterations: int
    busy_time_s: float
    end_time_s: float  # its last finish
    output_tokens: int
    prompt_tokens: int
    throughput_output_tokens_per_s: float  # over the cluster's simulated time
    ttft_s: Percentiles
    e2e_s: Percentiles
    preemptions: int
    prefix_cache_hit_tokens: int
    energy_j: float
    kv_peak_used_fraction: float


class ServeResult(Frozen):
    config: ServeConfig
    kv_capacity_tokens: int
    kv_on_package_tokens: int
    kv_total_blocks: int
    num_requests: int
    num_finished: int
    num_rejected: int
    rejected_by_reason: dict[str, int]
    skipped_rows: dict[str, int]  # passed through from the trace loader
    iterations: int
    simulated_time_s: float
    busy_time_s: float  # time with an iteration running
    ttft_s: Percentiles
    tbt_s: Percentiles
    tpot_s: Percentiles
    e2e_s: Percentiles
    output_tokens: int
    prompt_tokens: int  # of finished requests
    prefill_tokens_computed: int  # incl. recomputation after preemption, excl. prefix-cache hits
    prefix_cache_hit_tokens: int  # first admissions of finished requests
    prefix_cache_readmit_hit_tokens: int = 0  # re-admissions after preemption (reported apart)
    prefix_cache_ideal_hit_tokens: int = 0  # an unbounded cache replaying the trace in arrival order
    prefix_cache_hit_rate: float = 0.0  # first-admission hits / prompt tokens of finished requests
    prefix_cache_evictions: int
    prefix_block_tokens: int = 0  # tokens per prefix-cache block used; 0: caching off or no prefix ids
    throughput_output_tokens_per_s: float
    throughput_requests_per_s: float
    throughput_total_tokens_per_s: float = 0.0  # (prompt + output tokens of finished) / simulated time
    queue_delay_s: Percentiles | None = None  # first admission - arrival
    goodput_requests_per_s: float | None  # None when no SLO is given
    slo_attainment: float | None  # share of all requests finished within the SLOs
    energy_j: float  # iterations (static power during iterations included), split over requests
    idle_energy_j: float = 0.0  # static power x idle time between iterations
    energy_per_request_j: float | None
    energy_per_output_token_j: float | None
    d2d_bytes: float
    offpkg_bytes: float
    preemptions: int
    stretch_iterations: int = 0  # iterations advanced by event skipping (a speed figure, not a result)
    kv_occupancy: KvOccupancySeries
    requests: list[RequestRecord]
    timeline: ServeTimeline | None = None  # replica 0's iterations in a cluster
    num_replicas: int = 1
    router: str | None = None  # set for a cluster
    replicas: list[ReplicaSummary] = Field(default_factory=list)
    # Load balance: max / mean over replicas of routed requests and of busy time (1.0 = perfectly even).
    load_imbalance_requests: float | None = None
    load_imbalance_busy: float | None = None
    # Disaggregation (ServeConfig.disaggregate): KV shipped from prefill to decode packages.
    package_link: str | None = None
    kv_transfer_bytes: float = 0.0
    kv_transfer_energy_j: float = 0.0  # included in energy_j
    kv_transfer_s: Percentiles | None = None  # per request: link queueing + transfer
    # Swap preemption (ServeConfig.preemption = "swap", llmimc.sim.swap); time and energy included in
    # busy_time_s and energy_j. swap_fallbacks: preemptions that recomputed (swap space full).
    swap_outs: int = 0
    swap_ins: int = 0
    swap_fallbacks: int = 0
    swap_out_bytes: float = 0.0
    swap_in_bytes: float = 0.0
    swap_time_s: float = 0.0
    swap_energy_j: float = 0.0
    swap_peak_used_bytes: float = 0.0
    swap_reserved_tokens: int = 0  # KV capacity given up for the swap region

    @property
    def total_energy_j(self) -> float:
        return self.energy_j + self.idle_energy_j
