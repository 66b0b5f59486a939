"""Results do not depend on the number of MPI ranks.

* default suite: ``mpiexec -n 2 balnet simulate|lyapunov`` in a subprocess writes the same
  data, bit for bit, as the serial command (only the ``n_ranks``/``created`` attributes differ);
* ``-m mpi`` (run as ``mpiexec -n 2 python3 -m pytest -m mpi tests/test_mpi.py``): inside an
  MPI job, the collective writer assembles every rank's realizations into a file equal, bit for
  bit, to an in-process serial simulation.
"""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from balnet.chaos.lyapunov import LyapunovParams, lyapunov_run
from balnet.commands.lyapunov import run_lyapunov
from balnet.engine.io import read
from balnet.engine.parallel import SerialComm, get_comm
from balnet.engine.params import NetworkParams, SimulationParams, from_mapping

ARGS = ["--N", "60", "--g", "1.8", "--J0", "1.0", "--realizations", "5", "--trials", "2", "--T", "8",
        "--dt", "0.05", "--sigma", "0.1", "--n-record", "7", "--chunk", "37", "--seed", "11", "--backend", "numpy"]
LYAP = ["--k", "3", "--t-ons", "0.5", "--t-window", "2"]
VOLATILE = {"n_ranks", "created"}


def _have_mpiexec() -> bool:
    return shutil.which("mpiexec") is not None


def _balnet(*args, ranks=None, env_extra=None):
    cmd = [sys.executable, "-m", "balnet", *args]
    if ranks:
        cmd = ["mpiexec", "-n", str(ranks), *cmd]
    env = dict(os.environ, OMP_NUM_THREADS="1", **(env_extra or {}))
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


def assert_same_file(a, b):
    """Every dataset bitwise equal (NaNs at the same places); attributes equal except VOLATILE."""
    da, aa = read(a)
    db, ab = read(b)
    assert sorted(da) == sorted(db)
    for k in da:
        assert da[k].shape == db[k].shape and da[k].dtype == db[k].dtype, k
        assert np.array_equal(da[k], db[k], equal_nan=da[k].dtype.kind == "f"), k
    for k in set(aa) | set(ab):
        if k in VOLATILE:
            continue
        va, vb = aa.get(k), ab.get(k)
        if isinstance(va, np.ndarray):
            assert np.array_equal(va, vb), k
        else:
            assert va == vb, k


