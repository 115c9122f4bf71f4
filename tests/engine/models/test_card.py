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


# --------------------------------------------------------------------------- limits (issue 14)
@pytest.mark.parametrize("changes, field", [
    ({"input_size": [4096, 4096]}, "input_size"),
    ({"input_size": [1025, 64]}, "input_size"),
    ({"format": "torchscript", "architecture": "", "input_size": [512, 512, 512]}, "input_size"),
    ({"num_classes": 1001, "class_names": [str(i) for i in range(1001)]}, "num_classes"),
    ({"num_classes": 10 ** 30}, "num_classes"),
    ({"num_classes": 0}, "num_classes"),
    ({"std": [float("inf")]}, "std"),
    ({"std": [float("nan")]}, "std"),
    ({"std": [1e-12]}, "std"),
    ({"mean": [float("nan")]}, "mean"),
    ({"mean": [1e30]}, "mean"),
    ({"mean": [10 ** 400]}, "mean"),
    ({"intensity": {"mode": "window", "center": 40, "width": 1e308}}, "intensity.width"),
    ({"intensity": {"mode": "window", "center": 40, "width": float("nan")}}, "intensity.width"),
    ({"intensity": {"mode": "window", "center": float("inf"), "width": 400}}, "intensity.center"),
    ({"intensity": {"mode": "window", "center": 40, "width": 0}}, "intensity.width"),
    ({"intensity": {"mode": "window", "center": True, "width": 400}}, "intensity"),
    ({"intensity": {"mode": ["window"]}}, "intensity.mode"),
    ({"intensity": {"mode": "percentile", "low": float("nan"), "high": 99}}, "intensity"),
    ({"weights": "w\x00.safetensors"}, "weights"),
    ({"name": "n" * 201}, "name"),
    ({"class_names": ["a", "b" * 300]}, "class_names"),
    ({"output": ["logits"]}, "output"),
])
def test_limits_and_finite_numbers_name_their_field(changes, field):
    with pytest.raises(ModelCardError) as info:
        ModelCard.from_dict(card(**changes))
    assert info.value.field == field
    assert "\n" not in str(info.value) and len(str(info.value)) < 300


def _write(tmp_path, text: str, name: str = "model_card.json"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_hostile_card_files_give_one_line_errors(tmp_path):
    good = json.dumps(GOOD)
    digits = _write(tmp_path, good.replace('"num_classes": 2', '"num_classes": ' + "9" * 5000))
    with pytest.raises(ModelCardError) as info:
        ModelCard.load(digits)
    assert info.value.field == "num_classes" and "5000-digit" in str(info.value)
    deep = _write(tmp_path, good[:-1] + ', "provenance": {"x": ' + "[" * 100000 + "]" * 100000 + "}}", "deep.json")
    with pytest.raises(ModelCardError) as info:
        ModelCard.load(deep)
    assert info.value.field == "provenance" and "nested more than 64 levels" in str(info.value)
    with pytest.raises(ModelCardError, match="nested"):
        ModelCard.load(_write(tmp_path, "[" * 50000 + "]" * 50000, "arr.json"))
    huge_prov = _write(tmp_path, good[:-1] + ', "provenance": {"n": ' + "1" * 200 + "}}", "prov.json")
    with pytest.raises(ModelCardError) as info:
        ModelCard.load(huge_prov)
    assert info.value.field == "provenance"
    for literal, field in (("NaN", "std"), ("Infinity", "std"), ("-Infinity", "std"), ("1e400", "std")):
        p = _write(tmp_path, good[:-1] + f', "std": [{literal}]}}', "nan.json")
        with pytest.raises(ModelCardError) as info:
            ModelCard.load(p)
        assert info.value.field == field, literal
    wide = _write(tmp_path, good[:-1] + ', "intensity": {"mode": "window", "center": 40, "width": 1e308}}', "w.json")
    with pytest.raises(ModelCardError, match="window width") as info:
        ModelCard.load(wide)
    assert info.value.field == "intensity.width"
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (2 << 20) + good.encode())
    with pytest.raises(ModelCardError, match="small JSON file"):
        ModelCard.load(big)
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"\xff\xfe{")
    with pytest.raises(ModelCardError, match="cannot be read"):
        ModelCard.load(bad)
    bom = tmp_path / "bom.json"
    bom.write_bytes(b"\xef\xbb\xbf" + good.encode())
    assert ModelCard.load(bom).name == "m"


