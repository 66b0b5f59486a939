"""The ``balnet`` command.

Subcommands are discovered from :mod:`balnet.commands`: each module there
defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``.
Adding a study's command is adding one module; nothing here changes.

Bad input of any kind (unknown key, out-of-range value, unreadable file)
prints one line ``balnet CMD: error: ...`` to stderr and exits with code 2,
without a traceback and without leaving a partial output file.
"""
from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import time

from . import commands as pkg
from .commands._common import check_outputs, register_outputs
from .engine._version import __version__
from .engine.backend import BackendError
from .engine.parallel import SerialComm, get_comm
from .engine.params import ConfigError
from .engine.progress import format_duration

__all__ = ["main", "build_parser", "commands"]


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line (exit 2)."""

    def error(self, message):  # noqa: D401
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


def commands() -> dict:
    """``{name: module}`` of every subcommand module in :mod:`balnet.commands`."""

    out = {}
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{pkg.__name__}.{info.name}")
        out[mod.NAME] = mod
    return dict(sorted(out.items(), key=lambda kv: getattr(kv[1], "ORDER", 50)))


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="balnet",
        description="Simulate, measure chaos in, and learn with critically balanced E/I random networks.",
        formatter_class=_Formatter,
    )
    p.add_argument("--version", action="version", version=f"balnet {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, mod in commands().items():
        sp = sub.add_parser(name, help=mod.HELP, description=(mod.__doc__ or mod.HELP), formatter_class=_Formatter)
        mod.add_arguments(sp)
        register_outputs(sp)
        sp.set_defaults(_run=mod.run, _prog=sp.prog)
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    t0 = time.monotonic()
    try:
        check_outputs(args)
        code = int(args._run(args) or 0)
        _closing_line(args, code, time.monotonic() - t0)
        return code
    except (ConfigError, BackendError) as e:
        print(f"{args._prog}: error: {e}", file=sys.stderr)
        _abort_others(2)
        return 2
    except KeyboardInterrupt:
        print(f"{args._prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `balnet info big.h5 | head -1`: the reader left; stop quietly, like a killed `cat`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


def _closing_line(args, code: int, seconds: float) -> None:
    """``balnet simulate: wrote run.h5 in 12.3 s`` on stderr (rank 0, unless ``--quiet``)."""
    if code or getattr(args, "quiet", False) or get_comm().rank != 0:
        return
    outs = [getattr(args, d, None) for d, _ in getattr(args, "_outputs", None) or []]
    outs = [o for o in outs if o]
    if outs:
        print(f"{args._prog}: wrote {', '.join(outs)} in {format_duration(seconds)}", file=sys.stderr, flush=True)


def _abort_others(code: int) -> None:
    """Under MPI a failing rank must take the others down instead of hanging them."""

    comm = get_comm()
    if not isinstance(comm, SerialComm) and comm.size > 1:
        sys.stderr.flush()
        comm.Abort(code)


if __name__ == "__main__":
    sys.exit(main())
