"""`llmimc serve`: replay a request trace (or a synthetic workload) through continuous batching on an
IMC chiplet system and report latency, throughput, goodput, energy and KV occupancy."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from llmimc_cli._common import console, fail, friendly_errors


def _check_flags(whole: dict[str, int | None], positive: dict[str, float | None]) -> None:
    """One-line error for the first flag out of range (None = not given)."""
    for flag, value in whole.items():
        if value is not None and value < 1:
            raise fail(f"{flag} is {value}; give a whole number >= 1")
    for flag, value in positive.items():
        if value is not None and not value > 0:
            raise fail(f"{flag} is {value}; give a value > 0")


def _check_output_paths(paths: dict[str, Path | None]) -> None:
    """One-line error before the (possibly long) run if an output file could not be written."""
    for flag, path in paths.items():
        if path is None:
            continue
        if path.is_dir():
            raise fail(f"{flag} {path}: is a directory; give a file path")
        if not path.parent.is_dir():
            raise fail(f"{flag} {path}: folder {path.parent} does not exist; create it or pick another path")


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


def register(app: typer.Typer) -> None:
    """Attach this module's commands to the root app."""

    @app.command("serve")
    @friendly_errors
    def serve(
        model: str = typer.Argument(..., help="HF model id, local folder with config.json, or bundled name."),
        chiplets: int = typer.Option(None, "--chiplets", help="Number of chiplets (default: the spec's)."),
        trace: Path = typer.Option(
            None, "--trace", help="Request trace file (Vidur, Azure, Mooncake, BurstGPT…)."
        ),
        fmt: str = typer.Option("auto", "--format", help="Trace format (auto-detected by default)."),
        skip_bad_rows: bool = typer.Option(
            False, "--skip-bad-rows", help="Skip malformed trace rows and count them."
        ),
        rate: float = typer.Option(None, "--rate", help="Synthetic workload: mean arrivals per second."),
        num_requests: int = typer.Option(
            None, "--num-requests", help="Synthetic workload: number of requests."
        ),
        arrival: str = typer.Option("poisson", "--arrival", help="Synthetic arrivals: poisson or gamma."),
        cv: float = typer.Option(1.0, "--cv", help="Coefficient of variation of gamma inter-arrival times."),
        prompt_len: int = typer.Option(None, "--prompt-len", help="Synthetic prompt tokens per request."),
        gen_len: int = typer.Option(None, "--gen-len", help="Synthetic output tokens per request."),
        lengths: Path = typer.Option(
            None, "--lengths", help="CSV of (prefill, decode) lengths to sample from."
        ),
        seed: int = typer.Option(0, "--seed", help="Seed of the synthetic workload."),
        hw: str = typer.Option(None, "--hw", help="Hardware spec: built-in name or .yaml/.json file."),
        precision: str = typer.Option(None, "--precision", help="Precision policy preset or file."),
        sparsity: str = typer.Option(None, "--sparsity", help="N:M weight sparsity, e.g. 2:4."),
        max_batch: int = typer.Option(
            256, "--max-batch", help="Most requests in flight (vLLM max_num_seqs)."
        ),
        token_budget: int = typer.Option(2048, "--token-budget", help="Most tokens per iteration."),
        chunk_size: int = typer.Option(
            None,
            "--chunk-size",
            help="Most prompt tokens per request per iteration (default: the token budget).",
        ),
        block_tokens: int = typer.Option(16, "--block-tokens", help="KV block size in tokens."),
        prefix_caching: bool = typer.Option(
            False, "--prefix-caching", help="Reuse KV of shared prompt prefixes."
        ),
        slo_ttft_s: float = typer.Option(
            None, "--slo-ttft-s", help="SLO on time to first token (s) for goodput."
        ),
        slo_tpot_s: float = typer.Option(
            None, "--slo-tpot-s", help="SLO on time per output token (s) for goodput."
        ),
        max_requests: int = typer.Option(None, "--max-requests", help="Serve only the first K requests."),
        json_path: Path = typer.Option(None, "--json", help="Write the full result as JSON here."),
        timeline_path: Path = typer.Option(
            None, "--timeline", help="Write a Chrome/Perfetto trace JSON here."
        ),
    ) -> None:
        """Serve a request trace with continuous batching and report latency, throughput and energy."""
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from llmimc import api
        from llmimc.report.serve_report import render_serve_report
        from llmimc.report.timeline import serve_timeline
        from llmimc.sim.serve import ServeConfig

        ints = {
            "--chiplets": chiplets,
            "--num-requests": num_requests,
            "--prompt-len": prompt_len,
            "--gen-len": gen_len,
            "--max-batch": max_batch,
            "--token-budget": token_budget,
            "--chunk-size": chunk_size,
            "--block-tokens": block_tokens,
            "--max-requests": max_requests,
        }
        positive = {"--rate": rate, "--cv": cv, "--slo-ttft-s": slo_ttft_s, "--slo-tpot-s": slo_tpot_s}
        _check_flags(ints, positive)
        if seed < 0:
            raise fail(f"--seed is {seed}; give a whole number >= 0")
        _check_output_paths({"--json": json_path, "--timeline": timeline_path})

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
            record_timeline=timeline_path is not None,
        )
        run = api.prepare_serve(
            model, workload, hw=hw, chiplets=chiplets, precision=precision, sparsity=sparsity, config=config
        )
        with Progress(
            TextColumn("serving"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("requests"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as progress:
            task = progress.add_task("serve", total=run.load.num_requests)
            result = run.run(
                on_progress=lambda done, total: progress.update(task, completed=done, total=total)
            )
        spec = run.system.spec
        units = (
            f"{run.num_chiplets} chiplets"
            if spec.kind == "imc"
            else f"{run.num_chiplets} x {spec.name} GPU(s)"
        )
        title = f"llmimc serve {run.model_id} on {units} — {run.load.source}"
        render_serve_report(result, console, title)
        if json_path is not None:
            json_path.write_text(result.model_dump_json(indent=1), encoding="utf-8")
            console.print(f"wrote {json_path}")
        if timeline_path is not None:
            timeline_path.write_text(json.dumps(serve_timeline(result)), encoding="utf-8")
            console.print(f"wrote {timeline_path} (open in https://ui.perfetto.dev)")
