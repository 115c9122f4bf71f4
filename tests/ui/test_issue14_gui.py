"""Issue 14 in the GUI: a full or read-only disk loses nothing, the settings file holds no study path,
the job log names no patient, and a FIFO inside a study folder never hangs the worker.

Real parts: pydicom's CT_small.dcm rewritten with a patient's name in its tags and path, the real tiny
timm model, real attacks and evaluations, the engine's real writers (a disk error injected at the
lowest write call, ``os.write``'s caller in ``engine/safe_write.py``, or a real tmpfs when this user
may mount one), a real named pipe. File dialogs are patched where they are used.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from medadv_desktop.ui.actions import ActionId
from medadv_desktop.ui.attack_info import SCOPE_DATASET, SCOPE_SLICE
from medadv_desktop.ui.main_window import MainWindow
from medadv_desktop.ui.session import AttackRun, EvaluationEntry
from tests.ui.conftest import load, run_and_wait, start_engine_and_model, wait_idle

PATIENT = "DOE^JANE"
PATIENT_ID = "PID4711X"


def _patient_study(folder: Path) -> Path:
    """CT_small.dcm with a patient's name and ID in its tags, in a folder and file named after her."""
    import pydicom
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.PatientName = PATIENT
    ds.PatientID = PATIENT_ID
    study = folder / f"DOE_JANE_{PATIENT_ID}"
    study.mkdir(parents=True)
    ds.save_as(study / f"DOE_JANE_{PATIENT_ID}_ct.dcm")
    return study


def _fragments(study: Path) -> list[bytes]:
    return [b"DOE", b"JANE", PATIENT_ID.encode(), b"4711", study.name.encode(), study.parent.name.encode(),
            str(study).encode()]


def _new_window(qtbot, settings) -> MainWindow:
    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    win.resize(1400, 900)
    win.show()
    qtbot.waitExposed(win)
    return win


def _log(win) -> str:
    return win.jobs_panel.log.toPlainText()


# --------------------------------------------------------------------------- privacy of the settings file
def test_settings_file_holds_no_study_path_or_name(qtbot, settings, tmp_path):
    study = _patient_study(tmp_path)
    first = _new_window(qtbot, settings)
    assert not first.actions[ActionId.REMEMBER_RECENT].isChecked()          # off by default
    assert first.actions[ActionId.REMEMBER_RECENT] in first.recent_menu.actions()
    first.session.start_engine()
    first.studies.open_paths([study])
    qtbot.waitUntil(lambda: first.session.study is not None, timeout=90_000)
    wait_idle(qtbot, first)
    pseudonym = first.session.study.pseudonym
    # the recent list works for the session, shown by the study's pseudonym, never by its name
    texts = [a.text() for a in first.recent_menu.actions()]
    assert texts[0] == f"&1 {pseudonym} (CT)"
    assert not any("DOE" in t or PATIENT_ID in t for t in texts)
    assert all(not a.toolTip() or "DOE" not in a.toolTip() for a in first.recent_menu.actions())
    assert "DOE" not in _log(first) and PATIENT_ID not in _log(first)
    first.close()                                                            # quits: settings written

    ini = Path(settings.fileName())
    data = ini.read_bytes()
    assert data and b"window" in data.lower()                                # the file was written
    for fragment in _fragments(study):
        assert fragment not in data, fragment
    second = _new_window(qtbot, settings)
    assert second.store.recent_files() == []
    second.close()


@pytest.fixture
def qt_user_settings(tmp_path):
    """Qt's shared user settings (``QtProject.conf``, where QFileDialog records folders) in ``tmp_path``."""
    from PySide6.QtCore import QSettings, QStandardPaths

    folder = tmp_path / "qt-config"
    folder.mkdir()
    original = QStandardPaths.writableLocation(QStandardPaths.GenericConfigLocation)
    QSettings.setPath(QSettings.NativeFormat, QSettings.UserScope, str(folder))
    QSettings.setPath(QSettings.IniFormat, QSettings.UserScope, str(folder))
    yield folder
    QSettings.setPath(QSettings.NativeFormat, QSettings.UserScope, original)
    QSettings.setPath(QSettings.IniFormat, QSettings.UserScope, original)


