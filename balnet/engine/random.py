"""Explicit, process-independent random streams.

Every stochastic function in balnet takes a :class:`numpy.random.Generator`.
Streams are derived from one root seed with :class:`numpy.random.SeedSequence`
spawn keys, never by adding integers to a seed:

* realization ``k``            -> ``SeedSequence(root, spawn_key=(k,))``
  (identical to the ``k``-th child of ``SeedSequence(root).spawn(n)``)
* its connectivity             -> spawn key ``(k, 0)``
* initial state of trial ``b`` -> spawn key ``(k, 1, b)``
* noise / task inputs          -> spawn key ``(k, 2)`` (trial axis drawn jointly)
* tangent frames / bootstrap   -> spawn key ``(k, 3, ...)`` (:mod:`balnet.chaos.lyapunov`)
* reservoir input weights, feedback weights, task data, SGD shuffling
                               -> ``(k, 4)``, ``(k, 5)``, ``(k, 6)``, ``(k, 7)`` (:mod:`balnet.learning.reservoir`)
* sibling studies: ``(k, 8, ...)`` Fisher information (:mod:`balnet.studies.fim`),
  ``(k, 9, ...)`` dual-sampling network (:mod:`balnet.studies.dsnn`),
  ``(k, 10, ...)`` Kuramoto oscillators (:mod:`balnet.studies.kuramoto`); each study
  subdivides its number with further key components (``stream(seed, k, FIM, 0)``, ...)
* a new study takes the next free purpose number and registers it here

so realization ``k`` gets the same numbers whether it is computed alone, in a
batch, or on any MPI rank.
"""
from __future__ import annotations

import numpy as np

__all__ = [
    "CONNECTIVITY",
    "INITIAL",
    "NOISE",
    "TANGENT",
    "INPUT_WEIGHTS",
    "FEEDBACK_WEIGHTS",
    "TASK_DATA",
    "SGD_ORDER",
    "FIM",
    "DSNN",
    "KURAMOTO",
    "realization_seed",
    "spawn_seeds",
    "stream",
    "normal_block",
]

CONNECTIVITY = 0
INITIAL = 1
NOISE = 2
TANGENT = 3
INPUT_WEIGHTS = 4
FEEDBACK_WEIGHTS = 5
TASK_DATA = 6
SGD_ORDER = 7
FIM = 8
DSNN = 9
KURAMOTO = 10


def _root_entropy(root_seed) -> int:
    if isinstance(root_seed, (bool, np.bool_)) or not isinstance(root_seed, (int, np.integer)):
        raise ValueError(f"seed must be a non-negative integer, got {root_seed!r}")
    if root_seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {root_seed}")
    return int(root_seed)


def realization_seed(root_seed: int, k: int) -> np.random.SeedSequence:
    """SeedSequence of realization ``k``: the ``k``-th spawned child of ``SeedSequence(root_seed)``."""
    return np.random.SeedSequence(_root_entropy(root_seed), spawn_key=(int(k),))


def spawn_seeds(root_seed: int, n: int) -> list[np.random.SeedSequence]:
    """``SeedSequence(root_seed).spawn(n)`` (equal to ``[realization_seed(root_seed, k) for k in range(n)]``)."""
    return np.random.SeedSequence(_root_entropy(root_seed)).spawn(int(n))


def stream(root_seed: int, k: int, *purpose: int) -> np.random.Generator:
    """Generator for realization ``k`` and a purpose path, e.g. ``stream(seed, k, INITIAL, b)``."""
    ss = np.random.SeedSequence(_root_entropy(root_seed), spawn_key=(int(k), *map(int, purpose)))
    return np.random.default_rng(ss)


def normal_block(rngs, n: int, shape: tuple, dtype=np.float64, scale: float = 1.0) -> np.ndarray:
    """``scale`` x standard normals of shape ``(n, len(rngs), *shape)`` on the host.

    Realization ``r`` draws its ``(n, *shape)`` numbers from ``rngs[r]`` in
    order, so the sequence a realization sees does not depend on the block
    length ``n`` or on the other realizations of the batch.  Used for the
    white-noise input of every integrator loop (stream purpose ``NOISE``).
    """
    blk = np.empty((n, len(rngs), *shape), dtype=dtype)
    for r, rng in enumerate(rngs):
        blk[:, r] = rng.standard_normal((n, *shape))
    if scale != 1.0:
        blk *= scale
    return blk
