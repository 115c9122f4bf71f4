"""`medadv predict` on real DICOM files with tiny real models."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pydicom
import pytest
import torch
from pydicom.data import get_testdata_file
from torch import nn

from medadv_desktop.cli.main import main
from tests.conftest import make_tiny_card

CT = Path(get_testdata_file("CT_small.dcm"))
MR = Path(get_testdata_file("MR_small.dcm"))

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")


def _card(folder: Path, **fields) -> Path:
    card = {"name": "tiny predict model", "format": "timm", "architecture": "test_efficientnet",
            "weights": "weights.safetensors", "in_chans": 1, "num_classes": 2,
            "class_names": ["no_finding", "lesion"], "input_size": [32, 32],
            "intensity": {"mode": "window", "center": 40, "width": 400}}
    card.update(fields)
    path = folder / "model_card.json"
    path.write_text(json.dumps(card), encoding="utf-8")
    return path


@pytest.fixture
def timm_card(tmp_path):
    return make_tiny_card(tmp_path / "model", name="tiny predict model")


class AlwaysFirstClass(nn.Module):
    """Predicts class 0 for every image (logits [2, 0] whatever the input)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([x.mean(dim=(1, 2, 3)) * 0 + 2.0, x.mean(dim=(1, 2, 3)) * 0], dim=1)


def _phi(path: Path) -> list[str]:
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    return [str(v) for v in (ds.get("PatientName"), ds.get("PatientID"), ds.get("StudyInstanceUID")) if v]


def test_predict_single_dicom(timm_card, capsys):
    assert main(["predict", "--model", str(timm_card), str(CT), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert lines[0].startswith("model: tiny predict model (timm test_efficientnet, 2 classes) on cpu")
    row = lines[1]
    probs = [float(v) for v in re.findall(r"(?:no_finding|lesion) (\d\.\d{3})", row)]
    assert len(probs) == 2 and abs(sum(probs) - 1) < 2e-3 and "-> " in row
    assert lines[-1].startswith("overall: 1 image(s) in 1 study; predicted ")
    for value in _phi(CT):
        assert value not in out
    assert "CT_small" not in out


def test_predict_json(timm_card, capsys):
    assert main(["predict", "--model", str(timm_card.parent), str(CT), "--json", "--device", "cpu"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (pred,) = doc["predictions"]
    assert set(pred["probabilities"]) == {"no_finding", "lesion"}
    assert abs(sum(pred["probabilities"].values()) - 1) < 1e-5
    assert pred["label"] is None and doc["labelled"] is False
    assert doc["overall"]["n_images"] == 1 and "accuracy" not in doc["overall"]
    assert doc["device"] == "cpu" and doc["model"]["name"] == "tiny predict model"


def test_predict_labelled_folder_reports_accuracy(tmp_path, capsys):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    torch.jit.script(AlwaysFirstClass()).save(str(model_dir / "first.pt"))
    card = _card(model_dir, format="torchscript", architecture="", weights="first.pt",
                 intensity={"mode": "minmax"})
    data = tmp_path / "data"
    (data / "no_finding").mkdir(parents=True)
    (data / "lesion").mkdir()
    shutil.copy(CT, data / "no_finding" / "a.dcm")
    shutil.copy(MR, data / "lesion" / "b.dcm")
    assert main(["predict", "--model", str(card), str(data)]) == 0
    out = capsys.readouterr().out
    assert "accuracy 0.50 (1/2)" in out
    assert "(label lesion, WRONG)" in out and "(label no_finding)" in out
    assert main(["predict", "--model", str(card), str(data), "--json"]) == 0
    acc = json.loads(capsys.readouterr().out)["overall"]["accuracy"]
    assert acc["correct"] == 1 and acc["total"] == 2
    assert acc["per_class"] == {"no_finding": {"correct": 1, "total": 1}, "lesion": {"correct": 0, "total": 1}}


def test_predict_errors_are_one_clear_line(tmp_path, timm_card, capsys):
    assert main(["predict", "--model", str(tmp_path / "nothing.json"), str(CT)]) == 2
    assert "file not found" in capsys.readouterr().err
    assert main(["predict", "--model", str(timm_card), str(CT), "--device", "tpu:7"]) == 2
    err = capsys.readouterr().err
    assert "medadv: error:" in err and "Traceback" not in err
    bad = json.loads(timm_card.read_text())
    bad["input_size"] = [32]
    timm_card.write_text(json.dumps(bad))
    assert main(["predict", "--model", str(timm_card), str(CT)]) == 2
    assert "field 'input_size'" in capsys.readouterr().err


def test_predict_multiframe_prints_every_slice(timm_card, capsys):
    card = json.loads(timm_card.read_text())
    card["intended_use"] = "Synthetic demo task, not for clinical use."
    card["intensity"] = {"mode": "percentile", "low": 1, "high": 99}
    timm_card.write_text(json.dumps(card))
    emri = get_testdata_file("emri_small.dcm")          # real 10-frame MR
    assert main(["predict", "--model", str(timm_card), emri, "--batch-size", "4"]) == 0
    out = capsys.readouterr().out
    assert "intended use: Synthetic demo task, not for clinical use." in out
    slices = re.findall(r"^(STUDY-\w+/slice-\d{3}) ", out, flags=re.M)
    assert len(slices) == 10 and len({s.split("/")[0] for s in slices}) == 1
    assert "overall: 10 image(s) in 1 study" in out
