"""Executors: evaluate points in this process, in local worker processes, or on Ray (DESIGN.md §7).

Every point is a pure function of a picklable ``PointConfig`` (``evaluate_point``), so the executor
only decides where it runs; results are identical either way and are reported through ``on_done`` in
completion order (the caller orders rows by point index).

- ``run_local``: ``workers == 1`` evaluates in order in this process; more workers use a
  ``concurrent.futures.ProcessPoolExecutor`` with the *spawn* start method (no inherited state, the
  same on Linux, macOS and Windows).
- ``run_ray``: ``ray.init()`` starts a local Ray instance with ``workers`` CPUs, or connects to an
  existing cluster at ``address``; each point is one Ray task. Ray is the optional extra
  ``llmimc[ray]``. A Ray instance started here is shut down afterwards.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed

from llmimc.errors import one_line
from llmimc.sweep.evaluate import PointOutcome, evaluate_point
from llmimc.sweep.points import PointConfig
from llmimc.sweep.sweep_file import SweepError

OnDone = Callable[[PointOutcome], None]


def run_local(points: Sequence[PointConfig], workers: int, on_done: OnDone) -> None:
    if workers < 1:
        raise SweepError(f"--workers is {workers}; give 1 or more")
    if workers == 1 or len(points) <= 1:
        for p in points:
            on_done(evaluate_point(p))
        return
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(points)), mp_context=ctx) as pool:
        futures = {pool.submit(evaluate_point, p): p.key for p in points}
        try:
            for fut in as_completed(futures):
                try:
                    outcome = fut.result()
                except Exception as err:  # noqa: BLE001 - e.g. a worker killed (BrokenProcessPool)
                    outcome = lost_point(futures[fut], err)
                on_done(outcome)
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise


def lost_point(key: str, err: BaseException) -> PointOutcome:
    """The outcome of a point whose worker failed outside ``evaluate_point`` (killed, unpicklable...)."""
    reason = one_line(f"worker failed: {type(err).__name__}: {err}")
    return PointOutcome(key=key, status="error", reason=reason, metrics={}, eval_time_s=0.0)


def ray_available() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def run_ray(points: Sequence[PointConfig], workers: int, address: str | None, on_done: OnDone) -> None:
    try:
        import ray
    except ImportError:
        raise SweepError("--ray needs Ray: pip install 'llmimc[ray]'") from None
    started = not ray.is_initialized()
    if started:
        if address is None:
            ray.init(
                num_cpus=workers, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR
            )
        else:
            try:
                ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
            except (ConnectionError, RuntimeError, ValueError) as err:
                raise SweepError(
                    f"--ray-address {address}: cannot connect to a Ray cluster ({err})"
                ) from None
    try:
        task = ray.remote(num_cpus=1, max_retries=0)(evaluate_point)
        refs = {task.remote(p): p.key for p in points}
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            try:
                outcome = ray.get(done[0])
            except Exception as err:  # noqa: BLE001 - a Ray worker died or the task could not run
                outcome = lost_point(refs[done[0]], err)
            on_done(outcome)
    finally:
        if started:
            ray.shutdown()
