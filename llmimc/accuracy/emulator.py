"""Put a real causal LM on emulated crossbars: program every planned linear op, calibrate, run windows.

Steps (DESIGN.md §8; each op's hardware comes from :func:`llmimc.accuracy.hardware.crossbar_map`):
1. :func:`activation_absmax` -- per-input-channel max |x| of every linear op on the calibration window
   of the float model (the outlier ranking of AWQ / LLM.int8(), fed to ``compress.outliers.top_channels``);
2. :func:`program_model` -- one :class:`~llmimc.accuracy.analog.EmulatedLinear` per op of the plan, each
   with its own ``torch.Generator`` seeded from (seed, op index), so an op's noise does not depend on
   how the other ops are placed (programmed weights are built once per seed, reused for every window);
3. :func:`calibrate_adc` -- ADC input ranges per (row block, slice) from one pass over the calibration
   window (or the worst-case ranges), for ops whose ADC is not ideal;
4. :func:`log_probs` -- log-softmax of the logits of one window, with the emulated modules swapped in
   (:func:`swapped`) and the original modules restored afterwards.
Attention score/value matmuls, norms and embeddings stay in float (digital units); the KV cache is rounded
to the plan's kv_bits per token and head (:mod:`llmimc.accuracy.kv_cache`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from llmimc.accuracy.analog import EmulatedLinear, NoiseBank, worst_case_ranges
from llmimc.accuracy.hardware import crossbar_map
from llmimc.accuracy.kv_cache import kv_quantised
from llmimc.accuracy.program import program_op
from llmimc.compress.plan import CompressionPlan
from llmimc.errors import LlmimcError
from llmimc.hw.spec import CrossbarArray, DeviceNoise
from llmimc.model.opgraph import OpGraph


def linear_modules(model: torch.nn.Module, graph: OpGraph) -> dict[str, torch.nn.Linear]:
    """The ``nn.Linear`` module of every linear op of the graph (op name = module path)."""
    out: dict[str, torch.nn.Linear] = {}
    for op in graph.linear_ops():
        try:
            mod = model.get_submodule(op.name)
        except AttributeError:
            raise LlmimcError(f"linear op {op.name} has no module in the loaded model") from None
        if not isinstance(mod, torch.nn.Linear):
            raise LlmimcError(f"linear op {op.name} is a {type(mod).__name__}, not nn.Linear (unsupported)")
        out[op.name] = mod
    return out


@contextmanager
def swapped(model: torch.nn.Module, modules: dict[str, torch.nn.Module]) -> Iterator[None]:
    """Replace the named submodules for the duration of the block, then restore the originals."""
    saved: dict[str, torch.nn.Module] = {}
    try:
        for name, new in modules.items():
            parent_name, _, leaf = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            saved[name] = getattr(parent, leaf)
            setattr(parent, leaf, new)
        yield
    finally:
        for name, old in saved.items():
            parent_name, _, leaf = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, leaf, old)


@torch.inference_mode()
def activation_absmax(
    model: torch.nn.Module, mods: dict[str, torch.nn.Linear], ids: list[int]
) -> dict[str, np.ndarray]:
    """max_t |x_t,k| per input channel k of every module, on one float pass over ``ids``."""
    stats: dict[str, torch.Tensor] = {}
    handles = []
    for name, mod in mods.items():

        def hook(_m: torch.nn.Module, inp: tuple[torch.Tensor, ...], name: str = name) -> None:
            a = inp[0].detach().abs().reshape(-1, inp[0].shape[-1]).amax(dim=0)
            stats[name] = torch.maximum(stats[name], a) if name in stats else a

        handles.append(mod.register_forward_pre_hook(hook))
    try:
        model(torch.tensor([ids]))
    finally:
        for h in handles:
            h.remove()
    return {k: v.float().numpy() for k, v in stats.items()}


def program_model(
    mods: dict[str, torch.nn.Linear],
    graph: OpGraph,
    plan: CompressionPlan,
    array: CrossbarArray,
    noise: DeviceNoise | None,
    *,
    sigma_scale: float,
    drift_s: float,
    ideal_adc: bool,
    seed: int,
    quantised: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None,
) -> dict[str, EmulatedLinear]:
    """One EmulatedLinear per planned op, programmed with the seed's generator (graph order);
    ``quantised`` holds precomputed (codes, scale) per op name (GPTQ) to program instead of rounding."""
    out: dict[str, EmulatedLinear] = {}
    bank: NoiseBank | None = None
    for index, op in enumerate(graph.linear_ops()):
        comp = plan.ops[op.name]
        gen = torch.Generator().manual_seed(op_seed(seed, index))
        xbar = crossbar_map(op, comp, array, ideal_adc)
        codes = quantised.get(op.name) if quantised is not None else None
        st = program_op(
            mods[op.name].weight, xbar, comp.outlier_channels, noise, sigma_scale, drift_s, gen, codes
        )
        if st.slab is not None and st.read_sigma > 0 and bank is None:  # one bank per seed, shared
            bank = NoiseBank(torch.Generator().manual_seed(op_seed(seed, 1_000_002)))
        out[op.name] = EmulatedLinear(mods[op.name], st, gen, bank)
    release_freed_memory()
    return out


def release_freed_memory() -> None:
    """Hand the heap pages freed by programming's transients back to the OS (glibc ``malloc_trim``).

    Programming allocates and frees column chunks of a few MB per slice and op; glibc keeps them in its
    arenas, which showed as ~0.5 GB of resident memory on SmolLM2. A no-op where there is no glibc.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if name is None:
        return
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)


