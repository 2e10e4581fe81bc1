"""The front door: one function per thing a user runs, with plain arguments and typed results.

Each CLI command is a thin call to one of these (the CLI only parses flags and renders); the defaults
live here, not in the CLI. The pipeline (DESIGN §1) is assembled in exactly one place:

    model → OpGraph → CompressionPlan (precision policy + N:M) → Mapping + compiled cost model
          → profile (one request batch) | serve (a workload through continuous batching)

- :func:`costed_system`: the mapped, compiled system (its ``cost_model`` prices any iteration).
- :func:`profile`: one batch of identical requests through prefill and decode, with the savings
  against a dense uniform reference plan (:func:`compare`) and an optional digital baseline.
- :func:`serve` / :func:`prepare_serve`: replay a trace or synthetic workload.

Arguments accept names or objects: ``model`` a bundled alias, hub id, folder or an ``OpGraph``;
``hw`` a built-in spec name, a YAML/JSON path or a spec object; ``precision`` a preset name, a
policy file or a ``PrecisionPolicy``. Every function is pure (no printing, no files written).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmimc.compress import (
    DEFAULT_POLICY,
    CompressionPlan,
    PrecisionPolicy,
    build_plan,
    load_policy,
    parse_sparsity,
)
from llmimc.compress.policy import SparsitySpec
from llmimc.cost.breakdown import Comparison
from llmimc.errors import LlmimcError, SpecError
from llmimc.hw import DEFAULT_IMC_SPEC, load_spec
from llmimc.hw.loader import with_chiplets
from llmimc.hw.spec import DigitalBaselineSpec, ImcSystemSpec, PackageLink
from llmimc.model.opgraph import OpGraph
from llmimc.sim.profile import ProfileResult, run_profile, uniform_plan
from llmimc.sim.system import System, build_system

if TYPE_CHECKING:  # serving, GPU and trace modules load only when a function needs them
    from llmimc.gpu.model import GpuSystem
    from llmimc.sim.serve import ServeConfig, ServeResult
    from llmimc.sim.swap import SwapCost
    from llmimc.traces import Request, TraceLoad
    from llmimc.workload import Workload

__all__ = [
    "DEFAULT_REFERENCE_BITS",
    "ServeRun",
    "compare",
    "costed_system",
    "load_hw",
    "load_model",
    "load_plan",
    "prepare_serve",
    "profile",
    "serve",
]

DEFAULT_REFERENCE_BITS = 8  # the savings reference: dense uniform w8a8, no outliers

ModelRef = str | Path | OpGraph
HwRef = str | Path | ImcSystemSpec | DigitalBaselineSpec
PrecisionRef = str | Path | PrecisionPolicy
SparsityRef = str | SparsitySpec | None


def load_model(model: ModelRef, *, use_cache: bool = True) -> OpGraph:
    """The OpGraph of ``model`` (an OpGraph is returned as is)."""
    if isinstance(model, OpGraph):
        return model
    from llmimc.model import load_opgraph

    return load_opgraph(str(model), use_cache=use_cache)


def load_hw(hw: HwRef | None = None, chiplets: int | None = None) -> ImcSystemSpec | DigitalBaselineSpec:
    """A hardware spec by name, path or object, with ``chiplets`` folded in (digital specs: GPUs)."""
    spec = hw if isinstance(hw, ImcSystemSpec | DigitalBaselineSpec) else load_spec(hw or DEFAULT_IMC_SPEC)
    if chiplets is not None:  # IMC: chiplets on the package (bounded; errors name the spec); digital: GPUs
        spec = with_chiplets(spec, chiplets) if isinstance(spec, ImcSystemSpec) else spec.with_gpus(chiplets)
    return spec


def load_plan(
    graph: OpGraph,
    precision: PrecisionRef | None = None,
    sparsity: SparsityRef = None,
    *,
    weights: Path | None = None,
) -> CompressionPlan:
    """The CompressionPlan of ``graph`` under a precision policy and optional N:M sparsity."""
    policy = precision if isinstance(precision, PrecisionPolicy) else load_policy(precision or DEFAULT_POLICY)
    sp = sparsity if isinstance(sparsity, SparsitySpec) or sparsity is None else parse_sparsity(sparsity)
    return build_plan(graph, policy, sp, weights_dir=weights)


def costed_system(
    model: ModelRef,
    *,
    hw: HwRef | None = None,
    chiplets: int | None = None,
    precision: PrecisionRef | None = None,
    sparsity: SparsityRef = None,
    weights: Path | None = None,
    batch: int = 1,
    max_context_tokens: int | None = None,
    allow_reprogramming: bool = False,
    use_cache: bool = True,
) -> System | GpuSystem:
    """Map ``model`` onto the IMC package and compile its iteration cost model (MappingError if it cannot).

    A digital spec gives a GPU system costed kernel by kernel (llmimc.gpu; MappingError with the GPU
    count it needs if the weights do not fit).
    """
    spec = load_hw(hw, chiplets)
    graph = load_model(model, use_cache=use_cache)
    plan = load_plan(graph, precision, sparsity, weights=weights)
    if isinstance(spec, DigitalBaselineSpec):
        from llmimc.gpu.model import build_gpu_system

        return build_gpu_system(graph, spec, plan)
    return build_system(
        graph,
        spec,
        plan,
        batch=batch,
        max_context_tokens=max_context_tokens,
        allow_reprogramming=allow_reprogramming,
    )


def compare(result: ProfileResult, reference: ProfileResult | LlmimcError) -> Comparison:
    """Savings of ``result`` against a reference profile (or why the reference could not be profiled)."""
    if isinstance(reference, LlmimcError):
        return Comparison(
            reference=f"uniform-w{DEFAULT_REFERENCE_BITS}a{DEFAULT_REFERENCE_BITS}",
            reference_error=str(reference),
        )
    s, r = result.summary, reference.summary

    def saving(this: float, ref: float) -> float:
        return 1.0 - this / ref if ref else 0.0

    return Comparison(
        reference=reference.policy_name,
        arrays_ref=r.arrays_used,
        energy_per_output_token_ref_j=r.energy_per_output_token_j,
        mean_tpot_ref_s=r.mean_tpot_s,
        ttft_ref_s=r.ttft_s,
        arrays_saving=saving(s.arrays_used, r.arrays_used),
        energy_saving=saving(s.energy_per_output_token_j, r.energy_per_output_token_j),
        tpot_saving=saving(s.mean_tpot_s, r.mean_tpot_s),
        note="reference weights reprogrammed every iteration (they do not fit)"
        if reference.reprogramming_endurance_iterations is not None
        else "",
    )


def profile(
    model: ModelRef,
    *,
    hw: HwRef | None = None,
    chiplets: int | None = None,
    batch: int = 1,
    prompt_len: int = 128,
    gen_len: int = 128,
    precision: PrecisionRef | None = None,
    sparsity: SparsityRef = None,
    weights: Path | None = None,
    baseline: HwRef | None = None,
    reference_bits: int | None = DEFAULT_REFERENCE_BITS,
    allow_reprogramming: bool = False,
    use_cache: bool = True,
) -> ProfileResult:
    """Profile ``batch`` identical requests of ``prompt_len`` + ``gen_len`` tokens (llmimc.sim.profile).

    ``reference_bits`` (default 8; None to skip) adds the savings against a dense uniform plan of that
    many bits, profiled with weight reprogramming allowed so that it always has a figure when it can.
    ``baseline`` adds a digital machine (e.g. "h100") side by side.
    """
    spec = load_hw(hw, chiplets)
    base = None
    if baseline is not None:
        b = load_hw(baseline)
        if not isinstance(b, DigitalBaselineSpec):
            raise SpecError(f"--baseline {b.name}: is an IMC spec; pass a digital baseline (e.g. h100)")
        base = b
    graph = load_model(model, use_cache=use_cache)
    plan = load_plan(graph, precision, sparsity, weights=weights)
    if isinstance(spec, DigitalBaselineSpec):  # a GPU: kernel by kernel, no IMC savings reference
        from llmimc.gpu.profile import run_gpu_profile

        return run_gpu_profile(
            graph, spec, plan, batch=batch, prompt_len=prompt_len, gen_len=gen_len, baseline=base
        )
    result = run_profile(
        graph,
        spec,
        plan,
        batch=batch,
        prompt_len=prompt_len,
        gen_len=gen_len,
        allow_reprogramming=allow_reprogramming,
        baseline=base,
    )
    if reference_bits is None:
        return result
    ref_plan = uniform_plan(graph, plan, reference_bits)
    reference: ProfileResult | LlmimcError
    try:
        reference = run_profile(
            graph,
            spec,
            ref_plan,
            batch=batch,
            prompt_len=prompt_len,
            gen_len=gen_len,
            allow_reprogramming=True,
        )
    except LlmimcError as err:  # the reference may not fit even streamed: say so, keep the profile
        reference = err
    return result.model_copy(update={"comparison": compare(result, reference)})


@dataclass(frozen=True)
class ServeRun:
    """A serving run ready to simulate: the costed system, the requests and the scheduler config."""

    system: System | GpuSystem
    load: TraceLoad
    config: ServeConfig
    package_link: PackageLink | None = None  # disaggregation: the spec's, or a preset given by name

    @property
    def model_id(self) -> str:
        return self.system.graph.info.model_id

    @property
    def num_chiplets(self) -> int:
        spec = self.system.spec
        return spec.package.num_chiplets if isinstance(spec, ImcSystemSpec) else spec.num_gpus

    def run(
        self,
        on_progress: Callable[[int, int], None] | None = None,
        on_record: Callable[[dict[str, Any]], None] | None = None,
    ) -> ServeResult:
        """Simulate; ``on_progress(done, total)`` is called now and then if given; ``on_record(fields)``
        receives every request's record as it is decided (``llmimc.sim.serve.run_serve``)."""
        from llmimc.sim.serve import run_serve

        return run_serve(
            self.system.cost_model,
            self.load.requests,
            self.config,
            on_progress=on_progress,
            skipped_rows=self.load.skipped,
            on_record=on_record,
            package_link=self.package_link,
            kv_bytes_per_token=self.kv_bytes_per_token,
            swap_cost=self.swap_cost,
        )

    @property
    def swap_cost(self) -> SwapCost | None:
        """Swap preemption's cost on an IMC package (``llmimc.sim.swap``); None unless asked for."""
        from llmimc.sim.swap import swap_cost

        if self.config.preemption != "swap" or not isinstance(self.system, System):
            return None
        sys_ = self.system
        return swap_cost(
            sys_.mapping, sys_.spec, sys_.cost_model.static_power_w, self.config.swap_space_bytes
        )

    @property
    def kv_bytes_per_token(self) -> float:
        """KV bytes of one token over all layers (what disaggregation ships per prompt token)."""
        from llmimc.gpu.model import GpuSystem

        if isinstance(self.system, GpuSystem):
            return float(self.system.cost_model.memory.kv_bytes_per_token)
        return float(self.system.mapping.kv.bytes_per_token)


