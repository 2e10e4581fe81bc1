"""Benchmark `run_serve`: the Azure LLM 2023 conversation trace (19,366 requests, ~1 hour) replayed on
Llama-2-7b across 64 IMC chiplets.

Prints the median CPU time (process time, what the targets of issue 11 count on a shared machine) and
wall time of ``run_serve`` over ``--repeats`` runs (loading the trace, the model and building the
system are timed separately), the simulated-time / CPU-time ratio and the peak RSS of the process.
Each run starts from a fresh copy of the cost model, so it pays for the fast form and its segment
tables as a single ``llmimc serve`` does. Per-request records are kept only with ``--keep-records``
(the library's default; ``llmimc serve --json`` keeps none: its JSON is the summary).
Results: benchmarks/results_serve.md. Usage:

    python benchmarks/bench_serve.py [--trace PATH] [--model ID] [--chiplets 64] [--precision P]
    python benchmarks/bench_serve.py --synthetic 1000000 --rate 40 --requests-out /tmp/r.jsonl --repeats 1

``--synthetic N`` replaces the trace by N Poisson arrivals at ``--rate`` with ``--prompt-len`` /
``--gen-len`` tokens; ``--requests-out`` streams the per-request records to a JSONL file instead of
keeping them (the bounded-memory mode of ``llmimc serve --requests-out``).
"""

from __future__ import annotations

import argparse
import copy
import resource
import statistics
import sys
import time
from pathlib import Path

from llmimc.compress import build_plan, load_policy
from llmimc.hw import DEFAULT_IMC_SPEC, load_spec
from llmimc.model import load_opgraph
from llmimc.report.serve_records import RequestRecordWriter
from llmimc.sim.serve import ServeConfig, run_serve
from llmimc.sim.system import build_system
from llmimc.traces import load_trace, synthetic_trace

AZURE_CONV = Path("/work/shared/traces_ref/azure_llm_2023/AzureLLMInferenceTrace_conv.csv")


def _peak_rss_mib() -> float:
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return kib / 1024.0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trace", type=Path, default=AZURE_CONV)
    parser.add_argument("--model", default="meta-llama/Llama-2-7b-hf")
    parser.add_argument("--hw", default=DEFAULT_IMC_SPEC)
    parser.add_argument("--chiplets", type=int, default=64)
    # w8a8 (the default policy) needs 65 rram-chiplets for Llama-2-7b; 4-bit weights fit in 64.
    parser.add_argument("--precision", default="w4a8-outlier")
    parser.add_argument("--max-batch", type=int, default=256)
    parser.add_argument("--token-budget", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--profile", type=Path, default=None, help="write cProfile stats of one run here")
    parser.add_argument("--synthetic", type=int, default=None, help="N Poisson requests instead of --trace")
    parser.add_argument("--rate", type=float, default=40.0)
    parser.add_argument("--prompt-len", type=int, default=256)
    parser.add_argument("--gen-len", type=int, default=32)
    parser.add_argument("--requests-out", type=Path, default=None)
    parser.add_argument("--no-skip", action="store_true", help="disable event skipping")
    parser.add_argument("--keep-records", action="store_true", help="keep every request's record")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    if args.synthetic is not None:
        import numpy as np

        rng = np.random.default_rng(0)
        load = synthetic_trace(
            args.synthetic, args.rate, rng=rng, prefill_tokens=args.prompt_len, decode_tokens=args.gen_len
        )
    else:
        load = load_trace(args.trace)
    t_trace = time.perf_counter() - t0
    t0 = time.perf_counter()
    graph = load_opgraph(args.model)
    spec = load_spec(args.hw).with_chiplets(args.chiplets)
    plan = build_plan(graph, load_policy(args.precision))
    cost_model = build_system(graph, spec, plan, batch=args.max_batch).cost_model
    t_system = time.perf_counter() - t0
    config = ServeConfig(
        max_batch=args.max_batch,
        max_tokens_per_iter=args.token_budget,
        chunk_size=args.token_budget,
        max_context_tokens=graph.info.max_position_embeddings,
        keep_request_records=args.keep_records and args.requests_out is None,
        event_skipping=not args.no_skip,
    )

    if args.profile is not None:
        import cProfile

        model = copy.deepcopy(cost_model)
        cProfile.runctx("run_serve(model, load.requests, config)", globals(), locals(), str(args.profile))

    walls: list[float] = []
    cpus: list[float] = []
    for _ in range(args.repeats):
        model = copy.deepcopy(cost_model)  # unused: its fast form is built inside the timed run
        t0, c0 = time.perf_counter(), time.process_time()
        if args.requests_out is not None:
            with RequestRecordWriter(args.requests_out) as sink:
                result = run_serve(model, load.requests, config, skipped_rows=load.skipped, on_record=sink)
        else:
            result = run_serve(model, load.requests, config, skipped_rows=load.skipped)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    wall = statistics.median(walls)

    print(
        f"trace      {load.source}: {len(load.requests):,} requests over {load.duration_s:,.1f} s (load {t_trace:.2f} s)"
    )
    print(
        f"system     {graph.info.model_id} on {args.chiplets} x {args.hw}, {args.precision} (build {t_system:.2f} s)"
    )
    print(
        f"kv         {result.kv_capacity_tokens:,} tokens ({result.kv_on_package_tokens:,} on package); "
        f"finished {result.num_finished:,}, rejected {result.rejected_by_reason}, preemptions {result.preemptions:,}"
    )
    print(
        f"simulated  {result.simulated_time_s:,.1f} s in {result.iterations:,} iterations "
        f"({result.stretch_iterations:,} in event-skipped stretches)"
    )
    print(f"wall       median {wall:.2f} s over {len(walls)} runs ({', '.join(f'{w:.2f}' for w in walls)})")
    cpu = statistics.median(cpus)
    print(f"cpu        median {cpu:.2f} s over {len(cpus)} runs ({', '.join(f'{c:.2f}' for c in cpus)})")
    print(
        f"speed      {result.simulated_time_s / cpu:,.0f}x real time per CPU-second ({result.simulated_time_s / wall:,.0f}x wall)"
    )
    print(f"peak RSS   {_peak_rss_mib():,.0f} MiB (whole process, incl. model loading)")
    total_cpu = resource.getrusage(resource.RUSAGE_SELF)
    print(
        f"process    {total_cpu.ru_utime + total_cpu.ru_stime:.1f} CPU-s in all (imports, trace, system, runs)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
