# Helpers shared by the stages and studies: the config rules (experiment files, checks before any job),
# sweeps as Paramspace grids (Sweep), wildcard constraints built from the config, the registry of study
# outputs, the MPI prefix of the jobs, and the command-line arguments that carry the configured model
# parameters to `balnet`.  No science here.
import dataclasses
import difflib
import importlib
import itertools
import json
import os
import re
import shlex
import sys
from pathlib import Path

import pandas as pd
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import Paramspace, validate

SCHEMAS = Path(workflow.basedir) / "workflow" / "schemas"
# the studies `studies:` may list (the schema's enum): fim, dsnn, kuramoto, meanfield, experiments, ...
STUDIES = tuple(yaml.safe_load((SCHEMAS / "config.schema.yaml").read_text())["properties"]["studies"]["items"]["enum"])


# -- the config: experiment files, unknown keys, the schema, the parameter records -------------------


def apply_experiment_files(config, files):
    """An experiment file (`--configfile my.yaml`) is merged over config.yaml section by section, except
    that it *replaces* what would otherwise add up: the sweep (`sweep:`, and each study's `sweep:`) is
    taken whole from the last file that sets it, and the studies that `rule all` runs are the file's
    `studies:` list or, without one, the studies whose sections the experiment files name (none: only
    the E/I sweep).  config.yaml alone (no --configfile) runs the demo: every study it has."""
    exp = []
    for f in files:
        try:
            exp.append(yaml.safe_load(Path(f).read_text()) or {})
        except (OSError, yaml.YAMLError) as e:
            raise WorkflowError(f"cannot read config file {f}: {e}")
    if not exp:
        return
    for d in exp:
        if "sweep" in d:
            config["sweep"] = d["sweep"]
        for study in STUDIES:
            if isinstance(d.get(study), dict) and "sweep" in d[study]:
                config[study]["sweep"] = d[study]["sweep"]
    if not any("studies" in d for d in exp):
        config["studies"] = [s for s in STUDIES if any(s in d for d in exp)]


def _schema_validator():
    import jsonschema
    from referencing import Registry, Resource

    registry = Registry().with_resources(
        (p.name, Resource.from_contents(yaml.safe_load(p.read_text()))) for p in SCHEMAS.glob("*.schema.yaml")
    )
    schema = yaml.safe_load((SCHEMAS / "config.schema.yaml").read_text())
    return jsonschema.Draft202012Validator(schema, registry=registry)


def config_errors(config):
    """One line per schema violation, an unknown key with the closest allowed one ("did you mean")."""
    lines = []
    for e in sorted(_schema_validator().iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path]):
        where = "config" + "".join(f".{p}" if isinstance(p, str) else f"[{p}]" for p in e.absolute_path)
        if e.validator == "additionalProperties" and isinstance(e.instance, dict):
            allowed = list((e.schema.get("properties") or {}))
            for key in (k for k in e.instance if k not in allowed):
                hint = difflib.get_close_matches(str(key), allowed, n=1)
                lines.append(f"{where}: unknown key {key!r}"
                             + (f" (did you mean {hint[0]!r}?)" if hint else f" (allowed: {', '.join(allowed)})"))
        elif e.validator == "minProperties" and e.instance == {}:
            lines.append(f"{where}: is empty; name at least one swept parameter (e.g. g: [1.5])")
        else:
            lines.append(f"{where}: {e.message}")
    return lines


def _records():
    """{section: record class} from the schemas' x-record annotations; {} where balnet cannot be imported
    (e.g. Snakemake runs outside the package's environment with --use-conda: then each job checks its own)."""
    refs = {}
    main = yaml.safe_load((SCHEMAS / "config.schema.yaml").read_text())
    for name, node in main["properties"].items():
        if isinstance(node, dict) and "x-record" in node:
            refs[name] = node["x-record"]
    for study in STUDIES:
        if study in refs or not (SCHEMAS / f"{study}.schema.yaml").exists():
            continue
        text = (SCHEMAS / f"{study}.schema.yaml").read_text()
        m = re.search(r"x-record:\s*(\S+)", text)
        if m:
            refs[study] = m.group(1)
    try:
        return {name: getattr(importlib.import_module(ref.split(":")[0]), ref.split(":")[1]) for name, ref in refs.items()}
    except ImportError as e:
        print(f"note: {e}; the parameter records are checked in the jobs, not before them", file=sys.stderr)
        return {}


