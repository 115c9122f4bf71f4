"""The corruption section of the PDF reports, and the corruption evaluation's own PDF.

A :class:`~medadv_desktop.engine.results.corruption.CorruptionEvaluationResult`
(data set x corruptions x severities) becomes:

* key findings in words (clean accuracy, mCE relative to the model's own clean
  error, the corruption that hurts most, the lossy compression rows);
* the table corruption x severity: the physical level (with the compression
  ratio actually reached for the lossy codecs), accuracy with its 95 %
  interval, the sensitivity of each class with its interval, prediction flips
  against the clean prediction, the mean change of the true-class probability
  and, after "corruption then attack", the robust accuracy. An accuracy whose
  whole interval lies below the clean accuracy is printed in red: the drop is
  not chance. The clean row comes first; every row is shown (JPEG 2000 included);
* the corruption error per corruption (CE, added error in points, CE as a
  multiple of the clean error, worst severity) and the mean (mCE);
* the severity curve: accuracy against severity (0 = clean) for every
  corruption, each with its own colour, dash pattern and marker, so lines
  that coincide stay told apart.

:func:`corruption_section` is called by :func:`medadv_desktop.engine.reports.pdf.render_pdf`
when an attack evaluation has a corruption evaluation beside it
(``medadv evaluate --corruptions``); :func:`write_corruption_pdf` writes the
corruption evaluation as a report of its own (``medadv evaluate-corruptions
--report``, the GUI's export of a corruption result). Rates and intervals are
the result's own (computed by the evaluation); this module computes none.
Every string passes through the report scrubber unless ``include_phi``.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from medadv_desktop.engine.reports import formatting as fmt
from medadv_desktop.engine.reports.deid import check_output_name, scrub_text
from medadv_desktop.engine.reports.traceability import ReportMeta
from medadv_desktop.engine.results.corruption import CorruptionEvaluationResult, CorruptionRow, Rate
from medadv_desktop.engine.serialization import atomic_write_bytes
from medadv_desktop.errors import OutputExistsError

log = logging.getLogger(__name__)

TITLE = "Acquisition-artefact robustness report"
SECTION_TITLE = "Robustness to acquisition and archive artefacts (corruptions)"
LOSSY = ("jpeg", "jpeg2000")
#: Per-class sensitivity columns beside the accuracy when the model has at most this many classes;
#: more classes get a per-class table of their own.
INLINE_CLASSES = 3

# Line styles of the severity curve: colour, dash and marker cycle with co-prime-ish periods (8, 5, 7),
# so the first 280 corruptions all differ in at least one of them.
_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f"]
_DASHES: list[list[float] | None] = [None, [4, 2], [1, 2], [6, 2, 1, 2], [8, 3]]
_MARKERS = ["FilledCircle", "FilledTriangle", "FilledDiamond", "Cross", "FilledStarFive", "FilledPentagon",
            "FilledSquare"]

HOW_TO_READ = [
    ("Severity", "1 (mild) to 5 (severe), calibrated in physical terms (the level column: e.g. the CT dose "
                 "kept, the blur FWHM in mm, the compression ratio); 0 is the image as acquired."),
    ("Accuracy", "the share of images classified correctly after the corruption. Red: the whole 95 % "
                 "interval lies below the clean accuracy, so the drop is not chance."),
    ("Flips", "the share of images whose prediction changed against the prediction on the clean image "
              "(right or wrong)."),
    ("Conf. change", "mean change of the model's probability for the true class (negative: less sure)."),
    ("CE", "corruption error: the mean error over the severities evaluated (after ImageNet-C, with the "
           "model's own clean error as the baseline). Relative CE: CE as a multiple of the clean error; "
           "mCE: the mean over the corruptions."),
    ("Where", "corruptions act on the studies' native pixels (HU for CT) before the model card's intensity "
              "mapping, as a scanner or an archive would; each is deterministic under the run's seed."),
]


# ---------------------------------------------------------------- text helpers

def rate_text(rate: Rate | None, *, dash: str = "-", compact: bool = False) -> str:
    """'71.0 % (63.2-78.1)': the rate and its interval in percent ('71.0% (63.2-78.1)' when ``compact``)."""
    if rate is None or rate.value is None:
        return dash
    value = fmt.pct_compact(rate.value) if compact else fmt.pct(rate.value)
    return f"{value} ({100.0 * rate.low:.1f}-{100.0 * rate.high:.1f})"


def level_text(row: CorruptionRow) -> str:
    """The physical level of a row ('12.5 % dose', '20:1 ratio'), with the compression ratio reached
    by a lossy codec when it was measured ('20:1 ratio, reached 19.6:1')."""
    if row.level is None:
        return "-"
    unit = row.level_unit.strip()
    text = f"{fmt.num(row.level, 4)}{'' if unit.startswith(':') else ' '}{unit}".strip()
    ratio = row.measured.get("compression_ratio") if isinstance(row.measured, dict) else None
    if fmt.is_number(ratio):
        text += f", reached {float(ratio):.3g}:1"
    return text


def _below_clean(row: CorruptionRow, clean: CorruptionRow) -> bool:
    """The whole interval of the row's accuracy lies below the clean accuracy (point estimate)."""
    a, c = row.accuracy, clean.accuracy
    return a.value is not None and c.value is not None and a.high < c.value


