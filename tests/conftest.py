import os

# Qt must be told before any Qt import that there is no screen.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("MEDADV_PSEUDONYM_SALT", "medadv-tests")

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

# At most 2 threads; MEDADV_TEST_THREADS=1 lets a developer run the tests on a
# loaded machine (every test, not only training's).
torch.set_num_threads(int(os.environ.get("MEDADV_TEST_THREADS") or max(1, min(2, os.cpu_count() or 1))))

WINDOW_40_400 = {"mode": "window", "center": 40, "width": 400}


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


class TinyScriptCNN(nn.Module):
    """conv (4 channels) -> relu -> global average -> linear: the tiny TorchScript test model."""

    def __init__(self, n_out: int = 2) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))


def make_tiny_card(folder: Path, *, format: str = "timm", architecture: str = "test_efficientnet",
                   input_size: int = 32, intensity: Mapping[str, Any] | None = None,
                   class_names: Sequence[str] = ("no_finding", "lesion"), name: str = "tiny test model",
                   intended_use: str = "", seed: int = 0, modality: str | None = None) -> Path:
    """The one tiny real model + model card of the tests (returns the card path).

    ``format="timm"``: a randomly initialised timm test architecture (1 channel)
    saved as safetensors; ``format="torchscript"``: :class:`TinyScriptCNN`
    traced and saved. Default intensity: a 40 / 400 HU window. ``modality``: the card's
    modality field (None: not stated, the modality guard stays silent).
    """
    import warnings

    from safetensors.torch import save_file

    from medadv_desktop.engine._torch_compat import import_timm
    from medadv_desktop.engine.models import create_card_from_weights, save_card

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    if format == "timm":
        net = import_timm().create_model(architecture, pretrained=False, in_chans=1, num_classes=len(class_names))
        weights = folder / "weights.safetensors"
        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(weights))
    else:
        architecture = ""
        weights = folder / "model.pt"
        with warnings.catch_warnings():        # torch.jit.trace is deprecated, TorchScript input is supported
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.jit.trace(TinyScriptCNN(len(class_names)).eval(),
                            torch.rand(1, 1, input_size, input_size)).save(str(weights))
    card = create_card_from_weights(weights, name=name, architecture=architecture, class_names=list(class_names),
                                    input_size=[input_size, input_size], intensity=dict(intensity or WINDOW_40_400),
                                    intended_use=intended_use, card_path=folder / "model_card.json",
                                    modality=modality)
    return save_card(card, folder / "model_card.json")


@pytest.fixture(scope="session")
def tiny_script_card(tmp_path_factory) -> Path:
    """A tiny TorchScript classifier card (32x32, window 40/400 HU), built once per session."""
    return make_tiny_card(tmp_path_factory.mktemp("tiny_script"), format="torchscript")
