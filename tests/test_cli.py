"""The balnet command: help, simulate/info/plot, one-line errors with exit 2 and no output file."""
import os
import subprocess
import sys

import pytest
from figcheck import check_png

from balnet.cli import commands, main


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "balnet", *args], capture_output=True, text=True, cwd=cwd)


def test_help_lists_every_subcommand():
    r = run("--help")
    assert r.returncode == 0
    for name in commands():
        assert name in r.stdout
    r = run("simulate", "--help")
    assert "(default: 1000)" in r.stdout and "[tau]" in r.stdout


def test_simulate_info_plot(tmp_path):
    cfg = tmp_path / "p.yaml"
    cfg.write_text("network:\n  N: 60\n  g: 1.5\nsimulation:\n  T: 3\n  realizations: 2\n")
    out = tmp_path / "run.h5"
    r = run("simulate", "-c", str(cfg), "--set", "J0=0.5", "--dt", "0.1", "-q", "-o", str(out))
    assert r.returncode == 0, r.stderr
    info = run("info", str(out))
    assert "J0=0.5" in info.stdout and "N=60" in info.stdout and "realization_ids: [0 1]" in info.stdout
    fig = tmp_path / "pop.png"
    assert run("plot", str(out), "-o", str(fig)).returncode == 0
    check_png(fig, 6, colors=("tab:red", "tab:blue"))  # 3 rows x 2 realizations; nu_E red, nu_I blue


@pytest.mark.parametrize(
    "args,msg",
    [
        (["--N", "-3"], "N must be an integer >= 2"),
        (["--dt", "0"], "dt must be a positive number"),
        (["--f", "1.5"], "f must lie in (0, 1)"),
        (["--set", "gg=1"], "unknown parameter 'gg' (did you mean 'g'?)"),
        (["--N", "ten"], "N must be of type int"),
        (["-c", "/nonexistent/p.yaml"], "cannot read /nonexistent/p.yaml"),
        (["--backend", "cuda"], "backend must be"),
    ],
)
def test_bad_input_one_line_exit_2(tmp_path, args, msg):
    out = tmp_path / "x.h5"
    r = run("simulate", *args, "-o", str(out))
    assert r.returncode == 2
    assert msg in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_bad_yaml_and_unknown_section(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("network: [1, 2\n")
    r = run("simulate", "-c", str(bad), "-o", str(tmp_path / "x.h5"))
    assert r.returncode == 2 and "not valid YAML" in r.stderr
    bad.write_text("netwrok:\n  N: 10\n")
    r = run("simulate", "-c", str(bad), "-o", str(tmp_path / "x.h5"))
    assert r.returncode == 2 and "did you mean 'network'" in r.stderr


def test_info_unreadable_file(tmp_path):
    r = run("info", str(tmp_path / "none.h5"))
    assert r.returncode == 2 and "no such file" in r.stderr and "Traceback" not in r.stderr


def test_unknown_flag_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["simulate", "--gg", "1", "-o", "x.h5"])
    assert e.value.code == 2


# -- output safety: checked before any computation --------------------------------------------------


def runp(*args, cwd=None):
    """``balnet ARGS`` in this process (fast: no interpreter start); returncode and stderr like run()."""
    import contextlib
    import io
    import os
    import types

    err, old = io.StringIO(), os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                code = main([str(a) for a in args])
            except SystemExit as e:
                code = e.code
    finally:
        os.chdir(old)
    return types.SimpleNamespace(returncode=code, stderr=err.getvalue())


def _one_line(r, msg):
    assert r.returncode == 2, r.stderr
    assert msg in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_existing_output_refused_unless_overwrite(tmp_path):
    out = tmp_path / "run.h5"
    out.write_bytes(b"precious")
    args = ("simulate", "--N", "20", "--T", "1", "-q", "-o", str(out))
    _one_line(runp(*args), "exists (add --overwrite to replace it)")
    assert out.read_bytes() == b"precious"
    assert runp(*args, "--overwrite").returncode == 0
    assert out.read_bytes()[:4] == b"\x89HDF"
    assert runp(*args, "--force").returncode == 0


def test_output_that_is_an_input_always_refused(tmp_path):
    run_h5 = tmp_path / "run.h5"
    assert runp("simulate", "--N", "20", "--T", "2", "-q", "-o", str(run_h5)).returncode == 0
    before = run_h5.read_bytes()
    for extra in ((), ("--overwrite",)):
        _one_line(runp("reduce", "phases", str(run_h5), "-o", str(run_h5), *extra), "is also an input")
    fig = tmp_path / "f.png"
    _one_line(runp("reduce", "phases", str(run_h5), "-o", str(tmp_path / "pd.h5"), "--figure", str(run_h5),
                  "--overwrite"), "is also an input")
    assert run_h5.read_bytes() == before and not fig.exists()


