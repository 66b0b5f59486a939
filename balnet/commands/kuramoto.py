"""Kuramoto oscillators: densest circulant networks with a stable twisted state (MILP), simulation checks.

  balnet kuramoto run [-c YAML] [--set KEY=VALUE] [--n N] [--twists all|1,3,5-8] ... -o n.h5 [--figure sim.png]
      for every twist q (the cases; under ``mpiexec -n R`` rank r takes cases
      i with i mod R = r) solve the integer program "maximize the degree of
      the circulant graph C_n(S) subject to lambda_m <= -margin for every
      nonzero Fourier mode m of the q-twisted state" with HiGHS, re-check every
      solution with the numerical eigenvalues of the full Jacobian, then
      simulate the best network (RK4) from its twisted state plus a small
      perturbation.  Output (kind "kuramoto"): per twist the degree,
      mu = degree/(n-1), the offset set (0/1 mask), solver status and time,
      largest nonzero eigenvalue (closed form and numerical); the spectrum of
      the best network; the simulated twist and in-phase order parameters,
      distance to the twist and its decay rate.

  balnet kuramoto reduce N1.h5 N2.h5 ... -o summary.h5 [--figure mu_vs_n.png]
      best connectivity per n and overall, with the published lower bounds
      15/22 = 0.6818, 0.6828 and 0.6838 on mu_c.

  balnet kuramoto er [--n 50 --p 0.9 --trials 8 ...] -o er.h5
      random initial phases on dense Erdos-Renyi graphs G(n, p) (one graph per
      trial): the in-phase order parameter r(t), which must reach 1.

Time is in units of 1/coupling (unit coupling strength), phases in rad.  The
model, formulas and references are in the docstring of balnet.studies.kuramoto
(``python -c "import balnet.studies.kuramoto.model as k; help(k)"``).

Examples:
  balnet kuramoto run --n 22 -o n22.h5
  mpiexec -n 2 balnet kuramoto run --n 308 --set time_limit=300 -o n308.h5
  balnet kuramoto reduce n22.h5 n44.h5 n308.h5 -o summary.h5 --figure mu_vs_n.png
"""
from __future__ import annotations

import json

import numpy as np

from ..engine.figures import _plt, save
from ..engine.io import H5Writer, read
from ..engine.parallel import gather_by_realization, rank_work
from ..engine.params import ConfigError
from ..engine.progress import progress_bar
from ..studies.kuramoto.model import (
    PUBLISHED_BOUNDS,
    ERParams,
    KuramotoParams,
    er_synchrony,
    family_mu,
    max_degree_twisted,
    plot_mu_vs_n,
    twisted_eigenvalues,
    validate_twist,
)
from ._common import (
    add_common,
    add_inputs,
    add_record_flags,
    collect_records,
    progress_enabled,
    subcommands,
)

NAME = "kuramoto"
HELP = "Kuramoto oscillators: stable twisted states on circulant networks (MILP), simulations (HDF5)"
ORDER = 70

CASE_ARRAYS = ("degree", "feasible", "optimal", "status", "lam_max_closed", "lam_max_numeric", "margin",
               "solve_time", "attempts", "offsets")


def add_arguments(p):

    sub = subcommands(p)
    r = sub("run", "MILP over the twists of one n, numerical re-check, simulation",
            "Densest circulant graphs on n nodes with a strictly stable q-twisted state, per q.")
    add_common(r)
    r.add_argument("--figure", metavar="PNG", help="also draw the simulation of the best network")
    add_record_flags(r, KuramotoParams, "kuramoto")

    d = sub("reduce", "best connectivity per n and overall (HDF5 + figure mu vs n)",
            "Reduce `balnet kuramoto run` files (one per n) to the best mu per n and overall.")
    add_inputs(d, "RUN.h5", "files of `balnet kuramoto run` (kind=kuramoto)", figure="also draw mu vs n with the published bounds")

    e = sub("er", "random phases on dense Erdos-Renyi graphs: in-phase synchrony",
            "In-phase synchrony from random phases on G(n, p), one graph per trial.")
    add_common(e)
    add_record_flags(e, ERParams, "erdos-renyi")


def run(args) -> int:

    if args.what == "run":

        (par,) = collect_records(args, [KuramotoParams], {"kuramoto": KuramotoParams})
        run_cases(par, args.output, progress=progress_enabled(args), command="balnet kuramoto run", figure=args.figure)
        return 0
    if args.what == "reduce":
        reduce_runs(args.files, args.output, figure=args.figure)
        return 0
    if args.what == "er":

        (par,) = collect_records(args, [ERParams], {"er": ERParams})
        run_er(par, args.output, command="balnet kuramoto er")
        return 0
    raise ConfigError(f"unknown action {args.what!r}")


