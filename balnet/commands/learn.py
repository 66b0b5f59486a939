"""Reservoir computing on balanced networks: learning curves with and without macro-FTLE selection / pre-training.

Parameters come from ``--config FILE.yaml`` (flat keys, or sections
``network:``/``learn:``), ``--set KEY=VALUE`` and the flags below, in
increasing priority.  Under ``mpiexec -n R`` the ranks split the learning
samples (rank r takes samples j with j mod R = r); rank 0 writes the file.
Times are in units of tau; task times (delay, washout, ...) in samples of
dt*substeps tau.

The output (kind "learning") holds test/train NRMSE vs training size per
condition (baseline, select, pretrain, select+pretrain) and learning sample,
task scores (accuracy, memory capacity), SGD epoch curves, the macro FTLE of
every network used and of every selection candidate.

Examples:
  balnet learn --N 200 --g 0.8 --J0 1 --task delayed_association --realizations 8 -o learning.h5
  balnet learn -c config.yaml --set select_pool=4 --set pretrain=true --set spectral_radius=0 -o learning.h5 \
    --figure learning.png
"""
from __future__ import annotations

import numpy as np

from ..engine.figures import plot_learning_curves
from ..engine.io import H5Writer
from ..engine.memory import local_ranks, require_memory
from ..engine.parallel import gather_by_realization, rank_work
from ..engine.params import NetworkParams
from ..learning.reservoir import LearnParams, learning_run
from ..model.simulate import memory_estimate
from ._common import add_common, add_record_flags, collect_records, progress_enabled

NAME = "learn"
HELP = "reservoir computing: learning curves, FTLE selection and pre-training (HDF5)"
ORDER = 30

SAMPLE_AXIS1 = ("test_nrmse", "train_nrmse", "accuracy", "memory_capacity", "gp_predicted_nrmse", "epoch_test_nrmse",
                "epoch_train_nrmse", "sgd_alpha", "network_id", "ftle_macro", "pretrain_value")


def add_arguments(p):
    add_common(p)
    p.add_argument("--figure", metavar="PNG", help="also draw the learning curves to this file")
    add_record_flags(p, NetworkParams, "network")
    add_record_flags(p, LearnParams, "learn")


def run(args) -> int:
    net, learn = collect_records(args, [NetworkParams, LearnParams], {"network": NetworkParams, "learn": LearnParams})
    run_learning(net, learn, args.output, progress=progress_enabled(args), command="balnet learn", figure=args.figure)
    return 0


