"""The CLI runs whose whole terminal output is kept as golden files (tests/golden/<name>.txt).

They pin what a user reads, byte for byte, so that a refactor which should change nothing provably
changes nothing. A deliberate change of the numbers or the layout regenerates them with
``python tools/regen_golden.py`` (and says why in its commit).
"""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

GOLDEN_DIR = Path(__file__).resolve().parents[1] / "golden"
ROOT = Path(__file__).resolve().parents[2]
WIDTH = "120"

CASES: dict[str, list[str]] = {
    "profile_gpt2_x8": ["profile", "gpt2", "--chiplets", "8"],
    "profile_llama7b_w4a8_outlier_2to4_h100": [
        "profile",
        "llama-2-7b",
        "--chiplets",
        "64",
        "--precision",
        "w4a8-outlier",
        "--sparsity",
        "2:4",
        "--baseline",
        "h100",
        "--gen-len",
        "32",
    ],
    "serve_gpt2_synthetic": [
        "serve",
        "gpt2",
        "--chiplets",
        "8",
        "--rate",
        "4",
        "--num-requests",
        "60",
        "--prompt-len",
        "256",
        "--gen-len",
        "64",
        "--seed",
        "1",
    ],
}


def run_case(name: str) -> tuple[int, str]:
    """Exit code and the output of one golden case (fixed width, offline, no colour)."""
    from llmimc_cli.main import app

    env = {"COLUMNS": WIDTH, "HF_HUB_OFFLINE": "1", "NO_COLOR": "1", "TERM": "dumb"}
    result = CliRunner().invoke(app, CASES[name], env=env)
    return result.exit_code, result.output
