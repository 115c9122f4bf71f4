"""Data-set evaluation: a labelled data set x attacks x eps grid, with optional exports.

    outcome = yield from evaluation_workflow(classifier, EvaluationRequest(
        data="demo/test", attacks=["fgsm", ("pgd", {"steps": "10"})], eps="1/255,2/255,6HU",
        json="eval.json", pdf="eval.pdf"))

1. the request's numbers and every output path are checked before any work
   (nothing is overwritten; no output may be an input: the data set folder,
   the model card, its weights; two outputs may not share a file);
2. attack names and parameters are checked (a suite name such as
   ``"standard"`` becomes its attacks with their settings, and the result's
   provenance records the suite), the eps grid and text parameters are parsed
   against the model card (``6HU`` through its window), all before the model
   is loaded when ``classifier`` is a card;
3. the data set folder is read (unreadable files are skipped and counted;
   ``modality`` sets every study's modality) and native-unit budgets are
   checked against its units;
4. the modality guard compares the studies with the model card
   (:func:`~medadv_desktop.engine.models.guard.guard_job`): warning events
   (``data["kind"] == "warning"``) before any attack, kept in
   ``result.warnings``; ``strict_modality`` refuses instead;
5. the model is loaded (when a card was given) and
   :func:`~medadv_desktop.engine.evaluation.evaluate.evaluate_job` runs (samples
   with burned-in annotation are not used as example images unless
   ``examples_with_burned_in``);
6. the result is written as JSON (the whole ``EvaluationResult``), per-sample
   CSV and PDF report when asked, all of them or none (:func:`export_outcome`).
   On a full or read-only disk the
   :class:`~medadv_desktop.errors.OutputWriteError` carries the finished
   outcome (``unsaved``), so a front end can save it elsewhere.

With ``corruptions`` (``medadv evaluate --corruptions a,b --severities 1-5``)
the corruption evaluation (engine/evaluation/corruption.py) runs after the
attacks on the same samples with the same loaded model; the corruptions are
resolved against the data before any attack, the test plan is answered on
both (:func:`~medadv_desktop.engine.plans.evaluate_combined_plan`), and the
JSON and PDF carry both results.

``medadv evaluate`` and the GUI's "Labelled data set folder" scope call this.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medadv_desktop.engine.jobs import CancelToken, Job, Progress
from medadv_desktop.engine.models.card import ModelCard
from medadv_desktop.engine.results.evaluation import EvaluationResult
from medadv_desktop.errors import AttackConfigError, MedAdvError, OutputExistsError, OutputWriteError, ReportError

AttackChoice = str | tuple[str, Mapping[str, Any]]


@dataclass
class EvaluationRequest:
    """What to evaluate. Budgets and attack parameters may be text (parsed against the card)."""

    data: Any                                        # a data set folder (str/Path) or a LabelledDataset
    attacks: Sequence[AttackChoice]                  # names or (name, params), in run order; or one suite name
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
    purpose: str = ""                                # what the report is for (sign-off block)
    suite: str | None = None                         # the suite ``attacks`` was expanded from (recorded)
    corruptions: str | Sequence[str] | None = None    # also the corruption evaluation: default, all or names
    severities: str | Sequence[int] = "1-5"          # its severities (with ``corruptions``)
    corruption_csv: str | Path | None = None         # its table as CSV (with ``corruptions``)

    def outputs(self) -> list[Path]:
        return [Path(p) for p in (self.json, self.csv, self.pdf, self.summary_csv, self.corruption_csv) if p]


@dataclass
class EvaluationOutcome:
    result: EvaluationResult
    failures: list[tuple[Path, str]] = field(default_factory=list)   # files of the data set not read
    written: list[Path] = field(default_factory=list)
    verdict: Any = None                              # PlanVerdict when a test plan was applied
    report_id: str = ""                              # the id printed on every report written
    meta: Any = None                                 # the ReportMeta of the reports (id, names, verdict)
    corruption: Any = None                           # CorruptionEvaluationResult (request.corruptions)
    corruption_skipped: list[tuple[str, str]] = field(default_factory=list)   # left out of default/all, why


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
                               native_per_unit=npu, corruptions_run=request.corruptions is not None)
    if request.corruptions is not None:
        from medadv_desktop.engine.plans import check_corruption_plan_fits
        from medadv_desktop.engine.workflows.corruption import explicit_corruptions, parse_severities

        more = check_corruption_plan_fits(plan, class_names=list(card.class_names),
                                          corruptions=explicit_corruptions(request.corruptions),
                                          severities=parse_severities(request.severities), attack=False,
                                          attacks_run=True)
        problems += [p for p in more if p not in problems]
    if problems:
        raise PlanError("; ".join(problems), source=Path(plan.source).name if plan.source else "",
                        hint="Run the attacks, classes and budgets the plan names, or change the plan.")


def attack_specs(attacks: Sequence[AttackChoice], native_per_unit: float | None = None,
                 units: str = "", *, norm: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    """``[(name, params)]`` with names checked (unknown names fail before any work), text
    parameters parsed and every value validated (with ``norm`` when given); at least one attack.
    One suite name (``["standard"]``) stands for the suite's attacks with their settings
    (``attacks.suite_attacks``)."""
    from medadv_desktop.engine.attacks import get_attack, suite_attacks
    from medadv_desktop.engine.attacks.spec import split_suite

    suite, _ = split_suite(attacks)
    if suite is not None:
        attacks = suite_attacks(suite.name)
    specs: list[tuple[str, dict[str, Any]]] = []
    for choice in attacks:
        name, params = (choice, {}) if isinstance(choice, str) else (str(choice[0]), dict(choice[1] or {}))
        name = name.strip().lower()
        if not name:
            continue
        cls = get_attack(name)
        parsed = cls.parse_params(params, native_per_unit, units)
        cls.check_params({**parsed, **({"norm": norm} if norm is not None else {})})
        specs.append((cls.name, parsed))
    if not specs:
        raise AttackConfigError("choose at least one attack, e.g. fgsm,pgd", parameter="attacks")
    return specs


def check_request(request: EvaluationRequest) -> None:
    """The request's numbers and output paths, before anything is loaded (MedAdvError otherwise)."""
    from medadv_desktop.engine.attacks.spec import NORMS
    from medadv_desktop.engine.workflows.study_attack import check_batch_size

    check_batch_size(request.batch_size)
    if isinstance(request.n_examples, bool) or not isinstance(request.n_examples, int) or request.n_examples < 0:
        raise AttackConfigError(f"{request.n_examples!r} is not a whole number of at least 0", parameter="n_examples")
    if request.max_samples is not None and (isinstance(request.max_samples, bool)
                                            or not isinstance(request.max_samples, int) or request.max_samples < 1):
        raise AttackConfigError(f"{request.max_samples!r} is not a whole number of at least 1",
                                parameter="max_samples")
    if request.norm not in NORMS:
        raise AttackConfigError(f"'{request.norm}' is not one of {', '.join(NORMS)}", parameter="norm")
    if request.modality:
        from medadv_desktop.engine.io import normalize_modality

        normalize_modality(request.modality)             # a bad code fails before the card is even read
    seen: dict[Path, Path] = {}
    for path in request.outputs():
        key = Path(os.path.abspath(path))
        if key in seen:
            raise ReportError(f"Two outputs would be written to the same file '{path.name}'.",
                              hint="Give each output its own file name.")
        seen[key] = path
        if os.path.lexists(path):
            raise OutputExistsError(path)
    if request.corruptions is not None:                 # names and severities before anything is loaded
        from medadv_desktop.engine.workflows.corruption import explicit_corruptions, parse_severities

        parse_severities(request.severities)
        explicit_corruptions(request.corruptions)
    elif request.corruption_csv:
        raise AttackConfigError("the corruption CSV needs the corruption evaluation (corruptions)",
                                parameter="corruption_csv")