def run_learning(net: NetworkParams, learn: LearnParams, output, *, progress: bool = False, command: str = "",
                 figure=None) -> dict | None:
    """Compute on every MPI rank, write ``output`` (and ``figure``) from rank 0; returns the arrays on rank 0."""

    comm, all_ids, mine, xp = rank_work(learn.realizations, learn.backend)
    per_rank = -(-learn.realizations // comm.size)
    require_memory(learning_memory(net, learn, per_rank), f"N={net.N} with {per_rank} learning samples per rank",
                   ranks=min(comm.size, local_ranks(comm.size)))
    res = learning_run(net, learn, mine, xp=xp, progress=progress and comm.rank == 0) if mine else {}
    a1 = {k: v for k, v in res.items() if k in SAMPLE_AXIS1}
    a0 = {k: res[k] for k in ("ftle_candidates",) if k in res}
    g1 = gather_by_realization(comm, mine, a1, all_ids, axis=1)
    g0 = gather_by_realization(comm, mine, a0, all_ids, axis=0)
    if comm.rank != 0:
        return None
    data = {**g1, **g0, "n_train": learn.train_sizes()}
    write_learning(output, net, learn, data, all_ids, n_ranks=comm.size, command=command)
    if figure:

        plot_learning_curves(output, figure)
    return data


def learning_memory(net: NetworkParams, learn: LearnParams, samples: int) -> int:
    """A lower bound of the peak bytes of one rank: the couplings of every condition and the stacking copy
    (:func:`balnet.model.simulate.memory_estimate`), the ridge Gram matrices (float64), and the collected
    reservoir states of the training and test data (samples of ``washout + n`` steps; for the trial
    task ``n`` trials of their full length)."""
    n_c = len(learn.conditions())
    itemsize = 4 if learn.dtype == "float32" else 8
    per = 1
    if learn.task == "delayed_association":
        per = learn.t_pre + learn.delay + 2 * learn.jitter + 2 * learn.pulse + learn.t_resp
    steps = (learn.n_train + learn.n_test) * per + 2 * learn.washout
    states = samples * steps * net.N
    gram = samples * net.N * net.N * 8 // itemsize if learn.readout == "ridge" else 0
    return memory_estimate(net, samples * (n_c + 1), learn.dtype, states=states + gram)


def write_learning(path, net: NetworkParams, learn: LearnParams, data: dict, ids, *, n_ranks: int = 1, command: str = ""):
    """Write the learning-curve arrays of :func:`balnet.learning.reservoir.learning_run` (samples gathered) atomically."""

    conds = learn.conditions()
    unit = make_dataset_unit(learn)
    with H5Writer(path, kind="learning", params={"network": net, "learn": learn}, root_seed=learn.seed,
                  realization_ids=ids, n_ranks=n_ranks, command=command, dt=learn.dt,
                  sample_interval=learn.delta, time_units="tau", task=learn.task, readout=learn.readout,
                  train_unit=unit, conditions=",".join(conds)) as w:
        w.coord("condition", np.array(conds, dtype="S"), long_name="baseline / FTLE selection / pre-training")
        w.coord("realization", np.asarray(ids, dtype=np.int64), long_name="learning sample j (anchor realization j*select_pool)")
        w.coord("n_train", np.asarray(data["n_train"], dtype=np.int64), units=unit + "s", long_name="training size")
        d3 = ("condition", "realization", "n_train")
        w.variable("test_nrmse", data["test_nrmse"], dims=d3, units="1", long_name="test NRMSE (clean targets)")
        w.variable("train_nrmse", data["train_nrmse"], dims=d3, units="1", long_name="training NRMSE")
        w.variable("test_nrmse_mean", np.nanmean(data["test_nrmse"], 1), dims=("condition", "n_train"), units="1",
                   long_name="test NRMSE, mean over realizations")
        w.variable("test_nrmse_std", np.nanstd(data["test_nrmse"], 1), dims=("condition", "n_train"), units="1",
                   long_name="test NRMSE, standard deviation over realizations")
        if "accuracy" in data:
            w.variable("accuracy", data["accuracy"], dims=d3, units="1", long_name="fraction of test trials with the right sign")
        if "memory_capacity" in data:
            w.variable("memory_capacity", data["memory_capacity"], dims=d3, units="1",
                       long_name="memory capacity sum_k r^2(y_k, u_{t-k})")
        if "gp_predicted_nrmse" in data:
            w.variable("gp_predicted_nrmse", data["gp_predicted_nrmse"], dims=d3, units="1",
                       long_name="GP learning-curve prediction sqrt(eps(n)/Var y) with evidence estimates")
        if "epoch_test_nrmse" in data:
            E = data["epoch_test_nrmse"].shape[-1]
            w.coord("epoch", np.arange(1, E + 1), long_name="SGD epoch (at the largest training size)")
            d3e = ("condition", "realization", "epoch")
            w.variable("epoch_test_nrmse", data["epoch_test_nrmse"], dims=d3e, units="1", long_name="test NRMSE after each epoch")
            w.variable("epoch_train_nrmse", data["epoch_train_nrmse"], dims=d3e, units="1", long_name="training NRMSE after each epoch")
            w.variable("sgd_alpha", data["sgd_alpha"], dims=("condition", "realization"), units="1",
                       long_name="SGD penalty alpha (evidence estimate for gpsgd)")
        d2 = ("condition", "realization")
        w.variable("network_id", data["network_id"], dims=d2, long_name="connectivity realization k used")
        w.variable("ftle_macro", data["ftle_macro"], dims=d2, units="1/tau", long_name="measured macro FTLE of the network used")
        w.variable("pretrain_value", data["pretrain_value"], dims=d2,
                   long_name=f"pre-trained value of {learn.pretrain_knob} (NaN: not pre-trained)")
        P = data["ftle_candidates"].shape[-1]
        w.coord("candidate", np.arange(P), long_name="candidate i of the selection pool (realization j*P+i)")
        w.variable("ftle_candidates", data["ftle_candidates"], dims=("realization", "candidate"), units="1/tau",
                   long_name="macro FTLE of every selection candidate (NaN: not measured)")


def make_dataset_unit(learn: LearnParams) -> str:
    """``"trial"`` or ``"sample"``: what a training unit of the task counts."""
    return "trial" if learn.task == "delayed_association" else "sample"
