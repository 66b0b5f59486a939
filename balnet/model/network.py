r"""Critically balanced E/I coupling matrices and spectral helpers.

Model (our reconstruction of Hayakawa & Fukai, "Spontaneous and stimulus-induced
coherent states of critically balanced neuronal networks", Phys. Rev. Research
2, 013253 (2020), arXiv:1711.09621; only the abstract was available to us, so
the exact form below is documented as ours and kept parameterized):

.. math::
    J_{ij} = \frac{J_0}{\sqrt N}\, u_i\, w_j + \frac{g_j}{\sqrt N}\, z_{ij},
    \qquad z_{ij} \sim \mathcal N(0, 1)\ \text{i.i.d.}

where:

* neurons ``0 .. N_E-1`` are excitatory (``N_E = round(f N)``), the rest inhibitory;
* ``w_j = +1`` on E columns and ``w_j = -r N_E / N_I`` on I columns (Dale's law on
  the mean part).  ``r = 1`` (``balance=1``) gives :math:`\sum_j w_j = 0` exactly:
  the *critically balanced* case, where the rank-one mean part is nilpotent
  (eigenvalue :math:`w\cdot u/\sqrt N = 0` for ``u = 1``).  ``r > 1`` is the
  classical inhibition-dominated balance (outlier
  :math:`J_0 w\cdot u/\sqrt N = -J_0 (r-1) N_E/\sqrt N`), ``r < 1`` excitation-dominated;
* ``u_i = u_E`` or ``u_I`` (1 by default);
* ``g_j = g_E`` or ``g_I`` (both ``g`` by default) scales the random part by
  presynaptic population.

``J0 = 0`` is the Sompolinsky–Crisanti–Sommers (SCS) network,
``J = g z / sqrt(N)``, whose eigenvalues fill the disk of radius ``g``
(circular law; Rajan & Abbott, PRL 97, 188104, 2006).

The macro (population) variable is :math:`m = N^{-1/2}\sum_j w_j \phi(x_j)`,
which drives every neuron through :math:`J_0 u_i m`.

Drawing in row blocks.  Realization ``k``'s matrix is drawn in blocks of
:data:`ROW_BLOCK` rows; block ``b`` (rows ``b*ROW_BLOCK .. (b+1)*ROW_BLOCK-1``)
takes its ``z`` from its own stream ``(k, CONNECTIVITY, b)``
(:func:`balnet.engine.random.stream`), so any set of rows can be drawn alone,
by any MPI rank, and the matrix is the same whatever the number of ranks or the
row partition.  Each block is drawn in float64 (``ROW_BLOCK x N`` numbers),
scaled, and written into the destination in the working dtype: the peak memory
of a draw is the final ``J`` plus ``O(ROW_BLOCK N)``, and float32 runs use the
float64 realization rounded.  (Before file format version 2 the whole matrix
came from the single stream ``(k, CONNECTIVITY)``: the same seed now gives a
different ``J``.)
"""
from __future__ import annotations

import numpy as np

from ..engine.backend import to_numpy
from ..engine.params import NetworkParams
from ..engine.random import CONNECTIVITY, stream

__all__ = [
    "ROW_BLOCK",
    "row_blocks",
    "block_rows",
    "coupling_rows_into",
    "balance_vector",
    "input_vector",
    "column_scales",
    "coupling_matrix",
    "realization_couplings",
    "eigenvalues",
    "outliers",
    "mean_part_eigenvalue",
]


def balance_vector(p: NetworkParams) -> np.ndarray:
    """Presynaptic weights ``w`` (shape ``(N,)``): +1 on E, ``-r N_E/N_I`` on I."""
    w = np.ones(p.N)
    w[p.N_E :] = -p.balance * p.N_E / p.N_I
    return w


def input_vector(p: NetworkParams) -> np.ndarray:
    """Postsynaptic mean weights ``u`` (shape ``(N,)``)."""
    u = np.full(p.N, float(p.u_E))
    u[p.N_E :] = p.u_I
    return u


def column_scales(p: NetworkParams) -> np.ndarray:
    """Random-coupling scale ``g_j`` of each presynaptic column (shape ``(N,)``)."""
    gE = p.g if p.g_E is None else p.g_E
    gI = p.g if p.g_I is None else p.g_I
    s = np.full(p.N, float(gE))
    s[p.N_E :] = gI
    return s


#: rows per independently seeded block of ``J`` (fixed: part of the definition of a realization)
ROW_BLOCK = 256