def worst_rows(result: CorruptionEvaluationResult) -> list[CorruptionRow]:
    """Each corruption's row at its worst severity (lowest accuracy), worst first."""
    out = []
    for s in result.summaries:
        row = result.row(s.corruption, s.worst_severity) if s.worst_severity is not None else None
        if row is not None and row is not result.clean:
            out.append(row)
    return sorted(out, key=lambda r: r.accuracy.value if r.accuracy.value is not None else 2.0)


def key_findings(result: CorruptionEvaluationResult) -> list[str]:
    """The findings in words: clean accuracy, mCE, the most harmful corruption, the lossy codecs."""
    clean = result.clean
    out = [f"Clean accuracy {rate_text(clean.accuracy)} on {result.n_samples} images "
           f"({', '.join(result.corruptions)} at severities {','.join(map(str, result.severities))})."]
    if result.mce is not None:
        rel = f", {result.relative_mce:.2f} x the clean error" if result.relative_mce is not None else ""
        out.append(f"Mean corruption error (mCE) {fmt.pct(result.mce)}: "
                   f"{fmt.points(result.mean_added_error, unit='points')} over the clean error{rel}.")
    worst = worst_rows(result)
    if worst:
        w = worst[0]
        out.append(f"Most harmful: {w.label} at severity {w.severity} ({level_text(w)}): accuracy "
                   f"{rate_text(w.accuracy)}, {fmt.pct(w.flips.value)} of predictions flipped.")
    for row in worst:
        if row.corruption in LOSSY and row is not (worst[0] if worst else None):
            out.append(f"{row.label} at severity {row.severity} ({level_text(row)}): accuracy "
                       f"{rate_text(row.accuracy)}.")
    if result.attack:
        a = result.attack
        eps = a.get("eps")
        nat = a.get("eps_native")
        out.append(f"Corruption then attack: {a.get('name')} at eps "
                   f"{fmt.eps_all_units(float(eps), nat, str(a.get('units') or '')) if fmt.is_number(eps) else '-'} "
                   f"on the corrupted images; clean-image robust accuracy {rate_text(clean.robust_accuracy)}.")
    return out


# ---------------------------------------------------------------- flowables

def _table_rows(ctx: Any, result: CorruptionEvaluationResult, inline: bool) -> tuple[list[list[Any]], list[int],
                                                                                      list[tuple[int, int]]]:
    """Rows of the main table, the indices of the clean row and first rows, and the red cells."""
    attack = result.attack is not None
    head = ["Corruption", "Sev.", "Level", "Accuracy (95 % CI)"]
    if inline:
        head += [f"Sens. {c} (95 % CI)" for c in result.class_names]
    head += ["Flips", "Conf. change"] + (["Robust acc. (95 % CI)"] if attack else [])
    rows: list[list[Any]] = [head]
    firsts: list[int] = []
    red: list[tuple[int, int]] = []
    previous = None
    for row in [result.clean, *result.rows]:
        first = row.corruption != previous
        previous = row.corruption
        line: list[Any] = [row.label if first else "", str(row.severity), level_text(row),
                           rate_text(row.accuracy, compact=True)]
        if inline:
            line += [rate_text(c.sensitivity, compact=True) for c in row.per_class]
            line += ["-"] * (len(result.class_names) - len(row.per_class))
        line += [fmt.pct(row.flips.value), fmt.fixed(row.mean_conf_change, 3)]
        if attack:
            line.append(rate_text(row.robust_accuracy, compact=True))
        rows.append(line)
        if first:
            firsts.append(len(rows) - 1)
        if row is not result.clean and _below_clean(row, result.clean):
            red.append((3, len(rows) - 1))
    return rows, firsts, red


