"""Chaos: Lyapunov spectra and micro/macro finite-time exponents (``lyapunov``) and their
statistics over a sweep (``statistics``)."""
