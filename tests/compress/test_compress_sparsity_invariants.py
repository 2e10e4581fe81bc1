"""N:M sparsity never raises decode latency or energy, in either pattern (hypothesis, random models).

- per-channel N:M (``2:4``): the crossbars keep the pruned weights as zero cells, so mapping and every
  cost are exactly the dense ones;
- array-shared N:M (``2:4:array``): rows leave the arrays; arrays, dynamic energy, decode latency and
  energy per decode step never exceed the dense model's on the same package.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cost"))
from imc_testkit import plan_for, random_graph, random_spec  # noqa: E402

from llmimc.cost.iteration import PrefillChunk  # noqa: E402
from llmimc.cost.model import features  # noqa: E402
from llmimc.errors import MappingError  # noqa: E402
from llmimc.sim.system import build_system  # noqa: E402

cases = st.fixed_dictionaries(
    {
        "layers": st.integers(1, 3),
        "hidden": st.sampled_from([64, 128]),
        "experts": st.sampled_from([1, 4]),
        "chiplets": st.integers(1, 8),
        "topology": st.sampled_from(["ring", "mesh2d", "all_to_all"]),
        "rows": st.sampled_from([64, 128]),
        "bpc": st.sampled_from([1, 2]),
        "wbits": st.sampled_from([4, 8]),
        "nm": st.sampled_from([(2, 4), (1, 4), (4, 8)]),
        "batch": st.sampled_from([1, 3]),
        "past": st.integers(1, 64),
    }
)


def _systems(c):
    g = random_graph(c["layers"], c["hidden"], c["experts"])
    spec = random_spec(c["chiplets"], c["topology"], c["rows"], c["bpc"], False, 4096)
    n, m = c["nm"]
    out = []
    for pattern, (nn, mm) in (("channel", (1, 1)), ("channel", (n, m)), ("array", (n, m))):
        plan = plan_for(g, weight_bits=c["wbits"], n=nn, m=mm, outlier_fraction=0.01, pattern=pattern)
        out.append(build_system(g, spec, plan, batch=c["batch"], max_context_tokens=128))
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases)
def test_sparsity_never_raises_latency_or_energy(c):
    try:
        dense, per_channel, shared = _systems(c)
    except MappingError:  # the dense model does not fit this package: nothing to compare
        return
    decode = [c["past"]] * c["batch"]
    prefill = [PrefillChunk(16, 0)]
    for args in (([], decode), (prefill, [])):
        d, pc, sh = (s.cost_model.iteration_cost(*args) for s in (dense, per_channel, shared))
        assert (pc.latency_s, pc.energy_j, pc.d2d_bytes) == pytest.approx(
            (d.latency_s, d.energy_j, d.d2d_bytes), rel=1e-12
        )
    assert per_channel.mapping.total_arrays == dense.mapping.total_arrays
    assert shared.mapping.total_arrays <= dense.mapping.total_arrays
    f = features([], decode)
    assert float(shared.cost_model.E5 @ f) <= float(dense.cost_model.E5 @ f) * (1 + 1e-9)
    d, sh = (s.cost_model.iteration_cost([], decode) for s in (dense, shared))
    assert sh.latency_s <= d.latency_s * (1 + 1e-9)
    assert sh.energy_j <= d.energy_j * (1 + 1e-9)
