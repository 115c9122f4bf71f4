"""Issues 15 and 16 in the GUI: per-class sensitivity and specificity with their 95 % intervals.

Results ▸ "Per class" shows an attack evaluation's per-class robust rates (class x attack x eps, the
worst case included) and the Corruptions tab shows each corruption row's per-class rates, both from
the engine's objects. Real parts only: a tiny real timm model and the bundled demo model, the
synthetic demo DICOM data set, real clicks on the tab bar and the tables. Every number on screen is
checked against the engine: :func:`per_class_measures` of the same result, the corruption rows' own
``per_class`` fields.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QPoint, Qt

from medadv_desktop.ui.attack_info import SCOPE_DATASET
from medadv_desktop.ui.session import CorruptionEntry, EvaluationEntry
from medadv_desktop.ui.widgets.common import SORT_ROLE
from medadv_desktop.ui.widgets.corruption_results import PER_CLASS_TAB
from tests.ui.conftest import load, run_and_wait, start_engine_and_model, wait_idle

SHOTS = os.environ.get("MEDADV_SCREENSHOTS")


def _shot(widget, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        widget.grab().save(str(Path(SHOTS) / name))


def _click_tab(qtbot, tabs, title: str) -> None:
    index = next(i for i in range(tabs.count()) if tabs.tabText(i) == title)
    bar = tabs.tabBar()
    qtbot.mouseClick(bar, Qt.LeftButton, pos=bar.tabRect(index).center())
    assert tabs.currentIndex() == index


def _click_row(qtbot, table, row: int) -> None:
    table.scrollToItem(table.item(row, 0))
    rect = table.visualItemRect(table.item(row, 0))
    qtbot.mouseClick(table.viewport(), Qt.LeftButton, pos=rect.center())
    assert table.currentRow() == row


def _shows(text: str, rate) -> bool:
    """The cell shows the engine's rate: value, interval and counts."""
    if rate.value is None:
        return f"(0/{rate.n})" in text
    return (f"{100 * rate.value:.1f} %" in text and f"[{100 * rate.low:.1f}–{100 * rate.high:.1f}]" in text
            and f"({rate.k}/{rate.n})" in text)


def test_per_class_tab_shows_the_engines_rates_of_an_evaluation(window, qtbot, tiny_card, demo_data):
    from medadv_desktop.engine.metrics.per_class import per_class_measures

    start_engine_and_model(qtbot, window, tiny_card)
    panel = window.attack_panel
    panel.select_attack("fgsm")
    panel.set_ticked_attacks(["fgsm"])               # Custom: FGSM only (the default is the standard suite)
    panel.set_scope(SCOPE_DATASET)
    panel.dataset_edit.setText(str(demo_data / "test"))
    panel.eps_grid.setText("2/255, 8/255")
    entry = run_and_wait(qtbot, window, 300_000)
    assert isinstance(entry, EvaluationEntry) and entry.measures is not None

    tabs = window.results_panel
    _click_tab(qtbot, tabs, "Per class")
    view = window.results.per_class
    assert tabs.currentWidget() is view and view.table.isVisible()

    measures = per_class_measures(entry.result)          # the engine on its own, on the same result
    names = list(measures.class_names)
    expected = [("clean", False, c.class_name, c.sensitivity, c.specificity) for c in measures.clean]
    expected += [(r.attack, r.cumulative, name, r.of(name).sensitivity, r.of(name).specificity)
                 for name in names for r in measures.robust]
    texts = view.texts()
    headers = [view.table.horizontalHeaderItem(c).text() for c in range(view.table.columnCount())]
    assert headers == ["Attack", "eps", "Class", "Sensitivity (95 % CI, k/n)", "Specificity (95 % CI, k/n)"]
    assert len(texts) == len(expected) == len(names) * (1 + len(measures.robust))
    attacks = {r.attack for r in measures.robust}
    assert {"fgsm", "worst-case"} <= attacks and len({r.eps for r in measures.robust}) == 2
    for i, (shown, (attack, cumulative, name, sens, spec)) in enumerate(zip(texts, expected, strict=True)):
        assert shown[0] == attack + (" *" if cumulative else "") and shown[2] == name
        assert ("cascade" in view.table.item(i, 0).toolTip()) == cumulative
        assert _shows(shown[3], sens), (shown, sens)
        assert _shows(shown[4], spec), (shown, spec)
    # the lesion rows of the worst case are there, at both eps
    assert sum(1 for t in texts if t[0] == "worst-case" and t[2] == "lesion") == 2

    # tooltips: counts, method and the engine's small-sample caution (8 samples per class)
    _click_row(qtbot, view.table, len(names))
    tip = view.table.item(len(names), 3).toolTip()
    first = measures.robust[0].of(names[0]).sensitivity
    assert f"{first.k}/{first.n}" in tip and "Clopper-Pearson" in tip and "Very few samples (n = 8)" in tip
    wc = next(i for i, t in enumerate(texts) if t[0] == "worst-case")
    assert "every attack" in view.table.item(wc, 0).toolTip()
    assert f"{measures.n_samples} samples" in view.caption.text()
    window.resize(1600, 1000)
    _shot(window, "per_class_evaluation.png")


