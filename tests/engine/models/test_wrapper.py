"""The differentiable Classifier wrapper and the study <-> [0, 1] mapping."""
from __future__ import annotations


import numpy as np
import pydicom
import pytest
import torch
import torch.nn.functional as F
from pydicom.data import get_testdata_file
from safetensors.torch import save_file

from medadv_desktop.engine.io.study import Study
from medadv_desktop.engine.models import (BT601_LUMA, Classifier, ModelCard, load_classifier, study_to_unit,
                                          study_to_unit_volume, unit_to_native)
from medadv_desktop.errors import ModelInputError

from .conftest import TinyNet, TinyNet3d, write_card

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")


def _card(**fields) -> ModelCard:
    base = {"name": "tiny", "format": "torchscript", "weights": "x.pt", "num_classes": 2,
            "class_names": ["no_finding", "lesion"], "input_size": [32, 32], "mean": [0.5], "std": [0.25]}
    base.update(fields)
    return ModelCard.from_dict(base)


def _ct_study() -> Study:
    """pydicom's real CT_small.dcm (128x128, HU after rescale) as a one-slice Study."""
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    hu = ds.pixel_array.astype(np.float32) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    return Study(pixels=hu[None], spacing=(1.0, 1.0, 1.0), modality="CT", source_format="dicom",
                 source_paths=[], pseudonym="ST-test")


def test_timm_model_gradient_reaches_every_input_region(tmp_path, tiny_efficientnet):
    save_file(tiny_efficientnet.state_dict(), tmp_path / "weights.safetensors")
    model = load_classifier(write_card(tmp_path), "cpu")
    x = torch.rand(1, 1, 48, 40, requires_grad=True)   # not the card's 32x32
    model(x)[0, 1].backward()
    grad = x.grad[0, 0].abs()
    assert grad.shape == (48, 40)
    for rows in torch.arange(48).chunk(4):               # 4x4 grid of regions, every one gets gradient
        for cols in torch.arange(40).chunk(4):
            assert grad[rows][:, cols].sum() > 0


def test_resize_matches_manual_pipeline_and_is_skipped_at_input_size():
    net = TinyNet().eval()
    model = Classifier(net, _card())
    x = torch.rand(3, 1, 50, 70)
    with torch.no_grad():
        expected = net((F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False) - 0.5) / 0.25)
        assert torch.allclose(model(x), expected, atol=1e-6)
        x32 = torch.rand(2, 1, 32, 32)
        assert torch.allclose(model.preprocess(x32), (x32 - 0.5) / 0.25)


def test_channel_adaptation_rgb_to_grey_uses_bt601():
    net = TinyNet(in_chans=1).eval()
    model = Classifier(net, _card())
    rgb = torch.rand(2, 3, 32, 32)
    grey = (rgb * torch.tensor(BT601_LUMA).view(1, 3, 1, 1)).sum(1, keepdim=True)
    with torch.no_grad():
        assert torch.allclose(model(rgb), model(grey), atol=1e-6)


def test_channel_adaptation_grey_to_rgb_repeats():
    net = TinyNet(in_chans=3).eval()
    model = Classifier(net, _card(in_chans=3, mean=[0.4, 0.5, 0.6], std=[0.2, 0.25, 0.3]))
    grey = torch.rand(2, 1, 40, 40, requires_grad=True)
    pre = model.preprocess(grey)
    assert pre.shape == (2, 3, 32, 32)
    base = F.interpolate(grey, size=(32, 32), mode="bilinear", align_corners=False)
    for c, (m, s) in enumerate(zip([0.4, 0.5, 0.6], [0.2, 0.25, 0.3])):
        assert torch.allclose(pre[:, c:c + 1], (base - m) / s, atol=1e-6)
    model(grey).sum().backward()
    assert grey.grad.abs().sum() > 0


def test_sigmoid_model_gives_two_classes():
    net = TinyNet(n_out=1).eval()
    model = Classifier(net, _card(output="sigmoid", num_classes=1))
    x = torch.rand(4, 1, 32, 32)
    logits = model(x)
    assert logits.shape == (4, 2) and model.n_classes == 2
    z = net((x - 0.5) / 0.25)[:, 0]
    probs = model.predict_proba(x)
    assert torch.allclose(probs[:, 1], torch.sigmoid(z).detach(), atol=1e-6)
    assert torch.allclose(probs[:, 0], 1 - torch.sigmoid(z).detach(), atol=1e-6)


