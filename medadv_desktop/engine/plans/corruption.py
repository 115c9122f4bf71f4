"""Apply a test plan to a corruption evaluation (``medadv evaluate-corruptions --plan``).

The same rules as :mod:`medadv_desktop.engine.plans.verdict` (pass, fail, not
evaluable; the plan passes only when every criterion passes; exit 0 / 3):

* row metrics (``corruption_accuracy``, ``corruption_sensitivity``,
  ``corruption_specificity``, ``corruption_flip_rate``,
  ``corruption_robust_accuracy``) read the row of the criterion's corruption
  and severity; their interval at the plan's method and confidence comes from
  :func:`~medadv_desktop.engine.plans.verdict.at_plan` (the one home of a
  verdict's interval, shared with the attack evaluation), and the chosen
  bound is compared;
* summary metrics (``corruption_error``, ``relative_ce``, ``mce``,
  ``relative_mce``) are point values over the severities (and corruptions)
  evaluated, named in the verdict row's notes: a CE over severities 1-2 is not
  the CE over 1-5;
* clean metrics are answered from the clean row (severity 0);
* attack metrics and ``no_sanity_flag`` belong to ``medadv evaluate``:
  :func:`check_corruption_plan_fits` lists them as problems before any work;
* ``medadv evaluate --corruptions`` runs both evaluations on the same data:
  :func:`evaluate_combined_plan` answers each criterion from the evaluation
  that measures it (one verdict, one exit code).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from medadv_desktop.engine.plans.schema import Criterion, TestPlan, bound_label
from medadv_desktop.engine.plans.verdict import (
    FAIL,
    PASS,
    PlanVerdict,
    VerdictRow,
    _class_index,
    _holds,
    _judge,
    _not_evaluable,
    _reason,
    overall_status,
)
from medadv_desktop.engine.results.corruption import CorruptionEvaluationResult, Rate
from medadv_desktop.engine.results.evaluation import EvaluationResult

ATTACK_ONLY = "measured by medadv evaluate (attacks), not by the corruption evaluation"


def check_corruption_plan_fits(plan: TestPlan, *, class_names: Sequence[str], corruptions: Sequence[str] | None,
                               severities: Sequence[int], attack: bool, attacks_run: bool = False) -> list[str]:
    """What would make criteria not evaluable, known before the run (one line per problem, naming the
    criterion's field). ``corruptions``: the names to run, or None when chosen from the data later
    (``default``/``all``: only the names' existence is checked). ``attack``: corruption then attack runs.
    ``attacks_run``: an attack evaluation runs beside (``evaluate --corruptions``): attack criteria and
    ``no_sanity_flag`` are then left to :func:`~medadv_desktop.engine.plans.verdict.check_plan_fits`."""
    from medadv_desktop.engine.corruptions import CorruptionConfigError, get_corruption

    problems = []
    run = [c.lower() for c in corruptions] if corruptions is not None else None
    for i, c in enumerate(plan.criteria):
        where = f"criteria[{i}]"
        spec = c.spec
        if spec.under_attack or not spec.rate:
            if not attacks_run:
                problems.append(f"{where}.metric: {c.metric} is {ATTACK_ONLY}")
            continue
        if spec.per_class and _class_index(class_names, c.class_name) is None:
            problems.append(f"{where}.class: '{c.class_name}' is not one of the model's classes "
                            f"({', '.join(class_names)})")
        if c.corruption is not None:
            try:
                name = get_corruption(c.corruption).name
            except CorruptionConfigError as exc:
                problems.append(f"{where}.corruption: {str(exc).split(': ', 1)[-1]}")
                continue
            if run is not None and name not in run:
                problems.append(f"{where}.corruption: '{name}' is not among the corruptions to run "
                                f"({', '.join(run)})")
        if c.severity is not None and c.severity not in severities:
            problems.append(f"{where}.severity: {c.severity} is not among the severities to run "
                            f"({','.join(map(str, severities))})")
        if c.metric == "corruption_robust_accuracy" and not attack:
            problems.append(f"{where}.metric: corruption_robust_accuracy needs an attack after the corruption "
                            "(--attack NAME --eps E)")
    return problems


def evaluate_corruption_plan(plan: TestPlan, result: CorruptionEvaluationResult) -> PlanVerdict:
    """Apply ``plan`` to a corruption evaluation (module doc)."""
    rows = tuple(_evaluate(c, plan, result) for c in plan.criteria)
    return PlanVerdict(
        plan_title=plan.title, plan_version=plan.version, plan_owner=plan.owner, plan_sha256=plan.sha256,
        plan_source=plan.source, confidence=plan.confidence, interval=plan.interval,
        status=overall_status([r.status for r in rows]), rows=rows)


def evaluate_combined_plan(plan: TestPlan, result: EvaluationResult,
                           corruption: CorruptionEvaluationResult) -> PlanVerdict:
    """Apply ``plan`` to an attack evaluation and the corruption evaluation run beside it on the same
    data (``medadv evaluate --corruptions``): corruption criteria are answered by ``corruption``, every
    other criterion (clean, attack, sanity flags) by ``result``, in the plan's order."""
    from medadv_desktop.engine.metrics.per_class import per_class_measures
    from medadv_desktop.engine.plans.verdict import _evaluate as _evaluate_attack

    measures = per_class_measures(result, confidence=plan.confidence, method=plan.interval)
    rows = tuple(_evaluate(c, plan, corruption) if c.spec.under_corruption
                 else _evaluate_attack(c, plan, result, measures) for c in plan.criteria)
    return PlanVerdict(
        plan_title=plan.title, plan_version=plan.version, plan_owner=plan.owner, plan_sha256=plan.sha256,
        plan_source=plan.source, confidence=plan.confidence, interval=plan.interval,
        status=overall_status([r.status for r in rows]), rows=rows)


def _evaluate(c: Criterion, plan: TestPlan, result: CorruptionEvaluationResult) -> VerdictRow:
    conf = plan.confidence
    spec = c.spec
    text = c.describe(confidence=conf)
    if spec.under_attack or not spec.rate:
        return _not_evaluable(c, text, f"{c.metric} is {ATTACK_ONLY}")
    cls_idx = None
    if spec.per_class:
        cls_idx = _class_index(result.class_names, c.class_name)
        if cls_idx is None:
            return _not_evaluable(c, text, f"class '{c.class_name}' is not one of the model's classes "
                                           f"({', '.join(result.class_names)})")
    if spec.corruption in ("summary", "all"):
        return _summary(c, text, plan, result)
    if spec.corruption == "row":
        assert c.corruption is not None and c.severity is not None
        if c.corruption not in result.corruptions:
            return _not_evaluable(c, text, f"corruption '{c.corruption}' was not evaluated "
                                           f"(corruptions: {', '.join(result.corruptions) or 'none'})")
        row = result.row(c.corruption, c.severity)
        if row is None:
            return _not_evaluable(c, text, f"severity {c.severity} was not evaluated "
                                           f"(severities: {','.join(map(str, result.severities))})")
    else:
        row = result.clean
    notes: list[str] = []
    rate: Rate | None
    if c.metric in ("clean_accuracy", "corruption_accuracy"):
        rate = row.accuracy
    elif c.metric == "corruption_flip_rate":
        rate = row.flips
    elif c.metric == "corruption_robust_accuracy":
        if result.attack is None:
            return _not_evaluable(c, text, "no attack ran after the corruptions (--attack NAME --eps E)")
        rate = row.robust_accuracy
        eps = result.attack.get("eps")
        eps_text = f" at eps {float(eps):.4g} ([0, 1] units)" if isinstance(eps, (int, float)) else ""
        notes.append(f"Attack after the corruption: {result.attack.get('name')}{eps_text}.")
    elif c.metric == "balanced_accuracy":
        sens = [r.sensitivity.value for r in row.per_class]
        if not sens or any(v is None for v in sens):
            return _not_evaluable(c, text, "a class has no samples: the balanced accuracy cannot be measured")
        value = sum(float(v) for v in sens if v is not None) / len(sens)
        ok = _holds(value, c.comparison, c.threshold)
        return VerdictRow(criterion_id=c.id, text=text, status=PASS if ok else FAIL, name=c.name, metric=c.metric,
                          measured=value, compared=value, n=row.n_samples,
                          reason=_reason("point estimate", value, c, ok, conf))
    else:
        assert cls_idx is not None
        if cls_idx >= len(row.per_class):
            return _not_evaluable(c, text, "the result holds no per-class rates for this row")
        per = row.per_class[cls_idx]
        rate = per.sensitivity if c.metric.endswith("_sensitivity") else per.specificity
        if c.metric.endswith("_specificity") and len(result.class_names) > 2:
            notes.append("One-vs-rest specificity: every other class counts as negative.")
    if rate is None:
        return _not_evaluable(c, text, "the result holds no such rate for this row")
    return _judge(c, text, rate, plan, notes, eps=None, eps_native=None)


def _summary(c: Criterion, text: str, plan: TestPlan, result: CorruptionEvaluationResult) -> VerdictRow:
    """corruption_error / relative_ce (one corruption) and mce / relative_mce (all): point values."""
    sev = ",".join(map(str, result.severities))
    value: Any
    if c.spec.corruption == "summary":
        s = result.summary(str(c.corruption))
        if s is None:
            return _not_evaluable(c, text, f"corruption '{c.corruption}' was not evaluated "
                                           f"(corruptions: {', '.join(result.corruptions) or 'none'})")
        value = s.relative_ce if c.spec.ratio else s.ce
        over = f"Mean error of {s.corruption} over severities {sev}."
    else:
        value = result.relative_mce if c.spec.ratio else result.mce
        over = f"Mean over the corruptions {', '.join(result.corruptions)} and severities {sev}."
    if result.n_samples == 0:
        return _not_evaluable(c, text, "no samples were evaluated")
    if result.n_samples < c.min_samples:
        return _not_evaluable(c, text, f"only {result.n_samples} samples; the plan asks for at least "
                                       f"{c.min_samples}", n=result.n_samples)
    if value is None:
        why = ("the clean error is 0, so a multiple of it is undefined (use corruption_error or mce)"
               if c.spec.ratio else "the result holds no such value")
        return _not_evaluable(c, text, why, n=result.n_samples)
    value = float(value)
    ok = _holds(value, c.comparison, c.threshold)
    notes = [over, f"Clean error {100.0 * float(result.clean.error or 0.0):.1f} % on {result.n_samples} samples."]
    if c.spec.ratio:
        words = {">=": ("is at least", "is below"), ">": ("is above", "is not above"),
                 "<=": ("is at most", "is above"), "<": ("is below", "is not below")}[str(c.comparison)]
        reason = (f"{bound_label('point', plan.confidence)} {value:.3g}x {words[0] if ok else words[1]} "
                  f"{c.threshold:g}x the clean error")
    else:
        reason = _reason("point estimate", value, c, ok, plan.confidence)
    return VerdictRow(criterion_id=c.id, text=text, status=PASS if ok else FAIL, name=c.name, metric=c.metric,
                      measured=value, compared=value, n=result.n_samples, reason=reason, notes=tuple(notes))


def format_verdict(verdict: PlanVerdict) -> str:
    """The verdict as plain text: the summary line, then one line per criterion with its reason."""
    lines = [verdict.summary()]
    for r in verdict.rows:
        lines.append(f"  [{r.status_word}] {r.criterion_id}: {r.text}: {r.reason}")
    return "\n".join(lines)
