"""MPI helpers: rank 0 owns the filesystem; realizations are split by rank.

Rank ``r`` of ``R`` takes realizations ``k`` with ``k mod R == r``.  Each
realization draws from its own spawned stream (:mod:`balnet.engine.random`), and the
batched step treats realizations independently, so results do not depend on
``R``.  ``mpi4py`` is imported only when the process was started by an MPI
launcher (or ``BALNET_MPI=1``); otherwise a serial stand-in is used.
"""
from __future__ import annotations

import os
import sys
from typing import Any, NamedTuple, Sequence

import numpy as np

from .backend import get_xp, select_device

__all__ = ["SerialComm", "get_comm", "my_share", "local_rank", "gather_by_realization", "RankWork", "rank_work"]

_LAUNCH_VARS = ("PMI_RANK", "PMI_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS", "HYDRA_CONTROL_FD")


class SerialComm:
    """The subset of ``mpi4py.MPI.Comm`` balnet uses, for one process."""

    rank = 0
    size = 1

    def Get_rank(self):
        return 0

    def Get_size(self):
        return 1

    def bcast(self, obj, root=0):
        return obj

    def gather(self, obj, root=0):
        return [obj]

    def allgather(self, obj):
        return [obj]

    def barrier(self):
        pass

    def Abort(self, code=1):
        sys.exit(code)


_comm = None


def get_comm():
    """``MPI.COMM_WORLD`` under an MPI launcher, else :class:`SerialComm`."""
    global _comm
    if _comm is None:
        use = os.environ.get("BALNET_MPI", "")
        if use != "0" and (use == "1" or any(v in os.environ for v in _LAUNCH_VARS)):
            try:
                from mpi4py import MPI

                c = MPI.COMM_WORLD
                c.rank, c.size  # noqa: B018
                _comm = c
            except ImportError:
                _comm = SerialComm()
        else:
            _comm = SerialComm()
    return _comm


def my_share(ids: Sequence[int], comm=None) -> list[int]:
    """Realization ids of this rank: ``ids[i]`` with ``i mod size == rank``."""
    comm = comm or get_comm()
    return list(ids)[comm.rank :: comm.size]


def local_rank(comm=None) -> int:
    """Rank among the processes on this node (picks the GPU: local rank mod n_gpus)."""
    comm = comm or get_comm()
    if isinstance(comm, SerialComm):
        return 0
    try:
        from mpi4py import MPI

        return comm.Split_type(MPI.COMM_TYPE_SHARED).rank
    except Exception:
        for v in ("MPI_LOCALRANKID", "OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "PMI_LOCAL_RANK"):
            if v in os.environ:
                return int(os.environ[v])
        return 0


def gather_by_realization(comm, local_ids: Sequence[int], arrays: dict[str, np.ndarray], all_ids: Sequence[int], axis: int = 0):
    """Gather per-rank arrays (realization along ``axis``) to rank 0 in ``all_ids`` order.

    Returns the assembled dict on rank 0 and ``None`` elsewhere.
    """
    parts = comm.gather((list(local_ids), arrays), root=0)
    if comm.rank != 0:
        return None
    pos = {k: i for i, k in enumerate(all_ids)}
    out = {}
    for name in arrays:
        pieces = [(ids, a[name]) for ids, a in parts if len(ids)]
        shape = list(pieces[0][1].shape)
        shape[axis] = len(all_ids)
        buf = np.empty(shape, dtype=pieces[0][1].dtype)
        for ids, a in pieces:
            idx = [pos[k] for k in ids]
            sl = [slice(None)] * buf.ndim
            sl[axis] = idx
            buf[tuple(sl)] = a
        out[name] = buf
    return out


class RankWork(NamedTuple):
    """What one MPI rank computes: ``comm``, all realization ids, this rank's share, the array module."""

    comm: Any
    all_ids: list
    mine: list
    xp: Any


def rank_work(n_realizations: int, backend: str = "auto") -> RankWork:
    """Split realizations ``0..n-1`` over the ranks and bind this rank's GPU (local rank mod GPUs).

    The common prologue of every command that runs realizations under MPI.
    """

    comm = get_comm()
    all_ids = list(range(n_realizations))
    xp = get_xp(backend)
    if xp is not np:
        select_device(local_rank(comm))
    return RankWork(comm, all_ids, my_share(all_ids, comm), xp)
