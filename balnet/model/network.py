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
"""
from __future__ import annotations

import numpy as np

from ..engine.backend import to_numpy
from ..engine.params import NetworkParams
from ..engine.random import CONNECTIVITY, stream

__all__ = [
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


def coupling_matrix(p: NetworkParams, rng: np.random.Generator, dtype=np.float64) -> np.ndarray:
    r"""Draw one coupling matrix ``J`` (shape ``(N, N)``, ``J[i, j]`` = j -> i).

    Parameters
    ----------
    p : NetworkParams
    rng : numpy.random.Generator
        Source of ``z``; the matrix is drawn in float64 and then cast, so
        float32 and float64 runs share the same realization.
    """
    N = p.N
    z = rng.standard_normal((N, N))
    J = z
    J *= column_scales(p)[None, :] / np.sqrt(N)
    if p.J0 != 0.0:
        J += (p.J0 / np.sqrt(N)) * np.outer(input_vector(p), balance_vector(p))
    return J.astype(dtype, copy=False)


def realization_couplings(p: NetworkParams, root_seed: int, k: int, dtype=np.float64) -> np.ndarray:
    """Coupling matrix of realization ``k`` (stream ``(k, CONNECTIVITY)`` of ``root_seed``)."""
    return coupling_matrix(p, stream(root_seed, k, CONNECTIVITY), dtype=dtype)


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
