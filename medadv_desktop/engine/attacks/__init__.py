"""Attacks: one module per attack, registered by name on import.

``create_attack("pgd", model, eps=2/255, steps=10)`` builds one;
``available()`` lists the names; each class's ``schema()`` lists its
parameters for the GUI forms and CLI options. ``attack_volume`` attacks a
volume slice by slice for a 2-D model.
"""

from medadv_desktop.engine.attacks.base import (ATTACKS, COMMON_PARAMS, NORMS, TARGET_MODES, Attack, AttackOutput,
                                                ParamSpec, available, create_attack, get_attack, parse_budget,
                                                register)
from medadv_desktop.engine.attacks import fgsm, pgd, smia, square, vertical  # noqa: E402,F401  (register)
from medadv_desktop.engine.attacks.volume import attack_volume  # noqa: E402

__all__ = [
    "ATTACKS", "COMMON_PARAMS", "NORMS", "TARGET_MODES", "Attack", "AttackOutput", "ParamSpec",
    "attack_volume", "available", "create_attack", "get_attack", "parse_budget", "register",
]
