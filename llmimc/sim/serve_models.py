"""Typed inputs and outputs of the serving emulator (``llmimc.sim.serve.run_serve``).

ServeConfig holds the scheduler knobs; its defaults follow vLLM's (Kwon et al., SOSP 2023; vLLM
``SchedulerConfig``/``CacheConfig``): ``max_num_seqs`` = 256, ``max_num_batched_tokens`` = 2048 with
chunked prefill, KV block size 16 tokens. ServeResult is plain, JSON-serialisable data: the same inputs
give byte-identical JSON (``model_dump_json``).

Metric definitions (DESIGN.md §5; names follow vLLM/Vidur):
- TTFT = first output token time - arrival; time between tokens (TBT) = gap between consecutive output
  tokens of one request (stalls from preemption included); TPOT of a request = (finish - first token) /
  (decode tokens - 1); end-to-end latency = finish - arrival.
- Throughput = finished output tokens (or requests) / simulated time; goodput = finished requests that
  meet every given SLO (TTFT <= slo_ttft_s and TPOT <= slo_tpot_s) / simulated time (DistServe, Zhong
  et al., OSDI 2024). Simulated time runs from the first arrival (t = 0) to the last finish.
- Energy: each iteration's energy is split over its requests in proportion to the tokens each
  processed in it, so the per-request energies sum to the total; energy per output token = total /
  output tokens. Idle gaps between iterations (simulated_time_s - busy_time_s) draw the package's
  static power; that ``idle_energy_j`` is reported separately (it belongs to no request), and
  ``total_energy_j`` = energy_j + idle_energy_j.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ServeConfig(_Frozen):
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

    @model_validator(mode="before")
    @classmethod
    def _chunk_defaults_to_budget(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("chunk_size") is None:
            data = {k: v for k, v in data.items() if k != "chunk_size"}
            data["chunk_size"] = data.get("max_tokens_per_iter", cls.model_fields["max_tokens_per_iter"].default)
        return data


RequestStatus = Literal["finished", "rejected"]

# Why a request can never be served (RequestRecord.reason).
REJECT_PROMPT_EXCEEDS_CONTEXT = "prompt_exceeds_context"
REJECT_TOTAL_EXCEEDS_CONTEXT = "prompt_plus_decode_exceeds_context"
REJECT_EXCEEDS_KV_CAPACITY = "kv_exceeds_capacity"


class RequestRecord(_Frozen):
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
    prefix_cache_hit_tokens: int = 0


class Percentiles(_Frozen):
    count: int
    mean: float | None
    p50: float | None
    p90: float | None
    p99: float | None


class KvOccupancySeries(_Frozen):
    """Share of KV blocks in use (running requests) sampled at evenly spaced simulated times."""

    time_s: list[float]
    used_fraction: list[float]
    peak_used_fraction: float
    mean_used_fraction: float  # time-weighted over the simulated time


class ServeTimeline(_Frozen):
    """Per-iteration columns and preemption events (only with ServeConfig.record_timeline)."""

    iteration_start_s: list[float]
    iteration_latency_s: list[float]
    iteration_energy_j: list[float]
    prefill_requests: list[int]
    prefill_tokens: list[int]
    decode_requests: list[int]
    preemptions: list[tuple[float, int]]  # (time_s, request_id)
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
        if len(self.kv_time_s) != len(self.kv_used_fraction):
            raise ValueError("kv_time_s and kv_used_fraction must have the same length")
        return self


class ServeResult(_Frozen):
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
    prefix_cache_hit_tokens: int
    prefix_cache_evictions: int
    prefix_block_tokens: int = 0  # tokens per prefix-cache block used; 0: caching off or no prefix ids
    throughput_output_tokens_per_s: float
    throughput_requests_per_s: float
    goodput_requests_per_s: float | None  # None when no SLO is given
    slo_attainment: float | None  # share of all requests finished within the SLOs
    energy_j: float  # iterations (static power during iterations included), split over requests
    idle_energy_j: float = 0.0  # static power x idle time between iterations
    energy_per_request_j: float | None
    energy_per_output_token_j: float | None
    d2d_bytes: float
    offpkg_bytes: float
    preemptions: int
    kv_occupancy: KvOccupancySeries
    requests: list[RequestRecord]
    timeline: ServeTimeline | None = None

    @property
    def total_energy_j(self) -> float:
        return self.energy_j + self.idle_energy_j