# -- run ---------------------------------------------------------------------------------------
def _solve_cases(par, twists, progress: bool):

    out = {k: [] for k in CASE_ARRAYS}
    bar = progress_bar(len(twists), progress, f"MILP n={par.n}", unit="twist")
    for q in twists:
        r = max_degree_twisted(par.n, q, margin=par.margin, time_limit=par.time_limit, retries=par.retries)
        out["degree"].append(r.degree)
        out["feasible"].append(r.feasible)
        out["optimal"].append(r.optimal)
        out["status"].append(r.status)
        out["lam_max_closed"].append(r.lam_max_closed)
        out["lam_max_numeric"].append(r.lam_max_numeric)
        out["margin"].append(r.margin)
        out["solve_time"].append(r.solve_time)
        out["attempts"].append(r.attempts)
        out["offsets"].append(r.mask())
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    dtypes = dict(degree=np.int64, feasible=np.int8, optimal=np.int8, status=np.int64, attempts=np.int64,
                  offsets=np.int8)
    width = par.n // 2
    return {k: (np.asarray(v, dtype=dtypes.get(k, np.float64)) if v else
                np.zeros((0, width) if k == "offsets" else (0,), dtype=dtypes.get(k, np.float64)))
            for k, v in out.items()}


def best_case(data: dict, twists) -> int | None:
    """Index of the verified case of largest degree (ties: smallest q); ``None`` when none is feasible."""
    deg = np.where(data["feasible"] > 0, data["degree"], -1)
    if deg.size == 0 or deg.max() < 0:
        return None
    return int(np.flatnonzero(deg == deg.max())[0])


def run_cases(par, output, *, progress: bool = False, command: str = "", figure=None) -> dict | None:
    """MILP of every twist (cases split over MPI ranks), simulation of the best network on rank 0, HDF5."""

    twists = par.twist_list()
    comm, all_ids, mine, xp = rank_work(len(twists), par.backend)
    local = _solve_cases(par, [twists[i] for i in mine], progress and comm.rank == 0)
    data = gather_by_realization(comm, mine, local, all_ids, axis=0)
    if comm.rank != 0:
        return None
    data["twist"] = np.asarray(twists, dtype=np.int64)
    ib = best_case(data, twists)
    sim = None
    if ib is not None:

        q = twists[ib]
        offs = [int(k) + 1 for k in np.flatnonzero(data["offsets"][ib])]
        data["best_lambda"] = twisted_eigenvalues(par.n, q, offs)
        if par.simulate:
            sim = validate_twist(par.n, q, offs, t_sim=par.t_sim, dt=par.dt, perturbation=par.perturbation,
                                 trials=par.trials, n_save=par.n_save, seed=par.seed, xp=xp)
    write_run(output, par, data, ib, sim, n_ranks=comm.size, command=command)
    if figure:
        plot_simulation(output, figure)
    return {**data, "sim": sim, "best": ib}


