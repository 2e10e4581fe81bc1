"""Every `llmimc ...` command in README.md's usage block runs and exits 0 (offline, via CliRunner)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmimc_cli.main import app

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def _usage_commands() -> list[str]:
    text = README.read_text(encoding="utf-8")
    usage = text.split("## Usage", 1)[1].split("\n## ", 1)[0]
    cmds = []
    for block in re.findall(r"```bash\n(.*?)```", usage, flags=re.S):
        for line in block.splitlines():
            line = line.split("  #", 1)[0].strip()
            if line.startswith("llmimc "):
                cmds.append(line)
    return cmds


COMMANDS = _usage_commands() if README.exists() else []


def test_readme_has_the_main_command_and_usage():
    assert README.exists(), "README.md missing"
    assert "llmimc profile gpt2 --chiplets 8" in README.read_text(encoding="utf-8")
    assert len(COMMANDS) >= 8


@pytest.mark.parametrize("cmd", COMMANDS)
def test_readme_usage_command_runs(cmd, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)  # output files (--json, --timeline, --out) land here
    args = shlex.split(cmd)[1:]
    args = [str(ROOT / a) if a.startswith(("traces/", "hw_specs/", "examples/")) else a for a in args]
    if args[:2] == ["hw", "validate"]:
        args = ["hw", "validate", str(ROOT / "hw_specs" / "rram-chiplet.yaml")]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "160"})
    assert result.exit_code == 0, f"{cmd}\n{result.output}"