@pytest.mark.parametrize("out,msg", [("/proc/balnet-x.h5", "cannot write /proc/balnet-x.h5"),
                                     (".", "is a directory")])
def test_unwritable_output_refused_before_compute(tmp_path, out, msg):
    """A run that would take minutes (N = 3000, T = 2000) is refused at once: the check comes first."""
    import time

    t0 = time.perf_counter()
    r = runp("lyapunov", "--N", "3000", "--T", "2000", "-q", "-o", out, cwd=tmp_path)
    _one_line(r, msg)
    assert time.perf_counter() - t0 < 20


def test_figure_format_checked_before_compute(tmp_path):
    cfg = tmp_path / "p.yaml"
    cfg.write_text("N: 30\n")
    _one_line(runp("learn", "-c", str(cfg), "-o", str(tmp_path / "l.h5"), "--figure", str(tmp_path / "l.xyz")),
              "unknown format .xyz")
    _one_line(runp("plot", str(cfg), "-o", str(tmp_path / "p")), "unknown format (no extension)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.yaml"]


def test_info_into_a_closed_pipe_is_quiet(tmp_path):
    out = tmp_path / "run.h5"
    assert runp("simulate", "--N", "20", "--T", "1", "-q", "-o", str(out)).returncode == 0
    r = subprocess.run(f"{sys.executable} -m balnet info {' '.join([str(out)] * 200)} | head -1", shell=True,
                       capture_output=True, text=True)
    assert r.stdout.strip() == str(out) and "Traceback" not in r.stderr and "BrokenPipe" not in r.stderr


# -- bad values: one line, exit 2 -------------------------------------------------------------------


@pytest.mark.parametrize(
    "args,msg",
    [
        (["--g", "nan"], "g must be a finite number, got 'nan'"),
        (["--set", "J0=.inf"], "J0 must be a finite number, got inf"),
        (["--set", "N=.nan"], "N must be a finite integer"),
        (["--N", "50", "--n-record", "500"], "n_record=500 exceeds N=50"),
        (["--dt", "5", "--solver", "euler"], "dt=5.0 is not below tau=1"),
        (["--dt", "1", "--solver", "rk4"], "dt=1.0 is not below tau=1"),
        (["--dt", "0.5", "--T", "0.2"], "dt=0.5 exceeds T=0.2"),
    ],
)
def test_nan_and_cross_field_one_line(tmp_path, args, msg):
    _one_line(runp("simulate", *args, "-o", str(tmp_path / "x.h5")), msg)
    assert list(tmp_path.iterdir()) == []


def test_empty_yaml_refused(tmp_path):
    e = tmp_path / "e.yaml"
    e.write_text("# nothing\n")
    _one_line(runp("simulate", "-c", str(e), "-o", str(tmp_path / "x.h5")), "is empty")


def test_reduce_refuses_files_of_different_N(tmp_path):
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    assert runp("simulate", "--N", "20", "--T", "2", "--g", "0.5", "-q", "-o", str(a)).returncode == 0
    assert runp("simulate", "--N", "30", "--T", "2", "--g", "2.0", "-q", "-o", str(b)).returncode == 0
    _one_line(runp("reduce", "phases", str(a), str(b), "--sweep", "g", "-o", str(tmp_path / "pd.h5")),
              "differ in N (20, 30), which is not swept")
    _one_line(runp("reduce", "phases", str(a), str(b), "-o", str(tmp_path / "pd.h5")), "do not fill the grid")


# -- memory estimate ------------------------------------------------------------------------------


def _peak(fn):
    import tracemalloc

    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("N,R,dtype,J0,solver", [(1200, 2, "float64", 1.0, "rk4"), (1200, 3, "float32", 0.0, "euler"),
                                                 (1000, 1, "float32", 1.0, "rk4")])
def test_memory_estimate_matches_measured_peak(N, R, dtype, J0, solver):
    """The estimate of simulate against tracemalloc's peak (numpy reports its buffers to it):
    within -10 % .. +10 % where the couplings dominate."""
    import numpy as np

    from balnet.engine.params import NetworkParams, SimulationParams
    from balnet.model.simulate import Simulation, simulation_memory

    net = NetworkParams(N=N, J0=J0)
    sim = SimulationParams(T=2.0, dt=0.1, realizations=R, trials=2, dtype=dtype, solver=solver, backend="numpy")
    peak = _peak(lambda: Simulation(net, sim, list(range(R)), xp=np).run(lambda c: None))
    assert 0.9 < simulation_memory(net, sim, R) / peak < 1.1


