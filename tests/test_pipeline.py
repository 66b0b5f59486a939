"""The Snakemake pipeline: schema, lint, dry run, a tiny real sweep, kills and reruns, a real scheduler.

Every test runs Snakemake in a copy of the workflow (Snakefile, config.yaml, workflow/,
profiles, cluster/) inside a temporary directory, so results never land in the repository.

* default: schema <-> parameter records, ``snakemake --lint``, dry run of the default config,
  config errors, a killed ``balnet simulate`` leaves no output and a rerun completes, the tiny
  sweep of ``tests/workflow/config.yaml`` end to end (phase diagram, Lyapunov statistics,
  figures, report);
* ``-m slow``: kill Snakemake itself mid-run, unlock, rerun -> complete;
* ``-m scheduler``: the tiny sweep through a running Grid Engine with ``--profile cluster``,
  and a job deleted with ``qdel`` mid-run is detected as failed and resubmitted (``retries``).
"""
import dataclasses
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml
from figcheck import check_png
from snakeutil import (
    ROOT,
    SCHEMAS,
    SNAKEMAKE,
    job_counts,
    load_schema,
    needs_snakemake,
    smk,
    validator,
)
from snakeutil import env as _env

from balnet.engine.io import read, read_attrs
from balnet.engine.params import NetworkParams, SimulationParams
from balnet.model.states import PHASES

TINY = ROOT / "tests" / "workflow" / "config.yaml"


# -- static checks ---------------------------------------------------------------------------


