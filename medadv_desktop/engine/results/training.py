"""Results of an adversarial training run: per-epoch records and the run's summary."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from medadv_desktop.engine.serialization import dumps


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
class TrainingResult:
    """What an adversarial training run produced."""

    out_dir: str
    model_card_path: str
    weights_path: str
    config: dict[str, Any]
    history: list[EpochRecord]
    parent: dict[str, Any]            # name, sha256, architecture
    data: dict[str, Any]              # pseudonymous name, n_train, n_val, counts
    device: str = "cpu"
    resumed_from_epoch: int = 0
    elapsed_s: float = 0.0
    weights_sha256: str = ""

    @property
    def final(self) -> EpochRecord:
        return self.history[-1]

    @property
    def baseline(self) -> EpochRecord | None:
        return next((r for r in self.history if r.epoch == 0), None)

    def summary(self) -> dict[str, Any]:
        """A small JSON-able summary (for the before/after table and reports)."""
        cfg = self.config
        out = {k: cfg.get(k) for k in ("method", "eps", "step_size", "steps", "beta", "mix_ratio", "epochs",
                                       "lr", "batch_size", "weight_decay", "seed")}
        out.update({"data": self.data, "parent": self.parent, "device": self.device,
                    "elapsed_s": self.elapsed_s, "final": self.final, "baseline": self.baseline,
                    "model_card": Path(self.model_card_path).name})
        return to_dict(out)

    def to_json(self) -> str:
        return dumps(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainingResult":
        d = dict(d)
        d["history"] = [EpochRecord(**_known(EpochRecord, r)) for r in d.get("history", [])]
        return cls(**_known(cls, d))

    @classmethod
    def from_json(cls, text: str) -> "TrainingResult":
        return cls.from_dict(json.loads(text))


def to_dict(obj: Any) -> Any:
    from medadv_desktop.engine.serialization import to_jsonable

    return to_jsonable(obj)


def _known(cls, d: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in d.items() if k in names}
