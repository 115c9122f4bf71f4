"""Data-set evaluation: a labelled data set x attacks x eps grid, with optional exports.

    outcome = yield from evaluation_workflow(classifier, EvaluationRequest(
        data="demo/test", attacks=["fgsm", ("pgd", {"steps": "10"})], eps="1/255,2/255,6HU",
        json="eval.json", pdf="eval.pdf"))

1. every output path is checked before any work (nothing is overwritten);
2. attack names are checked, the eps grid and text parameters are parsed
   against the model card (``6HU`` through its window);
3. the data set folder is read (unreadable files are skipped and counted;
   ``modality`` sets every study's modality);
4. the modality guard compares the studies with the model card
   (:func:`~medadv_desktop.engine.models.guard.guard_job`): warning events
   (``data["kind"] == "warning"``) before any attack, kept in
   ``result.warnings``; ``strict_modality`` refuses instead;
5. :func:`~medadv_desktop.engine.evaluation.evaluate.evaluate_job` runs (samples
   with burned-in annotation are not used as example images unless
   ``examples_with_burned_in``);
6. the result is written as JSON (the whole ``EvaluationResult``), per-sample
   CSV and PDF report when asked.

``medadv evaluate`` and the GUI's "Labelled data set folder" scope call this.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medadv_desktop.engine.jobs import CancelToken, Job, Progress
from medadv_desktop.engine.models.card import ModelCard
from medadv_desktop.engine.results.evaluation import EvaluationResult
from medadv_desktop.errors import AttackConfigError, OutputExistsError

AttackChoice = str | tuple[str, Mapping[str, Any]]


@dataclass
class EvaluationRequest:
    """What to evaluate. Budgets and attack parameters may be text (parsed against the card)."""

    data: Any                                        # a data set folder (str/Path) or a LabelledDataset
    attacks: Sequence[AttackChoice]                  # names or (name, params), in run order
    eps: str | Sequence[str | float]                 # the eps grid: "1/255,2/255,6HU" or a list
    norm: str = "linf"
    batch_size: int = 32
    seed: int = 0
    cascade: bool = True
    full_rows: bool = False
    n_examples: int = 6
    max_samples: int | None = None
    json: str | Path | None = None                   # the whole EvaluationResult
    csv: str | Path | None = None                    # per-sample CSV
    pdf: str | Path | None = None                    # PDF report
    modality: str | None = None                      # set the studies' modality (e.g. "CT") when reading
    strict_modality: bool = False                    # refuse (ModalityMismatchError) instead of warning
    examples_with_burned_in: bool = False            # allow images flagged for burned-in text as examples
    summary_csv: str | Path | None = None            # attack x eps rates with intervals, per class
    plan: Any = None                                 # a TestPlan or the path of one (acceptance criteria)
    requester: str = ""                              # names printed in the reports' sign-off block
    approver: str = ""

    def outputs(self) -> list[Path]:
        return [Path(p) for p in (self.json, self.csv, self.pdf, self.summary_csv) if p]


@dataclass
class EvaluationOutcome:
    result: EvaluationResult
    failures: list[tuple[Path, str]] = field(default_factory=list)   # files of the data set not read
    written: list[Path] = field(default_factory=list)
    verdict: Any = None                              # PlanVerdict when a test plan was applied
    report_id: str = ""                              # the id printed on every report written


def _check_plan_before_run(plan: Any, card: ModelCard | None, request: EvaluationRequest) -> None:
    """Refuse a plan the run could not answer (unknown class, attack not run, eps not in the grid)
    before the model loads: one PlanError naming every criterion's field at fault."""
    from medadv_desktop.engine.attacks import parse_budget_list
    from medadv_desktop.engine.plans import PlanError, check_plan_fits

    if card is None:
        return
    npu = card.intensity.native_per_unit()
    grid = parse_budget_list(request.eps, npu)
    names = [n for n, _ in attack_specs(request.attacks, npu)]
    problems = check_plan_fits(plan, class_names=list(card.class_names), attacks=names, eps_grid=grid,
                               native_per_unit=npu)
    if problems:
        raise PlanError("; ".join(problems), source=Path(plan.source).name if plan.source else "",
                        hint="Run the attacks, classes and budgets the plan names, or change the plan.")


def attack_specs(attacks: Sequence[AttackChoice], native_per_unit: float | None = None,
                 units: str = "") -> list[tuple[str, dict[str, Any]]]:
    """``[(name, params)]`` with names checked (unknown names fail before any work) and text
    parameters parsed; at least one attack."""
    from medadv_desktop.engine.attacks import get_attack

    specs: list[tuple[str, dict[str, Any]]] = []
    for choice in attacks:
        name, params = (choice, {}) if isinstance(choice, str) else (str(choice[0]), dict(choice[1] or {}))
        name = name.strip().lower()
        if not name:
            continue
        cls = get_attack(name)
        specs.append((cls.name, cls.parse_params(params, native_per_unit, units)))
    if not specs:
        raise AttackConfigError("choose at least one attack, e.g. fgsm,pgd", parameter="attacks")
    return specs


