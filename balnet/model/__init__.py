"""The rate model: E/I couplings (``network``), transfer functions (``gains``), the batched
vector field with its Jacobian (``dynamics``), its CPU/GPU kernels (``kernels``), the
simulator (``simulate``) and the vocabulary of dynamical states (``states``)."""
