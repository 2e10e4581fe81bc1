"""llmimc: an LLM-focused, serving-style emulator for in-memory-computing (IMC) chiplet systems.

Pipeline (see DESIGN.md §1): model → OpGraph → compression plan → mapping → cost → profile / serve.
The library computes and returns typed results; only ``llmimc_cli`` and ``llmimc.report`` print.

The front door (``llmimc.api``) is re-exported here and imported lazily, so ``import llmimc`` stays
cheap::

    import llmimc
    r = llmimc.profile("gpt2", chiplets=8)
    s = llmimc.serve("gpt2", llmimc.SyntheticWorkload(rate_qps=4, num_requests=50, prompt_len=256, gen_len=64))
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> module that defines it (imported on first access, PEP 562)
_EXPORTS = {
    "profile": "llmimc.api",
    "serve": "llmimc.api",
    "prepare_serve": "llmimc.api",
    "costed_system": "llmimc.api",
    "compare": "llmimc.api",
    "load_hw": "llmimc.api",
    "load_model": "llmimc.api",
    "load_plan": "llmimc.api",
    "ServeRun": "llmimc.api",
    "ProfileResult": "llmimc.sim.profile",
    "ServeConfig": "llmimc.sim.serve_models",
    "ServeResult": "llmimc.sim.serve_models",
    "SyntheticWorkload": "llmimc.workload",
    "TraceWorkload": "llmimc.workload",
    "load_opgraph": "llmimc.model",
    "load_spec": "llmimc.hw",
    "load_policy": "llmimc.compress",
}

__all__ = [
    "ProfileResult",
    "ServeConfig",
    "ServeResult",
    "ServeRun",
    "SyntheticWorkload",
    "TraceWorkload",
    "__version__",
    "compare",
    "costed_system",
    "load_hw",
    "load_model",
    "load_opgraph",
    "load_plan",
    "load_policy",
    "load_spec",
    "prepare_serve",
    "profile",
    "serve",
]

if TYPE_CHECKING:
    from llmimc.api import (
        ServeRun,
        compare,
        costed_system,
        load_hw,
        load_model,
        load_plan,
        prepare_serve,
        profile,
        serve,
    )
    from llmimc.compress import load_policy
    from llmimc.hw import load_spec
    from llmimc.model import load_opgraph
    from llmimc.sim.profile import ProfileResult
    from llmimc.sim.serve_models import ServeConfig, ServeResult
    from llmimc.workload import SyntheticWorkload, TraceWorkload


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'llmimc' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
