"""Result schema: the typed results every reader uses (evaluation, single-study attack,
adversarial training, before/after), their summaries of the model, data set, attacks and
provenance, and the schema version with the migration of older files. Below metrics,
reports and training; imports no torch.
"""

from medadv_desktop.engine.results.before_after import CLEAN, CLEAN_LABEL, BeforeAfterResult, BeforeAfterRow
from medadv_desktop.engine.results.evaluation import (
    WORST_CASE,
    WORST_CASE_LABEL,
    AttackRow,
    ClassMetrics,
    EvaluationResult,
    ExamplePanel,
    SampleRecord,
    SanityFlag,
)
from medadv_desktop.engine.results.modality import ModalityWarning
from medadv_desktop.engine.results.schema import SCHEMA_VERSION
from medadv_desktop.engine.results.study_attack import SlicePrediction, StudyAttackResult, StudyAttackSummary
from medadv_desktop.engine.results.summaries import (
    BLACK_BOX,
    WHITE_BOX,
    AttackInfo,
    DatasetSummary,
    IntensitySummary,
    ModelSummary,
    Provenance,
    complete_attack_info,
)
from medadv_desktop.engine.results.training import (
    EpochRecord,
    ParentModel,
    TrainingDataSummary,
    TrainingResult,
    TrainingSummary,
)

__all__ = [
    "BLACK_BOX", "CLEAN", "CLEAN_LABEL", "SCHEMA_VERSION", "WHITE_BOX", "WORST_CASE", "WORST_CASE_LABEL",
    "AttackInfo", "AttackRow", "BeforeAfterResult", "BeforeAfterRow", "ClassMetrics", "DatasetSummary",
    "EpochRecord", "EvaluationResult", "ExamplePanel", "IntensitySummary", "ModalityWarning", "ModelSummary",
    "ParentModel", "Provenance",
    "SampleRecord", "SanityFlag", "SlicePrediction", "StudyAttackResult", "StudyAttackSummary",
    "TrainingDataSummary", "TrainingResult", "TrainingSummary", "complete_attack_info",
]
