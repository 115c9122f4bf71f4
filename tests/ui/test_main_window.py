"""The main window end to end, with real files and a real tiny timm model (no mocks).

Waits on the session's state, never sleeps. File dialogs are patched where they are used.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent, QGuiApplication

from medadv_desktop.ui.actions import ACTION_SPECS, ActionId
from medadv_desktop.ui.attack_info import SCOPE_DATASET, SCOPE_SLICE, SCOPE_VOLUME
from medadv_desktop.ui.main_window import APP_TITLE, MainWindow
from medadv_desktop.ui.session import AttackRun, EvaluationEntry
from medadv_desktop.ui.worker import CANCELLED
from tests.ui.conftest import load, run_and_wait, start_engine_and_model, wait_idle


def test_launch_docks_actions_theme(window):
    assert APP_TITLE in window.windowTitle()
    names = {d.objectName() for d in window.docks.values()}
    assert names == {"dock_studies", "dock_tags", "dock_model", "dock_attack", "dock_jobs", "dock_results"}
    assert set(window.actions) == set(ACTION_SPECS)
    assert window.actions[ActionId.OPEN_FILE].shortcut().toString()
    assert window.actions[ActionId.RUN_ATTACK].shortcut().toString() == "Ctrl+R"
    assert not window.actions[ActionId.RUN_ATTACK].isEnabled()     # nothing loaded yet
    assert not window.attack_panel.run_button.isEnabled() and window.attack_panel.reason.text()
    assert window.findChild(type(window.toolbar), "toolbar_main") is window.toolbar
    assert window.palette().window().color().lightness() < 60       # dark reading-room theme
    for dock in window.docks.values():
        assert dock.isVisible() and dock.width() > 100 and dock.height() > 100


def test_open_file_through_dialog_and_prediction(window, qtbot, ct_small, tiny_card, monkeypatch):
    from medadv_desktop.ui.controllers import model, studies

    session = window.session
    monkeypatch.setattr(studies.QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(ct_small), "")))
    with qtbot.waitSignal(session.studies_changed, timeout=60_000):
        window.actions[ActionId.OPEN_FILE].trigger()
    assert session.study is not None and session.study.modality == "CT"
    assert window.study_browser.tree.topLevelItemCount() == 1
    name, details = window.study_browser.row_texts()[0]
    assert name == session.study.pseudonym and details == "CT · 2004 · 128×128 · 1 slice"   # year only (issue 13)
    assert "CT" in window.windowTitle()
    assert window.store.recent_files()[0] == str(ct_small.resolve())
    # PHI never reaches the title, the study list or the log
    import pydicom

    patient = str(pydicom.dcmread(ct_small, stop_before_pixels=True).PatientName)
    assert patient
    assert patient not in window.windowTitle()
    assert patient not in name + details

    monkeypatch.setattr(model.QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(tiny_card), "")))
    with qtbot.waitSignal(session.prediction_changed, timeout=60_000):
        window.actions[ActionId.LOAD_MODEL].trigger()
    probs = session.predictions[(session.current_index, session.current_slice)]
    assert len(probs) == 2 and sum(probs) == pytest.approx(1, abs=1e-4)
    texts = window.model_panel.prediction_texts()
    assert [t[0] for t in texts] == ["no_finding", "lesion"]
    assert window.model_panel.fields["input"].text().startswith("64×64")
    assert "window C 40 / W 400" in window.model_panel.fields["intensity"].text()
    log = window.jobs_panel.log.toPlainText()
    assert patient not in log and "CT_small" not in log          # no PHI, not even file names
    assert session.study.pseudonym in log


def test_fgsm_on_current_slice_end_to_end(window, qtbot, ct_small, tiny_card):
    load(qtbot, window, study=ct_small, card=tiny_card)
    panel = window.attack_panel
    form = panel.select_attack("fgsm")
    form.set_value("eps", 8 / 255)
    assert form.widgets["eps"].native_text() == "12.5 HU"            # 8/255 of a 400 HU window
    panel.set_scope(SCOPE_SLICE)
    entry = run_and_wait(qtbot, window)
    assert isinstance(entry, AttackRun)
    [(_index, outcome)] = entry.outcomes
    result = outcome.result
    # heatmap holds the perturbation: non-zero exactly where adv != clean, in HU
    heat = window.viewer.heatmap_array()
    changed = result.adv_native[0] != result.clean_native[0]
    assert changed.any()
    assert np.all(heat[changed] > 0) and np.all(heat[~changed] == 0)
    assert heat.max() <= 8 / 255 * 400 + 1e-3
    # issue 13: the overlay is opt-in, and an L-inf |delta| (eps almost everywhere) is never drawn as a wash
    assert not any(p.overlay.isVisible() for p in window.viewer.panels)
    # summary table row with its robust accuracy
    table = window.results_panel.table
    assert table.proxy.rowCount() == 1
    row = {table.proxy.headerData(c, Qt.Horizontal): table.proxy.index(0, c).data()
           for c in range(table.proxy.columnCount())}
    assert row["Attack"] == "fgsm"
    assert row["Robust acc"] == f"{result.row.robust_accuracy * 100:.1f} %"
    assert row["eps"].startswith("8/255")
    # prediction panel shows before and after
    texts = window.model_panel.prediction_texts()
    assert len(texts) == 2 and all(len(t) == 3 for t in texts)
    assert texts[0][1] == f"{result.clean_probs[0][0] * 100:.1f} %"
    assert texts[0][2] == f"{result.adv_probs[0][0] * 100:.1f} %"
    chart = window.results_panel.prediction
    assert chart.before == pytest.approx(list(result.clean_probs[0]), abs=1e-6)
    assert chart.after == pytest.approx(list(result.adv_probs[0]), abs=1e-6)
    assert "fgsm" in window.results_panel.prediction_caption.text()
    # Ctrl+C copies the table as TSV
    table.setFocus()
    table.selectRow(0)
    qtbot.keyClick(table, Qt.Key_C, Qt.ControlModifier)
    tsv = QGuiApplication.clipboard().text().splitlines()
    assert tsv[0].split("\t")[:3] == ["Source", "Attack", "eps"] and "fgsm" in tsv[1]
    # selecting the sample shows its original / adversarial / heatmap, at the card's window (40/400 HU)
    window.results_panel.samples.select_entry(0)
    preview = window.results_panel.preview
    signed = window.viewer.adversarial_slice() - window.viewer.original_slice()      # issue 13: signed, not |Δ|
    np.testing.assert_allclose(preview.items[2].image, signed, atol=1e-4)
    np.testing.assert_allclose(np.abs(preview.items[2].image), heat, atol=1e-4)
    low, high = preview.items[2].levels
    assert low == pytest.approx(-high) and high > 0
    assert preview.levels == pytest.approx((-160, 240))
    assert result.records[0].sample_id in preview.caption.text()


def test_cancel_long_pgd_and_ui_stays_usable(window, qtbot, ct_small, tiny_card):
    load(qtbot, window, study=ct_small, card=tiny_card)
    panel = window.attack_panel
    form = panel.select_attack("pgd")
    form.set_value("steps", 10_000)
    form.set_value("early_stop", False)
    form.set_value("restarts", 100)
    panel.set_scope(SCOPE_SLICE)
    started = []
    window.session.worker.sig_started.connect(started.append)
    qtbot.mouseClick(panel.run_button, Qt.LeftButton)
    request = window.attacks.last_request
    qtbot.waitUntil(lambda: request in started, timeout=20_000)
    assert panel.cancel_button.isEnabled() and not panel.run_button.isEnabled()
    assert "running" in panel.reason.text()                        # Run says why it is off
    qtbot.mouseClick(panel.cancel_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: request.status == CANCELLED, timeout=30_000)
    assert "cancelled" in window.jobs_panel.log.toPlainText()
    assert window.session.results == []                            # nothing half-done is shown as a result
    # still usable: the viewer reacts and a new job runs
    window.viewer.set_window(400, 1800)
    assert window.viewer.center == 400
    wait_idle(qtbot, window)
    panel.select_attack("fgsm")
    assert isinstance(run_and_wait(qtbot, window), AttackRun)


def test_corrupt_file_shows_error_and_app_survives(window, qtbot, tmp_path, ct_small):
    bad = tmp_path / "broken.dcm"
    bad.write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00UI\x14\x00" + b"garbage" * 5)
    window.session.start_engine()
    with qtbot.waitSignal(window.session.error_raised, timeout=60_000) as err:
        window.studies.open_paths([bad])
    # issue 14: the message names no file (names can carry patient names); the Studies panel lists it
    assert "Nothing could be opened from the file" in err.args[0] and "broken" not in err.args[0]
    assert window.session.study is None
    assert window.error_box.isVisible() and not window.error_box.isModal()
    assert window.study_browser.failures.topLevelItem(0).text(0) == "broken.dcm"
    with qtbot.waitSignal(window.session.studies_changed, timeout=30_000):
        window.studies.open_paths([ct_small])
    assert window.session.study is not None


def test_drop_files_opens_them(window, qtbot, ct_small):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(ct_small))])
    event = QDropEvent(QPointF(300, 300), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    with qtbot.waitSignal(window.session.studies_changed, timeout=60_000):
        window.dropEvent(event)
    assert window.session.study.modality == "CT"


def test_settings_round_trip(qtbot, settings, tmp_path):
    first = MainWindow(settings=settings)
    qtbot.addWidget(first)
    first.resize(1434, 877)
    first.show()
    qtbot.waitExposed(first)
    first.docks["dock_tags"].hide()
    first.viewer.opacity_slider.setValue(35)
    # study paths persist only on the explicit opt-in (issue 14; off by default: tests/ui/test_issue14_gui.py)
    first.actions[ActionId.REMEMBER_RECENT].setChecked(True)
    first.store.add_recent(tmp_path / "a.dcm")
    first.store.add_recent(tmp_path / "b")
    first.close()

    second = MainWindow(settings=settings)
    qtbot.addWidget(second)
    second.show()
    qtbot.waitExposed(second)
    # geometry and dock state came back (the offscreen test screen clamps sizes, so
    # compare the saved geometry rather than pixel sizes)
    assert second._state_restored
    assert bytes(settings.value("window/geometry"))
    assert second.docks["dock_results"].isVisible()
    assert not second.docks["dock_tags"].isVisible()
    assert second.docks["dock_model"].isVisible()
    assert second.viewer.opacity_slider.value() == 35
    assert second.store.recent_files() == [str((tmp_path / "b").resolve()), str((tmp_path / "a.dcm").resolve())]
    assert [a.text() for a in second.recent_menu.actions()][:2] == ["&1 b", "&2 a.dcm"]
    assert second.actions[ActionId.REMEMBER_RECENT].isChecked()
    second.close()


def _two_class_folder(tmp_path: Path) -> Path:
    from pydicom.data import get_testdata_file

    data = tmp_path / "data"
    for cls in ("no_finding", "lesion"):
        (data / cls).mkdir(parents=True)
        for name in ("CT_small.dcm", "MR_small.dcm"):
            shutil.copy(get_testdata_file(name), data / cls / name)
    return data


def test_evaluation_on_labelled_folder_and_export_twice(window, qtbot, tmp_path, tiny_card, monkeypatch):
    data = _two_class_folder(tmp_path)
    start_engine_and_model(qtbot, window, tiny_card)
    panel = window.attack_panel
    panel.select_attack("fgsm")
    panel.set_ticked_attacks(["fgsm"])               # Custom: FGSM only (the default is the standard suite)
    panel.set_scope(SCOPE_DATASET)
    panel.dataset_edit.setText(str(data))
    panel.eps_grid.setText("2/255, 8/255")
    entry = run_and_wait(qtbot, window)
    assert isinstance(entry, EvaluationEntry) and not entry.partial
    result = entry.result
    assert result.n_samples == 4
    table = window.results_panel.table
    attacks = {table.proxy.index(r, 1).data() for r in range(table.proxy.rowCount())}
    assert {"fgsm", "worst-case"} <= attacks
    curve = window.results_panel.robustness.series
    assert "fgsm" in curve and len(curve["fgsm"][0]) == 3           # clean point + 2 eps
    table.selectRow(0)
    assert window.results_panel.transitions.rowCount() == 2
    assert window.actions[ActionId.EXPORT_REPORT].isEnabled()
    # File > Export writes PDF + CSV + JSON through the engine's report job; a second export in the same
    # minute (here: the same second) gets its own names instead of "already exists"
    from medadv_desktop.ui.controllers import export

    out = tmp_path / "reports"
    out.mkdir()
    monkeypatch.setattr(export.QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(out)))
    for _ in range(2):
        window.actions[ActionId.EXPORT_REPORT].trigger()
        wait_idle(qtbot, window, 120_000)
    assert window.session.last_error == ""
    suffixes = sorted(p.suffix for p in out.iterdir())
    assert suffixes == [".csv"] * 4 + [".json"] * 2 + [".pdf"] * 2
    stems = sorted(p.name for p in out.glob("*.pdf"))
    assert len(set(stems)) == 2                     # seconds in the name, and a counter within one second


def test_export_names_never_collide(tmp_path):
    from medadv_desktop.ui.controllers.export import REPORT_SUFFIXES, report_paths, unique_stem

    stem = "medadv-report-model-20260101-120000"
    assert unique_stem(tmp_path, stem, REPORT_SUFFIXES) == stem
    report_paths(tmp_path, stem)["csv"].write_text("taken")            # one of the four files exists
    assert unique_stem(tmp_path, stem, REPORT_SUFFIXES) == stem + "-2"
    (tmp_path / f"{stem}-2.pdf").write_text("taken")
    assert unique_stem(tmp_path, stem, REPORT_SUFFIXES) == stem + "-3"
    (tmp_path / "folder").mkdir()
    assert unique_stem(tmp_path, "folder") == "folder-2"


def test_evaluation_attack_cascade_and_per_attack_checkbox(window, qtbot, tmp_path, tiny_card):
    """Default: the attack cascade (PGD's rows cumulative, marked *); the checkbox gives per-attack rows."""
    data = _two_class_folder(tmp_path)
    start_engine_and_model(qtbot, window, tiny_card)
    panel = window.attack_panel
    form = panel.select_attack("pgd")
    form.set_value("steps", 2)
    form.set_value("random_start", False)                 # deterministic: both modes give the same worst case
    names = [panel.attack_list.item(r).data(Qt.UserRole) for r in range(panel.attack_list.count())]
    panel.set_ticked_attacks(["fgsm", "pgd"])
    first, second = [n for n in names if n in ("fgsm", "pgd")]      # run order = list order
    panel.set_scope(SCOPE_DATASET)
    panel.dataset_edit.setText(str(data))
    panel.eps_grid.setText("8/255")
    results = window.results_panel
    table = results.table

    def run(per_attack: bool):
        panel.per_attack.setChecked(per_attack)
        return run_and_wait(qtbot, window).result

    cascade = run(False)
    assert cascade.provenance.full_rows is False
    assert [(r.attack, r.cumulative) for r in cascade.rows] == [(first, False), (second, True), ("worst-case", False)]
    shown = {table.proxy.index(r, 1).data(): r for r in range(table.proxy.rowCount())}
    assert set(shown) == {first, f"{second} *", "worst-case"}
    robust = [table.proxy.headerData(c, Qt.Horizontal) for c in range(table.proxy.columnCount())].index("Robust acc")
    assert "Cumulative row" in table.proxy.index(shown[f"{second} *"], robust).data(Qt.ToolTipRole)
    assert table.proxy.index(shown[first], robust).data(Qt.ToolTipRole) is None
    assert results.summary_note.isVisibleTo(results) and "cumulative" in results.summary_note.text()
    assert f"{second} *" in table.to_tsv(only_selected=False)

    per_attack = run(True)
    assert per_attack.provenance.full_rows is True and not any(r.cumulative for r in per_attack.rows)
    assert per_attack.row("worst-case", 8 / 255).robust_accuracy == cascade.row("worst-case", 8 / 255).robust_accuracy
    new_rows = [table.summary.rows[i].row for i in range(3, 6)]
    assert [r.attack for r in new_rows] == [first, second, "worst-case"] and not any(r.cumulative for r in new_rows)


def test_create_card_dialog_values_make_a_valid_card(qtbot, tiny_card):
    from medadv_desktop.engine.models import ModelCard, create_card_from_weights
    from medadv_desktop.ui.dialogs.create_card import CreateCardDialog

    original = ModelCard.load(tiny_card)
    dialog = CreateCardDialog(weights=str(original.weights_path))
    qtbot.addWidget(dialog)
    dialog.name.setText("form card")
    dialog.architecture.setText("test_resnet")
    dialog.height.setValue(64)
    dialog.width.setValue(64)
    card = create_card_from_weights(**dialog.values())
    assert card.class_names == ["no_finding", "lesion"] and card.input_size in ([64, 64], (64, 64))
    assert card.intensity.mode == "window" and card.intensity.width == 400
    assert card.sha256 == original.sha256


def test_whole_volume_attack_follows_the_slice(window, qtbot, tiny_card, demo_study):
    """Whole-volume scope on the bundled demo series (real CT patches); views follow the slice."""
    load(qtbot, window, study=demo_study, card=tiny_card)
    n = window.session.study.n_slices
    assert n > 1
    window.attack_panel.select_attack("fgsm")
    window.attack_panel.set_scope(SCOPE_VOLUME)
    [(_, outcome)] = run_and_wait(qtbot, window).outcomes
    result = outcome.result
    assert result.slices == list(range(n))
    assert len(window.results_panel.sample_entries) == n
    window.viewer.set_slice(2)
    assert window.viewer.has_adversarial and window.session.current_slice == 2
    np.testing.assert_allclose(window.viewer.panels[1].data, result.adv_native[2])
    assert window.results_panel.prediction.after == pytest.approx(list(result.adv_probs[2]), abs=1e-6)
    assert window.model_panel.prediction_texts()[0][2] == f"{result.adv_probs[2][0] * 100:.1f} %"
    window.results_panel.samples.select_entry(5)                 # selecting a sample shows its slice
    assert window.viewer.current == 5
    # sample ids count slices from 1, like the viewer
    assert window.results_panel.sample_entries[5].record.sample_id.endswith("/slice-006")
    assert window.viewer.slice_label.text().startswith("Slice 6 /")
