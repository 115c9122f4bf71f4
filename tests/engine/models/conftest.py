"""Tiny real models and cards for the model tests (built in milliseconds)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from medadv_desktop.engine._torch_compat import import_timm


def write_card(folder: Path, **fields) -> Path:
    card = {
        "name": "tiny test model", "format": "timm", "architecture": "test_efficientnet",
        "weights": "weights.safetensors", "in_chans": 1, "num_classes": 2,
        "class_names": ["no_finding", "lesion"], "input_size": [32, 32],
        "intensity": {"mode": "minmax"}, "mean": [0.5], "std": [0.25],
    }
    card.update(fields)
    path = folder / "model_card.json"
    path.write_text(json.dumps(card), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def timm():
    return import_timm()


@pytest.fixture
def tiny_efficientnet(timm):
    torch.manual_seed(0)
    return timm.create_model("test_efficientnet", pretrained=False, in_chans=1, num_classes=2).eval()


class TinyNet(nn.Module):
    """A tiny 2-D CNN: conv -> relu -> global average -> linear."""

    def __init__(self, in_chans: int = 1, n_out: int = 2) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_chans, 4, 3, padding=1)
        self.fc = nn.Linear(4, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))


class TinyNet3d(nn.Module):
    """A tiny 3-D CNN that only accepts 5-D volumes."""

    def __init__(self, in_chans: int = 1, n_out: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv3d(in_chans, 4, 3, padding=1)
        self.fc = nn.Linear(4, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3, 4)))
