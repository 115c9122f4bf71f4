"""Safe model loading: model card -> weights (hash-checked) -> :class:`Classifier`.

Nothing here unpickles arbitrary Python objects:

- ``.safetensors`` files hold tensors only (read with ``safetensors``);
- ``.pt`` / ``.pth`` / ``.bin`` / ``.ckpt`` state dicts are read with
  ``torch.load(weights_only=True)``, whose unpickler rebuilds only tensors and
  plain containers and refuses any other global (a crafted ``__reduce__``
  payload raises :class:`UnsafeFileError` before anything runs);
- TorchScript archives are read with ``torch.jit.load`` (TorchScript's own
  loader, which does not run Python code from the file).
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medadv_desktop.engine.hashing import sha256_file
from medadv_desktop.engine.models.card import IntensityMapping, ModelCard
from medadv_desktop.engine.serialization import write_json
from medadv_desktop.errors import (MedAdvError, ModelCardError, ModelInputError, ModelLoadError,
                                   UnsafeFileError)

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from medadv_desktop.engine.models.wrapper import Classifier

STATE_DICT_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")
SAFETENSORS_SUFFIXES = (".safetensors",)
TORCHSCRIPT_SUFFIXES = (".pt", ".pth", ".ts", ".torchscript", ".jit", ".zip")


# --------------------------------------------------------------------------- helpers
def resolve_device(name: str | torch.device | None = None) -> torch.device:
    """Turn a device name into a usable ``torch.device``.

    ``None`` / ``"auto"``: the first CUDA GPU when one is usable, else the CPU.
    ``"cpu"``, ``"cuda"``, ``"cuda:N"`` (and ``"mps"`` on Apple silicon) are
    checked: a device that is not available raises :class:`MedAdvError`.
    """
    import torch

    if isinstance(name, torch.device):
        name = str(name)
    text = (name or "auto").strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise MedAdvError(f"'{name}' is not a device name.",
                          hint="Use 'auto', 'cpu', 'cuda' or 'cuda:N' (N = GPU number).") from None
    if device.type == "cpu":
        return device
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise MedAdvError(
                f"Device '{name}' was requested but no usable CUDA GPU was found (this torch build: "
                f"{'CUDA ' + torch.version.cuda if torch.version.cuda else 'CPU only'}).",
                hint="Use --device cpu (or auto), or install a CUDA build of torch (see README, 'NVIDIA GPU').")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise MedAdvError(f"Device '{name}' does not exist: this machine has {count} CUDA GPU(s), "
                              f"numbered 0 to {count - 1}.", hint="Use --device cuda:0, cpu or auto.")
        return device
    if device.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise MedAdvError(f"Device '{name}' (Apple GPU) is not available here.", hint="Use --device cpu or auto.")
        return device
    raise MedAdvError(f"Device type '{device.type}' is not supported.", hint="Use 'auto', 'cpu' or 'cuda[:N]'.")


def save_card(card: ModelCard, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write ``card`` as JSON to ``path`` atomically; refuses to overwrite unless asked.

    The card is validated (through :meth:`ModelCard.from_dict`) before anything
    is written. ``card.weights`` is written as is: keep it relative to ``path``.
    """
    path = Path(path)
    ModelCard.from_dict(card.to_dict(), path)
    return write_json(path, card.to_dict(), overwrite=overwrite)


