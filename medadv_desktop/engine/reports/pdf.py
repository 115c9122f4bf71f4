"""The PDF robustness report (reportlab platypus; headless, built-in Helvetica only).

Sections, in order: title block with key findings; software versions;
1 model; 2 data set; 3 threat model; 4 clean performance; 5 robustness summary
(table per eps and the robust-accuracy-against-eps chart); 6 adversarial
training before/after (when given); 7 class transitions; 8 example panels;
9 sanity flags; 10 how to read this report; appendix with the run's parameters.
With a corruption evaluation beside the attacks (``corruption=``), its section
(engine/reports/corruption_report.py) follows the per-class robustness.

Conventions: accuracies and rates are percentages with one decimal; a budget
eps is in [0, 1] intensity units (after the model card's intensity mapping)
and, when the mapping is a fixed window, also in the study's units
(eps_native = eps x window width, e.g. 2/255 x 400 HU = 3.1 HU).
Rows of an attack cascade (``AttackRow.cumulative``: robust accuracy after
this attack and the ones above it) are marked ``*`` with a footnote.
Attack names, labels, access and descriptions come from the result
(``EvaluationResult.attack_info``, recorded from the Attack classes when the
evaluation ran): this module knows no attack by name.
Every string passes through :func:`deid.scrub_text` unless ``include_phi``.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np

from medadv_desktop import __version__
from medadv_desktop.engine.reports import formatting as fmt
from medadv_desktop.engine.reports.deid import check_output_name, scrub_text
from medadv_desktop.engine.metrics.per_class import PerClassMeasures, RobustnessByClass, per_class_measures
from medadv_desktop.engine.perturbation import RANGE_PERCENTILE, is_uniform_magnitude, signed_delta, symmetric_range
from medadv_desktop.engine.reports.images import as_image, diverging_colorbar_png, gray_png, signed_png
from medadv_desktop.engine.reports.traceability import ReportMeta, run_parameters_in_words
from medadv_desktop.engine.reports.verdict_section import (
    before_after_section,
    interval_note,
    interval_text,
    per_class_section,
    signoff_section,
    traceability_section,
    verdict_section,
)
from medadv_desktop.engine.results import WORST_CASE, AttackRow, BeforeAfterResult, EvaluationResult
from medadv_desktop.engine.results.summaries import IntensitySummary
from medadv_desktop.engine.serialization import atomic_write_bytes
from medadv_desktop.errors import ReportError

log = logging.getLogger(__name__)

TITLE = "Adversarial robustness report"
DATASET_LABELS = {"n_studies": "Studies (series)", "n_failures": "Files that failed to load"}
SYNTHETIC_BANNER = "Synthetic demo task, not for clinical use"

#: Footnote under the summary tables when some rows are cumulative (attack cascade).
CUMULATIVE_NOTE = ("* Cumulative (attack cascade): after this attack and the ones above it; it ran only on images "
                   "still robust to them.")
CUMULATIVE_HOW_TO_READ = (
    "Cumulative rows (*)", "with the attack cascade (MedAdv's default), a later attack runs only on the images "
    "still robust to the attacks above it, so its row is the robust accuracy after all of them, not the "
    "attack's own. The worst case is exact. Run 'medadv evaluate --per-attack' for each attack's own row.")

#: What each sanity flag means when the result carries no explanation.
FLAG_DOCS = {
    "zero_gradients": "The input gradient was exactly zero for some samples. Gradient attacks cannot move "
                      "those samples, so their robustness may be overstated (gradient masking).",
    "probabilities": "The model's outputs look like probabilities rather than logits. Attacks that use the "
                     "loss on logits may be weakened; export the model before its softmax layer.",
    "nondeterministic": "Two forward passes of the same input gave different outputs (dropout or batch "
                        "statistics in training mode?). Results may not be reproducible.",
    "black_box_beats_white_box": "A black-box attack succeeded where the white-box attacks failed at the same "
                                 "eps. Gradients of this model are not to be trusted (gradient masking); "
                                 "rely on the worst-case row.",
}

HOW_TO_READ = [
    ("Clean accuracy", "the share of test images classified correctly without any attack."),
    ("Robust accuracy", "the share of test images still classified correctly after the attack. "
                        "It can only be lower than or equal to the clean accuracy."),
    ("Attack success rate", "among the images that were correct without attack, the share whose "
                            "prediction the attack changed. Higher means a weaker model."),
    ("Worst case", "an image counts as robust only if every attack failed on it. This is the number to "
                   "quote; a single attack can overstate robustness."),
    ("eps (budget)", "the largest change allowed per pixel (L-inf) or in total (L2), in [0, 1] units of "
                     "the displayed intensity range and, for a fixed window, in the study's units (e.g. HU). "
                     "Small budgets are invisible to a reader: if accuracy collapses at 1/255 or 2/255, the "
                     "model can be fooled by changes below the noise of the scanner."),
    ("L-inf, L2, SSIM", "size of the change actually made: largest pixel change, Euclidean length, and "
                        "structural similarity to the original (1 = identical)."),
    ("Confidence drop", "mean fall of the model's probability for the true class."),
    ("Queries", "model evaluations a black-box attack needed (an attacker's cost)."),
    ("Class transitions", "rows are the true classes, columns the predictions after the attack; "
                          "off-diagonal counts are errors."),
    ("Limits", "results hold for this model, this data set, these attacks and budgets only. A robust "
               "result does not prove robustness against stronger or adaptive attacks."),
]

#: Widest chart legend (points); longer attack labels are shortened with "...".
LEGEND_MAX_WIDTH = 170.0

# Colours (a sober palette that survives grayscale printing reasonably).
_SERIES = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f"]


# ----------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------
class _Context:
    """Everything the section builders share: the result, styles, de-id switch."""

    def __init__(self, result: EvaluationResult, before_after: BeforeAfterResult | None,
                 include_phi: bool, meta: ReportMeta | None = None) -> None:
        from reportlab.lib import colors
        from reportlab.lib.enums import TA_CENTER
        from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet

        self.result = result
        self.before_after = before_after
        self.include_phi = include_phi
        self.meta = meta if meta is not None else ReportMeta()
        self.measures = _measures(result) if isinstance(result, EvaluationResult) else None   # corruption PDF
        self.colors = colors
        ss = getSampleStyleSheet()
        base = ParagraphStyle("Body", parent=ss["BodyText"], fontName="Helvetica", fontSize=9, leading=12)
        self.styles = {
            "body": base,
            "small": ParagraphStyle("Small", parent=base, fontSize=7.5, leading=9.5),
            "cell": ParagraphStyle("Cell", parent=base, fontSize=8, leading=9.6, spaceBefore=0, spaceAfter=0),
            "cellb": ParagraphStyle("CellB", parent=base, fontName="Helvetica-Bold", fontSize=8, leading=9.6),
            "caption": ParagraphStyle("Caption", parent=base, fontSize=7.5, leading=9.5,
                                      textColor=colors.HexColor("#444444"), alignment=TA_CENTER),
            "title": ParagraphStyle("Title", parent=ss["Title"], fontName="Helvetica-Bold", fontSize=20,
                                    leading=24, alignment=0, spaceAfter=2),
            "subtitle": ParagraphStyle("Subtitle", parent=base, fontSize=11, leading=14,
                                       textColor=colors.HexColor("#333333")),
            "lead": ParagraphStyle("Lead", parent=base, keepWithNext=1),
            "h1": ParagraphStyle("H1", parent=ss["Heading1"], fontName="Helvetica-Bold", fontSize=13,
                                 leading=16, spaceBefore=10, spaceAfter=4, keepWithNext=1,
                                 textColor=colors.HexColor("#12355b")),
            "h2": ParagraphStyle("H2", parent=ss["Heading2"], fontName="Helvetica-Bold", fontSize=10,
                                 leading=13, spaceBefore=6, spaceAfter=3, keepWithNext=1),
            "banner": ParagraphStyle("Banner", parent=base, fontName="Helvetica-Bold", fontSize=10,
                                     leading=13, textColor=colors.white, alignment=TA_CENTER),
        }
        self.section_no = 0

    # text -----------------------------------------------------------------
    def t(self, value: Any) -> str:
        """Scrubbed plain text of a value (no markup)."""
        text = "" if value is None else str(value)
        return text if self.include_phi else scrub_text(text)

    def p(self, text: Any, style: str = "body", *, markup: bool = False):
        from reportlab.platypus import Paragraph

        s = str(text) if markup else escape(self.t(text))
        return Paragraph(s, self.styles[style])

    def heading(self, title: str):
        from reportlab.platypus import Paragraph

        self.section_no += 1
        return Paragraph(f"{self.section_no}&nbsp;&nbsp;{escape(title)}", self.styles["h1"])

    # tables ---------------------------------------------------------------
    def table(self, rows: list[list[Any]], col_widths: list[float] | None = None, *,
              header_rows: int = 1, bold_rows: tuple[int, ...] = (), align_right_from: int | None = 1,
              zebra: bool = True, font_size: float = 8):
        from reportlab.platypus import Table, TableStyle

        colors = self.colors
        cells = []
        for i, row in enumerate(rows):
            out = []
            for value in row:
                if hasattr(value, "wrap"):  # already a flowable
                    out.append(value)
                else:
                    cell_style = "cellb" if i < header_rows or i in bold_rows else "cell"
                    out.append(self.p(value, cell_style))
            cells.append(out)
        tbl = Table(cells, colWidths=col_widths, repeatRows=header_rows, hAlign="LEFT")
        style = [
            ("FONT", (0, 0), (-1, -1), "Helvetica", font_size),
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ("LINEBELOW", (0, header_rows - 1), (-1, header_rows - 1), 0.8, colors.HexColor("#12355b"))
            if header_rows else ("LINEABOVE", (0, 0), (-1, 0), 0.8, colors.HexColor("#12355b")),
            ("LINEBELOW", (0, -1), (-1, -1), 0.5, colors.HexColor("#999999")),
            ("TOPPADDING", (0, 0), (-1, -1), 2.2),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 2.2),
            ("LEFTPADDING", (0, 0), (-1, -1), 4),
            ("RIGHTPADDING", (0, 0), (-1, -1), 4),
        ]
        if header_rows:
            style.append(("BACKGROUND", (0, 0), (-1, header_rows - 1), colors.HexColor("#e8eef5")))
        if zebra:
            for i in range(header_rows, len(rows)):
                if (i - header_rows) % 2 == 1:
                    style.append(("BACKGROUND", (0, i), (-1, i), colors.HexColor("#f6f6f6")))
        for i in bold_rows:
            style.append(("LINEABOVE", (0, i), (-1, i), 0.5, colors.HexColor("#999999")))
        tbl.setStyle(TableStyle(style))
        self._right_align(tbl, rows, align_right_from, header_rows)
        return tbl

    def _right_align(self, tbl: Any, rows: list[list[Any]], start: int | None, header_rows: int) -> None:
        from reportlab.lib.enums import TA_RIGHT
        from reportlab.lib.styles import ParagraphStyle

        if start is None:
            return
        for row in tbl._cellvalues:
            for j in range(start, len(row)):
                cell = row[j]
                if hasattr(cell, "style") and hasattr(cell, "frags"):
                    cell.style = ParagraphStyle(f"r{cell.style.name}", parent=cell.style, alignment=TA_RIGHT)

    def kv_table(self, pairs: list[tuple[str, Any]], width: float, key_width: float = 45):
        from reportlab.lib.units import mm

        rows = [[self.p(k, "cellb"), self.p(_kv_value(k, v), "cell")] for k, v in pairs]
        tbl = self.table(rows, [key_width * mm, width - key_width * mm], header_rows=0,
                         align_right_from=None, zebra=True)
        return tbl

    def banner(self, text: str, width: float):
        from reportlab.platypus import Table, TableStyle

        tbl = Table([[self.p(text, "banner")]], colWidths=[width])
        tbl.setStyle(TableStyle([
            ("BACKGROUND", (0, 0), (-1, -1), self.colors.HexColor("#b00020")),
            ("TOPPADDING", (0, 0), (-1, -1), 5), ("BOTTOMPADDING", (0, 0), (-1, -1), 5),
        ]))
        return tbl


def _measures(result: EvaluationResult) -> PerClassMeasures | None:
    """Rates with their intervals (None when the result's records do not fit together)."""
    try:
        return per_class_measures(result)
    except ValueError as exc:
        log.warning("No intervals in the report: %s", exc)
        return None


def _robust(ctx: _Context, row: AttackRow) -> RobustnessByClass | None:
    return ctx.measures.at(row.attack, row.eps) if ctx.measures is not None else None


def _kv_value(key: Any, value: Any) -> Any:
    """Floats in key/value tables: 4 significant digits; budgets also as k/255."""
    if isinstance(value, float) and fmt.is_number(value):
        text = fmt.num(value, 4)
        k = str(key).lower().rsplit(".", 1)[-1]
        if k in ("eps", "alpha", "step", "train_eps") or k.startswith("eps"):
            frac = fmt.eps_fraction(value)
            if "/" in frac:
                text += f" ({frac})"
        return text
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value


def _versions(result: EvaluationResult) -> list[tuple[str, str]]:
    """Software versions: those the run recorded, then MedAdv and reportlab of this report
    (the install that drew the PDF may differ from the one that ran the attacks)."""
    from importlib import metadata

    out: dict[str, str] = {str(k): str(v) for k, v in result.provenance.software.items()}
    if out.get("medadv") != __version__:
        out["medadv (this report)"] = __version__
    try:
        out["reportlab (this report)"] = metadata.version("reportlab")
    except metadata.PackageNotFoundError:
        pass
    return list(out.items())


def _class_counts(result: EvaluationResult) -> list[tuple[str, int | None]]:
    """Images per class: the data set's counts, else the clean per-class numbers."""
    counts: dict[str, int] = dict(result.dataset.counts) or {pc.class_name: pc.n for pc in result.per_class}
    return [(name, counts.get(name)) for name in result.class_names]


def _row_label(result: EvaluationResult, row: AttackRow) -> str:
    """The attack's label, with ' *' on a cumulative row of the attack cascade."""
    return result.attack_label(row.attack) + (" *" if row.cumulative else "")


def _attack_order(result: EvaluationResult) -> list[str]:
    names = list(result.attacks) or []
    for r in result.rows:
        if r.attack not in names and r.attack != WORST_CASE:
            names.append(r.attack)
    if any(r.attack == WORST_CASE for r in result.rows):
        names.append(WORST_CASE)
    return names


# ----------------------------------------------------------------------------
# sections
# ----------------------------------------------------------------------------
def _title_block(ctx: _Context, width: float) -> list:
    from reportlab.lib.units import mm
    from reportlab.platypus import Spacer

    r = ctx.result
    now = ctx.meta.created_utc.replace("T", " ").replace("+00:00", " UTC")
    evaluated = r.provenance.date_utc
    story = [ctx.p(TITLE, "title"),
             ctx.p(f"Model: {r.model.name or 'unnamed model'}", "subtitle"),
             Spacer(1, 2 * mm)]
    if r.synthetic:
        story += [ctx.banner(SYNTHETIC_BANNER.upper() + " - the data or the model is synthetic/demo; "
                             "the numbers say nothing about clinical performance.", width), Spacer(1, 3 * mm)]
    pairs = [("Report created", now), ("Report id", ctx.meta.report_id)]
    if evaluated:
        pairs.append(("Evaluation run", str(evaluated)))
    pairs += [("Test images", str(r.n_samples)),
              ("Attacks", (", ".join(r.attack_label(a) for a in r.attacks) or "-")
               + (" (in this order, as a cascade: rows marked * are cumulative)" if r.has_cumulative_rows() else "")),
              ("Threat model", f"{fmt.norm_name(r.norm)}, eps " + ", ".join(
                  fmt.eps_all_units(e, r.eps_native_at(e), r.units) for e in r.eps_grid)),
              ("De-identification", "identifiers withheld; studies shown under pseudonyms"
               if not ctx.include_phi else "DISABLED by the user (report may contain patient data)")]
    story.append(ctx.kv_table(pairs, width))
    story.append(Spacer(1, 3 * mm))
    if ctx.meta.verdict is not None:
        story += verdict_section(ctx, ctx.meta.verdict, width)
        story.append(Spacer(1, 2 * mm))
    # key findings
    story.append(ctx.p("Key findings", "h2"))
    clean_ci = ""
    if ctx.measures is not None and ctx.measures.clean_accuracy.value is not None:
        clean_ci = (f", 95 % CI {100 * ctx.measures.clean_accuracy.low:.1f}-"
                    f"{100 * ctx.measures.clean_accuracy.high:.1f} %")
    bullets = [f"Clean accuracy {fmt.pct(r.clean_accuracy)} (balanced {fmt.pct(r.balanced_accuracy)}{clean_ci}) "
               f"on {r.n_samples} test images."]
    for e in r.eps_grid:
        wc = r.row(WORST_CASE, e)
        attack_rows = [x for x in r.rows if abs(x.eps - e) < 1e-12 and x.attack != WORST_CASE]
        if wc is None and not attack_rows:
            continue
        text = f"At eps {fmt.eps_all_units(e, r.eps_native_at(e), r.units)}: "
        if wc is not None:
            text += f"worst-case robust accuracy {fmt.pct(wc.robust_accuracy)}"
            wcm = _robust(ctx, wc)
            if wcm is not None and wcm.robust_accuracy.value is not None:
                ci = wcm.robust_accuracy
                text += f" (95 % CI {100 * ci.low:.1f}-{100 * ci.high:.1f} %)"
        if attack_rows and not any(x.cumulative for x in attack_rows):   # each attack's own row
            strongest = min(attack_rows, key=lambda x: x.robust_accuracy)
            text += ("; " if wc is not None else "") + (
                f"strongest single attack {r.attack_label(strongest.attack)} "
                f"({fmt.pct(strongest.robust_accuracy)})")
        bullets.append(text + ".")
    if r.flags:
        bullets.append(f"{len(r.flags)} sanity flag(s) raised - see section 'Sanity checks'.")
    for b in bullets:
        story.append(ctx.p(f"&bull;&nbsp;{escape(ctx.t(b))}", "body", markup=True))
    story.append(ctx.p("Software versions", "h2"))
    versions = _versions(r)
    half = (len(versions) + 1) // 2
    rows = []
    for i in range(half):
        left = versions[i]
        right = versions[i + half] if i + half < len(versions) else ("", "")
        rows.append([ctx.p(left[0], "cellb"), ctx.p(left[1], "cell"), ctx.p(right[0], "cellb"),
                     ctx.p(right[1], "cell")])
    story.append(ctx.table(rows, [width * 0.25, width * 0.25, width * 0.25, width * 0.25],
                           header_rows=0, align_right_from=None))
    story += traceability_section(ctx, r, ctx.meta, ctx.before_after, width)
    return story


def _model_section(ctx: _Context, width: float) -> list:
    m = ctx.result.model
    story = [ctx.heading("Model")]
    known: list[tuple[str, Any]] = [
        ("Name", m.name), ("Architecture", m.architecture), ("Format", m.format), ("Weights file", m.weights),
        ("Weights SHA-256", m.sha256 or "not recorded"),
        ("Input size (H x W)", " x ".join(str(v) for v in m.input_size) + " pixels" if m.input_size else None),
        ("Input channels", m.in_chans), ("Output", m.output), ("Modality", m.modality), ("Body part", m.body_part),
        ("Intensity mapping", _describe_intensity(m.intensity, ctx.result.units) if m.intensity else None),
        ("Normalisation mean", ", ".join(str(v) for v in m.mean)),
        ("Normalisation std", ", ".join(str(v) for v in m.std)), ("Intended use", m.intended_use),
        ("Classes", ", ".join(f"{i}: {c}" for i, c in enumerate(ctx.result.class_names))),
        ("Parent model SHA-256", m.parent_sha256), ("Parameters", m.parameters)]
    pairs = [(label, value) for label, value in known if value not in (None, "")]
    story.append(ctx.kv_table(pairs, width))
    return story


def _describe_intensity(d: IntensitySummary, units: str) -> str:
    if d.mode == "window":
        return (f"fixed window centre {fmt.num(d.center, 4)} / width {fmt.num(d.width, 4)} "
                f"{units or ''}; [0, 1] unit = {fmt.num(d.width, 4)} {units or ''}".rstrip())
    if d.mode == "percentile":
        low = d.low if d.low is not None else 0.5
        high = d.high if d.high is not None else 99.5
        return f"per-image percentiles {low}-{high} mapped to [0, 1]"
    if d.mode == "minmax":
        return "per-image minimum-maximum mapped to [0, 1] (native size of eps varies per image)"
    return str(d.mode)


def _dataset_section(ctx: _Context, width: float) -> list:
    from reportlab.lib.units import mm
    from reportlab.platypus import Spacer

    r = ctx.result
    ds = r.dataset
    story = [ctx.heading("Data set")]
    pairs: list[tuple[str, Any]] = [("Name", ds.name or "unnamed (pseudonymous)"), ("Test images", r.n_samples),
                                    ("Synthetic", "yes - " + SYNTHETIC_BANNER if ds.synthetic else "no")]
    for key in ("n_studies", "n_failures"):
        value = getattr(ds, key)
        if value is not None:
            pairs.append((DATASET_LABELS[key], value))
    story.append(ctx.kv_table(pairs, width))
    story.append(Spacer(1, 2 * mm))
    counts = _class_counts(r)
    total = sum(c for _, c in counts if c is not None) or None
    rows = [["Class", "Images", "Share"]]
    for name, c in counts:
        rows.append([name, "-" if c is None else str(c), fmt.pct(c / total) if (c is not None and total) else "-"])
    if total:
        rows.append(["Total", str(total), fmt.pct(1.0)])
    story.append(ctx.table(rows, [70 * mm, 30 * mm, 30 * mm],
                           bold_rows=(len(rows) - 1,) if total else ()))
    return story


def _threat_section(ctx: _Context, width: float) -> list:
    from reportlab.lib.units import mm
    from reportlab.platypus import Spacer

    r = ctx.result
    story = [ctx.heading("Threat model")]
    story.append(ctx.p(
        f"Norm: {fmt.norm_description(r.norm)}. The attacker may change each image within a budget eps measured "
        f"in the [0, 1] intensity range the model sees (after the intensity mapping of the model card, "
        f"before resizing and normalisation). Adversarial images are clipped to [0, 1].", "lead"))
    rows = [["eps (fraction)", "eps ([0, 1] units)", f"eps (native{', ' + r.units if r.units else ''})",
             "Written as"]]
    for e in r.eps_grid:
        n = r.eps_native_at(e)
        rows.append([fmt.eps_fraction(e), fmt.eps_decimal(e), fmt.native(n, r.units),
                     fmt.eps_all_units(e, n, r.units)])
    story.append(ctx.table(rows, [30 * mm, 32 * mm, 36 * mm, width - 98 * mm], align_right_from=None))
    if not any(fmt.is_number(x) for x in (r.eps_native or [])):
        story.append(ctx.p("Native units are not given because the model maps intensities per image "
                           "(the native size of one [0, 1] unit differs between images).", "small"))
    story.append(Spacer(1, 2 * mm))
    rows = [["Attack", "Access", "What it does"]]
    for a in r.attacks:
        info = r.attack_details(a)
        rows.append([r.attack_label(a), (info.access if info is not None else "") or "-",
                     (info.description if info is not None else "") or "No description was recorded."])
    story.append(ctx.table(rows, [32 * mm, 22 * mm, width - 54 * mm], align_right_from=None))
    prov = r.provenance
    notes = []
    if prov.full_rows is False or r.has_cumulative_rows():
        notes.append("Attack cascade: a later attack ran only on the images still robust to the attacks above it "
                     "(rows marked * are cumulative); the worst case is exact.")
    elif prov.full_rows or prov.cascade is not None:
        notes.append("Every attack ran on every image that was correct without attack (each row is the attack's "
                     "own).")
    if prov.cascade:
        notes.append("An image fooled at a smaller eps counts as fooled at the larger ones (not attacked again).")
    if notes:
        story.append(ctx.p(" ".join(notes), "small"))
    return story


def _clean_section(ctx: _Context, width: float) -> list:
    from reportlab.lib.units import mm
    from reportlab.platypus import Spacer

    r = ctx.result
    story = [ctx.heading("Clean performance (no attack)")]
    story.append(ctx.p(f"Accuracy {fmt.pct(r.clean_accuracy)}; balanced accuracy {fmt.pct(r.balanced_accuracy)} "
                       f"(mean of the per-class sensitivities) on {r.n_samples} images.", "lead"))
    m = ctx.measures
    if m is not None and m.n_samples:
        rows = [["Class", "Images", "Sensitivity (95 % CI)", "Specificity (95 % CI)"]]
        for cr in m.clean:
            rows.append([cr.class_name, str(cr.sensitivity.n), interval_text(cr.sensitivity),
                         interval_text(cr.specificity)])
        rows.append(["All (accuracy)", str(m.n_samples), interval_text(m.clean_accuracy), ""])
        story.append(ctx.table(rows, [50 * mm, 20 * mm, 45 * mm, 45 * mm], bold_rows=(len(rows) - 1,)))
        story.append(ctx.p(interval_note(m), "small"))
    else:
        rows = [["Class", "Images", "Sensitivity", "Specificity"]]
        for pc in r.per_class:
            rows.append([pc.class_name, str(pc.n), fmt.pct(pc.sensitivity), fmt.pct(pc.specificity)])
        story.append(ctx.table(rows, [60 * mm, 25 * mm, 30 * mm, 30 * mm]))
    if r.clean_confusion:
        story.append(Spacer(1, 2 * mm))
        story.append(ctx.p("Confusion matrix without attack (rows: true class, columns: prediction)", "h2"))
        story.append(_matrix_table(ctx, r.clean_confusion, min(width, 140 * mm)))
    return story


def _matrix_table(ctx: _Context, matrix: list[list[int]], width: float):
    names = ctx.result.class_names
    k = len(matrix)
    header = ["true \\ predicted"] + [names[j] if j < len(names) else str(j) for j in range(k)]
    rows = [header]
    for i, line in enumerate(matrix):
        rows.append([names[i] if i < len(names) else str(i)] + [str(int(v)) for v in line])
    first = min(35.0 * 2.835, width * 0.4)
    other = (width - first) / max(1, k)
    tbl = ctx.table(rows, [first] + [other] * k, zebra=False)
    from reportlab.platypus import TableStyle

    style = []
    for i in range(k):
        style.append(("BACKGROUND", (1 + i, 1 + i), (1 + i, 1 + i), ctx.colors.HexColor("#dff0d8")))
        for j in range(k):
            if i != j and j < len(matrix[i]) and matrix[i][j]:
                style.append(("BACKGROUND", (1 + j, 1 + i), (1 + j, 1 + i), ctx.colors.HexColor("#f8d7da")))
    tbl.setStyle(TableStyle(style))
    return tbl


def _summary_section(ctx: _Context, width: float) -> list:
    from reportlab.lib.units import mm
    from reportlab.platypus import KeepTogether, Spacer

    r = ctx.result
    story = [ctx.heading("Robustness summary")]
    story.append(ctx.p(
        "One table per budget eps. Robust accuracy and success rate in percent; distances are means over "
        f"the attacked images (L-inf in {r.units or '[0, 1]'} units where known, L2 in [0, 1] units); queries "
        "are the median number of model evaluations.", "lead"))
    order = _attack_order(r)
    cols = ["Attack", "Robust accuracy (95 % CI)", "Success rate (95 % CI)",
            f"L-inf ({r.units})" if r.units else "L-inf", "L2", "SSIM", "Conf. drop", "Queries", "Time"]
    widths = [34, 31, 31, 16, 13, 13, 15, 15, 14]
    scale = width / (sum(widths) * mm)
    col_w = [w * mm * scale for w in widths]
    for e in r.eps_grid:
        clean_text = (interval_text(ctx.measures.clean_accuracy) if ctx.measures is not None
                      and ctx.measures.n_samples else fmt.pct(r.clean_accuracy))
        rows = [cols, ["Clean (no attack)", clean_text, "-", "-", "-", "-", "-", "-", "-"]]
        bold = []
        for name in order:
            row = r.row(name, e)
            if row is None:
                continue
            linf = row.mean_linf_native if fmt.is_number(row.mean_linf_native) and r.units else row.mean_linf
            linf_text = fmt.fixed(linf, 1) if fmt.is_number(row.mean_linf_native) and r.units else fmt.fixed(linf, 4)
            queries = row.median_queries if fmt.is_number(row.median_queries) else row.mean_queries
            rm = _robust(ctx, row)
            rows.append([_row_label(r, row),
                         interval_text(rm.robust_accuracy) if rm is not None else fmt.pct(row.robust_accuracy),
                         interval_text(rm.attack_success_rate) if rm is not None else fmt.pct(row.attack_success_rate),
                         linf_text, fmt.fixed(row.mean_l2, 3), fmt.fixed(row.mean_ssim, 3),
                         fmt.pct(row.mean_conf_drop), fmt.num(queries, 4) if queries else "-",
                         fmt.seconds(row.time_s) if row.time_s else "-"])
            if row.attack == WORST_CASE:
                bold.append(len(rows) - 1)
        title = ctx.p(f"eps = {fmt.eps_all_units(e, r.eps_native_at(e), r.units)}", "h2")
        story.append(KeepTogether([title, ctx.table(rows, col_w, bold_rows=tuple(bold))]))
    if ctx.measures is not None:
        story.append(ctx.p(interval_note(ctx.measures), "small"))
        worst = [m for m in ctx.measures.robust if m.attack == WORST_CASE]
        if worst:
            largest = max(worst, key=lambda m: m.eps)
            caution = largest.robust_accuracy.caution(
                subject=f"the worst-case robust accuracy at eps {fmt.eps_fraction(largest.eps)}")
            if caution:
                story.append(ctx.p(caution, "small"))
    if r.has_cumulative_rows():
        story.append(Spacer(1, 1.5 * mm))
        story.append(ctx.p(CUMULATIVE_NOTE, "small"))
    story.append(Spacer(1, 3 * mm))
    chart = robust_accuracy_chart(r, width)
    caption = ctx.p("Figure 1. Robust accuracy against the budget eps. eps = 0 is the clean accuracy. "
                    "The worst case (thick black line) counts an image as robust only if every attack failed."
                    + (" * cumulative (attack cascade)." if r.has_cumulative_rows() else ""), "caption")
    story.append(KeepTogether([ctx.p("Robust accuracy against eps", "h2"), chart, caption]))
    return story


def _legend_label(result: EvaluationResult, name: str) -> str:
    """The chart legend's entry: the attack's label (' *' when cumulative), at most LEGEND_MAX_WIDTH wide."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    mark = " *" if any(x.cumulative for x in result.rows if x.attack == name) else ""
    label = scrub_text(result.attack_label(name))
    while len(label) > 4 and stringWidth(label + mark, "Helvetica", 8) + 12 > LEGEND_MAX_WIDTH:
        label = label[:-4].rstrip() + "..."
    return label + mark


def robust_accuracy_chart(result: EvaluationResult, width: float, height: float = 210):
    """A reportlab Drawing: robust accuracy (%) against eps for every attack and the worst case.

    x axis: eps in multiples of 1/255 of the [0, 1] intensity range when every eps
    is such a multiple, else eps in [0, 1] units; the native value of 1/255 is
    given in the axis title when the mapping is a fixed window.
    """
    from reportlab.graphics.charts.legends import Legend
    from reportlab.graphics.charts.lineplots import LinePlot
    from reportlab.graphics.shapes import Drawing, Group, String
    from reportlab.graphics.widgets.markers import makeMarker
    from reportlab.lib import colors
    from reportlab.pdfbase.pdfmetrics import stringWidth

    eps = sorted(set(float(e) for e in result.eps_grid) | {float(r.eps) for r in result.rows})
    use_255 = all(abs(e * 255 - round(e * 255)) < 1e-6 for e in eps)
    xs = (lambda e: e * 255.0) if use_255 else (lambda e: e)
    series, names = [], []
    order = _attack_order(result)
    if WORST_CASE in order:   # drawn first (thick, black) so attack lines that coincide stay visible on top
        order = [WORST_CASE] + [a for a in order if a != WORST_CASE]
    for name in order:
        pts = [(0.0, 100.0 * result.clean_accuracy)]
        for e in eps:
            row = result.row(name, e)
            if row is not None and fmt.is_number(row.robust_accuracy):
                pts.append((xs(e), 100.0 * row.robust_accuracy))
        if len(pts) > 1:
            series.append(pts)
            names.append(name)
    d = Drawing(width, height)
    labels = {name: _legend_label(result, name) for name in names}
    legend_w = min(LEGEND_MAX_WIDTH, max([95.0] + [stringWidth(t, "Helvetica", 8) + 12 for t in labels.values()]))
    lp = LinePlot()
    lp.x, lp.y = 48, 42
    lp.width, lp.height = width - lp.x - legend_w - 15, height - lp.y - 12
    lp.data = series or [[(0.0, 100.0 * result.clean_accuracy)]]
    x_max = max([xs(e) for e in eps] + [1e-9])
    lp.xValueAxis.valueMin, lp.xValueAxis.valueMax = 0.0, x_max * 1.04
    if use_255:
        top = int(round(x_max))
        step = max(1, int(np.ceil(top / 8)))
        lp.xValueAxis.valueSteps = list(range(0, top + 1, step))
        lp.xValueAxis.labelTextFormat = lambda v: "0" if v == 0 else f"{int(round(v))}/255"
    else:
        lp.xValueAxis.valueSteps = [0.0] + [xs(e) for e in eps]
        lp.xValueAxis.labelTextFormat = lambda v: f"{v:.3g}"
    lp.yValueAxis.valueMin, lp.yValueAxis.valueMax, lp.yValueAxis.valueStep = 0, 100, 20
    lp.yValueAxis.labelTextFormat = "%d"
    for axis in (lp.xValueAxis, lp.yValueAxis):
        axis.labels.fontName, axis.labels.fontSize = "Helvetica", 7.5
    lp.yValueAxis.visibleGrid = True
    lp.yValueAxis.gridStrokeColor = colors.HexColor("#dddddd")
    lp.yValueAxis.gridStrokeWidth = 0.4
    pairs = []
    markers = ["FilledCircle", "FilledTriangle", "FilledDiamond", "Cross", "FilledStarFive", "FilledPentagon"]
    dashes = [None, [4, 2], [1, 2], [6, 2, 1, 2]]
    k = 0
    for i, name in enumerate(names):
        if name == WORST_CASE:
            color, w, marker, dash = colors.black, 3.0, "FilledSquare", None
            size = 5
        else:
            color, w = colors.HexColor(_SERIES[k % len(_SERIES)]), 1.3
            marker, dash, size = markers[k % len(markers)], dashes[k % len(dashes)], 4
            k += 1
        lp.lines[i].strokeColor = color
        lp.lines[i].strokeWidth = w
        if dash:
            lp.lines[i].strokeDashArray = dash
        lp.lines[i].symbol = makeMarker(marker, size=size, fillColor=color, strokeColor=color)
        pairs.append((color, labels[name]))
    if names and names[0] == WORST_CASE:      # legend: attacks first, worst case last
        pairs = pairs[1:] + pairs[:1]
    d.add(lp)
    units_note = ""
    per255 = None
    for e, n in zip(result.eps_grid, result.eps_native or [], strict=False):
        if fmt.is_number(n) and e > 0:
            per255 = n / (e * 255.0)
            break
    if use_255:
        title = "Budget eps (in 1/255 of the [0, 1] intensity range)"
        if per255 is not None and result.units:
            units_note = f"; 1/255 = {per255:.1f} {result.units}"
    else:
        title = "Budget eps ([0, 1] intensity units)"
    d.add(String(lp.x + lp.width / 2, 8, title + units_note, fontName="Helvetica", fontSize=8,
                 textAnchor="middle"))
    ylab = Group(String(0, 0, "Robust accuracy (%)", fontName="Helvetica", fontSize=8, textAnchor="middle"))
    ylab.transform = (0, 1, -1, 0, 14, lp.y + lp.height / 2)
    d.add(ylab)
    legend = Legend()
    legend.x, legend.y = lp.x + lp.width + 14, lp.y + lp.height
    legend.alignment = "right"
    legend.fontName, legend.fontSize = "Helvetica", 8
    legend.colorNamePairs = pairs
    legend.columnMaximum = 12
    legend.dx, legend.dy, legend.deltay = 10, 3, 11
    d.add(legend)
    return d


def _before_after_section(ctx: _Context, width: float) -> list:
    return before_after_section(ctx, width)


def _transition_section(ctx: _Context, width: float) -> list:
    from reportlab.lib.units import mm
    from reportlab.platypus import Table, TableStyle

    r = ctx.result
    story = [ctx.heading("Class transitions under attack")]
    with_matrix = [row for row in r.rows if row.transitions]
    if not with_matrix:
        story.append(ctx.p("The result holds no class-transition matrices."))
        return story
    e_max = max(row.eps for row in with_matrix)
    story.append(ctx.p(f"At the largest budget eps = {fmt.eps_all_units(e_max, r.eps_native_at(e_max), r.units)}. "
                       "Rows: true class; columns: prediction after the attack; green: correct, red: errors."
                       + (" * cumulative: after this attack and the ones above it." if r.has_cumulative_rows() else ""),
                       "lead"))
    blocks = []
    for name in _attack_order(r):
        row = r.row(name, e_max)
        if row is None or not row.transitions:
            continue
        blocks.append([ctx.p(_row_label(r, row), "cellb"), _matrix_table(ctx, row.transitions, width / 2 - 6 * mm)])
    grid = []
    for i in range(0, len(blocks), 2):
        left = blocks[i]
        right = blocks[i + 1] if i + 1 < len(blocks) else ["", ""]
        grid.append([left[0], right[0]])
        grid.append([left[1], right[1]])
    tbl = Table(grid, colWidths=[width / 2, width / 2], hAlign="LEFT")
    tbl.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
                             ("BOTTOMPADDING", (0, 0), (-1, -1), 4)]))
    story.append(tbl)
    return story


def _example_section(ctx: _Context, width: float) -> list:
    from reportlab.lib.units import mm
    from reportlab.platypus import Image, KeepTogether, Spacer, Table, TableStyle

    r = ctx.result
    story = [ctx.heading("Example images")]
    if not r.examples:
        story.append(ctx.p("The result holds no example images."))
        return story
    window = _example_window(r)
    story.append(ctx.p(
        f"Left to right: the original and the adversarial image, both at the same window ({window}), so they "
        "look as a reader would see them; then the signed perturbation (adversarial - original) in native "
        "units on a diverging colour map centred at 0 (blue: lower, white: unchanged, red: higher) over a "
        f"symmetric range of +/- the {RANGE_PERCENTILE:g}th percentile of |change|, with its colour bar. Nothing "
        "is amplified. After an L-inf attack almost every pixel moves by exactly eps: the map then shows the "
        "sign of the change, not where it matters. Images keep their aspect ratio. Sample names are "
        "pseudonyms.", "lead"))
    story.append(Spacer(1, 2 * mm))
    img_w = (width - 26 * mm) / 3
    for ex in r.examples:
        try:
            orig = as_image(ex.original)
            adv = as_image(ex.adversarial)
        except ReportError:                        # a damaged panel in an old or edited file: left out
            continue
        if adv.shape != orig.shape:
            continue
        h, w = orig.shape
        img_h = img_w * h / w
        if img_h > 62 * mm:  # very tall images: shrink both sides, keep the ratio
            img_h = 62 * mm
            cell_w = img_h * w / h
        else:
            cell_w = img_w
        per_unit = ex.native_per_unit
        native = fmt.is_number(per_unit)
        unit_text = (r.units or "native units") if native else "[0, 1] units"
        delta = signed_delta(orig, adv) * (float(per_unit) if fmt.is_number(per_unit) else 1.0)
        half = symmetric_range(delta)
        peak = float(np.abs(delta).max()) if delta.size else 0.0

        def value(v: float, unit_text: str = unit_text, native: bool = native) -> str:
            return f"{v:.1f} {unit_text}" if native else f"{v:.4f} {unit_text}"

        images = [Image(io.BytesIO(gray_png(orig)), cell_w, img_h),
                  Image(io.BytesIO(gray_png(adv)), cell_w, img_h),
                  Image(io.BytesIO(signed_png(delta, half)), cell_w, img_h)]
        bar_h = max(img_h - 8 * mm, 14 * mm)     # short, wide images still get a readable scale
        bar = Table([[Image(io.BytesIO(diverging_colorbar_png()), 4 * mm, bar_h), ctx.p(f"+{value(half)}", "small")],
                     ["", ctx.p("0", "small")],
                     ["", ctx.p(f"-{value(half)}", "small")]],
                    colWidths=[5 * mm, 17 * mm], rowHeights=[bar_h / 3] * 3)
        bar.setStyle(TableStyle([("SPAN", (0, 0), (0, 2)), ("LEFTPADDING", (0, 0), (-1, -1), 1),
                                 ("TOPPADDING", (0, 0), (-1, -1), 0), ("BOTTOMPADDING", (0, 0), (-1, -1), 0),
                                 ("VALIGN", (0, 0), (0, 0), "MIDDLE"), ("VALIGN", (1, 0), (1, 0), "TOP"),
                                 ("VALIGN", (1, 1), (1, 1), "MIDDLE"), ("VALIGN", (1, 2), (1, 2), "BOTTOM")]))
        if peak <= 0:
            delta_caption = "Signed perturbation: no pixel changed"
        elif is_uniform_magnitude(delta):
            delta_caption = (f"Signed perturbation (L-inf): |change| = {value(peak)} at almost every pixel; "
                             "colour shows the sign only")
        else:
            delta_caption = f"Signed perturbation, largest |change| {value(peak)}"
        def cname(i: Any, names: list[str] = r.class_names) -> str:
            return names[i] if isinstance(i, int) and 0 <= i < len(names) else str(i)

        captions = [
            ctx.p(f"Original - prediction {cname(ex.clean_pred)} ({fmt.pct(ex.clean_conf)})", "caption"),
            ctx.p(f"Adversarial - prediction {cname(ex.adv_pred)} ({fmt.pct(ex.adv_conf)})", "caption"),
            ctx.p(delta_caption, "caption"),
            ctx.p(f"adversarial - original ({unit_text})", "caption"),
        ]
        col_w = [img_w + 2 * mm] * 3 + [22 * mm]
        grid = Table([images + [bar], captions], colWidths=col_w, hAlign="LEFT")
        grid.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "MIDDLE"), ("ALIGN", (0, 0), (-1, -1), "CENTER"),
                                  ("LEFTPADDING", (0, 0), (-1, -1), 1), ("RIGHTPADDING", (0, 0), (-1, -1), 1)]))
        outcome = "fooled" if ex.adv_pred != ex.true_label and ex.clean_pred == ex.true_label else (
            "not fooled" if ex.adv_pred == ex.true_label else "already wrong without attack")
        head = ctx.p(f"{ctx.t(ex.sample_id)} - {r.attack_label(ex.attack)} at eps "
                     f"{fmt.eps_all_units(ex.eps, r.eps_native_at(ex.eps), r.units)} - true class "
                     f"{cname(ex.true_label)} - {outcome}", "h2")
        story.append(KeepTogether([head, grid, Spacer(1, 3 * mm)]))
    return story


def _example_window(r: EvaluationResult) -> str:
    """The window the example images are shown at, in words (W before L, as the viewer labels it)."""
    d = r.model.intensity
    if d is not None and d.mode == "window" and fmt.is_number(d.width) and fmt.is_number(d.center):
        return f"the model's window W {fmt.num(d.width, 4)} / L {fmt.num(d.center, 4)} {r.units or ''}".rstrip()
    return "the model's intensity mapping to [0, 1]"


def _flags_section(ctx: _Context, width: float) -> list:
    from reportlab.lib.units import mm
    from reportlab.platypus import Spacer, Table, TableStyle

    r = ctx.result
    story = [ctx.heading("Sanity checks")]
    if not r.flags:
        story.append(ctx.p("No sanity flag was raised. The evaluation checks for zero input gradients, outputs "
                           "that look like probabilities, a nondeterministic model, and a black-box attack "
                           "beating the white-box attacks (a sign of gradient masking)."))
        return story
    story.append(ctx.p("These checks look for reasons why the numbers above could overstate robustness.", "lead"))
    for flag in r.flags:
        colour = "#b00020" if flag.severity == "warning" else "#12355b"
        badge = ctx.p(f'<font color="{colour}"><b>{escape(flag.severity.upper())}</b></font>', "cell", markup=True)
        text = flag.explanation or FLAG_DOCS.get(flag.code, "")
        body = [ctx.p(f"<b>{escape(ctx.t(flag.title))}</b> <font color='#666666'>({escape(ctx.t(flag.code))})</font>",
                      "body", markup=True), ctx.p(text)]
        tbl = Table([[badge, body]], colWidths=[22 * mm, width - 22 * mm], hAlign="LEFT")
        tbl.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"),
                                 ("LINEBEFORE", (0, 0), (0, -1), 2.5, ctx.colors.HexColor(colour)),
                                 ("BACKGROUND", (0, 0), (-1, -1), ctx.colors.HexColor("#fafafa"))]))
        story += [tbl, Spacer(1, 2 * mm)]
    return story


def _how_to_read(ctx: _Context, width: float) -> list:
    from reportlab.lib.units import mm

    story = [ctx.heading("How to read this report")]
    entries = list(HOW_TO_READ)
    if ctx.result.has_cumulative_rows():
        entries.insert(4, CUMULATIVE_HOW_TO_READ)           # after "Worst case"
    rows = [[ctx.p(term, "cellb"), ctx.p(text, "cell")] for term, text in entries]
    story.append(ctx.table(rows, [35 * mm, width - 35 * mm], header_rows=0, align_right_from=None))
    return story


def _appendix(ctx: _Context, width: float) -> list:
    pairs = run_parameters_in_words(ctx.result, include_phi=ctx.include_phi)
    if not pairs:
        return []
    story = [ctx.heading("Appendix: run parameters")]
    story.append(ctx.kv_table(pairs[:80], width, key_width=60))
    return story


# ----------------------------------------------------------------------------
# public
# ----------------------------------------------------------------------------
def _numbered_canvas_class(draw_total: Any) -> Any:
    """A reportlab canvas that knows the page count when each page is finished ("Page X of Y"):
    pages are kept until the document is saved, then ``draw_total(canvas, page, total)`` runs on each."""
    from reportlab.pdfgen.canvas import Canvas

    class NumberedCanvas(Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:  # noqa: N802 (reportlab's name)
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                draw_total(self, self._pageNumber, total)
                super().showPage()
            super().save()

    return NumberedCanvas


def page_frame(ctx: Any, *, title: str, model_name: str, margin: float, include_phi: bool,
               synthetic: bool) -> Any:
    """The frame every page of a MedAdv PDF report gets (for :func:`_numbered_canvas_class`): the
    header rule with the report's title and model, the de-identification line, the synthetic banner,
    "Page X of Y" and the report id."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm

    def page_of(canvas: Any, page: int, total: int) -> None:
        canvas.saveState()
        w, h = A4
        canvas.setStrokeColor(ctx.colors.HexColor("#12355b"))
        canvas.setLineWidth(0.6)
        canvas.line(margin, h - 11 * mm, w - margin, h - 11 * mm)
        canvas.setFont("Helvetica-Bold", 8)
        canvas.setFillColor(ctx.colors.HexColor("#12355b"))
        canvas.drawString(margin, h - 9.5 * mm, "MedAdv Desktop - " + title)
        canvas.setFont("Helvetica", 8)
        canvas.drawRightString(w - margin, h - 9.5 * mm, model_name)
        canvas.setFillColor(ctx.colors.HexColor("#555555"))
        canvas.drawString(margin, 8 * mm, "De-identified: no patient identifiers" if not include_phi
                          else "Contains identifiers: handle as patient data")
        canvas.drawRightString(w - margin, 8 * mm, f"Page {page} of {total}")
        canvas.drawString(margin, 4.5 * mm, f"Report id {ctx.meta.report_id}")
        if synthetic:
            canvas.setFillColor(ctx.colors.HexColor("#b00020"))
            canvas.setFont("Helvetica-Bold", 8)
            canvas.drawCentredString(w / 2, 8 * mm, SYNTHETIC_BANNER)
        canvas.restoreState()

    return page_of


def render_pdf(result: EvaluationResult, *, before_after: BeforeAfterResult | None = None,
               include_phi: bool = False, meta: ReportMeta | None = None, corruption: Any = None) -> bytes:
    """Build the PDF report in memory and return its bytes (see module docstring).

    ``meta``: the report's id, requester/approver and test-plan verdict (a fresh id when None).
    ``corruption``: a CorruptionEvaluationResult run beside the attacks (``medadv evaluate
    --corruptions``): its section follows the per-class robustness (engine/reports/corruption_report.py)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import SimpleDocTemplate

    table = before_after
    ctx = _Context(result, table, include_phi, meta)
    buf = io.BytesIO()
    margin = 16 * mm
    synthetic = result.synthetic
    model_name = ctx.t(result.model.name)[:70]

    page_of = page_frame(ctx, title=TITLE, model_name=model_name, margin=margin, include_phi=include_phi,
                         synthetic=synthetic)

    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=margin, rightMargin=margin, topMargin=16 * mm,
                            bottomMargin=15 * mm, title=TITLE, author="MedAdv Desktop",
                            subject=ctx.t(f"{TITLE}: {result.model.name}"),
                            creator=f"MedAdv Desktop {__version__}")
    width = A4[0] - 2 * margin
    story: list = []
    story += _title_block(ctx, width)
    story += _model_section(ctx, width)
    story += _dataset_section(ctx, width)
    story += _threat_section(ctx, width)
    story += _clean_section(ctx, width)
    story += _summary_section(ctx, width)
    if ctx.measures is not None:
        story += per_class_section(ctx, result, ctx.measures, width)
    if table is not None:
        story += _before_after_section(ctx, width)
    if corruption is not None:
        from medadv_desktop.engine.reports.corruption_report import corruption_section

        story += corruption_section(ctx, corruption, width)
    story += _transition_section(ctx, width)
    story += _example_section(ctx, width)
    story += _flags_section(ctx, width)
    story += _how_to_read(ctx, width)
    story += _appendix(ctx, width)
    story += signoff_section(ctx, ctx.meta, width)
    doc.build(story, canvasmaker=_numbered_canvas_class(page_of))
    return buf.getvalue()


def write_pdf(result: EvaluationResult, path: str | Path, *, before_after: BeforeAfterResult | None = None,
              overwrite: bool = False, include_phi: bool = False, meta: ReportMeta | None = None,
              corruption: Any = None) -> Path:
    """Write the PDF robustness report atomically; refuses to overwrite unless ``overwrite``.

    ``before_after``: the adversarial training before/after result (rows, training summary).
    ``include_phi``: an explicit opt-in that disables the de-identification pass.
    """
    check_output_name(path, include_phi=include_phi)
    path = Path(path)
    if path.exists() and not overwrite:
        from medadv_desktop.errors import OutputExistsError
        raise OutputExistsError(path)
    data = render_pdf(result, before_after=before_after, include_phi=include_phi, meta=meta,
                      corruption=corruption)
    out = atomic_write_bytes(path, data, overwrite=overwrite)
    log.info("Wrote PDF report %s (%d kB)", scrub_text(out.name), len(data) // 1024)
    return out
