"""Viewer on a real CT (pydicom's CT_small.dcm, read through engine.io.open_path)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF

from medadv_desktop.engine.io import open_path
from medadv_desktop.ui.widgets.tag_browser import PHI_HIDDEN, TagBrowser
from medadv_desktop.ui.widgets.viewer import ADVERSARIAL, DIFFERENCE, ORIGINAL, SIDE_BY_SIDE, ViewerWidget


@pytest.fixture
def ct_study(ct_small):
    report = open_path(ct_small)
    assert report.studies, report.failures
    return report.studies[0]


@pytest.fixture
def viewer(qtbot, ct_study):
    v = ViewerWidget()
    qtbot.addWidget(v)
    v.resize(900, 500)
    v.show()
    qtbot.waitExposed(v)
    v.set_study(ct_study)
    return v


def test_shows_native_units_with_window_presets(viewer, ct_study):
    panel = viewer.panels[0]
    np.testing.assert_array_equal(panel.data, ct_study.pixels[0])
    assert ct_study.units == "HU"
    assert viewer.preset_combo.count() == max(1, len(ct_study.presets))
    viewer.set_window(40, 400)
    assert panel.image.levels[0] == pytest.approx(-160) and panel.image.levels[1] == pytest.approx(240)
    low, high = viewer.histogram.getLevels()
    assert (low, high) == pytest.approx((-160, 240))
    # right-drag (OHIF direction): right widens the window, down raises the level
    viewer._on_window_drag(50, 0)
    assert viewer.width > 400
    centre = viewer.center
    viewer._on_window_drag(0, 20)
    assert viewer.center > centre


def test_pixel_value_under_cursor_in_hu(viewer, ct_study, qtbot):
    panel = viewer.panels[0]
    rows, cols = ct_study.shape2d
    row, col = rows // 2, cols // 3
    sx, sy = viewer._scale[1], viewer._scale[0]
    scene = panel.view.mapViewToScene(QPointF((col + 0.5) * sx, (row + 0.5) * sy))
    with qtbot.waitSignal(viewer.sig_cursor_text, timeout=1000) as sig:
        viewer._on_mouse_moved(panel, scene)
    expected = f"{float(ct_study.pixels[0, row, col]):.1f} HU"
    assert expected in sig.args[0] and f"x {col}" in sig.args[0]


def test_adversarial_views_heatmap_and_linked_panels(viewer, ct_study):
    clean = ct_study.pixels[0].astype(np.float32)
    adv = clean.copy()
    adv[10:20, 30:40] += 7.5
    viewer.set_adversarial({0: adv})
    assert viewer.mode == SIDE_BY_SIDE and not viewer.heatmap_check.isChecked()   # issue 13: overlay opt-in
    assert not any(p.overlay.isVisible() for p in viewer.panels)
    viewer.heatmap_check.setChecked(True)
    heat = viewer.heatmap_array()
    assert heat[15, 35] == pytest.approx(7.5) and heat[0, 0] == 0
    assert viewer.panels[1].overlay.isVisible() and not viewer.panels[0].overlay.isVisible()
    np.testing.assert_allclose(viewer.panels[1].overlay.image, heat)
    assert [p.kind for p in viewer.panels] == [ORIGINAL, ADVERSARIAL, DIFFERENCE]
    np.testing.assert_allclose(viewer.panels[2].data, adv - clean)
    assert viewer.heat_bar.levels() == pytest.approx((0, 7.5))
    # linked pan/zoom
    viewer.panels[0].view.setRange(xRange=(5, 25), yRange=(5, 25), padding=0)
    for panel in viewer.panels[1:]:     # same centre (aspect locking may pad the other axis)
        (x0, x1), (y0, y1) = panel.view.viewRange()
        assert (x0 + x1) / 2 == pytest.approx(15, abs=0.5) and (y0 + y1) / 2 == pytest.approx(15, abs=0.5)
        assert x1 - x0 < 40
    viewer.set_heatmap_opacity(0.25)
    assert viewer.panels[0].overlay.opacity() == pytest.approx(0.25)
    viewer.set_mode(ORIGINAL)                       # a single view overlays the heatmap on what it shows
    assert viewer.panels[0].overlay.isVisible()
    np.testing.assert_allclose(viewer.panels[0].overlay.image, heat)
    viewer.set_mode(DIFFERENCE)
    assert viewer.panels[0].kind == DIFFERENCE and viewer.panels[1].isHidden()
    assert_difference_coloured(viewer.panels[0], 7.5)
    viewer.clear_adversarial()
    assert viewer.mode == ORIGINAL and viewer.heatmap_array() is None


def assert_difference_coloured(panel, vmax: float | None = None) -> None:
    """A difference panel shows a diverging colour map (its own look-up table) and a visible colour bar."""
    assert panel.kind == DIFFERENCE and not panel.isHidden()
    lut = panel.image.lut
    assert lut is not None and np.asarray(lut).shape[0] == 256
    colours = np.asarray(lut)[:, :3].astype(int)
    assert colours[0, 2] > colours[0, 0] and colours[-1, 0] > colours[-1, 2]      # blue below 0, red above
    assert panel.colorbar_visible
    low, high = panel.image.levels
    assert low == pytest.approx(-high) and high > 0                               # centred at 0
    if vmax is not None:
        assert high == pytest.approx(vmax)
    assert panel.colorbar.levels() == pytest.approx((low, high))


def test_difference_view_always_coloured(viewer, ct_study):
    """Issue 12 item 2: single and side by side, with and without an attack, after another study."""
    clean = ct_study.pixels[0].astype(np.float32)
    adv = clean.copy()
    adv[5:9, 5:9] -= 4.0
    viewer.set_mode(DIFFERENCE)
    assert_difference_coloured(viewer.panels[0])                   # no attack yet: a zero map, still coloured
    assert "no attack" in viewer.panels[0].title.text
    viewer.set_adversarial({0: adv}, show=False)
    assert_difference_coloured(viewer.panels[0], 4.0)
    viewer.set_mode(SIDE_BY_SIDE)
    assert_difference_coloured(viewer.panels[2], 4.0)
    viewer.set_study(ct_study)                                     # a study without results
    assert_difference_coloured(viewer.panels[2])
    viewer.set_adversarial({0: adv}, show=True)                    # and back with results
    assert_difference_coloured(viewer.panels[2], 4.0)
    assert viewer.diff_bar is viewer.panels[2].colorbar
    viewer.set_mode(DIFFERENCE)
    assert_difference_coloured(viewer.panels[0], 4.0)
    viewer.set_mode(ORIGINAL)
    assert viewer.panels[0].image.lut is None and not viewer.panels[0].colorbar_visible or \
        viewer.panels[0].overlay.isVisible()


def test_slices_wheel_and_slider(qtbot, ct_study):
    """A 3-slice volume built from the real CT slice: wheel and slider move through it."""
    from dataclasses import replace

    vol = replace(ct_study, pixels=np.stack([ct_study.pixels[0] + k for k in range(3)]), default_slice=None)
    v = ViewerWidget()
    qtbot.addWidget(v)
    v.set_study(vol)
    assert v.current == 1
    seen = []
    v.sig_slice_changed.connect(seen.append)
    v.panels[0].view.sig_wheel_slice.emit(1)
    assert v.current == 2 and v.slice_slider.value() == 2
    v.slice_slider.setValue(0)
    assert v.current == 0 and seen == [2, 0]
    np.testing.assert_array_equal(v.panels[0].data, vol.pixels[0])
    v.set_slice(99)
    assert v.current == 2


def test_tag_browser_hides_phi_until_asked(qtbot, ct_study):
    tags = TagBrowser()
    qtbot.addWidget(tags)
    tags.set_header(ct_study.header)
    phi = [i for i, el in enumerate(ct_study.header) if el.is_phi]
    assert phi, "CT_small has identifying fields (patient name, UIDs)"
    shown = tags.displayed_values()
    assert all(shown[i] == PHI_HIDDEN for i in phi)
    assert "[PHI]" in tags.table.item(phi[0], 0).text()
    tags.show_phi.setChecked(True)
    assert tags.displayed_values()[phi[0]] == ct_study.header[phi[0]].value
    tags.filter_edit.setText("PatientName")
    visible = [r for r in range(tags.table.rowCount()) if not tags.table.isRowHidden(r)]
    assert visible and all("PatientName" in ct_study.header[r].keyword for r in visible)
