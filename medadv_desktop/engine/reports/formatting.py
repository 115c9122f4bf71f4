"""Consistent number formatting for every report (PDF, CSV headers, CLI).

Percentages carry one decimal (``87.5 %``); a budget eps in [0, 1] units is
shown as a fraction of 255 when it is one (``2/255``) and with four decimals
otherwise; native values (HU) with one decimal.
"""

from __future__ import annotations

import math
from typing import Any, TypeGuard


def is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def pct(value: Any, *, dash: str = "-") -> str:
    """A fraction in [0, 1] as a percentage with one decimal: 0.875 -> '87.5 %'."""
    return f"{100.0 * float(value):.1f} %" if is_number(value) else dash


def num(value: Any, digits: int = 3, *, dash: str = "-") -> str:
    """A plain number with ``digits`` significant digits ('-' when missing)."""
    if not is_number(value):
        return dash
    value = float(value)
    if value == 0:
        return "0"
    if abs(value) >= 10 ** digits:
        return f"{value:.0f}"
    return f"{value:.{digits}g}"


def fixed(value: Any, decimals: int = 1, *, dash: str = "-") -> str:
    return f"{float(value):.{decimals}f}" if is_number(value) else dash


def eps_fraction(eps: float) -> str:
    """'2/255' when eps is (close to) a whole number of 255ths, else '0.0100'."""
    if not is_number(eps):
        return "-"
    k = eps * 255.0
    if eps > 0 and abs(k - round(k)) < 1e-6 * max(1.0, k) and round(k) >= 1:
        return f"{int(round(k))}/255"
    return f"{eps:.4f}"


def eps_decimal(eps: float) -> str:
    return f"{eps:.4f}" if is_number(eps) else "-"


def native(value: Any, units: str = "", *, dash: str = "-") -> str:
    """A value in the study's native units with one decimal: '3.1 HU'."""
    if not is_number(value):
        return dash
    return f"{float(value):.1f} {units}".strip()


def eps_all_units(eps: float, eps_native: Any, units: str) -> str:
    """'2/255 = 0.0078 = 3.1 HU' (the native part only when known)."""
    frac, dec = eps_fraction(eps), eps_decimal(eps)
    text = frac if frac == dec else f"{frac} = {dec}"
    if is_number(eps_native) and units:
        text += f" = {native(eps_native, units)}"
    return text


def seconds(value: Any) -> str:
    if not is_number(value):
        return "-"
    value = float(value)
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 120:
        return f"{value:.1f} s"
    if value < 7200:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"


# -- appended for the CLI and the GUI (issue 11: one home for percent/eps formatting) -------------------
def budget_text(eps: Any) -> str:
    """A [0, 1] budget as a user would type it back: ``2/255`` when it is a whole number of 255ths,
    ``0.01`` for a short decimal, else five significant digits; ``0`` for zero."""
    from fractions import Fraction

    if not is_number(eps):
        return "-"
    value = float(eps)
    if value == 0:
        return "0"
    k = value * 255
    if abs(k - round(k)) < 1e-6 and round(k) > 0:
        return f"{round(k)}/255"
    frac = Fraction(value).limit_denominator(1000)
    if abs(float(frac) - value) < 1e-9 and frac.denominator in (2, 4, 8, 10, 16, 100, 1000):
        return f"{value:g}"
    return f"{value:.5g}"


def eps_255(eps: Any) -> str:
    """A [0, 1] budget in 255ths with three significant digits: ``2/255``, ``1.5/255``."""
    return f"{float(eps) * 255:.3g}/255" if is_number(eps) else "-"


def points(value: Any, *, dash: str = "-", unit: str = "pt") -> str:
    """A change of a fraction in percentage points with a sign: 0.125 -> '+12.5 pt' (the PDF: unit 'pts')."""
    return f"{100.0 * float(value):+.1f} {unit}" if is_number(value) else dash


def pct_compact(value: Any, *, dash: str = "-") -> str:
    """A fraction as a percentage without a space, for narrow columns: 0.875 -> '87.5%'."""
    return f"{100.0 * float(value):.1f}%" if is_number(value) else dash


def _norm_key(norm: Any) -> str:
    return str(norm).lower().replace("-", "").replace("_", "")


def norm_name(norm: Any) -> str:
    """The budget's distance measure, short: 'linf' -> 'L-inf', 'l2' -> 'L2'."""
    return {"linf": "L-inf", "l2": "L2", "l0": "L0"}.get(_norm_key(norm), str(norm))


def norm_description(norm: Any) -> str:
    """The distance measure with what it measures: 'L-inf (largest change of any pixel)'."""
    return {"linf": "L-inf (largest change of any pixel)", "l2": "L2 (Euclidean length of the change)",
            "l0": "L0"}.get(_norm_key(norm), str(norm))
