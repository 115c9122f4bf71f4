"""Adversarial training: harden a model, then re-test it against every attack.

Public API (torch is imported only when a job runs or a torch-side name is
first used, so the GUI can import this package at start-up cheaply)::

    from medadv_desktop.engine.training import (
        TrainingConfig, TrainingConfigError, TrainingError, METHODS,      # config.py
        adversarial_training_job, TrainingResult, EpochRecord,           # job.py
        TrainingData, load_training_data, resolve_split_dirs, robust_accuracy,
        before_after_job, BeforeAfterResult, BeforeAfterRow,             # before_after.py
        pair_results, merge_eps_grid, format_table,
        latest_checkpoint, load_checkpoint, list_checkpoints,            # checkpoint.py
    )
"""

from __future__ import annotations

from typing import Any

from medadv_desktop.engine._lazy import lazy_attribute
from medadv_desktop.engine.training.before_after import (
    CLEAN, BeforeAfterResult, BeforeAfterRow, before_after_job, format_table, merge_eps_grid, pair_results)
from medadv_desktop.engine.training.config import (
    METHODS, MIX_ATTACKS, TrainingConfig, TrainingConfigError, TrainingError)
from medadv_desktop.engine.training.job import (
    CARD_FILE, MODEL_FILE, RUN_FILE, EpochRecord, TrainingData, TrainingResult, adversarial_training_job,
    load_training_data, resolve_split_dirs, robust_accuracy, stratified_split)

_LAZY = {"latest_checkpoint": "checkpoint", "load_checkpoint": "checkpoint", "list_checkpoints": "checkpoint",
         "checkpoint_paths": "checkpoint", "Checkpoint": "checkpoint"}

__all__ = [
    "CLEAN", "BeforeAfterResult", "BeforeAfterRow", "before_after_job", "format_table", "merge_eps_grid",
    "pair_results", "METHODS", "MIX_ATTACKS", "TrainingConfig", "TrainingConfigError", "TrainingError",
    "CARD_FILE", "MODEL_FILE", "RUN_FILE", "EpochRecord", "TrainingData", "TrainingResult",
    "adversarial_training_job", "load_training_data", "robust_accuracy", "resolve_split_dirs", "stratified_split", *_LAZY,
]


def __getattr__(name: str) -> Any:
    return lazy_attribute(__name__, _LAZY, globals(), name)