def test_a_fifo_card_is_refused_without_blocking(tmp_path):
    import os
    import threading

    if not hasattr(os, "mkfifo"):
        pytest.skip("POSIX")
    fifo = tmp_path / "model_card.json"
    os.mkfifo(fifo)
    box = {}
    t = threading.Thread(target=_load_into, args=(box, fifo), daemon=True)
    t.start()
    t.join(60)
    assert not t.is_alive(), "reading a FIFO card blocked"
    assert isinstance(box.get("error"), ModelCardError) and "regular file" in str(box["error"])


def _load_into(box, path):
    try:
        ModelCard.load(path)
    except Exception as exc:
        box["error"] = exc


# --------------------------------------------------------------------------- weights confinement
@pytest.mark.parametrize("weights, words", [
    ("../../../../etc/shadow", "'..'"),
    ("/etc/shadow", "absolute path"),
    ("sub/../../w.safetensors", "'..'"),
    ("..\\..\\w.safetensors", "'..'"),
])
def test_weights_outside_the_card_folder_are_refused(tmp_path, weights, words):
    p = _write(tmp_path, json.dumps(card(weights=weights)))
    c = ModelCard.load(p)
    with pytest.raises(ModelCardError) as info:
        _ = c.weights_path
    assert info.value.field == "weights" and words in str(info.value) and "\n" not in str(info.value)
    assert "--allow-outside-card-dir" in info.value.hint
    allowed = ModelCard.load(p, allow_outside_card_dir=True)
    assert allowed.weights_path.is_absolute()


def test_a_symlink_leading_out_of_the_card_folder_is_refused(tmp_path):
    import os

    outside = tmp_path / "elsewhere" / "w.safetensors"
    outside.parent.mkdir()
    outside.write_bytes(b"x")
    folder = tmp_path / "card"
    folder.mkdir()
    os.symlink(outside, folder / "w.safetensors")
    (folder / "inside").mkdir()
    (folder / "inside" / "v.safetensors").write_bytes(b"y")
    os.symlink(folder / "inside" / "v.safetensors", folder / "v.safetensors")
    os.symlink(folder / "loop2", folder / "loop1")
    os.symlink(folder / "loop1", folder / "loop2")
    c = ModelCard.load(_write(folder, json.dumps(card())))
    with pytest.raises(ModelCardError, match="symbolic link") as info:
        _ = c.weights_path
    assert info.value.field == "weights"
    assert c.resolve_weights(allow_outside_card_dir=True) == outside.resolve()
    ok = ModelCard.load(_write(folder, json.dumps(card(weights="v.safetensors")), "ok.json"))
    assert ok.weights_path == (folder / "inside" / "v.safetensors").resolve()
    assert ModelCard.load(_write(folder, json.dumps(card(weights="inside/v.safetensors")), "ok2.json")).weights_path
    with pytest.raises(ModelCardError) as info:
        _ = ModelCard.load(_write(folder, json.dumps(card(weights="loop1")), "loop.json")).weights_path
    assert info.value.field == "weights"


def test_load_classifier_refuses_outside_weights_before_opening_them(tmp_path, monkeypatch):
    from medadv_desktop.engine.models import load_classifier, loading

    opened = []
    monkeypatch.setattr(loading, "sha256_file", lambda p, **k: opened.append(p) or "0" * 64)
    p = _write(tmp_path, json.dumps(card(weights="../../../../etc/passwd", sha256="a" * 64)))
    with pytest.raises(ModelCardError) as info:
        load_classifier(p, device="cpu")
    assert info.value.field == "weights" and opened == []
    with pytest.raises(ModelLoadError):       # allowed: now it is hashed and found not to match
        load_classifier(p, device="cpu", allow_outside_card_dir=True)
    assert opened


def test_create_card_keeps_weights_beside_the_card(tmp_path):
    w = tmp_path / "models" / "net.safetensors"
    w.parent.mkdir()
    w.write_bytes(b"weights")
    (tmp_path / "cards").mkdir()
    with pytest.raises(ModelCardError) as info:
        create_card_from_weights(w, name="n", architecture="resnet18", class_names=["a", "b"],
                                 input_size=[64, 64], card_path=tmp_path / "cards" / "card.json")
    assert info.value.field == "weights"
    c = create_card_from_weights(w, name="n", architecture="resnet18", class_names=["a", "b"], input_size=[64, 64],
                                 card_path=tmp_path / "cards" / "card.json", allow_outside_card_dir=True)
    assert c.weights == "../models/net.safetensors" and c.weights_path == w.resolve()
