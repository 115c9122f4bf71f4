"""Attack invariants, for every registered attack, each of its fast settings and both norms.

Budget ball, images clipped to [0, 1], reported logits = the model's logits of
the adversarial images, success = the prediction changed, queries counted.
Parametrised over the registry (``available()``) and each attack's
``fast_settings`` hook, so a new attack is checked without touching this file.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

from medadv_desktop.engine.attacks import available, get_attack

BUDGETS = {"linf": 8 / 255, "l2": 0.5}


def _cases() -> list[tuple[str, dict[str, Any], str]]:
    cases = []
    for name in available():
        cls = get_attack(name)
        for settings in cls.fast_settings:
            cases.extend((name, dict(settings), norm) for norm in cls.norms if norm in BUDGETS)
    return cases


CASES = _cases()


def check_invariants(model: torch.nn.Module, name: str, params: dict[str, Any], norm: str) -> None:
    """The invariants every attack keeps (also used by tests that register an attack of their own)."""
    # pixels near 0 and 1 make clipping bite
    x = torch.rand(6, 1, 16, 16, generator=torch.Generator().manual_seed(4))
    x[:, :, :3] = 0.0
    x[:, :, -3:] = 1.0
    with torch.no_grad():
        y = model(x).argmax(1)
    eps = BUDGETS[norm]
    out = get_attack(name)(model, eps=eps, norm=norm, seed=1, **params).perturb(x, y)
    delta = out.adv - x
    assert out.adv.shape == x.shape and out.adv.dtype == x.dtype
    assert float(out.adv.min()) >= 0.0 and float(out.adv.max()) <= 1.0
    if norm == "linf":
        assert float(delta.abs().max()) <= eps + 1e-6
    else:
        assert float(delta.flatten(1).norm(dim=1).max()) <= eps + 1e-4
    assert float(delta.abs().max()) > 0          # it did something
    with torch.no_grad():
        logits = model(out.adv)
    torch.testing.assert_close(out.adv_logits, logits, atol=1e-4, rtol=1e-4)
    assert torch.equal(out.success, logits.argmax(1) != y)
    assert out.queries.dtype == torch.int64 and bool((out.queries >= 1).all())
    assert out.elapsed_s > 0


def test_every_attack_is_registered_with_a_documented_schema():
    assert available() and CASES
    for name in available():
        cls = get_attack(name)
        assert cls.name == name and cls.label and cls.description and cls.__doc__
        assert "Distance measure" in cls.__doc__
        assert cls.fast_settings and set(cls.norms) <= {"linf", "l2"}
        for spec in cls.schema():
            assert spec.help, (name, spec.name)
            assert spec.validate(spec.default) == spec.default
        for settings in cls.fast_settings:
            cls(torch.nn.Identity(), **settings)              # the fast settings are valid parameters
    assert "MedAdv" in get_attack("vertical").label


@pytest.mark.parametrize("name,params,norm", CASES,
                         ids=[f"{n}-{i}-{norm}" for i, (n, _, norm) in enumerate(CASES)])
def test_budget_clipping_and_consistency(gray_model, name, params, norm):
    check_invariants(gray_model, name, params, norm)
