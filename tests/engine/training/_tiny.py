"""Tiny real inputs for the training tests: a timm test network and demo CT patches.

The patches are the project's synthetic demo task (real CT pixels from scans
shipped with pydicom / pydicom-data, synthetic lesions inserted), mapped to
[0, 1] with a 40 / 150 HU window so that a ~100 k-parameter network learns
them in a few seconds on a CPU.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

WINDOW = (40.0, 150.0)
ARCH = "test_efficientnet"
INPUT = 32


def make_card(folder: Path, *, seed: int = 0, arch: str = ARCH, name: str = "Tiny test model") -> Path:
    """A randomly initialised timm test network with its model card (returns the card path)."""
    from tests.conftest import make_tiny_card

    return make_tiny_card(folder, architecture=arch, input_size=INPUT, name=name, intended_use="tests", seed=seed,
                          intensity={"mode": "window", "center": WINDOW[0], "width": WINDOW[1]})


def demo_dataset(split: str, n: int, *, seed: int = 0):
    """n demo patches of a split as a LabelledDataset of [0, 1] images (window 40 / 150 HU)."""
    from medadv_desktop.engine.datasets import LabelledDataset
    from medadv_desktop.engine.demo import CLASS_NAMES, make_split_arrays

    hu, y = make_split_arrays(seed, split, n)
    lo = WINDOW[0] - WINDOW[1] / 2
    x = np.clip((hu.astype(np.float32) - lo) / WINDOW[1], 0.0, 1.0)[:, None]
    return LabelledDataset.from_arrays(x, y, list(CLASS_NAMES), native_per_unit=WINDOW[1],
                                       name=f"demo-{split}", synthetic=True)
