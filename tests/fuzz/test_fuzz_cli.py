"""Hostile inputs through every command (typer's CliRunner): exit 0 or 2, one line, no traceback,
no output file on error, no NaN/Infinity in JSON. A sample of each input class runs in the fast
suite; the whole corpus (tests/fuzz/hostile_cases.py, ~300 inputs) and random flag values run
under ``-m slow``. benchmarks/hostile_corpus.py runs the same corpus in subprocesses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hostile_cases import Case, build_cases
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from llmimc_cli.main import app

runner = CliRunner()

# one or more per input class; names as in hostile_cases
FAST = {
    "config.json": {
        "hidden_size=0",
        "hidden_size=nan",
        "non-utf8",
        "binary",
        "deep-nesting",
        "profile non-utf8",
    },
    "model reference": {"'/etc/passwd'", "''", "'/dev/null'"},
    "spec file": {
        "chiplet.power.dpu_leakage_w=1e+308",
        "chiplet.power.dpu_leakage_w=nan",
        "bomb.yaml",
        "non-utf8.yaml",
        "python-tag.yaml",
        "profile --hw chiplet.power.dpu_leakage_w-4.yaml",
    },  # fmt: skip
    "policy file": {"non-utf8.yaml", "weight_bits-0.yaml", "outlier_fraction-2.yaml"},
    "flag value": {
        "profile --chiplets '2147483648'",
        "profile --chiplets '100000'",
        "hw show --chiplets 1000000",
        "dcim 1 chiplet",
        "profile --sparsity '2:4:8'",
        "serve --rate nan",
        "model show --phase train",
    },  # fmt: skip
    "output path": {
        "profile --json dev-full",
        "profile --json under-a-file",
        "model show --json read-only",
        "hw schema --out dev-full",
        "hw export --out missing-folder",
        "serve --timeline under-a-file",
    },  # fmt: skip
    "trace file": {"binary.csv", "non-utf8.csv", "nan.jsonl", "deep.jsonl"},
}


def _non_finite(text: str) -> bool:
    def refuse(token: str) -> float:
        raise ValueError(token)

    try:
        json.loads(text, parse_constant=refuse)
    except ValueError:
        return True
    return False


def check_case(case: Case) -> None:
    r = runner.invoke(app, list(case.args), env={"COLUMNS": "80", "HF_HUB_OFFLINE": "1"})
    what = f"{case.klass} / {case.name}: llmimc {' '.join(case.args)[:200]}\n{r.output}"
    assert r.exit_code in (0, 2), what
    assert r.exception is None or isinstance(r.exception, SystemExit), what
    assert "Traceback" not in r.output, what
    if r.exit_code == 2:
        errors = [ln for ln in r.output.splitlines() if ln.startswith(("error:", "invalid:"))]
        assert len(errors) == 1, what
        if case.out is not None:
            assert not case.out.exists(), what
    elif case.out is not None and case.out.exists():
        assert not _non_finite(case.out.read_text()), what


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Case]:
    return build_cases(tmp_path_factory.mktemp("hostile"))


def test_corpus_covers_every_class_with_about_270_inputs(corpus: list[Case]) -> None:
    assert len(corpus) >= 270
    assert {c.klass for c in corpus} == set(FAST)
    names = {(c.klass, c.name) for c in corpus}
    missing = [(k, n) for k, ns in FAST.items() for n in ns if (k, n) not in names]
    assert not missing, missing


@pytest.mark.parametrize("klass", sorted(FAST))
def test_hostile_sample(corpus: list[Case], klass: str) -> None:
    for case in corpus:
        if case.klass == klass and case.name in FAST[klass]:
            check_case(case)


@pytest.mark.slow
@pytest.mark.torch
def test_whole_hostile_corpus(corpus: list[Case]) -> None:
    for case in corpus:
        check_case(case)


_int_text = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.sampled_from(["", " ", "1e3", "0x10", "nan", "inf", "-0", "1.0", "١٢"]),
)


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    flag=st.sampled_from(["--chiplets", "--batch", "--prompt-len", "--gen-len"]),
    value=_int_text,
    sparsity=st.one_of(st.none(), st.text(max_size=6)),
)
def test_random_profile_flags_exit_0_or_2(
    flag: str, value: str, sparsity: str | None, tmp_path: Path
) -> None:
    out = tmp_path / "r.json"
    out.unlink(missing_ok=True)
    args = ["profile", "gpt2", "--gen-len", "2", "--prompt-len", "8", flag, value, "--json", str(out)]
    if sparsity is not None:
        args += ["--sparsity", sparsity]
    check_case(Case("random flags", tuple(args), out, name=f"{flag}={value!r} sparsity={sparsity!r}"))
