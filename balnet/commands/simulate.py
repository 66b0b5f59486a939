"""Simulate balanced E/I rate networks and write population activity to HDF5.

Parameters come from ``--config FILE.yaml`` (flat keys, or sections
``network:``/``simulation:``), ``--set KEY=VALUE`` and the flags below, in
increasing priority.  Under ``mpiexec -n R`` the ranks split the realizations
(rank r takes k mod R = r); rank 0 writes the file.  With --partition rows
each network is split by rows over groups of --row-ranks ranks (default: all
ranks), realizations over the groups (ranks = groups x row ranks); the output
is the same as unpartitioned up to rounding.  Time is in units of tau.

Example:
  balnet simulate --N 1000 --g 2.0 --J0 1.0 --realizations 4 --T 200 -o run.h5
"""
from __future__ import annotations

import numpy as np

from ..engine.io import H5Writer, read
from ..engine.memory import local_ranks, require_memory
from ..engine.parallel import gather_by_realization, rank_work, rank_work_rows
from ..engine.params import ConfigError, NetworkParams, SimulationParams
from ..model.network import ROW_BLOCK, row_blocks
from ..model.partitioned import row_partition
from ..model.simulate import Simulation, simulation_memory
from ._common import add_common, add_record_flags, collect_records, progress_enabled

NAME = "simulate"
HELP = "simulate networks, write population activity (HDF5)"
ORDER = 10

def add_arguments(p):
    add_common(p)
    p.add_argument("--input-file", metavar="NPY", help="external input time series (n_steps,) or (n_steps, N), one value per step")
    p.add_argument("--restart", metavar="H5", help="start from the final_state of an earlier run with the same realizations and trials")
    add_record_flags(p, NetworkParams, "network")
    add_record_flags(p, SimulationParams, "simulation")


def load_inputs(args, net, sim):
    series, x0 = None, None
    if args.input_file:
        try:
            series = np.load(args.input_file)
        except (OSError, ValueError) as e:
            raise ConfigError(f"cannot read input file {args.input_file}: {e}") from None
    if args.restart:

        arrays, attrs = read(args.restart, ["final_state"])
        x0 = arrays["final_state"]
        ids = list(attrs.get("realization_ids", []))
        if ids != list(range(sim.realizations)):
            raise ConfigError(f"{args.restart} holds realizations {ids}, not 0..{sim.realizations - 1}")
        if x0.shape[1:] != (sim.trials, net.N):
            raise ConfigError(f"{args.restart} holds states of shape {x0.shape}, incompatible with trials={sim.trials}, N={net.N}")
    return series, x0


def run(args) -> int:
    net, sim = collect_records(args, [NetworkParams, SimulationParams], {"network": NetworkParams, "simulation": SimulationParams})
    series, x0_all = load_inputs(args, net, sim)
    return run_simulation(net, sim, args.output, series=series, x0_all=x0_all, progress=progress_enabled(args),
                          command="balnet simulate")


def check_row_ranks(net, rows) -> None:
    """ConfigError when a row communicator has more ranks than ``J`` has row blocks."""
    if rows is not None and rows.size > row_blocks(net.N):
        raise ConfigError(f"N={net.N} has {row_blocks(net.N)} row blocks of {ROW_BLOCK}, fewer than the {rows.size} row ranks")


def rank_setup(net, sim, memory):
    """This rank's share of a run: ``(comm, all_ids, mine, xp, rows)``, with ``rows`` the row communicator of a
    row-partitioned network (``None`` otherwise), after checking the row ranks and refusing in one line a run whose
    ``memory(realizations_here, rows_here)`` bytes do not fit (simulate and lyapunov)."""
    rows = None
    if sim.partition == "rows":
        try:
            comm, all_ids, mine, xp, rows = rank_work_rows(sim.realizations, sim.backend, sim.row_ranks)
        except ValueError as e:
            raise ConfigError(str(e)) from None
    else:
        comm, all_ids, mine, xp = rank_work(sim.realizations, sim.backend)
    check_row_ranks(net, rows)
    n_rows = None if rows is None else row_partition(net.N, rows.rank, rows.size).n_local
    per_rank = max(1, len(mine))
    require_memory(memory(per_rank, n_rows), f"N={net.N} with {per_rank} realizations per rank",
                   ranks=min(comm.size, local_ranks(comm.size)))
    return comm, all_ids, mine, xp, rows


def run_simulation(net, sim, output, *, series=None, x0_all=None, progress=False, command="") -> int:
    """Simulate on every MPI rank and write ``output`` from rank 0 (also used by the pipeline)."""

    comm, all_ids, mine, xp, rows = rank_setup(net, sim, lambda R, n: simulation_memory(net, sim, R, n))
    x0 = None if x0_all is None else x0_all[mine]
    s = Simulation(net, sim, mine, xp=xp, x0=x0, input_series=series, rows=rows)
    sent = mine if s.owner else []  # row-partitioned: the group's first rank holds the assembled data

    writer = None
    if comm.rank == 0:
        writer = H5Writer(output, kind="simulation", params={"network": net, "simulation": sim},
                          root_seed=sim.seed, realization_ids=all_ids, n_ranks=comm.size, command=command,
                          dt=sim.dt, time_units="tau", n_E=net.N_E)
        writer.__enter__()
    state = {"first": True}

    def sink(chunk):
        data = gather_by_realization(comm, sent, chunk.as_dict(), all_ids)
        if comm.rank != 0:
            return
        if state["first"]:
            state["first"] = False
            writer.coord("time", chunk.t, units="tau", long_name="time after warm-up", resizable=True)
            writer.coord("realization", np.asarray(all_ids), long_name="connectivity realization id")
            writer.coord("trial", np.arange(sim.trials), long_name="trial (initial state / noise draw)")
            writer.coord("neuron", s.rec_idx, long_name="index of recorded neuron (E first)")
            dims3 = ("realization", "trial", "time")
            writer.variable("nu_E", data["nu_E"], dims=dims3, units="1", long_name="mean E rate <phi(x)>_E", resizable_axis=2)
            writer.variable("nu_I", data["nu_I"], dims=dims3, units="1", long_name="mean I rate <phi(x)>_I", resizable_axis=2)
            writer.variable("m", data["m"], dims=dims3, units="1", long_name="macro variable N^-1/2 sum_j w_j phi(x_j)", resizable_axis=2)
            writer.variable("x", data["x"], dims=(*dims3, "neuron"), units="1", long_name="activity x_i of recorded neurons", resizable_axis=2)
        else:
            writer.append("time", chunk.t)
            for k in ("nu_E", "nu_I", "m", "x"):
                writer.append(k, data[k], axis=2)

    ok = False
    try:
        s.run(sink, progress=progress and comm.rank == 0)
        final = gather_by_realization(comm, sent, {"final_state": s.final_state}, all_ids)
        if comm.rank == 0:
            writer.coord("unit", np.arange(net.N), long_name="neuron index (all)")
            writer.variable("final_state", final["final_state"], dims=("realization", "trial", "unit"), units="1",
                            long_name="state x at the end (restart with --restart)")
        ok = True
    finally:
        if writer is not None:
            import sys

            exc = (None, None, None) if ok else sys.exc_info()
            writer.__exit__(*exc)
    return 0
