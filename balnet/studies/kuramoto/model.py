r"""Identical Kuramoto oscillators on networks: stable twisted states on circulant graphs.

Model (unit coupling, time in units of the inverse coupling strength):

.. math::
    \frac{d\theta_i}{dt} = \sum_j A_{ij} \sin(\theta_j - \theta_i), \qquad i = 0..n-1,

with a symmetric 0/1 adjacency :math:`A`.  The in-phase state is always stable;
the *critical connectivity* :math:`\mu_c` is the smallest :math:`\mu` such that
every network whose minimum degree is at least :math:`\mu (n-1)` synchronizes
in phase from almost every initial condition.  A network with another stable
state (here a twisted state) and connectivity :math:`\mu` proves
:math:`\mu_c \ge \mu`.

**Circulant graphs and twisted states.**  The circulant graph :math:`C_n(S)` on
``n`` nodes with offset set :math:`S \subset \{1..\lfloor n/2\rfloor\}` joins
:math:`i \sim i \pm k \bmod n` for :math:`k \in S` (``k = n/2`` gives one
neighbour).  Its degree is :math:`d = \sum_{k\in S} c_k` with :math:`c_k = 2`
(:math:`c_{n/2} = 1`), its connectivity :math:`\mu = d/(n-1)`.  The
:math:`q`-twisted state :math:`\theta_j = 2\pi q j/n` (:math:`q = 1..\lfloor
n/2\rfloor`; :math:`q = 0` is the in-phase state) is an equilibrium.  The
Jacobian :math:`J_{ij} = A_{ij}\cos(\theta_j-\theta_i)`, :math:`J_{ii} = -\sum_j
A_{ij}\cos(\theta_j - \theta_i)` is a symmetric circulant matrix, so its
eigenvalues are (Fourier modes :math:`m = 0..n-1`)

.. math::
    \lambda_m = \sum_{k\in S} c_k \cos\frac{2\pi q k}{n}
                \left(\cos\frac{2\pi m k}{n} - 1\right)
              = \sum_{k=1}^{\lfloor n/2\rfloor} M_{mk}(q)\, x_k ,

linear in the indicator :math:`x_k = [k \in S]`.  :math:`\lambda_0 = 0` is the
rotation mode; the twisted state is linearly stable iff :math:`\lambda_m < 0`
for :math:`m = 1..\lfloor n/2\rfloor` (:math:`\lambda_m = \lambda_{n-m}`); a
disconnected graph has further zero eigenvalues and is not stable.  The
formula is checked against numerical Jacobian eigenvalues in the tests.

**Integer program** (after Yoneda, Tatsukawa & Teramae 2021): for given
:math:`(n, q)`

.. math::
    \max_{x\in\{0,1\}^{\lfloor n/2\rfloor}} \sum_k c_k x_k
    \quad\text{s.t.}\quad \sum_k M_{mk}(q)\,x_k \le -\varepsilon,
    \quad m = 1..\lfloor n/2\rfloor,

solved with HiGHS (``scipy.optimize.milp``).  The margin :math:`\varepsilon`
must exceed the solver's feasibility tolerance (HiGHS: 1e-6 on constraints):
with :math:`\varepsilon = 10^{-6}` HiGHS returns, e.g. for ``n = 44, q = 11``,
networks with :math:`\lambda_{\max} \approx -10^{-14}` (neutral, not stable).
Every solution is therefore re-checked with the numerical eigenvalues of the
full Jacobian of the actual network (``numpy.linalg.eigvalsh``); a failed
check re-solves with a ten times larger margin (up to ``retries`` times).

**Certificate.**  Floating point cannot prove :math:`\lambda_m < 0`; every accepted
network is certified in interval arithmetic (:func:`certify_twist`): the cosines
:math:`\cos(2\pi r/n)` of the exact residues are enclosed by ``mpmath.iv`` (80 bits),
and the sums and products of the closed form are evaluated on float64 intervals,
each operation rounded outward by one ulp (IEEE-754 round-to-nearest puts the exact
result within half an ulp).  The result is a rigorous enclosure of every
:math:`\lambda_m`; the network is *certified stable* when the upper bound of
:math:`\max_{m\ne 0}\lambda_m` is negative (stored per twist: ``certified``,
``lam_max_upper``, ``lam_max_lower``, attribute ``certificate_method``).  Since the
Jacobian of a twisted state on a circulant graph is circulant, its spectrum is
exactly the closed form, so the certificate covers the actual Jacobian.

**Search aids.**  ``mu_min`` adds the cutoff "degree >= mu_min (n-1)" (the best known
network as incumbent: a twist is then either improved or proven to have nothing
better); ``pattern`` fixes whole residue classes of offsets mod the wavelength
``P = n/q`` and leaves a few classes to the MILP (the optima of wavelength 16 fill
the classes :math:`k \equiv -5..5 \pmod{16}` up to a few defects in the classes
:math:`\pm 5`).

**Twist classes.**  Relabelling the nodes :math:`j \to uj \bmod n` with
:math:`u` coprime to ``n`` maps :math:`C_n(S)` to :math:`C_n(uS)` (same degree)
and the ``q``-twist to the :math:`qu^{-1}`-twist, so the optimum depends on ``q``
only through :math:`d = \gcd(q, n)`: the divisors :math:`d \le n/2` of ``n``
(``twists: divisors``, the default) cover every twist, the twist of wavelength
:math:`b = n/d` nodes.

**Simulation** (RK4, batched over trials): from the twisted state plus a small
perturbation the twist order parameter
:math:`r_q = |n^{-1}\sum_j e^{i(\theta_j - 2\pi q j/n)}|` stays near 1, the
in-phase order parameter :math:`r_0` near 0, and the distance to the twist
(modulo rotation) decays at the rate :math:`\max_{m\ne0}\lambda_m`; from random
phases on dense Erdős–Rényi graphs the oscillators reach in-phase synchrony
(:math:`r_0 \to 1`).

References
----------
* R. Yoneda, T. Tatsukawa, J. Teramae, "The lower bound of the network
  connectivity guaranteeing in-phase synchronization", Chaos 31, 063124
  (2021), arXiv:2104.05954 (integer programming over circulant networks;
  :math:`\mu_c \ge 0.6838\ldots`; abstract and introduction checked, the
  record network's ``n`` and offsets were not reachable here).
* D. A. Wiley, S. H. Strogatz, M. Girvan, "The size of the sync basin",
  Chaos 16, 015103 (2006) (ring with ``k`` nearest neighbours: only in-phase
  synchrony for :math:`k/n` above about 0.34, twisted states below).
* A. Townsend, M. Stillman, S. H. Strogatz, "Dense networks that do not
  synchronize and sparse ones that do", Chaos 30, 083142 (2020),
  arXiv:1906.10627 (circulant networks; lower bound raised from 0.6818 to
  0.6828).
* S. Ling, R. Xu, A. S. Bandeira (2019): :math:`\mu_c \le 0.7929`; J. Lu,
  S. Steinerberger (2020): :math:`\mu_c \le 0.7889` (both as quoted by
  Townsend et al. and Kassabov et al.; not read here).
* M. Kassabov, S. H. Strogatz, A. Townsend, "Sufficiently dense Kuramoto
  networks are globally synchronizing", arXiv:2105.11406 (2021)
  (:math:`\mu_c \le 0.75`; abstract checked, journal version not checked).
* M. Kassabov, S. H. Strogatz, A. Townsend, "A global synchronization theorem
  for oscillators on a random graph", Chaos 32, 093119 (2022) (Erdős–Rényi
  graphs synchronize globally with high probability for
  :math:`p \gg \log^2 n / n`).
* Not checked here (cited by the papers above, not read): R. Taylor, J. Phys.
  A 45, 055102 (2012) (:math:`\mu \ge 0.9395` suffices) and the n = 22,
  degree-14 construction attributed to E. Canale and P. Monzón; our program
  finds that network and the family ``n = 22 q``, degree ``15 q - 1``.
"""
from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field

