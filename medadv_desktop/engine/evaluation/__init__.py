"""Evaluation: the data set x attacks x eps job, single-study attacks, results (no Qt).

    from medadv_desktop.engine.evaluation import (
        evaluate_job, attack_study_job, StudyAttackResult,
        EvaluationResult, AttackRow, SampleRecord, SanityFlag, ExamplePanel, WORST_CASE)

torch is imported only when a job is first used, so the GUI can import this
package (and the result dataclasses) at start-up cheaply.
"""

from __future__ import annotations

from typing import Any

from medadv_desktop.engine._lazy import lazy_attribute
from medadv_desktop.engine.results import (
    WORST_CASE, AttackRow, EvaluationResult, ExamplePanel, SampleRecord, SanityFlag, StudyAttackResult)

_LAZY = {"evaluate_job": "evaluate", "attack_study_job": "study_attack"}

__all__ = ["WORST_CASE", "AttackRow", "EvaluationResult", "ExamplePanel", "SampleRecord", "SanityFlag",
           "StudyAttackResult", *_LAZY]


def __getattr__(name: str) -> Any:
    return lazy_attribute(__name__, _LAZY, globals(), name)
