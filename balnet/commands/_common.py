"""Helpers shared by subcommands: flags generated from parameter records, YAML merging."""
from __future__ import annotations

import argparse
import dataclasses
import difflib
import os
from typing import Any

import yaml

from ..engine.io import check_output
from ..engine.params import ConfigError, check_together, describe, from_mapping, load_yaml

__all__ = ["add_common", "add_inputs", "add_record_flags", "check_outputs", "collect_records", "parse_set",
           "progress_enabled", "register_outputs", "subcommands"]

FIGURE_METAVARS = ("PNG", "FIG")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_record_flags(parser: argparse.ArgumentParser, cls, title: str) -> None:
    """One flag per field of ``cls`` (``--t-warmup`` for ``t_warmup``), help shows default and unit."""
    grp = parser.add_argument_group(title)
    for name, default, unit, help_ in describe(cls):
        u = f" [{unit}]" if unit else ""
        grp.add_argument(_flag(name), dest=f"{cls.__name__}.{name}", default=argparse.SUPPRESS, metavar=name.upper(),
                         help=f"{help_}{u} (default: {default})")


def add_common(parser: argparse.ArgumentParser, *, output: bool = True, config: bool = True) -> None:
    if config:
        parser.add_argument("-c", "--config", metavar="YAML", help="parameter file (flat keys or sections); flags override it")
        parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                            help="override any parameter, e.g. --set g=2.0 (repeatable)")
    if output:
        parser.add_argument("-o", "--output", required=True, metavar="H5", help="output HDF5 file (written atomically)")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress (a bar on a terminal, lines with percent, rate and time left in a log) "
                             "and no closing line")


def subcommands(parser: argparse.ArgumentParser):
    """Second-level commands (``balnet fim run|reduce``): returns ``add(name, help, description)``,
    which makes one sub-parser with the parent's help formatter; the chosen name is ``args.what``."""
    sub = parser.add_subparsers(dest="what", metavar="WHAT", parser_class=type(parser))
    sub.required = True

    def add(name: str, help: str, description: str | None = None) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=description or help, formatter_class=parser.formatter_class)

    return add


def add_inputs(parser: argparse.ArgumentParser, metavar: str, help: str, *, figure: str | None = None) -> None:
    """The arguments of a reduction: input files, ``-o H5`` and, with ``figure``, ``--figure PNG``."""
    parser.add_argument("files", nargs="+", metavar=metavar, help=help)
    parser.add_argument("-o", "--output", required=True, metavar="H5", help="output HDF5 file (written atomically)")
    if figure:
        parser.add_argument("--figure", metavar="PNG", help=figure)


def parse_set(items) -> dict[str, Any]:
    out = {}
    for it in items:
        if "=" not in it:
            raise ConfigError(f"--set expects KEY=VALUE, got {it!r}")
        k, v = it.split("=", 1)
        out[k.strip()] = yaml.safe_load(v)
    return out


def collect_records(args, classes, sections: dict[str, type] | None = None):
    """Merge YAML file, ``--set`` and per-field flags into validated records.

    The YAML may be flat (``g: 2``) or sectioned (``network: {g: 2}``); a
    section name must be one of ``sections``.  A pipeline config (``experiment:`` and
    ``sweep:`` at the top, like config.yaml) gives only its sections in ``sections``.  Every key must belong to one of
    ``classes``: an unknown key is an error naming the closest valid key.
    """
    sections = sections or {}
    flat: dict[str, Any] = {}
    if getattr(args, "config", None):
        data = load_yaml(args.config)
        if "experiment" in data and "sweep" in data:
            # the pipeline's config.yaml: take the sections of this command, not the sweep or other stages
            data = {k: v for k, v in data.items() if k in sections}
        for k, v in data.items():
            if k in sections:
                if not isinstance(v, dict):
                    raise ConfigError(f"section {k!r} in {args.config} must be a mapping")
                flat.update(v)
            else:
                flat[k] = v
    flat.update(parse_set(getattr(args, "set", []) or []))
    for cls in classes:
        for f in dataclasses.fields(cls):
            v = getattr(args, f"{cls.__name__}.{f.name}", None)
            if v is not None:
                flat[f.name] = v
    known = {f.name: cls for cls in classes for f in dataclasses.fields(cls)}
    for k in flat:
        if k not in known:
            hint = difflib.get_close_matches(k, list(known) + list(sections), n=1)
            raise ConfigError(f"unknown parameter {k!r}" + (f" (did you mean {hint[0]!r}?)" if hint else ""))
    out = []
    for cls in classes:
        out.append(from_mapping(cls, {k: v for k, v in flat.items() if known[k] is cls}))
    check_together(*out)
    return out


def progress_enabled(args) -> bool:
    """Progress on stderr unless ``--quiet``: a bar on a terminal, plain lines in a log."""
    return not getattr(args, "quiet", False)


def _parsers(parser: argparse.ArgumentParser):
    """``parser`` and every sub-parser below it."""
    yield parser
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            for sp in dict.fromkeys(a.choices.values()):
                yield from _parsers(sp)


def register_outputs(parser: argparse.ArgumentParser) -> None:
    """Give every (sub-)parser that writes files ``--overwrite``/``--force`` and the list of its
    output arguments (``-o`` and figure paths: metavar PNG or FIG), checked by :func:`check_outputs`."""
    for p in _parsers(parser):
        outs = [(a.dest, a.metavar in FIGURE_METAVARS) for a in p._actions
                if a.dest == "output" or a.metavar in FIGURE_METAVARS]
        if not outs:
            continue
        p.add_argument("--overwrite", "--force", action="store_true",
                       help="replace output files that exist (an output that is also an input is always refused)")
        p.set_defaults(_outputs=outs)


def _paths(value):
    if isinstance(value, (str, os.PathLike)):
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            if isinstance(v, (str, os.PathLike)):
                yield v


def check_outputs(args) -> None:
    """Check every output path of the command line before any computation (see
    :func:`balnet.engine.io.check_output`): the inputs are all other path-like arguments
    that name existing files; two outputs may not be the same path either."""
    outs = getattr(args, "_outputs", None) or []
    out_dests = {d for d, _ in outs}
    inputs = [p for k, v in vars(args).items() if not k.startswith("_") and k not in out_dests
              for p in _paths(v) if os.path.isfile(p)]
    seen = {}
    for dest, figure in outs:
        path = getattr(args, dest, None)
        if not path:
            continue
        key = os.path.abspath(path)
        if key in seen:
            raise ConfigError(f"{path} is given as two outputs ({seen[key]} and {dest})")
        seen[key] = dest
        check_output(path, overwrite=getattr(args, "overwrite", False), inputs=inputs, figure=figure)
