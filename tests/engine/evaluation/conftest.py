"""Tiny real models and data for the evaluation tests."""
import numpy as np
import pytest
import torch
from torch import nn

from medadv_desktop.engine.datasets import LabelledDataset


class MeanModel(nn.Module):
    """Logits (-a*(m - 0.5), a*(m - 0.5)) of the image mean m: class 1 = bright.

    An L-inf perturbation of size eps moves m by at most eps, so a sample is
    fooled at eps exactly when |m - 0.5| < eps (FGSM reaches that bound).
    """

    def __init__(self, a: float = 40.0, softmax: bool = False):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(a))
        self.softmax = softmax

    def forward(self, x):
        z = self.scale * (x.mean(dim=(1, 2, 3)) - 0.5)
        out = torch.stack([-z, z], dim=1)
        return torch.softmax(out, dim=1) if self.softmax else out


def mean_dataset(n: int = 24, size: int = 16, seed: int = 0, wrong: int = 2) -> tuple[LabelledDataset, np.ndarray]:
    rng = np.random.default_rng(seed)
    means = np.linspace(0.36, 0.64, n)
    rng.shuffle(means)
    noise = rng.uniform(-0.05, 0.05, (n, 1, size, size))
    noise -= noise.mean(axis=(1, 2, 3), keepdims=True)
    x = (means[:, None, None, None] + noise).astype(np.float32)
    y = (means > 0.5).astype(int)
    y[:wrong] = 1 - y[:wrong]                      # a few wrong labels: clean accuracy < 1
    ds = LabelledDataset.from_arrays(x, y, ["dark", "bright"], native_per_unit=400.0, name="DATASET-TEST")
    return ds, means


@pytest.fixture
def mean_model():
    return MeanModel()


@pytest.fixture
def mean_data():
    return mean_dataset()


class MaskedMeanModel(MeanModel):
    """Same outputs as MeanModel but the input gradient is exactly zero: gradient masking."""

    def forward(self, x):
        return super().forward(x.detach() + 0 * x)
