"""Results: every run's rows in the Results dock, its samples with previews, and opening a sample in the viewer.

Sample previews use the model card's clinical window (the window the model
sees), not the image's full range. A sample of a study attack opens at its
slice of its study; an evaluation's example panel opens as a study of its own
(original and adversarial, in native units when the card maps a window).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QObject

from medadv_desktop.engine.reports.formatting import eps_255, pct
from medadv_desktop.ui.session import AttackRun, BeforeAfterEntry, EvaluationEntry, Session
from medadv_desktop.ui.widgets.guard_banner import GuardBanner
from medadv_desktop.ui.widgets.per_class_table import PerClassTable
from medadv_desktop.ui.widgets.results_panel import TAB_PREDICTION, TAB_SUMMARY, ResultsPanel
from medadv_desktop.ui.widgets.sample_table import LazyEntries, SampleEntry
from medadv_desktop.ui.widgets.summary_table import SummaryRow, evaluation_rows, study_attack_rates
from medadv_desktop.ui.widgets.verdict_table import VerdictTable


def card_window(card: Any, study: Any = None) -> tuple[float, float] | None:
    """(low, high) in native units: the card's window, else the study's first preset."""
    intensity = getattr(card, "intensity", None)
    window = intensity.fixed_window() if intensity is not None else None
    if window is not None:
        return window
    if study is not None:
        preset = (list(study.presets) or [study.default_preset()])[0]
        return (preset.low, preset.high)
    return None


NO_BARS = "No attack result for this slice"


def prediction_gap(outcome: Any, slice_index: int, any_attack: bool) -> str:
    """Why Results ▸ Prediction change has no bars for this study and slice ("" when it has)."""
    if outcome is None:
        return ("No attack result for this study: run an attack on it, or select the study that was "
                "attacked." if any_attack else "Run an attack to see how the prediction changes.")
    result = outcome.result
    if result.clean_probs is None:
        return "This result keeps no class probabilities (an evaluation example keeps its top confidences only)."
    if slice_index not in result.slices:
        attacked = ", ".join(str(s + 1) for s in result.slices[:5]) + (" …" if len(result.slices) > 5 else "")
        return f"Slice {slice_index + 1} was not attacked (attacked: slice {attacked})."
    return ""


class ResultsController(QObject):
    """Session results -> Results dock; the dock's picks -> the session (current result, sample to open)."""

    def __init__(self, session: Session, panel: ResultsPanel) -> None:
        super().__init__(session)
        self.session, self.panel = session, panel
        self.example_studies: dict[int, int] = {}      # id(ExamplePanel) -> study index, opened once
        session.result_added.connect(self._on_result)
        session.slice_changed.connect(lambda _i: self._show_chart())
        session.current_study_changed.connect(lambda _i: self._show_chart())
        panel.sig_sample_selected.connect(self._on_sample)
        panel.sig_sample_open.connect(self.open_sample)
        panel.sig_summary_selected.connect(self._on_summary)
        self._rows: list[tuple[SummaryRow, Any]] = []    # summary row -> its entry
        # the modality guard's warnings kept with the shown result, on the two pages a result opens on
        self.guard_banners = [GuardBanner(), GuardBanner()]
        for tab, banner in zip((TAB_PREDICTION, TAB_SUMMARY), self.guard_banners):
            panel.widget(tab).layout().insertWidget(0, banner)
        self.verdict = VerdictTable()          # the test plan's verdict of the shown evaluation (issue 15)
        panel.widget(TAB_SUMMARY).layout().insertWidget(1, self.verdict)
        self.per_class = PerClassTable()       # per-class robust sensitivity/specificity (issue 15, p1516)
        panel.addTab(self.per_class, "Per class")

    def _show_warnings(self, warnings: list[Any]) -> None:
        for banner in self.guard_banners:
            banner.set_warnings(warnings, "This result ran despite the modality guard:")

    # -- results ------------------------------------------------------------------
    def _on_result(self, entry: Any) -> None:
        if isinstance(entry, AttackRun):
            self._show_attack(entry)
        elif isinstance(entry, EvaluationEntry):
            self._show_evaluation(entry)
        elif isinstance(entry, BeforeAfterEntry):
            self.panel.class_names = list(entry.table.after.class_names) if entry.table.after else []

    def _add_rows(self, rows: list[SummaryRow], entry: Any) -> None:
        self._rows.extend((row, entry) for row in rows)
        self.panel.add_summary(rows)

    def _show_attack(self, run: AttackRun) -> None:
        session = self.session
        self.panel.class_names = list(session.card.class_names) if session.card else []
        rows, samples = [], []
        for index, outcome in run.outcomes:
            result = outcome.result
            study = session.studies[index]
            where = f"slice {result.slices[0] + 1}" if len(result.slices) == 1 else f"{len(result.slices)} slices"
            rows.append(SummaryRow(source=f"{result.study} {where}", row=result.row, clean_accuracy=None,
                                   units=result.units, rates=study_attack_rates(result)))
            levels = card_window(session.card, study)
            for i, record in enumerate(result.records):
                slice_index = result.slices[i] if i < len(result.slices) else None

                def images(r=result, i=i):
                    return r.clean_native[i], r.adv_native[i]

                samples.append(SampleEntry(record, images, levels, result.units, index, slice_index))
        self._add_rows(rows, run)
        self._show_warnings([w for _i, o in run.outcomes for w in getattr(o.result, "warnings", [])])
        self.panel.set_samples(samples)
        if session.latest(EvaluationEntry) is None:
            self.panel.show_curve([r.row for r, e in self._rows if isinstance(e, AttackRun)], None)
        self._show_chart()
        self.panel.setCurrentIndex(TAB_PREDICTION)

    def _show_evaluation(self, entry: EvaluationEntry) -> None:
        result = entry.result
        self.panel.class_names = list(result.class_names)
        name = result.dataset.name or "data set"
        source = f"eval {name}" + (" (partial: cancelled)" if entry.partial else "")
        self._add_rows(evaluation_rows(source, result, entry.measures), entry)
        self.verdict.set_verdict(entry.verdict)
        self.per_class.set_measures(entry.measures, result.units)
        self._show_warnings(list(getattr(result, "warnings", [])))
        caption = "Partial result of a cancelled evaluation: only the rows that finished." if entry.partial else ""
        self.panel.show_curve(result.rows, result.clean_accuracy, caption)
        examples = {(e.sample_id, e.attack, round(e.eps, 9)): e for e in result.examples}
        units, records = result.units, result.samples

        def make_entry(i: int) -> SampleEntry:    # built when its row is first shown (thousands of records)
            rec = records[i]
            ex = examples.get((rec.sample_id, rec.attack, round(rec.eps, 9)))
            images = None
            if ex is not None:
                def images(e=ex):
                    return np.asarray(e.original, np.float32), np.asarray(e.adversarial, np.float32)
            return SampleEntry(rec, images, (0.0, 1.0), units, example=ex)

        entries = LazyEntries(len(records), make_entry)
        self.panel.set_samples(entries)
        self.panel.setCurrentIndex(TAB_SUMMARY)

    def _show_chart(self) -> None:
        """Before/after probabilities of the current slice in Results ▸ Prediction change."""
        session = self.session
        outcome = session.study_results.get(session.current_index)
        reason = prediction_gap(outcome, session.current_slice, session.latest(AttackRun) is not None)
        if reason:
            # never leave another study's (or slice's) bars on screen: say why there are none
            self.panel.prediction.show_message(NO_BARS)
            self.panel.prediction_caption.setText(reason)
            return
        result = outcome.result
        i = result.slices.index(session.current_slice)
        p = i if i < len(result.clean_probs) else 0          # a 3-D model has one row per volume
        names = list(result.class_names)
        before = [float(v) for v in result.clean_probs[p]]
        after = [float(v) for v in result.adv_probs[p]]
        b, a = int(np.argmax(before)), int(np.argmax(after))
        eps = eps_255(result.eps) + (f" = {result.eps_native:.3g} {result.units}" if result.eps_native else "")
        verdict = "prediction CHANGED" if a != b else "prediction unchanged"
        caption = (f"{result.attack} at eps {eps} on slice {result.slices[i] + 1}: {names[b]} ({pct(before[b])}) → "
                   f"{names[a]} ({pct(after[a])}) — {verdict}")
        self.panel.show_prediction(names, before, after, caption)

    def _on_summary(self, row: SummaryRow) -> None:
        entry = next((e for r, e in self._rows if r is row), None)
        if entry is not None:
            self.session.set_current_result(entry)

    # -- samples --------------------------------------------------------------------
    def _on_sample(self, entry: SampleEntry) -> None:
        """Selecting a study attack's sample shows its slice in the viewer."""
        if entry.study_index is not None and entry.slice_index is not None:
            self.session.select_study(entry.study_index, entry.slice_index)

    def open_sample(self, entry: SampleEntry) -> None:
        """"Open in viewer": the sample's slice of its study, or an evaluation example as a study."""
        session = self.session
        if entry.study_index is not None:
            session.select_study(entry.study_index, entry.slice_index or 0)
            return
        ex = entry.example
        if ex is None:
            return
        index = self.example_studies.get(id(ex))
        if index is None:
            study, outcome = example_study(ex, session.card, entry.units)
            index = session.add_studies([study], select=False)
            session.set_study_result(index, outcome)
            self.example_studies[id(ex)] = index
        session.select_study(index, 0)


