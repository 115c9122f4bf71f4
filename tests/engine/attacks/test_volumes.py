"""Volumes: slice by slice for a 2-D model; whole for a 3-D model."""

from __future__ import annotations

import pytest
import torch

from medadv_desktop.engine.attacks import attack_volume, create_attack
from medadv_desktop.engine.jobs import ProgressCallback
from medadv_desktop.errors import ModelInputError

from .conftest import Tiny3D, correct_labels

ALL = [("fgsm", {}), ("pgd", {"steps": 4}), ("square", {"n_queries": 40, "p_init": 0.3}),
       ("vertical", {"steps": 4}), ("vertical", {"variant": "black_box", "n_queries": 40}),
       ("smia", {"steps": 4, "kernel_size": 3})]


def test_attack_volume_slice_by_slice(gray_model):
    vol = torch.rand(11, 1, 16, 16, generator=torch.Generator().manual_seed(8))
    labels = correct_labels(gray_model, vol)
    events = []
    attack = create_attack("pgd", gray_model, eps=4 / 255, steps=3)
    out = attack_volume(attack, vol, labels, batch_size=4, progress=ProgressCallback(callback=events.append))
    assert out.adv.shape == vol.shape and out.adv_logits.shape == (11, 3)
    assert out.success.shape == (11,) and out.queries.shape == (11,)
    assert out.extra["batches"] == 3
    assert float((out.adv - vol).abs().max()) <= 4 / 255 + 1e-6
    done = [e.done for e in events if e.stage == "attack_volume"]
    assert done == [4, 8, 11]
    with torch.no_grad():
        assert torch.equal(out.success, gray_model(out.adv).argmax(1) != labels)
    # deterministic, and per-slice random streams: the batch size does not change the result
    again = attack_volume(attack, vol, labels, batch_size=3)
    torch.testing.assert_close(again.adv, out.adv, atol=1e-6, rtol=0)
    with pytest.raises(ModelInputError):
        attack_volume(attack, vol[None], labels)


@pytest.mark.parametrize("name,params", ALL, ids=[f"{n}-{i}" for i, (n, _) in enumerate(ALL)])
def test_every_attack_on_a_3d_model(name, params):
    model = Tiny3D().eval()
    x = torch.rand(3, 1, 4, 16, 16, generator=torch.Generator().manual_seed(9))
    y = correct_labels(model, x)
    for norm, eps in (("linf", 8 / 255), ("l2", 0.5)):
        out = create_attack(name, model, eps=eps, norm=norm, **params).perturb(x, y)
        d = out.adv - x
        assert out.adv.shape == x.shape
        assert float(out.adv.min()) >= 0 and float(out.adv.max()) <= 1
        if norm == "linf":
            assert float(d.abs().max()) <= eps + 1e-6
        else:
            assert float(d.flatten(1).norm(dim=1).max()) <= eps + 1e-4
        with torch.no_grad():
            torch.testing.assert_close(out.adv_logits, model(out.adv), atol=1e-4, rtol=1e-4)


def test_vertical_on_a_volume_is_constant_along_rows_per_slice():
    model = Tiny3D().eval()
    x = 0.2 + 0.6 * torch.rand(2, 1, 4, 16, 16, generator=torch.Generator().manual_seed(10))
    y = correct_labels(model, x)
    out = create_attack("vertical", model, eps=8 / 255, steps=3).perturb(x, y)
    d = out.adv - x                                               # (N, C, D, H, W)
    torch.testing.assert_close(d, d[:, :, :, :1].expand_as(d), atol=1e-6, rtol=0)
    assert float((d[:, :, 0] - d[:, :, 1]).abs().max()) > 0       # slices have their own columns


def test_a_single_image_is_refused_with_a_clear_message(gray_model):
    with pytest.raises(ModelInputError, match="batch"):
        create_attack("fgsm", gray_model).perturb(torch.rand(1, 16, 16), torch.tensor([0]))
