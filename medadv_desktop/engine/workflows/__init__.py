"""Workflows: one module per use case, called by both front ends (CLI and GUI).

Each workflow takes what a user chose (text budgets such as ``4/255`` or
``6HU`` included: they are parsed here, once, against the model card and the
study), runs the engine's jobs and returns a typed outcome. Every workflow is
a cancellable generator of :class:`~medadv_desktop.engine.jobs.Progress`
events, driven by :func:`~medadv_desktop.engine.jobs.run_job` in the CLI and
by the GUI's worker thread.

    from medadv_desktop.engine.workflows import (
        study_attack_workflow, StudyAttackOutcome, write_study_attack_outputs,   # study_attack.py
        evaluation_workflow, EvaluationRequest, EvaluationOutcome,     # evaluation.py
        adversarial_training_workflow, training_phase, retest_phase,   # training.py
        AdversarialTrainingRequest, TrainingPhaseOutcome, RetestOutcome, AdversarialTrainingOutcome,
        RetestSet, retest_set,
        predict_path, PredictionRun, Prediction,                       # predict.py
    )

torch is imported only when a workflow runs, so front ends can import this
package at start-up cheaply.
"""

from __future__ import annotations

from typing import Any

from medadv_desktop.engine._lazy import lazy_attribute

_LAZY = {
    "study_attack_workflow": "study_attack", "StudyAttackOutcome": "study_attack",
    "write_study_attack_outputs": "study_attack",
    "evaluation_workflow": "evaluation", "EvaluationRequest": "evaluation", "EvaluationOutcome": "evaluation",
    "adversarial_training_workflow": "training", "training_phase": "training", "retest_phase": "training",
    "AdversarialTrainingRequest": "training", "TrainingPhaseOutcome": "training", "RetestOutcome": "training",
    "AdversarialTrainingOutcome": "training", "RetestSet": "training", "retest_set": "training",
    "predict_path": "predict", "PredictionRun": "predict", "Prediction": "predict",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    return lazy_attribute(__name__, _LAZY, globals(), name)