@pytest.mark.skipif(not _have_mpiexec(), reason="mpiexec not installed")
@pytest.mark.parametrize("command,extra", [("simulate", []), ("lyapunov", LYAP)])
def test_mpiexec_two_ranks_bitwise_equal_serial(tmp_path, command, extra):
    """5 realizations x 2 trials with noise: rank 0 takes realizations 0, 2, 4 and rank 1 takes
    1, 3; the gathered file equals the serial one bit for bit and records n_ranks = 2."""
    from balnet.cli import commands

    if command not in commands():
        pytest.skip(f"balnet {command} is not available")
    serial, parallel = tmp_path / "serial.h5", tmp_path / "mpi.h5"
    r1 = _balnet(command, *ARGS, *extra, "-q", "-o", str(serial))
    assert r1.returncode == 0, r1.stderr
    r2 = _balnet(command, *ARGS, *extra, "-q", "-o", str(parallel), ranks=2)
    assert r2.returncode == 0, r2.stderr
    assert_same_file(serial, parallel)
    from balnet.engine.io import read_attrs

    assert read_attrs(parallel)["n_ranks"] == 2 and read_attrs(serial)["n_ranks"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mpi.h5", "serial.h5"]  # no temporary left


@pytest.mark.skipif(not _have_mpiexec(), reason="mpiexec not installed")
def test_mpiexec_bad_input_fails_fast(tmp_path):
    """A ConfigError on every rank under mpiexec: exit code != 0, one-line message, no hang,
    no output file."""
    out = tmp_path / "x.h5"
    r = _balnet("simulate", "--N", "1", "-o", str(out), ranks=2)
    assert r.returncode != 0
    assert "N must be an integer >= 2" in r.stderr and "Traceback" not in r.stderr
    assert not out.exists()


@pytest.mark.mpi
def test_collective_write_equals_serial(tmp_path):
    """Under mpiexec -n 2: run_simulation on COMM_WORLD (each rank its share, rank 0 writes)
    equals simulate() of all realizations in one process, bit for bit."""
    from balnet.commands.simulate import run_simulation
    from balnet.engine.parallel import my_share
    from balnet.model.simulate import simulate

    comm = get_comm()
    if isinstance(comm, SerialComm) or comm.size < 2:
        pytest.skip("run under mpiexec -n 2 (python3 -m pytest -m mpi)")
    path = comm.bcast(str(tmp_path / "collective.h5") if comm.rank == 0 else None, root=0)
    net = from_mapping(NetworkParams, dict(N=50, g=1.6, J0=1.0))
    sim = from_mapping(SimulationParams, dict(T=6.0, dt=0.05, realizations=5, trials=2, sigma=0.1, seed=4,
                                              n_record=5, chunk=23, backend="numpy"))
    assert my_share(range(5), comm) == list(range(5))[comm.rank :: comm.size]
    run_simulation(net, sim, path)
    comm.barrier()
    ok = True
    if comm.rank == 0:
        ref = simulate(net, sim)
        got, attrs = read(path)
        try:
            assert attrs["n_ranks"] == comm.size
            for k in ("nu_E", "nu_I", "m", "x", "final_state"):
                assert np.array_equal(got[k], ref[k]), k
            assert np.array_equal(got["time"], ref["t"])
        except AssertionError:
            ok = False
            raise
        finally:
            comm.bcast(ok, root=0)
    else:
        ok = comm.bcast(None, root=0)
        assert ok, "rank 0 found a mismatch"


@pytest.mark.mpi
def test_collective_lyapunov_equals_serial(tmp_path):
    """Under mpiexec -n 2: run_lyapunov on COMM_WORLD (rank 0 takes realizations 0 and 2, rank 1
    takes 1; N = 40, g = 2, J0 = 1, 2 trials, k = 3, 5 tau trajectory and frame warm-ups, 4 FTLE
    windows) writes the spectrum, FTLEs, convergence and Jacobian trace of lyapunov_run on all
    realizations in one process, bit for bit."""
    comm = get_comm()
    if isinstance(comm, SerialComm) or comm.size < 2:
        pytest.skip("run under mpiexec -n 2 (python3 -m pytest -m mpi)")
    path = comm.bcast(str(tmp_path / "lyapunov.h5") if comm.rank == 0 else None, root=0)
    net = from_mapping(NetworkParams, dict(N=40, g=2.0, J0=1.0))
    sim = from_mapping(SimulationParams, dict(T=20.0, t_warmup=5.0, dt=0.1, realizations=3, trials=2,
                                              backend="numpy"))
    lyap = from_mapping(LyapunovParams, dict(k=3, t_window=5.0, t_warmup_tangent=5.0))
    assert run_lyapunov(net, sim, lyap, path) == 0
    ok = True
    if comm.rank == 0:
        try:
            ref = lyapunov_run(net, sim, lyap, range(3))
            got, attrs = read(path)
            assert attrs["n_ranks"] == comm.size and list(attrs["realization_ids"]) == [0, 1, 2]
            assert got["spectrum"].shape == (3, 2, 3) and got["ftle_micro"].shape == (3, 2, 4)
            for k in ("spectrum", "ftle_micro", "ftle_macro", "convergence", "trace_jacobian_mean"):
                assert np.array_equal(got[k], ref[k]), k
        except AssertionError:
            ok = False
            raise
        finally:
            comm.bcast(ok, root=0)
    else:
        ok = comm.bcast(None, root=0)
        assert ok, "rank 0 found a mismatch"