def test_real_folder_dialog_leaves_no_study_path_in_qt_settings(qtbot, settings, tmp_path, qt_user_settings):
    """Qt's own file dialog writes the folder it was left in to QtProject.conf: removed again."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QFileDialog

    study = _patient_study(tmp_path)
    win = _new_window(qtbot, settings)
    win.session.start_engine()
    seen: list[QFileDialog] = []

    def pick() -> None:                               # the user browses to the study folder and clicks Choose
        dialogs = [w for w in QApplication.topLevelWidgets() if isinstance(w, QFileDialog) and w.isVisible()]
        if not dialogs:
            QTimer.singleShot(50, pick)
            return
        seen.append(dialogs[0])
        dialogs[0].setDirectory(str(study))
        dialogs[0].accept()

    QTimer.singleShot(50, pick)
    win.actions[ActionId.OPEN_FOLDER].trigger()       # the real, widget-based QFileDialog (offscreen)
    assert seen
    qtbot.waitUntil(lambda: win.session.study is not None, timeout=90_000)
    wait_idle(qtbot, win)
    qt_files = list(qt_user_settings.rglob("*.conf"))
    assert qt_files, "Qt wrote no settings: the dialog was not the one that records folders"
    win.close()
    for path in [*qt_files, Path(settings.fileName())]:
        data = path.read_bytes()
        for fragment in _fragments(study):
            assert fragment not in data, (path.name, fragment)


def test_opt_in_stores_paths_and_opting_out_removes_them(qtbot, settings, tmp_path):
    study = _patient_study(tmp_path)
    win = _new_window(qtbot, settings)
    win.store.add_recent(study)
    win.studies.refresh_recent_menu()
    assert win.actions[ActionId.REMEMBER_RECENT] in win.recent_menu.actions()     # in File ▸ Open Recent
    win.actions[ActionId.REMEMBER_RECENT].trigger()              # ticked: the session's list is stored
    settings.sync()
    assert study.name.encode() in Path(settings.fileName()).read_bytes()
    assert [a.text() for a in win.recent_menu.actions()][0] == f"&1 {study.name}"      # the name, as chosen
    win.actions[ActionId.REMEMBER_RECENT].trigger()              # unticked: removed from the file at once
    settings.sync()
    assert study.name.encode() not in Path(settings.fileName()).read_bytes()
    assert win.store.recent_files() == [str(study.resolve())]    # still there for this session
    win.close()
    for fragment in _fragments(study):
        assert fragment not in Path(settings.fileName()).read_bytes()


def test_paths_left_by_an_older_version_are_removed_at_start(qtbot, settings, tmp_path):
    study = _patient_study(tmp_path)
    settings.setValue("recent_files", [str(study)])               # what versions before issue 14 stored
    settings.sync()
    win = _new_window(qtbot, settings)
    assert win.store.recent_files() == []
    win.close()
    assert study.name.encode() not in Path(settings.fileName()).read_bytes()


def test_failed_loads_in_the_log_name_no_patient(window, qtbot, tmp_path):
    window.session.start_engine()
    bad = tmp_path / "SMITH_ANN_PID999"
    bad.mkdir()
    (bad / "SMITH_ANN.dcm").write_bytes(b"not a dicom file at all")
    missing = tmp_path / "MILLER_BOB_PID555"
    window.studies.open_paths([bad])
    wait_idle(qtbot, window)
    assert "Nothing could be opened from the folder" in window.session.last_error
    window.studies.open_paths([missing])
    wait_idle(qtbot, window)
    assert "does not exist" in window.session.last_error
    log = _log(window)
    assert "Open failed" in log and "Open file failed" in log
    for name in ("SMITH", "ANN", "PID999", "MILLER", "BOB", "PID555"):
        assert name not in log, name
        assert name not in window.session.last_error
        assert name not in window.status.message.text()
    # the files refused are listed by name only in the Studies panel, for the user to act on
    assert window.study_browser.failure_count() == 1
    texts = [a.text() for a in window.recent_menu.actions()]
    assert not any("SMITH" in t or "MILLER" in t for t in texts)


# --------------------------------------------------------------------------- a full or read-only disk
def _fail_writes_after(monkeypatch, n_ok: int, err: int = errno.ENOSPC) -> list[int]:
    """Make the engine's lowest write call fail with ``err`` after ``n_ok`` calls (once; later calls work)."""
    from medadv_desktop.engine import safe_write

    real = safe_write._write_all
    calls = [0]

    def write_all(fd, data):
        calls[0] += 1
        if calls[0] == n_ok + 1:
            raise OSError(err, os.strerror(err))
        return real(fd, data)

    monkeypatch.setattr(safe_write, "_write_all", write_all)
    return calls


