"""Training checkpoints without pickle: safetensors for tensors, JSON for the rest.

After epoch N the job writes one checkpoint as a unit (never over an existing file):

* ``checkpoint-epoch-NNN.safetensors``: the network's weights under ``model.``
  and the optimizer's tensor state under ``optim.<param index>.<name>``;
* ``checkpoint-epoch-NNN.json``: epoch, run fingerprint, optimizer
  hyper-parameters and scalar state, metric history, and the SHA-256 of the
  tensor file. It is placed last, so it marks the checkpoint as complete.

Both files are first written to temporary files; only when both are on disk
are they linked into place, tensors first, JSON last
(:class:`~medadv_desktop.engine.safe_write.NewFiles`). A full disk therefore
leaves no part of the checkpoint behind, and a kill between the two links
leaves a tensor file without its JSON.

A checkpoint whose JSON is missing, damaged or not a MedAdv checkpoint, or
whose tensor file does not match the recorded hash, is skipped by
:func:`latest_checkpoint`. When the resumed run reaches that epoch again,
:func:`save_checkpoint` sets the incomplete files aside (renamed to
``<name>.incomplete-N``, never deleted) and writes the checkpoint anew, so a
run interrupted at the worst moment never fails for ever with "already exists".
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from medadv_desktop.engine.hashing import sha256_bytes
from medadv_desktop.engine.safe_write import NewFiles
from medadv_desktop.engine.serialization import dumps
from medadv_desktop.errors import ModelLoadError, OutputExistsError

CHECKPOINT_FORMAT = "medadv-training-checkpoint"
CHECKPOINT_VERSION = 1
_NAME = re.compile(r"^checkpoint-epoch-(\d{3,})\.json$")


def checkpoint_paths(out_dir: str | Path, epoch: int) -> tuple[Path, Path]:
    """(tensor file, JSON state file) of the checkpoint after ``epoch`` (1-based)."""
    out_dir = Path(out_dir)
    stem = f"checkpoint-epoch-{epoch:03d}"
    return out_dir / f"{stem}.safetensors", out_dir / f"{stem}.json"


def state_dict_tensors(module: nn.Module, prefix: str = "", dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
    """A module's state as contiguous CPU tensors safe for safetensors (no shared storage)."""
    out = {}
    for k, v in module.state_dict().items():
        t = v.detach().to("cpu")
        if dtype is not None and t.is_floating_point():
            t = t.to(dtype)
        out[prefix + k] = t.contiguous().clone()
    return out


