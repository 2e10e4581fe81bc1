"""Golden CLI output (see support/golden.py): the text a user reads is unchanged unless regenerated."""

from __future__ import annotations

import pytest
from support.golden import CASES, GOLDEN_DIR, run_case


@pytest.mark.parametrize("name", sorted(CASES))
def test_cli_output_equals_golden(name):
    code, out = run_case(name)
    assert code == 0, out
    golden = (GOLDEN_DIR / f"{name}.txt").read_text(encoding="utf-8")
    assert out == golden, f"{name}: output changed; if deliberate, run python tools/regen_golden.py"
