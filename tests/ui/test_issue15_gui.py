"""Issue 15 in the GUI: intervals in the Summary and before/after tables (from the engine's result
objects), the test-plan picker applied through the evaluation workflow with its verdict in Results and
in the exported PDF, the sign-off dialog written into the reports, the before/after report from
File ▸ Export, and the corruption re-test rows of the before/after table.

Real parts only: a tiny real timm model, the synthetic demo DICOM data set, two tiny real TorchScript
models for a real before/after result, real Qt events (key clicks, mouse clicks on the dialog's button),
PDFs parsed back with pypdf.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication

from medadv_desktop.ui.actions import ActionId
from medadv_desktop.ui.attack_info import SCOPE_DATASET
from medadv_desktop.ui.dialogs.signoff import SignOffDialog
from medadv_desktop.ui.session import BeforeAfterEntry, EvaluationEntry
from medadv_desktop.ui.widgets.before_after_table import BeforeAfterTable
from medadv_desktop.ui.widgets.results_panel import TAB_SUMMARY
from tests.ui.conftest import run_and_wait, start_engine_and_model, wait_idle

REQUESTER, APPROVER = "Dr Ada Requester", "Prof Bo Approver"
PURPOSE = "Acceptance of the demo classifier before the pilot"

GOOD_PLAN = """
[plan]
title = "GUI acceptance"
version = "2.1"
owner = "AI committee"

[[criteria]]
id = "C1"
metric = "clean_accuracy"
comparison = ">="
threshold = 0.0
bound = "point"

