"""Coupling statistics, E/I balance, spectra (circular law, outliers) and the Jacobian."""
import os
import subprocess
import sys

import numpy as np
import pytest

from balnet.engine.params import ConfigError, NetworkParams, from_mapping
from balnet.model.dynamics import RateNetwork, get_gain
from balnet.model.network import (
    balance_vector,
    coupling_matrix,
    eigenvalues,
    input_vector,
    mean_part_eigenvalue,
    outliers,
    realization_couplings,
    ROW_BLOCK,
    coupling_rows_into,
    column_scales,
)
from balnet.engine.random import CONNECTIVITY, stream


def test_balance_vector_sums_to_zero_and_dale():
    p = NetworkParams(N=1000, f=0.8)
    w = balance_vector(p)
    assert p.N_E == 800 and p.N_I == 200
    assert abs(w.sum()) < 1e-12  # critical balance: sum_j w_j = 0 exactly
    assert np.all(w[:800] == 1.0) and np.all(w[800:] == -4.0)
    # Dale's law on the mean part: E columns excite, I columns inhibit
    J = coupling_matrix(NetworkParams(N=1000, g=0.0, J0=2.0), np.random.default_rng(0))
    assert np.all(J[:, :800] > 0) and np.all(J[:, 800:] < 0)


def test_random_part_statistics():
    """J0=0: entries have mean 0 and std g/sqrt(N) (within 1% of N^2 = 10^6 samples)."""
    p = NetworkParams(N=1000, g=1.7, J0=0.0)
    J = coupling_matrix(p, np.random.default_rng(1))
    assert abs(J.mean()) < 5 * 1.7 / 1000 / 1000 ** 0.5 * 1000 ** 0.5 / 10
    assert abs(J.std() * np.sqrt(1000) / 1.7 - 1) < 0.01


@pytest.mark.parametrize("g", [0.5, 1.5])
def test_circular_law(g):
    """Eigenvalues of g z/sqrt(N) fill the disk of radius g (Rajan & Abbott 2006).

    N=1000: spectral radius within 6% of g; uniform density: fraction inside
    radius g/2 is 1/4 within 0.03.
    """
    ev = eigenvalues(coupling_matrix(NetworkParams(N=1000, g=g, J0=0.0), np.random.default_rng(2)))
    assert abs(np.abs(ev).max() / g - 1) < 0.06
    assert abs(np.mean(np.abs(ev) < g / 2) - 0.25) < 0.03


def test_inhibition_dominated_outlier():
    """r>1: the mean part adds one real outlier at J0 w.u/sqrt(N) (within 3%)."""
    p = NetworkParams(N=1000, g=1.0, J0=1.0, balance=1.5)
    theta = mean_part_eigenvalue(p)
    assert theta == pytest.approx(-1.0 * 0.5 * 800 / np.sqrt(1000))
    ev = eigenvalues(coupling_matrix(p, np.random.default_rng(5)))
    out = outliers(ev, radius=1.0, margin=0.2)
    assert len(out) == 1
    assert abs(out[0].imag) < 1e-8 and abs(out[0].real / theta - 1) < 0.03


def test_excitation_dominated_outlier():
    p = NetworkParams(N=1000, g=0.5, J0=1.0, balance=0.8)
    theta = mean_part_eigenvalue(p)
    assert theta > 2
    ev = eigenvalues(coupling_matrix(p, np.random.default_rng(6)))
    assert abs(ev[0].real / theta - 1) < 0.03


def test_critical_mean_part_is_nilpotent():
    """Critical balance: (u w^T)^2 = (w.u) u w^T = 0, so all eigenvalues of the mean part vanish."""
    p = NetworkParams(N=400, g=0.0, J0=3.0)
    M = coupling_matrix(p, np.random.default_rng(0))
    assert mean_part_eigenvalue(p) == pytest.approx(0.0, abs=1e-12)
    assert np.max(np.abs(M @ M)) < 1e-10
    # random part + critical mean: the bulk still follows the circular law (90% of the
    # eigenvalues inside radius sqrt(0.9) g, within 0.03); the few eigenvalues beyond g are
    # realization-dependent outliers created by the non-normal mean part (measured, not assumed)
    ev = eigenvalues(coupling_matrix(NetworkParams(N=1000, g=1.0, J0=1.0), np.random.default_rng(7)))
    assert abs(np.quantile(np.abs(ev), 0.9) - np.sqrt(0.9)) < 0.03
    assert np.sum(np.abs(ev) > 1.05) < 20


