"""The engine: what every model and study shares, and nothing above it.

``backend`` (array namespace ``xp``, devices; the only module importing cupy),
``random`` (per-realization streams), ``params`` (frozen parameter records),
``io`` (atomic, self-describing HDF5), ``parallel`` (MPI: realization split, rank 0
writes), ``progress``, ``integrators`` (Euler/RK4 objects), ``figures``, ``sweep``
(sweep grids of reductions) and ``_version``.  The engine imports nothing from the
rest of the package (a test walks the imports to keep it so).
"""
