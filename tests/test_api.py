"""The front door (llmimc.api): the README's Python snippet runs, and the CLI mirrors the API exactly."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

import llmimc
from llmimc import api
from llmimc.errors import MappingError, SpecError
from llmimc_cli.main import app

ROOT = Path(__file__).resolve().parents[1]


def _readme_python_snippet() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Python API", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    return block


def test_readme_snippet_runs_in_at_most_six_lines(capsys):
    code = _readme_python_snippet()
    lines = [ln for ln in code.splitlines() if ln.strip()]
    assert len(lines) <= 6, lines
    exec(compile(code, "README.md", "exec"), {})
    printed = capsys.readouterr().out.split()
    assert len(printed) == 6 and all(float(x) > 0 for x in printed)


def test_top_level_reexports_are_the_api_functions():
    assert llmimc.profile is api.profile and llmimc.serve is api.serve
    assert llmimc.costed_system is api.costed_system and llmimc.compare is api.compare
    with pytest.raises(AttributeError):
        _ = llmimc.no_such_name


def test_cli_profile_json_equals_api_result(tmp_path):
    out = tmp_path / "r.json"
    args = ["profile", "gpt2", "--chiplets", "8", "--batch", "2", "--prompt-len", "64", "--gen-len", "8"]
    res = CliRunner().invoke(app, [*args, "--precision", "w4a8-outlier", "--json", str(out)])
    assert res.exit_code == 0, res.output
    r = api.profile("gpt2", chiplets=8, batch=2, prompt_len=64, gen_len=8, precision="w4a8-outlier")
    assert json.loads(out.read_text()) == json.loads(r.model_dump_json())


def test_cli_serve_json_equals_api_result(tmp_path):
    out = tmp_path / "s.json"
    flags = ["--rate", "8", "--num-requests", "30", "--prompt-len", "64", "--gen-len", "16", "--seed", "3"]
    res = CliRunner().invoke(app, ["serve", "gpt2", "--chiplets", "8", *flags, "--json", str(out)])
    assert res.exit_code == 0, res.output
    workload = llmimc.SyntheticWorkload(rate_qps=8, num_requests=30, prompt_len=64, gen_len=16, seed=3)
    s = api.serve("gpt2", workload, chiplets=8)
    cli_json, api_json = json.loads(out.read_text()), json.loads(s.model_dump_json())
    # the CLI's --json is the summary (records: --requests-out); the API keeps the records
    assert cli_json["requests"] == [] and len(api_json["requests"]) == 30
    for d in (cli_json, api_json):
        del d["requests"], d["config"]["keep_request_records"]
    assert cli_json == api_json
    assert s.num_finished + s.num_rejected == 30


def test_profile_accepts_objects_as_well_as_names():
    graph = api.load_model("gpt2")
    spec = api.load_hw("rram-chiplet", chiplets=8)
    by_name = api.profile("gpt2", chiplets=8, gen_len=4)
    by_object = api.profile(graph, hw=spec, gen_len=4)
    assert by_name == by_object


def test_compare_savings_and_reference_error():
    a = api.profile("gpt2", chiplets=8, gen_len=4, precision="w4a8-outlier", reference_bits=None)
    b = api.profile("gpt2", chiplets=8, gen_len=4, precision="w8a8", reference_bits=None)
    c = api.compare(a, b)
    assert c.reference == b.policy_name and c.reference_error is None
    assert c.arrays_saving == pytest.approx(1 - a.summary.arrays_used / b.summary.arrays_used)
    assert api.compare(a, a).energy_saving == 0.0
    failed = api.compare(a, MappingError("does not fit"))
    assert failed.reference_error == "does not fit" and failed.arrays_saving is None


def test_digital_spec_is_a_gpu_system_when_it_has_a_kernel_calibration():
    gpus = api.costed_system("gpt2", hw="h100", chiplets=2)
    assert gpus.spec.num_gpus == 2 and gpus.cost_model.kv_capacity_tokens > 0
    bare = api.load_hw("h100").model_copy(update={"kernels": None})
    with pytest.raises(SpecError, match="kernels"):
        api.costed_system("gpt2", hw=bare)