def test_population_specific_scales_and_u():
    p = NetworkParams(N=500, g=1.0, g_E=0.5, g_I=2.0, J0=0.0)
    J = coupling_matrix(p, np.random.default_rng(3))
    assert abs(J[:, :400].std() * np.sqrt(500) - 0.5) < 0.02
    assert abs(J[:, 400:].std() * np.sqrt(500) - 2.0) < 0.05
    u = input_vector(NetworkParams(N=10, u_E=1.0, u_I=0.5))
    assert np.all(u[:8] == 1.0) and np.all(u[8:] == 0.5)


def test_realizations_differ_and_are_reproducible():
    p = NetworkParams(N=50)
    a, b = realization_couplings(p, 1, 0), realization_couplings(p, 1, 1)
    assert not np.allclose(a, b)
    assert np.array_equal(a, realization_couplings(p, 1, 0))
    # float32 is the float64 draw rounded
    assert np.array_equal(realization_couplings(p, 1, 0, np.float32), a.astype(np.float32))


@pytest.mark.parametrize("gain", ["tanh", "relu", "sigmoid"])
def test_jvp_jacobian_trace(xp, gain):
    """jvp == dense Jacobian @ v; trace_jacobian == trace; dphi == finite difference of phi."""
    p = NetworkParams(N=30, g=1.3)
    J = coupling_matrix(p, np.random.default_rng(0))
    rng = np.random.default_rng(1)
    x, v = rng.standard_normal(30), rng.standard_normal((4, 30))
    net = RateNetwork(xp.asarray(J), get_gain(gain), xp=xp)
    D = np.asarray(net.jacobian(xp.asarray(x)).tolist())
    jv = np.asarray(net.jvp(xp.asarray(x[None]), xp.asarray(v[None])).tolist())[0]
    assert np.allclose(jv, v @ D.T, atol=1e-12)
    tr = float(net.trace_jacobian(xp.asarray(x[None]))[0])
    assert tr == pytest.approx(np.trace(D), abs=1e-12)
    g = get_gain(gain)
    xs = np.linspace(-2, 2, 41) + 1e-3  # avoid the relu kink
    fd = (g.phi(xs + 1e-6) - g.phi(xs - 1e-6)) / 2e-6
    assert np.allclose(g.dphi(xs), fd, atol=1e-7)


def test_populations_macro_relation():
    p = NetworkParams(N=100, balance=1.0)
    J = coupling_matrix(p, np.random.default_rng(0))
    net = RateNetwork(J, get_gain("tanh"), w=balance_vector(p), n_E=p.N_E)
    x = np.random.default_rng(2).standard_normal((3, 100))
    nuE, nuI, m = net.populations(x)
    assert np.allclose(m, p.N_E * (nuE - nuI) / np.sqrt(p.N))


@pytest.mark.parametrize(
    "bad,msg",
    [({"N": -3}, "N must be"), ({"f": 1.5}, "f must lie"), ({"g": -1}, "g must be"), ({"gain": "tan"}, "gain must be"),
     ({"gg": 1}, "did you mean 'g'"), ({"N": "abc"}, "N must be of type int"), ({"N": 10.5}, "of type int")],
)
def test_network_param_errors(bad, msg):
    with pytest.raises(ConfigError, match=msg):
        from_mapping(NetworkParams, bad)


def test_row_blocks_pinned_and_defined_by_block_streams():
    """J (file format 2): block b of realization k is drawn from stream (k, CONNECTIVITY, b).

    Oracle: the documented definition J_ij = g_j z_ij / sqrt(N) + J0 u_i w_j / sqrt(N) evaluated
    from the block streams by hand; plus four pinned entries (a change of J must be deliberate)."""
    p = NetworkParams(N=600, g=1.5, J0=1.0)
    J = realization_couplings(p, 7, 0)
    assert ROW_BLOCK == 256
    for i, j in [(0, 599), (255, 3), (256, 256), (599, 0), (513, 77)]:
        b, a = divmod(i, ROW_BLOCK)
        rows = min(ROW_BLOCK, p.N - b * ROW_BLOCK)
        z = stream(7, 0, CONNECTIVITY, b).standard_normal((rows, p.N))[a, j]
        ref = column_scales(p)[j] * z / np.sqrt(p.N) + p.J0 * input_vector(p)[i] * balance_vector(p)[j] / np.sqrt(p.N)
        assert J[i, j] == pytest.approx(ref, rel=1e-14, abs=1e-16)
    pinned = np.array([-0.20477154, -0.04356525, 0.13666423, -0.08331466])
    assert np.allclose(J[[0, 255, 256, 599], [599, 3, 256, 0]], pinned, rtol=0, atol=5e-9)
    # float32 is the float64 draw rounded, entry by entry
    assert np.array_equal(realization_couplings(p, 7, 0, np.float32), J.astype(np.float32))


