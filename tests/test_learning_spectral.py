"""Macro-FTLE selection and pre-training under the exact spectral-radius rescale (LearnParams.spectral_radius)."""
import dataclasses
import os
import subprocess
import sys

import numpy as np
import pytest

from balnet.chaos.lyapunov import lyapunov_run
from balnet.engine.params import ConfigError, NetworkParams, from_mapping
from balnet.learning.pretrain import (
    lyapunov_records,
    macro_ftle,
    pretrain_networks,
    scaled_network,
)
from balnet.learning.reservoir import LearnParams, learning_run
from balnet.model.network import realization_couplings

FTLE = dict(ftle_T=20.0, ftle_window=10.0, ftle_warmup=5.0, ftle_trials=1, ftle_dt=0.1, backend="numpy")


@pytest.mark.parametrize("extra", [dict(), dict(g_E=0.7, g_I=2.0, balance=1.3, u_I=0.5)])
def test_scaled_network_is_the_rescaled_matrix(extra):
    """Oracle: c J drawn directly vs the matrix drawn with (c J0, c g, c g_E, c g_I), same z; 1e-13 relative.
    Covers the population-specific scales, a non-critical balance and u_I != 1."""
    net = NetworkParams(N=40, g=1.2, J0=1.5, **extra)
    for k in (0, 3):
        J = realization_couplings(net, 7, k)
        Js = realization_couplings(scaled_network(net, 0.37), 7, k)
        np.testing.assert_allclose(Js, 0.37 * J, rtol=1e-13, atol=1e-15)
    with pytest.raises(ConfigError):
        scaled_network(net, 0.0)


def test_selection_ftle_is_that_of_the_rescaled_network():
    """The macro FTLE that selection uses under spectral_radius = rho equals lyapunov_run on NetworkParams with
    g and J0 multiplied by c_k = rho / max|eig(J_k)| (eigenvalues by numpy here, per realization), to 1e-9,
    and differs from the FTLE of the unscaled network (measured with the J of format 1: c_k = 0.23-0.28, FTLE lower by
    0.39-0.54 /tau; with format 2 the differences are 0.04-0.57 /tau: bound 0.05 on the largest); the second pool then keeps a different candidate than the unscaled FTLE would."""
    net = NetworkParams(N=30, g=1.5, J0=1.0)
    rho = 0.5
    learn = from_mapping(LearnParams, dict(task="narma10", spectral_radius=rho, select_pool=2, realizations=2,
                                           n_train=40, n_test=40, n_min=40, n_points=1, washout=10, **FTLE))
    ids = [0, 1, 2, 3]
    got = macro_ftle(net, ids, learn, xp=np)
    sim, lyap = lyapunov_records(learn, len(ids))
    ref = np.empty(len(ids))
    for k in ids:
        J = realization_couplings(net, learn.seed, k)
        c = rho / np.abs(np.linalg.eigvals(J)).max()
        scaled = dataclasses.replace(net, g=c * net.g, J0=c * net.J0)
        ref[k] = lyapunov_run(scaled, sim, lyap, [k], xp=np)["ftle_macro"].mean()
    unscaled = lyapunov_run(net, sim, lyap, ids, xp=np)["ftle_macro"].mean((1, 2))
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12)
    assert np.abs(got - unscaled).max() > 0.05, (got, unscaled)
    # learning_run selects on exactly these values (pools {0,1}, {2,3}; nearest 0 kept) and reports them
    out = learning_run(net, learn)
    np.testing.assert_allclose(out["ftle_candidates"], ref.reshape(2, 2), rtol=1e-9, atol=1e-12)
    pick = [2 * j + int(np.argmin(np.abs(ref[2 * j: 2 * j + 2]))) for j in range(2)]
    assert list(out["network_id"][1]) == pick
    assert pick != [2 * j + int(np.argmin(np.abs(unscaled[2 * j: 2 * j + 2]))) for j in range(2)]
    np.testing.assert_allclose(out["ftle_macro"][1], ref[pick], rtol=1e-9, atol=1e-12)


def test_pretrain_refused_with_spectral_radius(tmp_path):
    """The per-task spectral radius (narma10: 0.8) with pretrain is a one-line ConfigError naming the fix;
    spectral_radius 0 is accepted; pretrain_networks refuses a record that skipped validation."""
    with pytest.raises(ConfigError, match="set spectral_radius: 0"):
        from_mapping(LearnParams, dict(task="narma10", pretrain=True))
    ok = from_mapping(LearnParams, dict(task="narma10", pretrain=True, spectral_radius=0.0))
    assert ok.conditions() == ["baseline", "pretrain"]
    with pytest.raises(ConfigError, match="set spectral_radius: 0"):
        pretrain_networks(NetworkParams(N=10), [0], dataclasses.replace(ok, spectral_radius=0.8), xp=np,
                          measure=lambda p, ks: np.zeros(len(ks)))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    p = subprocess.run([sys.executable, "-m", "balnet", "learn", "--set", "task=memory", "--set", "pretrain=true",
                        "-o", str(tmp_path / "out.h5")], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 2 and "set spectral_radius: 0" in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
