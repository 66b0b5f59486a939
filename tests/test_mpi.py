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


# -- row-partitioned networks (one realization over several ranks) -----------------------------

ROWS = ["--N", "700", "--g", "1.8", "--J0", "1.0", "--trials", "2", "--T", "4", "--dt", "0.05", "--sigma", "0.1",
        "--n-record", "9", "--chunk", "23", "--seed", "5", "--backend", "numpy"]


def assert_close_file(a, b, tol=1e-12):
    """Every dataset of ``a`` equals ``b`` within ``tol`` (absolute and relative), same shapes."""
    da, _ = read(a)
    db, _ = read(b)
    assert sorted(da) == sorted(db)
    for k in da:
        assert da[k].shape == db[k].shape, k
        assert np.allclose(da[k], db[k], rtol=tol, atol=tol), (k, np.max(np.abs(da[k] - db[k])))


@pytest.mark.skipif(not _have_mpiexec(), reason="mpiexec not installed")
@pytest.mark.parametrize("ranks,realizations,row_ranks", [
    (2, 1, 0), (3, 1, 0), pytest.param(4, 2, 2, marks=pytest.mark.slow)])
def test_mpiexec_row_partition_equals_serial(tmp_path, ranks, realizations, row_ranks):
    """N = 700 (row blocks 256, 256, 188) with noise and a per-neuron input series, split by rows over 2 or 3 ranks (3: one block
    each; 2: blocks {0}, {1, 2}), and 2 realization groups x 2 row ranks (4 ranks, slow): population
    activity, sampled neurons and final state equal the serial unpartitioned run to 1e-12
    (only the summation order of the GEMM and the population sums differs).  -n 3 on fewer cores
    relies on the launcher oversubscribing (MPICH does by default)."""
    series = tmp_path / "input.npy"  # a per-neuron input series: each rank must take its own columns
    np.save(series, 0.3 * np.sin(np.arange(80)[:, None] * 0.1 + np.arange(700)[None, :]))
    args = [*ROWS, "--realizations", str(realizations), "--input-file", str(series), "-q"]
    serial, parallel = tmp_path / "serial.h5", tmp_path / "rows.h5"
    r1 = _balnet("simulate", *args, "-o", str(serial))
    assert r1.returncode == 0, r1.stderr
    r2 = _balnet("simulate", *args, "--partition", "rows", "--row-ranks", str(row_ranks), "-o", str(parallel), ranks=ranks)
    assert r2.returncode == 0, r2.stderr
    assert_close_file(serial, parallel)
    from balnet.engine.io import read_attrs

    assert read_attrs(parallel)["n_ranks"] == ranks


@pytest.mark.skipif(not _have_mpiexec(), reason="mpiexec not installed")
@pytest.mark.parametrize("ranks", [2, pytest.param(3, marks=pytest.mark.slow)])
def test_mpiexec_row_partitioned_lyapunov_equals_serial(tmp_path, ranks):
    """Lyapunov spectrum (k = 4) with tangent vectors split by rows over 2 or 3 ranks, frames
    re-orthonormalized by CholeskyQR2 with an Allreduce of the 4 x 4 Gram matrix: every output
    (spectrum, FTLEs, macro FTLEs of all four methods, trace term, bootstrap intervals) equals the
    serial run with Householder QR to 1e-9 (a rounding-level difference amplified by the chaotic
    dynamics over T = 6)."""
    args = [*ROWS, "--realizations", "1", "--k", "4", "--t-ons", "0.5", "--t-window", "2", "--T", "6",
            "--macro-compare", "true", "-q"]
    serial, parallel = tmp_path / "serial.h5", tmp_path / "rows.h5"
    r1 = _balnet("lyapunov", *args, "-o", str(serial))
    assert r1.returncode == 0, r1.stderr
    r2 = _balnet("lyapunov", *args, "--partition", "rows", "-o", str(parallel), ranks=ranks)
    assert r2.returncode == 0, r2.stderr
    assert_close_file(serial, parallel, tol=1e-9)


@pytest.mark.skipif(not _have_mpiexec(), reason="mpiexec not installed")
def test_mpiexec_row_ranks_must_divide(tmp_path):
    """--row-ranks 2 on 3 ranks is a one-line configuration error on every rank, no file."""
    out = tmp_path / "x.h5"
    r = _balnet("simulate", *ROWS, "-q", "--partition", "rows", "--row-ranks", "2", "-o", str(out), ranks=3)
    assert r.returncode != 0
    assert "does not divide" in r.stderr and "Traceback" not in r.stderr
    assert not out.exists()


