"""Imports go one way down the floors (DESIGN.md "Floors"): a lower floor never imports a higher one, lazily
or not. Every module of the package is read with ``ast``: top-level imports, imports inside functions,
relative imports (resolved) and ``importlib.import_module("...")`` string literals.

floor 1  skytells_lab/_media.py _pricing.py _html.py _lazy.py _paths.py _version.py: the standard library only
floor 2  api/ (the wire client), local/ (the server): floor 1 and their own stack. The server does not
         import the client (not even its public names): it validates requests with its own validator on
         purpose, the other side of the wire protocol, so one side's bug cannot hide the other's.
floor 3  notebook/, analysis/
floor 4  comparison/, widgets/
root     skytells_lab/__init__.py, cli.py (and ``__main__`` entry points): the public face and the composition
         root, may import anything. Floors 3 and 4 may use the public face (``skytells_lab.connect()`` as the
         default client when none is given, ``sl.widgets.EmbeddingExplorer`` for ``space.explore()``); floors 1
         and 2 may not import it.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import skytells_lab

PACKAGE = Path(skytells_lab.__file__).resolve().parent
FLOOR_1 = {"_media", "_pricing", "_html", "_lazy", "_paths", "_version"}
FLOORS = {"api": 2, "local": 2, "notebook": 3, "analysis": 3, "comparison": 4, "widgets": 4}
ROOT = 99

# Violations the `seams` branch removes (the client's cache, ledger and budget behind seams, connect() at the
# package root). The integrator deletes this set, and the tolerance for it, when `seams` lands.
PENDING_SEAMS: set[tuple[str, str]] = set()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def floor_of(module: str) -> int | None:
    """The floor of a skytells_lab module (None outside the package)."""
    parts = module.split(".")
    if parts[0] != "skytells_lab":
        return None
    if len(parts) == 1 or parts[-1] == "__main__":
        return ROOT
    if parts[1] in FLOOR_1:
        return 1
    return FLOORS.get(parts[1], ROOT)


def _resolve(module: str, is_package: bool, level: int, name: str | None) -> str:
    base = module.split(".") if is_package else module.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, *([name] if name else [])])


def imports_of(path: Path, module: str | None = None) -> list[tuple[str, int]]:
    """(imported module, line) for every import in the file, wherever it is."""
    module = module or _module_name(path)
    is_package = path.name == "__init__.py"
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, is_package, node.level, node.module) if node.level else node.module or ""
            # `from skytells_lab import _html` imports the module skytells_lab._html; `from skytells_lab
            # import connect` a name of skytells_lab
            subs = [f"{target}.{a.name}" for a in node.names if target.startswith("skytells_lab")
                    and _is_module(f"{target}.{a.name}")]
            if len(subs) < len(node.names):
                found.append((target, node.lineno))
            found += [(sub, node.lineno) for sub in subs]
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name in ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant) \
                    and isinstance(node.args[0].value, str):
                found.append((node.args[0].value, node.lineno))
    return found


def _is_module(name: str) -> bool:
    """Whether a dotted skytells_lab name is a module or package (not a function imported from one)."""
    rel = Path(*name.split(".")[1:]) if "." in name else Path()
    return (PACKAGE / rel).with_suffix(".py").is_file() or (PACKAGE / rel / "__init__.py").is_file()


def violations() -> list[tuple[str, str, int]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        low = floor_of(module)
        for target, line in imports_of(path):
            high = floor_of(target)
            if high is None or not _is_module(target):
                continue
            parts, mine = target.split("."), module.split(".")
            if high == ROOT and low in (3, 4):
                continue  # the public face (see the module docstring)
            beside = high == low == 2 and parts[1] != mine[1]  # api and local do not import each other
            if high > low or beside:
                out.append((module, target, line))
    return out


def test_no_import_goes_up_a_floor():
    found = violations()
    unexpected = [v for v in found if v[:2] not in PENDING_SEAMS]
    assert not unexpected, "imports that go up a floor (see DESIGN.md, Floors):\n" + "\n".join(
        f"  {m}:{line} imports {t}" for m, t, line in unexpected)


def test_pending_seams_list_only_what_still_exists():
    """Each PENDING_SEAMS entry is a violation still in the code: the set shrinks as the seams land."""
    found = {v[:2] for v in violations()}
    assert PENDING_SEAMS <= found, f"no longer violations, remove them from PENDING_SEAMS: {PENDING_SEAMS - found}"


def test_the_walk_sees_lazy_relative_and_string_imports(tmp_path):
    """The walker itself: an import inside a function, a relative one and an import_module string."""
    source = ("import importlib\n"
              "def f():\n    from skytells_lab.notebook import display\n"
              "from ..widgets import render\n"
              "importlib.import_module('skytells_lab.analysis.space')\n")
    probe = tmp_path / "_probe.py"
    probe.write_text(source)
    targets = {t for t, _ in imports_of(probe, "skytells_lab.api._probe")}
    assert {"skytells_lab.notebook.display", "skytells_lab.widgets.render",
            "skytells_lab.analysis.space"} <= targets


def test_floor_1_imports_only_the_standard_library_and_itself():
    for name in sorted(FLOOR_1):
        path = PACKAGE / f"{name}.py"
        for target, line in imports_of(path):
            top = target.split(".")[0]
            if top == "skytells_lab":
                assert floor_of(target) == 1, f"skytells_lab.{name}:{line} imports {target}"
            else:
                assert top in sys.stdlib_module_names or top == "__future__", \
                    f"skytells_lab.{name}:{line} imports {target}, which is not in the standard library"


def test_floor_1_modules_load_nothing_but_the_standard_library():
    """Imported in a fresh interpreter, the floor-1 modules bring in no third-party module."""
    code = ("import sys, json\nbefore = set(sys.modules)\n"
            + "".join(f"import skytells_lab.{name}\n" for name in sorted(FLOOR_1))
            + "print(json.dumps(sorted(set(sys.modules) - before)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = json.loads(out.strip().splitlines()[-1])
    foreign = sorted({m.split(".")[0] for m in loaded} - set(sys.stdlib_module_names) - {"skytells_lab"})
    inside = sorted(m for m in loaded if m.startswith("skytells_lab.") and m.split(".")[1] not in FLOOR_1)
    assert not foreign, f"floor 1 loaded third-party modules: {foreign}"
    # the package root is imported first and must stay light too (DESIGN: no torch, sklearn, matplotlib...)
    assert not [m for m in inside if floor_of(m) not in (1, ROOT)], inside
