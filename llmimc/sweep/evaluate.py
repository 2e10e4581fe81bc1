"""Evaluating one sweep point: a pure function of a picklable ``PointConfig`` that never raises.

Profile points report every field of the profile ``Summary``; serve points report the scalar
``ServeResult`` fields with each latency percentile flattened (``ttft_s_p99``), ``total_energy_j``
(iterations + idle static energy) and ``avg_power_w`` = total_energy_j / simulated_time_s. With a
capacity search (``llmimc.sweep.capacity``) a serve point also reports ``max_rate_per_s`` and the
goodput there, per chiplet, per mm² of package and per watt.

Outcome status: ``ok``; ``does-not-fit`` when the model cannot be mapped onto the package
(``MappingError``); ``error`` for any other failure, with its one-line reason. A failing point never
stops a sweep.
"""

from __future__ import annotations

import time
import traceback
from typing import Literal

from llmimc._base import Frozen
from llmimc.errors import LlmimcError, MappingError, one_line
from llmimc.sweep.points import PointConfig

Metric = float | int | str | bool | None
Status = Literal["ok", "does-not-fit", "error"]


class PointOutcome(Frozen):
    key: str
    status: Status
    reason: str = ""
    metrics: dict[str, Metric]
    eval_time_s: float


def profile_metrics(cfg: PointConfig) -> dict[str, Metric]:
    from llmimc import api
    from llmimc.sweep.points import ProfileParams

    p = cfg.params
    assert isinstance(p, ProfileParams)
    result = api.profile(
        p.model,
        hw=cfg.spec,
        precision=p.precision,
        sparsity=p.sparsity,
        batch=p.batch,
        prompt_len=p.prompt_len,
        gen_len=p.gen_len,
        reference_bits=None,
    )
    metrics: dict[str, Metric] = dict(result.summary.model_dump())
    metrics["num_chiplets"] = result.num_chiplets
    return metrics


def evaluate_point(cfg: PointConfig) -> PointOutcome:
    """Evaluate one point; every failure becomes a status and a one-line reason."""
    from llmimc.sweep.serve_eval import serve_metrics

    start = time.perf_counter()
    status: Status = "ok"
    reason = ""
    metrics: dict[str, Metric] = {}
    try:
        metrics = profile_metrics(cfg) if cfg.mode == "profile" else serve_metrics(cfg)
    except MappingError as err:
        status, reason = "does-not-fit", one_line(str(err))
    except LlmimcError as err:
        status, reason = "error", one_line(str(err))
    except Exception as err:  # noqa: BLE001 - a failed point never stops the sweep; the reason is kept
        frame = traceback.extract_tb(err.__traceback__)[-1] if err.__traceback__ else None
        where = f" at {frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}" if frame else ""
        status, reason = "error", one_line(f"{type(err).__name__}: {err}{where}")
    clean = {
        k: v if v is None or isinstance(v, (bool, int, float, str)) else str(v) for k, v in metrics.items()
    }
    return PointOutcome(
        key=cfg.key, status=status, reason=reason, metrics=clean, eval_time_s=time.perf_counter() - start
    )
