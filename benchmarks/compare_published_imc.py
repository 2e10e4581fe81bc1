"""llmimc against published LLM-on-IMC / weight-stationary chiplet results (prints a markdown table).

Each case is configured as close as the paper's abstract allows (the papers' full configurations are
not public in the abstracts: model stand-ins and lengths are stated per row). For every published
figure the table gives llmimc's value and the error (llmimc / published - 1). Published figures:

- PICNIC (Chong, Wang, Wu, Fong, arXiv 2511.04036, 2025): 3D-stacked RRAM IMC chiplets with a
  photonic network, Llama "8B" inference: 3.95x speed-up and 30x energy efficiency over an Nvidia
  A100, before chiplet clustering and power gating. Here: Llama-3.1-8B on rram-chiplet, w8a8,
  batch 1, 128 prompt / 128 generated tokens, baseline a100.
- IBM NorthPole appliance (Appuswamy et al., IEEE HPEC 2024): 3 B-parameter LLM on 16 NorthPole
  cards (12 nm, digital weight-stationary near-memory compute), 28,356 tokens/s at < 1 ms per token
  per user, 672 W -> 42.2 tokens/J; 72.7x the tokens/s/W of the lowest-latency GPU. Here: phi-2
  (2.7 B) on rram-chiplet, w4a8-outlier, 28 users (28,356 tok/s x 1 ms), 128 / 128 tokens, baseline
  h100.
- IBM NorthPole rack (DeBole et al., arXiv 2511.15950, 2025): Granite-3.3-8b-instruct, 28 users per
  instance at 2,048 context, 2.8 ms inter-token latency; 3 instances on 288 cards at 30 kW (whole
  rack incl. hosts) -> 3 x 28 / 2.8 ms / 30 kW = 1.0 tokens/J. Here: Llama-3.1-8B, w4a8-outlier,
  28 users, 1,024 / 1,024 tokens.

NorthPole is digital near-memory, not analog IMC: its rows test the weight-stationary chiplet
system model (latency, tokens/J), not the crossbar physics.

Usage: python benchmarks/compare_published_imc.py
"""

from __future__ import annotations

from dataclasses import dataclass

from llmimc.compress import build_plan, load_policy, parse_sparsity
from llmimc.hw import load_spec
from llmimc.hw.spec import DigitalBaselineSpec, ImcSystemSpec
from llmimc.model import load_opgraph
from llmimc.sim.profile import ProfileResult, run_profile


@dataclass(frozen=True)
class Case:
    name: str
    model: str
    precision: str
    chiplets: int
    batch: int
    prompt_len: int
    gen_len: int
    baseline: str
    published: dict[str, float]  # metric -> published value


CASES = [
    Case(
        "PICNIC, Llama 8B vs A100",
        "meta-llama/Llama-3.1-8B",
        "w8a8",
        72,
        1,
        128,
        128,
        "a100",
        {"speed-up vs GPU": 3.95, "energy ratio vs GPU": 30.0},
    ),
    Case(
        "NorthPole 16 cards, 3B LLM",
        "microsoft/phi-2",
        "w4a8-outlier",
        16,
        28,
        128,
        128,
        "h100",
        {"tokens/J": 28356 / 672, "TPOT (ms)": 1.0, "energy ratio vs GPU": 72.7},
    ),
    Case(
        "NorthPole rack, Granite 8B",
        "meta-llama/Llama-3.1-8B",
        "w4a8-outlier",
        40,
        28,
        1024,
        1024,
        "h100",
        {"tokens/J": 3 * 28 / 2.8e-3 / 30e3, "TPOT (ms)": 2.8},
    ),
]


def _metrics(r: ProfileResult) -> dict[str, float]:
    s = r.summary
    out = {"tokens/J": 1.0 / s.energy_per_output_token_j, "TPOT (ms)": s.mean_tpot_s * 1e3}
    if r.baseline is not None:
        out["speed-up vs GPU"] = r.baseline.speedup_tpot
        out["energy ratio vs GPU"] = r.baseline.energy_ratio
    return out


def run_case(c: Case) -> dict[str, float]:
    g = load_opgraph(c.model)
    spec = load_spec("rram-chiplet")
    base = load_spec(c.baseline)
    assert isinstance(spec, ImcSystemSpec) and isinstance(base, DigitalBaselineSpec)
    plan = build_plan(g, load_policy(c.precision), parse_sparsity(None))
    r = run_profile(
        g,
        spec.with_chiplets(c.chiplets),
        plan,
        batch=c.batch,
        prompt_len=c.prompt_len,
        gen_len=c.gen_len,
        baseline=base,
    )
    return _metrics(r)


def main() -> None:
    print("| published result | llmimc configuration | metric | published | llmimc | error |")
    print("|---|---|---|---|---|---|")
    for c in CASES:
        got = run_case(c)
        conf = f"{c.model}, {c.precision}, {c.chiplets} x rram-chiplet, batch {c.batch}, {c.prompt_len}/{c.gen_len}"
        for metric, pub in c.published.items():
            val = got[metric]
            print(f"| {c.name} | {conf} | {metric} | {pub:.3g} | {val:.3g} | {val / pub - 1:+.0%} |")


if __name__ == "__main__":
    main()
