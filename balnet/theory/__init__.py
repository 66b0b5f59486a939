"""Theory: the SCS dynamical mean-field theory (``dmft``) and per-realization linear-stability
predictions at x = 0 (``stability``).  Theory imports nothing from ``balnet.phases``."""