def _input_paths(card: ModelCard | None, data: Any) -> list[Path]:
    paths: list[Path] = []
    if isinstance(data, (str, Path)):
        paths.append(Path(data))
    if card is not None and card.path is not None:
        paths.append(card.path)
        try:
            paths.append(card.weights_path)
        except MedAdvError:
            pass
    return paths


def suite_of(request: EvaluationRequest) -> dict[str, Any] | None:
    """What the result records about the suite that ran (``provenance.suite``), or None."""
    from medadv_desktop.engine.attacks.spec import get_suite, split_suite

    suite = get_suite(request.suite) if request.suite else split_suite(request.attacks)[0]
    return None if suite is None else suite.describe()


def _estimate_event(classifier: Any, dataset: Any, attacks: list[tuple[str, dict[str, Any]]], grid: list[float],
                    request: EvaluationRequest) -> Progress | None:
    """The event that says, before any attack step, at most how long the attacks take (``data["kind"] ==
    "estimate"``, ``upper_bound_s``); None for a model without a card (nothing to map a probe batch with)."""
    if not attacks or not grid or getattr(classifier, "card", None) is None:
        return None
    from medadv_desktop.engine.evaluation.estimate import dataset_seconds_upper_bound
    from medadv_desktop.engine.reports.formatting import seconds as seconds_text

    n = min(len(dataset), request.max_samples or len(dataset))
    if n <= 0:
        return None
    upper_s = dataset_seconds_upper_bound(classifier, dataset, attacks, n_samples=n, n_eps=len(grid),
                                          batch_size=request.batch_size, seed=request.seed)
    names = ", ".join(name for name, _ in attacks)
    return Progress("evaluate", 0, 0, f"at most {seconds_text(upper_s)} for {n} samples x {len(grid)} eps with "
                    f"{names} (an upper bound from the measured model speed: attacks stop early on fooled "
                    "samples)",
                    {"kind": "estimate", "n_samples": n, "n_eps": len(grid),
                     "attacks": [name for name, _ in attacks], "upper_bound_s": upper_s}, milestone=True)


