"""Per-class measures with intervals, clean and under attack, from an evaluation's per-sample records.

Definitions (N samples, true label y_i, clean prediction c_i, adversarial
prediction a_i; a sample wrong on clean input is never attacked and keeps
a_i = c_i, as in :mod:`medadv_desktop.engine.metrics.aggregate`):

* clean sensitivity (recall) of class k = #(y_i = k and c_i = k) / #(y_i = k)
* clean specificity of class k (one-vs-rest) = #(y_i != k and c_i != k) / #(y_i != k)
* robust sensitivity of class k = #(y_i = k and a_i = k) / #(y_i = k):
  the share of class-k samples still recognised after the attack (so a
  sample missed on clean input counts as missed);
* robust specificity of class k = #(y_i != k and a_i != k) / #(y_i != k);
* robust accuracy = #(y_i = c_i = a_i) / N; attack success rate =
  #(success_i) / #(correct on clean input), ``success`` as in the summary rows
  (prediction moved off the true class; for a targeted attack, target hit).

For two classes, an untargeted attack that flips a sample flips it to the
other class, so robust sensitivity of one class and robust specificity of
the other are the same worst-case figure. With more classes, an untargeted
attack moves a sample to *some* wrong class, so the robust specificity of
class k counts only the false "k" calls the attack happened to produce; it is
not the worst case for class k (a targeted attack towards k would be), and
:attr:`RobustnessByClass.caveat` says so.

The ``worst-case`` entry per eps combines the attacks' records as
:func:`~medadv_desktop.engine.metrics.aggregate.worst_case_records` does (a
sample is robust only if every attack failed on it). With the attack cascade
(``EvaluationResult.provenance.full_rows`` False), the entries of the
attacks after the first are cumulative (after attacks 1..k), flagged by
``cumulative``. Every rate is a :class:`~.intervals.Proportion` (k, n, value,
low, high; Clopper-Pearson 95 % by default). :func:`paired_robustness` compares two
evaluations of the same samples (before/after adversarial training) with the exact McNemar test
and the interval of the change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from medadv_desktop.engine.metrics.aggregate import worst_case_records
from medadv_desktop.engine.metrics.intervals import (
    DEFAULT_CONFIDENCE, DEFAULT_METHOD, PairedComparison, Proportion, paired_comparison, proportion)
from medadv_desktop.engine.results.evaluation import WORST_CASE, EvaluationResult, SampleRecord
from medadv_desktop.errors import InvalidArgumentError

EPS_MATCH_RTOL = 1e-9

MULTICLASS_SPECIFICITY_CAVEAT = (
    "With more than two classes an untargeted attack moves a sample to some wrong class, so robust "
    "specificity counts only the false calls of each class the attack happened to produce; it is not "
    "that class's worst case.")


@dataclass(frozen=True)
class ClassRates:
    """Sensitivity (recall) and one-vs-rest specificity of one class, with their counts and intervals."""

    class_name: str
    index: int
    sensitivity: Proportion    # n = samples of this class
    specificity: Proportion    # n = samples of the other classes


@dataclass(frozen=True)
class RobustnessByClass:
    """One attack (or ``worst-case``) at one eps: robust accuracy, attack success rate and the
    per-class robust sensitivity/specificity."""

    attack: str
    eps: float
    eps_native: float | None
    cumulative: bool                 # cascade row after the first attack: "after attacks 1..k"
    robust_accuracy: Proportion      # n = all samples
    attack_success_rate: Proportion  # n = samples correct on clean input
    classes: tuple[ClassRates, ...]
    caveat: str | None = None        # set for more than two classes (see module doc)

    def of(self, class_name: str) -> ClassRates | None:
        return next((c for c in self.classes if c.class_name == class_name), None)


@dataclass(frozen=True)
class PerClassMeasures:
    """Clean and robust per-class measures of one evaluation (see module doc)."""

    class_names: tuple[str, ...]
    method: str
    confidence: float
    n_samples: int
    clean_accuracy: Proportion
    clean: tuple[ClassRates, ...]
    robust: tuple[RobustnessByClass, ...]     # per eps (ascending): each attack in run order, then worst-case

    def clean_of(self, class_name: str) -> ClassRates | None:
        return next((c for c in self.clean if c.class_name == class_name), None)

    def at(self, attack: str, eps: float) -> RobustnessByClass | None:
        return next((r for r in self.robust if r.attack == attack and _same_eps(r.eps, eps)), None)


def _same_eps(a: float, b: float) -> bool:
    return abs(a - b) <= EPS_MATCH_RTOL * max(abs(a), abs(b), 1e-12)


def class_rates(y_true: Sequence[int], y_pred: Sequence[int], class_names: Sequence[str], *,
                confidence: float = DEFAULT_CONFIDENCE, method: str = DEFAULT_METHOD) -> tuple[ClassRates, ...]:
    """Per-class sensitivity and one-vs-rest specificity of predictions ``y_pred`` (module doc)."""
    if len(y_true) != len(y_pred):
        raise InvalidArgumentError(f"{len(y_true)} labels but {len(y_pred)} predictions")
    out = []
    for c, name in enumerate(class_names):
        tp = fn = tn = fp = 0
        for t, p in zip(y_true, y_pred, strict=True):
            if t == c:
                tp, fn = (tp + 1, fn) if p == c else (tp, fn + 1)
            else:
                tn, fp = (tn + 1, fp) if p != c else (tn, fp + 1)
        out.append(ClassRates(
            class_name=str(name), index=c,
            sensitivity=proportion(tp, tp + fn, confidence=confidence, method=method),
            specificity=proportion(tn, tn + fp, confidence=confidence, method=method)))
    return tuple(out)


def robustness_by_class(records: Sequence[SampleRecord], class_names: Sequence[str], *, attack: str,
                        eps: float, eps_native: float | None = None, cumulative: bool = False,
                        confidence: float = DEFAULT_CONFIDENCE,
                        method: str = DEFAULT_METHOD) -> RobustnessByClass:
    """Robust accuracy, attack success rate and per-class robust rates of one attack's records
    at one eps (one record per sample)."""
    y = [r.true_label for r in records]
    n = len(records)
    robust = sum(1 for r in records if r.clean_pred == r.true_label and r.adv_pred == r.true_label)
    attacked = [r for r in records if r.success is not None]     # correct on clean input
    fooled = sum(1 for r in attacked if r.success)
    return RobustnessByClass(
        attack=attack, eps=float(eps), eps_native=eps_native, cumulative=cumulative,
        robust_accuracy=proportion(robust, n, confidence=confidence, method=method),
        attack_success_rate=proportion(fooled, len(attacked), confidence=confidence, method=method),
        classes=class_rates(y, [r.adv_pred for r in records], class_names, confidence=confidence, method=method),
        caveat=MULTICLASS_SPECIFICITY_CAVEAT if len(class_names) > 2 else None)


def _grouped(result: EvaluationResult) -> dict[tuple[int, str], list[SampleRecord]]:
    """The records per (eps index in the grid, attack), in sample order."""
    groups: dict[tuple[int, str], list[SampleRecord]] = {}
    for rec in result.samples:
        ei = next((i for i, e in enumerate(result.eps_grid) if _same_eps(e, rec.eps)), None)
        if ei is None:
            raise InvalidArgumentError(f"record {rec.sample_id!r} has eps {rec.eps:g}, which is not in the eps grid")
        groups.setdefault((ei, rec.attack), []).append(rec)
    return groups


def _worst_case(per_attack: list[list[SampleRecord]], eps: float) -> list[SampleRecord]:
    if len({len(r) for r in per_attack}) != 1 or any(
            [s.sample_id for s in r] != [s.sample_id for s in per_attack[0]] for r in per_attack):
        raise InvalidArgumentError(f"the attacks' records at eps {eps:g} are not of the same samples in the same order")
    return worst_case_records(per_attack)


def records_at(result: EvaluationResult, attack: str, eps: float) -> list[SampleRecord] | None:
    """One record per sample for ``attack`` (or ``worst-case``, combined over the attacks in run
    order) at the grid eps ``eps``; None when the result holds no such records."""
    ei = next((i for i, e in enumerate(result.eps_grid) if _same_eps(e, eps)), None)
    if ei is None or not result.samples:
        return None
    groups = _grouped(result)
    if attack != WORST_CASE:
        return groups.get((ei, attack))
    per_attack = [groups[(ei, a)] for a in result.attacks if (ei, a) in groups]
    return _worst_case(per_attack, result.eps_grid[ei]) if per_attack else None


def _outcomes(result: EvaluationResult, attack: str | None, eps: float | None) -> dict[str, bool]:
    if attack is None:
        if not result.samples:
            raise InvalidArgumentError("the result holds no per-sample records")
        first = result.samples[0]
        recs = [r for r in result.samples if r.attack == first.attack and _same_eps(r.eps, first.eps)]
        return {r.sample_id: r.clean_pred == r.true_label for r in recs}
    if eps is None:
        raise InvalidArgumentError("give the eps of the attack")
    found = records_at(result, attack, eps)
    if found is None:
        raise InvalidArgumentError(f"the result holds no records of {attack} at eps {eps:g}")
    return {r.sample_id: r.clean_pred == r.true_label and r.adv_pred == r.true_label for r in found}


def paired_robustness(before: EvaluationResult, after: EvaluationResult, *, attack: str | None = None,
                      eps: float | None = None, confidence: float = DEFAULT_CONFIDENCE,
                      method: str = DEFAULT_METHOD) -> PairedComparison:
    """Before/after on the same samples (matched by sample id): clean accuracy (``attack`` None) or
    robust accuracy under ``attack`` (or ``worst-case``) at ``eps``, with the exact McNemar test and
    the interval of the change (:func:`~.intervals.paired_comparison`)."""
    b = _outcomes(before, attack, eps)
    a = _outcomes(after, attack, eps)
    if set(b) != set(a) or len(b) == 0:
        raise InvalidArgumentError(f"before and after are not the same samples ({len(b)} and {len(a)} sample ids, "
                         f"{len(set(b) & set(a))} shared)")
    ids = sorted(b)
    return paired_comparison([b[i] for i in ids], [a[i] for i in ids], confidence=confidence, method=method)


def per_class_measures(result: EvaluationResult, *, confidence: float = DEFAULT_CONFIDENCE,
                       method: str = DEFAULT_METHOD) -> PerClassMeasures:
    """Clean and robust per-class measures of ``result`` (module doc).

    The clean rates come from the per-sample records when there are any, else from the clean
    confusion matrix; the robust ones need the per-sample records (``robust`` is empty without).
    """
    names = tuple(result.class_names)
    groups = _grouped(result) if result.samples else {}
    y_true: list[int]
    y_pred: list[int]
    if groups:
        first = next(iter(groups.values()))
        y_true = [r.true_label for r in first]
        y_pred = [r.clean_pred for r in first]
    else:
        y_true, y_pred = [], []
        for t, counts in enumerate(result.clean_confusion):
            for p, count in enumerate(counts):
                y_true.extend([t] * int(count))
                y_pred.extend([p] * int(count))
    n = len(y_true)
    correct = sum(1 for t, p in zip(y_true, y_pred, strict=True) if t == p)
    clean = class_rates(y_true, y_pred, names, confidence=confidence, method=method)

    robust: list[RobustnessByClass] = []
    for ei, eps in enumerate(result.eps_grid):
        eps_native = result.eps_native[ei] if ei < len(result.eps_native) else None
        per_attack = []
        for attack in result.attacks:
            recs = groups.get((ei, attack))
            if not recs:
                continue
            row = result.row(attack, eps)
            robust.append(robustness_by_class(
                recs, names, attack=attack, eps=eps, eps_native=eps_native,
                cumulative=bool(row.cumulative) if row is not None else False,
                confidence=confidence, method=method))
            per_attack.append(recs)
        if per_attack:
            robust.append(robustness_by_class(
                _worst_case(per_attack, eps), names, attack=WORST_CASE, eps=eps, eps_native=eps_native,
                confidence=confidence, method=method))
    return PerClassMeasures(
        class_names=names, method=method, confidence=float(confidence), n_samples=n,
        clean_accuracy=proportion(correct, n, confidence=confidence, method=method),
        clean=clean, robust=tuple(robust))
