"""The hostile-input corpus of issue 14: bad configs, specs, policies, traces, flags and output paths.

`build_cases(root)` writes the hostile files under ``root`` and returns one `Case` per input: a class
name, the CLI arguments, and (optionally) an output file that must not exist after an error. Every
case must end in exit 0 or 2, print no traceback, leave no output file on error and write no
NaN/Infinity into JSON. `tests/fuzz/test_fuzz_cli.py` runs a sample in the fast suite and all of
them under ``-m slow``; `benchmarks/hostile_corpus.py` runs them in subprocesses (timeouts, memory
limit) and reports counts by class.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import yaml

TINY_LLAMA = {
    "model_type": "llama",
    "architectures": ["LlamaForCausalLM"],
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "num_hidden_layers": 2,
    "vocab_size": 128,
    "max_position_embeddings": 256,
}
SIZE_FIELDS = ("hidden_size", "intermediate_size", "num_attention_heads", "num_hidden_layers", "vocab_size")
BAD_SIZES: tuple[object, ...] = (0, -1, math.nan, 1e308, "abc", True, 2**40, [], None, 7.5)
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when present: builds the corpus faster
QUICK = ["--gen-len", "2", "--prompt-len", "8"]  # keep successful profiles cheap


@dataclass(frozen=True)
class Case:
    """One hostile input: its class, the CLI arguments, and an output file that must not survive an error."""

    klass: str
    args: tuple[str, ...]
    out: Path | None = None
    name: str = ""


def _w(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


def _model_dir(root: Path, name: str, cfg: object | bytes | str) -> Path:
    folder = root / "models" / name
    if isinstance(cfg, bytes | str):
        _w(folder / "config.json", cfg)
    else:
        _w(folder / "config.json", json.dumps(cfg, allow_nan=True))
    return folder


def config_cases(root: Path) -> list[Case]:
    """Hand-written config.json files: bad size values, encodings, shapes, architectures."""
    cases = []
    for field in SIZE_FIELDS:
        for i, bad in enumerate(BAD_SIZES):
            cfg = dict(TINY_LLAMA, **{field: bad})
            folder = _model_dir(root, f"{field}-{i}", cfg)
            cases.append(Case("config.json", ("model", "show", str(folder)), name=f"{field}={bad!r}"))
    raw: dict[str, bytes | str | object] = {
        "non-utf8": b'{"model_type": "llama", "hidden_size": \xff}',
        "binary": bytes(range(256)) * 4,
        "empty": "",
        "array": "[1, 2, 3]",
        "string": '"gpt2"',
        "truncated": '{"model_type": "llama", "hidden_size": 64',
        "no-model-type": {"hidden_size": 64},
        "unknown-model-type": dict(TINY_LLAMA, model_type="no-such-arch"),
        "encoder-only": {"model_type": "bert", "architectures": ["BertForMaskedLM"]},
        "encoder-decoder": {"model_type": "t5", "architectures": ["T5ForConditionalGeneration"]},
        "heads-do-not-divide": dict(TINY_LLAMA, num_attention_heads=5),
        "kv-heads-do-not-divide": dict(TINY_LLAMA, num_key_value_heads=3),
        "deep-nesting": "[" * 100_000 + "]" * 100_000,
        "bom": "\ufeff" + json.dumps(TINY_LLAMA),
        "utf16": json.dumps(TINY_LLAMA).encode("utf-16"),
        "nan-elsewhere": dict(TINY_LLAMA, rope_theta=math.nan),
        "huge-positions": dict(TINY_LLAMA, max_position_embeddings=2**62),
        "tiny-positions": dict(TINY_LLAMA, max_position_embeddings=1),
    }
    for name, cfg in raw.items():
        folder = _model_dir(root, name, cfg)
        cases.append(Case("config.json", ("model", "show", str(folder)), name=name))
    # through profile too, with an output file that must not appear
    for name in ("non-utf8", "heads-do-not-divide", "no-model-type"):
        out = root / "out" / f"cfg-{name}.json"
        args = ("profile", str(root / "models" / name), "--json", str(out), *QUICK)
        cases.append(Case("config.json", args, out, name=f"profile {name}"))
    return cases


def model_ref_cases(root: Path) -> list[Case]:
    """Model arguments that are not models: files, devices, odd names."""
    refs = [
        "/etc/passwd",
        "/dev/null",
        "/",
        "",
        "   ",
        "../..",
        "a/b/c",
        "no-such-model",
        "gpt2 ",
        "ｇｐｔ２",
        "x" * 5000,
    ]
    refs.append(str(_w(root / "models" / "plain.txt", "hello")))
    refs.append(str(_w(root / "models" / "cfg.json", "{}")))
    return [Case("model reference", ("profile", ref, *QUICK), name=repr(ref[:40])) for ref in refs]


def _spec_variant(base: dict, path: tuple[str, ...], value: object) -> dict:
    data = json.loads(json.dumps(base))
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return data


SPEC_FIELDS = (
    ("package", "num_chiplets"),
    ("chiplet", "power", "dpu_leakage_w"),
    ("chiplet", "tiles"),
    ("chiplet", "array", "rows"),
    ("chiplet", "array", "read_time_per_cycle_s"),
    ("chiplet", "array", "adc", "energy_per_conversion_j"),
    ("chiplet", "clock_hz"),
    ("package", "d2d", "bw_bytes_per_s"),
)
BAD_SPEC_VALUES: tuple[object, ...] = (0, -1, math.nan, math.inf, 1e308, "abc", None)


def spec_cases(root: Path, base: dict) -> list[Case]:
    """Spec files: bad numbers per field, and broken files (encodings, YAML bombs, wrong shapes)."""
    cases = []
    for path in SPEC_FIELDS:
        for i, bad in enumerate(BAD_SPEC_VALUES):
            try:
                data = _spec_variant(base, path, bad)
            except (KeyError, TypeError):
                continue
            f = _w(root / "specs" / f"{'.'.join(path)}-{i}.yaml", yaml.dump(data, Dumper=_DUMPER))
            cases.append(Case("spec file", ("hw", "validate", str(f)), name=f"{'.'.join(path)}={bad!r}"))
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
    broken: dict[str, bytes | str] = {
        "non-utf8.yaml": b"kind: imc\nname: \xff\xfe\n",
        "binary.yaml": bytes(range(256)) * 8,
        "empty.yaml": "",
        "list.yaml": "- 1\n- 2\n",
        "scalar.yaml": "hello\n",
        "bomb.yaml": bomb,
        "dup-keys.yaml": "kind: imc\nkind: digital\n",
        "no-kind.yaml": "name: x\n",
        "bad-kind.yaml": "kind: quantum\n",
        "tab-indent.yaml": "kind: imc\n\tname: x\n",
        "python-tag.yaml": "!!python/object/apply:os.system ['echo pwned']\n",
        "deep.json": "[" * 50_000 + "]" * 50_000,
        "deep.yaml": "a:\n" + "".join(" " * i + "- \n" for i in range(1, 3000)),
        "nan.json": json.dumps(
            _spec_variant(base, ("chiplet", "power", "dpu_leakage_w"), math.nan), allow_nan=True
        ),
        "extra-field.yaml": yaml.safe_dump(dict(base, surprise=1)),
    }
    for name, text in broken.items():
        f = _w(root / "specs" / name, text)
        cases.append(Case("spec file", ("hw", "validate", str(f)), name=name))
    for name in (
        "chiplet.power.dpu_leakage_w-4.yaml",
        "bomb.yaml",
        "non-utf8.yaml",
        "package.num_chiplets-4.yaml",
    ):
        out = root / "out" / f"spec-{name}.json"
        args = ("profile", "gpt2", "--hw", str(root / "specs" / name), "--json", str(out), *QUICK)
        cases.append(Case("spec file", args, out, name=f"profile --hw {name}"))
    cases.append(
        Case(
            "spec file",
            ("hw", "show", str(root / "specs" / "chiplet.power.dpu_leakage_w-4.yaml")),
            name="hw show 1e308",
        )
    )
    return cases


def policy_cases(root: Path) -> list[Case]:
    """Precision policy files: bad bit counts and fractions, broken encodings and shapes."""
    base = {"name": "p", "weight_bits": 8, "act_bits": 8, "kv_bits": 16, "outlier_fraction": 0.001}
    bodies: dict[str, bytes | str] = {}
    for field, values in {
        "weight_bits": (0, -1, 99, "abc", 1.5, None),
        "act_bits": (0, 1e308),
        "kv_bits": (0, math.nan),
        "outlier_fraction": (-0.1, 1.5, math.nan, math.inf),
    }.items():
        for i, v in enumerate(values):
            bodies[f"{field}-{i}.yaml"] = yaml.safe_dump(dict(base, **{field: v}))
    bodies.update(
        {
            "non-utf8.yaml": b"name: \xff\n",
            "binary.yaml": bytes(range(256)),
            "empty.yaml": "",
            "list.yaml": "[1, 2]\n",
            "sparsity-bad.yaml": yaml.safe_dump(dict(base, sparsity="5:4")),
            "unknown-field.yaml": yaml.safe_dump(dict(base, bogus=1)),
            "bad.json": "{not json",
            "deep.json": "[" * 50_000 + "]" * 50_000,
            "deep.yaml": "[" * 50_000 + "]" * 50_000,
        }
    )
    cases = []
    for name, body in bodies.items():
        f = _w(root / "policies" / name, body)
        cases.append(Case("policy file", ("profile", "gpt2", "--precision", str(f), *QUICK), name=name))
    return cases


def flag_cases(root: Path) -> list[Case]:
    """Out-of-range and malformed flag values for profile, hw show, model show and serve."""
    cases = []
    profile_flags = {
        "--chiplets": ("0", "-1", "1.5", "abc", "100000", "2147483648", "99999999999999999999", "1024"),
        "--batch": ("0", "-5", "65537", "1e3", "10000000"),
        "--prompt-len": ("0", "-1", "16777217", "100000", "2000"),
        "--gen-len": ("0", "-1", "16777217", "5000"),
        "--sparsity": ("0:4", "5:4", "a:b", "2:0", "2:4:8", "1000:1000", "", "2:4 ", "-2:4"),
        "--precision": ("", "w3a3", "W8A8", "../../etc/passwd", "x.yaml"),
        "--hw": ("", "h100", "nope", "/etc/passwd", "/dev/null", "/"),
        "--baseline": ("rram-chiplet", "nope", ""),
        "--format": ("xml", "", "JSON"),
        "--weights": ("/nonexistent", "/etc/passwd"),
    }
    for flag, values in profile_flags.items():
        for v in values:
            cases.append(
                Case("flag value", ("profile", "gpt2", *QUICK, flag, v), name=f"profile {flag} {v!r}")
            )
    cases.append(
        Case(
            "flag value",
            ("profile", "gpt2", "--hw", "sram-dcim-chiplet", "--chiplets", "1"),
            name="dcim 1 chiplet",
        )
    )
    cases.append(Case("flag value", ("profile", "gpt2-xl", "--chiplets", "2", *QUICK), name="does not fit"))
    for v in ("0", "1000000", "2147483648", "abc"):
        cases.append(
            Case(
                "flag value", ("hw", "show", "rram-chiplet", "--chiplets", v), name=f"hw show --chiplets {v}"
            )
        )
    for flag, v in (("--weight-bits", "0"), ("--weight-bits", "64"), ("--input-bits", "-1")):
        cases.append(Case("flag value", ("hw", "show", "rram-chiplet", flag, v), name=f"hw show {flag} {v}"))
    for flag, v in (
        ("--phase", "train"),
        ("--tokens", "0"),
        ("--context", "-1"),
        ("--batch", "0"),
        ("--tokens", "99999999999"),
    ):
        cases.append(Case("flag value", ("model", "show", "gpt2", flag, v), name=f"model show {flag} {v}"))
    serve = {"--rate": "5", "--num-requests": "3", "--prompt-len": "8", "--gen-len": "2"}
    for flag, v in (("--rate", "0"), ("--rate", "-1"), ("--rate", "nan"), ("--rate", "inf"), ("--num-requests", "0"),
                    ("--max-batch", "0"), ("--token-budget", "0"), ("--seed", "-1"), ("--cv", "0"),
                    ("--chiplets", "0"), ("--chiplets", "2147483648"), ("--arrival", "weird")):  # fmt: skip
        opts = dict(serve, **{flag: v})
        args = ("serve", "gpt2", *(x for kv in opts.items() for x in kv))
        cases.append(Case("flag value", args, name=f"serve {flag} {v}"))
    return cases


def output_cases(root: Path) -> list[Case]:
    """Output paths that cannot be written, for every command that writes one."""
    regular = _w(root / "a-regular-file", "x")
    readonly = Path("/proc/llmimc-readonly.json")  # /proc refuses new files, even for root
    targets = {
        "dev-full": Path("/dev/full"),
        "under-a-file": regular / "x.json",
        "read-only": readonly,
        "directory": root,
        "missing-folder": root / "no" / "such" / "x.json",
    }
    serve = ("serve", "gpt2", "--rate", "5", "--num-requests", "3", "--prompt-len", "8", "--gen-len", "2")
    commands = {
        "profile --json": ("profile", "gpt2", *QUICK, "--json"),
        "model show --json": ("model", "show", "gpt2", "--json"),
        "hw schema --out": ("hw", "schema", "--out"),
        "hw export --out": ("hw", "export", "rram-chiplet", "--out"),
        "serve --json": (*serve, "--json"),
        "serve --timeline": (*serve, "--timeline"),
    }
    cases = []
    for cname, prefix in commands.items():
        for tname, target in targets.items():
            cases.append(Case("output path", (*prefix, str(target)), name=f"{cname} {tname}"))
    return cases


def trace_cases(root: Path) -> list[Case]:
    """Malformed request traces for serve."""
    header = "arrived_at,num_prefill_tokens,num_decode_tokens\n"
    bodies: dict[str, bytes | str] = {
        "neg.csv": header + "0.0,-3,5\n",
        "zero.csv": header + "0.0,10,0\n",
        "nan.csv": header + "nan,10,5\n",
        "inf.csv": header + "inf,10,5\n",
        "text.csv": header + "abc,10,5\n",
        "short-row.csv": header + "0.0,10\n",
        "huge-tokens.csv": header + "0.0,99999999999,5\n",
        "unsorted.csv": header + "2.0,10,5\n1.0,10,5\n",
        "empty.csv": "",
        "header-only.csv": header,
        "binary.csv": bytes(range(256)) * 4,
        "non-utf8.csv": header.encode() + b"0.0,\xff,5\n",
        "broken.jsonl": '{"timestamp": 0, "input_length": 10\n',
        "wrong-keys.jsonl": '{"a": 1}\n',
        "nan.jsonl": '{"timestamp": NaN, "input_length": 10, "output_length": 5}\n',
        "deep.jsonl": "[" * 50_000 + "]" * 50_000 + "\n",
    }
    cases = []
    for name, body in bodies.items():
        f = _w(root / "traces" / name, body)
        cases.append(Case("trace file", ("serve", "gpt2", "--trace", str(f)), name=name))
    cases.append(Case("trace file", ("serve", "gpt2", "--trace", "/nonexistent.csv"), name="missing"))
    cases.append(Case("trace file", ("serve", "gpt2", "--trace", "/etc"), name="directory"))
    return cases


def build_cases(root: Path) -> list[Case]:
    """Write every hostile file under ``root`` and return all cases."""
    from llmimc.hw import load_spec

    base = load_spec("rram-chiplet").model_dump(mode="json")
    os.makedirs(root / "out", exist_ok=True)
    return [
        *config_cases(root),
        *model_ref_cases(root),
        *spec_cases(root, base),
        *policy_cases(root),
        *flag_cases(root),
        *output_cases(root),
        *trace_cases(root),
    ]