def test_corruption_tab_shows_each_rows_per_class_rates(window, qtbot, demo_data):
    load(qtbot, window, demo=True)
    window.corruption_dock.show()
    panel, session = window.corruption_panel, window.session
    panel.scope.setCurrentIndex(panel.scope.findData("dataset"))
    qtbot.keyClicks(panel.dataset_edit, str(demo_data / "test"))
    panel.defaults_check.setChecked(False)
    for row in range(panel.corruption_list.count()):
        item = panel.corruption_list.item(row)
        item.setCheckState(Qt.Checked if item.data(Qt.UserRole) in {"jpeg2000", "ct_dose"} else Qt.Unchecked)
    panel.severities_edit.setText("1,5")
    panel.max_spin.setValue(8)
    assert panel.run_button.isEnabled(), window.corruptions.reason
    qtbot.mouseClick(panel.run_button, Qt.LeftButton)
    wait_idle(qtbot, window, 300_000)
    entry = session.results[-1]
    assert isinstance(entry, CorruptionEntry)
    result = entry.result
    rows = [result.clean, *result.rows]
    names = list(result.class_names)

    tabs = window.results_panel
    _click_tab(qtbot, tabs, "Corruptions")
    view = window.corruptions.view
    headers = view.headers()
    sens_cols = [headers.index(f"Sens. {n}\n(95 % CI)") for n in names]
    assert sens_cols == [4, 5] and headers[3] == "Accuracy (95 % CI)" and headers[6] == "Flips"
    texts = view.table_texts()
    assert len(texts) == len(rows) == 1 + 2 * 2
    for r, (shown, row) in enumerate(zip(texts, rows, strict=True)):
        by = {c.class_name: c for c in row.per_class}
        assert set(by) == set(names)
        for name, col in zip(names, sens_cols):
            s = by[name].sensitivity
            assert shown[col] == f"{100 * s.value:.0f} % [{100 * s.low:.0f}–{100 * s.high:.0f}]"
            assert f"{s.k}/{s.n}" in view.table.item(r, col).toolTip()

    # the per-class table below: every row x class, sensitivity and specificity with interval and counts
    _click_tab(qtbot, view.tables, PER_CLASS_TAB)
    sub = view.per_class
    assert sub.isVisible() and not view.table.isVisible()
    sub_texts = sub.texts()
    assert len(sub_texts) == len(rows) * len(names)
    expected = [(row, c) for row in rows for c in row.per_class]
    for shown, (row, c) in zip(sub_texts, expected, strict=True):
        assert shown[0] == (row.label if row.severity else "clean") and shown[1] == str(row.severity)
        assert shown[2] == c.class_name
        assert _shows(shown[3], c.sensitivity) and _shows(shown[4], c.specificity)
    j2k = max(i for i, (row, c) in enumerate(expected) if row.corruption == "jpeg2000" and c.class_name == "lesion")
    _click_row(qtbot, sub.table, j2k)
    tip = sub.table.item(j2k, 3).toolTip()
    assert "severity 5 sensitivity of lesion" in tip and "Very few samples" in tip
    window.resize(1600, 1000)
    _shot(window, "per_class_corruptions.png")


def test_three_classes_show_recall_and_the_specificity_caveat(qtbot):
    """More than two classes: the sensitivity column is the class's recall and every robust row carries
    the engine's caveat that an untargeted attack's specificity is not the worst case."""
    from medadv_desktop.engine.metrics.per_class import (
        MULTICLASS_SPECIFICITY_CAVEAT, PerClassMeasures, class_rates, robustness_by_class)
    from medadv_desktop.engine.metrics.intervals import proportion
    from medadv_desktop.engine.results.evaluation import SampleRecord
    from medadv_desktop.ui.widgets.per_class_table import PerClassTable

    names = ["normal", "benign", "malignant"]
    labels = [i % 3 for i in range(30)]
    adv = [(y + 1) % 3 if i % 4 == 0 else y for i, y in enumerate(labels)]
    records = [SampleRecord(sample_id=f"S/slice-{i:03d}", true_label=y, attack="pgd", eps=2 / 255, clean_pred=y,
                            adv_pred=a, clean_conf_true=0.9, adv_conf_true=0.5, success=a != y)
               for i, (y, a) in enumerate(zip(labels, adv))]
    robust = robustness_by_class(records, names, attack="pgd", eps=2 / 255, eps_native=3.1)
    measures = PerClassMeasures(class_names=tuple(names), method="clopper-pearson", confidence=0.95, n_samples=30,
                                clean_accuracy=proportion(30, 30), clean=class_rates(labels, labels, names),
                                robust=(robust,))
    view = PerClassTable()
    qtbot.addWidget(view)
    view.show()
    view.set_measures(measures, "HU")
    headers = [view.table.horizontalHeaderItem(c).text() for c in range(view.table.columnCount())]
    assert headers[3] == "Recall (sensitivity) (95 % CI, k/n)"
    texts = view.texts()
    assert len(texts) == 3 + 3
    malignant = texts[5]
    assert malignant[:3] == ["pgd", "2/255 (3.1 HU)", "malignant"]
    assert _shows(malignant[3], robust.of("malignant").sensitivity)
    assert MULTICLASS_SPECIFICITY_CAVEAT in view.table.item(5, 4).toolTip()
    assert "robust recall of malignant" in view.table.item(5, 3).toolTip()
    assert MULTICLASS_SPECIFICITY_CAVEAT not in view.table.item(0, 4).toolTip()      # clean rows: no caveat
    # a header click sorts: rates as numbers (not as text), the engine's order back on new rows
    header = view.table.horizontalHeader()
    qtbot.mouseClick(header.viewport(), Qt.LeftButton,
                     pos=QPoint(header.sectionViewportPosition(3) + 5, header.height() // 2))
    values = [view.table.item(r, 3).data(SORT_ROLE) for r in range(view.table.rowCount())]
    assert values == sorted(values) or values == sorted(values, reverse=True)
    assert len(set(values)) > 1
    view.set_measures(measures, "HU")
    assert view.texts() == texts