def check_records(config):
    """Build the parameter records of every sweep point (and every study point), as the jobs will, so that a
    value the schema cannot judge alone (dt >= T, dt >= tau with an explicit solver, n_record > N, t_window
    not a multiple of t_ons, ...) stops Snakemake before any job starts."""
    records = _records()
    if not records:
        return
    from balnet.chaos.lyapunov import check_compatible
    from balnet.engine.params import ConfigError, check_together, from_mapping

    def build(names, point):
        out = {}
        for name in names:
            cls = records[name]
            fields = {f.name for f in dataclasses.fields(cls)}
            data = {k: v for k, v in (config.get(name) or {}).items() if k != "sweep"}
            data.update({k: v for k, v in point.items() if k in fields})
            out[name] = from_mapping(cls, data)
        return out

    def where(point):
        return ", ".join(f"{k}={v}" for k, v in point.items()) or "the one point"

    groups = [("network", "simulation", "lyapunov")] + ([("network", "learn")] if config.get("learn") is not None else [])
    for extra in ("phases", "meanfield", "experiments"):
        if config.get(extra) is not None:
            groups.append((extra,))
    for point in _grid_points(config.get("sweep")):
        for names in groups:
            try:
                r = build(names, point)
                check_together(*r.values())
                if "lyapunov" in r:
                    check_compatible(r["network"], r["simulation"], r["lyapunov"])
            except ConfigError as e:
                raise WorkflowError(f"config, sweep point {where(point)}: {e}")
    for study in ("fim", "dsnn", "kuramoto"):
        sec = config.get(study)
        if sec is None or study not in records:
            continue
        for point in _grid_points(sec.get("sweep")):
            try:
                build((study,), point)
            except ConfigError as e:
                raise WorkflowError(f"config {study}, sweep point {where(point)}: {e}")


def schema_fields(section):
    """The keys a config section may hold (= the fields of its parameter record), from the schema."""
    main = yaml.safe_load((SCHEMAS / "config.schema.yaml").read_text())
    return set(main["properties"][section]["properties"])


def _grid_points(spec):
    spec = {k: list(v) for k, v in (spec or {}).items()}
    return [dict(zip(spec, combo)) for combo in itertools.product(*spec.values())]


# -- stale locks -------------------------------------------------------------------------------------


