"""Issue 13, the GUI's modality guard: a CT model on an MR study warns, visibly and without a dialog,
before the run (Attack dock), while it runs (the workflow's warning events: status bar) and with the
result (Results dock); a CT NIfTI gets HU and the CT presets in the viewer.

Real parts: pydicom's MR_small.dcm, the bundled demo CT model, a CT NIfTI written from pydicom-data's
693_UNCR.dcm (HU), real clicks on Run.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
from pydicom.data import get_testdata_file
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox

from medadv_desktop.engine.results.modality import MODALITY_MISMATCH, UNITS_MISMATCH
from medadv_desktop.ui.attack_info import SCOPE_DATASET, SCOPE_SLICE
from medadv_desktop.ui.session import AttackRun
from tests.ui.conftest import load, run_and_wait


def _demo_card() -> Path:
    from medadv_desktop.paths import demo_model_card

    return demo_model_card()


def test_ct_model_on_mr_study_warns_before_during_and_with_the_result(window, qtbot, tmp_path):
    mr = Path(get_testdata_file("MR_small.dcm"))
    load(qtbot, window, study=mr, card=_demo_card())
    s = window.session
    assert s.card.modality == "CT" and s.study.modality == "MR"
    guard = window.attacks.guard
    panel = window.attack_panel
    # before the run: visible in the Attack dock, names both modalities; Run stays possible (a warning, not a block)
    panel.set_scope(SCOPE_SLICE)
    assert guard.isVisible()
    assert "Modality mismatch" in guard.text() and "CT" in guard.text() and "MR" in guard.text()
    assert window.attacks.can_run
    # a data set scope cannot be checked before the run: the banner goes, the run checks it
    panel.set_scope(SCOPE_DATASET)
    assert not guard.isVisible()
    panel.set_scope(SCOPE_SLICE)
    assert guard.isVisible()

    seen: list[str] = []
    s.message.connect(seen.append)
    form = panel.select_attack("fgsm")
    form.set_value("eps", 2 / 255)
    entry = run_and_wait(qtbot, window)
    assert isinstance(entry, AttackRun)
    [(_index, outcome)] = entry.outcomes
    kept = outcome.result.warnings
    [warning] = [w for w in kept if w.code == MODALITY_MISMATCH]
    assert (warning.expected, warning.found) == ("CT", "MR")
    assert any(w.code == UNITS_MISMATCH for w in kept)          # the HU window on an MR's arbitrary units
    # during/after the run: the status bar got the guard's line, nothing modal was opened
    assert any("Modality mismatch" in m for m in seen) or any("modality warning" in m for m in seen)
    assert not any(isinstance(w, QMessageBox) and w.isVisible() for w in QApplication.topLevelWidgets())
    assert guard.isVisible() and warning.message in guard.messages
    # kept with the result in the Results dock
    window.results_panel.setCurrentIndex(0)
    banner = window.results.guard_banners[0]
    assert banner.isVisible() and banner.messages == [w.message for w in kept]

    window.resize(1600, 1000)
    qtbot.waitUntil(lambda: window.width() == 1600, timeout=5000)
    QApplication.processEvents()
    shot = tmp_path / "mr_with_ct_demo_model_guard.png"
    assert window.grab().save(str(shot))
    out = os.environ.get("MEDADV_SCREENSHOT_DIR")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(out) / shot.name)


def test_matching_ct_study_shows_no_guard(window, qtbot):
    from medadv_desktop.paths import resources_dir

    load(qtbot, window, study=resources_dir() / "demo_study", card=_demo_card())
    window.attack_panel.set_scope(SCOPE_SLICE)
    assert window.attacks.guard_warnings() == [] and not window.attacks.guard.isVisible()


def test_ct_nifti_gets_hu_and_ct_presets_in_the_viewer(window, qtbot, tmp_path):
    hu = _ct_slice()
    vol = np.stack([hu, hu, hu], axis=-1).transpose(1, 0, 2)[:, ::-1].astype(np.int16)
    path = tmp_path / "ct.nii.gz"
    nib.save(nib.Nifti1Image(vol, np.diag([0.7, 0.7, 2.0, 1.0])), path)
    window.session.start_engine()
    window.studies.open_paths([path])
    qtbot.waitUntil(lambda: window.session.study is not None, timeout=60_000)
    study = window.session.study
    assert study.modality == "CT" and study.units == "HU"
    combo = window.viewer.preset_combo
    names = [combo.itemText(i) for i in range(combo.count())]
    assert names == [f"{p.name} (W {p.width:g} / L {p.center:g})" for p in study.presets]
    assert any(n.startswith(("Brain", "Soft tissue", "Lung", "Bone")) for n in names)
    # the viewer's window is in HU: a CT preset picked by its digit sets it
    qtbot.keyClick(window.viewer, "1")
    first = study.presets[0]
    assert (window.viewer.center, window.viewer.width) == (first.center, first.width)


def _ct_slice() -> np.ndarray:
    """One real CT slice in HU (pydicom-data 693_UNCR.dcm), as h-engine's modality tests use it."""
    from medadv_desktop.engine.io import open_study
    from tests.engine.io.conftest import pydicom_file

    study = open_study(pydicom_file("693_UNCR.dcm"))
    assert study.units == "HU"
    return study.pixels[0]


def test_evaluation_on_an_mr_data_set_keeps_the_guard_with_its_result(window, qtbot, tmp_path):
    from medadv_desktop.ui.session import EvaluationEntry
    from tests.ui.conftest import start_engine_and_model

    mr = Path(get_testdata_file("MR_small.dcm"))
    for cls in ("no_finding", "lesion"):
        (tmp_path / "mr" / cls).mkdir(parents=True)
        shutil.copy(mr, tmp_path / "mr" / cls / "a.dcm")
    start_engine_and_model(qtbot, window, _demo_card())
    panel = window.attack_panel
    panel.set_scope(SCOPE_DATASET)
    panel.dataset_edit.setText(str(tmp_path / "mr"))
    panel.eps_grid.setText("2/255")
    for row in range(panel.attack_list.count()):
        item = panel.attack_list.item(row)
        item.setCheckState(Qt.Checked if item.text() == "FGSM" else Qt.Unchecked)
    assert not window.attacks.guard.isVisible()          # a folder is checked by the run
    said: list[str] = []
    window.session.message.connect(said.append)
    entry = run_and_wait(qtbot, window)
    assert isinstance(entry, EvaluationEntry)
    # before any attack step, the status bar said at most how long the evaluation takes
    assert any(m.startswith("Evaluation: at most ") and " for 2 samples x 1 eps with " in m and "fgsm" in m
               for m in said), said
    codes = {w.code for w in entry.result.warnings}
    assert MODALITY_MISMATCH in codes
    assert window.attacks.guard.isVisible()
    banner = window.results.guard_banners[1]               # the Summary page an evaluation opens on
    assert banner.isVisible() and banner.messages == [w.message for w in entry.result.warnings]