def _small(ctx: Any, rows: list[list[Any]], header_rows: int = 1,
           red: frozenset[tuple[int, int]] = frozenset()) -> list[list[Any]]:
    """Table cells as 7-point paragraphs (the corruption tables are wide); (col, row) in ``red``:
    bold red."""
    from reportlab.lib.styles import ParagraphStyle

    if "cell7" not in ctx.styles:
        ctx.styles["cell7"] = ParagraphStyle("Cell7", parent=ctx.styles["cell"], fontSize=7, leading=8.4)
        ctx.styles["cellb7"] = ParagraphStyle("CellB7", parent=ctx.styles["cellb"], fontSize=7, leading=8.4)
    out = []
    for i, row in enumerate(rows):
        line = []
        for j, value in enumerate(row):
            if hasattr(value, "wrap"):
                line.append(value)
            elif (j, i) in red:
                line.append(ctx.p(f"<font color='#b00020'><b>{escape(ctx.t(value))}</b></font>", "cell7",
                                  markup=True))
            else:
                line.append(ctx.p(value, "cellb7" if i < header_rows else "cell7"))
        out.append(line)
    return out


def _main_table(ctx: Any, result: CorruptionEvaluationResult, width: float, inline: bool) -> Any:
    from reportlab.lib.units import mm
    from reportlab.platypus import TableStyle

    rows, firsts, red = _table_rows(ctx, result, inline)
    widths = [27.0, 9.0, 27.0, 27.0] + ([27.0] * len(result.class_names) if inline else [])
    widths += [11.0, 13.0] + ([27.0] if result.attack is not None else [])
    scale = width / (sum(widths) * mm)
    tbl = ctx.table(_small(ctx, rows, red=frozenset(red)), [w * mm * scale for w in widths], zebra=False)
    style: list[tuple[Any, ...]] = [("LINEABOVE", (0, i), (-1, i), 0.4, ctx.colors.HexColor("#bbbbbb"))
                                    for i in firsts[1:]]
    style.append(("BACKGROUND", (0, 1), (-1, 1), ctx.colors.HexColor("#eef5ee")))
    tbl.setStyle(TableStyle(style))
    return tbl


def _per_class_tables(ctx: Any, result: CorruptionEvaluationResult, width: float) -> list:
    """Per-class sensitivity tables (4 classes per table) for models with many classes."""
    from reportlab.lib.units import mm

    story: list = [ctx.p("Sensitivity per class under each corruption (95 % CI)", "h2")]
    names = list(result.class_names)
    for start in range(0, len(names), 4):
        part = names[start:start + 4]
        rows: list[list[Any]] = [["Corruption", "Sev."] + [f"{c}" for c in part]]
        for row in [result.clean, *result.rows]:
            by = {c.class_name: c for c in row.per_class}
            rows.append([row.label, str(row.severity)]
                        + [rate_text(by[c].sensitivity, compact=True) if c in by else "-" for c in part])
        widths = [40.0, 10.0] + [30.0] * len(part)
        scale = width / (sum(widths) * mm)
        story.append(ctx.table(_small(ctx, rows), [w * mm * scale for w in widths]))
    return story


def _ce_table(ctx: Any, result: CorruptionEvaluationResult, width: float) -> Any:
    from reportlab.lib.units import mm

    rows: list[list[Any]] = [["Corruption", "Severities", "CE", "Added error", "Relative CE", "Worst severity"]]
    for s in result.summaries:
        rows.append([s.label, ",".join(map(str, s.severities)), fmt.pct(s.ce), fmt.points(s.added_error, unit="pts"),
                     f"{s.relative_ce:.2f} x" if s.relative_ce is not None else "- (clean error 0)",
                     f"{s.worst_severity}: accuracy {fmt.pct(s.worst_accuracy)}" if s.worst_severity else "-"])
    rows.append(["Mean (mCE)", ",".join(map(str, result.severities)), fmt.pct(result.mce),
                 fmt.points(result.mean_added_error, unit="pts"),
                 f"{result.relative_mce:.2f} x" if result.relative_mce is not None else "-", ""])
    widths = [45.0, 22.0, 20.0, 24.0, 28.0, 40.0]
    scale = width / (sum(widths) * mm)
    return ctx.table(_small(ctx, rows), [w * mm * scale for w in widths], bold_rows=(len(rows) - 1,))


