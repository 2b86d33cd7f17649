"""The docs site builds with warnings as errors, from the tutorials executed once in this session, and its
API reference lists every public class and every public method and property of it."""

from __future__ import annotations

import importlib
import inspect
import os
import re
import subprocess
import sys
import typing
from pathlib import Path

import pytest
from notebooks_support import REPO, executed_notebooks  # noqa: F401  (fixture)

# the build itself takes well under a minute, but if this test runs first it executes every tutorial
pytestmark = pytest.mark.timeout(2400)

# the modules the reference documents; their `__all__` (or their own public names) is the public surface
PUBLIC_MODULES = [
    "skytells_lab.api", "skytells_lab.api.errors", "skytells_lab.notebook", "skytells_lab.notebook.accessor",
    "skytells_lab.widgets", "skytells_lab.analysis", "skytells_lab.comparison", "skytells_lab.local",
    "skytells_lab.local.config", "skytells_lab.local.runners",
]


def _ours(cls: type) -> bool:
    return cls.__module__.startswith("skytells_lab")


def _public_names(module) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n, v in vars(module).items() if getattr(v, "__module__", None) == module.__name__]
    return [n for n in names if not n.startswith("_")]


def _members(cls: type) -> dict[str, tuple[type, object]]:
    """Public methods and properties of `cls` from its own MRO (not pydantic's, dict's, ipywidgets'...):
    name -> (the class that defines it, the attribute)."""
    found: dict[str, tuple[type, object]] = {}
    for base in cls.__mro__:
        if not _ours(base):
            continue
        for name, value in vars(base).items():
            if name.startswith("_") or name in found:
                continue
            if isinstance(value, (property, classmethod, staticmethod)) or inspect.isfunction(value):
                found[name] = (base, value)
    return found


def public_surface() -> dict[type, dict[str, tuple[type, object]]]:
    """Every public class, and the classes its properties return (the resources: client.predictions ...)."""
    todo = []
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in _public_names(module):
            obj = getattr(module, name)
            if inspect.isclass(obj) and _ours(obj):
                todo.append(obj)
    surface: dict[type, dict[str, tuple[type, object]]] = {}
    while todo:
        cls = todo.pop()
        if cls in surface:
            continue
        surface[cls] = _members(cls)
        for _, value in surface[cls].values():
            if isinstance(value, property) and value.fget is not None:
                returned = typing.get_type_hints(value.fget).get("return")
                if inspect.isclass(returned) and _ours(returned):
                    todo.append(returned)
    return surface


def expected_entries() -> set[str]:
    """`Class.member` for every public member: under the class that defines it when that class is public
    itself (documented there once), else under each public class that inherits it."""
    surface = public_surface()
    entries = set()
    for cls, members in surface.items():
        entries.add(cls.__name__)
        for name, (owner, _) in members.items():
            entries.add(f"{(owner if owner in surface else cls).__name__}.{name}")
    return entries


def documented_entries(html: Path) -> set[str]:
    """What the built reference documents: each object's anchor, as `Class` and `Class.member`."""
    found = set()
    for page in (html / "reference").glob("*.html"):
        for anchor in re.findall(r'<dt class="sig sig-object py" id="(skytells_lab\.[^"]+)"', page.read_text()):
            parts = anchor.split(".")
            found.add(parts[-1])
            found.add(".".join(parts[-2:]))
    return found


@pytest.fixture(scope="module")
def built_docs(executed_notebooks, tmp_path_factory):  # noqa: F811
    executions = executed_notebooks.all()
    out = tmp_path_factory.mktemp("docs") / "html"
    env = {**os.environ, "SKYTELLS_LAB_EXECUTED_NOTEBOOKS": str(executed_notebooks.folder)}
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", "-q",
         "-d", str(out.parent / "doctrees"), str(REPO / "docs"), str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=1200, check=False,
    )
    return proc, out, executions


def test_docs_build_with_warnings_as_errors(built_docs):
    proc, out, executions = built_docs
    assert proc.returncode == 0, f"sphinx-build failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-10000:]}"
    assert (out / "index.html").is_file()
    assert (out / "reference" / "api.html").is_file()
    for execution in executions:
        page = out / "tutorials" / (execution.path.stem + ".html")
        assert page.is_file(), f"no docs page for {execution.name}"


def test_the_reference_lists_every_public_class_and_method(built_docs):
    proc, out, _ = built_docs
    assert (out / "reference" / "api.html").is_file(), proc.stderr[-3000:]
    expected = expected_entries()
    # the names a user reaches first must be part of what is checked, or the check checks nothing
    for name in ("Predictions.create", "Predictions.wait", "Predictions.cancel", "Models.list", "Models.get",
                 "ChatCompletions.create", "Responses.create", "Embeddings.create", "Prediction.wait",
                 "Prediction.cancel", "Skytells.run", "AsyncSkytells.run", "Skytells.predictions",
                 "SkytellsAccessor.embed", "SkytellsAccessor.run", "EmbeddingSpace.search"):
        assert name in expected, name
    missing = sorted(expected - documented_entries(out))
    assert not missing, f"public names missing from the built API reference: {missing}"