[[criteria]]
id = "C2"
metric = "robust_sensitivity"
class = "lesion"
attack = "worst-case"
eps = "2/255"
comparison = ">="
threshold = 0.99
"""

BAD_PLAN = GOOD_PLAN.replace("threshold = 0.99", 'threshold = "high"')


def _shot(widget, name: str) -> None:
    """Save a screenshot when MEDADV_SHOTS names a folder (to look at what the tests drive)."""
    folder = os.environ.get("MEDADV_SHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        widget.grab().save(str(Path(folder) / name))


def _answer_signoff(qtbot, *, ask_always: bool | None = None) -> list[SignOffDialog]:
    """Fill in the sign-off dialog with real key clicks and click its OK button once it is shown."""
    seen: list[SignOffDialog] = []

    def poll() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, SignOffDialog):
            QTimer.singleShot(50, poll)
            return
        seen.append(dialog)
        for edit, text in ((dialog.requester, REQUESTER), (dialog.approver, APPROVER)):
            edit.clear()
            qtbot.keyClicks(edit, text)
        dialog.purpose.clear()
        qtbot.keyClicks(dialog.purpose, PURPOSE)
        if ask_always is not None and dialog.ask_always.isChecked() != ask_always:
            qtbot.mouseClick(dialog.ask_always, Qt.LeftButton)
        qtbot.mouseClick(dialog.findChild(object, "signoff_ok"), Qt.LeftButton)

    QTimer.singleShot(0, poll)
    return seen


def _pdf_text(path: Path) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() or "" for page in PdfReader(str(path)).pages)


def _table_rows(table) -> list[dict[str, str]]:
    proxy = table.proxy
    titles = [proxy.headerData(c, Qt.Horizontal) for c in range(proxy.columnCount())]
    return [{titles[c]: proxy.index(r, c).data() for c in range(len(titles))} for r in range(proxy.rowCount())]


def test_plan_verdict_intervals_and_signed_report_export(window, qtbot, tmp_path, tiny_card, demo_data, monkeypatch):
    from medadv_desktop.engine.metrics.per_class import per_class_measures

    (tmp_path / "bad.toml").write_text(BAD_PLAN)
    (tmp_path / "plan.toml").write_text(GOOD_PLAN)
    start_engine_and_model(qtbot, window, tiny_card)
    panel = window.attack_panel
    panel.select_attack("fgsm")
    panel.set_ticked_attacks(["fgsm"])               # Custom: FGSM only (the default is the standard suite)
    panel.set_scope(SCOPE_DATASET)
    panel.dataset_edit.setText(str(demo_data / "test"))
    panel.eps_grid.setText("2/255, 4/255")
    picker = panel.plan_picker
    assert picker.isVisibleTo(panel) and "No test plan" in picker.status.text()

    # a plan with a bad field: one line naming the field, Run disabled with that reason
    qtbot.keyClicks(picker.edit, str(tmp_path / "bad.toml"))
    assert "criteria[1].threshold" in picker.status.text()
    assert not panel.run_button.isEnabled() and "criteria[1].threshold" in panel.reason.text()
    picker.edit.clear()
    qtbot.keyClicks(picker.edit, str(tmp_path / "plan.toml"))
    assert "GUI acceptance" in picker.status.text() and "2 criteria" in picker.status.text()
    assert panel.run_button.isEnabled(), panel.reason.text()

    entry = run_and_wait(qtbot, window, 300_000)
    assert isinstance(entry, EvaluationEntry) and entry.verdict is not None and entry.measures is not None
    result, verdict = entry.result, entry.verdict
    assert [r.status for r in verdict.rows] == ["pass", "fail"] and verdict.exit_code == 3

    # Summary: the 95 % interval beside every rate, the engine's, with the counts as tooltip
    measures = per_class_measures(result)
    rows = _table_rows(window.results_panel.table)
    assert len(rows) == len(result.rows)
    clean = measures.clean_accuracy
    for shown, row in zip(rows, result.rows, strict=True):
        rates = measures.at(row.attack, row.eps)
        assert shown["Robust 95 % CI"] == f"{100 * rates.robust_accuracy.low:.1f}–{100 * rates.robust_accuracy.high:.1f} %"
        ok = rates.attack_success_rate
        assert shown["Success 95 % CI"] == (f"{100 * ok.low:.1f}–{100 * ok.high:.1f} %" if ok.n else "—")
        assert shown["Clean 95 % CI"] == f"{100 * clean.low:.1f}–{100 * clean.high:.1f} %"
        assert shown["Robust acc"] == f"{row.robust_accuracy * 100:.1f} %"
    table = window.results_panel.table
    column = [table.proxy.headerData(c, Qt.Horizontal) for c in range(table.proxy.columnCount())].index("Robust 95 % CI")
    tip = table.proxy.index(0, column).data(Qt.ToolTipRole)
    rates0 = measures.at(result.rows[0].attack, result.rows[0].eps).robust_accuracy
    assert f"{rates0.k}/{rates0.n}" in tip and "Clopper-Pearson" in tip
    assert "Few samples (n = 16)" in tip                          # the engine's small-sample caution

    # Results shows the verdict table on the Summary page
    box = window.results.verdict
    assert window.results_panel.currentIndex() == TAB_SUMMARY and box.isVisibleTo(window.results_panel)
    assert "FAIL" in box.headline.text() and "exit code 3" in box.headline.text()
    texts = box.row_texts()
    assert [t["Result"] for t in texts] == ["PASS", "FAIL"]
    c2 = verdict.rows[1]
    assert texts[1]["Interval"] == f"{100 * c2.low:.1f}–{100 * c2.high:.1f} %" and texts[1]["Criterion"].startswith("C2")
    _shot(window, "issue15-summary-verdict.png")
    if os.environ.get("MEDADV_SHOTS"):                     # the Summary table at full width, to look at
        from medadv_desktop.ui.widgets.summary_table import SummaryTable

        wide = SummaryTable()
        qtbot.addWidget(wide)
        wide.summary.add(window.results_panel.table.summary.rows)
        wide.resize(1700, 160)
        wide.show()
        qtbot.waitExposed(wide)
        _shot(wide, "issue15-summary-wide.png")

    # File ▸ Export: the sign-off dialog is asked (the evaluation carries a verdict), then the PDF opens
    # with the verdict and carries the names and the purpose; the JSON's report block too
    out = tmp_path / "reports"
    out.mkdir()
    from medadv_desktop.ui.controllers import export

    monkeypatch.setattr(export.QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(out)))
    seen = _answer_signoff(qtbot)
    window.actions[ActionId.EXPORT_REPORT].trigger()
    wait_idle(qtbot, window, 300_000)
    assert len(seen) == 1 and window.session.last_error == ""
    [pdf] = list(out.glob("*.pdf"))
    text = " ".join(_pdf_text(pdf).split())
    assert "Verdict against the test plan" in text and "FAIL" in text and "GUI acceptance" in text
    assert REQUESTER in text and APPROVER in text and PURPOSE in text and "Page 1 of" in text
    [doc_path] = list(out.glob("*.json"))
    report = json.loads(doc_path.read_text())["report"]
    assert (report["requester"], report["approver"], report["purpose"]) == (REQUESTER, APPROVER, PURPOSE)
    assert report["verdict"]["status"] == "fail" and report["test_plan"]["title"] == "GUI acceptance"
    assert report["report_id"] in text                            # one report id for the PDF and the JSON
    # the names are remembered for the next report; the purpose only for this session
    assert window.store.text(export.KEY_REQUESTER) == REQUESTER


@pytest.fixture(scope="module")
def before_after(tmp_path_factory):
    """A real before/after result: two tiny real models on the demo test images, FGSM at two eps and a
    CT-dose corruption re-test at severity 3 (the rows the training run's re-test makes)."""
    from medadv_desktop.engine.datasets import LabelledDataset
    from medadv_desktop.engine.demo import write_demo_dataset
    from medadv_desktop.engine.evaluation.corruption import corruption_evaluation_job
    from medadv_desktop.engine.jobs import run_job
    from medadv_desktop.engine.models import load_classifier
    from medadv_desktop.engine.training.before_after import before_after_job, pair_corruption_results
    from tests.conftest import make_tiny_card

    root = tmp_path_factory.mktemp("ba")
    write_demo_dataset(root / "data", n_train=2, n_test=12)
    data = LabelledDataset.from_folder(root / "data" / "test", ["no_finding", "lesion"])
    a = load_classifier(make_tiny_card(root / "a", format="torchscript", seed=1), device="cpu")
    b = load_classifier(make_tiny_card(root / "b", format="torchscript", seed=2), device="cpu")
    table = run_job(before_after_job(a, b, data, ["fgsm"], 2 / 255, [8 / 255]))
    corr = [("ct_dose", {})]
    table.corruption_before = run_job(corruption_evaluation_job(a, data, corr, [3]))
    table.corruption_after = run_job(corruption_evaluation_job(b, data, corr, [3]))
    table.corruption_rows = pair_corruption_results(table.corruption_before, table.corruption_after)
    table.corruption_severities = [3]
    return table


def test_before_after_table_shows_the_paired_test_and_the_corruption_rows(qtbot, before_after):
    from medadv_desktop.engine.reports.verdict_section import paired_rows

    widget = BeforeAfterTable()
    qtbot.addWidget(widget)
    widget.set_result(before_after)
    widget.resize(1500, 260)
    widget.show()
    qtbot.waitExposed(widget)
    _shot(widget, "issue15-before-after.png")
    rows = widget.row_texts()
    paired = paired_rows(before_after)
    assert len(rows) == len(paired) + 1
    for shown, (row, cmp) in zip(rows, paired, strict=False):
        assert shown["Attack"] == row.attack
        assert shown["Before"] == f"{row.accuracy_before * 100:.1f} %"
        assert shown["Before 95 % CI"] == f"{100 * cmp.before.low:.1f}–{100 * cmp.before.high:.1f} %"
        assert shown["After 95 % CI"] == f"{100 * cmp.after.low:.1f}–{100 * cmp.after.high:.1f} %"
        assert shown["Change 95 % CI"] == f"{100 * cmp.low:+.1f} to {100 * cmp.high:+.1f} pt"
        assert shown["McNemar p"] == f"{cmp.p_value:.2g}"
        assert cmp.n == 12
    corruption = rows[-1]
    [crow] = before_after.corruption_rows
    assert corruption["Attack"] == "corruption: ct_dose" and corruption["eps"] == "severity 3"
    assert corruption["McNemar p"] == f"{crow.p_value:.2g}"
    assert corruption["Change 95 % CI"] == f"{100 * crow.change_low:+.1f} to {100 * crow.change_high:+.1f} pt"
    rate = before_after.corruption_before.row("ct_dose", 3).accuracy
    assert corruption["Before 95 % CI"] == f"{100 * rate.low:.1f}–{100 * rate.high:.1f} %"
    cautions = widget.cautions()
    assert any("Few samples (n = 12 pairs)" in c for c in cautions)
    # every row with 12 pairs carries the engine's caution as its tooltip
    tip = widget.proxy.index(0, 7).data(Qt.ToolTipRole)
    assert "12 pairs" in tip and "Few samples (n = 12)" in tip
    # Ctrl+C copies the new columns
    widget.selectAll()
    header = widget.to_tsv(only_selected=False).splitlines()[0].split("\t")
    assert header[3:] == ["Before", "Before 95 % CI", "After adv. training", "After 95 % CI", "Change",
                          "Change 95 % CI", "McNemar p"]


def test_export_of_a_before_after_result_writes_its_own_signed_report(window, qtbot, tmp_path, before_after,
                                                                      monkeypatch):
    from medadv_desktop.ui.controllers import export

    # File ▸ Report Sign-off… sets the names for the session's reports ("ask at every export" left off)
    seen = _answer_signoff(qtbot, ask_always=False)
    window.actions[ActionId.REPORT_SIGNOFF].trigger()
    assert len(seen) == 1 and window.exporter.signoff.requester == REQUESTER
    window.session.add_result(BeforeAfterEntry(before_after, None, "test/ folder"))
    out = tmp_path / "ba-export"
    out.mkdir()
    monkeypatch.setattr(export.QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(out)))
    window.actions[ActionId.EXPORT_REPORT].trigger()             # no dialog: no verdict, not asked always
    wait_idle(qtbot, window, 300_000)
    assert window.session.last_error == "" and len(seen) == 1
    [own_pdf] = list(out.glob("*-before-after-report.pdf"))
    [own_csv] = list(out.glob("*-before-after-report.csv"))
    [own_json] = list(out.glob("*-before-after-report.json"))
    assert list(out.glob("*-before_after.json"))                # the table, as before
    text = " ".join(_pdf_text(own_pdf).split())
    assert "before/after report" in text and "McNemar" in text and "Page 1 of" in text
    assert REQUESTER in text and APPROVER in text and PURPOSE in text
    assert before_after.after.model.sha256 in text.replace(" ", "") or before_after.after.model.sha256[:16] in text
    with own_csv.open() as f:
        rows = list(csv.DictReader(f))
    assert any(r["mcnemar_p"] for r in rows)
    doc = json.loads(own_json.read_text())
    assert doc["report"]["requester"] == REQUESTER and doc["report"]["purpose"] == PURPOSE
    # the hardened model's own report of the same export shares the report id
    main_pdf = [p for p in out.glob("*.pdf") if p != own_pdf]
    assert main_pdf and doc["report"]["report_id"] in " ".join(_pdf_text(main_pdf[0]).split())


