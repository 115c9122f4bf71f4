"""Result schema: the typed results every reader uses (evaluation, single-study attack,
adversarial training, before/after). Below metrics, reports and training; imports no torch.
"""

from medadv_desktop.engine.results.before_after import CLEAN, BeforeAfterResult, BeforeAfterRow
from medadv_desktop.engine.results.evaluation import (
    WORST_CASE, AttackRow, EvaluationResult, ExamplePanel, SampleRecord, SanityFlag)
from medadv_desktop.engine.results.modality import ModalityWarning
from medadv_desktop.engine.results.study_attack import StudyAttackResult
from medadv_desktop.engine.results.training import EpochRecord, TrainingResult

__all__ = ["CLEAN", "WORST_CASE", "AttackRow", "BeforeAfterResult", "BeforeAfterRow", "EpochRecord",
           "EvaluationResult", "ExamplePanel", "ModalityWarning", "SampleRecord", "SanityFlag", "StudyAttackResult", "TrainingResult"]