@pytest.mark.mpi
def test_row_partitioned_simulation_in_mpi_job():
    """Under mpiexec -n 2: simulate(..., rows=COMM_WORLD) with partition=rows, rank 0 holding
    the assembled result, equals the unpartitioned simulate() in one process to 1e-12."""
    from balnet.engine.parallel import SerialComm, get_comm
    from balnet.model.simulate import simulate

    comm = get_comm()
    if isinstance(comm, SerialComm) or comm.size < 2:
        pytest.skip("run under mpiexec -n 2 (python3 -m pytest -m mpi)")
    net = from_mapping(NetworkParams, dict(N=600, g=1.6, J0=1.0))
    base = dict(T=3.0, dt=0.05, realizations=2, trials=2, sigma=0.1, seed=4, n_record=5, chunk=23, backend="numpy")
    got = simulate(net, from_mapping(SimulationParams, dict(base, partition="rows")), rows=comm)
    ok = True
    if comm.rank == 0:
        ref = simulate(net, from_mapping(SimulationParams, base))
        try:
            for k in ("nu_E", "nu_I", "m", "x", "final_state"):
                assert got[k].shape == ref[k].shape, k
                assert np.allclose(got[k], ref[k], rtol=1e-12, atol=1e-12), k
        except AssertionError:
            ok = False
            raise
        finally:
            comm.bcast(ok, root=0)
    else:
        assert got is None
        assert comm.bcast(None, root=0), "rank 0 found a mismatch"



class _ThreadComm:
    """Rank ``rank`` of ``size`` threads of one process: ``Allreduce`` sums every thread's buffer
    (what MPI's does), through a barrier; enough of a communicator for ``allreduce_sum``."""

    def __init__(self, shared, rank, size):
        self.shared, self.rank, self.size = shared, rank, size

    def Allreduce(self, _in_place, buf, op=None):
        sh = self.shared
        sh["bufs"][self.rank] = buf.copy()
        sh["barrier"].wait()
        total = sum(sh["bufs"])
        sh["barrier"].wait()
        buf[...] = total


def test_cholesky_qr2_of_split_frames_equals_householder():
    """orthonormalize_rows on frames whose columns are split over 3 'ranks' (threads with a
    summing Allreduce; blocks of 256, 144 and 100 columns) equals the Householder QR of the whole
    frames (orthonormalize: numpy's LAPACK), Q and log R_ii to 1e-12, for a frame of condition
    number 1e4 and a random one (CholeskyQR2 is accurate while cond(V) << 1e8 in float64)."""
    import threading

    pytest.importorskip("mpi4py")
    from balnet.chaos.lyapunov import orthonormalize, orthonormalize_rows
    from balnet.engine.parallel import SerialComm

    rng = np.random.default_rng(3)
    N, K = 500, 6
    U, _ = np.linalg.qr(rng.standard_normal((N, K)))
    W, _ = np.linalg.qr(rng.standard_normal((K, K)))
    V = np.stack([(U * np.logspace(0, -4, K)) @ W, rng.standard_normal((N, K))])  # (2, N, K)
    V = np.ascontiguousarray(np.swapaxes(V, -1, -2))  # frames (2, K, N), rows are vectors
    assert np.linalg.cond(V[0].T) > 1e3
    Qh, lh = orthonormalize(V, np)
    Qs, ls = orthonormalize_rows(V, SerialComm(), np)
    assert np.allclose(Qs, Qh, atol=1e-12) and np.allclose(ls, lh, atol=1e-12)
    edges = [0, 256, 400, N]
    shared = {"bufs": [None] * 3, "barrier": threading.Barrier(3)}
    out = [None] * 3

    def run(p):
        piece = np.ascontiguousarray(V[..., edges[p] : edges[p + 1]])
        out[p] = orthonormalize_rows(piece, _ThreadComm(shared, p, 3), np)

    threads = [threading.Thread(target=run, args=(p,)) for p in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    Q = np.concatenate([o[0] for o in out], axis=-1)
    assert np.allclose(Q, Qh, atol=1e-12)
    for o in out:
        assert np.allclose(o[1], lh, atol=1e-12)