def test_sigmoid_torchscript_loads(tmp_path):
    torch.jit.script(TinyNet(n_out=1)).save(str(tmp_path / "net.pt"))
    card = write_card(tmp_path, format="torchscript", architecture="", weights="net.pt",
                      output="sigmoid", num_classes=1, class_names=["negative", "positive"])
    assert load_classifier(card, "cpu")(torch.rand(2, 1, 64, 64)).shape == (2, 2)


def test_three_d_torchscript_model(tmp_path):
    net = TinyNet3d(n_out=3).eval()
    torch.jit.script(net).save(str(tmp_path / "vol.pt"))
    card = write_card(tmp_path, format="torchscript", architecture="", weights="vol.pt", num_classes=3,
                      class_names=["a", "b", "c"], input_size=[8, 16, 16])
    model = load_classifier(card, "cpu")
    assert model.spatial_dims == 3
    x = torch.rand(2, 1, 12, 20, 24, requires_grad=True)
    logits = model(x)
    with torch.no_grad():
        expected = net((F.interpolate(x, size=(8, 16, 16), mode="trilinear", align_corners=False) - 0.5) / 0.25)
    assert torch.allclose(logits, expected, atol=1e-5)
    logits[:, 0].sum().backward()
    assert x.grad.abs().sum() > 0
    with pytest.raises(ModelInputError, match="expects .*depth, height, width"):
        model(torch.rand(1, 1, 16, 16))


def test_wrong_input_shapes_are_explained():
    model = Classifier(TinyNet().eval(), _card())
    with pytest.raises(ModelInputError, match="got a batch of 3-D volumes"):
        model(torch.rand(1, 1, 4, 32, 32))
    with pytest.raises(ModelInputError, match="1 \\(grey\\) or 3 \\(RGB\\)"):
        model(torch.rand(1, 2, 32, 32))


def test_predict_proba_batches_and_restores_mode():
    model = Classifier(TinyNet(), _card())
    model.train()
    x = np.random.default_rng(0).random((7, 1, 32, 32), dtype=np.float32)
    p = model.predict_proba(x, batch_size=3)
    assert p.shape == (7, 2) and torch.allclose(p.sum(1), torch.ones(7)) and model.training
    model.eval()
    assert torch.allclose(p, model.predict_proba(torch.from_numpy(x)), atol=1e-6)


def test_nan_input_is_refused():
    model = Classifier(TinyNet().eval(), _card())
    x = torch.rand(2, 1, 32, 32)
    x[1, 0, 3, 3] = float("nan")
    with pytest.raises(ModelInputError, match="NaN"):
        model.predict_proba(x)
    study = _ct_study()
    study.pixels[0, 5, 5] = np.inf
    with pytest.raises(ModelInputError, match="1 NaN or infinite"):
        study_to_unit(study, _card())


def test_study_to_unit_and_back_on_real_ct():
    study = _ct_study()
    card = _card(intensity={"mode": "window", "center": 40, "width": 400})
    unit, bounds = study_to_unit(study, card)
    assert unit.shape == (1, 1, 128, 128) and unit.dtype == np.float32
    assert 0.0 <= unit.min() and unit.max() <= 1.0 and bounds == [(-160.0, 240.0)]
    native = unit_to_native(unit, bounds)[0, 0]
    inside = (study.pixels[0] > -160) & (study.pixels[0] < 240)
    assert inside.any() and np.allclose(native[inside], study.pixels[0][inside], atol=0.05)
    mm_unit, mm_bounds = study_to_unit(study, _card())
    assert mm_unit.min() == 0.0 and mm_unit.max() == 1.0
    assert np.allclose(unit_to_native(torch.from_numpy(mm_unit), mm_bounds[0]), study.pixels[0], atol=0.1)
    with pytest.raises(ModelInputError, match="does not exist"):
        study_to_unit(study, card, slices=[3])


def test_study_volume_and_rgb_studies():
    rng = np.random.default_rng(1)
    vol = Study(pixels=rng.normal(size=(5, 16, 16)).astype(np.float32), spacing=(1, 1, 1), modality="MR",
                source_format="nifti", source_paths=[])
    unit, bounds = study_to_unit_volume(vol, _card())
    assert unit.shape == (1, 5, 16, 16) and unit.min() == 0 and unit.max() == 1
    rgb = Study(pixels=rng.random((2, 16, 16, 3)).astype(np.float32) * 255, spacing=(1, 1, 1), modality="US",
                source_format="image", source_paths=[])
    unit, bounds = study_to_unit(rgb, _card())
    assert unit.shape == (2, 3, 16, 16) and len(bounds) == 2
    assert Classifier(TinyNet().eval(), _card()).predict_proba(unit).shape == (2, 2)
