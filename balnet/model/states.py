"""The vocabulary of dynamical states of a network: class names and their integer labels.

Shared by the classifier (:mod:`balnet.phases.classify`) and the linear-stability predictions
(:mod:`balnet.theory.stability`), which must agree on the labels.
"""
from __future__ import annotations

__all__ = [
    "PHASES",
    "DECAY",
    "FIXED_POINT",
    "OSCILLATION",
    "CHAOS",
    "CYCLE",
    "DIVERGENT",
    "MISSING",
]


#: Class labels; the integer label of a class is its index here (``-1``: missing).
PHASES = ("decay", "fixed_point", "oscillation", "chaos", "cycle", "divergent")


DECAY, FIXED_POINT, OSCILLATION, CHAOS, CYCLE, DIVERGENT = range(len(PHASES))


MISSING = -1
