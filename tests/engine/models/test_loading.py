"""Safe model loading: safetensors, .pt state dicts, TorchScript, hashes, refusals."""
from __future__ import annotations

import builtins
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from medadv_desktop.engine.models import Classifier, ModelCard, load_classifier, resolve_device, sha256_file
from medadv_desktop.errors import (MedAdvError, ModelCardError, ModelInputError, ModelLoadError,
                                   UnsafeFileError)

from .conftest import TinyNet, TinyNet3d, write_card

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")


def _same_outputs(a: torch.nn.Module, b: Classifier, atol: float = 1e-5) -> None:
    x = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        expected = a.eval()((x - 0.5) / 0.25)
        got = b(x)
    assert torch.allclose(got, expected, atol=atol), (got, expected)


def test_safetensors_timm(tmp_path, tiny_efficientnet):
    save_file(tiny_efficientnet.state_dict(), tmp_path / "weights.safetensors")
    model = load_classifier(write_card(tmp_path), "cpu")
    assert isinstance(model, Classifier) and not model.training
    assert model.n_classes == 2 and model.class_names == ["no_finding", "lesion"]
    assert model.device == torch.device("cpu")
    _same_outputs(tiny_efficientnet, model)


def test_fp16_safetensors_load_into_fp32(tmp_path, tiny_efficientnet):
    save_file({k: v.half() if v.is_floating_point() else v for k, v in tiny_efficientnet.state_dict().items()},
              tmp_path / "weights.safetensors")
    model = load_classifier(write_card(tmp_path), "cpu")
    assert all(p.dtype == torch.float32 for p in model.parameters())
    _same_outputs(tiny_efficientnet, model, atol=5e-2)


@pytest.mark.parametrize("wrap", ["plain", "state_dict", "model", "module_prefix"])
def test_pt_state_dict_variants(tmp_path, timm, wrap):
    net = timm.create_model("test_resnet", pretrained=False, in_chans=1, num_classes=2).eval()
    state = net.state_dict()
    obj = {"plain": state, "state_dict": {"state_dict": state, "epoch": 3},
           "model": {"model": state, "optimizer": {"lr": 0.1}},
           "module_prefix": {f"module.{k}": v for k, v in state.items()}}[wrap]
    torch.save(obj, tmp_path / "weights.pth")
    card = write_card(tmp_path, architecture="test_resnet", weights="weights.pth")
    _same_outputs(net, load_classifier(card, "cpu"))


def test_torchscript(tmp_path):
    net = TinyNet().eval()
    torch.jit.script(net).save(str(tmp_path / "net.pt"))
    card = write_card(tmp_path, format="torchscript", architecture="", weights="net.pt")
    model = load_classifier(card, "cpu")
    _same_outputs(net, model)


def test_sha256_match_and_mismatch(tmp_path, tiny_efficientnet):
    w = tmp_path / "weights.safetensors"
    save_file(tiny_efficientnet.state_dict(), w)
    digest = sha256_file(w)
    load_classifier(write_card(tmp_path, sha256=digest), "cpu")
    card = write_card(tmp_path, sha256="0" * 64)
    with pytest.raises(ModelLoadError, match="does not match the card"):
        load_classifier(card, "cpu")
    load_classifier(card, "cpu", verify_hash=False)


