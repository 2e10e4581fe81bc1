"""Benchmark `llmimc sweep`: points per second of a Llama-2-7b profile sweep (prints, never asserts).

Cases, each the median of ``--repeats`` runs of ``run_sweep`` in this process (the OpGraph cache is
warmed first; the wall time includes starting the worker processes or the local Ray instance):
- the 54-point examples/sweeps/llama7b_chiplets.yaml on 1 local worker (in process);
- the same on 2 local worker processes (spawn);
- the same on Ray (a local instance with 2 CPUs, started and shut down per run) when Ray is
  installed, and on an instance already running (Ray's per-task cost without its start-up); the
  Ray-vs-local overhead is printed as the difference of medians.
With ``--screenshot`` (needs plotly and a Chromium binary) the sweep's --plot HTML is also rendered
headless to a PNG, to check that the page opens in a browser; the PNG size is printed.

Usage: python benchmarks/bench_sweep.py [--repeats N] [--screenshot]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from llmimc.sweep import plan_sweep, run_sweep
from llmimc.sweep.executors import ray_available

SWEEP = Path(__file__).resolve().parent.parent / "examples" / "sweeps" / "llama7b_chiplets.yaml"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--window-size=1100,1400",
]


def _time(workers: int, use_ray: bool) -> tuple[float, int]:
    plan = plan_sweep(SWEEP)
    t0 = time.perf_counter()
    result = run_sweep(plan, workers=workers, use_ray=use_ray)
    return time.perf_counter() - t0, len(result.rows)


def _screenshot() -> None:
    from llmimc.report.sweep_plot import write_plot

    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        print("screenshot: no chromium binary found (apt-get install chromium)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        html, png = Path(tmp) / "front.html", Path(tmp) / "front.png"
        write_plot(run_sweep(plan_sweep(SWEEP)), html)
        cmd = [browser, *CHROMIUM_FLAGS, f"--screenshot={png}", html.as_uri()]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        size = png.stat().st_size if png.exists() else 0
        print(
            f"screenshot: exit {proc.returncode}, {html.stat().st_size / 1e6:.1f} MB html -> {size} byte png"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--screenshot", action="store_true")
    opts = ap.parse_args()
    run_sweep(plan_sweep(SWEEP))  # warm the OpGraph cache
    cases = [("1 local worker", 1, False), ("2 local workers", 2, False)]
    if ray_available():
        cases.append(("ray, 2 CPUs", 2, True))
    medians: dict[str, float] = {}
    for name, workers, use_ray in cases:
        times, points = [], 0
        for _ in range(opts.repeats):
            dt, points = _time(workers, use_ray)
            times.append(dt)
        med = statistics.median(times)
        medians[name] = med
        print(
            f"{name:16s} {points} points: median {med:6.2f} s = {points / med:6.2f} points/s (min {min(times):.2f} s)"
        )
    if ray_available():
        import ray

        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        try:
            times = [_time(2, True)[0] for _ in range(opts.repeats)]
        finally:
            ray.shutdown()
        medians["ray, running"] = statistics.median(times)
        print(f"{'ray, running':16s} median {medians['ray, running']:6.2f} s (Ray already started)")
    if "ray, 2 CPUs" in medians:
        print(
            f"ray overhead vs 2 local workers: {medians['ray, 2 CPUs'] - medians['2 local workers']:+.2f} s per sweep"
        )
    else:
        print("ray not installed: pip install 'llmimc[ray]'")
    if opts.screenshot:
        _screenshot()


if __name__ == "__main__":
    main()
