"""Lazy package attributes: the one home of the ``__getattr__`` that the engine's packages share.

A package lists the names that live in a torch-side module and loads that module on first use, so
the front ends can import the package at start-up cheaply (PEP 562)::

    _LAZY = {"evaluate_job": "evaluate"}          # name -> submodule of this package

    def __getattr__(name: str) -> Any:
        return lazy_attribute(__name__, _LAZY, globals(), name)

The value is cached in the package's namespace, so ``__getattr__`` runs once per name.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_attribute"]


def lazy_attribute(package: str, table: Mapping[str, str], namespace: dict[str, Any], name: str, *,
                   after_import: Callable[[], None] | None = None) -> Any:
    """``name`` from ``package.table[name]`` (imported now), stored in ``namespace``; AttributeError for
    a name the table does not hold. ``after_import`` runs once the submodule is loaded (e.g. to register
    the built-in attacks)."""
    module = table.get(name)
    if module is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{package}.{module}"), name)
    if after_import is not None:
        after_import()
    namespace[name] = value
    return value
