"""Measures of perturbations and robustness, and sanity flags (no Qt)."""

from medadv_desktop.engine.metrics.aggregate import (
    ClassificationSummary, classification_summary, confusion_matrix, summarize_records,
    transition_matrix, worst_case_records)
from medadv_desktop.engine.metrics.distances import (
    L0_TOLERANCE, PerturbationMeasures, as_two_class_logits, perturbation_measures, ssim,
    true_class_confidence)
from medadv_desktop.engine.metrics.flags import (
    check_black_box_beats_white_box, check_nondeterminism, check_probabilities,
    check_zero_gradients, model_sanity_flags)

__all__ = [
    "ClassificationSummary", "classification_summary", "confusion_matrix", "summarize_records",
    "transition_matrix", "worst_case_records", "L0_TOLERANCE", "PerturbationMeasures",
    "as_two_class_logits", "perturbation_measures", "ssim", "true_class_confidence",
    "check_black_box_beats_white_box", "check_nondeterminism", "check_probabilities",
    "check_zero_gradients", "model_sanity_flags",
]
