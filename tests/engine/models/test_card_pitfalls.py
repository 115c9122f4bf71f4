"""Card pitfalls caught (issue 17): an exact 8-bit mapping, and a warning for a TorchScript model that
normalises its input itself while the card normalises it too."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from medadv_desktop.engine.models.card import IntensityMapping


def test_uint8_mode_maps_grey_levels_exactly_and_budgets_in_grey_levels():
    from medadv_desktop.engine.attacks import parse_budget

    mapping = IntensityMapping.from_dict({"mode": "uint8"})
    pixels = np.arange(256, dtype=np.float32).reshape(16, 16)
    unit, bounds = mapping.to_unit(pixels)
    assert bounds == (0.0, 255.0) and np.array_equal(unit, pixels / np.float32(255))
    assert unit[0, 0] == 0 and unit[-1, -1] == 1
    # the same mapping for every image (minmax would stretch a dark image's own range)
    dark = np.full((4, 4), 10, np.float32)
    dark[0, 0] = 20
    assert mapping.to_unit(dark)[0].max() == pytest.approx(20 / 255)
    assert IntensityMapping.from_dict({"mode": "minmax"}).to_unit(dark)[0].max() == 1.0
    assert mapping.native_per_unit() == 255.0 and mapping.to_dict() == {"mode": "uint8"}
    assert parse_budget("2", mapping.native_per_unit(), native=True) == pytest.approx(2 / 255)
    assert "8-bit" in mapping.describe()
    assert np.array_equal(IntensityMapping.to_native(unit, bounds), pixels)


class SelfNormalising(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.register_buffer("m", torch.tensor([0.485]).view(1, 1, 1, 1))
        self.register_buffer("s", torch.tensor([0.229]).view(1, 1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv((x - self.m) / self.s).mean(dim=(2, 3))


class Plain(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x + self.conv(x)[:, :, :1, :1].mean()).mean(dim=(2, 3)).repeat(1, 2)   # adds to x, no scaling


def _card(folder: Path, net: nn.Module, *, trace: bool, mean: list[float] | None = None,
          std: list[float] | None = None) -> Path:
    from medadv_desktop.engine.models import create_card_from_weights, save_card

    folder.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = torch.jit.trace(net.eval(), torch.rand(1, 1, 16, 16)) if trace else torch.jit.script(net.eval())
        module.save(str(folder / "model.pt"))
    card = create_card_from_weights(folder / "model.pt", name="probe", class_names=["a", "b"], input_size=[16, 16],
                                    mean=mean, std=std, card_path=folder / "model_card.json")
    return save_card(card, folder / "model_card.json")


@pytest.mark.parametrize("trace", [False, True], ids=["scripted", "traced"])
def test_a_self_normalising_torchscript_model_is_flagged_at_load_and_in_the_evaluation(tmp_path, trace):
    from medadv_desktop.engine.datasets import LabelledDataset
    from medadv_desktop.engine.jobs import run_job
    from medadv_desktop.engine.models import load_classifier
    from medadv_desktop.engine.workflows.evaluation import EvaluationRequest, evaluation_workflow

    model = load_classifier(_card(tmp_path / "self", SelfNormalising(), trace=trace), device="cpu")
    assert len(model.load_warnings) == 1
    text = model.load_warnings[0]
    assert "normalised twice" in text and '"mean": [0]' in text and "mean [0.5], std [0.5]" in text
    x = np.random.default_rng(0).uniform(0, 1, (4, 1, 16, 16)).astype(np.float32)
    ds = LabelledDataset.from_arrays(x, [0, 1, 0, 1], ["a", "b"])
    result = run_job(evaluation_workflow(model, EvaluationRequest(data=ds, attacks=["fgsm"], eps="1/255",
                                                                  n_examples=0))).result
    assert [f.explanation for f in result.flags if f.code == "double_normalisation"] == [text]
    # the card saying "the model normalises itself" (identity mean/std) silences it
    fixed = load_classifier(_card(tmp_path / "fixed", SelfNormalising(), trace=trace, mean=[0.0], std=[1.0]),
                            device="cpu")
    assert fixed.load_warnings == []


def test_models_that_do_not_normalise_themselves_are_not_flagged(tmp_path, tiny_script_card):
    from medadv_desktop.engine.models import load_classifier

    assert load_classifier(tiny_script_card, device="cpu").load_warnings == []          # conv first
    assert load_classifier(_card(tmp_path / "plain", Plain(), trace=False), device="cpu").load_warnings == []