def op_seed(seed: int, index: int) -> int:
    """Generator seed of the index-th linear op under run seed ``seed``."""
    return seed * 1_000_003 + index


@torch.inference_mode()
def calibrate_adc(
    model: torch.nn.Module,
    emulated: dict[str, EmulatedLinear],
    ids: list[int],
    adc_range: str,
    kv_bits: int = 16,
) -> None:
    """Set every ADC path's input ranges: calibrated on ``ids`` or worst case."""
    needs = {n: m for n, m in emulated.items() if m.state.has_analog and m.state.slab is not None}
    if not needs:
        return
    if adc_range == "worst_case":
        for m in needs.values():
            m.state.adc_ranges = worst_case_ranges(m.state)
        return
    for m in needs.values():
        m.calibrate = True
    try:
        with swapped(model, dict(emulated)), kv_quantised(model, kv_bits):
            model(torch.tensor([ids]))
    finally:
        for m in needs.values():
            m.calibrate = False


@torch.inference_mode()
def calibrate_columns(
    model: torch.nn.Module, emulated: dict[str, EmulatedLinear], ids: list[int], kv_bits: int = 16
) -> None:
    """Post-programming calibration (Lammie et al., ISCAS 2024): one digital scale per output column.

    On the calibration window, a_n = sum_t y_n f_n / sum_t y_n^2 minimises sum_t (a_n y_n - f_n)^2 between
    the emulated analog output y and the float output f of the same (emulated-upstream) inputs; the
    column's weight scale s_n is multiplied by a_n (an affine-free, per-column gain correction).
    """
    analog = {n: m for n, m in emulated.items() if m.state.has_analog}
    for m in analog.values():
        m.fit = {}
    try:
        with swapped(model, dict(emulated)), kv_quantised(model, kv_bits):
            model(torch.tensor([ids]))
    finally:
        for m in analog.values():
            fit, m.fit = m.fit or {}, None
            if "den" in fit:
                den = fit["den"]
                gain = torch.where(den > 0, fit["num"] / den.clamp(min=1e-30), torch.ones_like(den))
                m.state.scale = m.state.scale * gain


@torch.inference_mode()
def log_probs(
    model: torch.nn.Module, ids: list[int], modules: dict[str, Any] | None = None, kv_bits: int = 16
) -> torch.Tensor:
    """log-softmax (T x V, float32) of one window, with ``modules`` swapped in when given and the K/V
    entries rounded to ``kv_bits`` (:mod:`llmimc.accuracy.kv_cache`)."""
    inp = torch.tensor([ids])
    with swapped(model, modules or {}), kv_quantised(model, kv_bits):
        logits = model(inp).logits
    return torch.log_softmax(logits[0].float(), dim=-1)
