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
    "UNDETERMINED",
    "MISSING",
]


#: Class labels; the integer label of a class is its index here (``-1``: missing).  New classes are
#: appended, so that stored integer labels keep their meaning: ``undetermined`` (6) marks a trajectory
#: whose evidence supports no class (too short a run, a transient, an interval of lambda_max that
#: contains 0 without a recurring signal).
PHASES = ("decay", "fixed_point", "oscillation", "chaos", "cycle", "divergent", "undetermined")


DECAY, FIXED_POINT, OSCILLATION, CHAOS, CYCLE, DIVERGENT, UNDETERMINED = range(len(PHASES))


MISSING = -1
