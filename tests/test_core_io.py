"""HDF5 round trip, self-description, xarray access, atomic writes."""
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from balnet.commands.simulate import run_simulation
from balnet.engine.io import H5Writer, atomic_path, read, read_attrs, summarize
from balnet.engine.params import ConfigError, NetworkParams, SimulationParams
from balnet.model.simulate import simulate


def test_round_trip_equals_in_memory(tmp_path):
    net = NetworkParams(N=64, g=1.8, J0=1.0)
    sim = SimulationParams(T=6.0, dt=0.1, realizations=3, trials=2, n_record=5, chunk=13, seed=11)
    path = tmp_path / "run.h5"
    run_simulation(net, sim, path)
    mem = simulate(net, sim)
    arrays, attrs = read(path)
    for k in ("nu_E", "nu_I", "m", "x", "final_state"):
        assert np.array_equal(arrays[k], mem[k]), k
    assert np.array_equal(arrays["time"], mem["t"])
    assert np.array_equal(arrays["neuron"], mem["neurons"])
    assert attrs["kind"] == "simulation" and attrs["root_seed"] == 11 and attrs["n_ranks"] == 1
    assert list(attrs["realization_ids"]) == [0, 1, 2]
    assert attrs["params"]["network"]["g"] == 1.8 and attrs["params"]["simulation"]["dt"] == 0.1
    assert attrs["units"]["time"] == "tau"
    assert attrs["balnet_version"]
    with h5py.File(path) as f:
        ds = f["nu_E"]
        assert ds.maxshape[2] is None and ds.chunks is not None and ds.compression == "gzip"
        assert [d.label for d in ds.dims] == ["realization", "trial", "time"]
    assert "nu_E [1]: float64 (3, 2, 61) (realization, trial, time)" in summarize(path)


def test_xarray_opens_labelled(tmp_path):
    xr = pytest.importorskip("xarray")
    pytest.importorskip("h5netcdf")
    path = tmp_path / "run.h5"
    run_simulation(NetworkParams(N=32), SimulationParams(T=2.0, dt=0.1, realizations=2, n_record=3), path)
    ds = xr.open_dataset(path, engine="h5netcdf")
    assert ds["nu_E"].dims == ("realization", "trial", "time")
    assert ds["x"].dims == ("realization", "trial", "time", "neuron")
    assert ds["time"].attrs["units"] == "tau"
    assert float(ds["time"][-1]) == pytest.approx(2.0)
    ds.close()


def test_atomic_path_removes_temp_on_error(tmp_path):
    target = tmp_path / "out.h5"
    with pytest.raises(RuntimeError):
        with H5Writer(target, kind="test", params={}) as w:
            w.coord("time", np.arange(3))
            raise RuntimeError("boom")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []
    with atomic_path(target) as tmp:
        tmp.write_text("ok")
        assert not target.exists()
    assert target.read_text() == "ok"


def test_killed_write_leaves_no_file(tmp_path):
    """SIGKILL during a long run: nothing at the final path (only a hidden temp file)."""
    target = tmp_path / "run.h5"
    cmd = [sys.executable, "-m", "balnet", "simulate", "--N", "200", "--T", "100000", "--dt", "0.1",
           "--chunk", "10", "-q", "-o", str(target)]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline and not any(f.name.startswith(".run.h5.tmp") for f in tmp_path.iterdir()):
        time.sleep(0.1)
    time.sleep(1.0)
    assert p.poll() is None, p.stderr.read()
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert not target.exists()
    # a rerun completes and produces a readable file
    subprocess.run([sys.executable, "-m", "balnet", "simulate", "--N", "50", "--T", "1", "-q", "-o", str(target)], check=True)
    assert read_attrs(target)["kind"] == "simulation"


def test_read_errors(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        read(tmp_path / "missing.h5")
    bad = tmp_path / "bad.h5"
    bad.write_text("not hdf5")
    with pytest.raises(ConfigError, match="not a readable HDF5"):
        read_attrs(bad)


def test_read_checks_the_file_kind(tmp_path):
    """`read`/`read_attrs` with `kind=` refuse a file of another kind in one line, before any dataset is
    read (a reducer handed the wrong file names both kinds instead of a missing dataset)."""
    path = tmp_path / "k.h5"
    with H5Writer(path, kind="fim", params={"fim": {"M": 1}}) as w:
        w.coord("seed", np.arange(2))
    assert read_attrs(path, kind="fim")["kind"] == "fim"
    assert read(path, kind=("dsnn", "fim"))[1]["kind"] == "fim"
    with pytest.raises(ConfigError, match=r"is a 'fim' file, expected a 'simulation' file"):
        read(path, ["time"], kind="simulation")
    with pytest.raises(ConfigError, match=r"expected a 'dsnn' or 'kuramoto' file"):
        read_attrs(path, kind=("dsnn", "kuramoto"))
