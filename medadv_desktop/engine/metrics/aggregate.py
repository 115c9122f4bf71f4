"""Aggregated measures: accuracy, per-class statistics, attack summaries.

Definitions (N samples, K classes, true label y_i, clean prediction c_i,
adversarial prediction a_i):

* clean accuracy = #(c_i == y_i) / N
* sensitivity of class k = #(c_i == k and y_i == k) / #(y_i == k)   (recall)
* specificity of class k = #(c_i != k and y_i != k) / #(y_i != k)
* balanced accuracy = mean sensitivity over the classes present in y
* robust accuracy = #(c_i == y_i and a_i == y_i) / N  (a sample that is wrong
  on clean input is never robust)
* attack success rate = #(success_i) / #(c_i == y_i): over the samples that
  were correct on clean input only; ``success`` is "prediction changed away
  from the true class" (untargeted) or "target class hit" (targeted).
* transition matrix T[t][p] = #(y_i == t and a_i == p) over all N samples
  (samples wrong on clean input enter with their clean prediction).
* distances, SSIM, PSNR and confidence drop (clean minus adversarial
  probability of the true class) are averaged over the *attacked* samples
  (correct on clean input); PSNR ignores identical images (infinite PSNR).
* queries: mean and median over the successful samples (as in the Square
  paper); over all attacked samples when none succeeded.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from medadv_desktop.engine.results.evaluation import WORST_CASE, AttackRow, ClassMetrics, SampleRecord


@dataclass
class ClassificationSummary:
    accuracy: float
    balanced_accuracy: float
    per_class: list[ClassMetrics]
    confusion: list[list[int]]    # [true][predicted]


def confusion_matrix(y_true: Iterable[int], y_pred: Iterable[int], n_classes: int) -> list[list[int]]:
    """K x K counts, rows = true class, columns = predicted class."""
    m = np.zeros((n_classes, n_classes), dtype=np.int64)
    for t, p in zip(y_true, y_pred):
        m[int(t), int(p)] += 1
    return m.tolist()


transition_matrix = confusion_matrix   # true -> adversarial prediction: the same counting


def classification_summary(y_true: Sequence[int], y_pred: Sequence[int],
                           class_names: Sequence[str]) -> ClassificationSummary:
    """Accuracy, balanced accuracy and per-class sensitivity/specificity (module doc)."""
    k = len(class_names)
    yt = np.asarray(y_true, dtype=np.int64)
    yp = np.asarray(y_pred, dtype=np.int64)
    n = yt.size
    acc = float((yt == yp).mean()) if n else 0.0
    per_class: list[ClassMetrics] = []
    sens_present = []
    for c in range(k):
        pos = yt == c
        neg = ~pos
        sens = float((yp[pos] == c).mean()) if pos.any() else None
        spec = float((yp[neg] != c).mean()) if neg.any() else None
        if sens is not None:
            sens_present.append(sens)
        per_class.append(ClassMetrics(class_name=str(class_names[c]), index=c, n=int(pos.sum()),
                                      sensitivity=sens, specificity=spec))
    bal = float(np.mean(sens_present)) if sens_present else 0.0
    return ClassificationSummary(acc, bal, per_class, confusion_matrix(yt, yp, k))


def _mean(values: Iterable[float | None]) -> float | None:
    v = [float(x) for x in values if x is not None and math.isfinite(float(x))]
    return float(np.mean(v)) if v else None


def _median(values: Iterable[float | None]) -> float | None:
    v = [float(x) for x in values if x is not None and math.isfinite(float(x))]
    return float(np.median(v)) if v else None


def summarize_records(records: Sequence[SampleRecord], attack: str, eps: float,
                      eps_native: float | None, n_classes: int) -> AttackRow:
    """One :class:`AttackRow` from the records of one attack at one eps (one per sample)."""
    n = len(records)
    attacked = [r for r in records if r.success is not None]
    robust = sum(1 for r in records if r.clean_pred == r.true_label and r.adv_pred == r.true_label)
    successes = [r for r in attacked if r.success]
    q_pool = successes if successes else attacked
    return AttackRow(
        attack=attack, eps=float(eps), eps_native=eps_native, n_samples=n,
        robust_accuracy=robust / n if n else 0.0,
        attack_success_rate=(len(successes) / len(attacked)) if attacked else None,
        mean_linf=_mean(r.linf for r in attacked),
        mean_l2=_mean(r.l2 for r in attacked),
        mean_l0=_mean(r.l0 for r in attacked),
        mean_linf_native=_mean(r.linf_native for r in attacked),
        mean_l2_native=_mean(r.l2_native for r in attacked),
        mean_psnr=_mean(r.psnr for r in attacked),
        mean_ssim=_mean(r.ssim for r in attacked),
        mean_conf_drop=_mean(r.clean_conf_true - r.adv_conf_true for r in attacked),
        mean_queries=_mean(r.queries for r in q_pool),
        median_queries=_median(r.queries for r in q_pool),
        time_s=float(sum(r.time_s for r in records)),
        transitions=transition_matrix([r.true_label for r in records],
                                      [r.adv_pred for r in records], n_classes),
    )


def worst_case_records(per_attack: Sequence[Sequence[SampleRecord]]) -> list[SampleRecord]:
    """Combine the records of several attacks (same samples, same order) into one
    record per sample for the worst case over the attacks, as a cascade would:

    a sample is fooled if *any* attack moved its prediction away from the true
    class; it keeps the record of the first attack (in run order) that fooled
    it. A sample robust to every attack keeps the record of the last attack
    (its distances are those of the last attempt). Queries and time add up
    over the attacks up to and including the chosen one (what a cascade spends).
    """
    if not per_attack:
        return []
    out: list[SampleRecord] = []
    for i in range(len(per_attack[0])):
        recs = [attack_recs[i] for attack_recs in per_attack]
        idx = next((j for j, r in enumerate(recs) if r.success is not None and r.adv_pred != r.true_label),
                   len(recs) - 1)
        chosen = recs[idx]
        fooled = chosen.adv_pred != chosen.true_label and chosen.success is not None
        out.append(SampleRecord(
            sample_id=chosen.sample_id, true_label=chosen.true_label, attack=WORST_CASE,
            eps=chosen.eps, clean_pred=chosen.clean_pred, adv_pred=chosen.adv_pred,
            clean_conf_true=chosen.clean_conf_true, adv_conf_true=chosen.adv_conf_true,
            success=None if chosen.success is None else bool(fooled),
            linf=chosen.linf, l2=chosen.l2, l0=chosen.l0, linf_native=chosen.linf_native,
            l2_native=chosen.l2_native, psnr=chosen.psnr, ssim=chosen.ssim,
            queries=int(sum(r.queries for r in recs[:idx + 1])),
            time_s=float(sum(r.time_s for r in recs[:idx + 1]))))
    return out