class _Payload:
    """Unpickling this would create the marker file (via builtins.open)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (builtins.open, (str(self.marker), "w"))


def test_payload_is_real(tmp_path):
    """Sanity check of the test itself: a plain pickle.load *does* run the payload."""
    marker = tmp_path / "proof"
    pickle.loads(pickle.dumps(_Payload(marker))).close()
    assert marker.exists()


@pytest.mark.parametrize("style", ["raw_pickle", "torch_save_zip"])
def test_malicious_pickle_is_refused_and_does_not_run(tmp_path, tiny_efficientnet, style):
    marker = tmp_path / "pwned"
    evil = {"conv_stem.weight": torch.zeros(1), "payload": _Payload(marker)}
    if style == "raw_pickle":
        with open(tmp_path / "weights.pt", "wb") as fh:
            pickle.dump(evil, fh)
    else:
        torch.save(evil, tmp_path / "weights.pt")
    card = write_card(tmp_path, weights="weights.pt")
    with pytest.raises(UnsafeFileError, match="Nothing from it was executed"):
        load_classifier(card, "cpu")
    assert not marker.exists()


def test_in_chans_mismatch_is_explained(tmp_path, timm):
    net = timm.create_model("test_efficientnet", pretrained=False, in_chans=3, num_classes=2)
    save_file(net.state_dict(), tmp_path / "weights.safetensors")
    with pytest.raises(ModelLoadError, match="weights are for 3 input channels but the card says in_chans 1"):
        load_classifier(write_card(tmp_path), "cpu")


def test_num_classes_mismatch_is_explained(tmp_path, timm):
    net = timm.create_model("test_resnet", pretrained=False, in_chans=1, num_classes=5)
    save_file(net.state_dict(), tmp_path / "weights.safetensors")
    with pytest.raises(ModelLoadError, match="weights are for 5 classes but the card says num_classes 2"):
        load_classifier(write_card(tmp_path, architecture="test_resnet"), "cpu")


def test_wrong_architecture_is_explained(tmp_path, tiny_efficientnet):
    save_file(tiny_efficientnet.state_dict(), tmp_path / "weights.safetensors")
    with pytest.raises(ModelLoadError, match="do not match architecture 'test_resnet'.*missing"):
        load_classifier(write_card(tmp_path, architecture="test_resnet"), "cpu")


def test_unknown_architecture_names_the_field(tmp_path, tiny_efficientnet):
    save_file(tiny_efficientnet.state_dict(), tmp_path / "weights.safetensors")
    with pytest.raises(ModelCardError) as info:
        load_classifier(write_card(tmp_path, architecture="no_such_net_v9"), "cpu")
    assert info.value.field == "architecture"


def test_missing_and_corrupt_weights(tmp_path):
    card = write_card(tmp_path)
    with pytest.raises(ModelLoadError, match="was not found"):
        load_classifier(card, "cpu")
    (tmp_path / "weights.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{trunc")
    with pytest.raises(ModelLoadError, match="not a readable safetensors file"):
        load_classifier(card, "cpu")
    (tmp_path / "weights.pt").write_bytes(b"garbage that is not a pickle")
    with pytest.raises(ModelLoadError):
        load_classifier(write_card(tmp_path, weights="weights.pt"), "cpu")
    (tmp_path / "weights.onnx").write_bytes(b"onnx")
    with pytest.raises(ModelLoadError, match=".safetensors, .pt or .pth"):
        load_classifier(write_card(tmp_path, weights="weights.onnx"), "cpu")


def test_state_dict_given_as_torchscript_is_explained(tmp_path):
    torch.save(TinyNet().state_dict(), tmp_path / "net.pt")
    with pytest.raises(ModelLoadError, match="TorchScript"):
        load_classifier(write_card(tmp_path, format="torchscript", architecture="", weights="net.pt"), "cpu")


def test_torchscript_with_wrong_number_of_classes(tmp_path):
    torch.jit.script(TinyNet(n_out=3)).save(str(tmp_path / "net.pt"))
    with pytest.raises(ModelLoadError, match="num_classes 2"):
        load_classifier(write_card(tmp_path, format="torchscript", architecture="", weights="net.pt"), "cpu")


def test_torchscript_that_fails_on_the_card_input_size(tmp_path):
    torch.jit.script(TinyNet3d(n_out=2)).save(str(tmp_path / "net3d.pt"))
    card = write_card(tmp_path, format="torchscript", architecture="", weights="net3d.pt")
    with pytest.raises(ModelInputError, match=r"fails on an input of shape \[1, 1, 32, 32\]"):
        load_classifier(card, "cpu")


def test_card_object_accepted(tmp_path, tiny_efficientnet):
    save_file(tiny_efficientnet.state_dict(), tmp_path / "weights.safetensors")
    card = ModelCard.load(write_card(tmp_path))
    assert load_classifier(card, torch.device("cpu")).card is card


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    auto = resolve_device(None)
    assert auto == resolve_device("auto")
    assert auto.type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(MedAdvError, match="not a device name"):
        resolve_device("gpu please")
    if not torch.cuda.is_available():
        with pytest.raises(MedAdvError, match="no usable CUDA GPU") as info:
            resolve_device("cuda")
        assert "--device cpu" in info.value.user_message()
    with pytest.raises(MedAdvError, match="does not exist|no usable CUDA"):
        resolve_device("cuda:99")
