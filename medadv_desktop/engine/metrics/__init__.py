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
from medadv_desktop.engine.metrics.intervals import (
    CLOPPER_PEARSON, WILSON, PairedComparison, Proportion, clopper_pearson_interval, mcnemar_exact,
    newcombe_paired_interval, paired_caution, paired_comparison, paired_comparison_counts, proportion,
    proportion_interval, small_sample_caution, wilson_interval)
from medadv_desktop.engine.metrics.per_class import (
    ClassRates, PerClassMeasures, RobustnessByClass, class_rates, paired_robustness, per_class_measures,
    records_at, robustness_by_class)

__all__ = [
    "ClassificationSummary", "classification_summary", "confusion_matrix", "summarize_records",
    "transition_matrix", "worst_case_records", "L0_TOLERANCE", "PerturbationMeasures",
    "as_two_class_logits", "perturbation_measures", "ssim", "true_class_confidence",
    "check_black_box_beats_white_box", "check_nondeterminism", "check_probabilities",
    "check_zero_gradients", "model_sanity_flags",
    "CLOPPER_PEARSON", "WILSON", "PairedComparison", "Proportion", "clopper_pearson_interval", "mcnemar_exact",
    "newcombe_paired_interval", "paired_caution", "paired_comparison", "paired_comparison_counts", "proportion",
    "proportion_interval", "small_sample_caution", "wilson_interval",
    "ClassRates", "PerClassMeasures", "RobustnessByClass", "class_rates", "paired_robustness",
    "per_class_measures", "records_at", "robustness_by_class",
]
