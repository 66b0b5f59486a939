"""The package's architecture, read from the source with ``ast`` (nothing is imported).

Rules (README "Package layout"):

1. **No import cycle** between modules of ``balnet``.  An edge ``a -> b`` is any
   ``import``/``from ... import`` statement of ``a`` that names module ``b`` (a name
   imported from a package's ``__init__`` is an edge to that ``__init__``; the parent
   packages Python also runs on the way are not counted).
2. **Wings import one way**::

       engine <- model <- theory <- chaos <- phases, learning <- studies <- commands <- cli

   where ``engine`` imports nothing of ``balnet`` outside itself, ``model`` only the
   engine, ``theory`` never ``phases`` (phases may read theory's predictions), and a
   study (``balnet.studies.<name>``) only the engine, the model and itself.  The top
   (``balnet/__init__``, ``cli``, ``__main__``) may import anything.  :data:`ALLOWED`
   is the table.
3. **Function-local imports** (inside a ``def``) never import ``balnet``, relatively or
   absolutely: intra-package imports are module-level, so a hidden cycle cannot hide in
   a function.  Inside functions only these are allowed: optional dependencies
   (``cupy``, ``cupyx``, ``mpi4py``, ``sklearn``, ``tqdm``), dependencies deferred for
   their import cost to the one path that needs them (``matplotlib``, ``scipy``), and
   the standard library.  Any other third-party module (numpy, h5py, yaml, ...) is
   imported at module level.
4. **Optional dependencies have one home each**: ``cupy``/``cupyx`` only in
   ``engine.backend``, ``mpi4py`` only in ``engine.parallel``, ``matplotlib`` only in
   ``engine.figures`` (everything else receives ``xp``, a comm, or ``figures._plt()``).
5. **No dynamic imports** (``importlib.import_module``, ``__import__``) except in
   ``balnet.cli``, which discovers the subcommands in ``balnet.commands``.

Each checker is a plain function of a module table, so the tests at the bottom feed it
synthetic packages (a cycle, an upward import, a hidden local import) to show it fails.
"""
from __future__ import annotations

import ast
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

PKG = "balnet"
PKG_DIR = Path(__file__).resolve().parents[1] / PKG

WINGS = ("engine", "model", "chaos", "phases", "theory", "learning", "studies", "commands")
TOP = "top"  # balnet/__init__.py, cli.py, __main__.py

#: wing -> wings it may import besides itself
ALLOWED: dict[str, frozenset[str]] = {
    "engine": frozenset(),
    "model": frozenset({"engine"}),
    "theory": frozenset({"engine", "model"}),
    "chaos": frozenset({"engine", "model", "theory"}),
    "phases": frozenset({"engine", "model", "theory", "chaos"}),
    "learning": frozenset({"engine", "model", "theory", "chaos"}),
    "studies": frozenset({"engine", "model"}),
    "commands": frozenset({"engine", "model", "theory", "chaos", "phases", "learning", "studies"}),
    TOP: frozenset(WINGS),
}

OPTIONAL = frozenset({"cupy", "cupyx", "mpi4py", "sklearn", "tqdm"})
DEFERRED = frozenset({"matplotlib", "scipy"})
LOCAL_OK = OPTIONAL | DEFERRED | frozenset(sys.stdlib_module_names)
HOME = {"cupy": "engine.backend", "cupyx": "engine.backend", "mpi4py": "engine.parallel", "matplotlib": "engine.figures"}
DYNAMIC_OK = frozenset({"cli"})


@dataclass(frozen=True)
class Site:
    """One import statement: importing module, imported module (absolute), line, inside a function?"""

    module: str
    target: str
    line: int
    local: bool


def module_table(pkg_dir: Path, pkg: str = PKG) -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package ``__init__``) for every ``.py`` under ``pkg_dir``."""
    out = {}
    for p in sorted(pkg_dir.rglob("*.py")):
        parts = [pkg, *p.relative_to(pkg_dir).with_suffix("").parts]
        is_pkg = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_pkg else parts)] = (p, is_pkg)
    return out


def _targets(node, module: str, is_pkg: bool, modules) -> list[str]:
    """Absolute names imported by one statement (a submodule where ``from X import name`` names one)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if node.level:
        base = module.split(".") if is_pkg else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module
    return [f"{target}.{a.name}" if f"{target}.{a.name}" in modules else target for a in node.names]


