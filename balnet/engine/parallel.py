"""MPI helpers: rank 0 owns the filesystem; realizations are split by rank.

Rank ``r`` of ``R`` takes realizations ``k`` with ``k mod R == r``.  Each
realization draws from its own spawned stream (:mod:`balnet.engine.random`), and the
batched step treats realizations independently, so results do not depend on
``R``.

Row partitions (:func:`rank_work_rows`): the ranks form ``G`` realization
groups of ``P`` ranks each (``ranks = G x P``); group ``g`` takes realizations
``k mod G == g`` and its ``P`` ranks share each network by rows, talking over
the group's own communicator (:func:`allgather_last`, :func:`allreduce_sum`,
:func:`gather_last`).  ``mpi4py`` is imported only when the process was started by an MPI
launcher (or ``BALNET_MPI=1``); otherwise a serial stand-in is used.
"""
from __future__ import annotations

import os
import sys
from typing import Any, NamedTuple, Sequence

import numpy as np

from .backend import array_namespace, get_xp, select_device, synchronize

__all__ = ["SerialComm", "get_comm", "my_share", "local_rank", "gather_by_realization", "RankWork", "rank_work",
           "RankRows", "rank_work_rows", "split_rows", "allgather_last", "allreduce_sum", "gather_last"]

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

    def Split(self, color=0, key=0):
        return self

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


class RankRows(NamedTuple):
    """:class:`RankWork` of a row-partitioned run plus ``rows``, the communicator of this rank's realization group."""

    comm: Any
    all_ids: list
    mine: list
    xp: Any
    rows: Any


def split_rows(comm, row_ranks: int = 0):
    """``(rows, group, n_groups)``: split ``comm`` into groups of ``row_ranks`` consecutive ranks (0: one group).

    Raises ``ValueError`` unless ``row_ranks`` divides the number of ranks.
    """
    size = comm.size
    P = size if row_ranks in (0, None) else int(row_ranks)
    if P < 1 or size % P:
        raise ValueError(f"row_ranks={row_ranks} does not divide the {size} MPI ranks")
    group = comm.rank // P
    rows = comm if P == size else comm.Split(group, comm.rank % P)
    return rows, group, size // P


def rank_work_rows(n_realizations: int, backend: str = "auto", row_ranks: int = 0) -> RankRows:
    """Like :func:`rank_work`, for row-partitioned networks: realizations split over groups, rows within a group.

    Group ``g`` of ``G`` takes realizations ``k mod G == g``; every rank of the group
    lists them in ``mine`` (each holds its block of rows of all of them).
    """
    comm = get_comm()
    rows, group, n_groups = split_rows(comm, row_ranks)
    all_ids = list(range(n_realizations))
    xp = get_xp(backend)
    if xp is not np:
        select_device(local_rank(comm))
    return RankRows(comm, all_ids, all_ids[group::n_groups], xp, rows)


def _mpi_dtype(a):
    from mpi4py import MPI

    return MPI._typedict[np.dtype(a.dtype).char]


def _cuda_aware() -> bool:
    return os.environ.get("BALNET_CUDA_AWARE_MPI", "") == "1"


def _sync(a) -> None:
    if not isinstance(a, np.ndarray):  # a device array: finish its kernels before MPI reads it
        synchronize(array_namespace(a))


def allgather_last(comm, local, full, counts: Sequence[int], packed=None):
    """Gather the last-axis blocks of every rank into ``full`` (shape ``local.shape[:-1] + (sum(counts),)``).

    Rank ``p`` contributes ``local`` (C-contiguous) of last length ``counts[p]``.
    One ``Allgatherv``.  When the leading shape is 1 it lands in ``full``
    directly; otherwise the rank-major result lands in ``packed`` (a flat
    buffer of ``full.size`` elements on the receiving side, allocated when
    ``None``) and is copied into place, ``O(full.size)`` work.  Device arrays
    go through MPI as they are with ``BALNET_CUDA_AWARE_MPI=1`` (CUDA-aware
    MPI), else staged through the host.  Returns ``full``.
    """
    if comm.size == 1:
        full[...] = local
        return full
    on_device = not isinstance(local, np.ndarray)
    staged = on_device and not _cuda_aware()
    _sync(local)
    src = local.get() if staged else local
    lead = int(np.prod(local.shape[:-1], dtype=np.int64))
    if lead == 1 and not staged:
        recv = full
    elif packed is not None:
        recv = packed
    else:
        recv = np.empty(full.size, dtype=src.dtype) if staged or not on_device else _empty_like_flat(full)
    cnt = [lead * int(c) for c in counts]
    displ = [int(d) for d in np.concatenate([[0], np.cumsum(cnt)[:-1]])]
    comm.Allgatherv(src, [recv, cnt, displ, _mpi_dtype(src)])
    if recv is full:
        return full
    flat = recv.reshape(-1)
    lo = 0
    for c in counts:
        piece = flat[lead * lo : lead * (lo + c)].reshape(*full.shape[:-1], c)
        full[..., lo : lo + c] = _to(full, piece)
        lo += c
    return full


def _empty_like_flat(a):
    return array_namespace(a).empty(a.size, dtype=a.dtype)


def _to(like, a):
    """``a`` on the array module of ``like``."""
    if isinstance(like, np.ndarray):
        return a
    return array_namespace(like).asarray(a)


def allreduce_sum(comm, a):
    """Sum ``a`` over the ranks of ``comm`` in place (one ``Allreduce``); returns ``a``."""
    if comm.size == 1:
        return a
    from mpi4py import MPI

    if isinstance(a, np.ndarray) or _cuda_aware():
        _sync(a)
        comm.Allreduce(MPI.IN_PLACE, a, op=MPI.SUM)
        return a
    h = a.get()
    comm.Allreduce(MPI.IN_PLACE, h, op=MPI.SUM)
    a.set(h)
    return a


def gather_last(comm, local: np.ndarray, root: int = 0):
    """Host arrays concatenated along the last axis in rank order on ``root`` (``None`` elsewhere)."""
    if comm.size == 1:
        return local
    parts = comm.gather(np.ascontiguousarray(local), root=root)
    return np.concatenate(parts, axis=-1) if comm.rank == root else None
