"""Dual-sampling neural network: learning by Gibbs sampling of neurons and synapses (Teramae & Tsubo 2022).

  balnet dsnn run [--experiment classify|forget|alternation|sbm] [flags] -o dsnn.h5 [--figure dsnn.png]
      run ``chains`` independent Gibbs chains of a layered probit network whose
      neuron states *and* synaptic weights are sampled (no gradient step) and
      write one HDF5 file (kind "dsnn") plus an optional figure.  Under
      ``mpiexec -n R`` the ranks split the chains (rank r takes chains k with
      k mod R = r; chain k draws from stream(seed, k, DSNN, ...), so results do
      not depend on R); rank 0 writes.

      classify     accuracy vs sweeps on scikit-learn's digits or on noisy binary
                   prototypes: current synaptic sample, one neuron draw, posterior
                   average over the chain, and a same-size MLP trained by
                   backprop; synaptic drift at stationarity; PCA spectrum of
                   hidden activity and its power-law exponent (~1 in cortex,
                   Stringer et al. 2019).
      forget       acquisition, then the data are removed (all neurons free) or
                   switched (labels permuted): accuracy time courses and the two
                   time constants (tau_acquire, tau_forget) in sweeps.
      alternation  two interpretations learned, an ambiguous input presented
                   inside the chain: percept time course, dominance durations,
                   gamma fit (shape, scale) and CV, switches per window.
      sbm          "synaptic Boltzmann machine" (directed probit stand-in): cause
                   neurons learn bars images; role matrix, fraction of prior-like
                   (pruned) synapses and silent neurons over learning.

  balnet dsnn summarize DSNN.h5 ... -o dsnn_summary.h5 [--figure dsnn_summary.png]
      collect the headline numbers (file attributes summary_*) of several runs.

Parameters come from ``--config FILE.yaml`` (flat keys or a ``dsnn:`` section),
``--set KEY=VALUE`` and the flags below, in increasing priority.  Times are in
Gibbs sweeps (one sweep = every free neuron, then every synapse, once).

Examples:
  balnet dsnn run --experiment classify --dataset digits --sweeps 200 -o classify.h5 --figure classify.png
  mpiexec -n 2 balnet dsnn run --experiment forget --chains 4 -o forget.h5
  balnet dsnn summarize classify.h5 forget.h5 -o summary.h5 --figure summary.png
"""
from __future__ import annotations

import numpy as np

from ..engine.parallel import gather_by_realization, rank_work
from ..engine.params import ConfigError
from ..studies.dsnn.core import (
    DSNNParams,
    pad_durations,
    plot_results,
    plot_summary,
    run_chains,
    write_results,
    write_summary,
)
from ._common import (
    add_common,
    add_inputs,
    add_record_flags,
    collect_records,
    progress_enabled,
    subcommands,
)

NAME = "dsnn"
HELP = "dual-sampling neural network: Gibbs sampling of neurons and synapses (HDF5 + figures)"
ORDER = 60


def add_arguments(p):

    sub = subcommands(p)
    r = sub("run", "run one experiment (classify, forget, alternation, sbm)",
            "Run the chains of one dual-sampling experiment and write HDF5 (+ figure).")
    add_common(r)
    r.add_argument("--figure", metavar="PNG", help="also draw the experiment's figure to this file")
    add_record_flags(r, DSNNParams, "dsnn")
    s = sub("summarize", "collect the headline numbers of several runs",
            "Collect the summary_* attributes of dsnn files into one HDF5 (+ figure).")
    add_inputs(s, "DSNN.h5", "outputs of `balnet dsnn run`", figure="also draw the summary figure")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress output")


def run(args) -> int:
    if args.what == "run":
        return _run(args)
    if args.what == "summarize":
        return _summarize(args)
    raise ConfigError(f"unknown dsnn action {args.what!r}")


def _run(args) -> int:

    (p,) = collect_records(args, [DSNNParams], {"dsnn": DSNNParams})
    run_dsnn(p, args.output, progress=progress_enabled(args), command="balnet dsnn run", figure=args.figure)
    return 0


def run_dsnn(p, output, *, progress=False, command="", figure=None):
    """Chains split over MPI ranks, gathered on rank 0, which writes ``output`` (and ``figure``)."""

    comm, all_ids, mine, _ = rank_work(p.chains, p.backend)
    res = run_chains(p, mine, progress=progress and comm.rank == 0)
    if p.experiment == "alternation":
        # ragged axis (number of dominance durations): agree on a common length before gathering
        n = max(comm.allgather(res["durations"].shape[1] if mine else 1))
        if mine:
            res["durations"] = pad_durations([res["durations"], np.zeros((len(mine), n))])[0]
    data = gather_by_realization(comm, mine, res, all_ids, axis=0)
    if comm.rank != 0:
        return None
    summ = write_results(output, p, data, all_ids, n_ranks=comm.size, command=command)
    if figure:
        plot_results(output, figure)
    return summ


def _summarize(args) -> int:

    write_summary(args.files, args.output)
    if args.figure:
        plot_summary(args.output, args.figure)
    return 0
