"""`llmimc serve` bad input: one-line errors with exit code 2 (CliRunner)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from llmimc_cli.main import app

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


def test_synthetic_run_writes_json_and_timeline(tmp_path):
    out, tl = tmp_path / "r.json", tmp_path / "tl.json"
    args = ["serve", "gpt2", "--chiplets", "8", "--rate", "20", "--num-requests", "12", "--prompt-len", "64"]
    args += ["--gen-len", "6", "--slo-ttft-s", "1", "--json", str(out), "--timeline", str(tl), "--seed", "3"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "time to first token" in result.output
    data = json.loads(out.read_text())
    assert data["num_finished"] == 12 and data["output_tokens"] == 72
    assert data["config"]["max_context_tokens"] == 1024  # GPT-2's n_positions
    events = json.loads(tl.read_text())["traceEvents"]
    assert sum(1 for e in events if e.get("cat") == "iteration") == data["iterations"]
    # the timeline draws every request from the kept records; --json holds the summary only
    assert sum(1 for e in events if e.get("name", "").startswith("req ")) == 12
    assert data["requests"] == []
    again = tmp_path / "again.json"
    args[args.index(str(out))] = str(again)
    assert runner.invoke(app, args).exit_code == 0
    assert again.read_text() == out.read_text()


def test_mooncake_trace_with_prefix_caching_and_rejections(tmp_path):
    trace = tmp_path / "mc.jsonl"
    rows = [  # Mooncake: 512 tokens per hash id; block 0 is shared by the first two requests
        {"timestamp": 0, "input_length": 1000, "output_length": 4, "hash_ids": [0, 1]},
        {"timestamp": 100, "input_length": 900, "output_length": 3, "hash_ids": [0, 7]},
        {"timestamp": 200, "input_length": 2000, "output_length": 3, "hash_ids": [20, 21, 22, 23]},
    ]
    trace.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "r.json"
    args = [
        "serve",
        "gpt2",
        "--trace",
        str(trace),
        "--prefix-caching",
        "--block-tokens",
        "16",
        "--json",
        str(out),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["rejected_by_reason"] == {"prompt_exceeds_context": 1}
    assert data["num_finished"] == 2
    assert data["prefix_cache_hit_tokens"] == 512
    assert data["prefill_tokens_computed"] == 1000 + 900 - 512
    assert "prompt_exceeds_context" in result.output


SYNTHETIC = ["serve", "gpt2", "--rate", "1", "--num-requests", "3", "--prompt-len", "8", "--gen-len", "2"]


def test_negative_seed_is_one_line():
    assert "--seed is -1" in one_line_error(runner.invoke(app, [*SYNTHETIC, "--seed", "-1"]))


@pytest.mark.parametrize("flag", ["--json", "--timeline", "--requests-out"])
def test_unwritable_output_fails_before_the_run(tmp_path, flag):
    """A bad output path is reported up front (one line, no report printed), not after a long run."""
    missing = tmp_path / "no_such_folder" / "out.json"
    assert "does not exist" in one_line_error(runner.invoke(app, [*SYNTHETIC, flag, str(missing)]))
    assert "is a directory" in one_line_error(runner.invoke(app, [*SYNTHETIC, flag, str(tmp_path)]))


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--time-scale", "-1"], "--time-scale is -1"),
        (["--timeline-window", "5:2"], "--timeline-window 5:2"),
        (["--timeline-window", "abc"], "--timeline-window abc"),
        (["--percentiles", "50,101"], "--percentiles 50,101"),
        (["--slo-e2e-s", "0"], "--slo-e2e-s is 0"),
        (["--replicas", "0"], "--replicas is 0"),
        (["--router", "random"], "--router random"),
        (["--disaggregate", "3"], "--disaggregate 3"),
        (["--memory-stacks", "0"], "--memory-stacks is 0"),
        (["--memory-stacks", "99", "--chiplets", "8"], "need at least 99 chiplets"),
        (["--disaggregate", "0:2"], "--disaggregate 0:2"),
        (["--disaggregate", "1:1", "--replicas", "2"], "not both"),
        (["--disaggregate", "1:1", "--package-link", "carrier-pigeon"], "carrier-pigeon"),
        (["--disaggregate", "1:1"], "package link"),
    ],
)
def test_new_serve_flags_reject_bad_values(flags, needle):
    assert needle in one_line_error(runner.invoke(app, [*SYNTHETIC, *flags]))


def test_requests_out_streams_records_and_json_holds_the_summary(tmp_path):
    out, records, tl = tmp_path / "r.json", tmp_path / "req.jsonl", tmp_path / "tl.json"
    args = ["serve", "gpt2", "--chiplets", "8", "--rate", "50", "--num-requests", "30", "--prompt-len", "64"]
    args += ["--gen-len", "6", "--json", str(out), "--requests-out", str(records), "--time-scale", "0.5"]
    args += ["--percentiles", "50,99.9", "--timeline", str(tl), "--timeline-window", "0:0.05"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["requests"] == []
    rows = [json.loads(line) for line in records.read_text().splitlines()]
    assert sorted(r["request_id"] for r in rows) == list(range(30))
    assert all(r["status"] == "finished" for r in rows)
    assert sum(r["num_decode_tokens"] for r in rows) == data["output_tokens"]
    assert set(data["ttft_s"]["values"]) == {"p50", "p99.9"}
    assert "p99.9" in result.output
    # arrivals compressed by 0.5: the last arrival is half the synthetic one
    assert max(r["arrived_at_s"] for r in rows) < 30 / 50
    starts = [e["ts"] for e in json.loads(tl.read_text())["traceEvents"] if e.get("cat") == "iteration"]
    assert starts and max(starts) < 0.05 * 1e6
    assert "serve:" not in result.stderr  # a short run prints no progress lines (reproducible output)


def test_json_alone_builds_no_request_records(tmp_path, monkeypatch):
    """--json is the summary: a run without --requests-out or --timeline keeps no per-request record."""
    from llmimc.sim import serve_metrics

    kept: list[int] = []
    add = serve_metrics.FinishedColumns.add

    def spy(self, s):
        add(self, s)
        kept.append(len(self.records))

    monkeypatch.setattr(serve_metrics.FinishedColumns, "add", spy)
    out = tmp_path / "r.json"
    args = ["serve", "gpt2", "--chiplets", "8", "--rate", "50", "--num-requests", "10", "--prompt-len", "32"]
    result = runner.invoke(app, [*args, "--gen-len", "3", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert len(kept) == 10 and max(kept) == 0
    data = json.loads(out.read_text())
    assert data["requests"] == [] and data["num_finished"] == 10


def test_requests_out_parquet(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    records = tmp_path / "req.parquet"
    args = ["serve", "gpt2", "--chiplets", "8", "--rate", "50", "--num-requests", "9", "--prompt-len", "32"]
    result = runner.invoke(app, [*args, "--gen-len", "3", "--requests-out", str(records)])
    assert result.exit_code == 0, result.output
    table = pq.read_table(records)
    assert sorted(table.column("request_id").to_pylist()) == list(range(9))
    assert table.column("num_decode_tokens").to_pylist() == [3] * 9


def test_replicas_report_and_json(tmp_path):
    out = tmp_path / "r.json"
    args = ["serve", "gpt2", "--chiplets", "8", "--rate", "50", "--num-requests", "20", "--prompt-len", "64"]
    result = runner.invoke(
        app, [*args, "--gen-len", "4", "--replicas", "2", "--router", "least-loaded", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "Replicas (2 packages, router least-loaded" in result.output
    data = json.loads(out.read_text())
    assert data["num_replicas"] == 2 and len(data["replicas"]) == 2
    assert sum(r["num_finished"] for r in data["replicas"]) == data["num_finished"] == 20


def test_disaggregate_run_reports_transfers(tmp_path):
    out, tl = tmp_path / "r.json", tmp_path / "tl.json"
    args = ["serve", "gpt2", "--chiplets", "8", "--rate", "50", "--num-requests", "10", "--prompt-len", "64"]
    args += ["--gen-len", "4", "--disaggregate", "1:2", "--package-link", "pcie5", "--json", str(out)]
    result = runner.invoke(app, [*args, "--timeline", str(tl)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["package_link"] == "PCIe 5.0 x16" and data["num_replicas"] == 3
    assert data["kv_transfer_bytes"] > 0 and data["kv_transfer_s"]["count"] == 10
    assert "KV transfers over PCIe 5.0 x16" in result.output
    events = json.loads(tl.read_text())["traceEvents"]
    assert sum(1 for e in events if e.get("cat") == "kv_transfer") == 10


def test_package_link_with_zero_bandwidth_is_one_line(tmp_path):
    from llmimc.hw import DEFAULT_IMC_SPEC, load_spec

    spec = load_spec(DEFAULT_IMC_SPEC).model_dump(mode="json")
    spec["package_link"] = {
        "name": "broken",
        "bw_bytes_per_s": 0,
        "latency_s": 1e-6,
        "energy_per_bit_j": 1e-12,
        "sources": {"bw_bytes_per_s": "x", "latency_s": "x", "energy_per_bit_j": "x"},
    }
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    text = one_line_error(runner.invoke(app, [*SYNTHETIC, "--hw", str(path), "--disaggregate", "1:1"]))
    assert "bw_bytes_per_s" in text


def test_memory_stacks_grow_kv_capacity(tmp_path):
    base = ["serve", "gpt2", "--chiplets", "8", "--rate", "50", "--num-requests", "3", "--prompt-len", "16"]
    base += ["--gen-len", "2"]
    caps = []
    for stacks in ("1", "4"):
        out = tmp_path / f"r{stacks}.json"
        result = runner.invoke(app, [*base, "--memory-stacks", stacks, "--json", str(out)])
        assert result.exit_code == 0, result.output
        caps.append(json.loads(out.read_text())["kv_capacity_tokens"])
    assert caps[1] > caps[0]


def test_progress_lines_every_few_seconds_with_eta(capsys):
    from llmimc_cli.serve_cmd import _ProgressLines

    clock = iter([0.0, 1.0, 6.0, 7.0, 20.0])
    lines = _ProgressLines(every_s=5.0, clock=lambda: next(clock))
    lines(10, 100)  # t = 1: too soon
    lines(25, 100)  # t = 6: a line, ETA = 6 x 75 / 25 = 18 s
    lines(30, 100)  # t = 7: too soon
    lines(100, 100)  # t = 20: the closing line
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "serve: 25/100 requests (25.0 %), elapsed 6 s, ETA 18 s",
        "serve: 100/100 requests (100.0 %), elapsed 20 s, ETA 0 s",
    ]
