"""The engine packages' lazy attributes (engine/_lazy.py): loaded once, cached, unknown names refused."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = ("attacks", "evaluation", "metrics", "models", "training", "workflows")


@pytest.mark.parametrize("package", PACKAGES)
def test_every_listed_name_loads_and_is_cached(package: str) -> None:
    mod = importlib.import_module(f"medadv_desktop.engine.{package}")
    table = mod._LAZY
    assert table, package
    for name in table:
        value = getattr(mod, name)
        assert vars(mod)[name] is value                     # cached: __getattr__ is not asked again
        assert name in mod.__all__


@pytest.mark.parametrize("package", PACKAGES)
def test_unknown_name_is_an_attribute_error_naming_the_package(package: str) -> None:
    mod = importlib.import_module(f"medadv_desktop.engine.{package}")
    with pytest.raises(AttributeError, match=f"medadv_desktop.engine.{package}.*no_such_name"):
        mod.no_such_name  # noqa: B018
    assert not hasattr(mod, "no_such_name")


def test_attack_registry_is_filled_when_a_lazy_name_is_first_used() -> None:
    from medadv_desktop.engine import attacks
    names = attacks.available()
    assert {"fgsm", "pgd", "apgd-ce", "square"} <= set(names)
