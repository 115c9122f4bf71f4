"""Apply a test plan to an evaluation: one verdict row per criterion and an overall verdict.

A criterion is

* **pass** when the chosen bound of the measured rate (the lower or upper end
  of its interval at the plan's confidence, or the point estimate) satisfies
  the comparison with the threshold;
* **fail** when it does not;
* **not evaluable** when the evaluation cannot answer it: the class, attack or
  eps was not in the run, no per-sample records, no samples behind the rate,
  or fewer than the criterion's ``min_samples``. The reason is given.

The plan **passes** only when every criterion passes; any fail makes it
**fail**; otherwise (some not evaluable, none failed) it is **not
evaluable**. For scripted gating the exit code is :data:`EXIT_PASS` (0) for a
pass and :data:`EXIT_FAIL` (3) for anything else: a gate never opens on a
criterion that could not be checked.

Eps matching: a criterion's budget is resolved against the evaluated model
(native units such as HU through its intensity window) and matches the grid
eps it equals as written: exactly for fractions (2/255), and to the precision
written for decimals (0.0078, or 3.1 HU for 2/255 = 3.14 HU), never more than
5 % apart. The row names the eps evaluated in both units.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from medadv_desktop.engine.metrics.intervals import Proportion, proportion
from medadv_desktop.engine.metrics.per_class import PerClassMeasures, per_class_measures
from medadv_desktop.engine.plans.schema import Criterion, TestPlan, bound_label, parse_budget
from medadv_desktop.engine.results.evaluation import WORST_CASE, EvaluationResult
from medadv_desktop.errors import AttackConfigError

PASS = "pass"
FAIL = "fail"
NOT_EVALUABLE = "not_evaluable"
STATUS_WORDS = {PASS: "PASS", FAIL: "FAIL", NOT_EVALUABLE: "NOT EVALUABLE"}

EXIT_PASS = 0
EXIT_FAIL = 3            # the plan failed or could not be fully evaluated (errors a user caused stay 2)

EPS_MAX_RELATIVE_GAP = 0.05

CORRUPTION_ONLY = "a corruption criterion: measured by medadv evaluate-corruptions, not by the attack evaluation"


def exit_code(status: str | PlanVerdict) -> int:
    """The process exit code of a plan verdict: 0 when it passed, 3 otherwise."""
    s = status.status if isinstance(status, PlanVerdict) else status
    return EXIT_PASS if s == PASS else EXIT_FAIL


@dataclass(frozen=True)
class VerdictRow:
    """The verdict on one criterion. ``measured`` is the point estimate (a count for
    ``no_sanity_flag``), ``compared`` the value held against the threshold (the chosen bound)."""

    criterion_id: str
    text: str                     # the criterion in words
    status: str                   # pass | fail | not_evaluable
    reason: str                   # why, in words ("lower 95 % bound 71.2 % is below 80 %")
    name: str = ""
    metric: str = ""
    measured: float | None = None
    low: float | None = None
    high: float | None = None
    compared: float | None = None
    k: int | None = None
    n: int | None = None
    eps: float | None = None            # the grid eps evaluated ([0, 1] units)
    eps_native: float | None = None
    notes: tuple[str, ...] = ()         # small-sample cautions, cumulative rows, multi-class caveat

    @property
    def status_word(self) -> str:
        return STATUS_WORDS[self.status]


@dataclass(frozen=True)
class PlanVerdict:
    """The plan applied to one evaluation."""

    plan_title: str
    plan_version: str
    plan_owner: str
    plan_sha256: str
    plan_source: str
    confidence: float
    interval: str
    status: str
    rows: tuple[VerdictRow, ...] = field(default_factory=tuple)

    @property
    def exit_code(self) -> int:
        return exit_code(self.status)

    @property
    def status_word(self) -> str:
        return STATUS_WORDS[self.status]

    def counts(self) -> dict[str, int]:
        return {s: sum(1 for r in self.rows if r.status == s) for s in (PASS, FAIL, NOT_EVALUABLE)}

    def summary(self) -> str:
        """One line: "Test plan 'Demo acceptance' 1.0: FAIL (3 pass, 1 fail, 0 not evaluable)"."""
        c = self.counts()
        version = f" {self.plan_version}" if self.plan_version else ""
        return (f"Test plan '{self.plan_title}'{version}: {self.status_word} "
                f"({c[PASS]} pass, {c[FAIL]} fail, {c[NOT_EVALUABLE]} not evaluable)")


def overall_status(statuses: Sequence[str]) -> str:
    if any(s == FAIL for s in statuses):
        return FAIL
    if any(s == NOT_EVALUABLE for s in statuses) or not statuses:
        return NOT_EVALUABLE
    return PASS


# ---------------------------------------------------------------- eps resolution

def native_per_unit_of(result: EvaluationResult) -> float | None:
    """Native units (HU) per [0, 1] unit of the evaluated model: from the eps grid's native values,
    else the model card's window width; None for per-image intensity mappings."""
    for e, native in zip(result.eps_grid, result.eps_native, strict=False):
        if native is not None and e > 0:
            return float(native) / float(e)
    intensity = result.model.intensity
    return intensity.native_per_unit() if intensity is not None else None


