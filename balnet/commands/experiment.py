"""The project's claims in their own protocols: target generation with macro-FTLE selection, delayed association
with pre-training, learning curves of SGD / GP-SGD / ridge, reward-modulated Hebbian learning (issue 17).

  balnet experiment NAME [-c CONFIG] [--set KEY=VALUE] -o NAME.h5 [--figure NAME.png]

NAME is one of target, association, curves, reward (see balnet.learning.experiments).  Parameters come from
``--config FILE.yaml`` (flat keys or an ``experiments:`` section), ``--set KEY=VALUE`` and the flags below,
in increasing priority.  One process (the experiments are small).  The file holds every per-pool score,
the paired statistics (attributes ``stat_<comparison>_<mean_diff|se|n|n_less|p>``: mean difference of the
first condition minus the second, its standard error, the count of pools where the first is lower and the
Wilcoxon signed-rank p-value) and the parameters.

Examples:
  balnet experiment target --set pools=16 -o target.h5 --figure target.png
  balnet experiment reward -c workflow/experiments/full.yaml -o reward.h5
"""
from __future__ import annotations

import json

import numpy as np

from ..engine.figures import plot_experiment
from ..engine.io import H5Writer
from ..learning.experiments import EXPERIMENTS, ExperimentParams, run_experiment
from ._common import add_common, add_record_flags, collect_records, progress_enabled

NAME = "experiment"
HELP = "claims 2-5 in their own protocols with paired statistics (HDF5 + figure)"
ORDER = 31


def add_arguments(p):
    p.add_argument("name", choices=EXPERIMENTS, help="which experiment")
    add_common(p)
    p.add_argument("--figure", metavar="PNG", help="also draw the experiment's figure to this file")
    add_record_flags(p, ExperimentParams, "experiments")


def run(args) -> int:
    (params,) = collect_records(args, [ExperimentParams], {"experiments": ExperimentParams})
    out = run_experiment(args.name, params, progress=progress_enabled(args))
    write_experiment(args.output, args.name, params, out, command=f"balnet experiment {args.name}")
    if args.figure:
        plot_experiment(args.output, args.figure)
    return 0


def write_experiment(path, name: str, params: ExperimentParams, out: dict, *, command: str = "") -> None:
    """Every array of ``out`` as a variable (axes ``dim_<name>_<i>``), conditions and statistics as attributes."""
    stats = out.get("stats", {})
    flat = {f"stat_{k}_{m}": v for k, d in stats.items() for m, v in d.items()}
    with H5Writer(path, kind=f"experiment_{name}", params={"experiments": params}, root_seed=params.seed,
                  command=command, experiment=name, conditions=",".join(out.get("conditions", out.get("readouts", []))),
                  stats=json.dumps(stats, sort_keys=True), **flat) as w:
        for k, v in out.items():
            if k in ("stats", "conditions", "readouts"):
                continue
            a = np.asarray(v)
            if a.dtype.kind in "US":
                continue
            dims = [f"dim_{k}_{i}" for i in range(a.ndim)]
            for i, dname in enumerate(dims):
                w.coord(dname, np.arange(a.shape[i]))
            w.variable(k, a, dims=dims)