def _as_load(workload: Workload | TraceLoad | Sequence[Request]) -> TraceLoad:
    from llmimc.traces import TraceLoad
    from llmimc.workload import load_workload

    if isinstance(workload, TraceLoad):
        return workload
    if isinstance(workload, Sequence):
        return TraceLoad(requests=list(workload), skipped={}, source="requests", fmt=None)
    return load_workload(workload)


def prepare_serve(
    model: ModelRef,
    workload: Workload | TraceLoad | Sequence[Request],
    *,
    hw: HwRef | None = None,
    chiplets: int | None = None,
    precision: PrecisionRef | None = None,
    sparsity: SparsityRef = None,
    config: ServeConfig | None = None,
    use_cache: bool = True,
    package_link: str | PackageLink | None = None,
) -> ServeRun:
    """Load the workload and build the costed system for :func:`serve` (no simulation yet).

    ``config`` defaults to vLLM's defaults (``ServeConfig()``); its ``max_context_tokens`` defaults to
    the model's context (``max_position_embeddings``). The system is mapped for ``config.max_batch``
    sequences in flight. ``package_link`` (a preset name of ``llmimc.hw.package_links`` or a
    PackageLink) overrides the spec's ``package_link`` for ``config.disaggregate``.
    """
    load = _as_load(workload)
    from llmimc.sim.serve import ServeConfig

    config = config or ServeConfig()
    system = costed_system(
        model,
        hw=hw,
        chiplets=chiplets,
        precision=precision,
        sparsity=sparsity,
        batch=config.max_batch,
        use_cache=use_cache,
    )
    if config.max_context_tokens is None:
        config = config.model_copy(update={"max_context_tokens": system.graph.info.max_position_embeddings})
    link = system.spec.package_link if isinstance(system.spec, ImcSystemSpec) else None
    if isinstance(package_link, str):
        from llmimc.hw.package_links import PACKAGE_LINKS

        if package_link not in PACKAGE_LINKS:
            raise SpecError(f"package link {package_link!r}: use one of {', '.join(PACKAGE_LINKS)}")
        link = PACKAGE_LINKS[package_link]
    elif package_link is not None:
        link = package_link
    return ServeRun(system=system, load=load, config=config, package_link=link)


def serve(
    model: ModelRef,
    workload: Workload | TraceLoad | Sequence[Request],
    *,
    hw: HwRef | None = None,
    chiplets: int | None = None,
    precision: PrecisionRef | None = None,
    sparsity: SparsityRef = None,
    config: ServeConfig | None = None,
    use_cache: bool = True,
    package_link: str | PackageLink | None = None,
) -> ServeResult:
    """Serve ``workload`` (a TraceWorkload, SyntheticWorkload, TraceLoad or Requests) on the package
    (arguments as :func:`prepare_serve`, which this runs)."""
    run = prepare_serve(
        model,
        workload,
        hw=hw,
        chiplets=chiplets,
        precision=precision,
        sparsity=sparsity,
        config=config,
        use_cache=use_cache,
        package_link=package_link,
    )
    return run.run()
