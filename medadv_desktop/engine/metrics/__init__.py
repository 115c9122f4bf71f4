"""Measures of perturbations and robustness, and sanity flags (no Qt).

The names below load their module on first use (``__getattr__``): ``intervals`` and ``per_class``
need no torch, so a script that imports only them (``engine.metrics.intervals``) stays light;
``aggregate``, ``distances`` and ``flags`` import torch when first used.
"""

from __future__ import annotations

from typing import Any

from medadv_desktop.engine._lazy import lazy_attribute

_LAZY: dict[str, str] = {
    **dict.fromkeys((
        "ClassificationSummary", "classification_summary", "confusion_matrix", "summarize_records",
        "transition_matrix", "worst_case_records",
    ), "aggregate"),
    **dict.fromkeys((
        "L0_TOLERANCE", "PerturbationMeasures", "as_two_class_logits", "perturbation_measures", "ssim",
        "true_class_confidence",
    ), "distances"),
    **dict.fromkeys((
        "check_black_box_beats_white_box", "check_nondeterminism", "check_probabilities",
        "check_zero_gradients", "model_sanity_flags",
    ), "flags"),
    **dict.fromkeys((
        "CLOPPER_PEARSON", "WILSON", "PairedComparison", "Proportion", "clopper_pearson_interval",
        "mcnemar_exact", "newcombe_paired_interval", "paired_caution", "paired_comparison",
        "paired_comparison_counts", "proportion", "proportion_interval", "small_sample_caution",
        "wilson_interval",
    ), "intervals"),
    **dict.fromkeys((
        "ClassRates", "PerClassMeasures", "RobustnessByClass", "class_rates", "paired_robustness",
        "per_class_measures", "records_at", "robustness_by_class",
    ), "per_class"),
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    return lazy_attribute(__name__, _LAZY, globals(), name)
