"""Issue 16, GUI: the Corruptions dock beside the attack dock, driven by real clicks.

Real parts only: the bundled demo CT study and demo model, pydicom's MR_small,
the synthetic demo data set written as DICOM, the engine's corruption
registry and workflows. Every number on screen is checked against the engine
run on its own in the test.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from tests.ui.conftest import load, wait_idle

SHOTS = os.environ.get("MEDADV_SCREENSHOTS")       # a folder: the tests save what they show there


def _shot(widget, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        widget.grab().save(str(Path(SHOTS) / name))


def _show_dock(window, qtbot):
    window.corruption_dock.show()
    window.corruption_dock.raise_()
    qtbot.waitUntil(lambda: window.corruption_panel.isVisible(), timeout=5_000)


def _click_run(qtbot, window, timeout=240_000):
    panel = window.corruption_panel
    before = len(window.session.results)
    assert panel.run_button.isEnabled(), window.corruptions.reason
    qtbot.mouseClick(panel.run_button, Qt.LeftButton)
    wait_idle(qtbot, window, timeout)
    return window.session.results[-1] if len(window.session.results) > before else None


def _choose(panel, name: str) -> None:
    i = panel.corruption_combo.findData(name)
    assert i >= 0, name
    panel.corruption_combo.setCurrentIndex(i)


def _check_only(panel, names: set[str]) -> None:
    panel.defaults_check.setChecked(False)
    for row in range(panel.corruption_list.count()):
        item = panel.corruption_list.item(row)
        item.setCheckState(Qt.Checked if item.data(Qt.UserRole) in names else Qt.Unchecked)


def test_dock_lists_the_registry_with_modality_defaults(window, qtbot, ct_small, tiny_card):
    from pydicom.data import get_testdata_file

    from medadv_desktop.engine.corruptions import available, default_corruptions

    load(qtbot, window, study=ct_small, card=tiny_card)
    _show_dock(window, qtbot)
    panel = window.corruption_panel
    assert window.tabifiedDockWidgets(window.docks["dock_attack"]) == [window.corruption_dock]
    names = [panel.corruption_combo.itemData(i) for i in range(panel.corruption_combo.count())]
    assert names == available()
    ct_defaults = default_corruptions("CT", volume=False)
    assert panel.fitting == ct_defaults and panel.corruption_combo.currentData() == ct_defaults[0] == "ct_dose"
    panel.severity_spin.setValue(3)
    assert panel.description.text() == "CT dose reduction noise, severity 3 (12.5 % dose)"
    assert panel.run_button.isEnabled() and not panel.reason.isVisible()

    # an MR study: CT dose noise (defined in HU) is no longer a default; the list says which do not fit
    window.studies.open_paths([Path(get_testdata_file("MR_small.dcm"))])
    qtbot.waitUntil(lambda: window.session.study is not None and window.session.study.modality == "MR",
                    timeout=60_000)
    wait_idle(qtbot, window)
    assert "ct_dose" not in panel.fitting and "rician" in panel.fitting
    assert panel.corruption_combo.currentData() in panel.fitting
    panel.scope.setCurrentIndex(panel.scope.findData("dataset"))
    assert panel.defaults_check.isChecked() and not panel.corruption_list.isVisible()
    qtbot.mouseClick(panel.defaults_check, Qt.LeftButton)
    assert panel.corruption_list.isVisible()
    labels = {panel.corruption_list.item(r).data(Qt.UserRole): panel.corruption_list.item(r)
              for r in range(panel.corruption_list.count())}
    assert labels["ct_dose"].checkState() == Qt.Unchecked and "(other modality)" in labels["ct_dose"].text()
    assert labels["rician"].checkState() == Qt.Checked
    # no data set folder yet: Run says why it cannot run
    assert not panel.run_button.isEnabled() and "data set folder" in panel.reason.text()


def test_corrupt_current_study_in_the_linked_views_with_the_prediction_change(window, qtbot, tmp_path):
    from medadv_desktop.engine.corruptions import corrupt_study
    from medadv_desktop.engine.models import study_to_unit
    from medadv_desktop.ui.session import CorruptedStudyEntry
    from medadv_desktop.ui.widgets.viewer import SIDE_BY_SIDE

    load(qtbot, window, demo=True)
    _show_dock(window, qtbot)
    panel, viewer, session = window.corruption_panel, window.viewer, window.session
    _choose(panel, "jpeg2000")
    panel.severity_spin.setValue(5)
    assert "JPEG 2000, severity 5" in panel.description.text()
    entry = _click_run(qtbot, window)
    assert isinstance(entry, CorruptedStudyEntry) and session.current_result is entry
    assert not session.internal_errors and not session.last_error

    # the viewer: side by side at the clinical window, the second panel titled Corrupted, the signed difference
    study = session.study
    expected = corrupt_study(study, "jpeg2000", 5, seed=0).pixels          # the engine on its own
    assert viewer.mode == SIDE_BY_SIDE
    titles = [p.title.text for p in viewer.panels]
    assert titles[1] == "Corrupted" and titles[2] == "Difference (corr. − orig, HU)"
    s = session.current_slice
    np.testing.assert_array_equal(viewer.adversarial_slice(), expected[s])
    np.testing.assert_allclose(viewer.panels[2].data, expected[s] - study.pixels[s].astype(np.float32), atol=1e-3)
    assert viewer.diff_bar is not None
    assert tuple(viewer.panels[1].image.levels) == pytest.approx((viewer.center - viewer.width / 2,
                                                                  viewer.center + viewer.width / 2))

    # the prediction change of the current slice equals the model run on the corrupted pixels
    classifier = session.classifier
    clean = classifier.predict_proba(study_to_unit(study, classifier.card, [s])[0])[0]
    corrupted_study = entry.outcome.study
    after = classifier.predict_proba(study_to_unit(corrupted_study, classifier.card, [s])[0])[0]
    np.testing.assert_allclose(entry.corrupted_probs[s], after, atol=1e-5)
    texts = panel.bars.texts()
    assert [t[0] for t in texts] == list(session.card.class_names) and all(len(t) == 3 for t in texts)
    names = session.card.class_names
    changed = int(np.argmax(clean)) != int(np.argmax(after))
    assert f"Slice {s + 1}: Clean {names[int(np.argmax(clean))]}" in panel.change.text()
    assert ("prediction changed" if changed else "same prediction") in panel.change.text()
    _shot(window, "corruption_study_jpeg2000_s5.png")

    # scrolling follows: another slice shows its own corrupted pixels and change
    other = (s + 1) % study.n_slices
    session.set_slice(other)
    np.testing.assert_array_equal(viewer.adversarial_slice(), expected[other])
    assert panel.change.text().startswith(f"Slice {other + 1}:")

    # File ▸ Export refuses the study's own series folder (nothing written), then writes the corrupted study
    # like `medadv corrupt`: de-identified, marked simulated
    import pydicom

    series = Path(study.source_paths[0]).parent
    before = sorted(series.iterdir())
    job = window.exporter.export(entry, series)
    wait_idle(qtbot, window)
    assert job.status == "failed" and sorted(series.iterdir()) == before and session.last_error
    session.last_error = ""

    folder = tmp_path / "export"
    folder.mkdir()
    job = window.exporter.export(entry, folder)
    wait_idle(qtbot, window)
    assert job.status == "done", session.last_error
    (out,) = folder.iterdir()
    record = json.loads(next(out.glob("*_record.json")).read_text())
    assert record["corruption"] == "jpeg2000" and record["severity"] == 5 and record["de_identified"] is True
    dicoms = sorted(out.glob("*.dcm"))
    assert len(dicoms) == study.n_slices
    ds = pydicom.dcmread(dicoms[0])
    assert "SYNTHETIC" not in str(ds.get("PatientName", "")) and ds.LossyImageCompression == "01"


def test_dataset_evaluation_table_curve_cancel_and_export(window, qtbot, demo_data, tmp_path):
    from medadv_desktop.engine.results.corruption import CorruptionEvaluationResult
    from medadv_desktop.engine.workflows.corruption import CorruptionEvaluationRequest, corruption_evaluation_workflow
    from medadv_desktop.engine.jobs import run_job
    from medadv_desktop.ui.session import CorruptionEntry
    from medadv_desktop.ui.worker import CANCELLED

    load(qtbot, window, demo=True)
    _show_dock(window, qtbot)
    panel, session = window.corruption_panel, window.session
    panel.scope.setCurrentIndex(panel.scope.findData("dataset"))
    assert panel.defaults_check.isVisible() and not panel.corruption_combo.isVisible()
    qtbot.keyClicks(panel.dataset_edit, str(demo_data / "test"))

    # Cancel: the evaluation stops, nothing is kept, a later job runs
    _check_only(panel, {"ct_dose", "gamma", "jpeg2000", "blur"})
    assert panel.corruption_list.isVisible()
    panel.severities_edit.setText("1-5")
    qtbot.mouseClick(panel.run_button, Qt.LeftButton)
    request = window.corruptions.last_request
    qtbot.waitUntil(lambda: request.status == "running" and panel.cancel_button.isEnabled(), timeout=60_000)
    qtbot.mouseClick(panel.cancel_button, Qt.LeftButton)
    wait_idle(qtbot, window)
    assert request.status == CANCELLED and not any(isinstance(e, CorruptionEntry) for e in session.results)
    assert panel.progress.format() == "Cancelled" and not session.internal_errors

    _check_only(panel, {"ct_dose", "jpeg2000"})
    panel.severities_edit.setText("1,3,5")
    panel.max_spin.setValue(8)
    entry = _click_run(qtbot, window)
    assert isinstance(entry, CorruptionEntry) and session.current_result is entry
    result = entry.result
    assert result.corruptions == ["ct_dose", "jpeg2000"] and result.severities == [1, 3, 5]
    assert result.n_samples == 8 and panel.progress.value() == 1000

    # the same evaluation run by the engine on its own gives the same table
    peer = run_job(corruption_evaluation_workflow(session.classifier, CorruptionEvaluationRequest(
        data=demo_data / "test", corruptions=["ct_dose", "jpeg2000"], severities="1,3,5", max_samples=8)))
    assert [(r.corruption, r.severity, r.accuracy.k) for r in peer.result.rows] == \
        [(r.corruption, r.severity, r.accuracy.k) for r in result.rows]

    # Results: the Corruptions tab is shown with the table (clean + 2 x 3 rows) and the severity curve
    view = window.corruptions.view
    assert window.results_panel.currentWidget() is view
    rows = view.table_texts()
    assert len(rows) == 1 + 2 * 3 and rows[0][0] == "clean" and rows[0][1] == "0"
    for text_row, row in zip(rows[1:], result.rows):
        assert text_row[0] == row.label and text_row[1] == str(row.severity)
        flips = view.headers().index("Flips")
        assert f"({row.accuracy.k}/{row.accuracy.n})" in text_row[3] and f"({row.flips.k}/{row.flips.n})" in text_row[flips]
    j2k = [r for r in rows if r[0] == result.rows[-1].label]
    assert j2k and j2k[-1][2].startswith("340:1 ratio, reached ")           # the ratio the codec reached, as the PDF
    assert set(view.curves) == {"ct_dose", "jpeg2000"}
    xs, ys = view.curves["jpeg2000"]
    assert xs == [0, 1, 3, 5]
    assert ys == pytest.approx([result.clean.accuracy.value] + [result.row("jpeg2000", s).accuracy.value
                                                              for s in (1, 3, 5)])
    assert "8 samples" in view.caption.text() and "Synthetic demo data" in view.caption.text()
    window.docks["dock_results"].raise_()
    _shot(window, "corruption_dataset_results.png")

    # File ▸ Export: JSON and CSVs as the CLI writes them; a second export never collides
    out = tmp_path / "export"
    out.mkdir()
    for _ in range(2):
        job = window.exporter.export(entry, out)
        wait_idle(qtbot, window)
        assert job.status == "done", session.last_error
    files = sorted(p.name for p in out.iterdir())
    assert len(files) == 8 and sum(f.endswith(".json") for f in files) == 2 and sum(f.endswith(".pdf") for f in files) == 2
    loaded = CorruptionEvaluationResult.load(next(out.glob("*.json")))
    assert [r.accuracy.k for r in loaded.rows] == [r.accuracy.k for r in result.rows]
    from pypdf import PdfReader

    pdf = next(out.glob("*.pdf"))
    text = " ".join(page.extract_text() for page in PdfReader(pdf).pages)
    if SHOTS:
        (Path(SHOTS) / "corruption_export.pdf").write_bytes(pdf.read_bytes())
    assert "Robustness to acquisition and archive artefacts" in text and result.rows[-1].label in text
    table_csv = next(out.glob("*-table.csv")).read_text()
    assert "jpeg2000" in table_csv or result.rows[-1].label in table_csv


def test_bad_input_one_clear_error_then_data_set_defaults_and_study_runs(window, qtbot, tmp_path, demo_data):
    from medadv_desktop.engine.datasets import LabelledDataset
    from medadv_desktop.engine.workflows.corruption import resolve_corruptions
    from medadv_desktop.ui.session import CorruptedStudyEntry, CorruptionEntry

    load(qtbot, window, demo=True)
    _show_dock(window, qtbot)
    panel, session = window.corruption_panel, window.session
    panel.scope.setCurrentIndex(panel.scope.findData("dataset"))
    panel.dataset_edit.setText(str(tmp_path / "no-such-folder"))
    assert _click_run(qtbot, window) is None
    assert panel.error.isVisible() and panel.error.text() and "\n" not in panel.error.text()
    assert session.last_error and not session.internal_errors
    panel.severities_edit.setText("7")
    _click_run(qtbot, window)
    assert "outside 1..5" in panel.error.text()
    # the data set's own defaults (as --corruptions default): single-slice samples, so no slice thickness,
    # although the open demo study (a volume) offers it
    assert "slice_thickness" in panel.fitting and panel.defaults_check.isChecked()
    panel.dataset_edit.setText(str(demo_data / "test"))
    panel.severities_edit.setText("5")
    panel.max_spin.setValue(6)
    entry = _click_run(qtbot, window)
    assert isinstance(entry, CorruptionEntry), session.last_error
    dataset = LabelledDataset.from_folder(demo_data / "test", session.card.class_names)
    expected = [name for name, _ in resolve_corruptions("default", dataset)[0]]
    assert entry.result.corruptions == expected and "slice_thickness" not in expected
    assert len(window.corruptions.view.table_texts()) == 1 + len(expected)
    # the study scope still runs afterwards
    panel.scope.setCurrentIndex(panel.scope.findData("study"))
    _choose(panel, "gamma")
    assert isinstance(_click_run(qtbot, window), CorruptedStudyEntry)


def test_every_corruption_gets_its_own_curve_style():
    """Colour, line style and symbol together tell every registered corruption's curve apart (a PDF-style
    legend in grey too): the screenshot of all 14 showed CT dose and contrast loss drawn alike before."""
    from medadv_desktop.engine.corruptions import available as corruptions
    from medadv_desktop.ui.widgets.corruption_results import curve_style

    n = max(len(corruptions()), 20)
    styles = [curve_style(i) for i in range(n)]
    assert len(set(styles)) == n
