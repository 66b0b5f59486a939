"""Helpers for tests that run the Snakemake workflow (the pipeline and every study).

Snakemake always runs in a copy of the workflow inside a temporary directory (the ``wf``
fixture of conftest.py), so results never land in the repository.  A study test runs its
tiny config as ``smk(wf, "<study>", "--cores", "2", "--configfile", "tests/workflow/<study>.yaml")``
(the target first: ``--configfile`` takes every following word as a file).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = ROOT / "workflow" / "schemas"
SNAKEMAKE = shutil.which("snakemake")
needs_snakemake = pytest.mark.skipif(SNAKEMAKE is None, reason="snakemake not installed")


def env():
    return dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")


def copy_workflow(dest: Path) -> Path:
    """Snakefile, config.yaml, workflow/, cluster/, profiles and tests/workflow/ copied to ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "Snakefile", dest)
    shutil.copy(ROOT / "config.yaml", dest)
    shutil.copytree(ROOT / "workflow", dest / "workflow")
    shutil.copytree(ROOT / "cluster", dest / "cluster")
    (dest / "profiles").symlink_to("workflow/profiles")
    shutil.copytree(ROOT / "tests" / "workflow", dest / "tests" / "workflow")
    return dest


def smk(wf, *args, timeout=600, check=True):
    """Run snakemake in ``wf``; with ``check`` assert it succeeded (showing its output if not)."""
    r = subprocess.run([SNAKEMAKE, *args], cwd=wf, capture_output=True, text=True, env=env(), timeout=timeout)
    if check:
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-6000:]
    return r


def job_counts(text):
    """{rule: count} from Snakemake's 'Job stats' table."""
    m = re.search(r"Job stats:\n.*?\n-+\s+-+\n(.*?)\n\s*\n", text, re.S)
    assert m, text[-2000:]
    out = {}
    for line in m.group(1).splitlines():
        name, n = line.split()
        out[name] = int(n)
    return out


def load_schema(name="config"):
    return yaml.safe_load((SCHEMAS / f"{name}.schema.yaml").read_text())


def validator():
    """Draft 2020-12 validator of config.schema.yaml with the study schemas it references."""
    import jsonschema
    from referencing import Registry, Resource

    registry = Registry().with_resources(
        (p.name, Resource.from_contents(yaml.safe_load(p.read_text()))) for p in SCHEMAS.glob("*.schema.yaml")
    )
    return jsonschema.Draft202012Validator(load_schema(), registry=registry)