def create_card_from_weights(
    weights: str | Path,
    *,
    name: str,
    class_names: list[str],
    input_size: list[int] | tuple[int, ...],
    format: str | None = None,
    architecture: str = "",
    in_chans: int = 1,
    num_classes: int | None = None,
    output: str = "logits",
    intensity: IntensityMapping | Mapping[str, Any] | None = None,
    mean: list[float] | None = None,
    std: list[float] | None = None,
    intended_use: str = "",
    card_path: str | Path | None = None,
    compute_sha256: bool = True,
    provenance: Mapping[str, Any] | None = None,
    allow_outside_card_dir: bool = False,
    modality: str | None = None,
    body_part: str | None = None,
) -> ModelCard:
    """Build a validated :class:`ModelCard` for an existing weights file (the GUI's form).

    ``format`` defaults to ``"timm"`` when ``architecture`` is given, else
    ``"torchscript"``. ``num_classes`` defaults to ``len(class_names)`` (1 for a
    sigmoid model). ``weights`` is stored relative to ``card_path``'s folder
    (default: a ``model_card.json`` beside the weights). The SHA-256 of the
    weights is recorded when ``compute_sha256``. Nothing is written: pass the
    result to :func:`save_card`. The weights must sit in the card's folder or
    below it (a card elsewhere could not be loaded) unless ``allow_outside_card_dir``.
    ``modality`` / ``body_part``: what the model was trained on (optional; see the card fields).
    """
    if not str(weights).strip():
        raise ModelLoadError("No weights file was chosen.", hint="Choose the .safetensors, .pt/.pth or TorchScript file of the model.")
    weights = Path(weights)
    if not weights.is_file():
        raise ModelLoadError(f"The weights file '{weights.name}' does not exist.", path=weights,
                             hint="Choose the .safetensors, .pt/.pth or TorchScript file of the model.")
    card_path = Path(card_path) if card_path is not None else weights.parent / "model_card.json"
    try:
        rel = os.path.relpath(weights.resolve(), card_path.resolve().parent)
    except ValueError:  # different drives on Windows
        rel = str(weights.resolve())
    if not allow_outside_card_dir and (os.path.isabs(rel) or rel.split(os.sep)[0] == os.pardir):
        raise ModelCardError(f"the weights '{weights.name}' are not in the card's folder or below it",
                             path=card_path, field="weights",
                             hint="Save the model card in the weights' folder (or a folder above it).")
    if format is None:
        format = "timm" if architecture else "torchscript"
    if num_classes is None:
        num_classes = 1 if output == "sigmoid" else len(class_names)
    default_chans = in_chans if in_chans in (1, 3) and not isinstance(in_chans, bool) else 1
    if isinstance(intensity, IntensityMapping):
        intensity = intensity.to_dict()
    data: dict[str, Any] = {
        "name": name, "format": format, "architecture": architecture, "weights": Path(rel).as_posix(),
        "in_chans": in_chans, "num_classes": num_classes, "class_names": list(class_names),
        "input_size": list(input_size), "output": output,
        "intensity": dict(intensity) if intensity is not None else {"mode": "minmax"},
        "mean": list(mean) if mean else [0.5] * default_chans,   # empty or None: 0.5 per channel
        "std": list(std) if std else [0.5] * default_chans,
        "sha256": sha256_file(weights) if compute_sha256 else None,
        "intended_use": intended_use,
    }
    if modality:
        data["modality"] = modality
    if body_part:
        data["body_part"] = body_part
    if provenance:
        data["provenance"] = dict(provenance)
    card = ModelCard.from_dict(data, card_path.resolve(), allow_outside_card_dir=allow_outside_card_dir)
    card.resolve_weights()
    return card


# --------------------------------------------------------------------------- weights
def _refuse_unsafe(path: Path, exc: BaseException) -> UnsafeFileError:
    return UnsafeFileError(
        f"Refused to load '{path.name}': it contains Python objects other than tensors, and loading it "
        "could run code hidden in the file. Nothing from it was executed.",
        path=path,
        hint="Ask for the weights as .safetensors, or re-save a plain state dict "
             "(torch.save(model.state_dict(), ...)) on a trusted machine.")


