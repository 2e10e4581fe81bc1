"""`llmimc serve` bad input: one-line errors with exit code 2 (CliRunner)."""

from __future__ import annotations

import pytest
from llmimc_cli.main import app
from typer.testing import CliRunner

runner = CliRunner()


def one_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    text = result.output.strip()
    assert "Traceback" not in text
    assert len(text.splitlines()) == 1, text
    assert text.startswith("error:")
    return text


def test_trace_error_becomes_one_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("arrived_at,num_prefill_tokens,num_decode_tokens\n0.0,12,3\n0.5,zero,4\n")
    text = one_line_error(runner.invoke(app, ["serve", "gpt2", "--trace", str(bad)]))
    assert "bad.csv:3" in text


def test_missing_trace_file_is_one_line(tmp_path):
    text = one_line_error(runner.invoke(app, ["serve", "gpt2", "--trace", str(tmp_path / "nope.csv")]))
    assert "nope.csv" in text


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--max-batch", "0"], "--max-batch is 0"),
        (["--token-budget", "-5"], "--token-budget is -5"),
        (["--block-tokens", "0"], "--block-tokens is 0"),
        (["--slo-ttft-s", "0"], "--slo-ttft-s is 0"),
        (["--chiplets", "0"], "--chiplets is 0"),
    ],
)
def test_bad_flags_are_one_line(flags, needle):
    args = [
        "serve",
        "gpt2",
        "--rate",
        "1",
        "--num-requests",
        "3",
        "--prompt-len",
        "8",
        "--gen-len",
        "2",
        *flags,
    ]
    assert needle in one_line_error(runner.invoke(app, args))


def test_workload_must_be_given_once(tmp_path):
    assert "give a workload" in one_line_error(runner.invoke(app, ["serve", "gpt2"]))
    trace = tmp_path / "t.csv"
    trace.write_text("arrived_at,num_prefill_tokens,num_decode_tokens\n0.0,12,3\n")
    text = one_line_error(runner.invoke(app, ["serve", "gpt2", "--trace", str(trace), "--rate", "2"]))
    assert "not both" in text


def test_synthetic_workload_needs_lengths():
    result = runner.invoke(app, ["serve", "gpt2", "--rate", "1", "--num-requests", "3"])
    assert "lengths" in one_line_error(result)
