"""`llmimc presets`: the precision presets that --precision accepts (bits, outliers, description)."""

from __future__ import annotations

from llmimc_cli._common import console, friendly_errors


@friendly_errors
def presets_cmd() -> None:
    """List the precision presets for --precision (weights, activations, KV cache, outliers)."""
    from llmimc.compress import DEFAULT_POLICY, load_policy
    from llmimc.compress.policy import preset_names
    from llmimc.report.presets_report import presets_blocks
    from llmimc.report.sections import render_rich

    render_rich(presets_blocks([load_policy(n) for n in preset_names()], DEFAULT_POLICY), console)
