"""Phases: classification of the state of each trajectory (``classify``) and phase diagrams
over a sweep, beside the linear-stability predictions (``diagram``)."""
