"""Kuramoto study output: the per-n search (MILP over twists, certificate, simulation), its HDF5 writer,
the simulation figure, the reduction over n and the Erdos-Renyi synchrony run (``balnet kuramoto``).

File layout of ``kind=kuramoto`` (one n): per twist the degree, mu, offset mask, solver status and time,
largest nonzero-mode eigenvalue (closed form, numerical, and its interval certificate); the spectrum and
simulation of the best network.  ``kind=kuramoto_summary``: best mu per n and overall.
``kind=kuramoto_er``: in-phase order parameter on G(n, p).
"""
from __future__ import annotations

import json
import math

import numpy as np

from ...engine.figures import _plt, save
from ...engine.io import H5Writer, read
from ...engine.parallel import gather_by_realization, rank_work
from ...engine.progress import progress_bar
from .model import (
    CERTIFICATE_METHOD,
    PUBLISHED_BOUNDS,
    er_synchrony,
    family_mu,
    max_degree_twisted,
    parse_pattern,
    plot_mu_vs_n,
    twisted_eigenvalues,
    validate_twist,
)

__all__ = ["CASE_ARRAYS", "best_case", "plot_simulation", "reduce_runs", "run_cases", "run_er", "write_run"]

CASE_ARRAYS = ("degree", "feasible", "optimal", "status", "lam_max_closed", "lam_max_numeric", "margin",
               "solve_time", "attempts", "offsets", "certified", "lam_max_upper", "lam_max_lower")


# -- run ---------------------------------------------------------------------------------------
def _solve_cases(par, twists, progress: bool):
    out = {k: [] for k in CASE_ARRAYS}
    bar = progress_bar(len(twists), progress, f"MILP n={par.n}", unit="twist")
    fixed = parse_pattern(par.pattern, par.n)
    for q in twists:
        r = max_degree_twisted(par.n, q, margin=par.margin, time_limit=par.time_limit, retries=par.retries, fixed=fixed,
                               min_degree=math.ceil(par.mu_min * (par.n - 1) - 1e-9) if par.mu_min > 0 else 0)
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
        out["certified"].append(r.certified)
        out["lam_max_upper"].append(r.lam_max_upper)
        out["lam_max_lower"].append(r.lam_max_lower)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    dtypes = dict(degree=np.int64, feasible=np.int8, optimal=np.int8, status=np.int64, attempts=np.int64,
                  offsets=np.int8, certified=np.int8)
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
    """Write the per-twist MILP results, their stability certificates (and the best network's spectrum and
    simulation) atomically."""
    twists = data["twist"]
    extra = dict(n=par.n, best_q=-1, best_degree=0, best_mu=float("nan"), best_offsets="[]", best_lam_max=float("nan"),
                 sim_stays_twisted=-1, total_solve_time=float(np.sum(data["solve_time"])), time_units="1/coupling",
                 certificate_method=CERTIFICATE_METHOD, best_certified=0, best_lam_max_upper=float("nan"))
    if ib is not None:
        offs = [int(k) + 1 for k in np.flatnonzero(data["offsets"][ib])]
        extra.update(best_q=int(twists[ib]), best_degree=int(data["degree"][ib]),
                     best_mu=float(data["degree"][ib] / (par.n - 1)), best_offsets=json.dumps(offs),
                     best_lam_max=float(data["lam_max_numeric"][ib]), best_certified=int(data["certified"][ib]),
                     best_lam_max_upper=float(data["lam_max_upper"][ib]))
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
        w.variable("certified", data["certified"], dims=("twist",),
                   long_name="1: strict stability of the network proven by interval arithmetic (certificate_method)")
        w.variable("lam_max_upper", data["lam_max_upper"], dims=("twist",), units="coupling",
                   long_name="certified upper bound of the largest nonzero-mode eigenvalue (< 0: stable)")
        w.variable("lam_max_lower", data["lam_max_lower"], dims=("twist",), units="coupling",
                   long_name="certified lower bound of the largest nonzero-mode eigenvalue")
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
    """Best connectivity per n (files of ``kuramoto run``) and overall; writes HDF5 (+ figure).

    Several files of one ``n`` (a sweep that fans out over the twists) are merged: the best network
    of the ``n`` is the best of its files, times and twist counts add up, ``all_optimal`` holds for all.
    """
    rows = {}
    for f in files:
        a, at = read(f, kind="kuramoto")
        n = int(at["n"])
        row = dict(file=str(f), mu=float(at["best_mu"]), degree=int(at["best_degree"]), q=int(at["best_q"]),
                   lam=float(at["best_lam_max"]), time=float(at["total_solve_time"]),
                   all_optimal=int(np.all(a["optimal"][a["feasible"] > 0] > 0)) if a["feasible"].any() else 0,
                   n_twists=int(a["twist"].size), stays=int(at["sim_stays_twisted"]), offsets=str(at["best_offsets"]),
                   certified=int(at.get("best_certified", -1)), upper=float(at.get("best_lam_max_upper", np.nan)))
        if n in rows:
            old = rows[n]
            keep = row if row["degree"] > old["degree"] else old
            row = dict(keep, file=f"{old['file']},{row['file']}", time=old["time"] + row["time"],
                       n_twists=old["n_twists"] + row["n_twists"], all_optimal=min(old["all_optimal"], row["all_optimal"]))
        rows[n] = row
    ns = np.array(sorted(rows), dtype=np.int64)
    col = {k: np.array([rows[n][k] for n in ns]) for k in ("mu", "degree", "q", "lam", "time", "all_optimal",
                                                           "n_twists", "stays", "certified", "upper")}
    ok = np.isfinite(col["mu"])
    ib = int(np.nanargmax(np.where(ok, col["mu"], -np.inf))) if ok.any() else None
    best = dict(best_n=-1, best_mu=float("nan"), best_degree=0, best_q=-1, best_offsets="[]", best_certified=-1,
                best_lam_max_upper=float("nan"))
    if ib is not None:
        nb = int(ns[ib])
        best = dict(best_n=nb, best_mu=float(col["mu"][ib]), best_degree=int(col["degree"][ib]), best_q=int(col["q"][ib]),
                    best_offsets=rows[nb]["offsets"], best_certified=int(col["certified"][ib]),
                    best_lam_max_upper=float(col["upper"][ib]))
    with H5Writer(output, kind="kuramoto_summary", params={}, command="balnet kuramoto reduce",
                  inputs=json.dumps([rows[n]["file"] for n in ns]), time_units="1/coupling",
                  published_bounds=json.dumps([[v, lab] for v, lab in PUBLISHED_BOUNDS]), **best) as w:
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
        w.variable("best_certified", col["certified"].astype(np.int8), dims=("n",),
                   long_name="1: stability of the best network proven by interval arithmetic (-1: file without certificate)")
        w.variable("best_lam_max_upper", col["upper"], dims=("n",), units="coupling",
                   long_name="certified upper bound of the largest nonzero-mode eigenvalue of the best network")
        w.variable("sim_stays_twisted", col["stays"].astype(np.int8), dims=("n",),
                   long_name="1: every simulated trial stayed twisted (-1: not simulated)")
        w.variable("family_mu", family_mu(ns), dims=("n",), units="1",
                   long_name="(15q-1)/(22q-1) of the family n = 22q (NaN off the family)")
    if figure:
        plot_mu_vs_n(ns[ok], col["mu"][ok], figure, twists=col["q"][ok])
    return {"n": ns, **col, **best}


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
