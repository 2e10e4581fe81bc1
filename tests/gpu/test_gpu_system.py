"""GPU systems end to end: monotonicity, memory fit, profile/serve consistency, CLI shape."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.gpu import gpu_spec, plan16
from typer.testing import CliRunner

from llmimc.cost.iteration import PrefillChunk
from llmimc.errors import MappingError
from llmimc.gpu import build_gpu_system
from llmimc.gpu.kernels import features
from llmimc.gpu.profile import run_gpu_profile
from llmimc.model import load_opgraph
from llmimc.model.opgraph import OpKind
from llmimc_cli.main import app

GPT2 = load_opgraph("gpt2")
MODELS = {
    stack: build_gpu_system(GPT2, gpu_spec({"software_stack": stack}), plan16(GPT2)).cost_model
    for stack in ("serving", "hf-eager")
}


@settings(max_examples=40, deadline=None)
@given(
    stack=st.sampled_from(["serving", "hf-eager"]),
    batch=st.integers(1, 64),
    ctx=st.integers(1, 1000),
    tokens=st.integers(1, 1000),
)
def test_monotone_in_batch_context_and_prompt(stack, batch, ctx, tokens):
    cm = MODELS[stack]

    def dec(b: int, c: int) -> float:
        return cm.evaluate(features([], [c] * b)).latency_s

    def pre(b: int, t: int) -> float:
        return cm.evaluate(features([PrefillChunk(t, 0)] * b, [])).latency_s

    assert dec(batch, ctx) <= dec(batch + 1, ctx) and dec(batch, ctx) <= dec(batch, ctx + 23)
    assert pre(batch, tokens) <= pre(batch + 1, tokens) and pre(batch, tokens) <= pre(batch, tokens + 17)


@pytest.mark.parametrize("stack", ["serving", "hf-eager"])
def test_monotone_in_weight_and_kv_bytes(stack):
    g = load_opgraph("llama-2-7b")
    spec = gpu_spec({"software_stack": stack})
    lat = []
    for bits in (4, 8, 16):
        plan = plan16(g, weight_bits=bits).model_copy(update={"kv_bits": bits})
        lat.append(build_gpu_system(g, spec, plan).cost_model.evaluate(features([], [2000] * 8)).latency_s)
    assert lat[0] < lat[1] < lat[2]


def test_does_not_fit_says_how_many_gpus():
    g = load_opgraph("meta-llama/Llama-2-70b-hf")
    plan = plan16(g)
    spec = gpu_spec()
    weights = sum(op.weight_params for op in g.ops if op.kind in (OpKind.LINEAR, OpKind.EMBEDDING)) * 2
    kv = 8 * 4096 * sum(g.kv_elements_per_token_per_layer) * 2
    need = math.ceil((weights + kv) / (spec.memory_capacity_bytes * 0.9))
    assert need == 2
    with pytest.raises(MappingError, match=f"needs {need} GPUs: use --chiplets {need}"):
        build_gpu_system(g, spec, plan, need_kv_tokens=8 * 4096)
    two = build_gpu_system(g, spec.with_gpus(2), plan, need_kv_tokens=8 * 4096)
    one_gpu_step = two.cost_model.evaluate(features([], [4000] * 8))
    assert one_gpu_step.link_bytes > 0 and one_gpu_step.time_by_label["allreduce"] > 0


def test_profile_matches_iteration_cost_model():
    g = load_opgraph("llama-2-7b")
    spec = gpu_spec({"software_stack": "hf-eager"})
    plan = plan16(g)
    r = run_gpu_profile(g, spec, plan, batch=4, prompt_len=300, gen_len=5)
    cm = build_gpu_system(g, spec, plan).cost_model
    assert r.summary.ttft_s == pytest.approx(cm.iteration_cost([PrefillChunk(300, 0)] * 4, []).latency_s)
    first = cm.iteration_cost([], [300] * 4)
    assert r.per_token_latency_s[0] == pytest.approx(first.latency_s)
    assert r.summary.energy_j == pytest.approx(sum(p.energy_j for p in r.phases))
    assert r.gpu is not None and r.gpu.software_stack == "hf-eager"
    assert sum(e.energy_j for e in r.energy_table) == pytest.approx(r.summary.energy_j)


runner = CliRunner()


@pytest.mark.parametrize("hw", ["h100", "h100-hf-eager", "a100"])
def test_cli_profile_gpu_json(tmp_path, hw):
    out = tmp_path / "r.json"
    args = ["profile", "llama-2-7b", "--hw", hw, "--precision", "w16a16", "--batch", "16"]
    res = runner.invoke(app, [*args, "--prompt-len", "4096", "--gen-len", "2", "--json", str(out)])
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert data["summary"]["ttft_s"] > 0 and data["summary"]["mean_tpot_s"] > 0
    assert data["phases"][0]["bound"] == "compute" and data["phases"][1]["bound"] == "memory"
    assert data["gpu"]["kv_capacity_tokens"] > 16 * 4097
    # 4,096 + 2 tokens process 4,097 positions: a rotary model runs on past its 4,096, with a note
    assert any("trained context of 4096" in n for n in data["notes"])


def test_cli_serve_gpu():
    res = runner.invoke(
        app,
        [
            "serve",
            "gpt2",
            "--hw",
            "h100",
            "--rate",
            "4",
            "--num-requests",
            "20",
            "--prompt-len",
            "64",
            "--gen-len",
            "8",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "20 / 0 / 20" in res.output


def test_baseline_row_is_the_gpu_profile():
    from llmimc.gpu.profile import gpu_baseline

    plan = plan16(GPT2)
    spec = gpu_spec()
    r = run_gpu_profile(GPT2, spec, plan, batch=2, prompt_len=64, gen_len=4)
    b = gpu_baseline(GPT2, plan, spec, 2, 64, 4, 1.0, 1.0)
    assert b.ttft_s == pytest.approx(r.summary.ttft_s) and b.mean_tpot_s == pytest.approx(
        r.summary.mean_tpot_s
    )
    assert b.energy_per_output_token_j == pytest.approx(r.summary.energy_per_output_token_j)
    assert b.fits_in_memory
