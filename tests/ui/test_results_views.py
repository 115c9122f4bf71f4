"""Results ▸ Samples and Robust accuracy vs eps with thousands of records (issue 12 item 8, the heartbeat).

A full evaluation of the demo test split has 300 samples x 8 attacks x 3 eps =
7 200 per-sample records. The sample table must show them without formatting
every cell (rows are made when shown, entries built lazily), sort on a header
click (real mouse events) without asking Qt's proxy to compare through Python,
and keep the selection on the same record across a sort; the robustness plot
reuses its line items from one result to the next and draws a hidden tab only
when it is shown. Real engine records (``SampleRecord``); no timing asserted.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from medadv_desktop.engine.results.evaluation import AttackRow, SampleRecord
from medadv_desktop.ui.widgets.results_panel import TAB_CURVE, TAB_SAMPLES, ResultsPanel
from medadv_desktop.ui.widgets.sample_table import LazyEntries, SampleEntry

ATTACKS = ["fgsm", "pgd", "square", "vertical", "smia", "apgd-ce", "apgd-t", "apgd-dlr"]
EPS = [1 / 255, 2 / 255, 4 / 255]


def records(n_samples: int) -> list[SampleRecord]:
    out = []
    for s in range(n_samples):
        for a, attack in enumerate(ATTACKS):
            for e, eps in enumerate(EPS):
                fooled = (s + a + e) % 3 == 0
                out.append(SampleRecord(sample_id=f"P{s:04d}/slice-001", true_label=s % 2, attack=attack, eps=eps,
                                        clean_pred=s % 2, adv_pred=(s + fooled) % 2,
                                        clean_conf_true=0.9, adv_conf_true=0.9 - 0.1 * ((s * 7 + a + e) % 9),
                                        success=fooled))
    return out


@pytest.fixture
def panel(qtbot):
    panel = ResultsPanel()
    qtbot.addWidget(panel)
    panel.resize(1000, 420)
    panel.class_names = ["normal", "lesion"]
    panel.show()
    qtbot.waitExposed(panel)
    return panel


def click_header(qtbot, table, column: int) -> None:
    header = table.horizontalHeader()
    x = header.sectionViewportPosition(column) + header.sectionSize(column) // 2
    QTest.mouseClick(header.viewport(), Qt.LeftButton, Qt.NoModifier, QPoint(x, header.height() // 2))


def test_thousands_of_samples_are_built_only_when_shown_and_sort_by_header_click(qtbot, panel):
    recs = records(300)
    assert len(recs) == 7200
    built: list[int] = []

    def make(i: int) -> SampleEntry:
        built.append(i)
        return SampleEntry(recs[i])

    panel.set_samples(LazyEntries(len(recs), make))
    panel.setCurrentIndex(TAB_SAMPLES)
    table = panel.samples
    qtbot.waitUntil(lambda: table.proxy.rowCount() == 7200)
    QTest.qWait(50)                                               # a paint of the visible rows
    assert 0 < len(set(built)) < 200                              # only the rows Qt asked for
    assert table.proxy.index(0, 0).data() == "P0000/slice-001"

    # sort by "Conf drop" with a real click on its header: descending after two clicks
    click_header(qtbot, table, 5)
    drops = [float(table.proxy.index(r, 5).data().split()[0]) for r in range(30)]
    assert drops == sorted(drops)
    click_header(qtbot, table, 5)
    drops = [float(table.proxy.index(r, 5).data().split()[0]) for r in range(30)]
    assert drops == sorted(drops, reverse=True) and drops[0] == pytest.approx(80.0)
    shown = [table.entry_at(r).record for r in range(table.proxy.rowCount())]
    assert sorted((r.clean_conf_true - r.adv_conf_true for r in shown), reverse=True) == \
        [r.clean_conf_true - r.adv_conf_true for r in shown]
    assert {id(r) for r in shown} == {id(r) for r in recs}          # every record once

    # select the record shown in row 3 with a click; a sort on another column keeps it selected
    rect = table.visualRect(table.proxy.index(3, 0))
    QTest.mouseClick(table.viewport(), Qt.LeftButton, Qt.NoModifier, rect.center())
    picked = panel.selected_sample
    assert picked is table.entry_at(3) and picked.record.sample_id in panel.preview.caption.text()
    click_header(qtbot, table, 1)                                  # by attack name
    names = [table.proxy.index(r, 1).data() for r in range(table.proxy.rowCount())]
    assert names == sorted(names)
    row = table.selectionModel().selectedRows()[0].row()
    assert table.entry_at(row) is picked

    # a new result keeps the chosen sort order; select_entry finds an entry wherever it is shown
    panel.set_samples([SampleEntry(r) for r in recs[:48]])
    names = [table.proxy.index(r, 1).data() for r in range(48)]
    assert names == sorted(names) and names[0] == "apgd-ce"
    table.select_entry(5)
    assert panel.selected_sample is panel.sample_entries[5]
    assert panel.sample_entries[5].record is recs[5]


def test_lazy_entries_behave_as_a_sequence():
    made = []
    entries = LazyEntries(4, lambda i: made.append(i) or SampleEntry(records(1)[i]))
    assert len(entries) == 4 and made == []
    assert entries[-1] is entries[3] and made == [3]
    assert [e.record.eps for e in entries[1:3]] == pytest.approx(EPS[1:3])
    assert next(i for i, e in enumerate(entries) if e.record.eps == EPS[2]) == 2
    with pytest.raises(IndexError):
        entries[4]


def rows(attacks, accuracy: float) -> list[AttackRow]:
    return [AttackRow(attack=a, eps=eps, eps_native=None, n_samples=10, robust_accuracy=accuracy * (1 - i / 10),
                      attack_success_rate=1 - accuracy) for a in attacks for i, eps in enumerate(EPS)]


def test_robustness_plot_reuses_its_lines_and_draws_a_hidden_tab_when_shown(qtbot, panel):
    plot = panel.robustness
    panel.setCurrentIndex(TAB_CURVE)
    qtbot.waitExposed(plot)
    panel.show_curve(rows(ATTACKS + ["worst-case"], 0.8), 0.9)
    assert len(plot.shown_curves) == 9
    first = list(plot.shown_curves)
    xs, ys = first[0].getData()
    assert list(xs) == pytest.approx([0, 1, 2, 4]) and list(ys) == pytest.approx([0.9, 0.8, 0.72, 0.64])
    legend = [label.text for _sample, label in plot.legend.items]
    assert legend == ATTACKS + ["worst-case"]
    assert first[-1].opts["pen"].style() == Qt.DashLine                    # the worst case dashed

    # a result arriving while another tab is shown: series at once, drawn when the tab is opened
    panel.setCurrentIndex(TAB_SAMPLES)
    panel.show_curve(rows(["fgsm", "pgd"], 0.5), 0.9)
    assert list(plot.series) == ["fgsm", "pgd"] and plot.series["pgd"][1][1] == pytest.approx(0.5)
    assert len(plot.shown_curves) == 9                                       # not redrawn while hidden
    panel.setCurrentIndex(TAB_CURVE)
    assert plot.shown_curves == first[:2]                                    # the same items, new data
    assert list(plot.shown_curves[1].getData()[1]) == pytest.approx([0.9, 0.5, 0.45, 0.4])
    assert [label.text for _sample, label in plot.legend.items] == ["fgsm", "pgd"]
