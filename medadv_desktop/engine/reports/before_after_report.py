"""The adversarial-training before/after result as a report of its own (PDF, CSV, JSON).

What a committee needs to accept a hardened model: both models' SHA-256 (the
hardened one names its parent), the training recipe in words, the re-test set
(size, fingerprint), and per attack and eps the accuracy before and after with
95 % intervals, the change with its paired interval (Newcombe) and the exact
McNemar p-value on the same images, and a caution in words where the change may
be chance. A saved table without the two evaluations (``before_after.json``)
gives the accuracies and their intervals only, and says the change is not tested.

    write_before_after_pdf(table, path, *, meta=None, overwrite=False, include_phi=False)
    write_before_after_csv(table, path, *, meta=None, overwrite=False, include_phi=False)
    write_before_after_json(table, path, *, meta=None, overwrite=False, include_phi=False)
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

from medadv_desktop.engine.reports import formatting as fmt
from medadv_desktop.engine.reports.deid import check_output_name, scrub, scrub_text
from medadv_desktop.engine.reports.traceability import ReportMeta, training_recipe_in_words
from medadv_desktop.engine.reports.verdict_section import paired_rows
from medadv_desktop.engine.results import CLEAN, BeforeAfterResult, EvaluationResult
from medadv_desktop.engine.serialization import atomic_write_bytes, dumps

log = logging.getLogger(__name__)

TITLE = "Adversarial training: before/after report"
CSV_COLUMNS = ["attack", "attack_label", "eps", "eps_fraction", "eps_native", "units", "n_pairs",
               "accuracy_before", "accuracy_before_low", "accuracy_before_high",
               "accuracy_after", "accuracy_after_low", "accuracy_after_high",
               "change", "change_low", "change_high", "mcnemar_p", "right_before_only", "right_after_only",
               "caution", "report_id"]


def _evaluation(table: BeforeAfterResult) -> EvaluationResult:
    """An evaluation to take units, labels and eps from: the after- or before-model's, or one made
    from the table alone (no records)."""
    for ev in (table.after, table.before):
        if ev is not None:
            return ev
    from medadv_desktop.engine.results.summaries import DatasetSummary, ModelSummary

    clean = table.clean
    return EvaluationResult(
        model=ModelSummary(name="hardened model"), dataset=DatasetSummary(n_samples=table.n_samples),
        class_names=[], norm=table.norm, eps_grid=list(table.eps_grid), eps_native=[], units=table.units,
        attacks=list(table.attacks), n_samples=table.n_samples,
        clean_accuracy=float(clean.accuracy_after) if clean is not None and clean.accuracy_after is not None
        else float("nan"), balanced_accuracy=float("nan"), per_class=[], rows=[],
        attack_info=list(table.attack_info))


def _rows(table: BeforeAfterResult, meta: ReportMeta) -> list[dict[str, Any]]:
    from medadv_desktop.engine.metrics.intervals import proportion

    ev = _evaluation(table)
    n = int(table.n_samples or 0)
    out = []
    for row, cmp in paired_rows(table):
        native = row.eps_native if row.eps_native is not None else ev.eps_native_at(row.eps)
        label = table.attack_label(row.attack)
        d: dict[str, Any] = {"attack": row.attack, "attack_label": label,
                             "eps": None if row.attack == CLEAN else row.eps,
                             "eps_fraction": "" if row.attack == CLEAN else fmt.eps_fraction(row.eps),
                             "eps_native": None if row.attack == CLEAN else native, "units": table.units,
                             "report_id": meta.report_id}
        if cmp is not None and cmp.difference is not None:
            d.update(n_pairs=cmp.n, accuracy_before=cmp.before.value, accuracy_before_low=cmp.before.low,
                     accuracy_before_high=cmp.before.high, accuracy_after=cmp.after.value,
                     accuracy_after_low=cmp.after.low, accuracy_after_high=cmp.after.high,
                     change=cmp.difference, change_low=cmp.low, change_high=cmp.high, mcnemar_p=cmp.p_value,
                     right_before_only=cmp.only_before, right_after_only=cmp.only_after,
                     caution=cmp.caution(subject=f"the change for {label}") or "")
        else:
            d.update(n_pairs=None, accuracy_before=row.accuracy_before, accuracy_after=row.accuracy_after,
                     change=row.change, caution="not tested: the table holds no per-sample outcomes")
            for key, value in (("accuracy_before", row.accuracy_before), ("accuracy_after", row.accuracy_after)):
                if fmt.is_number(value) and n > 0:
                    p = proportion(int(round(value * n)), n)
                    d[f"{key}_low"], d[f"{key}_high"] = p.low, p.high
        out.append(d)
    return out


def before_after_document(table: BeforeAfterResult, *, meta: ReportMeta | None = None,
                          include_phi: bool = False) -> dict[str, Any]:
    """The JSON of the before/after report: the table, both models' hashes, the rows with the
    paired test, and the ``report`` block."""
    meta = meta if meta is not None else ReportMeta()
    models = {}
    for key, ev in (("before", table.before), ("after", table.after)):
        if ev is not None:
            models[key] = {"name": ev.model.name, "sha256": ev.model.sha256, "parent_sha256": ev.model.parent_sha256}
    evaluated = table.after or table.before
    doc = {"format": "medadv-before-after-report", "table": table.table_dict(), "models": models,
           "dataset_fingerprint": evaluated.dataset.fingerprint if evaluated is not None else None,
           "comparisons": _rows(table, meta)}
    out = scrub(doc, include_phi=include_phi)
    out["report"] = meta.to_dict()
    return out


def write_before_after_json(table: BeforeAfterResult, path: str | Path, *, meta: ReportMeta | None = None,
                            overwrite: bool = False, include_phi: bool = False) -> Path:
    check_output_name(path, include_phi=include_phi)
    doc = before_after_document(table, meta=meta, include_phi=include_phi)
    return atomic_write_bytes(path, dumps(doc).encode("utf-8"), overwrite=overwrite)


def write_before_after_csv(table: BeforeAfterResult, path: str | Path, *, meta: ReportMeta | None = None,
                           overwrite: bool = False, include_phi: bool = False) -> Path:
    import csv

    check_output_name(path, include_phi=include_phi)
    rows = _rows(table, meta if meta is not None else ReportMeta())
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(CSV_COLUMNS)
    for d in rows:
        writer.writerow(["" if d.get(c) is None else (d[c] if include_phi or not isinstance(d[c], str)
                                                      else scrub_text(d[c])) for c in CSV_COLUMNS])
    return atomic_write_bytes(path, buf.getvalue().encode("utf-8"), overwrite=overwrite)


def render_before_after_pdf(table: BeforeAfterResult, *, meta: ReportMeta | None = None,
                            include_phi: bool = False) -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import SimpleDocTemplate, Spacer

    from medadv_desktop.engine.reports.pdf import _Context, _numbered_canvas_class, page_frame
    from medadv_desktop.engine.reports.verdict_section import before_after_section, signoff_section

    ev = _evaluation(table)
    ctx = _Context(ev, table, include_phi, meta)
    margin = 16 * mm
    width = A4[0] - 2 * margin
    story: list = [ctx.p(TITLE, "title"), ctx.p(f"Model: {ev.model.name or 'hardened model'}", "subtitle"),
                   Spacer(1, 3 * mm)]
    if table.before is not None and table.before.synthetic or ev.synthetic:       # also on every page (page_frame)
        story += [ctx.banner("SYNTHETIC DEMO TASK, NOT FOR CLINICAL USE", width), Spacer(1, 3 * mm)]
    pairs: list[tuple[str, Any]] = [
        ("Report id", ctx.meta.report_id),
        ("Report created", ctx.meta.created_utc.replace("T", " ").replace("+00:00", " UTC")),
        ("Original model SHA-256", table.before.model.sha256 if table.before is not None else ""),
        ("Hardened model SHA-256", table.after.model.sha256 if table.after is not None else ""),
        ("Hardened model's parent", table.after.model.parent_sha256 if table.after is not None else ""),
        ("Re-test images", str(table.n_samples) if table.n_samples else ""),
        ("Re-test set fingerprint", ev.dataset.fingerprint or ""),
        ("Training recipe", training_recipe_in_words(table.training) if table.training is not None else ""),
        ("Training budget eps", fmt.eps_all_units(table.train_eps, ev.eps_native_at(table.train_eps), table.units)
         if fmt.is_number(table.train_eps) else ""),
        ("Requested by", ctx.meta.requester), ("Approver", ctx.meta.approver), ("Purpose", ctx.meta.purpose)]
    story.append(ctx.kv_table([(k, v) for k, v in pairs if v], width, key_width=50))
    story += before_after_section(ctx, width, with_recipe=False)
    story += signoff_section(ctx, ctx.meta, width)

    synthetic = bool(table.before is not None and table.before.synthetic or ev.synthetic)
    page_of = page_frame(ctx, title=TITLE, model_name=ev.model.name or "hardened model", margin=margin,
                         include_phi=include_phi, synthetic=synthetic)

    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=margin, rightMargin=margin, topMargin=16 * mm,
                            bottomMargin=15 * mm, title=TITLE, author="MedAdv Desktop")
    doc.build(story, canvasmaker=_numbered_canvas_class(page_of))
    return buf.getvalue()


def write_before_after_pdf(table: BeforeAfterResult, path: str | Path, *, meta: ReportMeta | None = None,
                           overwrite: bool = False, include_phi: bool = False) -> Path:
    check_output_name(path, include_phi=include_phi)
    data = render_before_after_pdf(table, meta=meta, include_phi=include_phi)
    out = atomic_write_bytes(path, data, overwrite=overwrite)
    log.info("Wrote before/after PDF %s", scrub_text(out.name))
    return out


__all__ = ["before_after_document", "render_before_after_pdf", "write_before_after_csv", "write_before_after_json",
           "write_before_after_pdf"]