def evaluation_workflow(classifier: Any, request: EvaluationRequest, *, device: str | None = None,
                        cancel: CancelToken | None = None,
                        on_attack_progress: Callable[[Progress], None] | None = None) -> Job[EvaluationOutcome]:
    """Run the evaluation of ``request`` (see the module doc) with ``classifier`` (a loaded classifier,
    or a model card / its path, then loaded on ``device`` after the cheap checks).

    Events: stage ``"evaluate"``; the one after reading the data set has
    ``data["kind"] == "dataset"`` with its size and ``n_failures``.
    """
    from medadv_desktop.engine.attacks import parse_budget_list
    from medadv_desktop.engine.evaluation.evaluate import evaluate_job
    from medadv_desktop.engine.reports.traceability import ReportMeta

    for path in request.outputs():
        if path.exists():
            raise OutputExistsError(path)
    attack_specs(request.attacks)                       # unknown names fail before any work
    if request.modality:
        from medadv_desktop.engine.io import normalize_modality

        normalize_modality(request.modality)             # a bad code fails before any work
    names = ReportMeta.create(requester=request.requester, approver=request.approver)   # checked before the run
    plan = request.plan
    if isinstance(plan, (str, Path)):
        from medadv_desktop.engine.plans import load_plan

        plan = load_plan(plan)
    if isinstance(classifier, (str, Path, ModelCard)):
        from medadv_desktop.engine.attacks import parse_budget_list
        from medadv_desktop.engine.models import load_classifier

        # every argument error before the weights load: budgets, attack parameters, the plan
        card_only = classifier if isinstance(classifier, ModelCard) else ModelCard.load(classifier)
        npu_only = card_only.intensity.native_per_unit()
        parse_budget_list(request.eps, npu_only)
        attack_specs(request.attacks, npu_only)
        if plan is not None:
            _check_plan_before_run(plan, card_only, request)
        yield Progress("evaluate", 0, 0, "Loading the model")
        classifier = load_classifier(card_only, device=device)
    elif plan is not None:
        _check_plan_before_run(plan, getattr(classifier, "card", None), request)
    card = getattr(classifier, "card", None)
    npu = card.intensity.native_per_unit() if card is not None else None
    attacks = attack_specs(request.attacks, npu)
    grid = parse_budget_list(request.eps, npu)

    dataset = request.data
    if isinstance(dataset, (str, Path)):
        from medadv_desktop.engine.datasets import LabelledDataset

        yield Progress("evaluate", 0, 0, "Reading the data set")
        class_names = list(getattr(classifier, "class_names", None) or getattr(card, "class_names", []))
        dataset = LabelledDataset.from_folder(dataset, class_names, modality=request.modality)
    failures = list(getattr(dataset, "failures", []))
    yield Progress("evaluate", 0, 0, f"Data set: {len(dataset)} samples"
                   + (f", {len(failures)} file(s) not read" if failures else ""),
                   {"kind": "dataset", "n_samples": len(dataset), "n_failures": len(failures)})
    from medadv_desktop.engine.models.guard import guard_job

    warnings = yield from guard_job(card, getattr(dataset, "studies", []) or [], "evaluate",
                                    strict=request.strict_modality)
    result = yield from evaluate_job(
        classifier, dataset, attacks, grid, norm=request.norm, batch_size=request.batch_size, seed=request.seed,
        cascade=request.cascade, full_rows=request.full_rows, n_examples=request.n_examples,
        max_samples=request.max_samples, cancel=cancel, on_attack_progress=on_attack_progress,
        examples_with_burned_in=request.examples_with_burned_in)
    result.warnings = list(warnings)
    verdict = None
    if plan is not None:
        from medadv_desktop.engine.plans import evaluate_plan

        verdict = evaluate_plan(plan, result)
    meta = ReportMeta.create(requester=names.requester, approver=names.approver, verdict=verdict)
    outcome = EvaluationOutcome(result, failures, verdict=verdict, report_id=meta.report_id)
    if request.json:
        from medadv_desktop.engine.reports.tables import write_result_json

        outcome.written.append(write_result_json(result, request.json, meta=meta))
    if request.csv:
        from medadv_desktop.engine.reports import write_csv

        outcome.written.append(write_csv(result, request.csv))
    if request.summary_csv:
        from medadv_desktop.engine.reports import write_summary_csv

        outcome.written.append(write_summary_csv(result, request.summary_csv, meta=meta))
    if request.pdf:
        from medadv_desktop.engine.reports import write_pdf

        outcome.written.append(write_pdf(result, request.pdf, meta=meta))
    return outcome
