"""Issue 13, GUI side: radiology conventions and the truthful perturbation display, with real events.

Real inputs: pydicom's CT_small.dcm through engine.io, a real FGSM run by the
window on the real tiny timm model; keys and mouse drags are real Qt events.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from medadv_desktop.engine.io import open_path
from medadv_desktop.ui.actions import ActionId
from medadv_desktop.ui.attack_info import SCOPE_SLICE
from medadv_desktop.ui.widgets.viewer import ADVERSARIAL, DIFFERENCE, ORIGINAL, SIDE_BY_SIDE, ViewerWidget
from tests.ui.conftest import load, run_and_wait


@pytest.fixture
def ct_study(ct_small):
    report = open_path(ct_small)
    assert report.studies, report.failures
    return report.studies[0]


@pytest.fixture
def viewer(qtbot, ct_study):
    v = ViewerWidget()
    qtbot.addWidget(v)
    v.resize(1000, 600)
    v.show()
    qtbot.waitExposed(v)
    v.set_study(ct_study)
    return v


def right_drag(qtbot, panel, dx: int, dy: int) -> None:
    """A real right-button drag over the panel's viewport (press, moves with the button held, release)."""
    viewport = panel.viewport()
    start = QPoint(viewport.width() // 2, viewport.height() // 2)
    steps = 8

    def send(kind, pos, buttons):
        p = QPointF(pos)
        event = QMouseEvent(kind, p, viewport.mapToGlobal(p), Qt.RightButton, buttons, Qt.NoModifier)
        QApplication.sendEvent(viewport, event)

    qtbot.wait(QApplication.doubleClickInterval() + 50)     # two drags in a row are not a double click
    send(QEvent.MouseButtonPress, start, Qt.RightButton)
    for k in range(1, steps + 1):
        send(QEvent.MouseMove, start + QPoint(dx * k // steps, dy * k // steps), Qt.RightButton)
    send(QEvent.MouseButtonRelease, start + QPoint(dx, dy), Qt.NoButton)


def click_image(qtbot, viewer) -> None:
    """A left click on the image gives the viewer the keyboard (the panels pass focus to it)."""
    viewer.window().activateWindow()
    qtbot.waitUntil(viewer.window().isActiveWindow, timeout=5000)
    viewport = viewer.panels[0].viewport()
    qtbot.mouseClick(viewport, Qt.LeftButton, pos=QPoint(viewport.width() // 2, viewport.height() // 2))
    assert viewer.hasFocus()


def test_wl_combo_says_width_then_level_and_custom_after_a_drag(viewer, qtbot, ct_study):
    combo = viewer.preset_combo
    texts = [combo.itemText(i) for i in range(combo.count())]
    assert texts == [f"{p.name} (W {p.width:g} / L {p.center:g})" for p in ct_study.presets]
    assert "Brain (W 80 / L 40)" in texts
    assert combo.currentText() == texts[0] and not combo.is_custom
    width, level = viewer.width, viewer.center
    assert viewer.window_label.text() == f"W {width:g} / L {level:g} HU"
    # OHIF / Cornerstone direction: drag right = wider, drag down = higher level
    right_drag(qtbot, viewer.panels[0], 60, 0)
    assert viewer.width > width and viewer.center == pytest.approx(level)
    right_drag(qtbot, viewer.panels[0], 0, 40)
    assert viewer.center > level
    assert combo.is_custom and combo.currentText() == "Custom"
    assert viewer.window_label.text() == f"W {round(viewer.width):g} / L {round(viewer.center):g} HU"
    raised = viewer.center
    right_drag(qtbot, viewer.panels[0], 0, -80)        # up = lower level
    assert viewer.center < raised
    # picking a preset leaves "Custom"
    combo.activated.emit(1)
    assert (viewer.center, viewer.width) == (ct_study.presets[1].center, ct_study.presets[1].width)
    assert not combo.is_custom and combo.count() == len(ct_study.presets)


def test_digits_pick_presets_and_keys_move_slices(qtbot, ct_study):
    vol = replace(ct_study, pixels=np.stack([ct_study.pixels[0] + k for k in range(5)]), default_slice=None)
    v = ViewerWidget()
    qtbot.addWidget(v)
    v.resize(800, 500)
    v.show()
    qtbot.waitExposed(v)
    v.set_study(vol)
    click_image(qtbot, v)
    for number, preset in enumerate(ct_study.presets, start=1):
        qtbot.keyClick(v, getattr(Qt, f"Key_{number}"))
        assert (v.center, v.width) == (preset.center, preset.width)
        assert v.preset_combo.currentIndex() == number - 1
    qtbot.keyClick(v, Qt.Key_9)                                   # no 9th preset: nothing changes
    assert (v.center, v.width) == (ct_study.presets[-1].center, ct_study.presets[-1].width)
    assert v.current == 2
    qtbot.keyClick(v, Qt.Key_Down)
    assert v.current == 3
    qtbot.keyClick(v, Qt.Key_Up)
    qtbot.keyClick(v, Qt.Key_Up)
    assert v.current == 1
    qtbot.keyClick(v, Qt.Key_End)
    assert v.current == 4 and v.slice_slider.value() == 4
    np.testing.assert_array_equal(v.panels[0].data, vol.pixels[4])
    qtbot.keyClick(v, Qt.Key_Home)
    assert v.current == 0
    qtbot.keyClick(v, Qt.Key_PageDown)
    assert v.current == 1


def test_linf_default_view_and_flicker(viewer, qtbot, ct_study):
    """An L-inf perturbation (every pixel +-eps): side by side at the clinical window, no overlay; the opt-in
    overlay refuses the uniform wash and says why; the signed panel is symmetric and diverging; flicker."""
    clean = ct_study.pixels[0].astype(np.float32)
    rng = np.random.default_rng(0)
    eps = 12.5
    adv = clean + eps * rng.choice([-1.0, 1.0], size=clean.shape).astype(np.float32)
    viewer.set_window(40, 400)
    viewer.set_adversarial({0: adv})
    assert viewer.mode == SIDE_BY_SIDE
    original, adversarial, difference = viewer.panels
    assert [p.kind for p in viewer.panels] == [ORIGINAL, ADVERSARIAL, DIFFERENCE]
    np.testing.assert_array_equal(adversarial.data, adv)                  # the adversarial image itself
    assert tuple(adversarial.image.levels) == pytest.approx((-160, 240))
    assert tuple(original.image.levels) == pytest.approx((-160, 240))
    assert adversarial.image.lut is None                                  # grey, like the original
    assert not any(p.overlay.isVisible() for p in viewer.panels)
    low, high = difference.image.levels
    assert low == pytest.approx(-high) and high == pytest.approx(eps)
    lut = difference.image.lut
    assert lut is not None and not np.array_equal(lut[0], lut[-1])        # diverging: ends differ
    assert difference.colorbar_visible and "HU" in difference.colorbar.axis.labelText
    # the overlay is opt-in, and for a uniform |delta| it draws nothing and says why
    viewer.heatmap_check.setChecked(True)
    assert not any(p.overlay.isVisible() for p in viewer.panels)
    assert viewer.overlay_info.kind == "none" and "L∞" in adversarial.title.text
    assert "uniform wash" in adversarial.toolTip()
    # flicker: one panel alternates original / adversarial at the same window
    assert viewer.flicker_button.isEnabled()
    click_image(qtbot, viewer)
    qtbot.keyClick(viewer, Qt.Key_Space)
    assert viewer.flickering and viewer.panels[1].isHidden() and viewer.panels[2].isHidden()
    first = original.data.copy()
    viewer.flicker_button.step()
    second = original.data.copy()
    assert {first.tobytes(), second.tobytes()} == {clean.tobytes(), adv.tobytes()}
    assert tuple(original.image.levels) == pytest.approx((-160, 240))
    assert original.title.text.startswith("Flicker: ")
    qtbot.waitUntil(lambda: not np.array_equal(original.data, second), timeout=5000)   # the timer flips it
    qtbot.keyClick(viewer, Qt.Key_Space)
    assert not viewer.flickering and viewer.mode == SIDE_BY_SIDE and not viewer.panels[2].isHidden()


def test_corner_overlay_is_de_identified(viewer, ct_study):
    viewer.set_window(40, 400)
    corners = viewer.panels[0].corners
    texts = [corners.text(c) for c in ("top_left", "top_right", "bottom_left", "bottom_right")]
    assert texts[0].startswith("CT")
    assert ct_study.pseudonym in texts[1]
    assert texts[2].startswith("Slice 1/1")
    assert texts[3].startswith("W 400 / L 40 HU") and "Zoom" in texts[3]
    for text in texts:           # no patient name or ID from the header
        assert "CompressedSamples" not in text and "CT1" not in text
    assert viewer.panels[0].corners.labels["top_left"].isVisible()


def test_cursor_shows_patient_coordinates(viewer, ct_study, qtbot):
    if getattr(ct_study, "patient_position", None) is None:
        pytest.skip("the engine's patient geometry is not on this branch yet")
    panel = viewer.panels[0]
    row, col = 20, 30
    sx, sy = viewer._scale[1], viewer._scale[0]
    scene = panel.view.mapViewToScene(QPointF((col + 0.5) * sx, (row + 0.5) * sy))
    with qtbot.waitSignal(viewer.sig_cursor_text, timeout=1000) as sig:
        viewer._on_mouse_moved(panel, scene)
    x, y, z = ct_study.patient_position(0, row, col)
    assert f"LPS ({x:.1f}, {y:.1f}, {z:.1f}) mm" in sig.args[0]
    position = ct_study.slice_position(0)
    assert f"pos {position:.1f} mm" in viewer.panels[0].corners.text("bottom_left")


def test_fgsm_in_the_window_default_view_and_help(window, qtbot, ct_small, tiny_card):
    """A real L-inf FGSM run from the window: the adversarial panel is the windowed adversarial image, no
    overlay; Help > Keyboard Shortcuts lists the viewer's keys; digits no longer switch view modes."""
    load(qtbot, window, study=ct_small, card=tiny_card)
    form = window.attack_panel.select_attack("fgsm")
    form.set_value("eps", 8 / 255)
    window.attack_panel.set_scope(SCOPE_SLICE)
    entry = run_and_wait(qtbot, window)
    [(_index, outcome)] = entry.outcomes
    viewer = window.viewer
    assert viewer.mode == SIDE_BY_SIDE
    np.testing.assert_array_equal(viewer.panels[1].data, outcome.result.adv_native[0])
    assert tuple(viewer.panels[1].image.levels) == pytest.approx(tuple(viewer.panels[0].image.levels))
    assert not any(p.overlay.isVisible() for p in viewer.panels)
    low, high = viewer.panels[2].image.levels
    assert low == pytest.approx(-high) and 0 < high <= 8 / 255 * 400 + 1e-3
    assert window.actions[ActionId.VIEW_ORIGINAL].shortcut().toString() == "Ctrl+1"
    window.actions[ActionId.SHORTCUTS].trigger()
    dialog = window.shortcuts_dialog
    qtbot.waitExposed(dialog)
    keys = {dialog.table.item(r, 0).text() for r in range(dialog.table.rowCount())}
    assert {"Home / End", "1 – 9", "Ctrl+1", "F1"} <= keys
    dialog.close()


def test_demo_opens_on_a_slice_with_a_finding(window, qtbot):
    load(qtbot, window, demo=True)
    study = window.session.study
    assert study.default_slice is not None and "lesion" in study.default_slice_reason
    assert window.session.current_slice == study.default_slice == window.viewer.current
    assert window.viewer.slice_label.text().startswith(f"Slice {study.default_slice + 1} /")
    corners = window.viewer.panels[0].corners
    assert "SYNTHETIC" in corners.text("top_right")


def test_ellipse_roi_and_ruler_against_numpy_and_the_pixel_spacing(viewer, qtbot, ct_study):
    from medadv_desktop.engine.measurements import roi_mask

    dr, dc = ct_study.pixel_spacing
    qtbot.mouseClick(viewer.measure_buttons["ellipse"], Qt.LeftButton)
    qtbot.mouseClick(viewer.measure_buttons["ruler"], Qt.LeftButton)
    measure = viewer.measure
    assert measure.ellipse is not None and measure.ruler is not None
    # move the ellipse to 10.3-40.3 columns x 20.2-36.2 rows (view units are mm)
    measure.ellipse.setPos((10.3 * dc, 20.2 * dr))
    measure.ellipse.setSize((30 * dc, 16 * dr))
    stats = measure.results["ellipse"]
    rows, cols = np.mgrid[0:ct_study.shape2d[0], 0:ct_study.shape2d[1]] + 0.5
    inside = ((rows - 28.2) / 8) ** 2 + ((cols - 25.3) / 15) ** 2 <= 1
    assert np.array_equal(roi_mask(ct_study.shape2d, measure.ellipse_roi()), inside)
    values = ct_study.pixels[0][inside].astype(np.float64)
    assert stats.pixel_count == inside.sum()
    assert stats.mean == pytest.approx(values.mean()) and stats.sd == pytest.approx(values.std())
    assert stats.min == values.min() and stats.max == values.max() and stats.units == "HU"
    assert stats.area_mm2 == pytest.approx(np.pi * 15 * 8 * dr * dc)
    assert f"mean {values.mean():.1f} HU" in measure.labels["ellipse"].toPlainText()
    # ruler: 30 columns and 40 rows apart -> hypot(30 dc, 40 dr) mm
    measure.ruler.movePoint(0, (5 * dc, 5 * dr))
    measure.ruler.movePoint(1, (35 * dc, 45 * dr))
    length = measure.results["ruler"]
    assert length.units == "mm" and length.length_px == pytest.approx(50)
    assert length.length == pytest.approx(np.hypot(30 * dc, 40 * dr))
    assert measure.labels["ruler"].toPlainText() == f"{length.length:.1f} mm"
    # off again
    qtbot.mouseClick(viewer.measure_buttons["ruler"], Qt.LeftButton)
    assert measure.ruler is None and "ruler" not in measure.labels


def test_study_list_shows_description_modality_and_year_only(ct_small, ct_study):
    import pydicom

    from medadv_desktop.ui.widgets.study_browser import study_lines

    header = pydicom.dcmread(ct_small, stop_before_pixels=True)
    name, details = study_lines(ct_study, 0)
    assert name == ct_study.pseudonym
    assert details.startswith("CT · ") and str(header.StudyDate)[:4] in details
    assert str(header.StudyDate) not in details and str(header.PatientName) not in name + details


def test_4d_nifti_volume_control_changes_the_displayed_volume(window, qtbot, tmp_path):
    import nibabel as nib

    rng = np.random.default_rng(1)
    base = rng.normal(100, 10, size=(24, 20, 5)).astype(np.float32)
    data = np.stack([base + 1000 * k for k in range(3)], axis=-1)           # x, y, z, t
    image = nib.Nifti1Image(data, np.diag([2.0, 2.0, 3.0, 1.0]))
    image.header.set_xyzt_units("mm", "sec")
    image.header["pixdim"][4] = 2.5
    path = tmp_path / "fmri_like.nii.gz"
    nib.save(image, path)
    window.studies.open_paths([path])
    qtbot.waitUntil(lambda: window.session.study is not None, timeout=60_000)
    viewer, spin = window.viewer, window.viewer.volume_spin
    study = window.session.study
    assert study.n_volumes == 3 and spin.isVisibleTo(viewer) and spin.value() == 1 and spin.maximum() == 3
    assert "time" in spin.toolTip()
    viewer.set_slice(2)
    before = viewer.panels[0].data.copy()
    spin.setFocus()
    qtbot.keyClick(spin, Qt.Key_Up)
    qtbot.waitUntil(lambda: window.session.study.volume_index == 1, timeout=10_000)
    after = viewer.panels[0].data
    np.testing.assert_allclose(after - before, 1000, rtol=0, atol=1e-3)
    assert viewer.current == 2 and window.session.current_slice == 2            # same slice, next volume
    assert "Volume 2/3" in viewer.panels[0].corners.text("bottom_left")
    np.testing.assert_array_equal(after, window.session.study.pixels[2])
