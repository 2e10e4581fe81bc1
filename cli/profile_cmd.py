"""`llmimc profile MODEL --chiplets N`: one request batch through prefill and decode on an IMC package."""

from __future__ import annotations

from pathlib import Path

import typer

from llmimc_cli._common import console, fail, friendly_errors


def register(app: typer.Typer) -> None:
    """Attach this module's commands to the root app."""
    app.command("profile")(profile_cmd)


@friendly_errors
def profile_cmd(
    model: str = typer.Argument(
        ..., help="Model: bundled alias/id, HF hub id (cached) or a folder with config.json."
    ),
    chiplets: int | None = typer.Option(
        None, "--chiplets", "-n", help="Number of chiplets (default: the spec's); for a GPU --hw, tensor-parallel GPUs."
    ),
    hw: str | None = typer.Option(
        None, "--hw", help="Hardware spec name or YAML/JSON path: IMC (default rram-chiplet) or GPU (h100, h100-hf-eager, a100...)."
    ),
    batch: int = typer.Option(1, "--batch", "-b", help="Identical sequences processed together."),
    prompt_len: int = typer.Option(128, "--prompt-len", help="Prompt tokens per sequence."),
    gen_len: int = typer.Option(128, "--gen-len", help="Generated tokens per sequence."),
    precision: str | None = typer.Option(
        None, "--precision", help="Precision preset or policy file (default w8a8)."
    ),
    sparsity: str | None = typer.Option(None, "--sparsity", help="N:M structured sparsity, e.g. 2:4."),
    weights: Path | None = typer.Option(
        None, "--weights", help="Folder with safetensors weights (outlier statistics)."
    ),
    baseline: str | None = typer.Option(
        None, "--baseline", help="Digital baseline spec to compare with, e.g. h100."
    ),
    allow_reprogramming: bool = typer.Option(
        False,
        "--allow-reprogramming",
        help="If weights do not fit, stream and reprogram them every iteration.",
    ),
    json_path: Path | None = typer.Option(
        None, "--json", help="Write the whole result as JSON to this path."
    ),
    no_cache: bool = typer.Option(
        False, "--no-cache", help="Re-trace the model instead of using the OpGraph cache."
    ),
    all_rows: bool = typer.Option(
        False, "--all-rows", help="Print every stage, chiplet and link row (default: the first/busiest 24)."
    ),
) -> None:
    """Profile prefill and decode of one request batch: latency, energy, traffic, KV residency."""
    if chiplets is not None and chiplets < 1:
        raise fail(f"--chiplets must be >= 1 (got {chiplets})")
    if batch < 1:
        raise fail(f"--batch must be >= 1 (got {batch})")
    if prompt_len < 1:
        raise fail(f"--prompt-len must be >= 1 (got {prompt_len})")
    if gen_len < 1:
        raise fail(f"--gen-len must be >= 1 (got {gen_len})")
    from llmimc.compress import DEFAULT_POLICY, build_plan, load_policy, parse_sparsity
    from llmimc.hw import DEFAULT_IMC_SPEC, load_spec
    from llmimc.hw.spec import DigitalBaselineSpec, ImcSystemSpec
    from llmimc.model import load_opgraph
    from llmimc.report.profile_report import DEFAULT_MAX_ROWS, render_profile
    from llmimc.sim.profile import run_profile, uniform_plan

    spec = load_spec(hw or DEFAULT_IMC_SPEC)
    if chiplets is not None:  # IMC: chiplets on the package; digital: tensor-parallel GPUs
        spec = spec.with_chiplets(chiplets) if isinstance(spec, ImcSystemSpec) else spec.with_gpus(chiplets)
    base = None
    if baseline is not None:
        b = load_spec(baseline)
        if not isinstance(b, DigitalBaselineSpec):
            raise fail(
                f"--baseline {baseline}: '{b.name}' is an IMC spec; pass a digital baseline (e.g. h100)"
            )
        base = b
    sp = parse_sparsity(sparsity)
    policy = load_policy(precision or DEFAULT_POLICY)
    graph = load_opgraph(model, use_cache=not no_cache)
    plan = build_plan(graph, policy, sp, weights_dir=weights)
    result = run_profile(
        graph,
        spec,
        plan,
        batch=batch,
        prompt_len=prompt_len,
        gen_len=gen_len,
        allow_reprogramming=allow_reprogramming,
        baseline=base,
        reference_plan=uniform_plan(graph, plan, 8),
    )
    render_profile(result, console, max_rows=None if all_rows else DEFAULT_MAX_ROWS)
    if json_path is not None:
        json_path.write_text(result.model_dump_json(indent=2))
        console.print(f"wrote {json_path}")