def _records(node, where):
    """(where, "module:Class", properties) of every schema object annotated with x-record."""
    if isinstance(node, dict):
        if "x-record" in node:
            yield where, node["x-record"], node.get("properties", {})
        for k, v in node.items():
            yield from _records(v, f"{where}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _records(v, f"{where}[{i}]")


def test_schema_keys_are_record_fields():
    """Every schema section annotated ``x-record: module:Class`` (config.schema.yaml and each
    study's schema) lists exactly the fields of that record, so any record key is accepted and
    nothing else; every object of every schema file is closed (additionalProperties: false)."""
    import importlib

    seen = set()
    for path in sorted(SCHEMAS.glob("*.schema.yaml")):
        schema = yaml.safe_load(path.read_text())
        for where, ref, props in _records(schema, path.name):
            mod, cls = ref.split(":")
            fields = {f.name for f in dataclasses.fields(getattr(importlib.import_module(mod), cls))}
            assert set(props) == fields, (where, set(props) ^ fields)
            seen.add(ref)

        def closed(node, where):
            if isinstance(node, dict):
                if node.get("type") == "object":
                    assert node.get("additionalProperties") is False, where
                for k, v in node.items():
                    closed(v, f"{where}.{k}")

        closed(schema, path.name)
    assert {"balnet.engine.params:NetworkParams", "balnet.engine.params:SimulationParams", "balnet.chaos.lyapunov:LyapunovParams",
            "balnet.learning.reservoir:LearnParams", "balnet.phases.classify:PhaseCriteria"} <= seen
    sweepable = set(load_schema()["properties"]["sweep"]["properties"])
    assert sweepable <= {f.name for f in dataclasses.fields(NetworkParams)} | {f.name for f in dataclasses.fields(SimulationParams)}


@needs_snakemake
def test_lint_clean(wf):
    r = smk(wf, "--lint")
    assert "Congratulations, your workflow is in a good condition!" in r.stdout + r.stderr


@needs_snakemake
def test_dry_run_default_config(wf):
    """Full default config: 3 x 3 points -> 9 simulate, 9 lyapunov, 9 activity plots, 9 learn,
    3 reductions and the mean-field theory; each study one job per point of its own sweep plus
    its reduction; the workflow profile is picked up; 2 MPI ranks per point with --cores 2;
    paths follow the Paramspace pattern.  ``studies: []`` leaves the studies out of rule all."""
    r = smk(wf, "-n", "-p", "--cores", "2")
    out = r.stdout + r.stderr
    cfg = yaml.safe_load((wf / "config.yaml").read_text())
    n = np.prod([len(v) for v in cfg["sweep"].values()])
    study = {s: int(np.prod([len(v) for v in cfg[s]["sweep"].values()])) for s in ("fim", "dsnn", "kuramoto")}
    expected = {"simulate": n, "lyapunov": n, "plot_activity": n, "learn": n, "reduce_phases": 1,
                "reduce_lyapunov": 1, "reduce_learning": 1, "meanfield_dmft": 1, "all": 1}
    for s, k in study.items():
        expected.update({f"{s}_point": k, f"{s}_reduce": 1})
    if cfg.get("experiments") is not None:
        expected["experiment"] = 4  # target, association, curves, reward
    expected["total"] = sum(expected.values())
    assert job_counts(out) == expected
    assert "mpiexec -n 2 balnet learn" in out
    assert "profiles/default" in out and "mpiexec -n 2 balnet simulate" in out
    assert "results/demo/g~0.5/J0~0.0/run.h5" in out
    assert "--set=g=0.5 --set=J0=0.0" in out
    assert "results/demo/fim/M~100/activation~tanh/fim.h5" in out and "results/demo/kuramoto/n~22/kuramoto.h5" in out
    only = wf / "only.yaml"
    only.write_text("studies: []\n")
    counts = job_counts(smk(wf, "-n", "--cores", "2", "--configfile", str(only)).stdout)
    assert not any(k.startswith(("fim", "dsnn", "kuramoto")) for k in counts) and counts["simulate"] == n


def test_default_and_tiny_configs_are_valid():
    """config.yaml and every tiny test config (studies included) pass the schema, each as
    Snakemake sees it: ``--configfile`` values merged over config.yaml, section by section."""
    v = validator()
    base = yaml.safe_load((ROOT / "config.yaml").read_text())
    for path in (ROOT / "config.yaml", *sorted((ROOT / "tests" / "workflow").glob("*.yaml"))):
        cfg = dict(base)
        for key, value in yaml.safe_load(path.read_text()).items():
            cfg[key] = {**cfg[key], **value} if isinstance(value, dict) and isinstance(cfg.get(key), dict) else value
        errors = list(v.iter_errors(cfg))
        assert not errors, (path.name, [e.message for e in errors])


@pytest.mark.parametrize(
    "section,msg",
    [
        ({"network": {"gg": 1}}, "Additional properties are not allowed ('gg' was unexpected)"),
        ({"network": {"N": 1}}, "1 is less than the minimum of 2"),
        ({"network": {"f": 1.2}}, "1.2 is greater than or equal to the maximum of 1"),
        ({"simulation": {"dt": 0}}, "0 is less than or equal to the minimum of 0"),
        ({"simulation": {"realizations": 2.5}}, "2.5 is not of type 'integer'"),
        ({"sweep": {"h": [1, 2]}}, "('h' was unexpected)"),
        ({"sweep": {"g": []}}, "[] should be non-empty"),
        ({"sweep": {"g": [1.0, 1.0]}}, "has non-unique elements"),
        ({"sweep": {"g": [-1.0]}}, "-1.0 is less than the minimum of 0"),
        ({"experiment": "a/b"}, "does not match"),
    ],
)
def test_schema_rejects_bad_values(section, msg):
    cfg = {"experiment": "x", "sweep": {"g": [1.0]}}
    cfg.update(section)
    errors = [e.message for e in validator().iter_errors(cfg)]
    assert any(msg in e for e in errors), errors


@needs_snakemake
def test_bad_config_stops_snakemake_with_the_key(wf):
    """Through Snakemake itself: misspelt keys are one line each with the closest allowed key, no schema
    dump; a cross-field error (dt >= tau, n_record > N at one sweep point) stops the parse naming the
    point; no job starts."""
    bad = wf / "bad.yaml"
    bad.write_text("experiment: bad\nsweep:\n  g: [1.0]\nnetwork:\n  gg: 1\nsimulaton: {}\n")
    r = smk(wf, "-n", "--configfile", str(bad), check=False)
    out = r.stdout + r.stderr
    assert r.returncode != 0
    assert "config.network: unknown key 'gg' (did you mean 'g'?)" in out
    assert "config: unknown key 'simulaton' (did you mean 'simulation'?)" in out
    assert "$schema" not in out and "additionalProperties" not in out and len(out.splitlines()) < 20
    bad.write_text("experiment: bad\nsweep:\n  N: [100, 10]\nsimulation:\n  n_record: 20\n")
    r = smk(wf, "-n", "--configfile", str(bad), check=False)
    assert r.returncode != 0 and "sweep point N=10: n_record=20 exceeds N=10" in r.stdout + r.stderr
    bad.write_text("experiment: bad\nsweep:\n  g: [1.0]\nsimulation:\n  dt: 2.0\n  solver: euler\n")
    r = smk(wf, "-n", "--configfile", str(bad), check=False)
    assert r.returncode != 0 and "dt=2.0 is not below tau=1" in r.stdout + r.stderr
    assert "Job stats" not in r.stdout + r.stderr


@needs_snakemake
def test_experiment_config_replaces_sweep_and_studies(wf):
    """`--configfile my.yaml` with a 2-point sweep runs 2 points, not the demo's 9 (+ its axes), and no
    study the file does not name; `sweep: {}` is an error, not the demo sweep; a study section named in
    the file brings that study with the file's own study sweep."""
    mine = wf / "mine.yaml"
    mine.write_text("experiment: mine\nsweep:\n  N: [100, 200]\n")
    out = smk(wf, "-n", "--cores", "2", "--configfile", str(mine)).stdout
    counts = job_counts(out)
    assert counts["simulate"] == 2 and counts["lyapunov"] == 2
    assert not any(k.startswith(("fim", "dsnn", "kuramoto", "meanfield", "experiment")) for k in counts)
    assert "results/mine/N~100/run.h5" in out and "g~" not in out
    mine.write_text("experiment: mine\nsweep: {}\n")
    r = smk(wf, "-n", "--configfile", str(mine), check=False)
    assert r.returncode != 0 and "config.sweep: is empty" in r.stdout + r.stderr
    mine.write_text("experiment: mine\nsweep:\n  g: [1.0]\nkuramoto:\n  sweep:\n    n: [22]\n")
    counts = job_counts(smk(wf, "-n", "--cores", "2", "--configfile", str(mine)).stdout)
    assert counts["kuramoto_point"] == 1 and counts["simulate"] == 1 and "fim_point" not in counts


@needs_snakemake
def test_stale_lock_released_only_when_no_snakemake_runs_here(wf):
    """A lock left in .snakemake/locks is kept (with the holder's PID named) while a process whose command
    line says snakemake runs in the directory, and removed once none does."""
    locks = wf / ".snakemake" / "locks"
    locks.mkdir(parents=True)
    (locks / "0.input.lock").write_text("x\n")
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "snakemake-holder"], cwd=wf)
    try:
        r = smk(wf, "-n", "--configfile", str(TINY))
        assert f"Snakemake process(es) {holder.pid} run in this directory" in r.stderr
        assert (locks / "0.input.lock").exists()
    finally:
        holder.kill()
        holder.wait()
    r = smk(wf, "-n", "--configfile", str(TINY))
    assert "removed the stale lock" in r.stderr and not list(locks.glob("*.lock"))