def _everything_under(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*"))          # hidden .part files included


def _save_elsewhere(qtbot, win, monkeypatch, folder: Path) -> None:
    """The offer is on screen with one clear message; click "Save Elsewhere…" and pick ``folder``."""
    from medadv_desktop.ui.controllers import export

    dialog = win.exporter.unsaved_dialog
    assert dialog is not None and dialog.isVisible()
    assert "could not be saved" in dialog.text() and "still in memory" in dialog.text()
    monkeypatch.setattr(export.QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(folder)))
    qtbot.mouseClick(dialog.save_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: bool(win.session.pending()) or any(folder.iterdir()), timeout=10_000)
    wait_idle(qtbot, win, 120_000)


def test_attack_export_on_a_full_disk_leaves_nothing_and_saves_elsewhere(window, qtbot, tmp_path, monkeypatch,
                                                                         ct_small, tiny_card):
    from medadv_desktop.ui.controllers import export

    load(qtbot, window, study=ct_small, card=tiny_card)
    window.attack_panel.select_attack("fgsm").set_value("eps", 4 / 255)
    window.attack_panel.set_scope(SCOPE_SLICE)
    entry = run_and_wait(qtbot, window)
    assert isinstance(entry, AttackRun)
    full, other = tmp_path / "full", tmp_path / "other"
    full.mkdir()
    other.mkdir()
    monkeypatch.setattr(export.QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(full)))
    calls = _fail_writes_after(monkeypatch, 1)          # the adversarial DICOM is written, the next file fails
    window.actions[ActionId.EXPORT_REPORT].trigger()
    wait_idle(qtbot, window)
    assert calls[0] >= 2
    assert _everything_under(full) == []                  # no file, no folder, no .part left
    assert "disk is full" in window.exporter.unsaved_dialog.text()
    assert "disk is full" in _log(window) and window.session.current_result is entry     # still in memory
    assert window.actions[ActionId.EXPORT_REPORT].isEnabled()
    _save_elsewhere(qtbot, window, monkeypatch, other)
    [folder] = list(other.iterdir())
    names = sorted(p.name for p in folder.iterdir())
    assert any(n.endswith("_summary.json") for n in names) and any("perturbation" in n for n in names)
    assert not any(n.startswith(".") for n in names)
    assert window.session.internal_errors == []


def _mount_tmpfs(folder: Path, size: str) -> bool:
    """A real small tmpfs at ``folder`` when this user may mount one (root in CI containers); else False."""
    if shutil.which("mount") is None or os.geteuid() != 0:
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                          capture_output=True, timeout=30)
    return done.returncode == 0


def test_evaluation_export_on_full_then_read_only_disk(window, qtbot, tmp_path, monkeypatch, tiny_card):
    from pydicom.data import get_testdata_file

    from medadv_desktop.ui.controllers import export

    data = tmp_path / "data"
    for cls in ("no_finding", "lesion"):
        (data / cls).mkdir(parents=True)
        shutil.copy(get_testdata_file("CT_small.dcm"), data / cls / "CT_small.dcm")
    start_engine_and_model(qtbot, window, tiny_card)
    panel = window.attack_panel
    panel.select_attack("fgsm")
    panel.set_ticked_attacks(["fgsm"])               # Custom: FGSM only (the default is the standard suite)
    panel.set_scope(SCOPE_DATASET)
    panel.dataset_edit.setText(str(data))
    panel.eps_grid.setText("4/255")
    entry = run_and_wait(qtbot, window)
    assert isinstance(entry, EvaluationEntry)
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = _mount_tmpfs(disk, "24k")              # room for the JSON and CSVs, not for the PDF
    try:
        monkeypatch.setattr(export.QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(disk)))
        if not mounted:
            _fail_writes_after(monkeypatch, 3)       # the same failure, injected at the fourth file
        removed: list[list[Path]] = []
        real_remove = export.remove_new_outputs
        monkeypatch.setattr(export, "remove_new_outputs", lambda files, folders: (removed.append(list(files)),
                                                                                 real_remove(files, folders)))
        window.actions[ActionId.EXPORT_REPORT].trigger()
        wait_idle(qtbot, window, 120_000)
        assert _everything_under(disk) == []          # the JSON and CSVs already written were removed again
        assert [p.suffix for p in removed[0]] == [".json", ".csv", ".csv"], removed
        assert "disk is full" in window.exporter.unsaved_dialog.text()
        # the same disk read-only
        if mounted:
            subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True, timeout=30)
        else:
            _fail_writes_after(monkeypatch, 0, errno.EROFS)
        window.actions[ActionId.EXPORT_REPORT].trigger()
        wait_idle(qtbot, window, 120_000)
        assert _everything_under(disk) == []
        assert "read-only" in window.exporter.unsaved_dialog.text()
        assert window.session.current_result is entry and window.session.results.count(entry) == 1
        # the user picks another folder: everything is written there
        other = tmp_path / "other"
        other.mkdir()
        _save_elsewhere(qtbot, window, monkeypatch, other)
        assert sorted(p.suffix for p in other.iterdir()) == [".csv", ".csv", ".json", ".pdf"]
    finally:
        if mounted:
            subprocess.run(["umount", str(disk)], timeout=30)
    assert window.session.internal_errors == []