def _written_half_unit(text: str) -> float:
    """Half a unit of the last digit written ('3.1HU' -> 0.05); 0 for fractions and exponents."""
    number = text.strip().rstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz%. ").strip()
    if "/" in number or "e" in number.lower():
        return 0.0
    decimals = len(number.split(".", 1)[1]) if "." in number else 0
    return 0.5 * 10.0 ** (-decimals)


def _eps_label(eps: float, native: float | None, units: str) -> str:
    k = eps * 255.0
    frac = f"{int(round(k))}/255" if eps > 0 and abs(k - round(k)) < 1e-6 * max(1.0, k) else f"{eps:.4g}"
    if native is not None and units:
        return f"{frac} ({native:.3g} {units})"
    return frac


def resolve_eps(criterion: Criterion, eps_grid: Sequence[float], eps_native: Sequence[float | None],
                units: str = "", native_per_unit: float | None = None) -> tuple[int | None, str]:
    """(index of the criterion's eps in ``eps_grid``, "") or (None, the reason it matches none)."""
    assert criterion.eps is not None
    units = units if units and units != "a.u." else ""
    native_written = criterion.eps_value is None
    try:
        want = criterion.eps_value if not native_written else parse_budget(criterion.eps, native_per_unit, units)
    except AttackConfigError as exc:
        return None, f"eps '{criterion.eps}': {str(exc).split(': ', 1)[-1]}"
    assert want is not None
    slack = _written_half_unit(criterion.eps)
    if native_written and native_per_unit:
        slack /= native_per_unit
    best, gap = None, float("inf")
    for i, e in enumerate(eps_grid):
        d = abs(e - want)
        ok = d <= max(1e-9 * max(want, e), slack) and d <= EPS_MAX_RELATIVE_GAP * max(want, 1e-12)
        if ok and d < gap:
            best, gap = i, d
    if best is None:
        natives = list(eps_native) + [None] * (len(eps_grid) - len(eps_native))
        grid = ", ".join(_eps_label(e, n, units) for e, n in zip(eps_grid, natives, strict=True))
        return None, f"eps {criterion.eps} ({want:.4g}) was not evaluated (eps grid: {grid or 'none'})"
    return best, ""


# ---------------------------------------------------------------- evaluation

def evaluate_plan(plan: TestPlan, result: EvaluationResult, *,
                  measures: PerClassMeasures | None = None) -> PlanVerdict:
    """Apply ``plan`` to ``result`` (module doc). ``measures`` may be passed when already computed
    with the plan's interval method and confidence."""
    if measures is None or measures.method != plan.interval or measures.confidence != plan.confidence:
        measures = per_class_measures(result, confidence=plan.confidence, method=plan.interval)
    rows = tuple(_evaluate(c, plan, result, measures) for c in plan.criteria)
    return PlanVerdict(
        plan_title=plan.title, plan_version=plan.version, plan_owner=plan.owner, plan_sha256=plan.sha256,
        plan_source=plan.source, confidence=plan.confidence, interval=plan.interval,
        status=overall_status([r.status for r in rows]), rows=rows)


def _not_evaluable(c: Criterion, text: str, reason: str, **kw) -> VerdictRow:
    return VerdictRow(criterion_id=c.id, text=text, status=NOT_EVALUABLE, reason=reason, name=c.name,
                      metric=c.metric, **kw)


def _class_index(class_names: Sequence[str], name: str | None) -> int | None:
    names = list(class_names)
    if name in names:
        return names.index(name)
    lowered = [n.lower() for n in names]
    return lowered.index(name.lower()) if name and name.lower() in lowered else None


