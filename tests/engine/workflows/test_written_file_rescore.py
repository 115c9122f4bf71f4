"""What is written is what is reported (issue 17): a study attack is re-scored on the file it wrote.

A real PNG, a real TorchScript model whose decision sits between two grey
levels, and the card's exact 8-bit mapping (``uint8``): PGD's float image
fools the model by 0.4 grey levels, the 8-bit PNG rounds that away, and the
outcome says so; then ``medadv attack`` on several real images: every file it
reports as fooled fools the model when read back from disk.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from medadv_desktop.engine.jobs import run_job

GREY = 100


class MeanThreshold(nn.Module):
    """Two logits: [0, 1000 * (mean(x) - t)]; class 1 once the mean [0, 1] intensity passes ``t``."""

    def __init__(self, t: float) -> None:
        super().__init__()
        self.register_buffer("t", torch.tensor(float(t)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = 1000.0 * (x.mean(dim=(1, 2, 3)) - self.t)
        return torch.stack([torch.zeros_like(score), score], dim=1)


def _card(folder: Path, net: nn.Module, size: int) -> Path:
    from medadv_desktop.engine.models import create_card_from_weights, save_card

    folder.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(net.eval()).save(str(folder / "model.pt"))
    card = create_card_from_weights(folder / "model.pt", name="threshold", class_names=["low", "high"],
                                    input_size=[size, size], intensity={"mode": "uint8"}, mean=[0.0], std=[1.0],
                                    card_path=folder / "model_card.json")
    return save_card(card, folder / "model_card.json")


def _png(path: Path, pixels: np.ndarray) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels.astype(np.uint8)).save(path)
    return path


def test_rounding_that_undoes_the_attack_is_reported_and_the_results_are_the_written_files(tmp_path):
    from medadv_desktop.engine.io import open_study
    from medadv_desktop.engine.models import load_classifier
    from medadv_desktop.engine.workflows import study_attack_workflow

    classifier = load_classifier(_card(tmp_path / "m", MeanThreshold((GREY + 0.3) / 255), 32), device="cpu")
    study = open_study(_png(tmp_path / "in" / "flat.png", np.full((32, 32), GREY)))
    params = {"eps": "2/255", "alpha": "0.2/255", "steps": 5, "random_start": False}
    floating = run_job(study_attack_workflow(classifier, study, "pgd", params))      # nothing written
    assert bool(floating.result.records[0].success) and not floating.rescored        # the float image fools
    assert floating.result.adv_native.max() == pytest.approx(GREY + 0.4, abs=1e-3)

    events = []
    out = tmp_path / "out"
    outcome = run_job(study_attack_workflow(classifier, study, "pgd", params, out_dir=out), events.append)
    assert outcome.rescored and outcome.rounding_undid == [0]
    assert any(e.data.get("kind") == "rounding" and "undid the attack on 1 slice" in e.message for e in events)
    rec = outcome.result.records[0]
    assert rec.success is False and rec.adv_pred == 0 and outcome.result.row.attack_success_rate == 0.0
    summary = json.loads(next(out.glob("*_summary.json")).read_text())
    assert summary["rescored_from_written_file"] and summary["rounding_undid_slices"] == [0]
    assert summary["slices"][0]["fooled"] is False and summary["slices"][0]["after"] == "low"
    # the result's pixels and the perturbation map are those of the written file (all zero here)
    written = open_study(next(out.glob("*_adv.png")))
    assert np.array_equal(outcome.result.adv_native, written.pixels.astype(np.float32))
    assert not np.any(outcome.perturbation_map())


def test_every_file_medadv_attack_reports_as_fooled_fools_when_read_back(tmp_path, capsys):
    """PGD at 2/255 (1/255 with steps of 0.2 grey levels for the threshold models) on real 8-bit images: whatever the CLI reports as
    fooled is checked on the written PNG read back from disk with the project's reader and the model."""
    from skimage import data
    from skimage.transform import resize

    from medadv_desktop.cli.main import main
    from medadv_desktop.engine.io import open_study
    from medadv_desktop.engine.models import load_classifier
    from medadv_desktop.engine.models.wrapper import study_to_unit
    from tests.conftest import make_tiny_card

    images = {name: (resize(getattr(data, name)(), (48, 48), anti_aliasing=True) * 255).round()
              for name in ("camera", "moon", "coins", "page")}
    images["flat"] = np.full((48, 48), GREY, dtype=np.float64)
    images["checker"] = GREY + 3.0 * (np.indices((48, 48)).sum(axis=0) % 2 * 2 - 1)      # mean GREY, texture
    cards = {"tiny": make_tiny_card(tmp_path / "tiny", format="timm", input_size=48, intensity={"mode": "uint8"}),
             "threshold": _card(tmp_path / "thr", MeanThreshold((GREY + 0.3) / 255), 48),    # rounding undoes
             "threshold-up": _card(tmp_path / "thr-up", MeanThreshold((GREY + 0.7) / 255), 48)}  # rounding keeps
    reported = checked = undone = 0
    for model_name, card in cards.items():
        classifier = load_classifier(card, device="cpu")
        for name, pixels in images.items():
            src = _png(tmp_path / "in" / f"{name}.png", pixels)
            out = tmp_path / "out" / model_name / name
            args = (["--eps", "2/255", "--alpha", "0.5/255", "--steps", "8", "--no-random-start"]
                    if model_name == "tiny" else ["--eps", "1/255", "--alpha", "0.2/255", "--steps", "5",
                                                  "--no-random-start"])
            rc = main(["attack", "--model", str(card), "--attack", "pgd", *args, "--device", "cpu", str(src),
                       "--out", str(out)])
            text = capsys.readouterr().out
            assert rc == 0, text
            summary = json.loads(next(out.glob("*_summary.json")).read_text())
            assert summary["rescored_from_written_file"]
            undone += len(summary["rounding_undid_slices"])
            for row in summary["slices"]:
                if not row["fooled"]:
                    continue
                reported += 1
                again = open_study(next(out.glob("*_adv.png")))
                unit, _ = study_to_unit(again, classifier.card)
                with torch.no_grad():
                    pred = int(classifier(torch.from_numpy(unit)).argmax(1)[0])
                assert classifier.class_names[pred] == row["after"] != row["before"], (model_name, name)
                checked += 1
            if summary["rounding_undid_slices"]:
                assert "undid the attack" in text
    assert checked == reported and reported >= 4 and undone >= 2
