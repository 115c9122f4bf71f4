"""Attack metadata without torch: parameter specs, common parameters, norms, budgets.

Everything a front end needs to *describe* an attack's options (a GUI form,
CLI options, a budget typed as ``4/255`` or ``6HU``) lives here and imports
neither torch nor the attack modules, so ``medadv --help`` and the GUI's
start-up stay cheap. The attack classes (``base.py`` and one file per attack)
build on it.

Budgets are parsed once, at the edge (the CLI's options, the GUI's fields,
a workflow's request), with :func:`parse_budget` (one value) and
:func:`parse_budget_list` (an eps grid such as ``1/255,2/255,6HU``). A value
with a unit suffix is in the study's native units and needs the native units
per [0, 1] unit: ``ModelCard.intensity.native_per_unit()`` (the window width
for a window mapping; per-image mappings have none).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from medadv_desktop.errors import AttackConfigError

TARGET_MODES: tuple[str, ...] = ("none", "class", "least_likely")
NORMS: tuple[str, ...] = ("linf", "l2")

#: the named attack suites (see :data:`SUITES`): "standard" is the evaluation default
SUITE_STANDARD = "standard"
SUITE_QUICK = "quick"
SUITE_FULL = "full"
#: the suite ``medadv evaluate`` (and the GUI's evaluation) runs when no attack list is given
DEFAULT_SUITE = SUITE_STANDARD
#: former name of the default suite (kept for imports)
SUITE_EVALUATE = SUITE_STANDARD

ParamKind = Literal["float", "int", "choice", "bool", "budget"]
#: the largest random seed (the same bound as adversarial training's; fits a 32-bit spin box)
SEED_MAX = 2**31 - 1
#: the unit of a float parameter measured like a budget ([0, 1] image units, shown also in native units)
UNIT_BUDGET = "[0,1]"

_FRACTION = re.compile(r"^\s*([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*/\s*([-+]?[0-9]*\.?[0-9]+)\s*$")
_BUDGET = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(?:/\s*([0-9]*\.?[0-9]+))?\s*([A-Za-z%]*)\s*$")


@dataclass(frozen=True)
class ParamSpec:
    """One attack parameter, from which the GUI builds a form and the CLI an option."""

    name: str
    kind: ParamKind
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    unit: str = ""             # "[0,1]" for budgets shown also in native units, "queries", "px"...
    help: str = ""
    choices: tuple[str, ...] = ()
    label: str = ""            # form label; default: the name with spaces

    @property
    def display_name(self) -> str:
        return self.label or self.name.replace("_", " ")

    @property
    def is_budget(self) -> bool:
        """True for a distance in [0, 1] image units (eps, a step size): entered also in native units."""
        return self.kind == "budget" or (self.kind == "float" and self.unit == UNIT_BUDGET)

    def validate(self, value: Any) -> Any:
        if self.kind == "bool":
            if isinstance(value, str):
                return value.lower() in ("1", "true", "yes", "on")
            return bool(value)
        if self.kind == "choice":
            if value not in self.choices:
                raise AttackConfigError(f"'{value}' is not one of {', '.join(self.choices)}", parameter=self.name)
            return value
        try:
            v = int(value) if self.kind == "int" else float(value)
        except (TypeError, ValueError, OverflowError):
            raise AttackConfigError(f"'{value}' is not a number", parameter=self.name) from None
        if self.kind == "int" and float(value) != int(value):
            raise AttackConfigError(f"'{value}' must be a whole number", parameter=self.name)
        if v != v:  # NaN
            raise AttackConfigError("must be a number, not NaN", parameter=self.name)
        if self.minimum is not None and v < self.minimum:
            raise AttackConfigError(f"{v:g} is below the minimum {self.minimum:g}", parameter=self.name)
        if self.maximum is not None and v > self.maximum:
            raise AttackConfigError(f"{v:g} is above the maximum {self.maximum:g}", parameter=self.name)
        return v

    def parse_text(self, text: str, native_per_unit: float | None = None, units: str = "") -> Any:
        """A value typed by a user (a CLI option, a form field) -> the value :meth:`validate` takes.

        Budgets go through :func:`parse_budget` (``4/255``, ``0.01``, ``6HU``);
        other numbers accept a fraction (``1/3``); choices and booleans are
        returned as typed (``validate`` checks them).
        """
        if self.is_budget:
            return parse_budget(text, native_per_unit, units, parameter=self.name)
        if self.kind in ("float", "int"):
            m = _FRACTION.match(text)
            if m:
                num, den = float(m.group(1)), float(m.group(2))
                if den == 0:
                    raise AttackConfigError(f"'{text}' divides by zero", parameter=self.name)
                return num / den
        return text


COMMON_PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("eps", "budget", 2 / 255, 0.0, 1.0, UNIT_BUDGET,
              "Perturbation budget in [0, 1] image units (also shown in the study's native units)."),
    ParamSpec("norm", "choice", "linf", help="Distance measure of the budget.", choices=NORMS),
    ParamSpec("targeted", "choice", "none",
              help="none: any wrong class; class: a chosen class; least_likely: the clean least-likely class.",
              choices=TARGET_MODES),
    ParamSpec("target_class", "int", 0, 0, None, "", "Class index for targeted mode 'class'."),
    ParamSpec("seed", "int", 0, 0, SEED_MAX, "", "Random seed (random starts, Square, black-box search)."),
    ParamSpec("early_stop", "bool", True, help="Stop working on a sample as soon as it is fooled."),
    ParamSpec("fold_bn", "bool", True,
              help="Run the attack on a copy of the model with each BatchNorm folded into the convolution before it "
                   "(same outputs up to float rounding, fewer operations per pass). Off: the model exactly as loaded.",
              label="fold BatchNorm"),
)
COMMON_NAMES: frozenset[str] = frozenset(p.name for p in COMMON_PARAMS)


# -- budgets ------------------------------------------------------------------
def parse_budget(text: str | float, native_per_unit: float | None = None, units: str = "", *,
                 parameter: str = "eps", native: bool = False) -> float:
    """Parse a budget such as ``0.01``, ``4/255`` or ``6HU`` into [0, 1] units.

    A value with a unit suffix (``6HU``) is in the study's native
    units and needs ``native_per_unit`` (native units per [0, 1] unit: the
    model card's window width, ``ModelCard.intensity.native_per_unit()``).
    ``units``, when known, is the study's unit name; a different suffix is
    refused. ``native=True``: a number without a suffix is in native units
    too (a field labelled with the units). Every problem is an
    :class:`AttackConfigError` naming ``parameter``.
    """
    if isinstance(text, bool):
        raise AttackConfigError(f"'{text}' is not a budget; write e.g. 0.01, 4/255 or 6HU", parameter=parameter)
    if isinstance(text, (int, float)):
        value = float(text)
        if native:
            value = _from_native(f"{text:g}", value, "", native_per_unit, units, parameter)
    else:
        m = _BUDGET.match(str(text))
        if not m:
            raise AttackConfigError(f"'{text}' is not a budget; write e.g. 0.01, 4/255 or 6HU", parameter=parameter)
        num, den, unit = m.groups()
        value = float(num)
        if den is not None:
            if float(den) == 0:
                raise AttackConfigError(f"'{str(text).strip()}' divides by zero; write e.g. 4/255",
                                        parameter=parameter)
            value /= float(den)
        if unit or native:
            value = _from_native(str(text).strip(), value, unit, native_per_unit, units, parameter)
    if not math.isfinite(value) or not 0 <= value <= 1:
        raise AttackConfigError(f"{value:g} is outside [0, 1]", parameter=parameter)
    return value


def _from_native(text: str, value: float, unit: str, native_per_unit: float | None, units: str,
                 parameter: str) -> float:
    if native_per_unit is None:
        raise AttackConfigError(
            f"'{text}' is in native units, but this model card maps intensities per image, so a budget has no "
            "fixed size in native units; give it in [0, 1] units (e.g. 2/255)", parameter=parameter)
    if not math.isfinite(native_per_unit) or native_per_unit <= 0:
        raise AttackConfigError(f"'{text}' is in native units, but the image has no native range to convert it "
                                "with; give it in [0, 1] units (e.g. 2/255)", parameter=parameter)
    known = units.strip()
    if unit and known and unit.upper() != known.upper():
        raise AttackConfigError(f"unit '{unit}' does not match the study's units '{known}'", parameter=parameter)
    return value / native_per_unit


def parse_budget_list(text: str | Sequence[str | float], native_per_unit: float | None = None, units: str = "",
                      *, parameter: str = "eps") -> list[float]:
    """Parse an eps grid (``"1/255, 2/255, 6HU"`` or a list of such items) into [0, 1] values.

    The order is kept (callers that need it sorted sort it); empty items are
    skipped; at least one budget is required. An error names the item at fault.
    """
    items: list[str | float] = list(text.split(",") if isinstance(text, str) else text)
    values: list[float] = []
    for item in items:
        if isinstance(item, str) and not item.strip():
            continue
        try:
            values.append(parse_budget(item, native_per_unit, units, parameter=parameter))
        except AttackConfigError as exc:
            raise AttackConfigError(f"eps grid: {_without_parameter(exc)}", parameter=parameter) from None
    if not values:
        raise AttackConfigError("give at least one budget, e.g. 1/255,2/255,4/255", parameter=parameter)
    return values


def _without_parameter(exc: AttackConfigError) -> str:
    text = str(exc)
    prefix = f"Parameter '{exc.parameter}': " if exc.parameter else ""
    return text[len(prefix):] if prefix and text.startswith(prefix) else text


def budget_unit(text: str | float) -> str:
    """The unit suffix of a budget as typed (``"6HU"`` -> ``"HU"``; ``"4/255"``, ``0.01`` -> ``""``).

    Text that is not a budget at all gives ``""`` (:func:`parse_budget` reports it).
    """
    if isinstance(text, (int, float)):
        return ""
    m = _BUDGET.match(str(text))
    return m.group(3) if m else ""


def check_budget_units(texts: str | Sequence[str | float] | None, units: str | None, *,
                       parameter: str = "eps", what: str = "study") -> None:
    """Refuse budgets in native units that the images cannot take.

    ``texts``: budgets as typed (one, a comma-separated grid, or a list);
    ``units``: the units of the images they will be applied to, once those are
    read (``"HU"``; ``""`` or None when the images have none, e.g. PNG, or when
    a data set mixes units). A value with a unit suffix (``6HU``) needs
    images in exactly those units: on images without units it has no meaning
    (the card's window would silently give it one), and ``6mm`` or ``6HU`` on
    MR is a mistake. Values in [0, 1] units always pass. ``what`` names the images in the message
    ("study", "data set").
    """
    if texts is None:
        return
    items = texts.split(",") if isinstance(texts, str) else list(texts)
    known = (units or "").strip()
    for item in items:
        unit = budget_unit(item)
        if not unit:
            continue
        shown = str(item).strip()
        if not known:
            raise AttackConfigError(f"'{shown}' is in native units ({unit}), but the {what} has no units "
                                    "(e.g. PNG images, or a data set that mixes units); give it in [0, 1] units "
                                    "(e.g. 2/255)", parameter=parameter)
        if unit.upper() != known.upper():
            raise AttackConfigError(f"unit '{unit}' does not match the {what}'s units '{known}'; write e.g. "
                                    f"6{known} or 2/255", parameter=parameter)
# -- suites -------------------------------------------------------------------
@dataclass(frozen=True)
class Suite:
    """A named attack list with its settings, run as a cascade (a later attack only on the samples still robust).

    ``attacks`` holds ``(attack name, ((param, value), ...))`` in run order;
    ``with_registered``: every other registered attack is appended (with its
    defaults, in registry order) by :func:`medadv_desktop.engine.attacks.suite_attacks`.
    ``upper_bound``: the suite is cheap and its robust accuracy is an upper
    bound on the truth, to be labelled so wherever it is shown.
    """

    name: str
    label: str
    description: str
    attacks: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...]
    upper_bound: bool = False
    with_registered: bool = False
    short: str = ""                 # one line for narrow places (the GUI docks); the description in full elsewhere

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.attacks]

    def specs(self) -> list[tuple[str, dict[str, Any]]]:
        """``[(attack name, params)]`` of the fixed part, in run order (fresh dicts)."""
        return [(name, dict(params)) for name, params in self.attacks]

    def describe(self) -> dict[str, Any]:
        """What a result records about the suite that ran (JSON-ready)."""
        return {"name": self.name, "label": self.label, "upper_bound": self.upper_bound,
                "attacks": [[name, dict(params)] for name, params in self.attacks]}


SUITES: dict[str, Suite] = {s.name: s for s in (
    Suite(SUITE_STANDARD, "Standard (AutoAttack-grade)",
          "APGD-CE (100 iterations) -> APGD-T (DLR loss, up to 9 target classes, 100 iterations each) -> "
          "FAB-T (up to 9 target classes, 100 iterations each) -> Square (5000 queries, p_init 0.8): "
          "AutoAttack's standard cascade (Croce & Hein 2020), the reliable worst case. White-box and black-box "
          "attacks, so gradient masking does not hide adversarial examples.",
          (("apgd-ce", ()), ("apgd-t", ()), ("fab-t", ()), ("square", (("n_queries", 5000),))),
          short="APGD-CE → APGD-T → FAB-T → Square-5000: the reliable worst case (slow on a CPU)"),
    Suite(SUITE_QUICK, "Quick (upper bound on robustness)",
          "FGSM -> APGD-CE (20 iterations) -> Square (1000 queries): minutes instead of hours for interactive "
          "use. Its robust accuracy is an UPPER BOUND: the standard suite may find more adversarial examples.",
          (("fgsm", ()), ("apgd-ce", (("steps", 20),)), ("square", (("n_queries", 1000),))),
          upper_bound=True, short="FGSM → APGD-CE-20 → Square-1000: minutes; an UPPER BOUND on robustness"),
    Suite(SUITE_FULL, "Full (standard + every other attack)",
          "The standard suite, then every other registered attack with its defaults (FGSM, PGD, APGD-DLR, "
          "vertical, SMIA, ...): the slowest, for a complete per-attack picture.",
          (("apgd-ce", ()), ("apgd-t", ()), ("fab-t", ()), ("square", (("n_queries", 5000),))), with_registered=True,
          short="the standard suite, then every other attack: the slowest"),
)}


def get_suite(name: str) -> Suite:
    """The suite called ``name`` (case-insensitive); an unknown name is an :class:`AttackConfigError`."""
    try:
        return SUITES[name.strip().lower()]
    except KeyError:
        raise AttackConfigError(f"no attack suite named '{name}'; suites: {', '.join(SUITES)}",
                                parameter="suite") from None


def is_suite(name: str) -> bool:
    return isinstance(name, str) and name.strip().lower() in SUITES


def suite_help() -> str:
    """One line per suite, for CLI help and GUI tooltips."""
    return "; ".join(f"{s.name}: {s.label}" for s in SUITES.values())


def split_suite(choices: Sequence[str | tuple[str, Mapping[str, Any]]]
                ) -> tuple[Suite | None, list[str | tuple[str, Mapping[str, Any]]]]:
    """``(suite, [])`` when ``choices`` is one suite name (e.g. ``["standard"]``), else ``(None, choices)``.

    A suite cannot be mixed with attack names: ``standard,fgsm`` is refused
    (name the suite's attacks instead) so that a result never claims a suite
    it did not run exactly.
    """
    items = [c for c in choices if not (isinstance(c, str) and not c.strip())]
    suites = [c for c in items if isinstance(c, str) and is_suite(c)]
    if not suites:
        return None, list(items)
    if len(items) > 1:
        raise AttackConfigError(f"the suite '{suites[0]}' cannot be combined with other attacks or suites; give "
                                "either one suite or a list of attacks", parameter="attacks")
    return get_suite(suites[0]), []
