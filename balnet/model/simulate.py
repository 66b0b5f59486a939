r"""Batched simulation of the balanced E/I rate network.

:class:`Simulation` advances ``R`` connectivity realizations x ``B`` trials
at once; each step is one batched GEMM ``phi(x) @ J^T`` of shape
``(R, B, N) x (R, N, N)`` on numpy or CuPy.  Population activity
(:math:`\nu_E, \nu_I, m`) and a sample of neurons are recorded every
``record_every`` steps into device buffers that are copied to the host once per
``chunk`` samples and handed to a sink (the HDF5 writer, possibly via MPI).

Inputs: constant ``I0``; white noise :math:`\sigma\,dW` (Euler–Maruyama
increment added after each deterministic step); an arbitrary time series
``(n_steps,)`` or ``(n_steps, N)`` held constant over each step.

With ``sim.partition == "rows"`` the network is split by rows over the ranks of
the ``rows`` communicator (:mod:`balnet.model.partitioned`): each rank holds
its rows of ``J`` and its slice of the state, initial states and noise are drawn
whole from the same streams and sliced, and the recorded populations, sampled
neurons and final state are assembled on the group's first rank.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Callable, Sequence

import numpy as np

from ..engine.backend import get_xp, resolve_dtype, to_numpy
from ..engine.integrators import get_solver
from ..engine.parallel import SerialComm, gather_last
from ..engine.params import ConfigError, NetworkParams, SimulationParams
from ..engine.progress import progress_bar
from ..engine.random import INITIAL, NOISE, normal_block, stream
from .dynamics import RateNetwork, get_gain
from .network import ROW_BLOCK, balance_vector
from .partitioned import PartitionedRateNetwork, partitioned_couplings_T, row_partition

__all__ = ["build_network", "initial_states", "trial_states", "record_indices", "Simulation", "simulate",
           "memory_estimate", "simulation_memory"]


def memory_estimate(net: NetworkParams, realizations: int, dtype, *, states: int = 0, recorded: int = 0,
                    rows: int | None = None) -> int:
    r"""Peak bytes of one rank holding ``realizations`` coupling matrices of ``net`` in ``dtype``.

    .. math::
        M = R\,N\,n\,s + 2 \cdot 8\,\min(B_{\rm row}, N)\,N + s\,(\text{states} + \text{recorded})

    where :math:`R N n s` is the stack ``J^T`` of :func:`build_network` (itemsize ``s``; ``n``
    the rows this rank holds: ``N``, or its share with ``partition: rows``), and the second term
    the transient of drawing one row block (:func:`balnet.model.network.coupling_rows_into`):
    the float64 normals of :data:`~balnet.model.network.ROW_BLOCK` rows and the generator's working copy (measured: two such blocks; the mean part is added row by row).
    ``states`` and ``recorded`` count the further array elements of the caller
    (solver stages, tangent frames, recorder buffers).  Measured against tracemalloc's peak in
    tests/test_cli.py (within 10 %); this is the one place to update when the drawing changes.
    """
    N, s = int(net.N), np.dtype(dtype).itemsize
    n = N if rows is None else int(rows)
    return int(realizations) * N * n * s + 2 * 8 * min(ROW_BLOCK, N) * N + s * (int(states) + int(recorded))


def simulation_memory(net: NetworkParams, sim: SimulationParams, realizations: int, rows: int | None = None) -> int:
    """:func:`memory_estimate` of :class:`Simulation` with ``realizations`` on this rank: the state,
    the solver's stages (RK4: 6 arrays, Euler: 2) and the recorder's chunk buffers (``rows``: the
    rows of ``J`` this rank holds when the network is row-partitioned; states are counted whole,
    an upper bound)."""
    RB = int(realizations) * sim.trials
    stages = 6 if sim.solver == "rk4" else 2
    n_rec = min(sim.n_record, net.N)
    C = min(sim.chunk, sim.n_steps // sim.record_every + 1)
    return memory_estimate(net, realizations, resolve_dtype(sim.dtype), states=(2 + stages) * RB * net.N,
                           recorded=C * RB * (3 + n_rec), rows=rows)


def build_network(net: NetworkParams, ids: Sequence[int], root_seed: int, xp: ModuleType, dtype, I0: float = 0.0,
                  rows=None) -> RateNetwork:
    """Vector field for realizations ``ids`` stacked as ``J`` of shape ``(R, N, N)``.

    ``J^T`` (the layout of the GEMM) is drawn block by block straight into its
    final buffer in ``dtype`` (:func:`~balnet.model.partitioned.partitioned_couplings_T`):
    peak memory is the final matrices plus one float64 block of
    ``ROW_BLOCK x N``.  With a communicator ``rows`` the result is this rank's
    :class:`~balnet.model.partitioned.PartitionedRateNetwork`.
    """
    gain, w = get_gain(net.gain), balance_vector(net)
    if rows is not None:
        part = row_partition(net.N, rows.rank, rows.size)
        JT = partitioned_couplings_T(net, ids, root_seed, part, xp, dtype)
        return PartitionedRateNetwork(JT, gain, comm=rows, part=part, w=w, n_E=net.N_E, I0=I0, xp=xp)
    JT = partitioned_couplings_T(net, ids, root_seed, row_partition(net.N, 0, 1), xp, dtype)
    # a transposed view of the contiguous J^T: RateNetwork keeps J^T without copying it
    return RateNetwork(xp.swapaxes(JT, -1, -2), gain, w=w, n_E=net.N_E, I0=I0, xp=xp)


def initial_states(net: NetworkParams, ids: Sequence[int], trials: int, root_seed: int, std: float, xp: ModuleType, dtype,
                   first: int = 0):
    """Gaussian initial states ``(R, trials, N)``: trial ``b`` of realization ``k`` uses stream ``(k, INITIAL, first + b)``.

    ``std = 0`` gives the state at rest (``x = 0``) without drawing.
    """
    return trial_states(net.N, ids, first, trials, root_seed, std, xp, dtype)


def trial_states(N: int, ids: Sequence[int], first: int, count: int, root_seed: int, std: float, xp: ModuleType, dtype):
    """Initial states ``(R, count, N)`` of ``N`` neurons: sequence ``b`` of realization ``k`` uses stream
    ``(k, INITIAL, first + b)`` (used with ``first > 0`` by the reservoir so test sequences never share a start
    with training ones)."""
    x0 = np.zeros((len(ids), count, N), dtype=dtype)
    if std > 0:
        for i, k in enumerate(ids):
            for b in range(count):
                x0[i, b] = std * stream(root_seed, k, INITIAL, first + b).standard_normal(N)
    return xp.asarray(x0)


def record_indices(net: NetworkParams, n_record: int) -> np.ndarray:
    """``n_record`` neuron indices spread evenly over E and I (proportional to ``f``)."""
    n_record = min(n_record, net.N)
    if n_record == 0:
        return np.zeros(0, dtype=np.int64)
    nE = min(net.N_E, max(1, int(round(n_record * net.f)))) if n_record > 1 else 1
    nI = min(net.N_I, n_record - nE)
    e = np.linspace(0, net.N_E - 1, nE).round().astype(np.int64)
    i = net.N_E + np.linspace(0, net.N_I - 1, nI).round().astype(np.int64) if nI > 0 else np.zeros(0, np.int64)
    return np.unique(np.concatenate([e, i]))


@dataclass
class Chunk:
    """Host arrays of one block of recorded samples (time axis last but one for ``x``)."""

    t: np.ndarray  # (n,)
    nu_E: np.ndarray  # (R, B, n)
    nu_I: np.ndarray
    m: np.ndarray
    x: np.ndarray  # (R, B, n, n_record)

    def as_dict(self) -> dict[str, np.ndarray]:
        return dict(nu_E=self.nu_E, nu_I=self.nu_I, m=self.m, x=self.x)


class Simulation:
    """Simulate realizations ``ids`` of ``net`` under run control ``sim``.

    Parameters
    ----------
    net, sim : NetworkParams, SimulationParams
    ids : sequence of int
        Realization ids (global): realization ``k`` is the same whichever
        batch or MPI rank computes it.
    xp : module, optional
        Array namespace (default: ``get_xp(sim.backend)``).
    x0 : array ``(R, B, N)``, optional
        Initial states (e.g. a previous run's ``final_state``); default Gaussian.
    input_series : array ``(n_total, )`` or ``(n_total, N)``, optional
        External input per step, counted from the start of the warm-up.
    rows : communicator, optional
        With ``sim.partition == "rows"``: the ranks that share these
        realizations by rows (default: this process alone).  Every rank of
        ``rows`` must construct and run the simulation; ``owner`` (rank 0 of
        ``rows``) receives the assembled recordings and final state.
    """

    def __init__(self, net: NetworkParams, sim: SimulationParams, ids: Sequence[int], *, xp=None, x0=None, input_series=None,
                 rows=None):
        self.net, self.sim, self.ids = net, sim, list(ids)
        self.xp = xp if xp is not None else get_xp(sim.backend)
        self.dtype = resolve_dtype(sim.dtype)
        self.rows = (rows if rows is not None else SerialComm()) if sim.partition == "rows" else None
        self.owner = self.rows is None or self.rows.rank == 0
        self.f = build_network(net, self.ids, sim.seed, self.xp, self.dtype, I0=sim.I0, rows=self.rows)
        self.lo, self.hi = (self.f.lo, self.f.hi) if self.rows is not None else (0, net.N)
        self.solver = get_solver(sim.solver)
        if x0 is None:
            self.x0 = initial_states(net, self.ids, sim.trials, sim.seed, sim.init_std, self.xp, self.dtype)
        else:
            x0 = np.asarray(to_numpy(x0), dtype=self.dtype)
            if x0.shape != (len(self.ids), sim.trials, net.N):
                raise ConfigError(f"initial state has shape {x0.shape}, expected {(len(self.ids), sim.trials, net.N)}")
            self.x0 = self.xp.asarray(x0)
        if self.rows is not None:
            self.x0 = self.xp.ascontiguousarray(self.x0[..., self.lo : self.hi])
        self.rec_idx = record_indices(net, sim.n_record)
        local = (self.rec_idx >= self.lo) & (self.rec_idx < self.hi)
        self.rec_local = self.rec_idx[local] - self.lo
        self.n_total = sim.n_warmup_steps + sim.n_steps
        self.series = None
        if input_series is not None:
            s = np.asarray(input_series, dtype=self.dtype)
            if s.ndim not in (1, 2) or s.shape[0] < self.n_total or (s.ndim == 2 and s.shape[1] != net.N):
                raise ConfigError(
                    f"input series must have shape (n_steps,) or (n_steps, N) with n_steps >= {self.n_total}, N={net.N}; got {s.shape}"
                )
            self.series = self.xp.asarray(s[: self.n_total] if s.ndim == 2 else s[: self.n_total, None])
        self.noise_rngs = [stream(sim.seed, k, NOISE) for k in self.ids] if sim.sigma > 0 else []
        self.x = self.x0

    @property
    def n_samples(self) -> int:
        return self.sim.n_steps // self.sim.record_every + 1

    def _noise_block(self, n: int):
        r"""Scaled noise increments :math:`\sigma\sqrt{dt}\,\xi` for the next ``n`` steps, ``(n, R, B, N)``.

        Realization ``k`` draws its ``(n, B, N)`` normals from stream
        ``(k, NOISE)`` in order, so the sequence does not depend on the block
        length or on the other realizations of the batch.  Scaled on the host
        in the state dtype; one host->device copy per block, none per step.
        """
        scale = self.sim.sigma * np.sqrt(self.sim.dt)
        blk = normal_block(self.noise_rngs, n, (self.sim.trials, self.net.N), self.dtype, scale)
        if self.rows is not None:  # every rank draws the whole block and keeps its rows
            blk = np.ascontiguousarray(blk[..., self.lo : self.hi])
        return self.xp.asarray(blk)

    #: upper bound on the bytes of one noise block (its length is at most 256 steps)
    noise_block_bytes = 32 * 2**20

    def run(self, sink: Callable[[Chunk], None], progress: bool = False) -> None:
        r"""Integrate, calling ``sink(chunk)`` with every ``sim.chunk`` recorded samples.

        The hot loop allocates nothing per step and copies nothing between host
        and device: the state advances in place through the solver's stepper
        (preallocated stage buffers), the recorder writes population activity and
        the sampled neurons into preallocated device buffers (copied to the host
        once per ``chunk`` samples), and noise arrives in blocks of up to 256
        steps.  Recording at ``x`` leaves :math:`\phi(x)` in the stepper's rate
        buffer, which the next step's first stage reuses.
        """
        xp, sim, f = self.xp, self.sim, self.f
        dt, R, B = sim.dt, len(self.ids), sim.trials
        nrec = len(self.rec_local)
        rec_idx = xp.asarray(self.rec_local)
        C = min(sim.chunk, self.n_samples)
        bufs = {k: xp.empty((C, R, B), dtype=self.dtype) for k in ("nu_E", "nu_I", "m")}
        bufx = xp.empty((C, R, B, nrec), dtype=self.dtype)
        tbuf = np.empty(C)
        fill = 0
        x = self.x.copy()  # the working state, advanced in place
        stepper = self.solver.stepper(f, x)

        def record(x, t):
            nonlocal fill
            f.populations_into(x, bufs["nu_E"][fill], bufs["nu_I"][fill], bufs["m"][fill], stepper.r)
            stepper.phi_ready = True  # stepper.r now holds phi(x)
            if nrec:
                xp.take(x, rec_idx, axis=-1, out=bufx[fill])
            tbuf[fill] = t
            fill += 1
            if fill == C:
                flush()

        def flush():
            nonlocal fill
            if fill == 0:
                return
            host = {k: np.moveaxis(_host_copy(v[:fill]), 0, -1) for k, v in bufs.items()}
            hx = np.moveaxis(_host_copy(bufx[:fill]), 0, 2)
            if self.rows is not None:  # sampled neurons of all ranks, in index order, on the owner
                hx = gather_last(self.rows, hx)
                if not self.owner:
                    hx = np.zeros(host["m"].shape + (0,), dtype=self.dtype)
            sink(Chunk(t=tbuf[:fill].copy(), x=hx, **host))
            fill = 0

        bar = progress_bar(self.n_total, progress, "simulate")
        noisy = sim.sigma > 0
        NB = int(max(1, min(256, self.noise_block_bytes // max(1, x.size * x.dtype.itemsize))))
        noise = None
        n_warm = sim.n_warmup_steps
        t = -n_warm * dt
        if n_warm == 0:
            record(x, 0.0)
        for i in range(self.n_total):
            if self.series is not None:
                f.external = self.series[i]
            stepper.step(t, x, dt)
            if noisy:
                j = i % NB
                if j == 0:
                    noise = self._noise_block(min(NB, self.n_total - i))
                x += noise[j]
            t = (i + 1 - n_warm) * dt
            if i + 1 == n_warm:
                record(x, 0.0)
            elif i + 1 > n_warm and (i + 1 - n_warm) % sim.record_every == 0:
                record(x, t)
            if bar is not None and (i + 1) % 64 == 0:
                bar.update(64)
        flush()
        if bar is not None:
            bar.update(self.n_total % 64)
            bar.close()
        f.external = None
        self.x = x
        self._final = None
        if self.rows is not None:
            self._final = gather_last(self.rows, to_numpy(x))

    @property
    def final_state(self) -> np.ndarray | None:
        """State ``(R, B, N)`` after :meth:`run` (row-partitioned: whole on the owner, ``None`` on other ranks)."""
        if self.rows is not None:
            return self._final
        return to_numpy(self.x)


def _host_copy(a) -> np.ndarray:
    """A host copy that the recorder may overwrite afterwards (numpy views are copied)."""
    return a.copy() if isinstance(a, np.ndarray) else to_numpy(a)


def simulate(net: NetworkParams, sim: SimulationParams, ids: Sequence[int] | None = None, **kw) -> dict[str, np.ndarray]:
    """Run in memory and return all recordings (convenience API for scripts and tests).

    Returns a dict with ``t`` ``(T,)``, ``nu_E``/``nu_I``/``m`` ``(R, B, T)``,
    ``x`` ``(R, B, T, n_record)``, ``neurons`` ``(n_record,)`` and
    ``final_state`` ``(R, B, N)``.  Row-partitioned (``rows=comm``): collective
    over ``comm``, the dict on its rank 0 and ``None`` on the others.
    """
    ids = list(range(sim.realizations)) if ids is None else list(ids)
    s = Simulation(net, sim, ids, **kw)
    chunks: list[Chunk] = []
    s.run(chunks.append)
    out = {"t": np.concatenate([c.t for c in chunks])}
    for k in ("nu_E", "nu_I", "m"):
        out[k] = np.concatenate([getattr(c, k) for c in chunks], axis=-1)
    out["x"] = np.concatenate([c.x for c in chunks], axis=2)
    out["neurons"] = s.rec_idx
    out["final_state"] = s.final_state
    return out if s.owner else None
