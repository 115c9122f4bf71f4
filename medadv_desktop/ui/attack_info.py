"""What the Attack panel offers and what it asks to run (no widgets, no torch at import).

:class:`AttackInfo` is gathered from the engine's attack registry once the
engine has started; the forms are generated from its ``schema`` (the engine's
``ParamSpec`` objects), so a new attack appears in the GUI with no UI code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SCOPE_SLICE, SCOPE_VOLUME, SCOPE_ALL, SCOPE_DATASET = "slice", "volume", "all_studies", "dataset"
SCOPES = ((SCOPE_SLICE, "Current slice"), (SCOPE_VOLUME, "Whole volume"),
          (SCOPE_ALL, "All loaded studies"), (SCOPE_DATASET, "Labelled data set folder (eps grid)"))


@dataclass(frozen=True)
class AttackInfo:
    """What the UI needs about one attack; read from the registry (the attack modules import torch)."""

    name: str
    label: str
    description: str
    black_box: bool
    norms: tuple[str, ...]
    schema: tuple[Any, ...]          # engine ParamSpec objects
    default_suites: tuple[str, ...] = ()   # the default attack lists it is in ("evaluate", "quick")


@dataclass
class AttackRequest:
    """What the user asked to run."""

    attack: str
    params: dict[str, Any]
    scope: str
    dataset: str = ""
    eps_grid: list[float] = field(default_factory=list)
    attacks: list[tuple[str, dict[str, Any]]] = field(default_factory=list)   # dataset scope
    # dataset scope: False = the attack cascade (later attacks only on samples still robust; their rows are
    # cumulative); True = every attack on every sample, each row the attack's own (evaluate_job's full_rows)
    full_rows: bool = False
    max_samples: int | None = None            # dataset scope: a seeded, class-balanced subset of at most this many
    plan: Any = None                          # dataset scope: the engine TestPlan to apply (acceptance criteria)
    suite: str = ""                           # dataset scope: the named suite ``attacks`` is, exactly ("" = custom)


def gather_attack_infos() -> list[AttackInfo]:
    """Read the registry (imports the attack modules, hence torch)."""
    from medadv_desktop.engine.attacks.base import available, get_attack

    infos = []
    for name in available():
        cls = get_attack(name)
        infos.append(AttackInfo(name, cls.label or name, cls.description or "", cls.is_black_box(),
                                tuple(cls.norms), tuple(cls.schema()), tuple(cls.default_suites)))
    return infos
