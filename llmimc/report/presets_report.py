"""Report of the precision presets (``llmimc presets``): bits, outliers, sparsity and description."""

from __future__ import annotations

from llmimc.compress.policy import PrecisionPolicy
from llmimc.report.sections import Block, Col, Line, Table
from llmimc.report.units import ratio_pct


def presets_blocks(policies: list[PrecisionPolicy], default: str) -> list[Block]:
    heads = ("preset", "w bits", "a bits", "KV bits", "outliers", "N:M", "description")
    t = Table(
        "precision presets (--precision NAME)",
        [Col(h, "right" if "bits" in h or h == "outliers" else "left") for h in heads],
    )
    for p in policies:
        t.add(
            p.name + (" (default)" if p.name == default else ""),
            str(p.weight_bits),
            str(p.act_bits),
            str(p.kv_bits),
            f"{ratio_pct(p.outlier_fraction, 2)} @ {p.outlier_bits} b" if p.outlier_fraction else "-",
            p.sparsity.text if p.sparsity is not None else "-",
            p.description,
        )
    notes = [Line(p.accuracy, label=f"{p.name} accuracy") for p in policies if p.accuracy]
    sparsity_cost = (
        "one-shot magnitude 2:4 destroys a small model (SmolLM2-135M PPL 15.3 -> 1,519, "
        "shared/audits/accuracy_probe.md); GPTQ on the tiling's fixed mask does not rescue it "
        "(benchmarks/results_accuracy.md): it needs SparseGPT's adaptive mask or retraining"
    )
    hint = "--precision FILE.yaml takes your own policy (same fields; see llmimc/compress/presets/*.yaml)"
    return [
        t,
        *notes,
        Line("--sparsity N:M (e.g. 2:4) adds structured sparsity to any preset", label="sparsity"),
        Line(sparsity_cost, label="sparsity accuracy"),
        Line(hint, label="own policy"),
    ]