def _snakemake_running_here():
    """PIDs of other Snakemake processes whose working directory is this one (from the process table), or None
    where that cannot be read (then nothing is unlocked)."""
    proc = Path(os.sep, "proc")  # the process table (Linux)
    if not (proc / "self" / "cwd").exists():
        return None
    here = Path.cwd().resolve()
    mine = set()
    pid = os.getpid()
    while pid > 1 and pid not in mine:  # this process and its ancestors (a wrapper script, a shell)
        mine.add(pid)
        try:
            pid = int((proc / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    others = []
    for d in proc.iterdir():
        if not d.name.isdigit() or int(d.name) in mine:
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if "snakemake" in cmd and (d / "cwd").resolve() == here:
                others.append(int(d.name))
        except OSError:
            continue
    return others


def release_stale_lock():
    """After a killed run, `.snakemake/locks` still holds its lock and every rerun would stop with a
    LockException.  When no other Snakemake process runs in this directory on this machine, the lock
    is stale: remove it (as `snakemake --unlock` would) and say so.  Otherwise leave it and say what
    to run.  BALNET_NO_AUTO_UNLOCK=1 switches this off (e.g. a directory shared by several hosts)."""
    locks = Path(".snakemake") / "locks"
    files = sorted(locks.glob("*.lock")) if locks.is_dir() else []
    if not files:
        return
    if os.environ.get("BALNET_NO_AUTO_UNLOCK"):
        return
    others = _snakemake_running_here()
    if others is None:
        print("note: .snakemake/locks holds a lock; if no other Snakemake runs in this directory, "
              "run `snakemake --unlock` once, then rerun", file=sys.stderr)
        return
    if others:
        print(f"note: Snakemake process(es) {', '.join(map(str, others))} run in this directory and hold "
              "its lock; wait for them (or stop them), then rerun", file=sys.stderr)
        return
    for f in files:
        f.unlink(missing_ok=True)
    print("note: removed the stale lock of a killed Snakemake run (no Snakemake process runs in this "
          "directory); incomplete outputs are rerun", file=sys.stderr)


release_stale_lock()
apply_experiment_files(config, workflow.overwrite_configfiles or [])
_errors = config_errors(config)
if _errors:
    raise WorkflowError("invalid config:\n  " + "\n  ".join(_errors))
validate(config, "../schemas/config.schema.yaml")  # fills the schema's defaults
check_records(config)

from balnet.engine.sweep import point_seed

EXP = config["experiment"]
RESULTS = f"results/{EXP}"
LOGS = f"logs/{EXP}"
BENCH = f"{RESULTS}/benchmarks"


def _plain(value):
    return value.item() if hasattr(value, "item") else value


def _as_text(value):
    """How Paramspace writes a value into a path (str of the DataFrame element)."""
    return "{}".format(value)


class Sweep:
    """A grid of parameter values under a path prefix: every combination is one point.

    ``Sweep({"g": [0.5, 2.0], "J0": [0.0, 1.0]}, RESULTS)`` (every combination; or a list of
    points ``[{"g": 0.5, "J0": 0.0}, {"g": 2.0, "J0": 1.0}]``, each one job) gives ``pattern``
    ``RESULTS/g~{g}/J0~{J0}``, ``point`` (the part after the prefix, ``g~{g}/J0~{J0}``, for
    log and benchmark paths), ``points`` (one path per combination), ``files(name)``,
    ``values(wildcards)`` (the swept values of a job), ``constraints`` (a regex per swept
    name, for a rule's ``wildcard_constraints``) and ``labels`` (report labels of a per-point
    figure).  An empty sweep is one point, the prefix itself (``point`` is then ``"all"``).
    Every study builds its grid with this class.
    """

    def __init__(self, spec, prefix):
        if isinstance(spec, list):  # explicit points, each a mapping of the same names
            frame = pd.DataFrame([dict(point) for point in spec])
        else:
            spec = {name: list(values) for name, values in (spec or {}).items()}
            frame = pd.DataFrame(list(itertools.product(*spec.values())), columns=list(spec))
        self.names = list(frame.columns)
        self.prefix = prefix
        if not self.names:
            self.space = None
            self.pattern = prefix
            self.point = "all"
            self.points = [prefix]
            self.constraints = {}
            self.labels = None
            return
        self.space = Paramspace(frame, param_sep="~")
        self.point = self.space.wildcard_pattern
        self.pattern = f"{prefix}/{self.point}"
        self.labels = {name: f"{{{name}}}" for name in self.names}
        self.points = [f"{prefix}/{p}" for p in self.space.instance_patterns]
        self.constraints = {
            name: "|".join(re.escape(_as_text(v)) for v in self.space.dataframe[name].unique())
            for name in self.names
        }

    def files(self, name):
        return [f"{p}/{name}" for p in self.points]

    def values(self, wildcards, accepted=None):
        if self.space is None:
            return {}
        return {
            k: _plain(v)
            for k, v in self.space.instance(wildcards).items()
            if accepted is None or k in accepted
        }


# the E/I sweep of the main stages: results/<experiment>/g~G/J0~J0/...
SWEEP_GRID = Sweep(config["sweep"], RESULTS)
SWEEP_NAMES = SWEEP_GRID.names
paramspace = SWEEP_GRID.space
POINT = SWEEP_GRID.space.wildcard_pattern  # e.g. "g~{g}/J0~{J0}"
POINTS = list(SWEEP_GRID.space.instance_patterns)  # e.g. ["g~0.5/J0~0.0", ...]


wildcard_constraints:
    **SWEEP_GRID.constraints,


def _set_args(mapping):
    """`--set KEY=VALUE` for each item, values as JSON (parsed back by balnet as YAML)."""
    return " ".join(
        shlex.quote(f"--set={k}={json.dumps(_plain(v))}") for k, v in mapping.items()
    )


def model_args(wildcards, sections, accepted=None):
    """balnet flags of a sweep point: config sections, then the point's swept values
    (only those named in ``accepted``, when given: the fields the command takes).  With
    ``independent_points: true`` (and ``seed`` not swept) the root seed becomes the point's own,
    ``balnet.engine.sweep.point_seed(seed, swept values)``: independent draws of the couplings at
    every point instead of common random numbers (the default)."""
    values = {}
    for sec in sections:
        values.update(config.get(sec) or {})
    point = SWEEP_GRID.values(wildcards)
    values.update(SWEEP_GRID.values(wildcards, accepted))
    if config.get("independent_points", False) and "simulation" in sections and "seed" not in point:
        values["seed"] = point_seed((config.get("simulation") or {}).get("seed", 0), point)
    return _set_args(values)


def section_args(section, exclude=()):
    """`--set` flags of a config section (keys in ``exclude``, e.g. a study's ``sweep``, left out)."""
    return _set_args({k: v for k, v in (config.get(section) or {}).items() if k not in exclude})


def study_args(wildcards, section, grid, accepted=None):
    """`--set` flags of a study job: its config section without ``sweep``, then the job's swept values."""
    values = {k: v for k, v in (config.get(section) or {}).items() if k != "sweep"}
    values.update(grid.values(wildcards, accepted))
    return _set_args(values)


def omp_threads(wildcards, threads, resources):
    """BLAS threads per MPI rank, so that ranks x threads = the job's cores."""
    return max(1, int(threads) // max(1, int(resources.mpi_ranks)))


def mpi_ranks(wildcards, threads):
    """MPI ranks of a job: its threads (capped by --cores; profiles set set-threads or set-resources mpi_ranks)."""
    return threads


def mpiexec(wildcards, threads, resources):
    """The prefix of every MPI job: ``OMP_NUM_THREADS=t OPENBLAS_NUM_THREADS=t MKL_NUM_THREADS=t mpiexec -n R``
    with t = threads / R.  Snakemake exports OPENBLAS/MKL_NUM_THREADS = the job's threads, which would give
    every rank all of the job's cores (measured 5-20x slower), so every BLAS thread count is set per rank."""
    t = omp_threads(wildcards, threads, resources)
    return f"OMP_NUM_THREADS={t} OPENBLAS_NUM_THREADS={t} MKL_NUM_THREADS={t} mpiexec -n {resources.mpi_ranks}"


def point_labels():
    """Report labels of a per-point figure: one column per swept parameter (wildcards)."""
    return SWEEP_GRID.labels


def point_files(name):
    return [f"{RESULTS}/{p}/{name}" for p in POINTS]


# final outputs of the sibling studies, registered by their rules files
# (workflow/rules/<study>.smk sets STUDY_OUTPUTS[<study>] when its config section is present);
# `studies:` in the config limits which of them `rule all` builds (their targets always work)
STUDY_OUTPUTS = {}


def all_outputs():
    out = [
        f"{RESULTS}/phase_diagram.h5",
        f"{RESULTS}/phase_diagram.png",
        f"{RESULTS}/lyapunov_stats.h5",
        f"{RESULTS}/lyapunov_stats.png",
        f"{RESULTS}/ftle_histograms.png",
    ]
    if config.get("learn") is not None:
        out += [f"{RESULTS}/learning_curves.h5", f"{RESULTS}/learning_curves.png"]
    if config.get("plots", {}).get("activity", True):
        out += point_files("activity.png")
    wanted = config.get("studies")  # None: every study whose section is present
    for study, files in STUDY_OUTPUTS.items():
        if wanted is None or study in wanted:
            out += files
    return out


def job_ranks(wildcards, threads):
    """MPI ranks of a simulate/lyapunov job.  With ``simulation: {partition: rows, row_ranks: P}``
    in the config: P ranks share each network's rows, times ``threads // P`` realization groups
    (at least one), so the job asks for the ranks the partition needs; otherwise one rank per
    thread, as before."""
    sim = config.get("simulation") or {}
    P = int(sim.get("row_ranks") or 0)
    if sim.get("partition") == "rows" and P > 0:
        return P * max(1, int(threads) // P)
    return int(threads)


def job_gpus(wildcards, threads):
    """GPUs of a simulate/lyapunov job: one per rank with ``backend: cupy`` in the config, else none."""
    if (config.get("simulation") or {}).get("backend") == "cupy":
        return job_ranks(wildcards, threads)
    return 0