def evaluation_workflow(classifier: Any, request: EvaluationRequest, *, device: str | None = None,
                        cancel: CancelToken | None = None,
                        on_attack_progress: Callable[[Progress], None] | None = None) -> Job[EvaluationOutcome]:
    """Run the evaluation of ``request`` (see the module doc) with ``classifier`` (a loaded classifier,
    or a model card / its path, then loaded on ``device`` after the cheap checks and the data).

    Events: stage ``"evaluate"``; the one after reading the data set has
    ``data["kind"] == "dataset"`` with its size and ``n_failures``.
    """
    from medadv_desktop.engine.attacks import parse_budget_list
    from medadv_desktop.engine.evaluation.evaluate import evaluate_job
    from medadv_desktop.engine.reports.traceability import ReportMeta
    from medadv_desktop.engine.safe_write import refuse_output_over_input

    check_request(request)
    attack_specs(request.attacks)                       # unknown names fail before any work
    if request.modality:
        from medadv_desktop.engine.io import normalize_modality

        normalize_modality(request.modality)             # a bad code fails before any work
    names = ReportMeta.create(requester=request.requester, approver=request.approver,   # checked before the run
                              purpose=request.purpose)
    plan = request.plan
    if isinstance(plan, (str, Path)):
        from medadv_desktop.engine.plans import load_plan

        plan = load_plan(plan)
    if isinstance(classifier, (str, Path)):
        card: ModelCard | None = ModelCard.load(classifier)
    elif isinstance(classifier, ModelCard):
        card = classifier
    else:
        card = getattr(classifier, "card", None)
    refuse_output_over_input(request.outputs(), _input_paths(card, request.data))
    if plan is not None:                                # every argument error before the weights load
        _check_plan_before_run(plan, card, request)
    npu = card.intensity.native_per_unit() if card is not None else None
    attacks = attack_specs(request.attacks, npu, norm=request.norm)
    grid = parse_budget_list(request.eps, npu)

    dataset = request.data
    if isinstance(dataset, (str, Path)):
        from medadv_desktop.engine.datasets import LabelledDataset

        yield Progress("evaluate", 0, 0, "Reading the data set")
        class_names = list(getattr(classifier, "class_names", None) or getattr(card, "class_names", []))
        dataset = LabelledDataset.from_folder(dataset, class_names, modality=request.modality)
    if getattr(dataset, "studies", None):        # "6HU" on PNGs, "6mm" on CT: refused before the model loads
        check_units(request.eps, request.attacks, dataset.units)
    failures = list(getattr(dataset, "failures", []))
    yield Progress("evaluate", 0, 0, f"Data set: {len(dataset)} samples"
                   + (f", {len(failures)} file(s) not read" if failures else ""),
                   {"kind": "dataset", "n_samples": len(dataset), "n_failures": len(failures)})
    corruptions: list[tuple[str, dict[str, Any]]] = []
    skipped: list[tuple[str, str]] = []
    if request.corruptions is not None:                 # a misfit (CT dose on MR) before any attack runs
        from medadv_desktop.engine.workflows.corruption import resolve_corruptions

        corruptions, skipped = resolve_corruptions(request.corruptions, dataset, request.seed)
    from medadv_desktop.engine.models.guard import guard_job

    warnings = yield from guard_job(card, getattr(dataset, "studies", []) or [], "evaluate",
                                    strict=request.strict_modality)
    if isinstance(classifier, (str, Path, ModelCard)):
        from medadv_desktop.engine.models import load_classifier

        yield Progress("evaluate", 0, 0, "Loading the model")
        classifier = load_classifier(card if card is not None else classifier, device=device)
    estimate = _estimate_event(classifier, dataset, attacks, grid, request)
    if estimate is not None:
        yield estimate
    result = yield from evaluate_job(
        classifier, dataset, attacks, grid, norm=request.norm, batch_size=request.batch_size, seed=request.seed,
        cascade=request.cascade, full_rows=request.full_rows, n_examples=request.n_examples,
        max_samples=request.max_samples, cancel=cancel, on_attack_progress=on_attack_progress,
        examples_with_burned_in=request.examples_with_burned_in)
    result.warnings = list(warnings)
    suite = suite_of(request)
    if suite is not None:
        result.provenance.suite = suite
    corruption = None
    if corruptions:                                     # the same samples, the same loaded model
        from medadv_desktop.engine.evaluation.corruption import corruption_evaluation_job
        from medadv_desktop.engine.workflows.corruption import parse_severities

        corruption = yield from corruption_evaluation_job(
            classifier, dataset, corruptions, parse_severities(request.severities), seed=request.seed,
            batch_size=request.batch_size, max_samples=request.max_samples, cancel=cancel)
    verdict = None
    if plan is not None:
        from medadv_desktop.engine.plans import evaluate_combined_plan, evaluate_plan

        verdict = (evaluate_combined_plan(plan, result, corruption) if corruption is not None
                   else evaluate_plan(plan, result))
    meta = ReportMeta.create(requester=names.requester, approver=names.approver, verdict=verdict,
                             purpose=names.purpose)
    outcome = EvaluationOutcome(result, failures, verdict=verdict, report_id=meta.report_id, meta=meta,
                                corruption=corruption, corruption_skipped=skipped)
    try:
        export_outcome(outcome, json=request.json, csv=request.csv, summary_csv=request.summary_csv,
                       pdf=request.pdf, corruption_csv=request.corruption_csv)
    except OutputWriteError as exc:          # the finished evaluation is still here: the caller saves it elsewhere
        exc.unsaved = outcome
        raise
    return outcome


