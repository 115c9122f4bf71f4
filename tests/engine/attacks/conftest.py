"""Tiny real models and inputs for the attack tests (CPU, milliseconds per forward)."""

from __future__ import annotations

import pytest
import torch
from torch import nn


class TinyCNN(nn.Module):
    """Two conv layers and a linear head: (N, C, 16, 16) -> (N, K) logits."""

    def __init__(self, in_chans: int = 1, num_classes: int = 3, size: int = 16, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.features = nn.Sequential(
            nn.Conv2d(in_chans, 8, 3, padding=1), nn.ReLU(),
            nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten())
        self.head = nn.Linear(8 * (size // 2) ** 2, num_classes)
        with torch.no_grad():
            for m in self.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / m.weight[0].numel()) ** 0.5)
                    m.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x - 0.5))


class SingleLogitBinary(nn.Module):
    """A sigmoid binary classifier presented as two-class logits [0, z], as the model wrapper does."""

    def __init__(self, in_chans: int = 1) -> None:
        super().__init__()
        self.net = TinyCNN(in_chans, 1, seed=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.net(x)
        return torch.cat([torch.zeros_like(z), z], dim=1)


class Tiny3D(nn.Module):
    """A tiny 3-D classifier: (N, 1, D, H, W) -> (N, 2) logits."""

    def __init__(self, depth: int = 4, size: int = 16) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(5)
        self.conv = nn.Conv3d(1, 4, 3, stride=2, padding=1)
        self.head = nn.Linear(4 * ((depth + 1) // 2) * (size // 2) ** 2, 2)
        for p in self.parameters():
            with torch.no_grad():
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.conv(x - 0.5)).flatten(1))


def correct_labels(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The model's own clean predictions, so that every sample starts correct."""
    with torch.no_grad():
        return model.eval()(x).argmax(1)


@pytest.fixture
def gray_model() -> TinyCNN:
    return TinyCNN(1, 3).eval()


@pytest.fixture
def rgb_model() -> TinyCNN:
    return TinyCNN(3, 2, seed=1).eval()


@pytest.fixture
def gray_batch(gray_model):
    x = torch.rand(8, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    return x, correct_labels(gray_model, x)
