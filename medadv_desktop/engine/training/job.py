"""The adversarial training job: fine-tune a copy of a model on adversarial examples.

:func:`adversarial_training_job` is a generator job (see ``engine/jobs.py``):
it yields :class:`~medadv_desktop.engine.jobs.Progress` events, one per batch
(``data["kind"] == "batch"``: epoch, batch, loss, accuracy) and one per epoch
(``data["kind"] == "epoch"``: loss, train accuracy, clean and PGD robust
validation accuracy, checkpoint file), and returns a :class:`TrainingResult`.

Guarantees:

* the input model's files are only read, never written; the job trains a deep
  copy of the loaded classifier;
* after every epoch a checkpoint is written atomically to *new* files
  (``checkpoint-epoch-NNN.safetensors`` + ``.json``, see ``checkpoint.py``);
* ``out_dir`` holds one run only: its ``run.json`` records a fingerprint of
  the parent model's hash, the training options and the data; a folder holding
  another run (or other files) is refused; the same run resumes from its last
  complete checkpoint when ``resume`` is true;
* cancellation is checked before every batch (and every validation batch):
  :class:`~medadv_desktop.errors.JobCancelled` is raised with
  ``partial`` = the last complete checkpoint's JSON path (or None);
* randomness (shuffling, random starts) comes from generators seeded with
  ``(seed, epoch)``, so a resumed run repeats the uninterrupted one.

Batch normalisation: examples are generated with the model in eval mode
(running statistics, no update of them by adversarial batches; the attack sees
the function the evaluation attacks), the weight update runs in train mode.
The optimizer is AdamW over the network's parameters.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as _dt
import hashlib
import json
import math
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medadv_desktop.engine.hashing import sha256_bytes, sha256_file
from medadv_desktop.engine.jobs import CancelToken, Job, Progress
from medadv_desktop.engine.results.training import EpochRecord, ParentModel, TrainingDataSummary, TrainingResult
from medadv_desktop.engine.serialization import dumps, from_jsonable, to_jsonable, write_json
from medadv_desktop.engine.training.config import TrainingConfig, TrainingError
from medadv_desktop.errors import DatasetError, OutputExistsError

RUN_FILE = "run.json"
MODEL_FILE = "model.safetensors"
CARD_FILE = "model_card.json"
RUN_FORMAT = "medadv-training-run"
TRAINED_SUFFIX = " (adversarially trained)"


# --------------------------------------------------------------------------- data
@dataclass
class TrainingData:
    """A labelled data set as tensors in the attacks' [0, 1] image space.

    ``x``: (N, C, H, W) float32 in [0, 1]; ``y``: (N,) int64 class indices;
    ``sample_ids``: pseudonymous ids (never PHI); ``name``: a pseudonymous name
    of the data set, safe to log and to put in a model card.
    """

    x: Any
    y: Any
    sample_ids: list[str]
    class_names: list[str]
    name: str = "dataset"
    native_per_unit: Any = None
    synthetic: bool = False

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y):
            raise DatasetError(f"The data set has {len(self.x)} images but {len(self.y)} labels.")
        if len(self.x) == 0:
            raise DatasetError("The data set is empty.", hint="Put images in one sub-folder per class.")

    def __len__(self) -> int:
        return int(len(self.y))

    def counts(self) -> dict[str, int]:
        ys = [int(v) for v in self.y.tolist()]
        return {c: ys.count(i) for i, c in enumerate(self.class_names)}

    def subset(self, index) -> TrainingData:
        import torch

        index = torch.as_tensor(index, dtype=torch.long)
        return TrainingData(self.x[index], self.y[index], [self.sample_ids[i] for i in index.tolist()],
                            list(self.class_names), self.name, _take(self.native_per_unit, index), self.synthetic)

    def fingerprint(self) -> str:
        """SHA-256 over the image tensor, the labels and the class names."""
        h = hashlib.sha256()
        h.update(json.dumps(list(self.class_names)).encode())
        h.update(self.y.cpu().numpy().astype("int64").tobytes())
        h.update(self.x.detach().cpu().contiguous().float().numpy().tobytes())
        return h.hexdigest()


def _take(values, index):
    if values is None:
        return None
    try:
        return values[index]
    except (TypeError, IndexError):
        try:
            return [values[i] for i in index.tolist()]
        except Exception:  # a scalar (one window width for all) stays as is
            return values


def resolve_split_dirs(data_dir: str | Path) -> tuple[Path, Path | None]:
    """(training folder, test folder or None): ``DIR/train`` + ``DIR/test`` when both exist."""
    data_dir = Path(data_dir)
    if (data_dir / "train").is_dir() and (data_dir / "test").is_dir():
        return data_dir / "train", data_dir / "test"
    if (data_dir / "train").is_dir():
        return data_dir / "train", None
    return data_dir, None


def load_training_data(data, card) -> TrainingData:
    """Turn a data folder, a ``LabelledDataset`` or a :class:`TrainingData` into tensors.

    A folder is read with ``LabelledDataset.from_folder(folder, card.class_names)``
    and converted with ``to_tensors(card)`` (the card's intensity mapping); the
    data set's pseudonymous ``name`` is kept (never the folder's path).
    """
    if isinstance(data, TrainingData):
        return data
    import torch

    if isinstance(data, (str, Path)):
        from medadv_desktop.engine.datasets import LabelledDataset

        data = LabelledDataset.from_folder(Path(data), list(card.class_names))
    if not hasattr(data, "to_tensors"):
        raise DatasetError(f"Cannot train on a {type(data).__name__}; give a data folder.")
    x, y, sample_ids, native_per_unit = data.to_tensors(card)
    x = torch.as_tensor(x, dtype=torch.float32)
    y = torch.as_tensor(y, dtype=torch.long)
    name = str(getattr(data, "name", "") or "dataset")   # LabelledDataset: a pseudonym, safe to show
    return TrainingData(x, y, [str(s) for s in sample_ids], list(card.class_names), name, native_per_unit,
                        bool(getattr(data, "synthetic", False)))


def stratified_split(y, val_split: float, seed: int) -> tuple[list[int], list[int]]:
    """(train indices, validation indices): ``round(val_split * n_c)`` per class, seeded.

    Every class with at least 2 examples keeps at least one example for training
    and, when ``val_split`` > 0, gives at least one to validation.
    """
    import torch

    g = torch.Generator().manual_seed(int(seed))
    train, val = [], []
    ys = torch.as_tensor(y).tolist()
    for c in sorted(set(ys)):
        idx = [i for i, v in enumerate(ys) if v == c]
        order = [idx[i] for i in torch.randperm(len(idx), generator=g).tolist()]
        n_val = int(round(val_split * len(order)))
        if val_split > 0 and len(order) >= 2:
            n_val = min(max(n_val, 1), len(order) - 1)
        else:
            n_val = min(n_val, len(order) - 1)
        val += order[:n_val]
        train += order[n_val:]
    return sorted(train), sorted(val)


# --------------------------------------------------------------------------- helpers
def _network(classifier):
    """The trainable network inside the classifier wrapper (its state dict is what cards load)."""
    return getattr(classifier, "network", classifier)


def _parent_identity(classifier) -> dict[str, Any]:
    card = getattr(classifier, "card", None)
    info: dict[str, Any] = {"name": getattr(card, "name", type(classifier).__name__),
                            "architecture": getattr(card, "architecture", "")}
    sha = None
    if card is not None and getattr(card, "path", None) is not None:
        try:
            wp = card.weights_path
            if wp.is_file():
                sha = sha256_file(wp)
        except OSError:
            sha = None
    if sha is None and card is not None and getattr(card, "sha256", None):
        sha = card.sha256
    if sha is None:  # an in-memory model: hash its weights
        from medadv_desktop.engine.training.checkpoint import state_dict_tensors

        h = hashlib.sha256()
        for k, v in sorted(state_dict_tensors(_network(classifier)).items()):
            h.update(k.encode())
            h.update(v.float().numpy().tobytes())
        sha = h.hexdigest()
    info["sha256"] = sha
    return info


def _load_parent(model, device):
    from medadv_desktop.engine.models import ModelCard

    if isinstance(model, (str, Path, ModelCard)):
        from medadv_desktop.engine.models import load_classifier

        return load_classifier(model, device=device)
    return model


def _resolve_device(name: str | None):
    from medadv_desktop.engine.models.loading import resolve_device

    return resolve_device(name)


def _check_out_dir(out_dir: Path, run_record: dict[str, Any], resume: bool) -> bool:
    """Create ``out_dir`` or check it holds this run. Returns True if checkpoints may be resumed."""
    from medadv_desktop.engine.training.checkpoint import list_checkpoints

    if out_dir.exists() and not out_dir.is_dir():
        raise OutputExistsError(out_dir)
    run_file = out_dir / RUN_FILE
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if not run_file.is_file():
            raise TrainingError(
                f"The output folder '{out_dir.name}' already holds other files; MedAdv never writes a training run "
                "over them.", hint="Choose a new or empty output folder.")
        try:
            existing = json.loads(run_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError, RecursionError):
            existing = None
        if not isinstance(existing, dict):      # [], a number, a damaged file: not a MedAdv run record
            raise TrainingError(
                f"The output folder '{out_dir.name}' holds a '{RUN_FILE}' that is not a MedAdv training run "
                "record (damaged or written by something else).",
                hint="Choose a new or empty output folder.")
        if existing.get("fingerprint") != run_record["fingerprint"]:
            raise TrainingError(
                f"The output folder '{out_dir.name}' holds a different training run (another model, data set or "
                "training options).", hint="Choose a new or empty output folder, or repeat that run's exact options to resume it.")
        if (out_dir / CARD_FILE).exists():
            raise TrainingError(
                f"The output folder '{out_dir.name}' already holds the finished model of this run.",
                hint="Use that model, or choose a new output folder to train again.")
        if os.path.lexists(out_dir / MODEL_FILE):
            if not resume:
                raise TrainingError(
                    f"The output folder '{out_dir.name}' holds '{MODEL_FILE}' without its model card: the final "
                    "write of this run did not finish (e.g. the disk filled up).",
                    hint="Resume it (--resume): the weights are written again from the checkpoints.")
            from medadv_desktop.engine.training.checkpoint import set_aside

            set_aside(out_dir / MODEL_FILE)      # the weights without their card: renamed, never deleted
        if list_checkpoints(out_dir) and not resume:
            raise TrainingError(
                f"The output folder '{out_dir.name}' holds checkpoints of this run.",
                hint="Resume it (--resume), or choose a new output folder to start again.")
        return True
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_file, run_record)
    return False


class _Mode:
    """Switch a module to eval (generation) or train (update) mode cheaply."""

    def __init__(self, module) -> None:
        self.module = module

    def eval(self):
        if self.module.training:
            self.module.eval()

    def train(self):
        if not self.module.training:
            self.module.train()


# --------------------------------------------------------------------------- core steps
def _autocast_factory(device, enabled: bool):
    import torch

    if enabled and device.type == "cuda":
        return lambda: torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext


def _train_step(student, mode: _Mode, optimizer, x, y, config: TrainingConfig, generator, autocast,
                eps_scale: float = 1.0):
    """One optimisation step; returns (loss, accuracy on the trained-on examples).

    ``eps_scale`` (the eps warm-up) multiplies the training eps and the attack step.
    """
    import torch
    import torch.nn.functional as F

    from medadv_desktop.engine.training import adversary as adv

    eps, alpha = config.eps * eps_scale, config.step_size * eps_scale
    mode.eval()
    if config.method == "fgsm":
        x_train = adv.fgsm_random_start(student, x, y, eps, alpha, generator=generator, autocast=autocast)
    elif config.method == "pgd":
        x_train = adv.pgd(student, x, y, eps, alpha, config.steps, generator=generator, autocast=autocast)
    elif config.method == "trades":
        x_train = adv.trades_adversary(student, x, eps, alpha, config.steps, generator=generator, autocast=autocast)
    else:  # mix: a fraction mix_ratio of the batch is replaced by adversarial examples
        n_adv = int(round(config.mix_ratio * len(x)))
        x_train = x
        if n_adv > 0:
            pick = torch.randperm(len(x), generator=generator, device=generator.device)[:n_adv].to(x.device)
            if config.mix_attack == "fgsm":
                x_sub = adv.fgsm_random_start(student, x[pick], y[pick], eps, alpha, generator=generator,
                                              autocast=autocast)
            else:
                x_sub = adv.pgd(student, x[pick], y[pick], eps, alpha, config.steps, generator=generator,
                                autocast=autocast)
            x_train = x.clone()
            x_train[pick] = x_sub
    mode.train()
    optimizer.zero_grad(set_to_none=True)
    with autocast():
        if config.method == "trades":
            logits_clean = adv.class_logits(student(x)).float()
            logits = adv.class_logits(student(x_train)).float()
            loss = adv.trades_loss(logits_clean, logits, y, config.beta)
            acc_logits = logits_clean
        else:
            logits = adv.class_logits(student(x_train)).float()
            loss = F.cross_entropy(logits, y)
            acc_logits = logits
    if not torch.isfinite(loss):
        raise TrainingError(f"The training loss became {loss.item()} (diverged).",
                            hint="Lower the learning rate (--lr) and train again in a new output folder.")
    loss.backward()
    optimizer.step()
    acc = (acc_logits.argmax(1) == y).float().mean().item()
    return float(loss.item()), acc


def robust_accuracy(classifier, x, y, eps: float, *, steps: int = 10, batch_size: int = 64, seed: int = 0,
                    cancel: CancelToken | None = None, partial=None, autocast=None) -> tuple[float, float]:
    """(clean accuracy, L-inf PGD robust accuracy) of ``classifier`` on [0, 1] images ``x`` with labels ``y``.

    Eval mode (restored afterwards). PGD: ``steps`` steps of 2.5 eps / steps
    from a uniform random start (seeded), cross-entropy loss. A sample is
    robust if it is classified correctly both clean and after the attack.
    """
    import torch

    from medadv_desktop.engine.training import adversary as adv

    cancel = cancel or CancelToken()
    autocast = autocast or contextlib.nullcontext
    device = next(iter(classifier.parameters())).device
    was_training = classifier.training
    classifier.eval()
    g = torch.Generator(device=device).manual_seed(int(seed))
    alpha = 2.5 * eps / steps
    n_clean = n_robust = 0
    try:
        for start in range(0, len(y), max(1, batch_size)):
            cancel.raise_if_cancelled(partial=partial)
            xb = x[start:start + batch_size].to(device)
            yb = y[start:start + batch_size].to(device)
            with torch.no_grad(), autocast():
                pred = adv.class_logits(classifier(xb)).argmax(1)
            x_adv = adv.pgd(classifier, xb, yb, eps, alpha, steps, generator=g, autocast=autocast)
            with torch.no_grad(), autocast():
                pred_adv = adv.class_logits(classifier(x_adv)).argmax(1)
            n_clean += int((pred == yb).sum())
            n_robust += int(((pred == yb) & (pred_adv == yb)).sum())
    finally:
        classifier.train(was_training)
    return n_clean / len(y), n_robust / len(y)


def _validate(student, mode: _Mode, data: TrainingData, idx: list[int], config: TrainingConfig, device,
              cancel: CancelToken, autocast, partial) -> tuple[float | None, float | None]:
    """(clean accuracy, PGD robust accuracy) on the validation examples, eval mode."""
    import torch

    if not idx:
        return None, None
    mode.eval()
    sel = torch.as_tensor(idx)
    return robust_accuracy(student, data.x[sel], data.y[sel], config.eps, steps=config.val_pgd_steps,
                           batch_size=max(1, config.batch_size * 2), seed=config.seed + 7919, cancel=cancel,
                           partial=partial, autocast=autocast)


def _software() -> dict[str, str]:
    import torch

    from medadv_desktop import __version__

    return {"medadv": __version__, "torch": torch.__version__, "python": platform.python_version()}


# --------------------------------------------------------------------------- the job
def adversarial_training_job(model, data, config: TrainingConfig, out_dir: str | Path, *,
                             resume: bool = True, cancel: CancelToken | None = None) -> Job[TrainingResult]:
    """Adversarially fine-tune a copy of ``model`` and write it with its own card to ``out_dir``.

    ``model``: a model card path / :class:`ModelCard` (loaded with
    ``load_classifier``) or an already loaded ``Classifier``; it is never
    modified (a deep copy is trained). ``data``: a labelled data folder (if it
    has ``train/`` and ``test/`` sub-folders, ``train/`` is used), a
    ``LabelledDataset`` or :class:`TrainingData`. ``config``: see
    :class:`TrainingConfig`. Writes ``run.json``, one checkpoint pair per
    epoch, then ``model.safetensors`` (fp32 state dict of the network) and
    ``model_card.json`` (validated; ``provenance["adversarial_training"]``).
    """
    import torch

    cancel = cancel or CancelToken()
    config = TrainingConfig.from_dict(config.to_dict()) if isinstance(config, TrainingConfig) else TrainingConfig.from_dict(config)
    out_dir = Path(out_dir)
    t_start = time.perf_counter()
    device = _resolve_device(config.device)
    yield Progress("train", 0, 0, "Loading the model and the data")

    parent = _load_parent(model, device)
    card = getattr(parent, "card", None)
    if card is not None and getattr(card, "format", "timm") != "timm":
        raise TrainingError(
            f"Model '{card.name}' is a TorchScript model; adversarial training needs a timm model card "
            "(architecture + state dict) so the hardened weights can be saved safely.",
            hint="Train a model given as a timm architecture with .safetensors weights.")
    if isinstance(data, (str, Path)):
        data = resolve_split_dirs(data)[0]
    tdata = load_training_data(data, card)
    n_out = getattr(card, "n_outputs", None)
    if n_out is not None and int(tdata.y.max()) >= n_out:
        raise DatasetError(f"The data set has labels up to {int(tdata.y.max())} but the model has {n_out} classes.")
    train_idx, val_idx = stratified_split(tdata.y, config.val_split, config.seed)
    if not train_idx:
        raise DatasetError("No images are left for training after the validation split.",
                           hint="Add images or lower the validation split.")
    parent_info = _parent_identity(parent)
    data_info = {"name": tdata.name, "n_train": len(train_idx), "n_val": len(val_idx),
                 "counts": tdata.counts(), "synthetic": tdata.synthetic}
    fp_source = {"parent_sha256": parent_info["sha256"], "config": config.fingerprint_dict(),
                 "data": tdata.fingerprint()}
    fingerprint = sha256_bytes(dumps(fp_source).encode())
    run_record = {"format": RUN_FORMAT, "fingerprint": fingerprint, "parent": parent_info,
                  "config": config.fingerprint_dict(), "data": data_info}
    may_resume = _check_out_dir(out_dir, run_record, resume)

    student = copy.deepcopy(parent).to(device)
    network = _network(student)
    for p in network.parameters():
        p.requires_grad_(True)
    mode = _Mode(student)
    optimizer = torch.optim.AdamW(network.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    autocast = _autocast_factory(device, config.mixed_precision)

    from medadv_desktop.engine.training.checkpoint import (
        latest_checkpoint,
        save_checkpoint,
    )

    history: list[EpochRecord] = []
    start_epoch = 0
    last_ckpt: str | None = None
    if may_resume:
        ckpt = latest_checkpoint(out_dir)
        if ckpt is not None:
            network.load_state_dict(ckpt.model_state)
            ckpt.restore_optimizer(optimizer)
            history = from_jsonable(list[EpochRecord], ckpt.state.get("history", []), path="history")
            start_epoch = ckpt.epoch
            last_ckpt = str(ckpt.state_path)
            yield Progress("train", 0, 0, f"Resuming from the checkpoint of epoch {start_epoch}",
                           {"kind": "resume", "epoch": start_epoch})

    n_train = len(train_idx)
    n_batches = math.ceil(n_train / config.batch_size)
    total = config.epochs * n_batches
    if not history:
        yield Progress("train", 0, total, "Measuring the model before training", {"kind": "baseline"})
        t0 = time.perf_counter()
        clean, robust = _validate(student, mode, tdata, val_idx, config, device, cancel, autocast, None)
        history.append(EpochRecord(0, None, None, clean, robust, time.perf_counter() - t0))
        yield Progress("train", 0, total, _epoch_line(history[-1], config.epochs),
                       {"kind": "epoch", "epoch": 0, "epochs": config.epochs, **_record_data(history[-1])})

    train_x = tdata.x[torch.as_tensor(train_idx)]
    train_y = tdata.y[torch.as_tensor(train_idx)]
    for epoch in range(start_epoch + 1, config.epochs + 1):
        t0 = time.perf_counter()
        torch.manual_seed(config.seed * 100003 + epoch)   # dropout etc.: same stream when resumed
        shuffle = torch.Generator().manual_seed(config.seed * 100003 + epoch)
        g = torch.Generator(device=device).manual_seed(config.seed * 100003 + epoch + 50021)
        order = torch.randperm(n_train, generator=shuffle)
        losses, accs, weights = [], [], []
        for b in range(n_batches):
            cancel.raise_if_cancelled(partial=last_ckpt)
            sel = order[b * config.batch_size:(b + 1) * config.batch_size]
            x = train_x[sel].to(device, non_blocking=True)
            y = train_y[sel].to(device, non_blocking=True)
            step = (epoch - 1) * n_batches + b
            for group in optimizer.param_groups:
                group["lr"] = config.lr_at(step, total)
            loss, acc = _train_step(student, mode, optimizer, x, y, config, g, autocast,
                                    eps_scale=config.eps_scale(step, total))
            losses.append(loss)
            accs.append(acc)
            weights.append(len(sel))
            done = (epoch - 1) * n_batches + b + 1
            yield Progress("train", done, total,
                           f"Epoch {epoch}/{config.epochs}, batch {b + 1}/{n_batches}: loss {loss:.4f}",
                           {"kind": "batch", "epoch": epoch, "epochs": config.epochs, "batch": b + 1,
                            "n_batches": n_batches, "loss": loss, "accuracy": acc})
        n = sum(weights)
        mean_loss = sum(v * w for v, w in zip(losses, weights)) / n
        mean_acc = sum(a * w for a, w in zip(accs, weights)) / n
        clean, robust = _validate(student, mode, tdata, val_idx, config, device, cancel, autocast, last_ckpt)
        record = EpochRecord(epoch, mean_loss, mean_acc, clean, robust, time.perf_counter() - t0)
        _, state_path = checkpoint_paths_for(out_dir, epoch)
        record.checkpoint = state_path.name
        history.append(record)
        save_checkpoint(out_dir, epoch, network, optimizer, {
            "fingerprint": fingerprint, "history": to_jsonable(history), "config": config.to_dict(),
            "rng": {"seed": config.seed, "next_epoch": epoch + 1,
                    "scheme": "generators seeded with seed * 100003 + epoch"},
        })
        last_ckpt = str(state_path)
        yield Progress("train", epoch * n_batches, total, _epoch_line(record, config.epochs),
                       {"kind": "epoch", "epoch": epoch, "epochs": config.epochs, **_record_data(record),
                        "checkpoint": state_path.name})

    cancel.raise_if_cancelled(partial=last_ckpt)
    yield Progress("train", total, total, "Writing the hardened model", {"kind": "save"})
    weights_path, card_path, weights_sha = _write_final_model(out_dir, network, card, config, parent_info,
                                                              data_info, history, tdata, device)
    result = TrainingResult(
        out_dir=str(out_dir), model_card_path=str(card_path), weights_path=str(weights_path),
        config=config.to_dict(), history=history, parent=from_jsonable(ParentModel, parent_info),
        data=from_jsonable(TrainingDataSummary, data_info), device=str(device),
        resumed_from_epoch=start_epoch, elapsed_s=time.perf_counter() - t_start, weights_sha256=weights_sha)
    return result


def checkpoint_paths_for(out_dir: Path, epoch: int):
    from medadv_desktop.engine.training.checkpoint import checkpoint_paths

    return checkpoint_paths(out_dir, epoch)


def _record_data(r: EpochRecord) -> dict[str, Any]:
    return {"loss": r.loss, "train_accuracy": r.train_accuracy, "val_clean_accuracy": r.val_clean_accuracy,
            "val_robust_accuracy": r.val_robust_accuracy, "time_s": r.time_s}


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:5.1f}%"


def _epoch_line(r: EpochRecord, epochs: int) -> str:
    """One line per epoch, as the CLI prints it."""
    if r.epoch == 0:
        return (f"before training: validation clean {_pct(r.val_clean_accuracy)}, "
                f"robust (PGD) {_pct(r.val_robust_accuracy)}")
    return (f"epoch {r.epoch}/{epochs}: loss {r.loss:.4f}, train acc {_pct(r.train_accuracy)}, "
            f"validation clean {_pct(r.val_clean_accuracy)}, robust (PGD) {_pct(r.val_robust_accuracy)} "
            f"[{r.time_s:.1f} s]")


def _write_final_model(out_dir: Path, network, card, config: TrainingConfig, parent_info: dict, data_info: dict,
                       history: list[EpochRecord], tdata: TrainingData, device) -> tuple[Path, Path, str]:
    from safetensors.torch import save as st_save

    from medadv_desktop.engine.models import ModelCard
    from medadv_desktop.engine.serialization import atomic_write_bytes
    from medadv_desktop.engine.training.checkpoint import state_dict_tensors

    blob = st_save(state_dict_tensors(network), metadata={"format": "pt", "producer": "medadv train-adv"})
    weights_path = atomic_write_bytes(out_dir / MODEL_FILE, blob)
    weights_sha = sha256_bytes(blob)
    npu = card.intensity.native_per_unit() if card is not None else None
    native = None if npu is None else config.eps * npu
    record = {
        "method": config.method, "eps": config.eps, "eps_native": native, "norm": "linf",
        "step_size": config.step_size, "steps": config.steps if config.method != "fgsm" else 1,
        "beta": config.beta if config.method == "trades" else None,
        "mix_ratio": config.mix_ratio if config.method == "mix" else None,
        "mix_attack": config.mix_attack if config.method == "mix" else None,
        "epochs": config.epochs, "lr": config.lr, "batch_size": config.batch_size,
        "weight_decay": config.weight_decay, "val_split": config.val_split, "seed": config.seed,
        "optimizer": "AdamW", "batchnorm": "eval mode for generating examples, train mode for updates",
        "data": data_info,
        "metrics": {"before": to_jsonable(history[0]) if history and history[0].epoch == 0 else None,
                    "final": to_jsonable(history[-1]), "history": to_jsonable(history)},
        "device": str(device), "software": _software(),
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    provenance = dict(getattr(card, "provenance", {}) or {}) if card is not None else {}
    provenance.update({"parent_sha256": parent_info["sha256"], "parent": parent_info,
                       "adversarial_training": to_jsonable(record)})
    if card is None:
        raise TrainingError("The model has no model card; cannot write the hardened model's card.")
    new_card = ModelCard.from_dict(card.to_dict(), out_dir / CARD_FILE)
    name = card.name if card.name.endswith(TRAINED_SUFFIX) else card.name + TRAINED_SUFFIX
    new_card.name = name
    new_card.weights = MODEL_FILE
    new_card.sha256 = weights_sha
    new_card.provenance = provenance
    eps_txt = f"{config.eps * 255:g}/255"
    note = (f"Adversarially trained ({config.method}, L-inf eps {eps_txt}, {config.epochs} epochs) from "
            f"'{card.name}'.")
    new_card.intended_use = (card.intended_use + " " + note).strip() if card.intended_use else note
    from medadv_desktop.engine.models import save_card

    card_path = save_card(new_card, out_dir / CARD_FILE)
    return weights_path, card_path, weights_sha
