"""`llmimc serve`: replay a request trace (or a synthetic workload) through continuous batching on an
IMC chiplet system and report latency, throughput, goodput, energy and KV occupancy."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from llmimc_cli._common import console, err_console, fail, friendly_errors, output_path, write_output

PROGRESS_LINE_EVERY_S = 5.0


class _ProgressLines:
    """Progress for a non-terminal stderr: a line every ``every_s`` seconds with an ETA, and a closing
    line if any was printed (short runs stay quiet, so their output is reproducible)."""

    def __init__(
        self, every_s: float = PROGRESS_LINE_EVERY_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.every_s = every_s
        self.clock = clock
        self.t0 = clock()
        self.last = self.t0
        self.printed = False

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        if done >= total and not self.printed:
            return
        if now - self.last < self.every_s and done < total:
            return
        self.last = now
        self.printed = True
        elapsed = now - self.t0
        eta = elapsed * (total - done) / done if done else float("nan")
        pct = 100.0 * done / total if total else 100.0
        print(
            f"serve: {done:,}/{total:,} requests ({pct:.1f} %), elapsed {elapsed:.0f} s, ETA {eta:.0f} s",
            file=sys.stderr,
            flush=True,
        )


def _parse_window(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    parts = text.split(":")
    try:
        lo, hi = (float(p) for p in parts)
    except ValueError:
        raise fail(f"--timeline-window {text}: give START:END in simulated seconds, e.g. 0:60") from None
    if not 0.0 <= lo < hi:
        raise fail(f"--timeline-window {text}: need 0 <= START < END")
    return lo, hi


def _parse_disaggregate(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    parts = text.split(":")
    try:
        p, d = (int(x) for x in parts)
    except ValueError:
        raise fail(f"--disaggregate {text}: give P:D, prefill and decode package counts, e.g. 2:2") from None
    if p < 1 or d < 1:
        raise fail(f"--disaggregate {text}: need at least 1 prefill and 1 decode package")
    return p, d


def _parse_percentiles(text: str) -> tuple[float, ...]:
    try:
        qs = tuple(float(p) for p in text.split(","))
    except ValueError:
        raise fail(f"--percentiles {text}: give comma-separated numbers, e.g. 50,90,99,99.9") from None
    if any(not 0.0 <= q <= 100.0 for q in qs):
        raise fail(f"--percentiles {text}: every percentile must be within 0..100")
    return qs


def _check_flags(whole: dict[str, int | None], positive: dict[str, float | None]) -> None:
    """One-line error for the first flag out of range (None = not given)."""
    for flag, value in whole.items():
        if value is not None and value < 1:
            raise fail(f"{flag} is {value}; give a whole number >= 1")
    for flag, amount in positive.items():
        if amount is not None and not amount > 0:
            raise fail(f"{flag} is {amount}; give a value > 0")


def _check_output_paths(paths: dict[str, Path | None]) -> None:
    """One-line error before the (possibly long) run if an output file could not be written."""
    for flag, path in paths.items():
        output_path(path, flag)


def _workload(
    trace: Path | None,
    fmt: str,
    skip_bad_rows: bool,
    max_requests: int | None,
    rate: float | None,
    num_requests: int | None,
    arrival: str,
    cv: float,
    prompt_len: int | None,
    gen_len: int | None,
    lengths: Path | None,
    seed: int,
):
    """The workload the flags describe: a trace file, or synthetic arrivals."""
    from llmimc.workload import SyntheticWorkload, TraceWorkload

    if trace is not None:
        if rate is not None or num_requests is not None or lengths is not None:
            raise fail("give either --trace PATH or a synthetic workload (--rate, --num-requests), not both")
        return TraceWorkload(path=trace, format=fmt, skip_bad_rows=skip_bad_rows, max_requests=max_requests)
    if rate is None or num_requests is None:
        raise fail(
            "give a workload: --trace PATH, or --rate QPS --num-requests K with --prompt-len/--gen-len or --lengths"
        )
    if max_requests is not None:
        num_requests = min(num_requests, max_requests)
    return SyntheticWorkload(
        rate_qps=rate,
        num_requests=num_requests,
        arrival=arrival,
        cv=cv,
        prompt_len=prompt_len,
        gen_len=gen_len,
        lengths_path=lengths,
        seed=seed,
    )


# Options (typer.Option declarations), one alias each so the command's signature stays readable.
Opt = typer.Option
ModelArg = Annotated[str, typer.Argument(help="HF model id, local folder with config.json, or bundled name.")]
ChipletsOpt = Annotated[int | None, Opt("--chiplets", help="Number of chiplets (default: the spec's).")]
TraceOpt = Annotated[
    Path | None, Opt("--trace", help="Request trace file (Vidur, Azure, Mooncake, BurstGPT…).")
]
FormatOpt = Annotated[str, Opt("--format", help="Trace format (auto-detected by default).")]
SkipOpt = Annotated[bool, Opt("--skip-bad-rows", help="Skip malformed trace rows and count them.")]
RateOpt = Annotated[float | None, Opt("--rate", help="Synthetic workload: mean arrivals per second.")]
NumOpt = Annotated[int | None, Opt("--num-requests", help="Synthetic workload: number of requests.")]
ArrivalOpt = Annotated[str, Opt("--arrival", help="Synthetic arrivals: poisson or gamma.")]
CvOpt = Annotated[float, Opt("--cv", help="Coefficient of variation of gamma inter-arrival times.")]
PromptOpt = Annotated[int | None, Opt("--prompt-len", help="Synthetic prompt tokens per request.")]
GenOpt = Annotated[int | None, Opt("--gen-len", help="Synthetic output tokens per request.")]
LengthsOpt = Annotated[Path | None, Opt("--lengths", help="CSV of (prefill, decode) lengths to sample from.")]
SeedOpt = Annotated[int, Opt("--seed", help="Seed of the synthetic workload.")]
HwOpt = Annotated[str | None, Opt("--hw", help="Hardware spec: built-in name or .yaml/.json file.")]
PrecisionOpt = Annotated[str | None, Opt("--precision", help="Precision policy preset or file.")]
SparsityOpt = Annotated[str | None, Opt("--sparsity", help="N:M weight sparsity, e.g. 2:4.")]
MaxBatchOpt = Annotated[int, Opt("--max-batch", help="Most requests in flight (vLLM max_num_seqs).")]
BudgetOpt = Annotated[int, Opt("--token-budget", help="Most tokens per iteration.")]
ChunkOpt = Annotated[
    int | None,
    Opt("--chunk-size", help="Most prompt tokens per request per iteration (default: the token budget)."),
]
BlockOpt = Annotated[int, Opt("--block-tokens", help="KV block size in tokens.")]
PrefixOpt = Annotated[bool, Opt("--prefix-caching", help="Reuse KV of shared prompt prefixes.")]
TtftOpt = Annotated[float | None, Opt("--slo-ttft-s", help="SLO on time to first token (s) for goodput.")]
TpotOpt = Annotated[float | None, Opt("--slo-tpot-s", help="SLO on time per output token (s) for goodput.")]
E2eOpt = Annotated[float | None, Opt("--slo-e2e-s", help="SLO on end-to-end latency (s) for goodput.")]
MaxReqOpt = Annotated[int | None, Opt("--max-requests", help="Serve only the first K requests.")]
JsonOpt = Annotated[
    Path | None,
    Opt("--json", help="Write the result's summary as JSON here (per-request records: --requests-out)."),
]
TimelineOpt = Annotated[Path | None, Opt("--timeline", help="Write a Chrome/Perfetto trace JSON here.")]
RecordsOpt = Annotated[
    Path | None,
    Opt(
        "--requests-out",
        help="Stream per-request records here (JSONL; .parquet needs pyarrow).",
    ),
]
WindowOpt = Annotated[
    str | None, Opt("--timeline-window", help="Keep timeline iterations in START:END simulated s.")
]
ScaleOpt = Annotated[
    float, Opt("--time-scale", help="Multiply arrival times by X (< 1 compresses: more load).")
]
PctOpt = Annotated[str, Opt("--percentiles", help="Latency percentiles to report, e.g. 50,90,99,99.9.")]
WatermarkOpt = Annotated[
    float, Opt("--watermark", min=0.0, max=0.99, help="Share of KV blocks admission leaves free.")
]
ReplicasOpt = Annotated[int, Opt("--replicas", help="Identical packages behind a global router.")]
RouterOpt = Annotated[
    str, Opt("--router", help="Global router: round-robin, least-loaded or prefix-affinity.")
]
DisaggOpt = Annotated[
    str | None, Opt("--disaggregate", help="P:D prefill and decode packages; KV crosses the package link.")
]
LinkOpt = Annotated[
    str | None,
    Opt("--package-link", help="Link preset: ucie-s, pcie5, cxl2, ethernet-400g (default: the spec's)."),
]
StacksOpt = Annotated[
    int | None, Opt("--memory-stacks", help="Off-package memory stacks per package (more KV).")
]
PreemptOpt = Annotated[
    str,
    Opt("--preemption", help="recompute (vLLM v1) or swap: preempted KV to off-package memory and back."),
]
SwapSpaceOpt = Annotated[
    float,
    Opt("--swap-space", min=0.0, help="GiB of off-package memory reserved for swapped KV (vLLM swap_space)."),
]
SkipEventsOpt = Annotated[
    bool,
    Opt("--event-skipping/--no-event-skipping", help="Advance decode-only stretches at once (same results)."),
]


def serve(
    model: ModelArg,
    chiplets: ChipletsOpt = None,
    trace: TraceOpt = None,
    fmt: FormatOpt = "auto",
    skip_bad_rows: SkipOpt = False,
    rate: RateOpt = None,
    num_requests: NumOpt = None,
    arrival: ArrivalOpt = "poisson",
    cv: CvOpt = 1.0,
    prompt_len: PromptOpt = None,
    gen_len: GenOpt = None,
    lengths: LengthsOpt = None,
    seed: SeedOpt = 0,
    hw: HwOpt = None,
    precision: PrecisionOpt = None,
    sparsity: SparsityOpt = None,
    max_batch: MaxBatchOpt = 256,
    token_budget: BudgetOpt = 2048,
    chunk_size: ChunkOpt = None,
    block_tokens: BlockOpt = 16,
    prefix_caching: PrefixOpt = False,
    slo_ttft_s: TtftOpt = None,
    slo_tpot_s: TpotOpt = None,
    slo_e2e_s: E2eOpt = None,
    max_requests: MaxReqOpt = None,
    json_path: JsonOpt = None,
    timeline_path: TimelineOpt = None,
    requests_out: RecordsOpt = None,
    timeline_window: WindowOpt = None,
    time_scale: ScaleOpt = 1.0,
    percentiles: PctOpt = "50,90,99",
    watermark: WatermarkOpt = 0.01,
    replicas: ReplicasOpt = 1,
    router: RouterOpt = "round-robin",
    disaggregate: DisaggOpt = None,
    package_link: LinkOpt = None,
    memory_stacks: StacksOpt = None,
    event_skipping: SkipEventsOpt = True,
    preemption: PreemptOpt = "recompute",
    swap_space: SwapSpaceOpt = 4.0,
) -> None:
    """Serve a request trace with continuous batching and report latency, throughput and energy."""
    from llmimc import api
    from llmimc.sim.cluster import ROUTERS
    from llmimc.sim.serve import ServeConfig

    ints = {"--chiplets": chiplets, "--num-requests": num_requests, "--prompt-len": prompt_len}
    ints |= {"--gen-len": gen_len, "--max-batch": max_batch, "--token-budget": token_budget}
    ints |= {"--chunk-size": chunk_size, "--block-tokens": block_tokens, "--max-requests": max_requests}
    ints |= {"--replicas": replicas, "--memory-stacks": memory_stacks}
    positive = {"--rate": rate, "--cv": cv, "--slo-ttft-s": slo_ttft_s, "--slo-tpot-s": slo_tpot_s}
    positive |= {"--slo-e2e-s": slo_e2e_s, "--time-scale": time_scale}
    _check_flags(ints, positive)
    if seed < 0:
        raise fail(f"--seed is {seed}; give a whole number >= 0")
    _check_output_paths({"--json": json_path, "--timeline": timeline_path, "--requests-out": requests_out})
    if preemption not in ("recompute", "swap"):
        raise fail(f"--preemption {preemption}: use recompute or swap")
    if router not in ROUTERS:
        raise fail(f"--router {router}: use one of {', '.join(ROUTERS)}")
    split = _parse_disaggregate(disaggregate)
    if split is not None and replicas != 1:
        raise fail("give either --replicas or --disaggregate P:D, not both")
    workload = _workload(
        trace,
        fmt,
        skip_bad_rows,
        max_requests,
        rate,
        num_requests,
        arrival,
        cv,
        prompt_len,
        gen_len,
        lengths,
        seed,
    )
    config = ServeConfig(
        max_batch=max_batch,
        max_tokens_per_iter=token_budget,
        chunk_size=chunk_size,
        block_tokens=block_tokens,
        enable_prefix_caching=prefix_caching,
        slo_ttft_s=slo_ttft_s,
        slo_tpot_s=slo_tpot_s,
        slo_e2e_s=slo_e2e_s,
        record_timeline=timeline_path is not None,
        timeline_window_s=_parse_window(timeline_window),
        time_scale=time_scale,
        percentiles=_parse_percentiles(percentiles),
        watermark_fraction=watermark,
        event_skipping=event_skipping,
        # records are streamed (--requests-out) or drawn as the timeline's request tracks; --json holds
        # the summary, so a run with neither builds no per-request record (the loop's largest cost)
        keep_request_records=timeline_path is not None and requests_out is None,
        replicas=replicas,
        router=router,
        disaggregate=split,
        preemption=preemption,
        swap_space_bytes=swap_space * 2**30,
    )
    hw_ref, chiplets = _with_stacks(hw, chiplets, memory_stacks)
    run = api.prepare_serve(
        model,
        workload,
        hw=hw_ref,
        chiplets=chiplets,
        precision=precision,
        sparsity=sparsity,
        config=config,
        package_link=package_link,
    )
    result, records = _simulate(run, requests_out)
    _write_outputs(run, result, json_path, timeline_path, requests_out, records)


def _with_stacks(hw: str | None, chiplets: int | None, stacks: int | None) -> tuple[Any, int | None]:
    """The --hw reference with --memory-stacks folded in (then --chiplets is folded in too)."""
    if stacks is None:
        return hw, chiplets
    from llmimc import api
    from llmimc.hw.spec import ImcSystemSpec

    spec = api.load_hw(hw, chiplets)
    if not isinstance(spec, ImcSystemSpec):
        raise fail(f"--hw {hw}: is a digital baseline spec; `llmimc serve` needs an IMC system spec")
    try:
        return spec.with_memory_stacks(stacks), None
    except ValueError as err:
        raise fail(f"--memory-stacks {stacks}: {err}") from None


def _simulate(run: Any, requests_out: Path | None) -> tuple[Any, int]:
    """Run with a progress bar on a terminal (progress lines otherwise); stream records if asked."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from llmimc.report.serve_records import RequestRecordWriter

    sink = RequestRecordWriter(requests_out) if requests_out is not None else None
    try:
        if not sys.stderr.isatty():
            return run.run(on_progress=_ProgressLines(), on_record=sink), sink.count if sink else 0
        columns = (TextColumn("serving"), BarColumn(), MofNCompleteColumn(), TextColumn("requests"))
        with Progress(*columns, TimeElapsedColumn(), console=console, transient=True) as progress:
            task = progress.add_task("serve", total=run.load.num_requests)
            result = run.run(
                on_progress=lambda done, total: progress.update(task, completed=done, total=total),
                on_record=sink,
            )
        return result, sink.count if sink else 0
    finally:
        if sink is not None:
            sink.close()


def _write_outputs(
    run: Any,
    result: Any,
    json_path: Path | None,
    timeline_path: Path | None,
    requests_out: Path | None,
    n: int,
) -> None:
    from llmimc.report.serve_report import render_serve_report
    from llmimc.report.timeline import serve_timeline

    spec = run.system.spec
    units = (
        f"{run.num_chiplets} chiplets" if spec.kind == "imc" else f"{run.num_chiplets} x {spec.name} GPU(s)"
    )
    packages = result.num_replicas
    where = f"{packages} packages of {units}" if packages > 1 else units
    render_serve_report(result, console, f"llmimc serve {run.model_id} on {where} — {run.load.source}")
    if json_path is not None:
        summary = result.model_copy(update={"requests": []})  # records: --requests-out
        write_output(json_path, summary.model_dump_json(indent=1), "--json")
    if requests_out is not None:
        err_console.print(f"wrote {requests_out} ({n:,} request records)", highlight=False)
    if timeline_path is not None:
        timeline = json.dumps(serve_timeline(result))
        write_output(timeline_path, timeline, "--timeline", " (open in https://ui.perfetto.dev)")


def register(app: typer.Typer) -> None:
    """Attach this module's commands to the root app."""
    app.command("serve")(friendly_errors(serve))
