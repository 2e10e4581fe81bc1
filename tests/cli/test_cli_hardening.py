"""Issue 14 behaviour of the CLI: 80-column output without elided values, --format, hw export and
validate by name, presets, streamed arrays, output files, bounds, and the torch-free core."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmimc import api
from llmimc.report.profile_report import profile_blocks
from llmimc.report.sections import Table
from llmimc_cli.main import app

runner = CliRunner()
W80 = {"COLUMNS": "80"}
QUICK = ["--gen-len", "4", "--prompt-len", "16"]


def _ok(args: list[str], env: dict[str, str] | None = None) -> str:
    r = runner.invoke(app, args, env=env or W80)
    assert r.exit_code == 0, r.output
    return r.output


def _error(args: list[str]) -> str:
    r = runner.invoke(app, args, env=W80)
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(("error:", "invalid:")), r.output
    return lines[0]


@pytest.mark.parametrize(
    "args",
    [
        ["profile", "gpt2", "--chiplets", "8"],
        ["profile", "gpt2-xl", "--chiplets", "4", "--allow-reprogramming", *QUICK, "--baseline", "h100"],
        ["profile", "llama-2-7b", "--chiplets", "64", *QUICK, "--sparsity", "2:4"],
    ],
)
def test_profile_fits_80_columns_and_keeps_every_word(args: list[str]) -> None:
    out = _ok(args)
    assert max(len(ln) for ln in out.splitlines()) <= 80
    assert "…" not in out
    words = set(out.split())
    opts = {
        a: b
        for a, b in zip(args, [*args[1:], ""], strict=True)
        if a.startswith("--") and not b.startswith("--")
    }
    result = api.profile(
        args[1],
        chiplets=int(opts["--chiplets"]),
        gen_len=int(opts.get("--gen-len", 128)),
        prompt_len=int(opts.get("--prompt-len", 128)),
        allow_reprogramming="--allow-reprogramming" in args,
        baseline=opts.get("--baseline"),
        sparsity=opts.get("--sparsity"),
    )
    for block in profile_blocks(result):
        if isinstance(block, Table):
            for row in block.rows:
                for cell in row or []:
                    missing = [w for w in cell.split() if w not in words]
                    assert not missing, f"{block.title}: {cell!r} cut at 80 columns"


@pytest.mark.parametrize(
    "args",
    [
        ["models"],
        ["hw", "list"],
        ["hw", "show", "rram-chiplet"],
        ["hw", "show", "h100"],
        ["presets"],
        ["model", "show", "llama-2-7b"],
    ],  # fmt: skip
)
def test_listings_fit_80_columns(args: list[str]) -> None:
    out = _ok(args)
    assert max(len(ln) for ln in out.splitlines()) <= 80 and "…" not in out


def test_models_lists_whole_ids_at_80_columns() -> None:
    from llmimc.model import list_bundled_models

    words = set(_ok(["models"]).split())
    assert all(m.id in words for m in list_bundled_models())


def test_reprogramming_says_arrays_streamed() -> None:
    out = " ".join(_ok(["profile", "gpt2-xl", "--chiplets", "4", "--allow-reprogramming", *QUICK]).split())
    assert "crossbar arrays streamed" in out and "loads/iteration" in out
    assert "arrays used" not in out


def test_format_json_markdown_plain(tmp_path: Path) -> None:
    args = ["profile", "gpt2", "--chiplets", "8", *QUICK]
    data = json.loads(_ok([*args, "--format", "json"]))
    assert data["num_chiplets"] == 8 and data["summary"]["energy_j"] > 0
    md = _ok([*args, "--format", "markdown"])
    assert "| metric | value |" in md and "### phases" in md
    plain = _ok([*args, "--format", "plain"])
    assert "TTFT" in plain and not any(ch in plain for ch in "┏━┃│")


def test_json_file_written_and_equal_to_stdout_json(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    args = ["profile", "gpt2", "--chiplets", "8", *QUICK]
    r = runner.invoke(app, [*args, "--format", "json", "--json", str(out)], env=W80)
    assert r.exit_code == 0, r.output
    assert json.loads(out.read_text()) == json.loads(r.stdout)
    assert not [p for p in tmp_path.iterdir() if p.name != "r.json"]  # no temp or probe files left


def test_hw_export_round_trips_and_validate_takes_names(tmp_path: Path) -> None:
    from llmimc.hw import load_spec

    text = _ok(["hw", "export", "rram-chiplet"])
    path = tmp_path / "my.yaml"
    path.write_text(text)
    assert load_spec(str(path)) == load_spec("rram-chiplet")
    out = _ok(["hw", "validate", str(path), "rram-chiplet", "h100"])
    assert out.count("ok:") == 3
    js = tmp_path / "my.json"
    _ok(["hw", "export", "h100", "--format", "json", "--out", str(js)])
    assert load_spec(str(js)) == load_spec("h100")


def test_presets_lists_every_preset() -> None:
    from llmimc.compress.policy import preset_names

    words = set(_ok(["presets"]).split())
    assert all(name in words for name in preset_names())


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["profile", "/etc/passwd"], ("is a file, not a model folder",)),
        (
            ["profile", "gpt2", "--chiplets", "1", "--hw", "sram-dcim-chiplet"],
            ("sram-dcim-chiplet", "attached_chiplets"),
        ),
        (["profile", "gpt2", "--chiplets", "2147483648"], ("--chiplets", "1024", "wafer")),
        (["hw", "show", "rram-chiplet", "--chiplets", "1000000"], ("--chiplets", "1024")),
        (["profile", "gpt2", "--batch", "65537"], ("--batch", "65536")),
        (["hw", "schema", "--out", "/etc/passwd/x.json"], ("/etc/passwd is a file",)),
        (["model", "show", "gpt2", "--json", "/proc/x.json"], ("--json", "/proc/x.json")),
    ],
)
def test_one_line_errors(args: list[str], needles: tuple[str, ...]) -> None:
    line = " ".join(_error(args).split())
    assert all(n in line for n in needles), line


def test_spec_with_absurd_static_power_is_refused(tmp_path: Path) -> None:
    import yaml

    data = yaml.safe_load(_ok(["hw", "export", "rram-chiplet"]))
    data["chiplet"]["power"]["dpu_leakage_w"] = 1e308
    path = tmp_path / "hot.yaml"
    path.write_text(yaml.safe_dump(data))
    line = _error(["profile", "gpt2", "--hw", str(path), *QUICK])
    assert "dpu_leakage_w" in line and "physical maximum" in line


def test_dev_full_fails_after_the_report_with_one_error_line() -> None:
    r = runner.invoke(app, ["profile", "gpt2", "--json", "/dev/full", *QUICK], env=W80)
    assert r.exit_code == 2 and "Traceback" not in r.output
    errors = [ln for ln in r.output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "/dev/full" in errors[0] and "No space left" in errors[0]


def test_unwritable_json_is_refused_before_work_and_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    target = tmp_path / "file" / "out.json"
    line = _error(["profile", "no-such-model-at-all", "--json", str(target)])
    assert "--json" in line  # the path is checked before the model is even resolved


def test_atomic_write_keeps_the_old_file_when_the_write_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llmimc.errors import OutputError
    from llmimc.report import output

    path = tmp_path / "r.json"
    path.write_text("old")

    def boom(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(output.os, "replace", boom)
    with pytest.raises(OutputError, match="No space left"):
        output.write_text_atomic(path, "new", "--json")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["r.json"]


_BLOCK_HF = (
    "import sys, importlib.abc\n"
    "class Block(importlib.abc.MetaPathFinder):\n"
    "    def find_spec(self, name, path, target=None):\n"
    "        if name.split('.')[0] in ('torch', 'transformers', 'huggingface_hub', 'safetensors'):\n"
    "            raise ModuleNotFoundError(name)\n"
    "sys.meta_path.insert(0, Block())\n"
    "import importlib.util\n"
    "_find = importlib.util.find_spec\n"
    "importlib.util.find_spec = lambda n, *a: None if n.split('.')[0] in ('torch', 'transformers') else _find(n, *a)\n"
    "from llmimc_cli.main import app\n"
    "from typer.testing import CliRunner\n"
)


def test_core_runs_without_torch_and_names_the_hf_extra(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "llama", "hidden_size": 64}))
    code = _BLOCK_HF + (
        "r = CliRunner().invoke(app, ['profile', 'gpt2', '--chiplets', '8', '--gen-len', '4'])\n"
        "assert r.exit_code == 0, r.output\n"
        f"r = CliRunner().invoke(app, ['profile', {str(folder)!r}])\n"
        "print(r.exit_code, ' '.join(r.output.split()))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ), timeout=120
    )
    assert out.returncode == 0, out.stderr
    last = out.stdout.strip().splitlines()[-1]
    assert last.startswith("2 error:") and 'pip install "llmimc[hf]"' in last, last
