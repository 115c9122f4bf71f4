"""Model card validation: every error names its field; reading, saving, creating cards."""
from __future__ import annotations

import json

import pytest

from medadv_desktop.engine.models import ModelCard, create_card_from_weights, save_card, sha256_file
from medadv_desktop.errors import ModelCardError, ModelLoadError, OutputExistsError

GOOD = {
    "name": "m", "format": "timm", "architecture": "test_resnet", "weights": "w.safetensors",
    "in_chans": 1, "num_classes": 2, "class_names": ["a", "b"], "input_size": [64, 64],
}


def card(**changes):
    d = dict(GOOD)
    for k, v in changes.items():
        if v is ...:
            d.pop(k)
        else:
            d[k] = v
    return d


@pytest.mark.parametrize("changes, field", [
    ({"name": ...}, "name"),
    ({"name": 3}, "name"),
    ({"name": "  "}, "name"),
    ({"format": "onnx"}, "format"),
    ({"weights": ...}, "weights"),
    ({"weights": ""}, "weights"),
    ({"architecture": ""}, "architecture"),
    ({"num_classes": "2"}, "num_classes"),
    ({"num_classes": True}, "num_classes"),
    ({"num_classes": 1}, "num_classes"),
    ({"output": "softmax"}, "output"),
    ({"output": "sigmoid"}, "num_classes"),
    ({"class_names": ["a"]}, "class_names"),
    ({"class_names": ["a", ""]}, "class_names"),
    ({"class_names": ["a", "a"]}, "class_names"),
    ({"class_names": "a,b"}, "class_names"),
    ({"input_size": [64]}, "input_size"),
    ({"input_size": [4, 64]}, "input_size"),
    ({"input_size": [64.0, 64]}, "input_size"),
    ({"input_size": [16, 64, 64]}, "input_size"),       # 3-D needs torchscript
    ({"in_chans": 2}, "in_chans"),
    ({"in_chans": True}, "in_chans"),
    ({"mean": [0.5, 0.5]}, "mean"),
    ({"std": [0.0]}, "std"),
    ({"std": "0.5"}, "std"),
    ({"sha256": "abc"}, "sha256"),
    ({"intensity": "window"}, "intensity"),
    ({"intensity": {"mode": "gamma"}}, "intensity.mode"),
    ({"intensity": {"mode": "window", "center": 40}}, "intensity"),
    ({"intensity": {"mode": "window", "center": 40, "width": -1}}, "intensity.width"),
    ({"intensity": {"mode": "percentile", "low": 90, "high": 10}}, "intensity"),
    ({"intensity": {"mode": "percentile", "low": "x"}}, "intensity"),
    ({"intended_use": 5}, "intended_use"),
    ({"provenance": [1]}, "provenance"),
])
def test_each_field_error_names_its_field(changes, field):
    with pytest.raises(ModelCardError) as info:
        ModelCard.from_dict(card(**changes))
    assert info.value.field == field
    assert f"field '{field}'" in str(info.value)


def test_good_card_and_round_trip():
    c = ModelCard.from_dict(card(sha256="A" * 64, intensity={"mode": "window", "center": 40, "width": 400}))
    assert c.spatial_dims == 2 and c.input_size == (64, 64) and c.sha256 == "a" * 64
    assert c.intensity.native_per_unit() == 400
    again = ModelCard.from_dict(json.loads(json.dumps(c.to_dict())))
    assert again.to_dict() == c.to_dict()


def test_sigmoid_card_counts_two_classes():
    c = ModelCard.from_dict(card(output="sigmoid", num_classes=1))
    assert c.n_outputs == 2


def test_three_d_torchscript_card():
    c = ModelCard.from_dict(card(format="torchscript", architecture="", input_size=[8, 32, 32]))
    assert c.spatial_dims == 3 and c.input_size == (8, 32, 32)


def test_card_not_an_object():
    with pytest.raises(ModelCardError, match="JSON object"):
        ModelCard.from_dict([1, 2])


def test_wrong_json_says_where(tmp_path):
    p = tmp_path / "model_card.json"
    p.write_text('{"name": "m",\n "format": }', encoding="utf-8")
    with pytest.raises(ModelCardError, match=r"not valid JSON \(line 2"):
        ModelCard.load(p)


def test_missing_card_file(tmp_path):
    with pytest.raises(ModelCardError, match="file not found") as info:
        ModelCard.load(tmp_path / "nope.json")
    assert "model_card.json" in info.value.user_message()


def test_load_from_folder_and_weights_path(tmp_path):
    (tmp_path / "model_card.json").write_text(json.dumps(GOOD), encoding="utf-8")
    c = ModelCard.load(tmp_path)
    assert c.weights_path == (tmp_path / "w.safetensors").resolve()


def test_save_card_is_atomic_and_never_overwrites(tmp_path):
    c = ModelCard.from_dict(card())
    p = save_card(c, tmp_path / "card.json")
    assert ModelCard.load(p).to_dict() == c.to_dict()
    with pytest.raises(OutputExistsError):
        save_card(c, p)
    save_card(c, p, overwrite=True)
    assert [f.name for f in tmp_path.iterdir()] == ["card.json"]


def test_create_card_from_weights(tmp_path):
    w = tmp_path / "models" / "net.safetensors"
    w.parent.mkdir()
    w.write_bytes(b"not really weights, only hashed here")
    c = create_card_from_weights(w, name="net", architecture="resnet18", class_names=["normal", "abnormal"],
                                 input_size=[224, 224], intensity={"mode": "window", "center": 40, "width": 400},
                                 card_path=tmp_path / "card.json")
    assert c.format == "timm" and c.num_classes == 2 and c.weights == "models/net.safetensors"
    assert c.sha256 == sha256_file(w) and c.weights_path == w.resolve()
    ts = create_card_from_weights(w, name="ts", class_names=["neg", "pos"], output="sigmoid", input_size=[8, 32, 32])
    assert ts.format == "torchscript" and ts.num_classes == 1 and ts.spatial_dims == 3
    with pytest.raises(ModelCardError) as info:
        create_card_from_weights(w, name="x", architecture="resnet18", class_names=["a"], input_size=[64, 64])
    assert info.value.field == "num_classes"
    rgb = create_card_from_weights(str(w), name="rgb", architecture="resnet18", class_names=["a", "b"],
                                   input_size=[64, 64], in_chans=3, mean=[], std=[])
    assert rgb.mean == [0.5, 0.5, 0.5] and rgb.std == [0.5, 0.5, 0.5]
    with pytest.raises(ModelLoadError, match="No weights file"):
        create_card_from_weights("", name="x", class_names=["a", "b"], input_size=[64, 64])
    with pytest.raises(ModelLoadError, match="does not exist"):
        create_card_from_weights(tmp_path / "missing.pt", name="x", class_names=["a", "b"], input_size=[64, 64])