def test_training_table_on_a_full_disk_is_shown_and_saved_elsewhere(window, qtbot, tmp_path, monkeypatch,
                                                                     tiny_card, demo_data):
    """The re-test finished but its table cannot be written in the output folder (the disk filled up):
    the table is shown, kept in the session, and offered for another folder."""
    from medadv_desktop.engine.results.before_after import BeforeAfterResult
    from medadv_desktop.engine.safe_write import write_error
    from medadv_desktop.ui.session import BeforeAfterEntry

    out = tmp_path / "hardened"
    real_save_table = BeforeAfterResult.save_table

    def save_table(self, path, **kwargs):
        if Path(path).parent == out:                  # the training output folder's disk is full now
            raise write_error(path, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
        return real_save_table(self, path, **kwargs)

    monkeypatch.setattr(BeforeAfterResult, "save_table", save_table)
    start_engine_and_model(qtbot, window, tiny_card)
    window.show_training()
    panel, controller = window.training_panel, window.training
    panel.data_edit.setText(str(demo_data))
    panel.out_edit.setText(str(out))
    panel.set_method("fgsm")
    panel.eps.set_value(8 / 255)
    panel.epochs.setValue(1)
    panel.batch_size.setValue(16)
    panel.val_split.setValue(0.25)
    panel.val_pgd_steps.setValue(1)
    panel.select_attacks(["fgsm"])
    panel.eps_grid.setText("4/255")
    with qtbot.waitSignal(controller.sig_run_finished, timeout=300_000):
        panel.request_start()
    wait_idle(qtbot, window)
    entry = window.session.current_result
    assert isinstance(entry, BeforeAfterEntry) and entry.table is controller.before_after
    assert not (out / "before_after.json").exists()
    assert "could not be saved in the output folder" in panel.status.text()
    other = tmp_path / "elsewhere"
    other.mkdir()
    _save_elsewhere(qtbot, window, monkeypatch, other)
    names = sorted(p.name for p in other.iterdir())
    assert any(n.endswith("-before_after.json") for n in names) and any(n.endswith(".pdf") for n in names)
    assert window.session.internal_errors == []


# --------------------------------------------------------------------------- a FIFO in a study folder
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are a POSIX feature")
def test_fifo_in_a_study_folder_never_hangs_the_worker(window, qtbot, tmp_path, ct_small, caplog):
    folder = tmp_path / "series"
    folder.mkdir()
    shutil.copy(ct_small, folder / "a.dcm")
    os.mkfifo(folder / "b.dcm")                       # opening it for reading would block for ever
    window.session.start_engine()
    # loading the folder finishes: the good file opens, the FIFO is listed with its reason
    window.studies.open_paths([folder])
    wait_idle(qtbot, window)
    assert len(window.session.studies) == 1 and window.session.study.modality == "CT"
    failures = window.study_browser.failures
    assert failures.topLevelItemCount() == 1
    assert failures.topLevelItem(0).text(0) == "b.dcm" and "named pipe" in failures.topLevelItem(0).text(1)
    assert "1 file(s) not loaded" in _log(window)
    # Cancel returns: a second load cancelled from the Jobs panel's button ends, and the queue empties
    window.studies.open_paths([folder])
    window.studies.open_paths([folder])
    qtbot.waitUntil(lambda: window.jobs_panel.cancel_button.isEnabled(), timeout=10_000)
    qtbot.mouseClick(window.jobs_panel.cancel_button, Qt.LeftButton)
    wait_idle(qtbot, window)
    assert "cancel requested" in _log(window)
    assert not window.session.long_job_running
    # a later job runs
    before = len(window.session.studies)
    window.studies.open_paths([ct_small])
    wait_idle(qtbot, window)
    assert len(window.session.studies) == before + 1
    # closing the window stops the worker thread (no "did not stop")
    with caplog.at_level("WARNING", logger="medadv_desktop.ui.worker"):
        window.close()
    assert window.session.worker.thread.isFinished()
    assert "did not stop" not in caplog.text


def test_training_on_a_read_only_disk_says_what_is_kept(window, qtbot, tmp_path, monkeypatch, tiny_card,
                                                        demo_data):
    """The first checkpoint cannot be written: one clear message that says what was kept and what to do;
    no file (and no temporary file) in the output folder; the application keeps working."""
    out = tmp_path / "hardened"
    start_engine_and_model(qtbot, window, tiny_card)
    window.show_training()
    panel, controller = window.training_panel, window.training
    panel.data_edit.setText(str(demo_data))
    panel.out_edit.setText(str(out))
    panel.set_method("fgsm")
    panel.epochs.setValue(1)
    panel.batch_size.setValue(16)
    panel.val_pgd_steps.setValue(1)
    panel.select_attacks(["fgsm"])
    _fail_writes_after(monkeypatch, 0, errno.EROFS)
    with qtbot.waitSignal(controller.sig_run_finished, timeout=300_000) as fin:
        panel.request_start()
    assert fin.args[0] == "failed"
    wait_idle(qtbot, window)
    text = panel.error.text()
    assert "read-only" in text and "another output folder" in text and "still in memory" not in text
    assert not out.exists() or [p for p in out.rglob("*") if p.is_file()] == []
    assert panel.start_button.isEnabled() and window.session.internal_errors == []
    monkeypatch.undo()

    # the disk fills up at the second epoch's checkpoint: the first is complete, kept, and offered for resume
    from medadv_desktop.engine import safe_write

    real_write_temp = safe_write._write_temp

    def write_temp(path, data):
        if "epoch-002" in Path(path).name:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write_temp(path, data)

    monkeypatch.setattr(safe_write, "_write_temp", lambda path, data: _as_write_error(write_temp, path, data))
    out2 = tmp_path / "hardened-2"
    panel.out_edit.setText(str(out2))
    panel.epochs.setValue(2)
    with qtbot.waitSignal(controller.sig_run_finished, timeout=300_000) as fin:
        panel.request_start()
    assert fin.args[0] == "failed"
    wait_idle(qtbot, window)
    text = panel.error.text()
    assert "disk is full" in text and "checkpoint of epoch 1 is complete" in text and "resume" in text, text
    names = sorted(p.name for p in out2.rglob("*") if p.is_file())
    assert any("epoch-001" in n for n in names) and not any("epoch-002" in n or n.endswith(".part") for n in names)


def _as_write_error(write, path, data):
    from medadv_desktop.engine.safe_write import write_error

    try:
        return write(path, data)
    except OSError as exc:
        raise write_error(path, exc) from None


def test_export_never_into_the_study_and_never_stores_its_folder(window, qtbot, tmp_path, monkeypatch,
                                                                  demo_study, tiny_card):
    """An export folder inside the attacked series folder is refused (as ``attack --out`` is), nothing is
    written there; an export folder beside a study is used but not stored in the settings file."""
    from medadv_desktop.ui.controllers import export
    from medadv_desktop.ui.settings import KEY_EXPORT_DIR

    series = tmp_path / "DOE_JANE_series"
    shutil.copytree(demo_study, series)
    before = sorted(p.name for p in series.rglob("*"))
    load(qtbot, window, study=series, card=tiny_card)
    window.attack_panel.select_attack("fgsm").set_value("eps", 4 / 255)
    window.attack_panel.set_scope(SCOPE_SLICE)
    assert isinstance(run_and_wait(qtbot, window), AttackRun)
    inside = series / "exports"
    inside.mkdir()
    monkeypatch.setattr(export.QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(inside)))
    window.actions[ActionId.EXPORT_REPORT].trigger()
    wait_idle(qtbot, window)
    assert "inside the input folder '…'" in window.session.last_error
    assert "DOE" not in window.session.last_error and "DOE" not in _log(window)
    assert list(inside.iterdir()) == []
    assert sorted(p.name for p in series.rglob("*")) == sorted([*before, "exports"])
    assert window.store.text(KEY_EXPORT_DIR) == ""               # the study's folder was not stored
    beside = tmp_path / "exports"
    beside.mkdir()
    monkeypatch.setattr(export.QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(beside)))
    window.actions[ActionId.EXPORT_REPORT].trigger()
    wait_idle(qtbot, window)
    assert len(list(beside.iterdir())) == 1 and window.store.text(KEY_EXPORT_DIR) == str(beside)
