# Helpers shared by the stages: the sweep as a Paramspace, wildcard constraints
# built from the config, and the command-line arguments that carry the
# configured model parameters to `balnet`.  No science here.
import itertools
import json
import re
import shlex

import pandas as pd
from snakemake.utils import Paramspace

EXP = config["experiment"]
RESULTS = f"results/{EXP}"
LOGS = f"logs/{EXP}"
BENCH = f"{RESULTS}/benchmarks"

# the sweep: every combination of the listed values is one point (one job per stage)
SWEEP = {name: list(values) for name, values in config["sweep"].items()}
SWEEP_NAMES = list(SWEEP)
paramspace = Paramspace(
    pd.DataFrame(list(itertools.product(*SWEEP.values())), columns=SWEEP_NAMES),
    param_sep="~",
)
POINT = paramspace.wildcard_pattern  # e.g. "g~{g}/J0~{J0}"
POINTS = list(paramspace.instance_patterns)  # e.g. ["g~0.5/J0~0.0", ...]


def _as_text(value):
    """How Paramspace writes a value into a path (str of the DataFrame element)."""
    return "{}".format(value)


wildcard_constraints:
    **{
        name: "|".join(re.escape(_as_text(v)) for v in paramspace.dataframe[name].unique())
        for name in SWEEP_NAMES
    },


def _plain(value):
    return value.item() if hasattr(value, "item") else value


def _set_args(mapping):
    """`--set KEY=VALUE` for each item, values as JSON (parsed back by balnet as YAML)."""
    return " ".join(
        shlex.quote(f"--set={k}={json.dumps(_plain(v))}") for k, v in mapping.items()
    )


def model_args(wildcards, sections, accepted=None):
    """balnet flags of a sweep point: config sections, then the point's swept values
    (only those named in ``accepted``, when given: the fields the command takes)."""
    values = {}
    for sec in sections:
        values.update(config.get(sec) or {})
    values.update(
        {k: _plain(v) for k, v in paramspace.instance(wildcards).items() if accepted is None or k in accepted}
    )
    return _set_args(values)


def section_args(section):
    return _set_args(config.get(section) or {})


def omp_threads(wildcards, threads, resources):
    """BLAS threads per MPI rank, so that ranks x threads = the job's cores."""
    return max(1, int(threads) // max(1, int(resources.mpi_ranks)))


def point_labels():
    """Report labels of a per-point figure: one column per swept parameter (wildcards)."""
    return {name: f"{{{name}}}" for name in SWEEP_NAMES}


def point_files(name):
    return [f"{RESULTS}/{p}/{name}" for p in POINTS]


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
    return out