def _evaluate(c: Criterion, plan: TestPlan, result: EvaluationResult, m: PerClassMeasures) -> VerdictRow:
    conf = plan.confidence
    spec = c.spec
    text = c.describe(confidence=conf)
    if spec.under_corruption:
        return _not_evaluable(c, text, CORRUPTION_ONLY)
    if c.metric == "no_sanity_flag":
        hits = [f for f in result.flags if c.codes is None or f.code in c.codes]
        if not hits:
            checked = f"kinds {', '.join(c.codes)}" if c.codes else "any kind"
            return VerdictRow(criterion_id=c.id, text=text, status=PASS, name=c.name, metric=c.metric,
                              reason=f"no sanity flag raised ({checked})", measured=0.0, compared=0.0)
        listed = "; ".join(f"{f.code}: {f.title}" for f in hits)
        return VerdictRow(criterion_id=c.id, text=text, status=FAIL, name=c.name, metric=c.metric,
                          reason=f"{len(hits)} sanity flag{'s' if len(hits) != 1 else ''} raised ({listed})",
                          measured=float(len(hits)), compared=float(len(hits)))

    eps = eps_native = None
    notes: list[str] = []
    cls_idx = None
    if spec.per_class:
        cls_idx = _class_index(result.class_names, c.class_name)
        if cls_idx is None:
            return _not_evaluable(c, text, f"class '{c.class_name}' is not one of the model's classes "
                                           f"({', '.join(result.class_names)})")
    if spec.under_attack:
        ei, why = resolve_eps(c, result.eps_grid, result.eps_native, result.units, native_per_unit_of(result))
        if ei is None:
            return _not_evaluable(c, text, why)
        eps = result.eps_grid[ei]
        eps_native = result.eps_native[ei] if ei < len(result.eps_native) else None
        text = c.describe(eps_label=_eps_label(eps, eps_native, result.units), confidence=conf)
        attacks = [a.lower() for a in result.attacks]
        if c.attack != WORST_CASE and c.attack not in attacks:
            return _not_evaluable(c, text, f"attack '{c.attack}' was not run (attacks: {', '.join(result.attacks)})",
                                  eps=eps, eps_native=eps_native)
        attack = WORST_CASE if c.attack == WORST_CASE else result.attacks[attacks.index(str(c.attack))]
        at = m.at(attack, eps)
        if at is None:
            return _not_evaluable(c, text, "the result holds no per-sample records for this attack and eps "
                                           "(re-run the evaluation and keep its JSON)", eps=eps, eps_native=eps_native)
        if at.cumulative:
            before = result.attacks[:result.attacks.index(attack) + 1]
            notes.append(f"Measured in the attack cascade ({', '.join(before)}): {attack} ran only on the "
                         f"samples the earlier attacks did not fool, so the figure is cumulative (robustness no "
                         f"higher, attack success no lower than {attack} alone).")
        if c.attack == WORST_CASE:
            notes.append(f"Worst case over the attacks run: {', '.join(result.attacks)}.")
        if c.metric == "robust_accuracy":
            p = at.robust_accuracy
        elif c.metric == "attack_success_rate":
            p = at.attack_success_rate
        else:
            assert cls_idx is not None
            rates = at.classes[cls_idx]
            p = rates.sensitivity if c.metric == "robust_sensitivity" else rates.specificity
            if c.metric == "robust_specificity" and at.caveat:
                notes.append(at.caveat)
    elif c.metric == "clean_accuracy":
        p = m.clean_accuracy
    elif c.metric == "balanced_accuracy":
        if m.n_samples == 0:
            return _not_evaluable(c, text, "no samples were evaluated")
        value = float(result.balanced_accuracy)
        ok = _holds(value, c.comparison, c.threshold)
        return VerdictRow(criterion_id=c.id, text=text, status=PASS if ok else FAIL, name=c.name,
                          metric=c.metric, measured=value, compared=value, n=m.n_samples,
                          reason=_reason("point estimate", value, c, ok, conf))
    else:
        assert cls_idx is not None
        rates = m.clean[cls_idx]
        p = rates.sensitivity if c.metric == "clean_sensitivity" else rates.specificity
    return _judge(c, text, p, plan, notes, eps=eps, eps_native=eps_native)


def _what_counts(c: Criterion) -> str:
    if c.metric.endswith("_sensitivity"):
        return f"samples of class '{c.class_name}'"
    if c.metric.endswith("_specificity"):
        return f"samples not of class '{c.class_name}'"
    if c.metric == "attack_success_rate":
        return "samples correct on clean input (the attacked ones)"
    return "samples"


def at_plan(rate: Any, plan: TestPlan) -> Proportion:
    """``rate`` (a :class:`Proportion`, or any k-of-n rate such as a corruption result's ``Rate``) with
    the interval of the plan's method and confidence: the one place where a verdict's interval is
    made. The rate is reused when it was measured that way, else recomputed from its k and n."""
    if (isinstance(rate, Proportion) and rate.method == plan.interval
            and abs(rate.confidence - plan.confidence) < 1e-12):
        return rate
    return proportion(int(rate.k), int(rate.n), confidence=plan.confidence, method=plan.interval)