import numpy as np
from mpmath import iv

from ...engine.backend import check_backend, to_numpy
from ...engine.figures import _plt, save
from ...engine.integrators import RK4
from ...engine.params import ConfigError, _f
from ...engine.random import KURAMOTO, stream

__all__ = [
    "KuramotoParams",
    "ERParams",
    "parse_twists",
    "parse_pattern",
    "offset_weights",
    "stability_matrix",
    "twisted_eigenvalues",
    "CERTIFICATE_METHOD",
    "Certificate",
    "certify_twist",
    "twisted_eigenvalue_bounds",
    "circulant_adjacency",
    "twisted_state",
    "jacobian",
    "jacobian_eigenvalues",
    "CaseResult",
    "max_degree_twisted",
    "kuramoto_rhs",
    "order_parameter",
    "twist_distance",
    "integrate_phases",
    "validate_twist",
    "erdos_renyi",
    "er_synchrony",
    "PUBLISHED_BOUNDS",
    "family_mu",
    "plot_mu_vs_n",
]

#: published lower bounds on mu_c (value, label) drawn in the figure
PUBLISHED_BOUNDS = ((15 / 22, "15/22 = 0.6818 (limit of n = 22q family)"),
                    (0.6828, "0.6828 (Townsend, Stillman & Strogatz 2020)"),
                    (0.6838, "0.6838 (Yoneda, Tatsukawa & Teramae 2021)"))


