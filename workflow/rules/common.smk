# Helpers shared by the stages and studies: sweeps as Paramspace grids (Sweep), wildcard
# constraints built from the config, the registry of study outputs, and the command-line arguments that carry the
# configured model parameters to `balnet`.  No science here.
import itertools
import json
import re
import shlex

import pandas as pd
from snakemake.utils import Paramspace

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
    """BLAS threads per MPI rank, so that ranks x threads = the job's cores.  Rules pass it as
    OMP_NUM_THREADS, OPENBLAS_NUM_THREADS and MKL_NUM_THREADS: Snakemake exports the last two
    as the job's threads, which would give every rank all of the job's cores."""
    return max(1, int(threads) // max(1, int(resources.mpi_ranks)))


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