def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from ``.safetensors`` or a ``.pt``/``.pth`` file, safely.

    Unwraps ``{"state_dict": ...}`` / ``{"model": ...}`` and strips a
    ``module.`` prefix (DataParallel). Non-tensor entries are dropped.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"The weights file '{path.name}' was not found.", path=path,
                             hint="Put the weights beside the model card, or fix the card's 'weights' field.")
    suffix = path.suffix.lower()
    with open(path, "rb") as fh:
        head = fh.read(16)
    is_zip = head.startswith(b"PK")
    if suffix in SAFETENSORS_SUFFIXES or (len(head) >= 9 and head[8:9] == b"{" and not is_zip):
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state = load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
            raise ModelLoadError(f"'{path.name}' is not a readable safetensors file ({exc}).", path=path,
                                 hint="The file may be truncated or corrupt; copy it again.") from None
    elif suffix in STATE_DICT_SUFFIXES or is_zip:
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
                obj = torch.load(str(path), map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            if "weights only load failed" in str(exc).lower() or "unsupported global" in str(exc).lower():
                raise _refuse_unsafe(path, exc) from None
            raise ModelLoadError(f"'{path.name}' is not a readable PyTorch weights file ({_first_line(exc)}).",
                                 path=path, hint="The file may be truncated or corrupt; copy it again.") from None
        except (RuntimeError, EOFError, OSError, ValueError, AttributeError, ImportError, TypeError) as exc:
            text = str(exc)
            if "weights only" in text.lower() or "Weights only load failed" in text:
                raise _refuse_unsafe(path, exc) from None
            if "TorchScript" in text or "torch.jit.load" in text:
                raise ModelLoadError(f"'{path.name}' is a TorchScript model, not a state dict.", path=path,
                                     hint="Set \"format\": \"torchscript\" in the model card.") from None
            raise ModelLoadError(f"'{path.name}' is not a readable PyTorch weights file ({_first_line(exc)}).",
                                 path=path, hint="The file may be truncated or corrupt; copy it again.") from None
        state = _unwrap_state_dict(obj, path)
    else:
        raise ModelLoadError(f"'{path.name}': weights files must be .safetensors, .pt or .pth.", path=path,
                             hint="Convert the weights to .safetensors, or give a TorchScript model with "
                                  "\"format\": \"torchscript\".")
    return state


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else exc.__class__.__name__


def _unwrap_state_dict(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    import torch

    for _ in range(3):
        if isinstance(obj, Mapping) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
            for key in ("state_dict", "model_state_dict", "model", "module", "net", "network", "ema"):
                if isinstance(obj.get(key), Mapping):
                    obj = obj[key]
                    break
            else:
                break
        else:
            break
    if isinstance(obj, torch.nn.Module):  # cannot happen with weights_only, kept for clarity
        obj = obj.state_dict()
    if not isinstance(obj, Mapping) or not any(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ModelLoadError(f"'{path.name}' does not contain a state dict (a mapping of parameter names to tensors).",
                             path=path, hint="Save the weights with torch.save(model.state_dict(), path) "
                                             "or safetensors.torch.save_file(model.state_dict(), path).")
    state = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    for prefix in ("module.", "_orig_mod."):
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    return state


def _first_conv_key(network, model_keys: list[str]) -> str | None:
    cfg = getattr(network, "pretrained_cfg", None) or getattr(network, "default_cfg", None) or {}
    first = cfg.get("first_conv") if isinstance(cfg, dict) else None
    if isinstance(first, (list, tuple)):
        first = first[0] if first else None
    if first and f"{first}.weight" in model_keys:
        return f"{first}.weight"
    return None


def _classifier_keys(network) -> set[str]:
    cfg = getattr(network, "pretrained_cfg", None) or {}
    names = cfg.get("classifier") if isinstance(cfg, dict) else None
    if isinstance(names, str):
        names = [names]
    return {f"{n}.{p}" for n in names or () for p in ("weight", "bias")}


def _load_into(network, state: dict[str, torch.Tensor], card: ModelCard, path: Path) -> None:
    """Copy ``state`` into ``network`` after explaining any mismatch in the user's terms."""
    import torch

    target = network.state_dict()
    model_keys = list(target)
    missing = [k for k in model_keys if k not in state]
    unexpected = [k for k in state if k not in target]
    arch = card.architecture or "the network"
    first_conv = _first_conv_key(network, model_keys)
    if first_conv is None:
        first_conv = next((k for k in model_keys if target[k].ndim in (4, 5)), None)
    classifier_keys = _classifier_keys(network)
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} parameter(s) the architecture needs are missing from the file "
                         f"(e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} parameter(s) in the file are not in the architecture "
                         f"(e.g. {', '.join(unexpected[:3])})")
        raise ModelLoadError(f"The weights in '{path.name}' do not match architecture '{arch}': "
                             + "; ".join(parts) + ".", path=path,
                             hint="Check that the card's 'architecture' names the model the weights were saved from.")
    for key in model_keys:
        if key not in state:
            continue
        got, want = tuple(state[key].shape), tuple(target[key].shape)
        if got == want:
            continue
        if key == first_conv and len(got) == len(want) and got[0] == want[0] and got[2:] == want[2:]:
            raise ModelLoadError(
                f"The weights are for {got[1]} input channels but the card says in_chans {card.in_chans} "
                f"('{path.name}', parameter {key}).", path=path,
                hint=f"Set \"in_chans\": {got[1]} in the model card.")
        if key in classifier_keys and got[1:] == want[1:]:
            raise ModelLoadError(
                f"The weights are for {got[0]} classes but the card says num_classes {card.num_classes} "
                f"('{path.name}', parameter {key}).", path=path,
                hint=f"Set \"num_classes\": {got[0]} and give {got[0]} class names in the model card.")
        raise ModelLoadError(
            f"The weights do not fit architecture '{arch}': parameter {key} has shape {list(got)} in "
            f"'{path.name}' but {list(want)} in the architecture.", path=path,
            hint="Check the card's 'architecture', 'in_chans' and 'num_classes' against how the model was trained.")
    with torch.no_grad():
        for key, value in target.items():
            src = state[key]
            if src.dtype != value.dtype and value.dtype.is_floating_point:
                src = src.to(value.dtype)  # e.g. fp16 safetensors into an fp32 model
            value.copy_(src)


def _build_timm(card: ModelCard, path: Path):
    from medadv_desktop.engine._torch_compat import import_timm

    timm = import_timm()
    if not timm.is_model(card.architecture):
        raise ModelCardError(f"'{card.architecture}' is not a timm architecture known to this installation "
                             f"(timm {timm.__version__}).", path=card.path, field="architecture",
                             hint="Use the exact timm name, e.g. 'efficientnet_b0' or 'resnet18'.")
    try:
        network = timm.create_model(card.architecture, pretrained=False, in_chans=card.in_chans,
                                    num_classes=card.num_classes)
    except Exception as exc:  # timm raises assorted errors for impossible configurations
        raise ModelLoadError(f"Cannot build timm architecture '{card.architecture}' with in_chans {card.in_chans} "
                             f"and num_classes {card.num_classes}: {_first_line(exc)}", path=path) from None
    state = load_state_dict_file(path)
    _load_into(network, state, card, path)
    return network


def _load_torchscript(card: ModelCard, path: Path):
    import torch

    if not path.is_file():
        raise ModelLoadError(f"The TorchScript file '{path.name}' was not found.", path=path,
                             hint="Put the model beside the card, or fix the card's 'weights' field.")
    with open(path, "rb") as fh:
        head = fh.read(4)
    if not head.startswith(b"PK"):
        raise ModelLoadError(f"'{path.name}' is not a TorchScript archive.", path=path,
                             hint="Save the model with torch.jit.script(model).save(path) or torch.jit.trace; "
                                  "for a state dict use \"format\": \"timm\".")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch >= 2.10 marks TorchScript deprecated
            return torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:  # RuntimeError from the C++ loader
        text = _first_line(exc)
        if "constants.pkl" in str(exc) or "PytorchStreamReader" in str(exc) and "data.pkl" in str(exc):
            raise ModelLoadError(f"'{path.name}' is a plain torch.save file, not a TorchScript model.", path=path,
                                 hint="Use \"format\": \"timm\" with the architecture name for a state dict.") from None
        raise ModelLoadError(f"'{path.name}' could not be loaded as TorchScript ({text}).", path=path,
                             hint="Save the model with torch.jit.script(model).save(path).") from None


def load_classifier(card: ModelCard | str | Path, device: str | torch.device | None = None, *,
                    verify_hash: bool = True, allow_outside_card_dir: bool = False) -> Classifier:
    """Load the model a card describes and wrap it as a :class:`Classifier` in eval mode.

    ``card``: a :class:`ModelCard` or the path of its JSON (or of its folder).
    ``device``: see :func:`resolve_device` (default: CUDA when available).
    ``verify_hash``: check the weights against ``card.sha256`` when it is set.
    ``allow_outside_card_dir``: the explicit opt-in to weights outside the
    card's folder (refused by default, see :meth:`ModelCard.resolve_weights`).

    After loading, one dummy forward at the card's input size checks that the
    network accepts it and returns ``num_classes`` outputs; a TorchScript model
    that normalises its input itself while the card normalises too gets a
    warning in ``classifier.load_warnings`` (:mod:`~medadv_desktop.engine.models.selfnorm`).
    """

    from medadv_desktop.engine.models.wrapper import Classifier

    if not isinstance(card, ModelCard):
        card = ModelCard.load(card, allow_outside_card_dir=allow_outside_card_dir)
    elif allow_outside_card_dir and not card.allow_outside_card_dir:
        card = dataclasses.replace(card, allow_outside_card_dir=True)
    target = resolve_device(device)
    path = card.weights_path
    if not path.is_file():
        raise ModelLoadError(f"The weights file '{card.weights}' named by model card '{card.name}' was not found "
                             f"beside the card.", path=path,
                             hint="Put the weights file in the card's folder, or fix the card's 'weights' field.")
    if verify_hash and card.sha256:
        actual = sha256_file(path)
        if actual != card.sha256.lower():
            raise ModelLoadError(
                f"The weights file '{path.name}' does not match the card: its SHA-256 is {actual[:12]}..., "
                f"the card says {card.sha256[:12]}....", path=path,
                hint="The file may be corrupt or a different version of the model. Copy the right weights, "
                     "or update the card's 'sha256' if you trust this file.")
    with warnings.catch_warnings():     # library warnings are noise next to a clear error
        warnings.simplefilter("ignore")
        if card.format == "timm":
            network = _build_timm(card, path)
        else:
            network = _load_torchscript(card, path)
        network = network.float()
        network.eval()
        _check_network(network, card, path)
        from medadv_desktop.engine.models.selfnorm import self_normalisation_warning
        selfnorm = self_normalisation_warning(network, card)
    model = Classifier(network, card)
    model.load_warnings = [selfnorm] if selfnorm else []     # the evaluation records them as sanity flags
    model.to(target)
    model.eval()
    return model


def _check_network(network, card: ModelCard, path: Path) -> None:
    """One dummy forward at the card's input size: accepts the shape? right number of outputs?"""
    import torch

    shape = (1, card.in_chans, *card.input_size)
    try:
        with torch.no_grad():
            out = network(torch.zeros(shape))
    except Exception as exc:
        kind = "3-D volumes" if card.spatial_dims == 3 else "2-D images"
        raise ModelInputError(
            f"Model '{card.name}' fails on an input of shape {list(shape)} (batch, channels, "
            f"{'depth, ' if card.spatial_dims == 3 else ''}height, width) that the card's in_chans {card.in_chans} "
            f"and input_size {list(card.input_size)} describe ({_first_line(exc)}).",
            hint=f"Fix 'in_chans' and 'input_size' in the card to what the model expects ({kind} per the card).") from None
    if isinstance(out, (tuple, list)):
        out = out[0]
    if not isinstance(out, torch.Tensor):
        raise ModelLoadError(f"Model '{card.name}' returns {type(out).__name__}, not a tensor of logits.", path=path)
    flat = out.reshape(out.shape[0], -1) if out.ndim != 1 else out.reshape(1, -1)
    if out.ndim > 2 or flat.shape[1] != card.num_classes:
        raise ModelLoadError(
            f"Model '{card.name}' returns outputs of shape {list(out.shape)}, but the card says num_classes "
            f"{card.num_classes} (expected shape [batch, {card.num_classes}]).", path=path,
            hint="Set 'num_classes' (and 'class_names', 'output') in the card to match the model.")