@dataclass(frozen=True)
class KuramotoParams:
    r"""One job of the circulant search: ``n`` oscillators, twists ``q`` as cases (split over MPI ranks).

    For every twist the MILP of :func:`max_degree_twisted` gives the densest
    circulant graph with a strictly stable ``q``-twisted state; the best
    verified network of the job is then simulated (:func:`validate_twist`).
    """

    n: int = _f(22, "number of oscillators (nodes of the circulant graph)")
    twists: str = _f("divisors", "twist numbers q: 'divisors' (of n: one per equivalence class, exhaustive), 'all' "
                     "(1..n//2) or a list like '1,3,5-8,n/13' (n/13: q = n/13)")
    margin: float = _f(1e-4, "required stability margin: lambda_m <= -margin for m != 0", "coupling")
    retries: int = _f(3, "re-solves with a 10x larger margin when the eigenvalue re-check fails")
    time_limit: float = _f(120.0, "time limit of one MILP (HiGHS); the best feasible point is kept", "s")
    pattern: str = _f("", "warm start from a known optimum of wavelength P = n/q: 'P:ONES:FREE' (e.g. "
                      "'16:0-4,12-15:5,11') fixes offsets with k mod P in ONES into S, leaves FREE to the MILP and "
                      "excludes the rest ('': every offset free)")
    mu_min: float = _f(0.0, "cutoff from the best known network: only degrees >= mu_min (n-1) are searched (0: none); "
                       "a twist without such a network is reported infeasible (status 2)")
    simulate: bool = _f(True, "simulate the best network from its perturbed twisted state")
    t_sim: float = _f(200.0, "simulated time", "1/coupling")
    dt: float = _f(0.05, "largest RK4 step (capped at 1/degree for stability)", "1/coupling")
    perturbation: float = _f(0.05, "standard deviation of the initial phase perturbation", "rad")
    trials: int = _f(4, "perturbed initial conditions simulated (batched)")
    n_save: int = _f(200, "saved time points of the simulation")
    seed: int = _f(0, "root seed (perturbation of trial b: stream(seed, q, KURAMOTO, 2, n, b))")
    backend: str = _f("auto", "array backend of the simulation: auto, numpy or cupy")

    def validate(self) -> None:
        if self.n < 3:
            raise ConfigError(f"n must be an integer >= 3, got {self.n}")
        parse_twists(self.twists, self.n)
        if not (self.margin > 0 and math.isfinite(self.margin)):
            raise ConfigError(f"margin must be a positive number, got {self.margin}")
        if self.retries < 0:
            raise ConfigError(f"retries must be >= 0, got {self.retries}")
        if not self.time_limit > 0:
            raise ConfigError(f"time_limit must be > 0, got {self.time_limit}")
        parse_pattern(self.pattern, self.n)
        if not 0.0 <= self.mu_min <= 1.0:
            raise ConfigError(f"mu_min must be in [0, 1], got {self.mu_min}")
        for name in ("t_sim", "dt"):
            v = getattr(self, name)
            if not (v > 0 and math.isfinite(v)):
                raise ConfigError(f"{name} must be a positive number, got {v}")
        if self.perturbation < 0:
            raise ConfigError(f"perturbation must be >= 0, got {self.perturbation}")
        for name in ("trials", "n_save"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {getattr(self, name)}")
        if self.seed < 0:
            raise ConfigError(f"seed must be >= 0, got {self.seed}")
        check_backend(self.backend)

    def twist_list(self) -> list[int]:
        return parse_twists(self.twists, self.n)


@dataclass(frozen=True)
class ERParams:
    """Random phases on dense Erdős–Rényi graphs G(n, p): in-phase synchrony check (``balnet kuramoto er``)."""

    n: int = _f(50, "number of oscillators")
    p: float = _f(0.9, "edge probability")
    trials: int = _f(8, "graphs (one random initial condition each; trial k uses stream(seed, k, KURAMOTO, 0/1))")
    t_sim: float = _f(50.0, "simulated time", "1/coupling")
    dt: float = _f(0.02, "largest RK4 step (capped at 1/max degree)", "1/coupling")
    n_save: int = _f(100, "saved time points")
    seed: int = _f(0, "root seed")
    backend: str = _f("auto", "array backend: auto, numpy or cupy")

    def validate(self) -> None:
        if self.n < 2:
            raise ConfigError(f"n must be an integer >= 2, got {self.n}")
        if not 0.0 <= self.p <= 1.0:
            raise ConfigError(f"p must lie in [0, 1], got {self.p}")
        for name in ("trials", "n_save"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {getattr(self, name)}")
        for name in ("t_sim", "dt"):
            v = getattr(self, name)
            if not (v > 0 and math.isfinite(v)):
                raise ConfigError(f"{name} must be a positive number, got {v}")
        if self.seed < 0:
            raise ConfigError(f"seed must be >= 0, got {self.seed}")
        check_backend(self.backend)


def parse_twists(spec, n: int) -> list[int]:
    """Twist numbers from ``'all'`` (1..n//2), ``'divisors'``, an int, or a list like ``'1,3,5-8,n/13,2n/27'``.

    ``'divisors'``: the divisors ``d`` of ``n`` up to ``n/2``, one twist per
    equivalence class.  The relabelling ``j -> u j mod n`` (``u`` coprime to
    ``n``) maps ``C_n(S)`` to ``C_n(uS)`` (same degree) and the ``q``-twist to the
    ``q u^{-1}``-twist, so every ``q`` has the same optimum as ``gcd(q, n)``
    (checked by a test); searching the divisors is exhaustive.

    A token ``a n/b`` (or ``a*n/b``) is the twist ``q = a n / b``, i.e. a fixed
    ratio ``q/n`` (one pipeline config for a sweep over ``n``); it must be an
    integer for this ``n``.  Every twist must lie in ``1..n//2``.
    """
    half = n // 2
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        items = [int(spec)]
    else:
        s = str(spec).strip().lower().replace(" ", "")
        if s == "all":
            return list(range(1, half + 1))
        if s == "divisors":
            return [d for d in range(1, half + 1) if n % d == 0]
        items = []
        for part in filter(None, s.split(",")):
            m = re.fullmatch(r"(\d*)\*?n/(\d+)", part)
            if m:
                a, b = int(m.group(1) or 1), int(m.group(2))
                if b == 0 or (a * n) % b:
                    raise ConfigError(f"twist {part} = {a}*{n}/{b} is not an integer for n={n}")
                items.append(a * n // b)
                continue
            m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
            if not m:
                raise ConfigError(f"twists must be 'all' or a list like '1,3,5-8,n/13', got {spec!r}")
            items.extend(range(int(m.group(1)), int(m.group(2) or m.group(1)) + 1))
    if not items:
        raise ConfigError(f"twists selects no twist: {spec!r}")
    bad = [q for q in items if not 1 <= q <= half]
    if bad:
        raise ConfigError(f"twist q={bad[0]} outside 1..{half} (n={n}; q=0 is the in-phase state)")
    return sorted(set(items))


def _int_list(text: str, what: str) -> list[int]:
    out = []
    for part in filter(None, text.split(",")):
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m:
            raise ConfigError(f"pattern {what} must be a list like '0-4,12-15', got {text!r}")
        out.extend(range(int(m.group(1)), int(m.group(2) or m.group(1)) + 1))
    return out


def parse_pattern(spec: str, n: int) -> np.ndarray | None:
    """Offsets fixed by a residue pattern ``'P:ONES:FREE'`` (e.g. ``'16:0-4,12-15:5,11'``): shape ``(n//2,)``,
    1 = offset ``k`` in ``S`` (``k mod P`` in ONES), -1 = left to the solver (in FREE), 0 = excluded (the rest).

    A warm start from a known optimum of wavelength ``P = n/q``: its offsets fill whole residue classes
    mod ``P`` except a few defects, so fixing the full classes leaves a small MILP over the defect
    classes.  An empty ``spec`` returns ``None`` (every offset free).
    """
    s = str(spec or "").strip().replace(" ", "")
    if not s:
        return None
    parts = s.split(":")
    if len(parts) != 3 or not parts[0].isdigit() or int(parts[0]) < 2:
        raise ConfigError(f"pattern must be 'P:ONES:FREE' like '16:0-4,12-15:5,11', got {spec!r}")
    P = int(parts[0])
    ones, free = _int_list(parts[1], "ONES"), _int_list(parts[2], "FREE")
    bad = [r for r in ones + free if r >= P]
    if bad or set(ones) & set(free) or not free:
        raise ConfigError(f"pattern residues must lie in 0..{P - 1}, FREE must not be empty and ONES, FREE must not "
                          f"overlap, got {spec!r}")
    k = np.arange(1, n // 2 + 1)
    fixed = np.where(np.isin(k % P, ones), 1, 0)
    fixed[np.isin(k % P, free)] = -1
    return fixed.astype(np.int8)


# -- closed-form stability ---------------------------------------------------------------
def offset_weights(n: int) -> np.ndarray:
    """:math:`c_k` for offsets ``k = 1..n//2``: 2 neighbours per offset, 1 for ``k = n/2``. Shape ``(n//2,)``."""
    k = np.arange(1, n // 2 + 1)
    return np.where(2 * k == n, 1.0, 2.0)


def stability_matrix(n: int, q: int) -> np.ndarray:
    r""":math:`M_{mk}(q) = c_k \cos(2\pi qk/n)(\cos(2\pi mk/n) - 1)`, shape ``(n, n//2)``; ``lambda = M @ x``.

    Cosines are evaluated from exact integer residues (``qk mod n``), and
    entries below 1e-12 in magnitude are set to 0 (e.g. ``cos(pi/2)``), so an
    offset with no effect on stability has exactly zero coefficients.
    """
    k = np.arange(1, n // 2 + 1)
    m = np.arange(n)[:, None]
    cq = np.cos(2 * np.pi * ((q * k) % n) / n)
    cm = np.cos(2 * np.pi * ((m * k) % n) / n) - 1.0
    cq[np.abs(cq) < 1e-12] = 0.0
    cm[np.abs(cm) < 1e-12] = 0.0
    return offset_weights(n) * cq * cm


def _indicator(n: int, offsets) -> np.ndarray:
    x = np.zeros(n // 2)
    for k in offsets:
        k = int(k)
        if not 1 <= k <= n // 2:
            raise ValueError(f"offset {k} outside 1..{n // 2}")
        x[k - 1] = 1.0
    return x


def twisted_eigenvalues(n: int, q: int, offsets) -> np.ndarray:
    """Closed-form Jacobian eigenvalues :math:`\\lambda_m`, ``m = 0..n-1``, of the ``q``-twist on ``C_n(offsets)``."""
    return stability_matrix(n, q) @ _indicator(n, offsets)


# -- rigorous certificate -------------------------------------------------------------------
#: how :func:`certify_twist` bounds the eigenvalues (stored as the ``certificate_method`` attribute)
CERTIFICATE_METHOD = ("interval arithmetic: cos(2 pi r/n) enclosed by mpmath.iv (80-bit), sums and products of "
                      "the closed-form lambda_m in float64 intervals rounded outward by one ulp per operation")


def _cos_enclosures(n: int, prec: int = 80) -> tuple[np.ndarray, np.ndarray]:
    r"""Float64 intervals ``[lo_r, hi_r]`` that contain :math:`\cos(2\pi r/n)`, ``r = 0..n-1``.

    Each cosine is enclosed by ``mpmath.iv`` at ``prec`` bits; the endpoints are rounded to float64
    and widened outward by one ulp, so the float interval contains the mpmath interval.
    """
    lo = np.empty(n)
    hi = np.empty(n)
    old = iv.prec
    iv.prec = prec
    try:
        two_pi = 2 * iv.pi
        for r in range(n):
            c = iv.cos(two_pi * r / n)
            lo[r] = float(c.a)
            hi[r] = float(c.b)
    finally:
        iv.prec = old
    return np.nextafter(lo, -np.inf), np.nextafter(hi, np.inf)


def _imul(alo, ahi, blo, bhi):
    """Outward-rounded float64 interval product (exact product within 1/2 ulp of each rounded corner)."""
    p = np.stack([alo * blo, alo * bhi, ahi * blo, ahi * bhi])
    return np.nextafter(p.min(axis=0), -np.inf), np.nextafter(p.max(axis=0), np.inf)


def _iadd(alo, ahi, blo, bhi):
    return np.nextafter(alo + blo, -np.inf), np.nextafter(ahi + bhi, np.inf)


def twisted_eigenvalue_bounds(n: int, q: int, offsets, *, cos_bounds=None) -> tuple[np.ndarray, np.ndarray]:
    r"""Rigorous enclosures ``lo_m <= lambda_m <= hi_m``, ``m = 0..n//2``, of the closed-form eigenvalues
    :math:`\lambda_m = \sum_{k\in S} c_k\cos(2\pi qk/n)(\cos(2\pi mk/n) - 1)` (module docstring).

    Cosines of exact residues (``qk mod n``, ``mk mod n``) from :func:`_cos_enclosures`; every
    product and sum is an interval operation rounded outward (IEEE-754 round-to-nearest makes each
    result exact within half an ulp, so one ulp outward encloses it).  ``lambda_{n-m} = lambda_m``.
    """
    lo_c, hi_c = _cos_enclosures(n) if cos_bounds is None else cos_bounds
    m = np.arange(n // 2 + 1)
    lam_lo = np.zeros(m.size)
    lam_hi = np.zeros(m.size)
    for k in sorted(int(k) for k in offsets):
        if not 1 <= k <= n // 2:
            raise ValueError(f"offset {k} outside 1..{n // 2}")
        ck = 1.0 if 2 * k == n else 2.0
        r = (m * k) % n
        dlo, dhi = np.nextafter(lo_c[r] - 1.0, -np.inf), np.nextafter(hi_c[r] - 1.0, np.inf)
        dlo[r == 0] = dhi[r == 0] = 0.0  # cos(0) - 1 = 0 exactly
        a = (q * k) % n
        wlo, whi = ck * lo_c[a], ck * hi_c[a]  # times 1 or 2: exact
        tlo, thi = _imul(np.full(m.size, wlo), np.full(m.size, whi), dlo, dhi)
        lam_lo, lam_hi = _iadd(lam_lo, lam_hi, tlo, thi)
    return lam_lo, lam_hi


@dataclass(frozen=True)
class Certificate:
    r"""Interval certificate of the ``q``-twist on ``C_n(offsets)``.

    ``upper`` / ``lower``: rigorous bounds of :math:`\max_{m \ne 0}\lambda_m` (the largest
    eigenvalue without the rotation mode, whose :math:`\lambda_0 = 0` is exact); ``stable``: ``upper < 0``
    (strict linear stability proven); ``unstable``: ``lower > 0`` (instability proven); neither when the
    enclosure contains 0 (e.g. an exactly neutral mode).
    """

    upper: float
    lower: float
    method: str = CERTIFICATE_METHOD

    @property
    def stable(self) -> bool:
        return self.upper < 0.0

    @property
    def unstable(self) -> bool:
        return self.lower > 0.0


def certify_twist(n: int, q: int, offsets, *, cos_bounds=None) -> Certificate:
    """Certify (or refute) strict linear stability of the ``q``-twist on ``C_n(offsets)`` (:class:`Certificate`)."""
    if not offsets:
        return Certificate(upper=0.0, lower=0.0)  # no edges: every mode is neutral
    lo, hi = twisted_eigenvalue_bounds(n, q, offsets, cos_bounds=cos_bounds)
    return Certificate(upper=float(hi[1:].max()), lower=float(lo[1:].max()))


# -- networks, states, Jacobians -----------------------------------------------------------
def circulant_adjacency(n: int, offsets, *, xp=np, dtype="float64"):
    """0/1 adjacency of ``C_n(offsets)`` (``i ~ i +- k mod n``), shape ``(n, n)``, symmetric, zero diagonal."""
    A = np.zeros((n, n))
    i = np.arange(n)
    for k in offsets:
        A[i, (i + int(k)) % n] = 1.0
        A[i, (i - int(k)) % n] = 1.0
    return xp.asarray(A, dtype=dtype)


def twisted_state(n: int, q: int, *, xp=np):
    """:math:`\\theta_j = 2\\pi q j / n`, shape ``(n,)`` [rad]."""
    return xp.asarray(2 * np.pi * ((q * np.arange(n)) % n) / n)


def jacobian(A, theta, *, xp=np):
    r"""Jacobian at ``theta``: :math:`J_{ij} = A_{ij}\cos(\theta_j-\theta_i)`, :math:`J_{ii} = -\sum_{j} J_{ij}` (off-diagonal)."""
    C = A * xp.cos(theta[None, :] - theta[:, None])
    idx = xp.arange(A.shape[0])
    C[idx, idx] = 0.0
    return C - xp.diag(C.sum(axis=1))


def jacobian_eigenvalues(A, theta, *, xp=np) -> np.ndarray:
    """Ascending eigenvalues of the (symmetric) Jacobian, computed numerically (``xp.linalg.eigvalsh``)."""

    return to_numpy(xp.linalg.eigvalsh(jacobian(A, theta, xp=xp)))


# -- integer program -----------------------------------------------------------------------
@dataclass
class CaseResult:
    """Densest circulant graph with a strictly stable ``q``-twist on ``n`` nodes (one MILP case).

    ``feasible``: a network passed the numerical re-check and its stability is
    certified (``certified``: the interval upper bound ``lam_max_upper`` of the
    largest nonzero-mode eigenvalue is < 0, :func:`certify_twist`; ``lam_max_lower``
    its lower bound); ``optimal``: HiGHS
    proved optimality (else the time limit stopped it and the degree is a
    lower bound of the optimum); ``lam_max_closed`` / ``lam_max_numeric``:
    largest nonzero-mode eigenvalue, closed form and ``eigvalsh`` of the full
    Jacobian (the rotation eigenvalue 0 removed); ``margin``: margin of the
    accepted solve; ``status``: scipy ``milp`` status of the last solve
    (0 optimal, 1 limit reached, 2 infeasible).
    """

    n: int
    q: int
    offsets: list = field(default_factory=list)
    degree: int = 0
    feasible: bool = False
    optimal: bool = False
    status: int = -1
    lam_max_closed: float = float("nan")
    lam_max_numeric: float = float("nan")
    margin: float = float("nan")
    solve_time: float = 0.0
    attempts: int = 0
    certified: bool = False
    lam_max_upper: float = float("nan")
    lam_max_lower: float = float("nan")

    @property
    def mu(self) -> float:
        return self.degree / (self.n - 1) if self.feasible else float("nan")

    def mask(self) -> np.ndarray:
        return _indicator(self.n, self.offsets).astype(np.int8)


def _numeric_lam_max(n: int, q: int, offsets) -> float:
    """Largest Jacobian eigenvalue after removing the one closest to 0 (the rotation mode)."""
    ev = jacobian_eigenvalues(circulant_adjacency(n, offsets), twisted_state(n, q))
    i0 = int(np.argmin(np.abs(ev)))
    return float(np.max(np.delete(ev, i0)))


#: above this n the dense ``eigvalsh`` re-check (O(n^3)) is skipped; the interval certificate decides alone
NUMERIC_CHECK_MAX_N = 6000


def max_degree_twisted(n: int, q: int, *, margin: float = 1e-4, time_limit: float = 120.0, retries: int = 3,
                       check_tol: float | None = None, min_degree: int = 0, fixed=None) -> CaseResult:
    r"""Solve the MILP (module docstring) for ``(n, q)`` and re-check the solution numerically.

    The re-check demands ``lam_max_numeric < -check_tol`` (default
    ``1e-9 n``, far above ``eigvalsh`` round-off ~1e-13 n), agreement of
    closed-form and numerical spectra (for ``n <= NUMERIC_CHECK_MAX_N``; above,
    ``lam_max_numeric`` is NaN), and an interval certificate of
    stability (:func:`certify_twist`); a failure re-solves with a 10x margin.
    ``min_degree > 0`` adds the cutoff :math:`\\sum_k c_k x_k \\ge` ``min_degree`` (a warm start from the
    best known network: the solver only searches for better ones, and "infeasible" then proves that
    this twist has none).  ``fixed`` (:func:`parse_pattern`): offsets fixed in (1) or out (0) of ``S``,
    -1 = free; "optimal" then means optimal among the networks of that pattern.  Returns a :class:`CaseResult` (``feasible=False`` when no stable network
    exists, none reaches ``min_degree``, or none was found within the time limit).
    """
    from scipy.optimize import Bounds, LinearConstraint, milp

    if not 1 <= q <= n // 2:
        raise ValueError(f"twist q={q} outside 1..{n // 2}")
    check_tol = 1e-9 * n if check_tol is None else check_tol
    c = offset_weights(n)
    M = stability_matrix(n, q)
    rows = M[1 : n // 2 + 1]
    res = CaseResult(n=n, q=q)
    fixed = -np.ones(n // 2, dtype=np.int8) if fixed is None else np.asarray(fixed)
    free = fixed < 0
    base = rows[:, fixed == 1].sum(axis=1)
    c_one = float(c[fixed == 1].sum())
    eps = float(margin)
    t0 = time.perf_counter()
    for attempt in range(retries + 1):
        res.attempts = attempt + 1
        # fixed offsets enter as constants: the MILP is over the free ones only
        cons = [LinearConstraint(rows[:, free], -np.inf, -eps - base)]
        if min_degree > 0:
            cons.append(LinearConstraint(c[None, free], float(min_degree) - c_one, np.inf))
        sol = milp(-c[free], constraints=cons, integrality=np.ones(int(free.sum())), bounds=Bounds(0, 1),
                   options={"time_limit": float(time_limit), "disp": False})
        res.status = int(sol.status)
        if sol.x is None:  # infeasible, or no feasible point within the limit
            break
        x = (fixed == 1).astype(float)
        x[free] = np.round(sol.x)
        offsets = [int(k) + 1 for k in np.flatnonzero(x)]
        lam_closed = M[1:] @ x
        if n <= NUMERIC_CHECK_MAX_N:
            lam_num = _numeric_lam_max(n, q, offsets) if offsets else 0.0
            ok = bool(offsets) and lam_num < -check_tol and abs(lam_num - lam_closed.max()) < 1e-8 * max(1.0, c @ x)
        else:  # eigvalsh of the n x n Jacobian is too slow: the interval certificate alone decides
            lam_num, ok = float("nan"), bool(offsets)
        if ok:
            cert = certify_twist(n, q, offsets)
            res.certified, res.lam_max_upper, res.lam_max_lower = cert.stable, cert.upper, cert.lower
            ok = cert.stable
        if ok:
            res.offsets = offsets
            res.degree = round(float(c @ x))
            res.feasible = True
            res.optimal = sol.status == 0
            res.lam_max_closed = float(lam_closed.max())
            res.lam_max_numeric = lam_num
            res.margin = eps
            break
        eps *= 10.0
    res.solve_time = time.perf_counter() - t0
    return res


# -- dynamics --------------------------------------------------------------------------------
def kuramoto_rhs(A, *, xp=np):
    r"""Right-hand side :math:`f(t, \theta)_i = \cos\theta_i (A\sin\theta)_i - \sin\theta_i (A\cos\theta)_i`.

    ``theta`` has shape ``(B, n)`` (trials batched); ``A`` is ``(n, n)`` shared by
    all trials or ``(B, n, n)`` one graph per trial (symmetric).  The
    products are GEMMs: :math:`\sum_j A_{ij}\sin(\theta_j-\theta_i)` without
    forming phase differences.
    """
    batched = A.ndim == 3

    def f(t, theta):
        s, c = xp.sin(theta), xp.cos(theta)
        if batched:
            As = xp.matmul(A, s[:, :, None])[:, :, 0]
            Ac = xp.matmul(A, c[:, :, None])[:, :, 0]
        else:
            As, Ac = s @ A, c @ A
        return c * As - s * Ac

    return f


def order_parameter(theta, q: int = 0, *, xp=np):
    r""":math:`r_q = |n^{-1}\sum_j e^{i(\theta_j - 2\pi q j/n)}|` over the last axis (``q = 0``: in-phase :math:`r`)."""
    n = theta.shape[-1]
    ph = theta - xp.asarray(2 * np.pi * ((q * np.arange(n)) % n) / n)
    return xp.sqrt(xp.mean(xp.cos(ph), axis=-1) ** 2 + xp.mean(xp.sin(ph), axis=-1) ** 2)


def twist_distance(theta, q: int, *, xp=np):
    r"""RMS distance [rad] of ``theta`` from the ``q``-twist modulo a global rotation.

    :math:`\delta_j = \mathrm{wrap}(\theta_j - 2\pi qj/n - \psi)` with :math:`\psi`
    the phase of the twist order parameter; returns :math:`\sqrt{\langle\delta_j^2\rangle_j}`.
    """
    n = theta.shape[-1]
    ph = theta - xp.asarray(2 * np.pi * ((q * np.arange(n)) % n) / n)
    psi = xp.arctan2(xp.mean(xp.sin(ph), axis=-1), xp.mean(xp.cos(ph), axis=-1))
    d = xp.angle(xp.exp(1j * (ph - psi[..., None])))
    return xp.sqrt(xp.mean(d * d, axis=-1))


def integrate_phases(A, theta0, t_sim: float, dt: float, n_save: int = 100, *, xp=np, observe=None,
                     d_max: float | None = None):
    """RK4 (:class:`balnet.engine.integrators.RK4`) from ``theta0`` ``(B, n)`` for ``t_sim``.

    The step is ``min(dt, 1/d_max)`` (``d_max`` the largest degree: the Jacobian
    spectrum lies in ``[-2 d_max, 0]``, inside RK4's real stability interval
    ``[-2.78, 0]`` after scaling; pass ``d_max`` to fix the step independently
    of the graphs in the batch), rounded so that ``n_save`` equally spaced
    samples hit the grid.  ``observe(theta) -> dict of (B,) arrays`` is
    evaluated at every saved time.  Returns ``(times (S,), {name: (B, S)}, theta_final)``.
    """

    dmax = float(to_numpy(A.sum(axis=-1)).max()) if d_max is None else float(d_max)
    h_max = min(dt, 1.0 / dmax) if dmax > 0 else dt
    n_save = max(1, int(n_save))
    per = max(1, math.ceil(t_sim / n_save / h_max))
    h = t_sim / (n_save * per)
    f = kuramoto_rhs(A, xp=xp)
    solver = RK4()
    theta = theta0
    obs = {}
    times = [0.0]

    def record(th):
        for k, v in (observe(th) if observe else {}).items():
            obs.setdefault(k, []).append(to_numpy(v))

    record(theta)
    for s in range(n_save):
        for i in range(per):
            theta = solver.step(f, (s * per + i) * h, theta, h)
        times.append((s + 1) * per * h)
        record(theta)
    return np.asarray(times), {k: np.stack(v, axis=-1) for k, v in obs.items()}, theta


def validate_twist(n: int, q: int, offsets, *, t_sim: float = 200.0, dt: float = 0.05, perturbation: float = 0.05,
                   trials: int = 4, n_save: int = 200, seed: int = 0, xp=np) -> dict:
    r"""Simulate ``C_n(offsets)`` from the ``q``-twist plus Gaussian phase noise (``trials`` batched).

    Trial ``b`` draws its perturbation from ``stream(seed, q, KURAMOTO, 2, n, b)``.
    Returns ``time`` (S,), ``r_twist``, ``r_inphase``, ``distance`` (B, S) and
    ``decay_rate`` (B,): least-squares slope of :math:`\log` distance over the
    second half of the run [1/time] (for a stable twist it tends to
    :math:`\max_{m\ne0}\lambda_m` once the slowest mode dominates, unless the
    distance has reached round-off), and ``stays_twisted`` (B,):
    :math:`r_q > 0.99` and :math:`r_0 < 0.5` at the end.
    """

    A = circulant_adjacency(n, offsets, xp=xp)
    base = twisted_state(n, q)
    th0 = np.stack([base + perturbation * stream(seed, q, KURAMOTO, 2, n, b).standard_normal(n) for b in range(trials)])

    def observe(th):
        return {"r_twist": order_parameter(th, q, xp=xp), "r_inphase": order_parameter(th, 0, xp=xp),
                "distance": twist_distance(th, q, xp=xp)}

    times, obs, _ = integrate_phases(A, xp.asarray(th0), t_sim, dt, n_save, xp=xp, observe=observe)
    half = times >= times[-1] / 2
    logd = np.log(np.maximum(obs["distance"][:, half], 1e-300))
    tt = times[half] - times[half].mean()
    rate = ((logd - logd.mean(axis=1, keepdims=True)) * tt).sum(axis=1) / (tt * tt).sum()
    stays = (obs["r_twist"][:, -1] > 0.99) & (obs["r_inphase"][:, -1] < 0.5)
    return {"time": times, **obs, "decay_rate": rate, "stays_twisted": stays}


def erdos_renyi(n: int, p: float, rng: np.random.Generator) -> np.ndarray:
    """Symmetric 0/1 adjacency of G(n, p) (upper triangle drawn from ``rng``), shape ``(n, n)``."""
    U = np.triu(rng.random((n, n)) < p, 1)
    return (U | U.T).astype(float)


def er_synchrony(par: ERParams, ids, *, xp=np) -> dict:
    r"""Random phases on G(n, p) for trials ``ids`` (each its own graph): in-phase synchrony.

    Trial ``k``: graph from ``stream(seed, k, KURAMOTO, 0)``, phases uniform on
    :math:`[0, 2\pi)` from ``stream(seed, k, KURAMOTO, 1)``.  Returns ``time``
    (S,), ``r`` (B, S) in-phase order parameter (the RK4 step uses the bound
    ``n - 1`` on the degree, so a trial's result does not depend on its batch), ``min_degree`` (B,) and
    ``mu`` (B,) = min degree/(n-1).
    """

    As = np.stack([erdos_renyi(par.n, par.p, stream(par.seed, k, KURAMOTO, 0)) for k in ids])
    th0 = np.stack([stream(par.seed, k, KURAMOTO, 1).uniform(0, 2 * np.pi, par.n) for k in ids])
    times, obs, _ = integrate_phases(xp.asarray(As), xp.asarray(th0), par.t_sim, par.dt, par.n_save, xp=xp,
                                     observe=lambda th: {"r": order_parameter(th, 0, xp=xp)}, d_max=par.n - 1)
    dmin = As.sum(axis=2).min(axis=1)
    return {"time": times, "r": obs["r"], "min_degree": dmin, "mu": dmin / (par.n - 1)}


# -- families and figures --------------------------------------------------------------------
def family_mu(n) -> np.ndarray:
    """Connectivity of the family ``n = 22 q``, degree ``15 q - 1``: ``(15 n/22 - 1)/(n - 1)`` (NaN off the family)."""
    n = np.asarray(n, dtype=float)
    return np.where(n % 22 == 0, (15 * n / 22 - 1) / (n - 1), np.nan)


def plot_mu_vs_n(ns, mus, out, *, twists=None, title: str = "") -> None:
    """Best connectivity found per ``n`` with the published lower bounds and the ``n = 22q`` family."""

    plt = _plt()
    ns = np.asarray(ns)
    mus = np.asarray(mus, dtype=float)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.plot(ns, mus, "o-", ms=4, lw=1, label="best circulant network found (MILP)")
    fam = np.arange(22, max(int(ns.max()) if ns.size else 22, 22) + 1, 22)
    ax.plot(fam, family_mu(fam), "s-", mfc="none", ms=4 if fam.size > 12 else 7, lw=0.6, color="0.55",
            label="family n = 22q, degree 15q - 1")
    styles = (":", "--", "-.")
    for (v, lab), ls in zip(PUBLISHED_BOUNDS, styles):
        ax.axhline(v, ls=ls, color="k", lw=0.9, label=lab)
    if mus.size and np.isfinite(mus).any():
        i = int(np.nanargmax(mus))
        ax.annotate(f"best {mus[i]:.4f}\n(n = {ns[i]}" + (f", q = {twists[i]})" if twists is not None else ")"),
                    (ns[i], mus[i]), textcoords="offset points", xytext=(-110, -45), fontsize=8,
                    arrowprops=dict(arrowstyle="->", lw=0.6))
        lo = min(np.nanmin(mus), 2 / 3) - 0.005
        ax.set_ylim(lo, 0.686)
    ax.set_xlabel("number of oscillators n")
    ax.set_ylabel(r"connectivity $\mu$ = degree/(n-1)")
    ax.set_title(title or "densest circulant networks with a stable twisted state")
    ax.legend(fontsize=7, loc="lower right")
    save(fig, out)