def test_lyapunov_memory_estimate_covers_tangent_frames():
    """With many exponents the tangent frames dominate: the estimate stays within -10 % .. +30 % of the peak."""
    import numpy as np

    from balnet.chaos.lyapunov import LyapunovParams, lyapunov_run
    from balnet.commands.lyapunov import lyapunov_memory
    from balnet.engine.params import NetworkParams, SimulationParams

    net = NetworkParams(N=400, J0=0.0)
    sim = SimulationParams(T=4.0, dt=0.1, realizations=1, trials=2, backend="numpy")
    for k in (4, 400):
        ly = LyapunovParams(k=k, t_ons=1.0, t_window=2.0, t_warmup_tangent=1.0, n_boot=10)
        peak = _peak(lambda: lyapunov_run(net, sim, ly, [0], xp=np))
        assert 0.9 < lyapunov_memory(net, sim, ly, 1) / peak < 1.3, k


def test_memory_refused_in_one_line(tmp_path):
    from balnet.engine.memory import available_bytes

    avail = available_bytes()
    if avail is None:
        pytest.skip("the system reports no available memory")
    for cmd in ("simulate", "lyapunov", "learn"):
        r = runp(cmd, "--N", "1000000", "-o", str(tmp_path / "x.h5"))
        _one_line(r, "needs about")
        assert "available" in r.stderr and "float32" in r.stderr and "realizations per rank" in r.stderr
    assert list(tmp_path.iterdir()) == []


# -- progress in logs ---------------------------------------------------------------------------------


def test_line_progress_percent_rate_eta():
    """Against a fake clock at 100 steps/s: lines at every 10 %, the right rate and time left, one closing line."""
    import io

    from balnet.engine.progress import LineProgress

    t = [0.0]
    buf = io.StringIO()
    bar = LineProgress(1000, "simulate", file=buf, clock=lambda: t[0])
    for i in range(100):
        t[0] = (i + 1) / 10
        bar.update(10)
    bar.close()
    lines = buf.getvalue().splitlines()
    assert len(lines) == 10  # 10 % .. 90 %, then "done"
    assert lines[3] == "simulate:  40% (400/1000 step), 100 step/s, 6.0 s left"
    assert lines[-1] == "simulate: done, 1000 step in 10 s"


def test_progress_lines_and_closing_line_without_terminal(tmp_path):
    out = tmp_path / "run.h5"
    r = runp("simulate", "--N", "100", "--T", "400", "-o", str(out))  # stderr is a pipe here, not a terminal
    assert r.returncode == 0, r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines[-1].startswith(f"balnet simulate: wrote {out} in ") and "\r" not in r.stderr
    assert lines[-2].startswith("simulate: done, 8000 step in ")
    assert runp("simulate", "--N", "20", "--T", "1", "-q", "--overwrite", "-o", str(out)).stderr == ""


# -- README ------------------------------------------------------------------------------------------


def test_readme_examples_parse_and_validate():
    """Every `balnet ...` line of README's command examples parses, names files that the repository ships
    (-c/--config), and its parameters pass the records' checks (what would stop it with exit 2)."""
    import re
    import shlex
    from pathlib import Path

    from balnet.chaos.lyapunov import LyapunovParams, check_compatible
    from balnet.cli import build_parser
    from balnet.commands._common import collect_records
    from balnet.engine.params import NetworkParams, SimulationParams
    from balnet.learning.reservoir import LearnParams

    root = Path(__file__).resolve().parents[1]
    text = (root / "README.md").read_text()
    i = text.index("## Commands")
    blocks = re.findall(r"```bash\n(.*?)```", text[i:text.index("## Studies")], re.S)
    lines = [ln.split("#")[0].strip() for b in blocks for ln in b.splitlines()]
    lines = [ln for ln in lines if "balnet " in ln]
    assert len(lines) >= 6
    records = {"simulate": [NetworkParams, SimulationParams],
               "lyapunov": [NetworkParams, SimulationParams, LyapunovParams],
               "learn": [NetworkParams, LearnParams]}
    sections = {"network": NetworkParams, "simulation": SimulationParams, "lyapunov": LyapunovParams,
                "learn": LearnParams}
    old = os.getcwd()
    os.chdir(root)
    try:
        for ln in lines:
            argv = shlex.split(ln)
            argv = argv[argv.index("balnet") + 1:]
            args = build_parser().parse_args(argv)
            cfg = getattr(args, "config", None)
            assert cfg is None or (root / cfg).is_file(), ln
            if argv[0] in records:
                own = {k: c for k, c in sections.items() if c in records[argv[0]]}  # as the command passes them
                recs = collect_records(args, records[argv[0]], own)
                if argv[0] == "lyapunov":
                    check_compatible(*recs)
    finally:
        os.chdir(old)