def test_signoff_dialog_refuses_an_overlong_name_and_cancel_writes_nothing(window, qtbot, tmp_path, monkeypatch):
    """The engine's checks keep the dialog open with the reason; Cancel at export writes nothing."""
    from medadv_desktop.engine.plans import evaluate_plan, parse_plan
    from medadv_desktop.ui.controllers import export
    from tests.engine.reports.fixtures import make_result

    dialog = SignOffDialog(window)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.requester, "R" * 121)
    qtbot.mouseClick(dialog.findChild(object, "signoff_ok"), Qt.LeftButton)
    assert dialog.isVisible() and dialog.result_values is None
    assert dialog.error.isVisibleTo(dialog) and "at most 120" in dialog.error.text()
    dialog.requester.clear()
    qtbot.keyClicks(dialog.requester, "  Dr   Ada  ")
    qtbot.mouseClick(dialog.findChild(object, "signoff_ok"), Qt.LeftButton)
    assert not dialog.isVisible() and dialog.result_values.requester == "Dr Ada"      # folded by the engine

    result = make_result()
    plan = parse_plan({"plan": {"title": "t"}, "criteria": [{"metric": "clean_accuracy", "comparison": ">=",
                                                             "threshold": 0.5}]})
    window.session.add_result(EvaluationEntry(result, verdict=evaluate_plan(plan, result)))
    assert window.results.verdict.isVisibleTo(window.results_panel)
    asked: list[str] = []
    monkeypatch.setattr(export.QFileDialog, "getExistingDirectory",
                        staticmethod(lambda *a, **k: asked.append("folder") or str(tmp_path)))

    def cancel() -> None:
        modal = QApplication.activeModalWidget()
        if isinstance(modal, SignOffDialog):
            qtbot.keyClick(modal, Qt.Key_Escape)
        else:
            QTimer.singleShot(50, cancel)

    QTimer.singleShot(0, cancel)
    assert window.exporter.export_current() is None
    assert asked == [] and list(tmp_path.iterdir()) == []
