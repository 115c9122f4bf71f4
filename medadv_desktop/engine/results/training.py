"""Results of an adversarial training run: per-epoch records and the run's summary."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medadv_desktop.engine.results.schema import SCHEMA_VERSION, migrate_training
from medadv_desktop.engine.serialization import dumps, from_jsonable


@dataclass
class EpochRecord:
    """Metrics after one epoch (epoch 0 = the parent model before training).

    Accuracies are fractions in [0, 1]; ``val_robust_accuracy`` is under
    L-inf PGD (``val_pgd_steps`` steps, step 2.5 eps / steps, random start) at
    the training eps; ``loss`` is the mean training loss of the epoch.
    """

    epoch: int
    loss: float | None
    train_accuracy: float | None
    val_clean_accuracy: float | None
    val_robust_accuracy: float | None
    time_s: float = 0.0
    checkpoint: str | None = None     # JSON state file name


@dataclass
class ParentModel:
    """The model a hardened model was trained from."""

    name: str = ""
    architecture: str = ""
    sha256: str | None = None


@dataclass
class TrainingDataSummary:
    """The training data, de-identified: pseudonymous name, split sizes, images per class."""

    name: str = "dataset"
    n_train: int = 0
    n_val: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    synthetic: bool = False


@dataclass
class TrainingSummary:
    """What the before/after table and the reports say about a training run.

    Budgets in [0, 1] image units; accuracies of ``final`` / ``baseline``
    (epoch 0, before training) are fractions.
    """

    method: str = ""
    eps: float | None = None
    step_size: float | None = None
    steps: int | None = None
    beta: float | None = None
    mix_ratio: float | None = None
    epochs: int | None = None
    lr: float | None = None
    batch_size: int | None = None
    weight_decay: float | None = None
    seed: int | None = None
    data: TrainingDataSummary | None = None
    parent: ParentModel | None = None
    device: str = ""
    elapsed_s: float | None = None
    final: EpochRecord | None = None
    baseline: EpochRecord | None = None
    model_card: str = ""              # the hardened card's file name (no folder)


@dataclass
class TrainingResult:
    """What an adversarial training run produced."""

    out_dir: str
    model_card_path: str
    weights_path: str
    config: dict[str, Any]            # TrainingConfig.to_dict()
    history: list[EpochRecord]
    parent: ParentModel
    data: TrainingDataSummary
    device: str = "cpu"
    resumed_from_epoch: int = 0
    elapsed_s: float = 0.0
    weights_sha256: str = ""
    schema_version: int = SCHEMA_VERSION

    @property
    def final(self) -> EpochRecord:
        return self.history[-1]

    @property
    def baseline(self) -> EpochRecord | None:
        return next((r for r in self.history if r.epoch == 0), None)

    def summary(self) -> TrainingSummary:
        """The run's summary (for the before/after table and reports)."""
        cfg = self.config
        return TrainingSummary(
            method=str(cfg.get("method", "")), eps=cfg.get("eps"), step_size=cfg.get("step_size"),
            steps=cfg.get("steps"), beta=cfg.get("beta"), mix_ratio=cfg.get("mix_ratio"), epochs=cfg.get("epochs"),
            lr=cfg.get("lr"), batch_size=cfg.get("batch_size"), weight_decay=cfg.get("weight_decay"),
            seed=cfg.get("seed"), data=self.data, parent=self.parent, device=self.device, elapsed_s=self.elapsed_s,
            final=self.final, baseline=self.baseline, model_card=Path(self.model_card_path).name)

    def to_json(self) -> str:
        return dumps(self)

    @classmethod
    def from_data(cls, data: Any) -> TrainingResult:
        """From JSON data of any schema version (migrated first)."""
        return from_jsonable(cls, migrate_training(data))

    @classmethod
    def from_json(cls, text: str) -> TrainingResult:
        return cls.from_data(json.loads(text))
