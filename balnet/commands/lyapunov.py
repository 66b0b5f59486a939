"""Lyapunov exponents (QR/Benettin spectrum), micro and macro finite-time exponents, to HDF5.

The trajectory is warmed up for --t-warmup, the tangent frame for
--t-warmup-tangent, then measured for --T with re-orthonormalization every
--t-ons and FTLE windows of --t-window (all in tau).  Parameters come from
``--config FILE.yaml`` (flat keys, or sections ``network:``/``simulation:``/
``lyapunov:``), ``--set KEY=VALUE`` and the flags below, in increasing
priority.  Under ``mpiexec -n R`` the ranks split the realizations (rank r
takes k mod R = r); rank 0 writes the file.  Exponents are in 1/tau.

Example:
  balnet lyapunov --N 1000 --g 2.0 --J0 1.0 --realizations 4 --T 400 --k 8 -o lyapunov.h5
"""
from __future__ import annotations

import numpy as np

from ..chaos.lyapunov import UNITS, LyapunovParams, check_compatible, lyapunov_run
from ..engine.io import H5Writer
from ..engine.parallel import gather_by_realization
from ..engine.params import NetworkParams, SimulationParams
from ..model.simulate import simulation_memory
from ._common import add_common, add_record_flags, collect_records, progress_enabled
from .simulate import rank_setup

NAME = "lyapunov"
HELP = "Lyapunov spectrum, micro and macro FTLE (HDF5)"
ORDER = 20

SECTIONS = {"network": NetworkParams, "simulation": SimulationParams, "lyapunov": LyapunovParams}

_LONG = {
    "spectrum": "asymptotic Lyapunov exponents (QR), descending",
    "lambda_max": "largest Lyapunov exponent",
    "ftle_micro": "finite-time exponent of the leading QR vector per window",
    "ftle_macro": "macro FTLE per window (macro_method)",
    "ftle_spectrum": "finite-time exponents of all k QR vectors per window",
    "convergence": "running estimate of lambda_max after each window",
    "trace_jacobian_mean": "time average of tr D(x(t)) over the measurement",
    "lambda_max_ci": "bootstrap interval (over windows) of the mean micro FTLE",
    "ftle_macro_mean": "mean macro FTLE over windows",
    "ftle_macro_std": "standard deviation of the macro FTLE over windows",
    "ftle_macro_ci": "bootstrap interval (over windows) of the mean macro FTLE",
    "macro_growth": "offset-free macro growth rate per window: slope of log|dnu(t)| over t >= macro_align t_window",
    "macro_offset": "start-direction offset per window: intercept a of log|dnu(t)/dnu(0)| = a + growth t",
    "macro_log_dnu": "log|dnu(t)/dnu(0)| of the linear_nu vector at each lag of each window",
    "divergent": "1: trajectory stopped, its state became non-finite or its RMS exceeded 1e6 (exponents nan)",
}


def add_arguments(p):
    add_common(p)
    add_record_flags(p, NetworkParams, "network")
    add_record_flags(p, SimulationParams, "simulation")
    add_record_flags(p, LyapunovParams, "lyapunov")


def run(args) -> int:
    net, sim, lyap = collect_records(args, [NetworkParams, SimulationParams, LyapunovParams], SECTIONS)
    return run_lyapunov(net, sim, lyap, args.output, progress=progress_enabled(args), command="balnet lyapunov")


def run_lyapunov(net, sim, lyap, output, *, progress=False, command="") -> int:
    """Measure on every MPI rank and write ``output`` from rank 0 (also used by the pipeline)."""

    check_compatible(net, sim, lyap)
    comm, all_ids, mine, xp, rows = rank_setup(net, sim, lambda R, n: lyapunov_memory(net, sim, lyap, R, n))
    res = lyapunov_run(net, sim, lyap, mine, xp=xp, progress=progress and comm.rank == 0, rows=rows)
    window_end = res.pop("window_end")
    lag = res.pop("macro_lag")
    sent = mine if rows is None or rows.rank == 0 else []  # each group's first rank sends
    data = gather_by_realization(comm, sent, res, all_ids)
    if comm.rank == 0:
        write_result(output, data, window_end, net, sim, lyap, all_ids, n_ranks=comm.size, command=command, lag=lag)
    comm.barrier()
    return 0