def _judge(c: Criterion, text: str, rate: Any, plan: TestPlan, notes: list[str], *,
           eps: float | None, eps_native: float | None) -> VerdictRow:
    """The verdict on a rate criterion: the rate at the plan's interval (:func:`at_plan`), its chosen
    bound against the threshold; not evaluable without samples or under ``min_samples``."""
    conf = plan.confidence
    p = at_plan(rate, plan)
    common: dict[str, Any] = dict(measured=p.value, low=p.low, high=p.high, k=p.k, n=p.n, eps=eps,
                                  eps_native=eps_native)
    if p.n == 0 or p.value is None:
        return _not_evaluable(c, text, f"no {_what_counts(c)}: the rate cannot be measured", **common)
    if p.n < c.min_samples:
        return _not_evaluable(c, text, f"only {p.n} {_what_counts(c)}; the plan asks for at least {c.min_samples}",
                              notes=tuple(notes), **common)
    caution = p.caution(subject=c.spec.label)
    if caution:
        notes.insert(0, caution)
    compared = {"lower": p.low, "upper": p.high, "point": p.value}[str(c.bound)]
    ok = _holds(compared, c.comparison, c.threshold)
    return VerdictRow(criterion_id=c.id, text=text, status=PASS if ok else FAIL, name=c.name, metric=c.metric,
                      reason=_reason(bound_label(str(c.bound), conf), compared, c, ok, conf) + f" ({p.k} of {p.n})",
                      compared=compared, notes=tuple(notes), **common)


def _holds(value: float, comparison: str | None, threshold: float | None) -> bool:
    assert comparison is not None and threshold is not None
    return {">=": value >= threshold, ">": value > threshold,
            "<=": value <= threshold, "<": value < threshold}[comparison]


def _reason(what: str, value: float, c: Criterion, ok: bool, conf: float) -> str:
    words = {">=": ("is at least", "is below"), ">": ("is above", "is not above"),
             "<=": ("is at most", "is above"), "<": ("is below", "is not below")}[str(c.comparison)]
    assert c.threshold is not None
    return f"{what} {_pct_beside(value, c.threshold)} % {words[0] if ok else words[1]} {100.0 * c.threshold:.4g} %"


def _pct_beside(value: float, threshold: float) -> str:
    """value in percent with one decimal, or more when one would hide which side of the threshold
    it is on (79.996 % against 80 %: '79.996', not '80.0')."""
    v, t = 100.0 * value, 100.0 * threshold
    for d in range(1, 7):
        shown = float(f"{v:.{d}f}")
        if (shown < t) == (v < t) and (shown > t) == (v > t):
            break
    return f"{v:.{d}f}"


def check_plan_fits(plan: TestPlan, *, class_names: Sequence[str], attacks: Sequence[str],
                    eps_grid: Sequence[float], eps_native: Sequence[float | None] = (), units: str = "",
                    native_per_unit: float | None = None, corruptions_run: bool = False) -> list[str]:
    """What would make criteria not evaluable, known before the run, so that the CLI and the GUI can
    refuse the plan before the model loads or the attacks run: one line per problem naming the
    criterion's field. ``native_per_unit``: the model card's window width (for budgets in HU).
    ``corruptions_run``: a corruption evaluation runs beside the attacks (``evaluate --corruptions``):
    corruption criteria are then left to :func:`~medadv_desktop.engine.plans.corruption.check_corruption_plan_fits`."""
    run_attacks = [a.lower() for a in attacks]
    problems = []
    for i, c in enumerate(plan.criteria):
        where = f"criteria[{i}]"
        if c.spec.under_corruption:
            if not corruptions_run:
                problems.append(f"{where}.metric: {c.metric} is {CORRUPTION_ONLY} (or medadv evaluate "
                                "--corruptions)")
            continue
        if c.spec.per_class and _class_index(class_names, c.class_name) is None:
            problems.append(f"{where}.class: '{c.class_name}' is not one of the model's classes "
                            f"({', '.join(class_names)})")
        if c.spec.under_attack:
            if c.attack != WORST_CASE and c.attack not in run_attacks:
                problems.append(f"{where}.attack: '{c.attack}' is not among the attacks to run "
                                f"({', '.join(run_attacks)})")
            ei, why = resolve_eps(c, eps_grid, eps_native, units, native_per_unit)
            if ei is None:
                problems.append(f"{where}.eps: {why}")
    return problems
