"""Acquisition-artefact robustness: corrupt one study, or evaluate a data set x corruptions x severities.

    outcome = yield from corruption_evaluation_workflow(card_path, CorruptionEvaluationRequest(
        data="demo/test", corruptions="default", severities="1-5", json="c.json", csv="c.csv"))
    outcome = yield from corrupt_study_workflow(study, "jpeg2000", 5, out_dir="out/")

The evaluation workflow:

1. every output path is checked before any work (nothing is overwritten);
2. the severities (``1-5``, ``1,3,5``) and the corruption choice are parsed:
   ``default`` is the corruptions whose physics fits the data's modality
   (:func:`~medadv_desktop.engine.corruptions.default_corruptions`), ``all``
   every corruption defined for the data (the others are listed in
   ``outcome.skipped`` with the reason), or names (each must fit the data,
   else one clear error before any work);
3. the optional attack of "corruption then attack" and its eps (``2/255``,
   ``3HU``) are parsed against the model card;
4. :func:`~medadv_desktop.engine.evaluation.corruption.corruption_evaluation_job` runs;
5. the result is written as JSON (``kind``, ``schema_version``), the table as
   CSV, the per-sample records as CSV and the PDF report (with the test plan's
   verdict and the sign-off names) when asked, all of them or none
   (:func:`export_corruption_outcome`).

The single-study workflow corrupts a study in its native units and writes it
like the input (DICOM, NIfTI, PNG), de-identified by default, marked
"SIMULATED ARTEFACT - NOT FOR DIAGNOSIS" (and LossyImageCompression 01 with
the ratio achieved after a lossy JPEG / JPEG 2000 round trip), with a JSON
record of what was done in physical terms.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medadv_desktop.engine.jobs import CancelToken, Job, Progress
from medadv_desktop.engine.models.card import ModelCard
from medadv_desktop.errors import AttackConfigError, MedAdvError, OutputExistsError

CorruptionChoice = str | tuple[str, Mapping[str, Any]]


def parse_severities(text: str | int | Sequence[int]) -> list[int]:
    """``"1-5"``, ``"1,3,5"``, ``"2"``, ``3`` or ``[1, 2]`` -> sorted severities in 1..5."""
    from medadv_desktop.engine.corruptions import CorruptionConfigError

    if isinstance(text, int):
        items: list[int] = [text]
    elif isinstance(text, str):
        items = []
        for part in text.replace(" ", "").split(","):
            if not part:
                continue
            try:
                if "-" in part[1:]:
                    a, b = part.split("-", 1)
                    lo, hi = int(a), int(b)
                    if lo > hi:
                        raise ValueError
                    items.extend(range(lo, hi + 1))
                else:
                    items.append(int(part))
            except ValueError:
                raise CorruptionConfigError(f"'{text}' is not a severity list; write 1-5, 3 or 1,3,5",
                                            parameter="severities") from None
    else:
        items = [int(v) for v in text]
    if not items:
        raise CorruptionConfigError("give at least one severity (1 to 5), e.g. 1-5", parameter="severities")
    bad = [v for v in items if not 1 <= v <= 5]
    if bad:
        raise CorruptionConfigError(f"severity {bad[0]} is outside 1..5 (0 is the clean image, always included)",
                                    parameter="severities")
    return sorted(set(items))


def _choices(corruptions: str | Sequence[CorruptionChoice]) -> list[tuple[str, dict[str, Any]]] | str:
    if isinstance(corruptions, str):
        key = corruptions.strip().lower()
        if key in ("default", "all", ""):
            return key or "default"
        return [(name.strip(), {}) for name in corruptions.split(",") if name.strip()]
    out = []
    for c in corruptions:
        out.append((c, {}) if isinstance(c, str) else (str(c[0]), dict(c[1] or {})))
    return out


def explicit_corruptions(corruptions: str | Sequence[CorruptionChoice]) -> list[str] | None:
    """The registry names of corruptions given by name (unknown names fail here, before any work), or
    None for ``default``/``all`` (chosen from the data later)."""
    from medadv_desktop.engine.corruptions import get_corruption

    choice = _choices(corruptions)
    if isinstance(choice, str):
        return None
    if not choice:
        from medadv_desktop.engine.corruptions import CorruptionConfigError

        raise CorruptionConfigError("choose at least one corruption, e.g. ct_dose,jpeg2000 (or default, all)",
                                    parameter="corruptions")
    return [get_corruption(name).name for name, _ in choice]


def resolve_corruptions(corruptions: str | Sequence[CorruptionChoice], dataset: Any, seed: int = 0
                        ) -> tuple[list[tuple[str, dict[str, Any]]], list[tuple[str, str]]]:
    """The corruptions to run on ``dataset`` and the ones left out with the reason (``all``/``default``).

    Named corruptions must exist and fit every study (else :class:`CorruptionConfigError`)."""
    from medadv_desktop.engine.corruptions import available, create_corruption, default_corruptions, get_corruption
    from medadv_desktop.engine.corruptions.base import CorruptionConfigError
    from medadv_desktop.engine.evaluation.corruption import check_fits

    choice = _choices(corruptions)
    skipped: list[tuple[str, str]] = []
    if isinstance(choice, str):
        if choice == "all":
            names = available()
        else:
            volume = any(getattr(s, "n_slices", 1) > 1 for s in dataset.studies)
            modalities = {str(getattr(s, "modality", "") or "OT") for s in dataset.studies}
            names = [n for n in available() if all(n in default_corruptions(m, volume=volume) for m in modalities)]
        chosen: list[tuple[str, dict[str, Any]]] = []
        for name in names:
            try:
                check_fits(dataset, create_corruption(name, severity=1, seed=seed))
            except CorruptionConfigError as exc:
                skipped.append((name, str(exc)))
                continue
            chosen.append((name, {}))
        if not chosen:
            raise CorruptionConfigError("no corruption is defined for this data set", parameter="corruptions")
        return chosen, skipped
    if not choice:
        raise CorruptionConfigError("choose at least one corruption, e.g. ct_dose,jpeg2000 (or default, all)",
                                    parameter="corruptions")
    out = []
    for name, params in choice:
        cls = get_corruption(name)
        check_fits(dataset, cls(severity=1, seed=seed, **params))
        out.append((cls.name, params))
    return out, skipped


@dataclass
class CorruptionEvaluationRequest:
    """What to evaluate. ``attack``/``eps`` (text budgets allowed) add "corruption then attack"."""

    data: Any                                              # a data set folder (str/Path) or a LabelledDataset
    corruptions: str | Sequence[CorruptionChoice] = "default"
    severities: str | Sequence[int] = "1-5"
    seed: int = 0
    batch_size: int = 32
    max_samples: int | None = None
    attack: CorruptionChoice | None = None                 # e.g. "pgd" or ("pgd", {"steps": "10"})
    eps: str | float | None = None                         # the attack's budget: "2/255", "3HU"
    norm: str = "linf"
    json: str | Path | None = None                         # the whole CorruptionEvaluationResult
    csv: str | Path | None = None                          # the table (one row per corruption and severity)
    samples_csv: str | Path | None = None                  # one row per sample, corruption and severity
    plan: Any = None                                       # a TestPlan (engine/plans): verdict, checked first
    pdf: str | Path | None = None                          # the corruption report (engine/reports/corruption_report)
    requester: str = ""                                    # names printed in the PDF's sign-off block
    approver: str = ""
    purpose: str = ""                                      # why the report was asked for (free text, scrubbed)

    def outputs(self) -> list[Path]:
        return [Path(p) for p in (self.json, self.csv, self.samples_csv, self.pdf) if p]


@dataclass
class CorruptionEvaluationOutcome:
    result: Any                                             # CorruptionEvaluationResult
    skipped: list[tuple[str, str]] = field(default_factory=list)   # corruptions left out (all/default), why
    failures: list[tuple[Path, str]] = field(default_factory=list)  # files of the data set not read
    written: list[Path] = field(default_factory=list)
    verdict: Any = None                                     # PlanVerdict when the request had a plan
    meta: Any = None                                        # ReportMeta of the reports (id, names, verdict)


def _check_plan(request: CorruptionEvaluationRequest, classifier: Any, severities: list[int],
                choice: list[tuple[str, dict[str, Any]]] | str) -> None:
    """Criteria the run cannot answer (a class, corruption or severity not in it, attack metrics) fail
    before the model loads, as one error listing every problem."""
    from medadv_desktop.engine.corruptions import get_corruption
    from medadv_desktop.engine.plans import PlanError, check_corruption_plan_fits

    card = classifier if isinstance(classifier, ModelCard) else getattr(classifier, "card", None)
    if card is None and isinstance(classifier, (str, Path)):
        card = ModelCard.load(classifier)
    class_names = list(getattr(card, "class_names", None) or getattr(classifier, "class_names", []))
    names = None if isinstance(choice, str) else [get_corruption(n).name for n, _ in choice]
    problems = check_corruption_plan_fits(request.plan, class_names=class_names, corruptions=names,
                                          severities=severities, attack=request.attack is not None)
    if problems:
        raise PlanError("; ".join(problems), source=request.plan.source,
                        hint="Run the evaluation the plan asks for, or adapt the plan.")


def corruption_evaluation_workflow(classifier: Any, request: CorruptionEvaluationRequest, *,
                                   device: str | None = None, cancel: CancelToken | None = None
                                   ) -> Job[CorruptionEvaluationOutcome]:
    """Run the corruption evaluation of ``request`` (module doc) with ``classifier`` (loaded, or a model
    card / its path, loaded on ``device`` after the cheap checks). Events: stage ``"corruption"``."""
    from medadv_desktop.engine.evaluation.corruption import corruption_evaluation_job

    outputs = request.outputs()
    for path in outputs:
        if path.exists():
            raise OutputExistsError(path)
    if len({p.resolve() for p in outputs}) != len(outputs):
        raise MedAdvError("Two outputs have the same file name; give each its own.")
    severities = parse_severities(request.severities)
    from medadv_desktop.engine.reports.traceability import ReportMeta

    names = ReportMeta.create(requester=request.requester, approver=request.approver,   # checked before the run
                              purpose=request.purpose)
    choice = _choices(request.corruptions)
    if not isinstance(choice, str):                         # unknown names fail before the model loads
        from medadv_desktop.engine.corruptions import get_corruption

        for name, _ in choice:
            get_corruption(name)
    if request.attack is not None:
        from medadv_desktop.engine.workflows.evaluation import attack_specs

        attack_specs([request.attack])
        if request.eps is None:
            raise AttackConfigError("give the attack's budget, e.g. --eps 2/255", parameter="eps")
    if request.plan is not None:
        _check_plan(request, classifier, severities, choice)
    if isinstance(classifier, (str, Path, ModelCard)):
        from medadv_desktop.engine.models import load_classifier

        yield Progress("corruption", 0, 0, "Loading the model")
        classifier = load_classifier(classifier, device=device)
    card = getattr(classifier, "card", None)
    attack = None
    if request.attack is not None:
        from medadv_desktop.engine.attacks import parse_budget_list
        from medadv_desktop.engine.workflows.evaluation import attack_specs

        npu = card.intensity.native_per_unit() if card is not None else None
        name, params = attack_specs([request.attack], npu)[0]
        grid = parse_budget_list(str(request.eps), npu)
        if len(grid) != 1:
            raise AttackConfigError("give one eps for the attack after the corruption", parameter="eps")
        attack = (name, {**params, "eps": float(grid[0]), "norm": request.norm})

    dataset = request.data
    if isinstance(dataset, (str, Path)):
        from medadv_desktop.engine.datasets import LabelledDataset

        yield Progress("corruption", 0, 0, "Reading the data set")
        class_names = list(getattr(classifier, "class_names", None) or getattr(card, "class_names", []))
        dataset = LabelledDataset.from_folder(dataset, class_names)
    failures = list(getattr(dataset, "failures", []))
    yield Progress("corruption", 0, 0, f"Data set: {len(dataset)} samples"
                   + (f", {len(failures)} file(s) not read" if failures else ""),
                   {"kind": "dataset", "n_samples": len(dataset), "n_failures": len(failures)})
    if request.max_samples is not None and len(dataset) > request.max_samples:
        dataset = dataset.head(int(request.max_samples), seed=request.seed)
    corruptions, skipped = resolve_corruptions(request.corruptions, dataset, request.seed)
    result = yield from corruption_evaluation_job(
        classifier, dataset, corruptions, severities, seed=request.seed, batch_size=request.batch_size,
        attack=attack, cancel=cancel)
    outcome = CorruptionEvaluationOutcome(result, skipped, failures)
    if request.plan is not None:
        from medadv_desktop.engine.plans import evaluate_corruption_plan

        outcome.verdict = evaluate_corruption_plan(request.plan, result)
    outcome.meta = ReportMeta.create(requester=names.requester, approver=names.approver, verdict=outcome.verdict,
                                     purpose=names.purpose)
    outcome.written.extend(export_corruption_outcome(outcome, json=request.json, csv=request.csv,
                                                     samples_csv=request.samples_csv, pdf=request.pdf))
    return outcome


def export_corruption_outcome(outcome: CorruptionEvaluationOutcome, *, json: str | Path | None = None,
                              csv: str | Path | None = None, samples_csv: str | Path | None = None,
                              pdf: str | Path | None = None) -> list[Path]:
    """Write a corruption evaluation as JSON, table CSV, per-sample CSV and/or PDF (with ``outcome.meta``):
    all of them or none, never over an existing file. Returns the written paths."""
    from medadv_desktop.engine.safe_write import all_or_nothing

    result = outcome.result
    with all_or_nothing() as written:
        if json:
            written.append(result.save(json))
        if csv or samples_csv:
            from medadv_desktop.engine.reports.corruption_csv import (
                write_corruption_csv,
                write_corruption_samples_csv,
            )

            if csv:
                written.append(write_corruption_csv(result, csv))
            if samples_csv:
                written.append(write_corruption_samples_csv(result, samples_csv))
        if pdf:
            from medadv_desktop.engine.reports.corruption_report import write_corruption_pdf

            written.append(write_corruption_pdf(result, pdf, meta=outcome.meta))
    return list(written)


@dataclass
class CorruptStudyOutcome:
    record: Any                                   # CorruptionRecord
    study: Any                                    # the corrupted Study (in memory)
    written: list[Path] = field(default_factory=list)


def corrupt_study_workflow(study: Any, corruption: str, severity: int = 1, *, seed: int = 0,
                           params: Mapping[str, Any] | None = None, out_dir: str | Path | None = None,
                           keep_identity: bool = False, cancel: CancelToken | None = None
                           ) -> Job[CorruptStudyOutcome]:
    """Corrupt ``study`` and, with ``out_dir``, write it like the input plus ``<stem>_record.json``.

    The written study is de-identified unless ``keep_identity`` (an explicit opt-in), never overwrites
    a file, and is named from the pseudonym, the corruption and the severity. Stage ``"corrupt"``.
    """
    from medadv_desktop.engine.corruptions import corrupt_study, create_corruption
    from medadv_desktop.engine.io.writers import CORRUPTED_NOTICE, write_study_like
    from medadv_desktop.engine.safe_write import write_new_file
    from medadv_desktop.engine.serialization import dumps

    cancel = cancel or CancelToken()
    c = create_corruption(corruption, severity=severity, seed=seed, **dict(params or {}))
    stem = f"{study.pseudonym or 'STUDY'}_{c.name}_s{c.severity}"
    out = Path(out_dir) if out_dir is not None else None
    record_path = out / f"{stem}_record.json" if out is not None else None
    if out is not None and out.exists() and not out.is_dir():
        raise OutputExistsError(out)
    if record_path is not None and record_path.exists():
        raise OutputExistsError(record_path)
    from medadv_desktop.engine.corruptions import ImageContext

    c.check(study.pixels, ImageContext.from_study(study))     # a misfit (CT dose on MR) before any output
    yield Progress("corrupt", 0, 2, f"{c.describe()}")
    res = corrupt_study(study, c)
    cancel.raise_if_cancelled()
    corrupted = res.to_study(study)
    outcome = CorruptStudyOutcome(res.record, corrupted)
    if out is not None:
        yield Progress("corrupt", 1, 2, "Writing the corrupted study")
        out.mkdir(parents=True, exist_ok=True)
        lossy = None
        ratio = res.record.measured.get("compression_ratio")
        if c.lossy_method and ratio:
            lossy = (c.lossy_method, float(ratio))
        description = f"{c.describe()} seed {seed}"
        outcome.written.extend(write_study_like(study, res.pixels, out, stem=stem, description=description,
                                                keep_identity=keep_identity, notice=CORRUPTED_NOTICE, lossy=lossy))
        summary = {"kind": "corruption_record", "schema_version": 1, "study": study.pseudonym,
                   "synthetic": bool(getattr(study, "synthetic", False)), "de_identified": not keep_identity,
                   "files": [p.name for p in outcome.written], **res.record.to_dict()}
        assert record_path is not None
        outcome.written.append(write_new_file(record_path, dumps(summary).encode("utf-8")))
    yield Progress("corrupt", 2, 2, "Done")
    return outcome
