"""Fisher information of random deep networks: FIM spectra vs mean-field theory, normalization, GD limits, NGD.

  balnet fim run [-c CONFIG] [--set KEY=VALUE] [--M 1000 --L 3 ...] -o point.h5
      one parameter point: ``seeds`` random nets (MPI ranks split them, rank r
      takes seeds k with k mod R = r; rank 0 writes).  For every net: the
      empirical FIM spectrum over T Gaussian inputs from the CT x CT Gram
      (the empirical NTK / T; the P x P FIM is never formed): m_lambda,
      s_lambda, lambda_max and the C+1 largest eigenvalues; the mean-field
      predictions (Karakida, Akaho & Amari, AISTATS 2019: kappa1, kappa2,
      order parameters q, q^, q~) are stored beside them (attributes
      theory_*, variables theory_q*).  With ``lr_scan=true``: full-batch GD on
      MSE at eta = c * 2/lambda_max over a log grid of c, and the divergence
      threshold c* (eta* = c* 2/lambda_max).  With ``ngd=true``: training error
      per step of gd, exact NGD, layer-wise block-diagonal NGD, K-FAC and unit-wise
      NGD at eta = 1/L, 1 and each method's one-step rate (Karakida & Osawa, NeurIPS 2020).

  balnet fim reduce POINT.h5 ... -o summary.h5 [--figure fim.png] [--lr-figure lr.png] [--ngd-figure ngd.png]
                    [--edge-figure edge.png]
      table of all points (mean and standard error over seeds, theory values),
      fitted exponents d log(y)/d log(M) per series (same parameters but M),
      figures: m_lambda*M, s_lambda, lambda_max/M vs M (markers measured,
      lines theory), the GD threshold vs M, NGD training error vs step, and the
      finite-T bulk edge (measured top of the bulk over the old theory (K1-K2)/T
      against gamma = (T-1)/M0, with the input-overlap Marchenko-Pastur edge, and
      the edge from the measured first three moments of the bulk against T).

Parameters come from ``--config FILE.yaml`` (flat keys or a ``fim:`` section),
``--set KEY=VALUE`` and the flags below, in increasing priority.  All
quantities are dimensionless; widths: input alpha0*M, hidden M, outputs C.

Examples:
  balnet fim run --M 1000 --L 3 --activation relu --sigma-w2 2 --sigma-b2 0.1 --seeds 4 -o fim.h5
  balnet fim run --set norm=bn_last --M 500 -o bn.h5
  mpiexec -n 2 balnet fim run --M 400 --set lr_scan=true --set ngd=true -o point.h5
  balnet fim reduce results/*/fim.h5 -o fim_summary.h5 --figure fim.png --lr-figure fim_lr.png
"""
from __future__ import annotations

from ..engine.parallel import gather_by_realization, rank_work
from ..engine.params import ConfigError
from ..studies.fim import FimParams, fim_point, reduce_files, write_point
from ._common import (
    add_common,
    add_inputs,
    add_record_flags,
    collect_records,
    progress_enabled,
    subcommands,
)

NAME = "fim"
HELP = "random deep nets: Fisher-information spectra vs mean-field theory, GD/NGD (HDF5)"
ORDER = 50


def add_arguments(p):
    sub = subcommands(p)
    r = sub("run", "one parameter point (seeds split over MPI ranks)",
            "FIM spectrum, mean-field theory, optional GD threshold and NGD comparison of one point.")
    add_common(r)
    add_record_flags(r, FimParams, "fim")
    d = sub("reduce", "collect points, fit exponents, draw figures", "Reduce fim point files to a summary table and figures.")
    add_inputs(d, "POINT.h5", "point files (kind=fim)", figure="spectrum statistics vs M, measured and theory")
    d.add_argument("--lr-figure", metavar="PNG", help="GD divergence threshold vs M")
    d.add_argument("--ngd-figure", metavar="PNG", help="NGD training error vs step (widest point)")
    d.add_argument("--edge-figure", metavar="PNG",
                   help="finite-T bulk edge: measured / old theory vs (T-1)/M0 with the Marchenko-Pastur edges")


def run(args) -> int:
    if args.what == "run":
        (p,) = collect_records(args, [FimParams], {"fim": FimParams})
        run_point(p, args.output, progress=progress_enabled(args), command="balnet fim run")
        return 0
    if args.what == "reduce":

        reduce_files(args.files, args.output, figure=args.figure, lr_figure=args.lr_figure,
                     ngd_figure=args.ngd_figure, edge_figure=args.edge_figure, command="balnet fim reduce")
        return 0
    raise ConfigError(f"unknown fim action {args.what!r}")


def run_point(p: FimParams, output, *, progress: bool = False, command: str = "") -> dict | None:
    """Compute this rank's seeds, gather on rank 0 and write ``output``; returns the arrays on rank 0."""

    comm, all_ids, mine, xp = rank_work(p.seeds, p.backend)
    res = fim_point(p, mine, xp=xp, progress=progress and comm.rank == 0) if mine else {}
    data = gather_by_realization(comm, mine, res, all_ids, axis=0)
    if comm.rank != 0:
        return None
    write_point(output, p, data, all_ids, n_ranks=comm.size, command=command)
    return data