@pytest.mark.parametrize("N", [300, 600, 1100])
def test_rows_drawn_alone_equal_the_whole_matrix(N):
    """Any contiguous run of blocks, drawn alone (as a rank of a row partition does), equals
    those rows of the whole matrix; the transposed layout holds the same numbers."""
    p = NetworkParams(N=N, g=1.2, J0=0.7)
    J = realization_couplings(p, 3, 2)
    nb = -(-N // ROW_BLOCK)
    for b0 in range(nb):
        for b1 in range(b0 + 1, nb + 1):
            lo, hi = b0 * ROW_BLOCK, min(N, b1 * ROW_BLOCK)
            rows = coupling_rows_into(p, 3, 2, np.empty((hi - lo, N)), b0, b1)
            assert np.array_equal(rows, J[lo:hi])
    T = coupling_rows_into(p, 3, 2, np.empty((N, N), np.float32), transposed=True)
    assert np.array_equal(T, J.T.astype(np.float32))


def test_draw_peak_memory_is_one_matrix(tmp_path):
    """Peak RSS growth while building a float32 network of N = 4096 (J = 64 MiB) stays below
    1.15 x J + 32 MiB (one float64 row block is 8 MiB).  The float64 draw plus np.outer of the
    old code needed about 6 x J, so this fails on it.  Measured in a fresh interpreter, from the
    resident size after a small warm-up build (lazy imports, thread pools), to the high-water mark
    VmHWM of this process's memory map (ru_maxrss would carry the forking parent's resident size
    across exec: a large pytest process made it read 1.78 x J)."""
    code = (
        "import resource, numpy as np\n"
        "from balnet.engine.params import NetworkParams\n"
        "from balnet.model.simulate import build_network\n"
        "build_network(NetworkParams(N=300, g=1.5, J0=1.0), [0], 0, np, np.float32)  # lazy imports, pools\n"
        "base = int(open('/proc/self/statm').read().split()[1]) * resource.getpagesize()\n"
        "f = build_network(NetworkParams(N=4096, g=1.5, J0=1.0), [0], 0, np, np.float32)\n"
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0]\n"
        "peak = int(hwm.split()[1]) * 1024\n"
        "print(peak - base, f.JT.nbytes)\n"
    )
    if not os.path.exists("/proc/self/statm"):
        pytest.skip("needs /proc (Linux)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert r.returncode == 0, r.stderr
    grown, nbytes = map(int, r.stdout.split())
    assert nbytes == 4096 * 4096 * 4
    assert grown <= 1.15 * nbytes + 32 * 2**20, (grown / nbytes)


def test_single_generator_draw_is_the_format_1_matrix():
    """coupling_matrix(p, rng) consumes rng row-major in blocks: bit for bit the format-1 draw
    (the whole float64 z at once, scaled, plus J0 np.outer(u, w) / sqrt(N)), written out here as
    the oracle; files without format_version hold runs of this draw with rng = stream(seed, k, 0)."""
    p = NetworkParams(N=300, g=1.3, J0=1.0, balance=1.2)
    z = stream(2, 1, CONNECTIVITY).standard_normal((300, 300))
    old = z * (column_scales(p)[None, :] / np.sqrt(300)) + (p.J0 / np.sqrt(300)) * np.outer(input_vector(p), balance_vector(p))
    assert np.array_equal(coupling_matrix(p, stream(2, 1, CONNECTIVITY)), old)
    assert np.array_equal(coupling_matrix(p, stream(2, 1, CONNECTIVITY), np.float32), old.astype(np.float32))
    assert not np.allclose(realization_couplings(p, 2, 1), old)  # format 2 differs
