"""Serve points: a workload (trace or synthetic) through ``llmimc.api`` and its metrics as one flat row.

The workload's arrival times are multiplied by ``time_scale`` (``ServeConfig.time_scale``). Names the sweep file gives beyond the
known serve parameters go to ``ServeConfig`` when they are its fields (``max_batch``,
``max_tokens_per_iter``, ``chunk_size``, ``replicas``, ...) and otherwise as keyword arguments to
``llmimc.api.prepare_serve`` (or ``api.serve`` for a keyword only it has); ``passthrough_names``
lists what is accepted, so serving options added to the api later (replicas, disaggregation,
package links) can be swept without changes here. List values reach list/tuple fields as given.
With a capacity search the costed system is built once and the same requests are replayed at each
trial rate (``llmimc.sweep.capacity``).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from llmimc.errors import LlmimcError
from llmimc.sim.serve_models import ServeConfig, ServeResult
from llmimc.sweep.capacity import CapacityFound, find_max_rate
from llmimc.sweep.points import PointConfig, ServeParams
from llmimc.sweep.sweep_file import Value
from llmimc.traces import Request, TraceLoad

Metric = float | int | str | bool | None
_SET_BY_SWEEP = frozenset(
    {"slo_ttft_s", "slo_tpot_s", "max_context_tokens", "record_timeline", "kv_series_points"}
)
_API_ARGS_SET = frozenset(
    {"model", "workload", "hw", "chiplets", "precision", "sparsity", "config", "use_cache"}
)


def passthrough_names() -> frozenset[str]:
    """Serve-mode names accepted beyond SERVE_PARAMS: ServeConfig fields and api.serve keywords."""
    from llmimc import api

    config = set(ServeConfig.model_fields) - _SET_BY_SWEEP
    kwargs = (_keywords(api.serve) | _keywords(api.prepare_serve)) - _API_ARGS_SET
    return frozenset(config | kwargs)


def _keywords(fn: Callable[..., object]) -> set[str]:
    return set(inspect.signature(fn).parameters)


def _split_extra(extra: dict[str, Value]) -> tuple[dict[str, Value], dict[str, Any]]:
    config = {k: v for k, v in extra.items() if k in ServeConfig.model_fields}
    return config, {k: v for k, v in extra.items() if k not in config}


def _load(p: ServeParams, rate_qps: float | None) -> TraceLoad:
    from llmimc.workload import SyntheticWorkload, TraceWorkload, load_workload

    if p.trace is not None:
        if p.rate is not None or p.num_requests is not None:
            raise LlmimcError("give either trace or a synthetic workload (rate, num_requests), not both")
        load = load_workload(TraceWorkload(path=Path(p.trace)))
    else:
        rate = rate_qps if rate_qps is not None else p.rate
        if rate is None or p.num_requests is None:
            raise LlmimcError(
                "a serve point needs trace, or rate and num_requests (with prompt_len/gen_len or lengths)"
            )
        load = load_workload(
            SyntheticWorkload(
                rate_qps=rate,
                num_requests=p.num_requests,
                arrival=p.arrival,
                cv=p.cv,
                prompt_len=p.prompt_len,
                gen_len=p.gen_len,
                lengths_path=Path(p.lengths) if p.lengths else None,
                seed=p.seed,
            )
        )
    return load


def native_rate_per_s(requests: list[Request]) -> float:
    """(N - 1) / (last arrival - first arrival): the rate of the trace as given."""
    times = sorted(r.arrived_at for r in requests)
    span = times[-1] - times[0] if times else 0.0
    if len(times) < 2 or span <= 0:
        raise LlmimcError("a capacity search needs at least two requests with different arrival times")
    return (len(times) - 1) / span


PERCENTILE_KEYS = ("mean", "p50", "p90", "p99")


def _flatten(prefix: str, value: object, out: dict[str, Metric]) -> None:
    """Scalars as they are; percentile summaries as ``<name>_p99``; other mappings as ``<name>.<key>``.

    Lists (per-request records, per-replica summaries, time series) are left to the JSON result.
    """
    if isinstance(value, dict):
        if {"mean", "p50"} <= set(value):
            out.update({f"{prefix}_{k}": value.get(k) for k in PERCENTILE_KEYS})
            extra = value.get("values")
            if isinstance(extra, dict):
                out.update({f"{prefix}_{k}": v for k, v in extra.items() if f"{prefix}_{k}" not in out})
            return
        for key, sub in value.items():
            _flatten(f"{prefix}.{key}", sub, out)
    elif value is None or isinstance(value, (bool, int, float, str)):
        out[prefix] = value


def result_metrics(result: ServeResult) -> dict[str, Metric]:
    out: dict[str, Metric] = {}
    for name, value in result.model_dump(exclude={"config", "requests", "timeline", "kv_occupancy"}).items():
        _flatten(name, value, out)
    out["kv_peak_used_fraction"] = result.kv_occupancy.peak_used_fraction
    out["total_energy_j"] = result.total_energy_j
    sim = result.simulated_time_s
    out["avg_power_w"] = result.total_energy_j / sim if sim > 0 else None
    return out


def serve_metrics(cfg: PointConfig) -> dict[str, Metric]:
    """Metrics of one serve point: ``api.serve`` once, or a capacity search over the rate."""
    from llmimc import api

    p = cfg.params
    assert isinstance(p, ServeParams)
    config_fields, api_kwargs = _split_extra(cfg.serve_extra)
    cap = cfg.capacity
    config = ServeConfig.model_validate(
        {
            **config_fields,
            "slo_ttft_s": cap.slo_ttft_s if cap else None,
            "slo_tpot_s": cap.slo_tpot_s if cap else None,
            "time_scale": p.time_scale,
        }
    )
    base = _load(p, 1.0 if cap is not None and p.trace is None else None)
    # api_kwargs: names checked against the api's signatures (passthrough_names), e.g. package_link
    unknown = set(api_kwargs) - _keywords(api.prepare_serve)
    if cap is None and unknown:
        result = api.serve(
            p.model,
            base,
            hw=cfg.spec,
            precision=p.precision,
            sparsity=p.sparsity,
            config=config,
            **api_kwargs,
        )
        return result_metrics(result)
    if unknown:
        raise LlmimcError(
            f"capacity search cannot pass {', '.join(sorted(unknown))} (not an api.prepare_serve parameter)"
        )
    run = api.prepare_serve(
        p.model, base, hw=cfg.spec, precision=p.precision, sparsity=p.sparsity, config=config, **api_kwargs
    )
    if cap is None:
        return result_metrics(run.run())
    # a trace replayed at `rate`: arrivals x native / rate; a synthetic load drawn at 1 req/s: x 1 / rate
    native = native_rate_per_s(base.requests) if p.trace is not None else p.time_scale

    def attains(rate: float) -> tuple[float, ServeResult]:
        scaled = run.config.model_copy(update={"time_scale": native / rate})
        trial = dataclasses.replace(run, config=scaled)  # keeps every other field
        result = trial.run()
        return float(result.slo_attainment or 0.0), result

    return capacity_metrics(find_max_rate(attains, cap), cfg)


def capacity_metrics(found: CapacityFound[ServeResult], cfg: PointConfig) -> dict[str, Metric]:
    """The serve metrics at the capacity, the capacity itself, and goodput per chiplet, mm² and watt."""
    out: dict[str, Metric] = result_metrics(found.at_max) if found.at_max is not None else {}
    goodput = (found.at_max.goodput_requests_per_s if found.at_max is not None else None) or 0.0
    power = out.get("avg_power_w")
    # replicas / disaggregation serve on several packages: goodput is per chiplet and mm² of all of them
    packages = int(getattr(found.at_max.config, "num_packages", 1)) if found.at_max is not None else 1
    area = cfg.package_area_mm2 * packages if cfg.package_area_mm2 else None
    out.update(
        {
            "max_rate_per_s": found.max_rate_per_s,
            "unsustained_rate_per_s": found.unsustained_rate_per_s,
            "capacity_trials": found.trials,
            "capacity_note": found.note,
            "goodput_per_chiplet": goodput / (cfg.count * packages),
            "goodput_per_mm2": goodput / area if area else None,
            "goodput_per_w": goodput / power if isinstance(power, float) and power > 0 else None,
        }
    )
    return out