def _split_optimizer_state(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, state in sd["state"].items():
        for name, value in state.items():
            if torch.is_tensor(value):
                tensors[f"optim.{idx}.{name}"] = value.detach().to("cpu").contiguous().clone()
            else:
                scalars.setdefault(str(idx), {})[name] = value
    groups = json.loads(json.dumps(sd["param_groups"], default=lambda o: None))
    return tensors, {"param_groups": groups, "state_scalars": scalars}


@dataclass
class Checkpoint:
    """A complete checkpoint read back from disk."""

    epoch: int
    tensor_path: Path
    state_path: Path
    state: dict[str, Any]
    model_state: dict[str, torch.Tensor] = field(repr=False, default_factory=dict)
    optimizer_tensors: dict[str, torch.Tensor] = field(repr=False, default_factory=dict)

    def restore_optimizer(self, optimizer: torch.optim.Optimizer) -> None:
        """Load the saved optimizer state into an optimizer over the same parameters."""
        saved = self.state["optimizer"]
        state: dict[int, dict[str, Any]] = {}
        for key, tensor in self.optimizer_tensors.items():
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = tensor
        for idx, values in saved.get("state_scalars", {}).items():
            state.setdefault(int(idx), {}).update(values)
        groups = []
        for saved_group, current in zip(saved["param_groups"], optimizer.param_groups):
            group = dict(saved_group)
            for key, value in group.items():   # JSON turned tuples (AdamW betas) into lists
                if isinstance(value, list) and isinstance(current.get(key), tuple):
                    group[key] = tuple(value)
            groups.append(group)
        try:
            optimizer.load_state_dict({"state": state, "param_groups": groups})
        except (KeyError, ValueError, TypeError, RuntimeError, IndexError) as exc:
            raise ModelLoadError(f"the checkpoint of epoch {self.epoch} does not fit this run's optimizer "
                                 f"({exc.__class__.__name__})", path=self.state_path,
                                 hint="Start a new run in an empty folder.") from None


def save_checkpoint(out_dir: str | Path, epoch: int, network: nn.Module, optimizer: torch.optim.Optimizer,
                    state: dict[str, Any]) -> tuple[Path, Path]:
    """Write the checkpoint after ``epoch`` as one unit; refuses to overwrite a complete one.

    An incomplete or damaged checkpoint of the same epoch (left by a kill or a
    full disk) is set aside first (see the module docstring). Raises
    :class:`OutputExistsError` when a complete checkpoint of this epoch exists,
    ``OutputWriteError`` on a full or read-only disk (nothing of this
    checkpoint is then left behind).
    """
    from safetensors.torch import save as st_save

    tensor_path, state_path = checkpoint_paths(out_dir, epoch)
    tensors = state_dict_tensors(network, prefix="model.")
    opt_tensors, opt_json = _split_optimizer_state(optimizer)
    tensors.update(opt_tensors)
    blob = st_save(tensors, metadata={"format": CHECKPOINT_FORMAT, "epoch": str(epoch)})
    record = dict(state)
    record.update({
        "format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "epoch": int(epoch),
        "tensors": tensor_path.name, "tensors_sha256": sha256_bytes(blob), "optimizer": opt_json,
    })
    _clear_incomplete(out_dir, epoch)
    with NewFiles() as batch:
        batch.add(tensor_path, blob)                             # placed first
        batch.add(state_path, dumps(record).encode("utf-8"))     # placed last: marks it complete
    return tensor_path, state_path


def _clear_incomplete(out_dir: str | Path, epoch: int) -> None:
    """Set aside the files of an incomplete or damaged checkpoint of ``epoch``; refuse a complete one."""
    tensor_path, state_path = checkpoint_paths(out_dir, epoch)
    present = [p for p in (tensor_path, state_path) if os.path.lexists(p)]
    if not present:
        return
    if state_path in present:
        try:
            load_checkpoint(out_dir, epoch)
        except ModelLoadError:
            pass
        else:
            raise OutputExistsError(state_path)
    for p in present:
        set_aside(p)


def set_aside(path: Path) -> Path:
    """Rename ``path`` to ``<name>.incomplete-N`` (the first free N); nothing is deleted or overwritten."""
    for n in range(1, 10000):
        target = path.with_name(f"{path.name}.incomplete-{n}")
        try:
            os.link(path, target)
        except FileExistsError:
            continue
        except OSError:                   # no hard links here: a rename onto a name checked just before
            if os.path.lexists(target):
                continue
            os.rename(path, target)
            return target
        os.unlink(path)
        return target
    raise OutputExistsError(path)


def list_checkpoints(out_dir: str | Path) -> list[int]:
    """Epochs that have a checkpoint state file in ``out_dir`` (sorted)."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        return []
    epochs = []
    for p in out_dir.iterdir():
        m = _NAME.match(p.name)
        if m:
            epochs.append(int(m.group(1)))
    return sorted(epochs)


def load_checkpoint(out_dir: str | Path, epoch: int) -> Checkpoint:
    """Read and verify one checkpoint. Raises ModelLoadError if it is incomplete or damaged."""
    from safetensors.torch import load as st_load

    tensor_path, state_path = checkpoint_paths(out_dir, epoch)
    try:
        state = json.loads(state_path.read_text(encoding="utf-8"))
        blob = tensor_path.read_bytes()
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ModelLoadError(f"checkpoint of epoch {epoch} is incomplete ({exc.__class__.__name__})",
                             path=state_path) from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT or state.get("epoch") != epoch:
        raise ModelLoadError(f"'{state_path.name}' is not a MedAdv training checkpoint", path=state_path)
    optimizer = state.get("optimizer")
    if not (isinstance(optimizer, dict) and isinstance(optimizer.get("param_groups"), list)
            and all(isinstance(g, dict) for g in optimizer["param_groups"])
            and isinstance(optimizer.get("state_scalars", {}), dict)
            and all(isinstance(v, dict) for v in optimizer.get("state_scalars", {}).values())
            and isinstance(state.get("history", []), list)
            and all(isinstance(r, dict) for r in state.get("history", []))):
        raise ModelLoadError(f"'{state_path.name}' is damaged (its optimizer state or history is malformed)",
                             path=state_path)
    if sha256_bytes(blob) != state.get("tensors_sha256"):
        raise ModelLoadError(f"'{tensor_path.name}' does not match its recorded hash (damaged or partly written)",
                             path=tensor_path, hint="Delete this checkpoint pair to resume from the one before.")
    try:
        tensors = st_load(blob)
    except Exception as exc:  # noqa: BLE001  (safetensors raises its own error types)
        raise ModelLoadError(f"'{tensor_path.name}' cannot be read ({exc.__class__.__name__})",
                             path=tensor_path) from None
    model_state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    opt = {k: v for k, v in tensors.items() if k.startswith("optim.")}
    bad = [k for k in opt if k.count(".") < 2 or not k.split(".", 2)[1].isdigit()]
    if bad:
        raise ModelLoadError(f"'{tensor_path.name}' holds unexpected tensors ({bad[0]})", path=tensor_path)
    return Checkpoint(epoch, tensor_path, state_path, state, model_state, opt)


def latest_checkpoint(out_dir: str | Path) -> Checkpoint | None:
    """The newest complete, verified checkpoint in ``out_dir`` (None if there is none)."""
    for epoch in reversed(list_checkpoints(out_dir)):
        try:
            return load_checkpoint(out_dir, epoch)
        except ModelLoadError:
            continue
    return None