def _legend_label(label: str, max_width: float) -> str:
    from reportlab.pdfbase.pdfmetrics import stringWidth

    label = scrub_text(label)
    while len(label) > 4 and stringWidth(label, "Helvetica", 7.5) + 12 > max_width:
        label = label[:-4].rstrip() + "..."
    return label


def series_styles(n: int) -> list[tuple[str, list[float] | None, str]]:
    """(colour, dash pattern or None, marker) of the first ``n`` curves: all distinct."""
    return [(_COLOURS[i % len(_COLOURS)], _DASHES[i % len(_DASHES)], _MARKERS[i % len(_MARKERS)]) for i in range(n)]


def severity_chart(result: CorruptionEvaluationResult, width: float, height: float = 250) -> Any:
    """A reportlab Drawing: accuracy (%) against severity (0 = clean) for every corruption."""
    from reportlab.graphics.charts.legends import Legend
    from reportlab.graphics.charts.lineplots import LinePlot
    from reportlab.graphics.shapes import Drawing, Group, String
    from reportlab.graphics.widgets.markers import makeMarker
    from reportlab.lib import colors
    from reportlab.lib.validators import Auto

    clean = result.clean.accuracy.value
    series, labels = [], []
    for s in result.summaries:
        pts = [(0.0, 100.0 * clean)] if clean is not None else []
        for row in result.rows:
            if row.corruption == s.corruption and row.accuracy.value is not None:
                pts.append((float(row.severity), 100.0 * row.accuracy.value))
        if pts:
            series.append(sorted(pts))
            labels.append(s.label)
    legend_w = 150.0
    d = Drawing(width, height)
    lp = LinePlot()
    lp.x, lp.y = 44, 36
    lp.width, lp.height = width - lp.x - legend_w - 20, height - lp.y - 10
    lp.data = series or [[(0.0, 0.0)]]
    lp.xValueAxis.valueMin, lp.xValueAxis.valueMax = -0.15, 5.15
    lp.xValueAxis.valueSteps = [0, 1, 2, 3, 4, 5]
    lp.xValueAxis.labelTextFormat = lambda v: "clean" if v == 0 else f"{int(round(v))}"
    lp.yValueAxis.valueMin, lp.yValueAxis.valueMax, lp.yValueAxis.valueStep = 0, 100, 20
    lp.yValueAxis.labelTextFormat = "%d"
    for axis in (lp.xValueAxis, lp.yValueAxis):
        axis.labels.fontName, axis.labels.fontSize = "Helvetica", 7.5
    lp.yValueAxis.visibleGrid = True
    lp.yValueAxis.gridStrokeColor = colors.HexColor("#dddddd")
    lp.yValueAxis.gridStrokeWidth = 0.4
    styles = series_styles(len(series))
    for i, (colour, dash, marker) in enumerate(styles):
        c = colors.HexColor(colour)
        lp.lines[i].strokeColor = c
        lp.lines[i].strokeWidth = 1.3
        if dash:
            lp.lines[i].strokeDashArray = dash
        lp.lines[i].symbol = makeMarker(marker, size=4, fillColor=c, strokeColor=c)
        lp.lines[i].name = _legend_label(labels[i], legend_w)
    d.add(lp)
    d.add(String(lp.x + lp.width / 2, 6, "Severity (0 = the image as acquired; level per severity in the table)",
                 fontName="Helvetica", fontSize=8, textAnchor="middle"))
    ylab = Group(String(0, 0, "Accuracy (%)", fontName="Helvetica", fontSize=8, textAnchor="middle"))
    ylab.transform = (0, 1, -1, 0, 12, lp.y + lp.height / 2)
    d.add(ylab)
    # the legend draws each corruption's own line (colour, dash) and marker: LinePlot's swatches
    legend = Legend()
    legend.x, legend.y = lp.x + lp.width + 14, lp.y + lp.height
    legend.alignment = "right"
    legend.fontName, legend.fontSize = "Helvetica", 7.5
    legend.colorNamePairs = Auto(obj=lp)
    legend.columnMaximum = 20
    legend.dx, legend.dy, legend.deltay = 22, 6, 10
    d.add(legend)
    return d


