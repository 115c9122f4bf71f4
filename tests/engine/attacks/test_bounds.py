"""Every attack, both norms: budget respected, images clipped to [0, 1], outputs consistent."""

from __future__ import annotations

import pytest
import torch

from medadv_desktop.engine.attacks import available, create_attack, get_attack

CONFIGS = [
    ("fgsm", {}),
    ("pgd", {"steps": 4}),
    ("pgd", {"steps": 3, "restarts": 2}),
    ("square", {"n_queries": 30, "p_init": 0.3}),
    ("vertical", {"steps": 4}),
    ("vertical", {"steps": 4, "orientation": "horizontal", "random_start": True}),
    ("vertical", {"variant": "black_box", "n_queries": 30}),
    ("smia", {"steps": 4, "beta": 1.0, "kernel_size": 3}),
]
BUDGETS = {"linf": 8 / 255, "l2": 0.5}


def test_every_attack_is_registered_with_a_documented_schema():
    assert set(available()) >= {"fgsm", "pgd", "square", "vertical", "smia"}
    for name in available():
        cls = get_attack(name)
        assert cls.label and cls.description and cls.__doc__ and "Distance measure" in cls.__doc__
        for spec in cls.schema():
            assert spec.help, (name, spec.name)
            assert spec.validate(spec.default) == spec.default
    assert "MedAdv" in get_attack("vertical").label


@pytest.mark.parametrize("norm", ["linf", "l2"])
@pytest.mark.parametrize("name,params", CONFIGS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CONFIGS)])
def test_budget_clipping_and_consistency(gray_model, name, params, norm):
    # pixels near 0 and 1 make clipping bite
    x = torch.rand(6, 1, 16, 16, generator=torch.Generator().manual_seed(4))
    x[:, :, :3] = 0.0
    x[:, :, -3:] = 1.0
    with torch.no_grad():
        y = gray_model(x).argmax(1)
    eps = BUDGETS[norm]
    out = create_attack(name, gray_model, eps=eps, norm=norm, seed=1, **params).perturb(x, y)
    delta = out.adv - x
    assert out.adv.shape == x.shape and out.adv.dtype == x.dtype
    assert float(out.adv.min()) >= 0.0 and float(out.adv.max()) <= 1.0
    if norm == "linf":
        assert float(delta.abs().max()) <= eps + 1e-6
    else:
        assert float(delta.flatten(1).norm(dim=1).max()) <= eps + 1e-4
    assert float(delta.abs().max()) > 0          # it did something
    with torch.no_grad():
        logits = gray_model(out.adv)
    torch.testing.assert_close(out.adv_logits, logits, atol=1e-4, rtol=1e-4)
    assert torch.equal(out.success, logits.argmax(1) != y)
    assert out.queries.dtype == torch.int64 and bool((out.queries >= 1).all())
    assert out.elapsed_s > 0