def _is_dynamic(node) -> bool:
    f = node.func if isinstance(node, ast.Call) else None
    return (isinstance(f, ast.Attribute) and f.attr == "import_module") or (isinstance(f, ast.Name) and f.id == "__import__")


def scan(modules: dict[str, tuple[Path, bool]]) -> tuple[list[Site], list[tuple[str, int]]]:
    """Every import statement of every module, and every dynamic-import call (module, line)."""
    sites, dynamic = [], []
    for mod, (path, is_pkg) in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))

        def visit(node, local):
            for child in ast.iter_child_nodes(node):
                inner = local or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                if isinstance(child, (ast.Import, ast.ImportFrom)):
                    sites.extend(Site(mod, t, child.lineno, local) for t in _targets(child, mod, is_pkg, modules))
                elif _is_dynamic(child):
                    dynamic.append((mod, child.lineno))
                visit(child, inner)

        visit(tree, False)
    return sites, dynamic


def _owner(target: str, modules) -> str | None:
    """The module of the package a dotted import names (``balnet.x.Y`` -> ``balnet.x``), None outside it."""
    if target.split(".")[0] != PKG:
        return None
    while target not in modules and "." in target:
        target = target.rsplit(".", 1)[0]
    return target if target in modules else None


def graph(sites, modules) -> dict[str, set[str]]:
    """Module-level intra-package edges ``a -> {b}``."""
    g = {m: set() for m in modules}
    for s in sites:
        t = _owner(s.target, modules)
        if t is not None and not s.local and t != s.module:
            g[s.module].add(t)
    return g


def find_cycle(g: dict[str, set[str]]) -> list[str] | None:
    """One cycle ``[a, b, ..., a]`` of the directed graph, or None (iterative depth-first search)."""
    state = dict.fromkeys(g, 0)  # 0 new, 1 on the stack, 2 done
    for start in sorted(g):
        if state[start]:
            continue
        stack, path = [(start, iter(sorted(g[start])))], [start]
        state[start] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                stack.pop()
                path.pop()
                state[node] = 2
            elif state.get(nxt, 2) == 1:
                return path[path.index(nxt):] + [nxt]
            elif state.get(nxt) == 0:
                state[nxt] = 1
                stack.append((nxt, iter(sorted(g[nxt]))))
                path.append(nxt)
    return None


def wing(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in WINGS else TOP


def study(module: str) -> str | None:
    """``balnet.studies.<name>[...]`` -> ``name`` (None for the studies package itself)."""
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[1] == "studies" else None


def wing_violations(g) -> list[str]:
    out = []
    for a, targets in g.items():
        for b in sorted(targets):
            wa, wb = wing(a), wing(b)
            if wa == "studies" and wb == "studies" and study(a) is not None and study(b) != study(a):
                out.append(f"{a} -> {b} (a study imports only the engine, the model and itself)")
            elif wa != wb and wb not in ALLOWED[wa]:
                out.append(f"{a} -> {b} ({wa} may import only {sorted(ALLOWED[wa]) or 'nothing outside itself'})")
    return out


def local_import_violations(sites, modules) -> list[str]:
    out = []
    for s in sites:
        if not s.local:
            continue
        top = s.target.split(".")[0]
        if _owner(s.target, modules) is not None or top == PKG:
            out.append(f"{s.module}:{s.line} imports {s.target} inside a function (intra-package imports are module-level)")
        elif top not in LOCAL_OK:
            out.append(f"{s.module}:{s.line} imports {s.target} inside a function (not optional, deferred or stdlib)")
    return out


def home_violations(sites) -> list[str]:
    return [
        f"{s.module}:{s.line} imports {s.target} (only balnet.{HOME[s.target.split('.')[0]]} may)"
        for s in sites
        if s.target.split(".")[0] in HOME and s.module != f"{PKG}.{HOME[s.target.split('.')[0]]}"
    ]


# --- the package ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def package():
    modules = module_table(PKG_DIR)
    sites, dynamic = scan(modules)
    return modules, sites, dynamic, graph(sites, modules)


def test_walker_sees_the_package(package):
    """Guard against a vacuous pass: every wing has modules, and known arrows are found."""
    modules, sites, _, g = package
    assert {wing(m) for m in modules} == set(WINGS) | {TOP}
    assert sum(map(len, g.values())) > 100
    assert "balnet.engine.backend" in g["balnet.model.simulate"]
    assert "balnet.commands" in g["balnet.cli"]  # ``from . import commands as pkg``
    assert "balnet.engine.errors" in g["balnet.engine.params"]


def test_no_import_cycle(package):
    cycle = find_cycle(package[3])
    assert cycle is None, " -> ".join(cycle)


def test_wings_import_one_way(package):
    bad = wing_violations(package[3])
    assert not bad, "\n".join(bad)


def test_no_function_local_intra_package_import(package):
    modules, sites, _, _ = package
    bad = local_import_violations(sites, modules)
    assert not bad, "\n".join(bad)


def test_optional_dependencies_have_one_home(package):
    bad = home_violations(package[1])
    assert not bad, "\n".join(bad)


def test_dynamic_imports_only_in_cli(package):
    bad = [f"{m}:{line}" for m, line in package[2] if m.split(".", 1)[-1] not in DYNAMIC_OK]
    assert not bad, bad


# --- the checkers fail on synthetic packages ---------------------------------------

def _make(tmp_path, files: dict[str, str]):
    for rel, src in files.items():
        p = tmp_path / PKG / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(src))
    for d in [tmp_path / PKG, *(p for p in (tmp_path / PKG).rglob("*") if p.is_dir())]:
        (d / "__init__.py").touch()
    modules = module_table(tmp_path / PKG)
    sites, dynamic = scan(modules)
    return modules, sites, dynamic, graph(sites, modules)


