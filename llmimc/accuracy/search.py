"""Heterogeneous analog/digital mapping search under an accuracy budget (LionHeart for LLMs).

LionHeart (Lammie et al., "LionHeart: A Layer-based Mapping Framework for Heterogeneous Systems with
Analog In-Memory Computing Tiles", 2024) maps each layer to analog tiles or digital units, maximising
the share of MACs on analog tiles while an accuracy budget holds. Here, per linear op:

1. reference: every op digital at its precision (weights at weight_bits per output channel, inputs at
   max(act_bits, weight_bits); no device noise): KL_D vs the float model;
2. sensitivity: dKL_i = max(0, KL(op i analog, the rest digital) - KL_D) on a short window;
3. predicted KL of a placement = KL_D + sum over analog ops of dKL_i (additive, first order);
4. ops are moved to digital in decreasing dKL_i / MACs_i; the first prefix whose predicted KL is
   within budget is *measured* on the evaluation windows, and more ops move until the measurement is
   within budget (so the returned placement never exceeds it; if even all-digital exceeds it, the
   search says so). An infinite budget returns all-analog.
The ADC ranges are calibrated once with every op analog. The result is a precision policy: the base
policy plus one ``placement: digital`` override per digital op, accepted by profile, serve and accuracy.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import yaml

from llmimc._base import Frozen
from llmimc.accuracy import emulator as em
from llmimc.accuracy.analog import EmulatedLinear
from llmimc.accuracy.metrics import MetricSums
from llmimc.compress.policy import OpOverride, PrecisionPolicy
from llmimc.errors import LlmimcError


class OpSensitivity(Frozen):
    op_name: str
    macs_per_token: float
    delta_kl: float  # KL increase when this op alone is analog (vs all digital)


class FrontPoint(Frozen):
    digital_ops: int
    analog_mac_ratio: float
    predicted_kl: float
    measured_kl: float | None = None
    measured_ppl: float | None = None
    within_budget: bool | None = None


class SearchResult(Frozen):
    metric: str  # "kl" | "ppl"
    budget: float
    fp_ppl: float
    digital_kl: float
    digital_ops: list[str]
    analog_mac_ratio: float
    kl: float
    ppl: float
    sensitivities: list[OpSensitivity]
    front: list[FrontPoint]
    policy_yaml: str
    notes: list[str]


Scorer = Callable[[set[str]], MetricSums]  # digital op names -> metrics on the evaluation windows


def greedy_order(sens: list[OpSensitivity]) -> list[str]:
    """Ops by decreasing KL increase per MAC (ties: by name)."""
    return [
        s.op_name for s in sorted(sens, key=lambda s: (-s.delta_kl / max(s.macs_per_token, 1.0), s.op_name))
    ]


def analog_ratio(sens: list[OpSensitivity], digital: set[str]) -> float:
    total = sum(s.macs_per_token for s in sens)
    return sum(s.macs_per_token for s in sens if s.op_name not in digital) / total if total else 0.0


def search_placement(
    sens: list[OpSensitivity],
    digital_kl: float,
    score: Scorer,
    fp_ppl: float,
    kl_budget: float | None,
    ppl_budget: float | None,
    front_points: int = 6,
) -> tuple[list[str], MetricSums, list[FrontPoint]]:
    """(digital ops, their measured metrics, the front) -- see module docstring, steps 3-4."""
    order = greedy_order(sens)
    delta = {s.op_name: s.delta_kl for s in sens}
    n = len(order)

    def predicted(k: int) -> float:
        return digital_kl + sum(delta[o] for o in order[k:])

    def ok(m: MetricSums) -> bool:
        if kl_budget is not None and not m.mean_kl <= kl_budget:
            return False
        return ppl_budget is None or m.ppl <= fp_ppl * (1.0 + ppl_budget)

    start = 0
    if kl_budget is not None:
        start = next((k for k in range(n + 1) if predicted(k) <= kl_budget), n)
    measured: dict[int, MetricSums] = {}
    k, step = start, max(1, n // 32)
    while True:
        measured[k] = score(set(order[:k]))
        if ok(measured[k]):
            break
        if k == n:
            m = measured[k]
            raise LlmimcError(
                f"no placement meets the budget: even all-digital gives KL {m.mean_kl:.4f}, PPL {m.ppl:.3f} "
                f"(float {fp_ppl:.3f}); raise the budget or use more bits"
            )
        k = min(n, k + step)
    for extra in sorted(
        {round(i * n / max(1, front_points - 1)) for i in range(front_points)} - set(measured)
    ):
        measured[extra] = score(set(order[:extra]))
    front = [
        FrontPoint(
            digital_ops=j,
            analog_mac_ratio=analog_ratio(sens, set(order[:j])),
            predicted_kl=predicted(j),
            measured_kl=m.mean_kl,
            measured_ppl=m.ppl,
            within_budget=ok(m),
        )
        for j, m in sorted(measured.items())
    ]
    return order[:k], measured[k], front


def sensitivities(
    model: torch.nn.Module,
    analog: dict[str, EmulatedLinear],
    digital: dict[str, EmulatedLinear],
    macs: dict[str, float],
    window: list[int],
) -> tuple[float, list[OpSensitivity]]:
    """(KL of all-digital, dKL_i per op) on one window (steps 1-2 of the module docstring)."""
    fp = em.log_probs(model, window)
    targets = torch.tensor(window[1:])

    def kl_of(mods: dict[str, EmulatedLinear]) -> float:
        s = MetricSums()
        s.add(em.log_probs(model, window, dict(mods))[:-1], fp[:-1], targets)
        return s.mean_kl

    base = kl_of(digital)
    out = []
    for name in analog:
        mods = dict(digital)
        mods[name] = analog[name]
        out.append(
            OpSensitivity(op_name=name, macs_per_token=macs[name], delta_kl=max(0.0, kl_of(mods) - base))
        )
    return base, out


def placement_policy(base: PrecisionPolicy, digital_ops: list[str], note: str) -> PrecisionPolicy:
    """``base`` plus one ``placement: digital`` override per op (matched by exact op name)."""
    extra = [OpOverride(match=name, placement="digital", source=note) for name in digital_ops]
    return base.model_copy(update={"name": f"{base.name}-placed", "overrides": list(base.overrides) + extra})


def policy_yaml(policy: PrecisionPolicy) -> str:
    data = policy.model_dump(mode="json", exclude_none=True)
    data["overrides"] = [{k: v for k, v in ov.items() if v is not None} for ov in data.get("overrides", [])]
    return yaml.safe_dump(data, sort_keys=False, width=120)


def finite_or(x: float, default: float) -> float:
    return x if math.isfinite(x) else default
