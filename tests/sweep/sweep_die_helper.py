"""A stand-in for evaluate_point whose worker process dies on chiplets == 2 (imported by spawned workers)."""

from __future__ import annotations

import os

from llmimc.sweep.evaluate import PointOutcome, evaluate_point
from llmimc.sweep.points import PointConfig


def evaluate_or_die(cfg: PointConfig) -> PointOutcome:
    if cfg.inputs.get("chiplets") == 2:
        os._exit(3)
    return evaluate_point(cfg)
