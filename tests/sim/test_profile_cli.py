"""`llmimc profile` through typer's CliRunner: the default command, --json, and one-line bad-input errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from llmimc.sim.profile import ProfileResult
from llmimc_cli.main import app

runner = CliRunner()


@pytest.fixture(scope="module", autouse=True)
def _cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg")))
    mp.setenv("HF_HUB_OFFLINE", "1")
    yield
    mp.undo()


def test_profile_gpt2_default_and_json(tmp_path):
    out = tmp_path / "p.json"
    r = runner.invoke(
        app,
        ["profile", "gpt2", "--chiplets", "8", "--gen-len", "16", "--baseline", "h100", "--json", str(out)],
    )
    assert r.exit_code == 0, r.output
    for text in ("TTFT", "time per output token", "energy by component", "KV cache", "die-to-die", "h100"):
        assert text in r.output
    res = ProfileResult.model_validate(json.loads(out.read_text()))
    assert res.num_chiplets == 8 and res.gen_len == 16 and len(res.per_token_latency_s) == 15
    assert res.baseline is not None and res.comparison is not None
    assert sum(x.energy_j for x in res.energy_table) == pytest.approx(res.summary.energy_j, rel=1e-9)


def test_profile_sparsity_and_precision_change_arrays():
    a = runner.invoke(app, ["profile", "gpt2", "--chiplets", "8", "--gen-len", "2", "--json", "/dev/null"])
    b = runner.invoke(
        app,
        [
            "profile",
            "gpt2",
            "--chiplets",
            "8",
            "--gen-len",
            "2",
            "--sparsity",
            "2:4",
            "--precision",
            "w4a8-outlier",
        ],
    )
    assert a.exit_code == 0 and b.exit_code == 0, b.output
    assert "2:4" in b.output and "savings vs uniform-w8a8" in b.output


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--chiplets", "0"], "--chiplets"),
        (["--hw", "no-such-spec"], "no-such-spec"),
        (["--hw", "h100", "--batch", "60000", "--prompt-len", "800"], "GPUs: use --chiplets"),
        (["--baseline", "rram-chiplet"], "IMC spec"),
        (["--batch", "0"], "--batch"),
        (["--prompt-len", "-3"], "--prompt-len"),
        (["--gen-len", "0"], "--gen-len"),
        (["--prompt-len", "2000"], "context of 1024"),
        (["--sparsity", "5:4"], ""),
        (["--precision", "w3a3-nope"], "w3a3-nope"),
    ],
)
def test_profile_bad_input_one_line(args, needle):
    r = runner.invoke(app, ["profile", "gpt2", *args])
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    lines = [ln for ln in r.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), r.output
    assert needle in " ".join(r.output.split())


def test_profile_unknown_model_and_not_fitting(tmp_path):
    r = runner.invoke(app, ["profile", "no-such-model-xyz", "--chiplets", "2"])
    assert r.exit_code == 2 and "Traceback" not in r.output
    from llmimc.hw import dump_spec, load_spec

    spec = load_spec("rram-chiplet")
    small = spec.model_copy(update={"chiplet": spec.chiplet.model_copy(update={"tiles": 1})})
    path = tmp_path / "small.yaml"
    path.write_text(dump_spec(small))
    r = runner.invoke(app, ["profile", "gpt2", "--chiplets", "4", "--hw", str(path)])
    assert r.exit_code == 2, r.output
    text = " ".join(r.output.split())
    assert (
        "7542 crossbar arrays" in text and "--chiplets 79 or more" in text and "--allow-reprogramming" in text
    )  # 79 = ceil(7542 / 96): neighbouring layers share chiplets (capacity bound)
    r = runner.invoke(
        app,
        ["profile", "gpt2", "--chiplets", "4", "--hw", str(path), "--allow-reprogramming", "--gen-len", "4"],
    )
    assert r.exit_code == 0, r.output
    assert "reprogram" in r.output


def test_warm_profile_never_imports_torch():
    import os
    import subprocess
    import sys

    assert (
        runner.invoke(app, ["profile", "gpt2", "--chiplets", "2", "--gen-len", "2"]).exit_code == 0
    )  # warm cache
    code = (
        "import sys\n"
        "from llmimc_cli.main import app\n"
        "from typer.testing import CliRunner\n"
        "r = CliRunner().invoke(app, ['profile', 'gpt2', '--chiplets', '8', '--gen-len', '4'])\n"
        "assert r.exit_code == 0, r.output\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=dict(os.environ), capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_long_tables_are_elided_unless_all_rows():
    args = ["profile", "gpt2-xl", "--chiplets", "64", "--gen-len", "4"]
    short = runner.invoke(app, args, env={"COLUMNS": "160"})
    full = runner.invoke(app, [*args, "--all-rows"], env={"COLUMNS": "160"})
    assert short.exit_code == 0 and full.exit_code == 0, short.output + full.output
    assert "more chiplets not shown" in short.output and "more chiplets not shown" not in full.output
    # every chiplet has a row with --all-rows (64 chiplets), only 24 without it
    assert len(_chiplet_rows(full.output)) == 64
    assert len(_chiplet_rows(short.output)) == 24


def _chiplet_rows(output: str) -> list[str]:
    """Data rows of the chiplets table (one line each at 160 columns), without the '⋮' gap row."""
    lines = output.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.strip().startswith("chiplets ("))
    rows = []
    for ln in lines[start + 4 :]:
        if ln.startswith("└"):
            break
        if ln.startswith("│") and "⋮" not in ln:
            rows.append(ln)
    return rows


def test_sliding_window_beyond_the_window_is_flagged():
    base = ["profile", "mistral-7b", "--chiplets", "72", "--gen-len", "8"]
    inside = runner.invoke(app, [*base, "--prompt-len", "1000"], env={"COLUMNS": "200"})
    beyond = runner.invoke(app, [*base, "--prompt-len", "4095"], env={"COLUMNS": "200"})
    assert inside.exit_code == 0 and beyond.exit_code == 0, inside.output + beyond.output
    assert "sliding-window" not in inside.output
    assert "sliding-window attention (window 4096 tokens)" in beyond.output