def lyapunov_memory(net, sim, lyap, realizations: int, rows: int | None = None) -> int:
    """Peak bytes of one rank: the simulation's (couplings, states) plus the k tangent vectors of every
    trial and the solver's copies of them (9 frames with RK4, 8 with Euler, as measured)."""
    frames = (9 if sim.solver == "rk4" else 8) * realizations * sim.trials * lyap.k * net.N
    return simulation_memory(net, sim, realizations, rows) + frames * (4 if sim.dtype == "float32" else 8)


def write_result(output, data, window_end, net, sim, lyap, all_ids, *, n_ranks=1, command="", lag=None) -> None:
    """Write the arrays of :func:`balnet.chaos.lyapunov.lyapunov_run` (gathered over realizations) atomically."""

    k = int(lyap.k)
    with H5Writer(output, kind="lyapunov", params={"network": net, "simulation": sim, "lyapunov": lyap},
                  root_seed=sim.seed, realization_ids=all_ids, n_ranks=n_ranks, command=command,
                  dt=sim.dt, time_units="tau", n_E=net.N_E, t_ons=lyap.t_ons, t_window=lyap.t_window, k=k,
                  macro_method=lyap.macro_method, t_warmup_tangent=lyap.t_warmup_tangent,
                  T_measure=sim.T, ci_level=lyap.ci, macro_align=lyap.macro_align) as w:
        w.coord("realization", np.asarray(all_ids), long_name="connectivity realization id")
        w.coord("trial", np.arange(sim.trials), long_name="trial (initial state / noise draw)")
        w.coord("exponent", np.arange(k), long_name="index of the Lyapunov exponent (0 = largest)")
        w.coord("window", np.arange(len(window_end)), long_name="FTLE window index")
        lo, hi = (1 - lyap.ci) / 2, (1 + lyap.ci) / 2
        w.coord("bound", np.asarray([lo, hi]), long_name="bootstrap quantile of the interval")
        w.variable("window_end", np.asarray(window_end), dims=("window",), units="tau",
                   long_name="end of the window after the start of the measurement")
        if lag is None:
            lag = np.arange(1, int(round(lyap.t_window / lyap.t_ons)) + 1) * lyap.t_ons
        w.coord("lag", np.asarray(lag, dtype=float), units="tau", long_name="time since the window start")
        rt = ("realization", "trial")
        dims = {
            "spectrum": (*rt, "exponent"),
            "lambda_max": rt,
            "ftle_micro": (*rt, "window"),
            "ftle_macro": (*rt, "window"),
            "ftle_spectrum": (*rt, "exponent", "window"),
            "convergence": (*rt, "window"),
            "trace_jacobian_mean": rt,
            "lambda_max_ci": (*rt, "bound"),
            "ftle_macro_mean": rt,
            "ftle_macro_std": rt,
            "ftle_macro_ci": (*rt, "bound"),
            "macro_growth": (*rt, "window"),
            "macro_offset": (*rt, "window"),
            "macro_log_dnu": (*rt, "window", "lag"),
            "divergent": rt,
        }
        for name, arr in data.items():
            if name == "divergent":
                arr = np.asarray(arr).astype(np.int8)
            if name in dims:
                long = _LONG[name].replace("(macro_method)", f"({lyap.macro_method})")
                w.variable(name, arr, dims=dims[name], units=UNITS[name], long_name=long)
            elif name.startswith("ftle_macro_"):
                method = name[len("ftle_macro_"):]
                w.variable(name, arr, dims=(*rt, "window"), units="1/tau", long_name=f"macro FTLE per window ({method})")
