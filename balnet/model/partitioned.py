r"""One network over several MPI ranks: ``J`` split by rows.

Rank ``p`` of a row communicator of ``P`` ranks holds the rows
``[lo_p, hi_p)`` of ``J`` (a contiguous run of the fixed row blocks of
:mod:`balnet.model.network`, so the matrix is the same for any ``P``), the
matching slice of the state and of every solver buffer.  One evaluation of

.. math::
    f(x)_i = -x_i + \sum_j J_{ij}\,\phi(x_j) + I_i, \qquad i \in [lo_p, hi_p)

is: the local rates :math:`\phi(x_{lo:hi})`, one ``Allgatherv`` of them
(``N x B`` values per realization), and the local GEMM
``phi(x) @ J[lo:hi]^T``.  Population rates and the macro variable are local
partial sums completed by one ``Allreduce``.  The arithmetic of each row is
that of the unpartitioned network except for the summation order of the
GEMM and of the population sums (rounding level).

Memory per rank: ``(hi - lo) x N`` couplings plus ``O(N B)`` state.
"""
from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import NamedTuple

import numpy as np

from ..engine.parallel import allgather_last, allreduce_sum
from .dynamics import RateNetwork
from .gains import Gain
from .network import block_rows, coupling_rows_into, row_blocks

__all__ = ["PartitionedRateNetwork", "RowPartition", "partitioned_couplings_T", "row_partition"]


class RowPartition(NamedTuple):
    """Rows ``[lo, hi)`` of part ``part`` among ``n_parts``; ``counts[p]`` rows on part ``p``; ``blocks = (b0, b1)``."""

    N: int
    part: int
    n_parts: int
    lo: int
    hi: int
    blocks: tuple
    counts: tuple

    @property
    def n_local(self) -> int:
        return self.hi - self.lo


