"""Attacks: one module per attack, registered by name on import.

``create_attack("pgd", model, eps=2/255, steps=10)`` builds one;
``available()`` lists the names, ``suite_attacks("standard")`` a named suite's
attacks with their settings (the suites live in ``spec.py``) and
``default_attacks()`` the default suite's names; each class's ``schema()`` lists its parameters for the GUI
forms and CLI options. ``attack_volume`` attacks a volume slice by slice for a
2-D model.

The torch-free parts (``ParamSpec``, norms, target modes, budget parsing) come
from ``spec.py`` and are imported here eagerly; the registry and the attack
classes (which import torch) are loaded on first use, so front ends can build
their options and forms without importing torch.

Adding an attack: one new module with a ``@register`` class, plus its module
name in :data:`BUILTIN`.
"""

from __future__ import annotations

import importlib
from typing import Any

from medadv_desktop.engine._lazy import lazy_attribute
from medadv_desktop.engine.attacks.spec import (COMMON_PARAMS, NORMS, TARGET_MODES, ParamSpec, check_budget_units,
                                                parse_budget, parse_budget_list)


#: the built-in attack modules, imported (and so registered) in this order: the registry's order, which is
#: the GUI's list order and the order in which the "full" suite appends the attacks it does not name
BUILTIN = ("fgsm", "pgd", "apgd", "apgd_dlr", "apgd_targeted", "fab", "square", "vertical", "smia")


def _register_builtin() -> None:
    """Import the built-in attack modules; each registers its class (idempotent)."""
    for module in BUILTIN:
        importlib.import_module(f"{__name__}.{module}")


_LAZY = {"ATTACKS": "base", "Attack": "base", "AttackOutput": "base", "available": "base",
         "create_attack": "base", "default_attacks": "base", "get_attack": "base", "register": "base",
         "suite_attacks": "base",
         "attack_volume": "volume"}

__all__ = ["COMMON_PARAMS", "NORMS", "TARGET_MODES", "ParamSpec", "check_budget_units", "parse_budget",
           "parse_budget_list", *_LAZY]


def __getattr__(name: str) -> Any:
    return lazy_attribute(__name__, _LAZY, globals(), name, after_import=_register_builtin)