# -- kills and reruns -------------------------------------------------------------------------


def test_killed_simulate_leaves_no_output_and_rerun_completes(tmp_path):
    """SIGKILL `balnet simulate` while it writes: the final path does not exist (only the hidden
    temporary does), so Snakemake can never take it as complete; the rerun writes the whole file."""
    out = tmp_path / "run.h5"
    cmd = [sys.executable, "-m", "balnet", "simulate", "--N", "300", "--T", "400", "--dt", "0.05", "--chunk", "200",
           "--realizations", "2", "--backend", "numpy", "-q", "-o", str(out)]
    p = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    t0 = time.time()
    while not list(tmp_path.glob(".run.h5.tmp-*")) and time.time() - t0 < 60:
        time.sleep(0.05)
    time.sleep(0.5)
    assert p.poll() is None, "finished before it could be killed: make the run longer"
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert not out.exists()
    assert list(tmp_path.glob(".run.h5.tmp-*"))  # the partial file is hidden under another name
    r = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    a, _ = read(out, ["time", "nu_E"])
    assert a["time"].size == 8001 and a["nu_E"].shape == (2, 1, 8001) and np.isfinite(a["nu_E"]).all()


@needs_snakemake
@pytest.mark.slow
def test_killed_snakemake_rerun_completes(wf):
    """Kill the whole Snakemake process group while simulate jobs run; a plain rerun (no --unlock:
    common.smk releases the stale lock when no Snakemake runs in the directory; rerun-incomplete in
    the profile) finishes and every output is valid."""
    cfg = "tests/workflow/config.yaml"
    longer = _longer(wf, 400.0)
    p = subprocess.Popen([SNAKEMAKE, "--cores", "2", "--configfile", cfg, *longer], cwd=wf, env=_env(),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    t0 = time.time()
    while not list((wf / "results").rglob(".run.h5.tmp-*")) and time.time() - t0 < 120:
        time.sleep(0.1)
    time.sleep(0.5)
    assert p.poll() is None
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    assert not list((wf / "results").rglob("run.h5")) or all(_valid_run(f) for f in (wf / "results").rglob("run.h5"))
    assert list((wf / ".snakemake" / "locks").glob("*.lock"))  # the killed run left its lock
    r = smk(wf, "--cores", "2", "--configfile", cfg, *longer)  # no --unlock: the stale lock is released
    assert "removed the stale lock" in r.stderr
    _check_tiny_results(wf, T=400.0)


def _longer(wf, T):
    """Extra config file making the tiny sweep's runs T long (merged after the tiny config)."""
    (wf / "longer.yaml").write_text(f"simulation:\n  T: {T}\n")
    return ["longer.yaml"]


def _valid_run(path):
    try:
        a, attrs = read(path, ["time", "nu_E", "final_state"])
    except Exception:
        return False
    return attrs["kind"] == "simulation" and a["nu_E"].shape[-1] == a["time"].size


# -- a real tiny sweep ---------------------------------------------------------------------------


def _check_tiny_results(wf, T=30.0):
    cfg = yaml.safe_load((wf / "tests" / "workflow" / "config.yaml").read_text())
    res = wf / "results" / cfg["experiment"]
    gs, js = cfg["sweep"]["g"], cfg["sweep"]["J0"]
    R = cfg["simulation"]["realizations"]
    for g in gs:
        for J0 in js:
            d = res / f"g~{float(g)}" / f"J0~{float(J0)}"
            a, attrs = read(d / "run.h5", ["time", "nu_E", "final_state"])
            assert attrs["params"]["network"]["g"] == g and attrs["params"]["network"]["J0"] == J0
            assert attrs["n_ranks"] == 2 and a["nu_E"].shape[:2] == (R, 1)
            assert a["time"][-1] == pytest.approx(T)
            la = read_attrs(d / "lyapunov.h5")
            assert la["kind"] == "lyapunov" and la["params"]["network"]["g"] == g
    pd, attrs = read(res / "phase_diagram.h5")
    assert attrs["kind"] == "phase_diagram"
    assert pd["fractions"].shape == (len(gs), len(js), len(PHASES))
    np.testing.assert_allclose(pd["fractions"].sum(-1), 1.0)
    assert np.isfinite(pd["lambda_max"]).all()  # every point had its Lyapunov file
    assert pd["labels"].min() >= 0
    st, sattrs = read(res / "lyapunov_stats.h5")
    assert sattrs["kind"] == "lyapunov_stats" and st["lambda_max"].shape == (len(gs), len(js), R, 1)
    assert st["icc_mean_macro_growth"].shape == (len(gs), len(js)) and st["macro_curve_growth"].shape[-2] == 3
    n_points = len(gs) * len(js)
    # phase fractions and mean lambda_max; the SCS point g = 0.5, J0 = 0 decays (grey #bdbdbd)
    check_png(res / "phase_diagram.png", 2, colors=("#bdbdbd",))
    check_png(res / "lyapunov_stats.png", 3)
    check_png(res / "ftle_histograms.png", n_points)  # one histogram panel per point
    check_png(res / "macro_ftle.png", 3)  # class curves, offsets, ICCs
    check_png(res / "learning_curves.png", n_points, colors=("tab:blue",))  # one panel per point
    lc, lattrs = read(res / "learning_curves.h5")
    assert lattrs["kind"] == "learning_curves"
    assert lc["test_nrmse"].shape == (len(gs), len(js), 1, cfg["learn"]["realizations"], cfg["learn"]["n_points"])
    assert np.isfinite(lc["test_nrmse"]).all()
    return pd


@needs_snakemake
def test_tiny_sweep_end_to_end(wf):
    """tests/workflow/config.yaml (2 x 2 points, N = 50, 2 realizations) runs locally with 2 MPI
    ranks per point and writes every per-point file and reduction; the SCS point g = 0.5,
    J0 = 0 decays and has lambda_max < 0; a second call has nothing to do; one activity figure
    (a named target) and the report build."""
    smk(wf, "--cores", "2", "--configfile", "tests/workflow/config.yaml")
    pd = _check_tiny_results(wf)
    act = "results/test/g~0.5/J0~0.0/activity.png"
    smk(wf, "--cores", "2", "--configfile", "tests/workflow/config.yaml", "--", act)
    check_png(wf / act, 6, colors=("tab:red", "tab:blue"))  # 3 rows x 2 realizations
    assert np.all(pd["labels"][0, 0] == PHASES.index("decay"))
    assert np.all(pd["lambda_max"][0, 0] < 0)
    r = smk(wf, "-n", "--configfile", "tests/workflow/config.yaml")
    assert "Nothing to be done" in r.stdout + r.stderr
    smk(wf, "--configfile", "tests/workflow/config.yaml", "--report", "report.html")
    html = (wf / "report.html").read_text(errors="replace")
    assert "phase_diagram.png" in html and "ftle_histograms.png" in html and "lyapunov_stats.png" in html
    assert "macro_ftle.png" in html


# -- a real scheduler ----------------------------------------------------------------------------


def _sge_up() -> bool:
    if shutil.which("qsub") is None:
        return False
    try:
        return subprocess.run(["qstat"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.scheduler
@needs_snakemake
def test_grid_engine_profile_end_to_end(wf):
    """`snakemake --profile cluster` on a running Grid Engine (cluster/sge/setup-single-node.sh):
    every job is a qsub job (2 slots for simulate/lyapunov), outputs as in the local run; a
    simulate job deleted with qdel while it runs is reported failed and resubmitted (retries: 1),
    and the sweep still completes."""
    if not _sge_up():
        pytest.skip("no running Grid Engine (run cluster/sge/setup-single-node.sh as root)")
    q = subprocess.run(["qconf", "-sq", "all.q"], capture_output=True, text=True).stdout
    slots = [int(line.split()[1]) for line in q.splitlines() if line.startswith("slots") and line.split()[1].isdigit()]
    # jobs ask for 2 slots; a 1-slot queue would leave them pending forever instead of failing
    assert slots and slots[0] >= 2, f"all.q offers {slots} slots; the profile's jobs need 2"
    cfg = "tests/workflow/config.yaml"
    # longer runs, so that there is a running simulate job to delete
    longer = _longer(wf, 300.0)
    p = subprocess.Popen([SNAKEMAKE, "--profile", "cluster", "--configfile", cfg, *longer], cwd=wf, env=_env(),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    killed = None
    t0 = time.time()
    while killed is None and time.time() - t0 < 120 and p.poll() is None:
        q = subprocess.run(["qstat"], capture_output=True, text=True).stdout
        for line in q.splitlines():
            f = line.split()
            if len(f) >= 5 and f[2].startswith("smk.simula") and f[4] == "r":
                killed = f[0]
                subprocess.run(["qdel", killed], capture_output=True)
                break
        time.sleep(0.2)
    try:
        out, _ = p.communicate(timeout=900)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGTERM)
        raise
    assert p.returncode == 0, out[-6000:]
    assert killed is not None, "no running simulate job seen to delete"
    assert "Submitted job" in out and "external jobid" in out
    assert "Error in rule simulate" in out, out[-4000:]  # the deleted job was noticed ...
    assert out.count("rule simulate:") > 4  # ... and resubmitted
    acct = subprocess.run(["qacct", "-j", killed], capture_output=True, text=True).stdout
    assert re.search(r"exit_status\s+(137|143)|failed\s+100", acct), acct
    _check_tiny_results(wf, T=300.0)
