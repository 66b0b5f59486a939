"""The `experiments` Snakemake target (workflow/rules/experiments.smk, `balnet experiment ...`) on the tiny
config tests/workflow/experiments.yaml."""
import numpy as np
import pytest
import yaml
from figcheck import check_png
from snakeutil import ROOT, needs_snakemake, smk, validator

from balnet.engine.io import read
from balnet.engine.params import from_mapping
from balnet.learning.experiments import ExperimentParams
from balnet.learning.pretrain import macro_ftle

TINY = ROOT / "tests" / "workflow" / "experiments.yaml"


def _config():
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    tiny = yaml.safe_load(TINY.read_text())
    cfg["experiment"] = tiny["experiment"]
    cfg["experiments"] = {**cfg["experiments"], **tiny["experiments"]}
    return cfg


def test_schema_accepts_tiny_experiments_config():
    """tests/workflow/experiments.yaml merged over config.yaml passes the JSON schema; a misspelt key fails."""
    cfg = _config()
    validator().validate(cfg)
    assert list(validator().iter_errors(dict(cfg, experiments={**cfg["experiments"], "pool": 2})))


@needs_snakemake
@pytest.mark.slow
def test_snakemake_experiments_target(wf):
    """`snakemake experiments` on the tiny config: the four HDF5 files and figures, the merged parameters
    (N = 20, 3 pools) in the attributes, the candidates' macro FTLE equal to macro_ftle run here in-process
    (1e-10), the kept candidates the lowest / nearest-0 of each pool (enumeration), pre-trained knob values
    inside [pretrain_min, pretrain_max], and paired statistics over the 3 pools.  Measured ~6 s of CPU per
    job, ~100 s wall on a loaded 2-core machine."""
    smk(wf, "experiments", "--cores", "2", "--configfile", "tests/workflow/experiments.yaml")
    res = wf / "results" / "test" / "experiments"
    p = from_mapping(ExperimentParams, _config()["experiments"])
    out = {}
    for name in ("target", "association", "curves", "reward"):
        a, at = read(res / f"{name}.h5")
        assert at["experiment"] == name and at["params"]["experiments"]["N"] == 20
        check_png(res / f"{name}.png", min_panels=1)
        out[name] = (a, at)
    a, at = out["target"]
    f = a["ftle_candidates"]
    assert f.shape == (3, 2)
    cands = list(range(6))
    np.testing.assert_allclose(f, macro_ftle(p.network(), cands, p, xp=np).reshape(3, 2), rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(a["lowest_index"], f.argmin(1))
    np.testing.assert_array_equal(a["nearest0_index"], np.abs(f).argmin(1))
    assert a["test_nrmse"].shape == (3, 3, 2) and np.all(np.isfinite(a["test_nrmse"]))
    assert at["stat_nearest0_vs_lowest_mean_nrmse_n"] == 3
    a, at = out["association"]
    assert np.all((a["knob_value"] >= p.pretrain_min) & (a["knob_value"] <= p.pretrain_max))
    assert a["test_nrmse"].shape == (3, 3) and np.all((a["accuracy"] >= 0) & (a["accuracy"] <= 1))
    assert at["stat_pretrained_vs_untrained_nrmse_n"] == 3
    a, _ = out["curves"]
    assert a["test_nrmse"].shape[:3] == (2, 3, 3) and np.all(np.isfinite(a["test_nrmse"]))
    a, _ = out["reward"]
    assert a["test_nrmse"].shape == (2, 3) and a["eh_train_curve"].shape == (3, 2)