def _flowing_heading(ctx: Any, text: str) -> Any:
    """An h2 heading that does not keep with the next flowable: a long table then starts on the
    same page instead of leaving it half empty (the table repeats its header on every page)."""
    from reportlab.lib.styles import ParagraphStyle

    if "h2flow" not in ctx.styles:
        ctx.styles["h2flow"] = ParagraphStyle("H2Flow", parent=ctx.styles["h2"], keepWithNext=0)
    return ctx.p(text, "h2flow")


def corruption_section(ctx: Any, result: CorruptionEvaluationResult, width: float) -> list:
    """The corruption section (module doc) for a report built with the PDF module's ``_Context``."""
    from reportlab.lib.units import mm
    from reportlab.platypus import KeepTogether, Spacer

    story: list = [ctx.heading(SECTION_TITLE)]
    d = result.dataset
    synthetic = " Synthetic demo data." if d.synthetic else ""
    method = result.clean.accuracy.method
    conf = result.clean.accuracy.confidence
    story.append(ctx.p(
        f"How the model holds up to the artefacts scanners and archives produce: {len(result.corruptions)} "
        f"corruption(s) at severities {','.join(map(str, result.severities))} on {result.n_samples} images of "
        f"'{d.name}' (modality {result.modality or '-'}), seed {result.seed}.{synthetic} Brackets: "
        f"{100 * conf:g} % confidence interval ({'exact Clopper-Pearson' if method == 'clopper-pearson' else method})"
        ", in percent.", "lead"))
    story.append(ctx.p("Key findings", "h2"))
    for b in key_findings(result):
        story.append(ctx.p(f"&bull;&nbsp;{escape(ctx.t(b))}", "body", markup=True))
    story.append(Spacer(1, 2 * mm))
    inline = len(result.class_names) <= INLINE_CLASSES
    story.append(_flowing_heading(ctx, "Accuracy, per-class sensitivity and prediction flips by corruption and "
                                       "severity"))
    story.append(_main_table(ctx, result, width, inline))
    notes = ["Red accuracy: its whole interval lies below the clean accuracy (the drop is not chance)."]
    if result.attack is not None:
        notes.append("Robust acc.: right after the corruption and after the attack on the corrupted image "
                     "(clean row: the attack on the clean image).")
    if result.n_samples < 30:
        notes.append(f"Caution: {result.n_samples} images; every rate here is uncertain (see the intervals).")
    story.append(ctx.p(" ".join(notes), "small"))
    if not inline:
        story += _per_class_tables(ctx, result, width)
    story.append(KeepTogether([ctx.p("Corruption error relative to the clean error", "h2"),
                               _ce_table(ctx, result, width),
                               ctx.p(f"Clean error {fmt.pct(result.clean.error)}. CE: mean error over the "
                                     "severities evaluated; added error in percentage points; relative CE: CE "
                                     "as a multiple of the clean error (ImageNet-C's mCE with the model as its "
                                     "own baseline).", "small")]))
    story.append(Spacer(1, 2 * mm))
    story.append(KeepTogether([
        ctx.p("Accuracy against severity", "h2"), severity_chart(result, width),
        ctx.p("Figure. Accuracy against severity for every corruption; severity 0 is the clean accuracy. Each "
              "corruption has its own colour, dash pattern and marker, so lines that coincide stay apart.",
              "caption")]))
    rows = [[ctx.p(term, "cellb"), ctx.p(text, "cell")] for term, text in HOW_TO_READ]
    story.append(KeepTogether([ctx.p("How to read the corruption results", "h2"),
                               ctx.table(rows, [30 * mm, width - 30 * mm], header_rows=0, align_right_from=None)]))
    return story


# ---------------------------------------------------------------- the corruption evaluation's own PDF

