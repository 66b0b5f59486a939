"""Self-describing HDF5 output: atomic writes, dimension scales, readers.

Layout of every balnet file (``kind`` attribute tells which command wrote it):

* file attributes: ``balnet_version``, ``format_version`` (:data:`FORMAT_VERSION`), ``kind``, ``params`` (JSON of every
  parameter record), ``root_seed``, ``realization_ids``, ``n_ranks``, ``dt``,
  ``units`` (JSON: dataset -> unit), ``created`` (UTC ISO time), ``command``;
* coordinate datasets that are HDF5 *dimension scales* (``time``,
  ``realization``, ``trial``, ``neuron`` ...), attached to every data variable,
  so ``xarray.open_dataset(path, engine="h5netcdf")`` yields labelled arrays;
* data variables with a ``units`` and ``long_name`` attribute; time series are
  chunked, gzip-compressed and resizable along time.

Files are written to a temporary name in the target directory and renamed
into place only when complete (:func:`atomic_path`): a killed job leaves no
file at the final path, so Snakemake never mistakes it for a finished output.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import h5py
import numpy as np

from ._version import __version__
from .params import ConfigError

__all__ = [
    "FORMAT_VERSION",
    "atomic_path",
    "check_output",
    "FIGURE_FORMATS",
    "H5Writer",
    "read",
    "read_attrs",
    "summarize",
    "version",
]


#: Version of the file format and of what its numbers mean.  2: connectivity drawn in row blocks of
#: 256 rows, block b of realization k from stream (k, CONNECTIVITY, b) (version 1: one stream
#: (k, CONNECTIVITY) for the whole matrix), so a given seed gives a different J than in version 1.
FORMAT_VERSION = 2


def version() -> str:

    return __version__


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` on success.

    On an exception the temporary file is removed and the exception re-raised.
    A process killed by a signal leaves only the hidden ``.*.tmp-PID`` file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


# what matplotlib's savefig writes (by file extension)
FIGURE_FORMATS = ("eps", "jpeg", "jpg", "pdf", "pgf", "png", "ps", "raw", "rgba", "svg", "svgz", "tif", "tiff", "webp")


def check_output(path, *, overwrite: bool = False, inputs: Sequence = (), figure: bool = False) -> None:
    """Refuse an output path before any computation, with a one-line :class:`ConfigError`.

    Refused: a path that is one of ``inputs`` (always, even with ``overwrite``); an existing
    directory; an existing file unless ``overwrite``; a figure whose extension matplotlib
    cannot write (``figure``); a place where no file can be created (the nearest existing
    directory above the path is probed by creating and removing a hidden file in it, because
    permission bits say nothing for root or for read-only file systems like /proc).
    """
    p = Path(path)
    for q in inputs:
        try:
            same = p.exists() and Path(q).exists() and os.path.samefile(p, q)
        except OSError:
            same = False
        if same:
            raise ConfigError(f"output {path} is also an input: choose another output path")
    if p.is_dir():
        raise ConfigError(f"output {path} is a directory")
    if figure:
        ext = p.suffix.lower().lstrip(".")
        if ext not in FIGURE_FORMATS:
            raise ConfigError(f"figure {path}: unknown format {('.' + ext) if ext else '(no extension)'}; "
                              f"use .png, .pdf or .svg")
    if p.exists() and not overwrite:
        raise ConfigError(f"{path} exists (add --overwrite to replace it)")
    parent = p.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"cannot write {path}: {parent} is not a directory")
    probe = parent / f".{p.name}.probe-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise ConfigError(f"cannot write {path}: {e.strerror or e} in {parent}") from None


def _jsonable(obj):
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if hasattr(obj, "__dataclass_fields__"):
        import dataclasses

        return dataclasses.asdict(obj)
    raise TypeError(f"not JSON serializable: {type(obj)}")


class H5Writer:
    """Write one balnet HDF5 file atomically (use as a context manager).

    Example
    -------
    >>> with H5Writer("run.h5", kind="simulation", params={...}, root_seed=0) as w:
    ...     w.coord("time", np.arange(10) * 0.1, units="tau", resizable=True)
    ...     w.variable("nu_E", data, dims=("realization", "trial", "time"), units="1")
    ...     w.append("time", more_t); w.append("nu_E", more, axis=2)
    """

    def __init__(
        self,
        path,
        *,
        kind: str,
        params: Mapping[str, Any],
        root_seed: int | None = None,
        realization_ids: Sequence[int] = (),
        n_ranks: int = 1,
        command: str = "",
        **attrs,
    ):
        self.path = Path(path)
        self._ctx = atomic_path(self.path)
        self.kind = kind
        self._attrs = dict(
            balnet_version=version(),
            format_version=FORMAT_VERSION,
            kind=kind,
            params=json.dumps(params, default=_jsonable, sort_keys=True),
            root_seed=-1 if root_seed is None else int(root_seed),
            realization_ids=np.asarray(list(realization_ids), dtype=np.int64),
            n_ranks=int(n_ranks),
            created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            command=command,
        )
        self._attrs.update(attrs)
        self._units: dict[str, str] = {}
        self.f: h5py.File | None = None

    def __enter__(self) -> "H5Writer":
        tmp = self._ctx.__enter__()
        self.f = h5py.File(tmp, "w")
        for k, v in self._attrs.items():
            self.f.attrs[k] = v
        return self

    def __exit__(self, et, ev, tb):
        try:
            if self.f is not None:
                self.f.attrs["units"] = json.dumps(self._units, sort_keys=True)
                self.f.close()
        finally:
            return self._ctx.__exit__(et, ev, tb)

    # -- datasets --------------------------------------------------------
    def coord(self, name: str, values, *, units: str = "", long_name: str = "", resizable: bool = False):
        """A 1-D coordinate variable that is an HDF5 dimension scale."""
        values = np.asarray(values)
        kw = dict(maxshape=(None,), chunks=(max(1, min(4096, len(values) or 1)),)) if resizable else {}
        ds = self.f.create_dataset(name, data=values, **kw)
        ds.make_scale(name)
        self._meta(ds, units, long_name)
        return ds

    def variable(
        self,
        name: str,
        data,
        *,
        dims: Sequence[str],
        units: str = "",
        long_name: str = "",
        resizable_axis: int | None = None,
        compress: bool = True,
    ):
        """A data variable whose axes are attached to the coordinates named in ``dims``.

        Coordinates missing so far are created as integer ranges (``0..n-1``).
        """
        data = np.asarray(data)
        if data.ndim != len(dims):
            raise ValueError(f"{name}: {data.ndim}-D data but {len(dims)} dims")
        kw: dict[str, Any] = {}
        if resizable_axis is not None:
            maxshape = list(data.shape)
            maxshape[resizable_axis] = None
            chunks = [max(1, s) for s in data.shape]
            chunks[resizable_axis] = max(1, min(1024, data.shape[resizable_axis] or 1))
            # keep chunks around <= 1 MiB
            while np.prod(chunks) * data.dtype.itemsize > 1 << 20 and max(chunks) > 1:
                i = int(np.argmax(chunks))
                chunks[i] = max(1, chunks[i] // 2)
            kw.update(maxshape=tuple(maxshape), chunks=tuple(chunks))
        if compress and data.size > 64:
            kw.update(compression="gzip", compression_opts=4, shuffle=True)
        ds = self.f.create_dataset(name, data=data, **kw)
        for i, d in enumerate(dims):
            if d not in self.f:
                self.coord(d, np.arange(data.shape[i]))
            ds.dims[i].attach_scale(self.f[d])
            ds.dims[i].label = d
        self._meta(ds, units, long_name)
        return ds

    def append(self, name: str, data, axis: int = 0):
        """Append ``data`` along ``axis`` of the resizable dataset ``name``."""
        ds = self.f[name]
        data = np.asarray(data)
        n0 = ds.shape[axis]
        ds.resize(n0 + data.shape[axis], axis=axis)
        sl = [slice(None)] * ds.ndim
        sl[axis] = slice(n0, n0 + data.shape[axis])
        ds[tuple(sl)] = data

    def attrs(self, **kw):
        for k, v in kw.items():
            self.f.attrs[k] = v

    def _meta(self, ds, units: str, long_name: str):
        if units:
            ds.attrs["units"] = units
            self._units[ds.name.lstrip("/")] = units
        if long_name:
            ds.attrs["long_name"] = long_name


def _open(path) -> h5py.File:
    try:
        return h5py.File(path, "r")
    except FileNotFoundError:
        raise ConfigError(f"no such file: {path}") from None
    except OSError:
        raise ConfigError(f"{path} is not a readable HDF5 file") from None


def _attr(v):
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.generic):
        return v.item()
    return v


def _check_kind(path, attrs: dict, kind) -> None:
    if kind is None:
        return
    kinds = (kind,) if isinstance(kind, str) else tuple(kind)
    got = attrs.get("kind")
    if got not in kinds:
        want = " or ".join(repr(k) for k in kinds)
        raise ConfigError(f"{path} is a {got!r} file, expected a {want} file")


def read_attrs(path, kind: str | Sequence[str] | None = None) -> dict:
    """File attributes with ``params``/``units`` decoded from JSON.

    ``kind``: the file kind(s) the caller accepts (the ``kind`` attribute every
    balnet writer sets); another kind is a one-line :class:`ConfigError`.
    """
    with _open(path) as f:
        out = {k: _attr(v) for k, v in f.attrs.items()}
    for k in ("params", "units"):
        if isinstance(out.get(k), str):
            out[k] = json.loads(out[k])
    _check_kind(path, out, kind)
    return out


def read(path, names: Sequence[str] | None = None, kind: str | Sequence[str] | None = None
         ) -> tuple[dict[str, np.ndarray], dict]:
    """Read datasets (all, or ``names``) and attributes: ``(arrays, attrs)``.

    ``kind`` as in :func:`read_attrs`, checked before any dataset is read.
    """
    attrs = read_attrs(path, kind)
    arrays: dict[str, np.ndarray] = {}
    with _open(path) as f:

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and (names is None or name in names):
                arrays[name] = obj[()]

        f.visititems(visit)
    if names is not None:
        missing = [n for n in names if n not in arrays]
        if missing:
            raise ConfigError(f"{path} has no dataset {missing[0]!r}")
    return arrays, attrs


def summarize(path) -> str:
    """Human-readable summary of a balnet (or any) HDF5 file: used by ``balnet info``."""
    lines = [str(path)]
    with _open(path) as f:
        for k, v in sorted(f.attrs.items()):
            v = _attr(v)
            if k == "params" and isinstance(v, str):
                try:
                    p = json.loads(v)
                    lines.append("  params:")
                    for sec, d in p.items():
                        if isinstance(d, dict):
                            lines.append(f"    {sec}: " + ", ".join(f"{a}={b}" for a, b in d.items()))
                        else:
                            lines.append(f"    {sec}: {d}")
                    continue
                except ValueError:
                    pass
            if k == "units":
                continue
            if isinstance(v, np.ndarray) and v.size > 8:
                v = f"array{v.shape} [{v.flat[0]} .. {v.flat[-1]}]"
            lines.append(f"  {k}: {v}")
        lines.append("  datasets:")

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                dims = [d.label or "?" for d in obj.dims]
                u = _attr(obj.attrs.get("units", ""))
                extra = f" [{u}]" if u else ""
                lines.append(f"    {name}{extra}: {obj.dtype} {obj.shape} ({', '.join(dims)})")
            elif isinstance(obj, h5py.Group):
                lines.append(f"    {name}/")

        f.visititems(visit)
    return "\n".join(lines)
