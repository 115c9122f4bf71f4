"""Tiny real inputs for the training tests: a timm test network and demo CT patches.

The patches are the project's synthetic demo task (real CT pixels from scans
shipped with pydicom / pydicom-data, synthetic lesions inserted), mapped to
[0, 1] with a 40 / 150 HU window so that a ~100 k-parameter network learns
them in a few seconds on a CPU.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

WINDOW = (40.0, 150.0)
ARCH = "test_efficientnet"
INPUT = 32


def make_card(folder: Path, *, seed: int = 0, arch: str = ARCH, name: str = "Tiny test model") -> Path:
    """A randomly initialised timm test network with its model card (returns the card path)."""
    from safetensors.torch import save_file

    from medadv_desktop.engine._torch_compat import import_timm
    from medadv_desktop.engine.demo import CLASS_NAMES
    from medadv_desktop.engine.models import create_card_from_weights, save_card

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    net = import_timm().create_model(arch, pretrained=False, in_chans=1, num_classes=2)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(folder / "weights.safetensors"))
    card = create_card_from_weights(
        folder / "weights.safetensors", name=name, class_names=list(CLASS_NAMES), input_size=[INPUT, INPUT],
        architecture=arch, intensity={"mode": "window", "center": WINDOW[0], "width": WINDOW[1]},
        card_path=folder / "model_card.json", intended_use="tests")
    return save_card(card, folder / "model_card.json")


def demo_dataset(split: str, n: int, *, seed: int = 0):
    """n demo patches of a split as a LabelledDataset of [0, 1] images (window 40 / 150 HU)."""
    from medadv_desktop.engine.datasets import LabelledDataset
    from medadv_desktop.engine.demo import CLASS_NAMES, make_split_arrays

    hu, y = make_split_arrays(seed, split, n)
    lo = WINDOW[0] - WINDOW[1] / 2
    x = np.clip((hu.astype(np.float32) - lo) / WINDOW[1], 0.0, 1.0)[:, None]
    return LabelledDataset.from_arrays(x, y, list(CLASS_NAMES), native_per_unit=WINDOW[1],
                                       name=f"demo-{split}", synthetic=True)