def _trace_pairs(result: CorruptionEvaluationResult, meta: ReportMeta) -> list[tuple[str, str]]:
    prov = result.provenance or {}
    software = prov.get("software") if isinstance(prov.get("software"), dict) else {}
    d = result.dataset
    pairs = [("Report id", meta.report_id),
             ("Report created", meta.created_utc.replace("T", " ").replace("+00:00", " UTC")),
             ("Evaluation run", str(prov.get("date_utc") or "").replace("T", " ").replace("+00:00", " UTC")),
             ("Requested by", meta.requester), ("Approver", meta.approver), ("Purpose", meta.purpose),
             ("Model", result.model.name),
             ("Model weights SHA-256", result.model.sha256 or ""),
             ("Parent model SHA-256 (trained from)", result.model.parent_sha256 or ""),
             ("Data set", f"{d.name}: {result.n_samples} images" + (", synthetic demo data" if d.synthetic else "")),
             ("Data set fingerprint (SHA-256)", d.fingerprint or ""),
             ("Classes", ", ".join(result.class_names)),
             ("Modality", result.modality),
             ("Corruptions", ", ".join(result.corruptions)),
             ("Severities", ",".join(map(str, result.severities))),
             ("Seed", str(result.seed))]
    if meta.verdict is not None:
        v = meta.verdict
        pairs += [("Test plan", v.plan_title + (f", version {v.plan_version}" if v.plan_version else "")),
                  ("Test plan SHA-256", v.plan_sha256)]
    pairs.append(("Software (evaluation)", ", ".join(f"{k} {v}" for k, v in (software or {}).items() if v)))
    return [(k, v) for k, v in pairs if v and str(v).strip()]


def render_corruption_pdf(result: CorruptionEvaluationResult, *, meta: ReportMeta | None = None,
                          include_phi: bool = False) -> bytes:
    """The corruption evaluation's own PDF: title, traceability, the test plan's verdict (when
    ``meta.verdict``), the corruption section and the sign-off block. "Page X of Y" on every page."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import SimpleDocTemplate, Spacer

    from medadv_desktop import __version__
    from medadv_desktop.engine.reports.pdf import SYNTHETIC_BANNER, _Context, _numbered_canvas_class, page_frame
    from medadv_desktop.engine.reports.verdict_section import signoff_section, verdict_section

    ctx = _Context(result, None, include_phi, meta)            # type: ignore[arg-type]
    margin = 16 * mm
    width = A4[0] - 2 * margin
    synthetic = bool(result.dataset.synthetic or result.model.synthetic)
    story: list = [ctx.p(TITLE, "title"), ctx.p(f"Model: {result.model.name or 'unnamed model'}", "subtitle"),
                   Spacer(1, 2 * mm)]
    if synthetic:
        story += [ctx.banner(SYNTHETIC_BANNER.upper() + " - the data or the model is synthetic/demo; "
                             "the numbers say nothing about clinical performance.", width), Spacer(1, 3 * mm)]
    story.append(ctx.kv_table(_trace_pairs(result, ctx.meta), width, key_width=55))
    story.append(Spacer(1, 3 * mm))
    if ctx.meta.verdict is not None:
        story += verdict_section(ctx, ctx.meta.verdict, width)
    story += corruption_section(ctx, result, width)
    story += signoff_section(ctx, ctx.meta, width)
    model_name = ctx.t(result.model.name)[:70]

    page_of = page_frame(ctx, title=TITLE, model_name=model_name, margin=margin, include_phi=include_phi,
                         synthetic=synthetic)

    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=margin, rightMargin=margin, topMargin=16 * mm,
                            bottomMargin=15 * mm, title=TITLE, author="MedAdv Desktop",
                            subject=ctx.t(f"{TITLE}: {result.model.name}"), creator=f"MedAdv Desktop {__version__}")
    doc.build(story, canvasmaker=_numbered_canvas_class(page_of))
    return buf.getvalue()


def write_corruption_pdf(result: CorruptionEvaluationResult, path: str | Path, *, meta: ReportMeta | None = None,
                         overwrite: bool = False, include_phi: bool = False) -> Path:
    """Write the corruption evaluation's PDF atomically; refuses to overwrite unless ``overwrite``."""
    check_output_name(path, include_phi=include_phi)
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(path)
    data = render_corruption_pdf(result, meta=meta, include_phi=include_phi)
    out = atomic_write_bytes(path, data, overwrite=overwrite)
    log.info("Wrote corruption PDF %s (%d kB)", scrub_text(out.name), len(data) // 1024)
    return out


__all__ = ["corruption_section", "key_findings", "render_corruption_pdf", "series_styles", "severity_chart",
           "write_corruption_pdf"]
