"""The balnet command: help, simulate/info/plot, one-line errors with exit 2 and no output file."""
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