class _ExampleResult:
    """The parts of a study attack's result the viewer and the Model dock read, for an example panel."""

    def __init__(self, ex: Any, clean: np.ndarray, adv: np.ndarray, units: str, native_per_unit: float | None,
                 class_names: list[str]) -> None:
        self.slices = [0]
        self.clean_native = clean[None]
        self.adv_native = adv[None]
        self.clean_probs = None            # an example panel keeps the top confidences only
        self.adv_probs = None
        self.attack, self.eps, self.units = ex.attack, ex.eps, units
        self.eps_native = ex.eps * native_per_unit if native_per_unit else None
        self.class_names = class_names
        self.study = ex.sample_id


class _ExampleOutcome:
    def __init__(self, result: _ExampleResult) -> None:
        self.result = result


def example_study(ex: Any, card: Any, units: str) -> tuple[Any, Any]:
    """A one-slice Study (and a study-attack-like outcome) from an evaluation's ``ExamplePanel``.

    The panel's images are [0, 1] after the card's mapping; with a window
    mapping they are turned back into native units (``low + unit * width``).
    """
    from medadv_desktop.engine.io.study import Study, WindowPreset

    clean = np.asarray(ex.original, np.float32)
    adv = np.asarray(ex.adversarial, np.float32)
    window = card_window(card) if card is not None else None
    npu, presets = None, []
    if window is not None:
        low, high = window
        npu = high - low
        clean, adv = low + clean * npu, low + adv * npu
        presets = [WindowPreset("Model window", (low + high) / 2, npu)]
    else:
        units = ""
    study = Study(pixels=clean[None], spacing=(1.0, 1.0, 1.0), modality="OT", source_format="image",
                  source_paths=[], presets=presets, units=units if units != "a.u." else "",
                  description=f"evaluation example: {ex.attack} at eps {eps_255(ex.eps)}",
                  pseudonym=f"{ex.sample_id} (example)")
    names = list(getattr(card, "class_names", []) or [])
    return study, _ExampleOutcome(_ExampleResult(ex, clean, adv, units, npu, names))
