"""attacks/spec.py: budgets parsed once, with clear errors; parameter specs; no torch needed."""

from __future__ import annotations

import subprocess
import sys

import pytest

from medadv_desktop.engine.attacks import get_attack
from medadv_desktop.engine.attacks.spec import COMMON_PARAMS, ParamSpec, parse_budget, parse_budget_list
from medadv_desktop.errors import AttackConfigError


@pytest.mark.parametrize("text", ["1/0", "0/0", "4/0.0"])
def test_division_by_zero_is_a_clear_error(text):
    with pytest.raises(AttackConfigError, match="divides by zero") as info:
        parse_budget(text)
    assert info.value.parameter == "eps"


def test_native_budgets_need_native_units():
    assert parse_budget("6HU", 400.0, "HU") == pytest.approx(6 / 400)
    assert parse_budget("6 HU", 400.0) == pytest.approx(6 / 400)          # the study's units unknown: accepted
    with pytest.raises(AttackConfigError, match="maps intensities per image"):
        parse_budget("6HU", None, "HU")
    for npu in (0.0, float("nan"), -3.0):
        with pytest.raises(AttackConfigError, match="no native range"):
            parse_budget("6HU", npu, "HU")
    with pytest.raises(AttackConfigError, match="does not match the study's units 'HU'"):
        parse_budget("6mT", 400.0, "HU")
    assert parse_budget("3.14", 400.0, "HU", native=True) == pytest.approx(3.14 / 400)
    with pytest.raises(AttackConfigError, match="outside"):
        parse_budget("800", 400.0, native=True)


@pytest.mark.parametrize("value", ["-1/255", "2", "abc", "1e999", True, float("nan"), 1.5])
def test_bad_budgets_name_the_parameter(value):
    with pytest.raises(AttackConfigError) as info:
        parse_budget(value, parameter="alpha")
    assert info.value.parameter == "alpha"


def test_budget_list_keeps_order_skips_blanks_and_names_the_bad_item():
    assert parse_budget_list("4/255, ,1/255,6HU", 400.0) == pytest.approx([4 / 255, 1 / 255, 6 / 400])
    assert parse_budget_list(["2/255", 0.01]) == pytest.approx([2 / 255, 0.01])
    with pytest.raises(AttackConfigError, match="eps grid: '1/0' divides by zero"):
        parse_budget_list("1/255,1/0")
    with pytest.raises(AttackConfigError, match="at least one budget"):
        parse_budget_list(" , ")


def test_param_spec_budgets_and_text():
    eps = next(p for p in COMMON_PARAMS if p.name == "eps")
    alpha = next(p for p in get_attack("pgd").params if p.name == "alpha")
    steps = next(p for p in get_attack("pgd").params if p.name == "steps")
    assert eps.is_budget and alpha.is_budget and not steps.is_budget
    assert alpha.parse_text("2HU", 400.0, "HU") == pytest.approx(2 / 400)
    assert steps.parse_text("3") == "3" and steps.validate(steps.parse_text("3")) == 3
    beta = ParamSpec("beta", "float", 1.0)
    assert beta.parse_text("1/4") == 0.25
    with pytest.raises(AttackConfigError, match="divides by zero"):
        beta.parse_text("1/0")
    parsed = get_attack("pgd").parse_params({"eps": "6HU", "alpha": "1/255", "steps": 3, "x": "y"}, 400.0, "HU")
    assert parsed == {"eps": pytest.approx(6 / 400), "alpha": pytest.approx(1 / 255), "steps": 3, "x": "y"}


def test_black_box_is_asked_of_the_attack_class():
    assert get_attack("square").is_black_box() and not get_attack("pgd").is_black_box({"steps": 3})
    vertical = get_attack("vertical")
    assert vertical.is_black_box({"variant": "black_box"}) and not vertical.is_black_box({})


def test_spec_and_the_attack_package_import_without_torch():
    code = ("import sys\n"
            "import medadv_desktop.engine.attacks as a\n"
            "from medadv_desktop.engine.attacks.spec import parse_budget\n"
            "assert parse_budget('6HU', 400) == 0.015 and a.NORMS\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n"
            "a.available()\n"
            "assert 'torch' in sys.modules\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