def row_partition(N: int, part: int, n_parts: int) -> RowPartition:
    """Contiguous split of the :func:`~balnet.model.network.row_blocks` of ``N`` rows over ``n_parts`` parts.

    Part ``p`` takes blocks ``floor(nb p / P) .. floor(nb (p+1) / P) - 1``.
    Raises ``ValueError`` when there are fewer blocks than parts.
    """
    nb = row_blocks(N)
    if n_parts > nb:
        raise ValueError(f"N={N} has {nb} row blocks, fewer than the {n_parts} row partitions")
    edges = [nb * p // n_parts for p in range(n_parts + 1)]
    rows = [block_rows(N, edges[p], edges[p + 1]) for p in range(n_parts)]
    lo, hi = rows[part]
    return RowPartition(N, part, n_parts, lo, hi, (edges[part], edges[part + 1]), tuple(h - l for l, h in rows))


def partitioned_couplings_T(net, ids: Sequence[int], root_seed: int, part: RowPartition, xp: ModuleType, dtype):
    """``J[lo:hi]^T`` of realizations ``ids`` stacked as ``(R, N, hi - lo)`` on ``xp``.

    Drawn block by block (:func:`~balnet.model.network.coupling_rows_into`),
    straight into the transposed layout the GEMM reads: no full-size temporary
    on the host, and on a GPU only one block at a time crosses to the device.
    """
    N, n = net.N, part.n_local
    b0, b1 = part.blocks
    if xp is np:
        JT = np.empty((len(ids), N, n), dtype=dtype)
        for i, k in enumerate(ids):
            coupling_rows_into(net, root_seed, k, JT[i], b0, b1, transposed=True)
        return JT
    JT = xp.empty((len(ids), N, n), dtype=dtype)
    for i, k in enumerate(ids):
        for b in range(b0, b1):
            r0, r1 = block_rows(N, b, b + 1)
            tmp = coupling_rows_into(net, root_seed, k, np.empty((N, r1 - r0), dtype=dtype), b, b + 1, transposed=True)
            JT[i][:, r0 - part.lo : r1 - part.lo] = xp.asarray(tmp)
    return JT


class PartitionedRateNetwork(RateNetwork):
    r"""The vector field of :class:`~balnet.model.dynamics.RateNetwork` on this rank's rows.

    States, slopes and rate buffers have the local shape ``(R, B, hi - lo)``;
    :meth:`rhs_into`, :meth:`stage_into` (inherited, elementwise) and
    :meth:`populations_into` keep the in-place protocol of the steppers, so
    :mod:`balnet.engine.integrators` runs unchanged.  ``external`` may be set to
    a full-length ``(..., N)`` input: the local slice is kept.

    Parameters
    ----------
    JT : array ``(R, N, hi - lo)``
        :func:`partitioned_couplings_T` (used in place, not copied).
    comm : communicator of the ranks sharing the rows (``size == part.n_parts``).
    part : RowPartition
    """

    def __init__(self, JT, gain: Gain, *, comm, part: RowPartition, w=None, n_E: int | None = None, I0: float = 0.0,
                 xp: ModuleType = np):
        self.comm, self.part = comm, part
        self.lo, self.hi = part.lo, part.hi
        super().__init__(xp.swapaxes(JT, -1, -2), gain, w=w, n_E=n_E, I0=I0, xp=xp)
        self.w_local = None if self.w is None else self.w[self.lo : self.hi]
        self._full: dict = {}

    # external input: keep this rank's slice of a full-length input
    @property
    def external(self):
        return self._external

    @external.setter
    def external(self, e):
        if e is not None and getattr(e, "ndim", 0) >= 1 and e.shape[-1] == self.N and self.N != self.hi - self.lo:
            e = e[..., self.lo : self.hi]
        self._external = e

    def gather(self, r):
        """All ranks' local rates ``r`` (``(..., hi - lo)``) as one ``(..., N)`` array (a reused buffer)."""
        key = r.shape[:-1]
        if key not in self._full:
            full = self.xp.empty(key + (self.N,), dtype=r.dtype)
            packed = np.empty(full.size, dtype=r.dtype) if self.xp is np and full.size != self.N else None
            self._full[key] = (full, packed)
        full, packed = self._full[key]
        return allgather_last(self.comm, self.xp.ascontiguousarray(r), full, self.part.counts, packed)

    def _full_rates(self, r):
        return self.gather(r)

    def populations_into(self, x, nu_E, nu_I, m, r):
        r"""Population rates and macro variable of the whole network from local rows: one ``Allreduce``."""
        xp = self.xp
        fk = self.fused
        if fk is not None and hasattr(fk, "phi"):
            fk.phi(x, r)
        else:
            self.gain.phi_into(x, r, xp)
        nE = self.n_E if self.n_E is not None else self.N
        e_hi = min(max(nE - self.lo, 0), self.hi - self.lo)  # local E columns: [0, e_hi)
        s = xp.zeros((3,) + x.shape[:-1], dtype=x.dtype)
        if e_hi > 0:
            xp.sum(r[..., :e_hi], axis=-1, out=s[0])
        if e_hi < self.hi - self.lo:
            xp.sum(r[..., e_hi:], axis=-1, out=s[1])
        if self.w_local is not None:
            xp.matmul(r, self.w_local, out=s[2])
        allreduce_sum(self.comm, s)
        nu_E[...] = s[0]
        nu_E /= nE
        if nE < self.N:
            nu_I[...] = s[1]
            nu_I /= self.N - nE
        else:
            xp.multiply(nu_E, 0, out=nu_I)
        if self.w is None:
            xp.multiply(nu_E, 0, out=m)
        else:
            m[...] = s[2]
            m /= np.sqrt(self.N)
        return nu_E, nu_I, m

    def populations(self, x):
        xp = self.xp
        shp = x.shape[:-1]
        nu_E, nu_I, m = (xp.empty(shp, dtype=x.dtype) for _ in range(3))
        return self.populations_into(x, nu_E, nu_I, m, xp.empty_like(x))

    def __call__(self, t, x):
        out = self.recurrent(self.gain.phi(x, self.xp))
        out -= x
        if self.I0 != 0.0:
            out += self.I0
        if self.external is not None:
            out += self.external
        return out

    def jvp(self, x, v):
        r"""Local rows of :math:`D(x) v = -v + (\phi'(x) \odot v) J^T`; ``v`` local ``(R, B, N_loc)`` or ``(R, B, K, N_loc)``."""
        xp = self.xp
        d = self.gain.dphi(x, xp)
        if v.ndim == x.ndim + 1:
            d = d[..., None, :]
            JT = self.JT[:, None] if self.batched else self.JT
        else:
            JT = self.JT
        out = xp.matmul(self.gather(d * v), JT)
        out -= v
        return out

    def jacobian(self, x):
        raise ValueError("jacobian() needs the whole matrix: not available on a row-partitioned network")

    def trace_jacobian(self, x):
        r""":math:`\mathrm{tr}\,D(x)` from the local diagonal entries (one ``Allreduce``); ``x`` local."""
        xp = self.xp
        # J[i, i] for local rows i = lo + a sits at JT[..., lo + a, a]
        diag = xp.diagonal(self.JT[..., self.lo : self.hi, :], axis1=-2, axis2=-1)
        if self.batched:
            diag = diag[:, None, :]
        s = xp.ascontiguousarray((diag * self.gain.dphi(x, xp)).sum(-1))
        allreduce_sum(self.comm, s)
        return s - self.N