def test_find_cycle_on_small_graphs():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None  # a diamond is no cycle
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"a"}}) == ["a", "a"]
    assert find_cycle({"x": {"a"}, "a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
    assert find_cycle({w: set(ws) for w, ws in ALLOWED.items()}) is None  # the wing table is an order


def test_synthetic_cycle_is_found(tmp_path):
    """theory.dmft <-> phases.classify at module level, through relative imports of both forms."""
    _, _, _, g = _make(tmp_path, {
        "theory/dmft.py": "from ..phases.classify import classify\n",
        "phases/classify.py": "from ..theory import dmft\n",
    })
    assert g["balnet.theory.dmft"] == {"balnet.phases.classify"}
    assert g["balnet.phases.classify"] == {"balnet.theory.dmft"}
    assert find_cycle(g) is not None
    assert wing_violations(g) == ["balnet.theory.dmft -> balnet.phases.classify "
                                  "(theory may import only ['engine', 'model'])"]


def test_synthetic_upward_imports_are_found(tmp_path):
    _, _, _, g = _make(tmp_path, {
        "engine/io.py": "import balnet.model.network\n",
        "model/network.py": "from ..learning.tasks import narma\n",
        "learning/tasks.py": "",
        "studies/fim.py": "from ..chaos.lyapunov import spectrum\nfrom .kuramoto import model\n",
        "studies/kuramoto/model.py": "from . import output\nfrom ...engine.io import H5Writer\n",
        "studies/kuramoto/output.py": "",
        "chaos/lyapunov.py": "",
    })
    assert find_cycle(g) is None
    bad = "\n".join(wing_violations(g))
    assert "balnet.engine.io -> balnet.model.network" in bad
    assert "balnet.model.network -> balnet.learning.tasks" in bad
    assert "balnet.studies.fim -> balnet.chaos.lyapunov" in bad
    assert "balnet.studies.fim -> balnet.studies.kuramoto.model" in bad
    assert "kuramoto.model ->" not in bad  # a study importing itself and the engine is fine
    assert len(wing_violations(g)) == 4


def test_synthetic_local_imports_are_found(tmp_path):
    modules, sites, dynamic, g = _make(tmp_path, {
        "theory/dmft.py": """
            import numpy as np

            def solve():
                import json
                import scipy.optimize
                from ..phases import classify
                return classify

            class Model:
                def plot(self):
                    import matplotlib.pyplot as plt
                    import balnet.engine.io
                    import h5py
                    return plt
            """,
        "phases/classify.py": "def f():\n    import importlib\n    return importlib.import_module('balnet.theory')\n",
        "engine/io.py": "import cupy\nimport mpi4py\n",
    })
    assert find_cycle(g) is None  # the hidden arrow theory -> phases is not a module-level edge
    bad = local_import_violations(sites, modules)
    assert len(bad) == 3, bad
    assert any("balnet.theory.dmft:7 imports balnet.phases.classify" in b for b in bad)
    assert any("imports balnet.engine.io inside" in b for b in bad)
    assert any("imports h5py inside" in b for b in bad)
    assert dynamic == [("balnet.phases.classify", 3)]
    homes = home_violations(sites)
    assert len(homes) == 3, homes  # cupy, mpi4py outside their home; matplotlib in theory
