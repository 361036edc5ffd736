"""Names a package exports but imports on first use (PEP 562), so that importing the package
-- or the plain config dataclasses the CLI parses -- stays cheap (no torch until needed)."""

from __future__ import annotations

import sys
from importlib import import_module


def lazy_exports(package: str, exports: dict[str, str]):
    """A module-level ``__getattr__`` for ``package`` (its ``__name__``): ``name`` in
    ``exports`` is taken from the module ``exports[name]`` (absolute, or relative to
    ``package``) on first access and kept in the package's namespace."""

    def __getattr__(name: str):
        if name in exports:
            value = getattr(import_module(exports[name], package), name)
            setattr(sys.modules[package], name, value)
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
