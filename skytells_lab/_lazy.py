"""Lazy package exports (PEP 562): a public name is imported from its module when it is first asked for."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from types import ModuleType
from typing import Any


def lazy_exports(namespace: dict[str, Any], exports: Mapping[str, str],
                 public: Iterable[str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of the package whose globals are ``namespace``.

    Args:
        namespace: the package's ``globals()``. A name is looked up in its module on every access, not
            stored here, so a module replaced in ``sys.modules`` (a test's double) is what callers get.
        exports: public name -> the module that defines it.
        public: what ``dir()`` shows (the package's ``__all__``), with the public submodules loaded so far.
    """
    package = namespace["__name__"]
    shown = set(public)

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(exports[name]), name)

    def __dir__() -> list[str]:
        submodules = (k for k, v in namespace.items() if isinstance(v, ModuleType) and not k.startswith("_"))
        return sorted({*shown, *submodules})

    return __getattr__, __dir__