def check_units(eps: Any, attacks: Sequence[AttackChoice], units: str) -> None:
    """Budgets typed in native units (the eps grid, each attack's text budgets such as ``alpha``) must be
    in the images' ``units`` (see :func:`~medadv_desktop.engine.attacks.spec.check_budget_units`)."""
    from medadv_desktop.engine.attacks import check_budget_units, get_attack

    check_budget_units(eps if isinstance(eps, str) else [e for e in eps if isinstance(e, str)], units,
                       what="data set")
    for choice in attacks:
        if isinstance(choice, str):
            continue
        name, params = str(choice[0]).strip().lower(), dict(choice[1] or {})
        for spec in get_attack(name).schema():
            if spec.is_budget and isinstance(params.get(spec.name), str):
                check_budget_units(params[spec.name], units, parameter=spec.name, what="data set")


def export_outcome(outcome: EvaluationOutcome, *, json: str | Path | None = None, csv: str | Path | None = None,
                   summary_csv: str | Path | None = None, pdf: str | Path | None = None,
                   corruption_csv: str | Path | None = None) -> list[Path]:
    """Write the result as JSON, per-sample CSV, summary CSV and/or PDF (with ``outcome.meta``): all of
    them or none, never over an existing file. Returns the written paths (also in ``outcome.written``).
    A corruption evaluation run beside (``outcome.corruption``) goes into the same JSON (``corruption``)
    and PDF (its section), and its table into ``corruption_csv``."""
    from medadv_desktop.engine.safe_write import all_or_nothing

    result, meta, corruption = outcome.result, outcome.meta, outcome.corruption
    with all_or_nothing() as written:
        if json:
            from medadv_desktop.engine.reports.tables import write_result_json

            written.append(write_result_json(result, json, meta=meta, corruption=corruption))
        if corruption_csv and corruption is not None:
            from medadv_desktop.engine.reports.corruption_csv import write_corruption_csv

            written.append(write_corruption_csv(corruption, corruption_csv))
        if csv:
            from medadv_desktop.engine.reports import write_csv

            written.append(write_csv(result, csv))
        if summary_csv:
            from medadv_desktop.engine.reports import write_summary_csv

            written.append(write_summary_csv(result, summary_csv, meta=meta))
        if pdf:
            from medadv_desktop.engine.reports import write_pdf

            written.append(write_pdf(result, pdf, meta=meta, corruption=corruption))
    outcome.written.extend(written)
    return list(written)