def row_blocks(N: int) -> int:
    """Number of row blocks of an ``N x N`` matrix (the last may be shorter than :data:`ROW_BLOCK`)."""
    return -(-int(N) // ROW_BLOCK)


def block_rows(N: int, b0: int, b1: int) -> tuple[int, int]:
    """Row range ``[lo, hi)`` covered by blocks ``b0 .. b1-1`` of an ``N x N`` matrix."""
    return min(N, b0 * ROW_BLOCK), min(N, b1 * ROW_BLOCK)


def _fill_block(p: NetworkParams, z: np.ndarray, lo: int, scales: np.ndarray, w: np.ndarray, u: np.ndarray) -> np.ndarray:
    r"""Turn standard normals ``z`` (rows ``lo .. lo+len(z)-1``) into those rows of ``J``, in place."""
    z *= scales[None, :]
    if p.J0 != 0.0:
        c = p.J0 / np.sqrt(p.N)
        for i in range(z.shape[0]):  # no (rows x N) temporary for the rank-one part
            z[i] += c * (u[lo + i] * w)
    return z


def coupling_rows_into(p: NetworkParams, root_seed: int, k: int, out, b0: int = 0, b1: int | None = None,
                       transposed: bool = False):
    r"""Rows of blocks ``b0 .. b1-1`` of realization ``k``'s ``J``, written into ``out``.

    Parameters
    ----------
    p : NetworkParams
    root_seed, k : int
        Block ``b`` draws from stream ``(k, CONNECTIVITY, b)`` of ``root_seed``.
    out : array
        Host array of the working dtype, shape ``(hi - lo, N)`` (rows of ``J``)
        or, with ``transposed=True``, ``(N, hi - lo)`` (columns of ``J^T``),
        where ``[lo, hi) = block_rows(N, b0, b1)``.  Only one float64 block of
        ``ROW_BLOCK x N`` numbers is allocated on the way.
    """
    N = p.N
    b1 = row_blocks(N) if b1 is None else b1
    lo, hi = block_rows(N, b0, b1)
    want = (N, hi - lo) if transposed else (hi - lo, N)
    if tuple(out.shape) != want:
        raise ValueError(f"out has shape {tuple(out.shape)}, expected {want}")
    scales = column_scales(p) / np.sqrt(N)
    w, u = balance_vector(p), input_vector(p)
    for b in range(b0, b1):
        r0, r1 = block_rows(N, b, b + 1)
        z = stream(root_seed, k, CONNECTIVITY, b).standard_normal((r1 - r0, N))
        _fill_block(p, z, r0, scales, w, u)
        if transposed:  # in square tiles: a strided write of the whole transpose is ~6x slower
            for j in range(0, N, ROW_BLOCK):
                out[j : j + ROW_BLOCK, r0 - lo : r1 - lo] = z[:, j : j + ROW_BLOCK].T
        else:
            out[r0 - lo : r1 - lo] = z
    return out


def coupling_matrix(p: NetworkParams, rng: np.random.Generator, dtype=np.float64) -> np.ndarray:
    r"""Draw one coupling matrix ``J`` (shape ``(N, N)``, ``J[i, j]`` = j -> i) from one generator.

    Parameters
    ----------
    p : NetworkParams
    rng : numpy.random.Generator
        Source of ``z`` (row-major order); drawn in float64 blocks of
        :data:`ROW_BLOCK` rows and cast, so float32 and float64 runs share
        the same realization and no float64 ``N x N`` temporary is made.
        (Simulations use :func:`realization_couplings`: one stream per block.)
    """
    N = p.N
    J = np.empty((N, N), dtype=dtype)
    scales = column_scales(p) / np.sqrt(N)
    w, u = balance_vector(p), input_vector(p)
    for b in range(row_blocks(N)):
        r0, r1 = block_rows(N, b, b + 1)
        J[r0:r1] = _fill_block(p, rng.standard_normal((r1 - r0, N)), r0, scales, w, u)
    return J


def realization_couplings(p: NetworkParams, root_seed: int, k: int, dtype=np.float64) -> np.ndarray:
    """Coupling matrix of realization ``k``: row block ``b`` from stream ``(k, CONNECTIVITY, b)`` of ``root_seed``."""
    return coupling_rows_into(p, root_seed, k, np.empty((p.N, p.N), dtype=dtype))


def mean_part_eigenvalue(p: NetworkParams) -> float:
    r"""Nonzero eigenvalue of the mean part, :math:`J_0\, w\cdot u/\sqrt N` (0 when critical)."""
    return float(p.J0 * balance_vector(p) @ input_vector(p) / np.sqrt(p.N))


def eigenvalues(J) -> np.ndarray:
    """All eigenvalues of ``J`` (host, complex), sorted by decreasing real part."""

    ev = np.linalg.eigvals(to_numpy(J).astype(np.float64))
    return ev[np.argsort(-ev.real)]


def outliers(ev: np.ndarray, radius: float, margin: float = 0.05) -> np.ndarray:
    """Eigenvalues with modulus above ``radius * (1 + margin)`` (outside the bulk disk)."""
    ev = np.asarray(ev)
    return ev[np.abs(ev) > radius * (1.0 + margin)]