def write_run(path, par, data: dict, ib, sim, *, n_ranks: int = 1, command: str = ""):
    """Write the per-twist MILP results (and the best network's spectrum and simulation) atomically."""

    twists = data["twist"]
    extra = dict(n=par.n, best_q=-1, best_degree=0, best_mu=float("nan"), best_offsets="[]", best_lam_max=float("nan"),
                 sim_stays_twisted=-1, total_solve_time=float(np.sum(data["solve_time"])), time_units="1/coupling")
    if ib is not None:
        offs = [int(k) + 1 for k in np.flatnonzero(data["offsets"][ib])]
        extra.update(best_q=int(twists[ib]), best_degree=int(data["degree"][ib]),
                     best_mu=float(data["degree"][ib] / (par.n - 1)), best_offsets=json.dumps(offs),
                     best_lam_max=float(data["lam_max_numeric"][ib]))
        if sim is not None:
            extra["sim_stays_twisted"] = int(np.all(sim["stays_twisted"]))
    with H5Writer(path, kind="kuramoto", params={"kuramoto": par}, root_seed=par.seed,
                  realization_ids=list(range(len(twists))), n_ranks=n_ranks, command=command, **extra) as w:
        w.coord("twist", twists, long_name="twist number q of the twisted state theta_j = 2 pi q j/n")
        w.coord("offset", np.arange(1, par.n // 2 + 1), long_name="circulant offset k (i ~ i +- k mod n)")
        feas = data["feasible"] > 0
        w.variable("degree", data["degree"], dims=("twist",), units="1",
                   long_name="largest degree with a strictly stable q-twist (0: none)")
        w.variable("mu", np.where(feas, data["degree"] / (par.n - 1), np.nan), dims=("twist",), units="1",
                   long_name="connectivity degree/(n-1) (NaN: no stable network found)")
        w.variable("feasible", data["feasible"], dims=("twist",), long_name="1: a network passed the eigenvalue re-check")
        w.variable("optimal", data["optimal"], dims=("twist",), long_name="1: HiGHS proved the degree optimal")
        w.variable("status", data["status"], dims=("twist",),
                   long_name="scipy milp status of the last solve (0 optimal, 1 limit reached, 2 infeasible)")
        w.variable("lam_max_closed", data["lam_max_closed"], dims=("twist",), units="coupling",
                   long_name="largest nonzero-mode Jacobian eigenvalue, closed form")
        w.variable("lam_max_numeric", data["lam_max_numeric"], dims=("twist",), units="coupling",
                   long_name="largest Jacobian eigenvalue without the rotation mode, eigvalsh of the full Jacobian")
        w.variable("margin", data["margin"], dims=("twist",), units="coupling", long_name="margin of the accepted solve")
        w.variable("solve_time", data["solve_time"], dims=("twist",), units="s", long_name="MILP wall time (all attempts)")
        w.variable("attempts", data["attempts"], dims=("twist",), long_name="MILP solves (1 + margin increases)")
        w.variable("offsets", data["offsets"], dims=("twist", "offset"),
                   long_name="offset set S of the best network per twist (1: k in S)")
        if "best_lambda" in data:
            w.coord("mode", np.arange(par.n), long_name="Fourier mode m")
            w.variable("best_lambda", data["best_lambda"], dims=("mode",), units="coupling",
                       long_name="closed-form Jacobian eigenvalues lambda_m of the best network")
        if sim is not None:
            w.coord("time", sim["time"], units="1/coupling", long_name="time")
            w.coord("trial", np.arange(par.trials), long_name="perturbed initial condition b")
            d2 = ("trial", "time")
            w.variable("r_twist", sim["r_twist"], dims=d2, units="1", long_name="twist order parameter r_q")
            w.variable("r_inphase", sim["r_inphase"], dims=d2, units="1", long_name="in-phase order parameter r_0")
            w.variable("distance", sim["distance"], dims=d2, units="rad",
                       long_name="RMS distance to the twisted state modulo rotation")
            w.variable("decay_rate", sim["decay_rate"], dims=("trial",), units="coupling",
                       long_name="slope of log distance over the second half of the run")
            w.variable("stays_twisted", sim["stays_twisted"].astype(np.int8), dims=("trial",),
                       long_name="1: r_q > 0.99 and r_0 < 0.5 at the end")


def plot_simulation(h5, out) -> None:
    """Connectivity per twist, and (when simulated) order parameters and distance to the twist of the best network."""

    a, at = read(h5)
    plt = _plt()
    fig, (ax0, ax1, ax2) = plt.subplots(1, 3, figsize=(12, 3.6))
    ax0.plot(a["twist"], a["mu"], "o", ms=4)
    ax0.set_xlabel("twist q")
    ax0.set_ylabel("best connectivity mu")
    if "time" in a:
        t = a["time"]
        for b in range(a["r_twist"].shape[0]):
            ax1.plot(t, a["r_twist"][b], color="C0", lw=1, label="twist $r_q$" if b == 0 else None)
            ax1.plot(t, a["r_inphase"][b], color="C1", lw=1, label="in-phase $r_0$" if b == 0 else None)
            ax2.semilogy(t, a["distance"][b], color="C2", lw=1)
        lam = float(at["best_lam_max"])
        d0 = float(np.median(a["distance"][:, 0]))
        ax2.semilogy(t, d0 * np.exp(lam * t), "k--", lw=0.8,
                     label=f"exp($\\lambda_{{max}}$ t), $\\lambda_{{max}}$={lam:.3g}")
        ax1.set_ylim(-0.05, 1.05)
        ax1.legend(fontsize=8)
        ax2.legend(fontsize=8)
    else:
        for ax in (ax1, ax2):
            ax.text(0.5, 0.5, "not simulated", ha="center", va="center", transform=ax.transAxes)
    ax1.set_xlabel("time [1/coupling]")
    ax1.set_ylabel("order parameter")
    ax2.set_xlabel("time [1/coupling]")
    ax2.set_ylabel("distance to twist [rad]")
    head = f"n = {at['n']}"
    if int(at["best_q"]) > 0:
        head += f", best: q = {at['best_q']}, degree {at['best_degree']} (mu = {float(at['best_mu']):.4f})"
    else:
        head += ": no circulant graph with a stable twisted state found"
    fig.suptitle(head, fontsize=10)
    fig.tight_layout()
    save(fig, out)


# -- reduce -------------------------------------------------------------------------------------
def reduce_runs(files, output, *, figure=None) -> dict:
    """Best connectivity per n (files of ``kuramoto run``) and overall; writes HDF5 (+ figure)."""

    rows = {}
    for f in files:
        a, at = read(f, kind="kuramoto")
        n = int(at["n"])
        if n in rows:
            raise ConfigError(f"two files for n={n}: {rows[n]['file']} and {f}")
        rows[n] = dict(file=str(f), mu=float(at["best_mu"]), degree=int(at["best_degree"]), q=int(at["best_q"]),
                       lam=float(at["best_lam_max"]), time=float(at["total_solve_time"]),
                       all_optimal=int(np.all(a["optimal"][a["feasible"] > 0] > 0)) if a["feasible"].any() else 0,
                       n_twists=int(a["twist"].size), stays=int(at["sim_stays_twisted"]), offsets=str(at["best_offsets"]))
    ns = np.array(sorted(rows), dtype=np.int64)
    col = {k: np.array([rows[n][k] for n in ns]) for k in ("mu", "degree", "q", "lam", "time", "all_optimal",
                                                           "n_twists", "stays")}
    ok = np.isfinite(col["mu"])
    ib = int(np.nanargmax(np.where(ok, col["mu"], -np.inf))) if ok.any() else None
    best = dict(best_n=-1, best_mu=float("nan"), best_degree=0, best_q=-1, best_offsets="[]")
    if ib is not None:
        nb = int(ns[ib])
        best = dict(best_n=nb, best_mu=float(col["mu"][ib]), best_degree=int(col["degree"][ib]), best_q=int(col["q"][ib]),
                    best_offsets=rows[nb]["offsets"])
    with H5Writer(output, kind="kuramoto_summary", params={}, command="balnet kuramoto reduce",
                  inputs=json.dumps([rows[n]["file"] for n in ns]), time_units="1/coupling",
                  published_bounds=json.dumps([[v, lab] for v, lab in _bounds()]), **best) as w:
        w.coord("n", ns, long_name="number of oscillators")
        w.variable("best_mu", col["mu"], dims=("n",), units="1", long_name="best connectivity degree/(n-1) over twists")
        w.variable("best_degree", col["degree"], dims=("n",), units="1", long_name="degree of the best network")
        w.variable("best_q", col["q"], dims=("n",), long_name="twist of the best network (-1: none)")
        w.variable("best_lam_max", col["lam"], dims=("n",), units="coupling",
                   long_name="largest nonzero-mode eigenvalue of the best network (numerical)")
        w.variable("solve_time", col["time"], dims=("n",), units="s", long_name="MILP wall time over all twists")
        w.variable("all_optimal", col["all_optimal"].astype(np.int8), dims=("n",),
                   long_name="1: every feasible twist was solved to proven optimality")
        w.variable("n_twists", col["n_twists"], dims=("n",), long_name="twists searched")
        w.variable("sim_stays_twisted", col["stays"].astype(np.int8), dims=("n",),
                   long_name="1: every simulated trial stayed twisted (-1: not simulated)")

        w.variable("family_mu", family_mu(ns), dims=("n",), units="1",
                   long_name="(15q-1)/(22q-1) of the family n = 22q (NaN off the family)")
    if figure:

        plot_mu_vs_n(ns[ok], col["mu"][ok], figure, twists=col["q"][ok])
    return {"n": ns, **col, **best}


def _bounds():

    return PUBLISHED_BOUNDS


# -- er -----------------------------------------------------------------------------------------
def run_er(par, output, *, command: str = "") -> dict | None:
    """In-phase synchrony on G(n, p) from random phases (trials split over MPI ranks), HDF5 from rank 0."""

    comm, all_ids, mine, xp = rank_work(par.trials, par.backend)
    res = er_synchrony(par, mine, xp=xp) if mine else {}
    g = gather_by_realization(comm, mine, {k: res[k] for k in ("r", "min_degree", "mu")} if mine else
                              {"r": np.zeros((0, par.n_save + 1)), "min_degree": np.zeros(0), "mu": np.zeros(0)},
                              all_ids, axis=0)
    times = np.linspace(0.0, par.t_sim, par.n_save + 1)
    if comm.rank != 0:
        return None
    with H5Writer(output, kind="kuramoto_er", params={"er": par}, root_seed=par.seed, realization_ids=all_ids,
                  n_ranks=comm.size, command=command, time_units="1/coupling",
                  final_r_min=float(g["r"][:, -1].min())) as w:
        w.coord("trial", np.asarray(all_ids, dtype=np.int64), long_name="graph and initial condition k")
        w.coord("time", times, units="1/coupling", long_name="time")
        w.variable("r", g["r"], dims=("trial", "time"), units="1", long_name="in-phase order parameter r")
        w.variable("min_degree", g["min_degree"], dims=("trial",), units="1", long_name="minimum degree of the graph")
        w.variable("mu", g["mu"], dims=("trial",), units="1", long_name="connectivity min degree/(n-1)")
    return {"time": times, **g}
