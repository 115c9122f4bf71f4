"""PDF sections of issue 15: the test plan's verdict table (opening the report), the traceability
table, per-class robustness with intervals, and the sign-off block.

The builders take the PDF module's ``_Context`` (styles, de-identification switch, table helper)
and return lists of reportlab flowables. Rates come from
:func:`medadv_desktop.engine.metrics.per_class.per_class_measures` (every rate a
:class:`~medadv_desktop.engine.metrics.intervals.Proportion` with its interval); this module
computes none itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from medadv_desktop.engine.metrics.intervals import Proportion
from medadv_desktop.engine.reports import formatting as fmt
from medadv_desktop.engine.results import WORST_CASE

if TYPE_CHECKING:
    from medadv_desktop.engine.metrics.per_class import PerClassMeasures, RobustnessByClass
    from medadv_desktop.engine.plans import PlanVerdict
    from medadv_desktop.engine.reports.traceability import ReportMeta

STATUS_COLOURS = {"pass": "#1b7f3b", "fail": "#b00020", "not_evaluable": "#9a6700"}


def interval_text(p: Proportion | None, *, dash: str = "-") -> str:
    """'71.0 % (63.2-78.1)': the rate and its interval in percent; '-' when nothing was measured."""
    if p is None or p.value is None:
        return dash
    return f"{fmt.pct(p.value)} ({100.0 * p.low:.1f}-{100.0 * p.high:.1f})"


def counts_text(p: Proportion | None) -> str:
    return "-" if p is None or p.n == 0 else f"{p.k}/{p.n}"


def interval_note(measures: PerClassMeasures) -> str:
    method = "exact Clopper-Pearson" if measures.method == "clopper-pearson" else measures.method.title()
    return (f"Brackets: {100 * measures.confidence:g} % confidence interval ({method}), in percent. "
            "k/n: the counts behind the rate.")


# ---------------------------------------------------------------- verdict

def verdict_section(ctx: Any, verdict: PlanVerdict, width: float) -> list:
    """The verdict table: criterion, measured, interval, pass/fail, reason; then the overall verdict."""
    from reportlab.lib.units import mm
    from reportlab.platypus import Spacer, Table, TableStyle

    colour = STATUS_COLOURS.get(verdict.status, "#12355b")
    story = [ctx.heading("Verdict against the test plan")]
    head = Table([[ctx.p(f"<font color='white'><b>{escape(verdict.status_word)}</b></font>", "banner", markup=True),
                   ctx.p(escape(ctx.t(verdict.summary())) + "<br/>" + escape(
                       f"Exit code {verdict.exit_code} ({'pass' if verdict.exit_code == 0 else 'fail'}). "
                       f"Plan SHA-256 {verdict.plan_sha256}"), "cell", markup=True)]],
                 colWidths=[32 * mm, width - 32 * mm], hAlign="LEFT")
    head.setStyle(TableStyle([("BACKGROUND", (0, 0), (0, 0), ctx.colors.HexColor(colour)),
                              ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                              ("BOX", (0, 0), (-1, -1), 0.8, ctx.colors.HexColor(colour))]))
    story += [head, Spacer(1, 2 * mm)]
    rows: list[list[Any]] = [["Criterion", "Measured", "Interval", "Result", "Why"]]
    for row in verdict.rows:
        measured = ("-" if row.measured is None else
                    f"{int(row.measured)} flag(s)" if row.metric == "no_sanity_flag" else fmt.pct(row.measured))
        interval = (f"{100 * row.low:.1f}-{100 * row.high:.1f} %" if row.low is not None and row.high is not None
                    and row.metric != "no_sanity_flag" else "-")
        if row.k is not None and row.n:
            measured += f" ({row.k}/{row.n})"
        c = STATUS_COLOURS.get(row.status, "#000000")
        result = ctx.p(f"<font color='{c}'><b>{escape(row.status_word)}</b></font>", "cell", markup=True)
        why = escape(ctx.t(row.reason))
        if row.notes:
            why += "<br/><font size='6.5' color='#555555'>" + escape(ctx.t(" ".join(row.notes))) + "</font>"
        rows.append([ctx.p(f"<b>{escape(row.criterion_id)}</b> {escape(ctx.t(row.text))}", "cell", markup=True),
                     measured, interval, result, ctx.p(why, "cell", markup=True)])
    widths = [62 * mm, 22 * mm, 24 * mm, 19 * mm]
    story.append(ctx.table(rows, widths + [width - sum(widths)], align_right_from=None))
    story.append(ctx.p(f"Intervals: {100 * verdict.confidence:g} % {verdict.interval}. A criterion passes when "
                       "the bound it names meets the threshold; a criterion the run cannot answer is NOT "
                       "EVALUABLE and the plan does not pass.", "small"))
    return story


# ---------------------------------------------------------------- traceability and sign-off

def traceability_section(ctx: Any, result: Any, meta: ReportMeta, before_after: Any, width: float) -> list:
    from medadv_desktop.engine.reports.traceability import traceability_pairs

    story = [ctx.p("Traceability", "h2")]
    shown = ("Report id", "Report created", "Evaluation run")       # in the title block above
    pairs = [(k, v) for k, v in traceability_pairs(result, meta, before_after) if k not in shown]
    # staff names are printed as given (not patient data); everything else is scrubbed by kv_table
    story.append(ctx.kv_table(pairs, width, key_width=55))
    return story


def signoff_section(ctx: Any, meta: ReportMeta, width: float) -> list:
    from reportlab.lib.units import mm
    from reportlab.platypus import KeepTogether, Spacer, Table, TableStyle

    rows = [["Role", "Name", "Signature", "Date"],
            ["Requested by", meta.requester or "", "", ""],
            ["Approved by", meta.approver or "", "", ""]]
    tbl = Table([[ctx.p(c, "cellb" if i == 0 else "cell") for c in row] for i, row in enumerate(rows)],
                colWidths=[30 * mm, 55 * mm, width - 120 * mm, 35 * mm], rowHeights=[6 * mm, 14 * mm, 14 * mm],
                hAlign="LEFT")
    tbl.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, ctx.colors.HexColor("#999999")),
                             ("BACKGROUND", (0, 0), (-1, 0), ctx.colors.HexColor("#e8eef5")),
                             ("VALIGN", (0, 0), (-1, -1), "MIDDLE")]))
    block = [ctx.heading("Sign-off"),
             ctx.p(f"Report id {meta.report_id}. By signing, the approver accepts this report for the decision "
                   "named in the test plan; the numbers hold only for this model, data set, attacks and budgets.",
                   "lead"),
             Spacer(1, 2 * mm), tbl]
    return [KeepTogether(block)]


# ---------------------------------------------------------------- per-class robustness

def _class_rows(ctx: Any, entries: list[RobustnessByClass], class_name: str, result: Any) -> list[list[Any]]:
    rows = []
    for at in entries:
        rates = at.of(class_name)
        if rates is None:
            continue
        label = "Worst case" if at.attack == WORST_CASE else result.attack_label(at.attack)
        rows.append([label + (" *" if at.cumulative else ""),
                     fmt.eps_all_units(at.eps, at.eps_native, result.units),
                     interval_text(rates.sensitivity), counts_text(rates.sensitivity),
                     interval_text(rates.specificity), counts_text(rates.specificity)])
    return rows


def per_class_section(ctx: Any, result: Any, measures: PerClassMeasures, width: float) -> list:
    """One table per class: robust sensitivity and specificity per attack and eps, with intervals
    (worst case rows in bold); small-sample cautions in words."""
    from reportlab.lib.units import mm
    from reportlab.platypus import KeepTogether

    story = [ctx.heading("Robustness per class")]
    if not measures.robust:
        story.append(ctx.p("The result holds no per-sample records, so per-class robustness cannot be given."))
        return story
    two = len(measures.class_names) == 2
    story.append(ctx.p(
        "Sensitivity of a class under attack: the share of its images still called that class after the "
        "attack (an image missed without attack counts as missed). Specificity: the share of the other "
        "classes' images not turned into that class. " + interval_note(measures)
        + (" With two classes, the robust sensitivity of one class equals the robust specificity of the other."
           if two else ""), "lead"))
    widths = [34, 40, 30, 14, 30, 14]
    scale = width / (sum(widths) * mm)
    col_w = [w * mm * scale for w in widths]
    cautions: list[str] = []
    for rates in measures.clean:
        name = rates.class_name
        header = ["Attack", "eps", "Sensitivity", "k/n", "Specificity", "k/n"]
        rows: list[list[Any]] = [header, ["Clean (no attack)", "-", interval_text(rates.sensitivity),
                                          counts_text(rates.sensitivity), interval_text(rates.specificity),
                                          counts_text(rates.specificity)]]
        body = _class_rows(ctx, list(measures.robust), name, result)
        bold = tuple(i + 2 for i, row in enumerate(body) if str(row[0]).startswith("Worst case"))
        rows += body
        story.append(KeepTogether([ctx.p(f"Class '{name}' ({rates.sensitivity.n} images)", "h2"),
                                   ctx.table(rows, col_w, bold_rows=bold)]))
        worst = [at for at in measures.robust if at.attack == WORST_CASE]
        if worst:
            largest = max(worst, key=lambda a: a.eps)
            of = largest.of(name)
            if of is not None:
                c = of.sensitivity.caution(subject=f"the worst-case robust sensitivity of '{name}'")
                if c:
                    cautions.append(c)
    caveat = next((at.caveat for at in measures.robust if at.caveat), None)
    notes = cautions + ([caveat] if caveat else [])
    if any(at.cumulative for at in measures.robust):
        notes.append("* cumulative (attack cascade): after this attack and the ones above it.")
    for n in notes:
        story.append(ctx.p(n, "small"))
    return story


# ---------------------------------------------------------------- before / after with the paired test

def paired_rows(table: Any) -> list[tuple[Any, Any]]:
    """(row, PairedComparison or None) per before/after row: the exact McNemar test and the interval
    of the change when both evaluations with their per-sample records are at hand."""
    from medadv_desktop.engine.metrics.per_class import paired_robustness
    from medadv_desktop.engine.results import CLEAN

    out = []
    for row in table.rows:
        cmp = None
        if table.before is not None and table.after is not None and table.before.samples and table.after.samples:
            try:
                cmp = paired_robustness(table.before, table.after, attack=None if row.attack == CLEAN else row.attack,
                                        eps=None if row.attack == CLEAN else row.eps)
            except ValueError:
                cmp = None
        out.append((row, cmp))
    return out


def _rate_with_n(value: Any, n: int) -> str:
    """A table-only accuracy (no records): its exact interval from k = value x n."""
    from medadv_desktop.engine.metrics.intervals import proportion

    if not fmt.is_number(value) or n <= 0:
        return fmt.pct(value)
    return interval_text(proportion(int(round(value * n)), n))


def before_after_section(ctx: Any, width: float, *, with_recipe: bool = True) -> list:
    """Accuracy before and after adversarial training with intervals, the change with its interval
    and the exact McNemar p-value (same samples), and small-sample cautions in words."""
    from reportlab.lib.units import mm
    from reportlab.platypus import Spacer

    from medadv_desktop.engine.metrics.intervals import SMALL_N
    from medadv_desktop.engine.results import CLEAN

    table = ctx.before_after
    if table is None:
        return []
    story = [ctx.heading("Adversarial training: before and after")]
    story.append(ctx.p("Accuracy of the original model and of the adversarially trained copy on the same test "
                       "images, with 95 % intervals. Change in percentage points (positive = the trained model is "
                       "more robust); its interval (Newcombe, paired) and the exact McNemar test use the same "
                       "images before and after.", "lead"))
    rows: list[list[Any]] = [["Attack", "eps", "Before (95 % CI)", "After (95 % CI)", "Change, points (95 % CI)",
                              "McNemar p"]]
    bold: list[int] = []
    cautions: list[str] = []
    chance: list[str] = []
    smallest = 1 << 30
    units = ctx.result.units
    n = int(table.n_samples or 0)
    paired = paired_rows(table)
    for row, cmp in paired:
        native = row.eps_native if row.eps_native is not None else ctx.result.eps_native_at(row.eps)
        eps_text = "-" if row.attack == CLEAN else fmt.eps_all_units(row.eps, native, units)
        label = table.attack_label(row.attack)
        if label == row.attack:
            label = ctx.result.attack_label(row.attack)
        if cmp is not None and cmp.difference is not None:
            change = f"{100 * cmp.difference:+.1f} ({100 * cmp.low:+.1f} to {100 * cmp.high:+.1f})"
            rows.append([label, eps_text, interval_text(cmp.before), interval_text(cmp.after), change,
                         f"{cmp.p_value:.2g}"])
            alpha = 1.0 - cmp.confidence
            if cmp.low <= 0.0 <= cmp.high or cmp.p_value >= alpha:
                chance.append(label + ("" if row.attack == CLEAN else f" at {fmt.eps_fraction(row.eps)}"))
            smallest = min(smallest, cmp.n)
        else:
            rows.append([label, eps_text, _rate_with_n(row.accuracy_before, n), _rate_with_n(row.accuracy_after, n),
                         fmt.points(row.change, unit="pts"), "-"])
        if row.attack in (WORST_CASE, CLEAN):
            bold.append(len(rows) - 1)
    widths = [30 * mm, 36 * mm, 30 * mm, 30 * mm]
    story.append(ctx.table(rows, widths + [width - sum(widths) - 16 * mm, 16 * mm], bold_rows=tuple(bold)))
    if smallest < SMALL_N:
        cautions.append(f"Few samples (n = {smallest} pairs): every change is uncertain; read the intervals, "
                        "not the point values.")
    if chance:
        cautions.append("Within the uncertainty (the change's 95 % interval contains 0 or McNemar p >= 0.05), "
                        "so possibly chance: " + "; ".join(chance) + ".")
    if not any(cmp is not None for _, cmp in paired):
        cautions.insert(0, "The saved table holds no per-sample outcomes, so the changes are not tested (no paired "
                           "interval, no McNemar test); give the full before/after result for them."
                        + (f" With n = {n} images, changes of a few points may be chance." if 0 < n < 10 * SMALL_N
                           else ""))
    for c in cautions[:12]:
        story.append(ctx.p(c, "small"))
    if table.training is not None and with_recipe:
        from medadv_desktop.engine.reports.traceability import training_recipe_in_words

        story.append(Spacer(1, 2 * mm))
        story.append(ctx.kv_table([("Training recipe", training_recipe_in_words(table.training))], width,
                                  key_width=35))
    return story
