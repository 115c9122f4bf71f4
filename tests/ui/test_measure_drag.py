"""Ruler and ellipse ROI moved by real left-button drags on the viewer's viewport (press, moves with the
button held, release), the numbers checked against numpy on the same pixels and against the pixel spacing;
the Prediction change tab never keeps another study's bars.

Real inputs: pydicom's CT_small.dcm (HU) through engine.io, given an anisotropic pixel spacing here so a
swapped row/column spacing cannot pass; the window test runs a real FGSM with the real tiny timm model.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from medadv_desktop.engine.io import open_path
from medadv_desktop.ui.attack_info import SCOPE_SLICE
from medadv_desktop.ui.widgets.viewer import ViewerWidget
from tests.ui.clicks import click_study
from tests.ui.conftest import load, run_and_wait, wait_idle

ROW_MM, COL_MM = 0.6, 0.9
MOVE_INTERVAL_MS = 25              # pyqtgraph ignores mouse moves closer together than ~16 ms          # rows 0.6 mm apart, columns 0.9 mm apart


@pytest.fixture
def ct_study(ct_small):
    report = open_path(ct_small)
    assert report.studies, report.failures
    study = report.studies[0]
    return replace(study, spacing=(study.spacing[0], ROW_MM, COL_MM))


@pytest.fixture
def viewer(qtbot, ct_study):
    v = ViewerWidget()
    qtbot.addWidget(v)
    v.resize(900, 700)
    v.show()
    qtbot.waitExposed(v)
    v.set_study(ct_study)
    qtbot.waitUntil(lambda: v.panels[0].view.viewPixelSize()[0] > 0)
    return v


def to_viewport(panel, view_point: QPointF) -> QPoint:
    """The viewport pixel showing a point of the panel's view (mm-scaled image coordinates)."""
    return panel.mapFromScene(panel.view.mapViewToScene(view_point))


def to_view(panel, viewport_point: QPoint) -> QPointF:
    return panel.view.mapSceneToView(panel.mapToScene(viewport_point))


def left_drag(qtbot, panel, start: QPoint, end: QPoint, steps: int = 12) -> None:
    """A real left-button drag over the panel's viewport."""
    viewport = panel.viewport()

    def send(kind, pos, button, buttons):
        p = QPointF(pos)
        QApplication.sendEvent(viewport, QMouseEvent(kind, p, viewport.mapToGlobal(p), button, buttons,
                                                     Qt.NoModifier))

    qtbot.wait(QApplication.doubleClickInterval() + 50)     # two drags in a row are not a double click
    send(QEvent.MouseMove, start, Qt.NoButton, Qt.NoButton)  # hover first, as a real pointer does
    send(QEvent.MouseButtonPress, start, Qt.LeftButton, Qt.LeftButton)
    for k in range(1, steps + 1):
        step = start + QPoint((end.x() - start.x()) * k // steps, (end.y() - start.y()) * k // steps)
        # pyqtgraph's scene drops moves that come faster than its rate limit (a real pointer is slower)
        qtbot.wait(MOVE_INTERVAL_MS)
        send(QEvent.MouseMove, step, Qt.NoButton, Qt.LeftButton)
    qtbot.wait(MOVE_INTERVAL_MS)
    send(QEvent.MouseButtonRelease, end, Qt.LeftButton, Qt.NoButton)
    QApplication.processEvents()


def pixel_point(row: float, col: float) -> QPointF:
    """View coordinates (x = mm across, y = mm down) of pixel-edge coordinates (row, col)."""
    return QPointF(col * COL_MM, row * ROW_MM)


def handle_points(roi) -> list[QPointF]:
    """Where the ROI's handles are drawn, in view coordinates."""
    return [roi.mapToParent(h["item"].pos()) for h in roi.handles]


def numpy_ellipse(shape, top, left, bottom, right) -> np.ndarray:
    """Pixels whose centres lie in the axis-aligned ellipse inscribed in the box (pixel-edge coordinates)."""
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]] + 0.5
    cy, cx, ay, ax = (top + bottom) / 2, (left + right) / 2, (bottom - top) / 2, (right - left) / 2
    return ((rows - cy) / ay) ** 2 + ((cols - cx) / ax) ** 2 <= 1 + 1e-9


def test_ruler_ends_dragged_with_the_mouse_measure_mm_from_the_pixel_spacing(viewer, qtbot, ct_study):
    qtbot.mouseClick(viewer.measure_buttons["ruler"], Qt.LeftButton)
    measure, panel = viewer.measure, viewer.panels[0]
    ruler = measure.ruler
    assert ruler is not None and measure.scale == (ROW_MM, COL_MM)
    screen_px_mm = max(panel.view.viewPixelSize())           # one viewport pixel in view units (mm)
    assert screen_px_mm < 0.5 * min(ROW_MM, COL_MM)          # several screen pixels per image pixel
    targets = [(10.0, 12.0), (70.0, 52.0)]                   # (row, col): 60 rows and 40 columns apart
    for i, (row, col) in enumerate(targets):
        before = handle_points(ruler)[i]
        start = to_viewport(panel, before)
        end = to_viewport(panel, pixel_point(row, col))
        left_drag(qtbot, panel, start, end)
        # the handle moved by the mouse's displacement, in view units
        expected = before + (to_view(panel, end) - to_view(panel, start))
        moved = handle_points(ruler)[i]
        assert (moved.x(), moved.y()) == pytest.approx((expected.x(), expected.y()), abs=1e-6)
    (r0, c0), (r1, c1) = measure.ruler_points()
    for (row, col), (r, c) in zip(targets, ((r0, c0), (r1, c1)), strict=True):
        assert r == pytest.approx(row, abs=2 * screen_px_mm / ROW_MM)
        assert c == pytest.approx(col, abs=2 * screen_px_mm / COL_MM)
    length = measure.results["ruler"]
    assert length.units == "mm"
    # exact for where the ends are, and within the drag's screen-pixel rounding of the intended 60 x 40 pixels
    assert length.length == pytest.approx(np.hypot((r1 - r0) * ROW_MM, (c1 - c0) * COL_MM), rel=1e-9)
    assert length.length == pytest.approx(np.hypot(60 * ROW_MM, 40 * COL_MM), abs=4 * screen_px_mm)
    assert length.length_px == pytest.approx(np.hypot(r1 - r0, c1 - c0), rel=1e-9)
    assert measure.labels["ruler"].toPlainText() == f"{length.length:.1f} mm"
    # dragging the segment itself moves both ends, the length stays
    middle = QPointF((c0 + c1) / 2 * COL_MM, (r0 + r1) / 2 * ROW_MM)
    start = to_viewport(panel, middle)
    left_drag(qtbot, panel, start, start + QPoint(-40, 25))
    (s0, d0), (s1, d1) = measure.ruler_points()
    assert (s0, d0) != pytest.approx((r0, c0)) and s1 - s0 == pytest.approx(r1 - r0)
    assert measure.results["ruler"].length == pytest.approx(length.length)


def test_ellipse_dragged_and_resized_with_the_mouse_matches_numpy(viewer, qtbot, ct_study):
    qtbot.mouseClick(viewer.measure_buttons["ellipse"], Qt.LeftButton)
    measure, panel = viewer.measure, viewer.panels[0]
    ellipse = measure.ellipse
    assert ellipse is not None
    assert {h["type"] for h in ellipse.handles} == {"s"}              # scale handles only: never rotated
    pixels = ct_study.pixels[0].astype(np.float64)

    def check(stats) -> np.ndarray:
        roi = measure.ellipse_roi()
        inside = numpy_ellipse(ct_study.shape2d, *roi.box)
        values = pixels[inside]
        assert stats.pixel_count == inside.sum() > 20
        assert stats.mean == pytest.approx(values.mean()) and stats.sd == pytest.approx(values.std())
        assert (stats.min, stats.max) == (values.min(), values.max()) and stats.units == "HU"
        top, left, bottom, right = roi.box
        assert stats.area_mm2 == pytest.approx(np.pi * (bottom - top) / 2 * (right - left) / 2 * ROW_MM * COL_MM)
        assert f"mean {values.mean():.1f} HU" in measure.labels["ellipse"].toPlainText()
        return inside

    first = check(measure.results["ellipse"])
    # drag the body: from its centre to the centre of pixel-edge point (40, 35)
    pos, size = ellipse.pos(), ellipse.size()
    centre = QPointF(pos.x() + size.x() / 2, pos.y() + size.y() / 2)
    start, end = to_viewport(panel, centre), to_viewport(panel, pixel_point(40, 35))
    left_drag(qtbot, panel, start, end)
    shift = to_view(panel, end) - to_view(panel, start)
    assert (ellipse.pos().x(), ellipse.pos().y()) == pytest.approx((pos.x() + shift.x(), pos.y() + shift.y()),
                                                                   abs=1e-6)
    assert (ellipse.size().x(), ellipse.size().y()) == pytest.approx((size.x(), size.y()))
    moved = check(measure.results["ellipse"])
    assert not np.array_equal(moved, first)
    top, left, bottom, right = measure.ellipse_roi().box
    assert ((top + bottom) / 2, (left + right) / 2) == pytest.approx((40, 35), abs=2)
    # widen it with the right-hand handle: the width grows about the centre, the height stays
    width_handle = next(i for i, h in enumerate(ellipse.handles) if tuple(h["pos"]) == (1.0, 0.5))
    before_box = measure.ellipse_roi().box
    start = to_viewport(panel, handle_points(ellipse)[width_handle])
    left_drag(qtbot, panel, start, start + QPoint(30, 0))
    top2, left2, bottom2, right2 = measure.ellipse_roi().box
    assert right2 - left2 > before_box[3] - before_box[1] + 1
    assert (top2, bottom2) == pytest.approx(before_box[::2])
    assert (left2 + right2) / 2 == pytest.approx((before_box[1] + before_box[3]) / 2)
    wider = check(measure.results["ellipse"])
    assert wider.sum() > moved.sum()


def test_prediction_tab_does_not_keep_another_studys_result(window, qtbot, ct_small, tiny_card, demo_study):
    """FGSM on CT_small -> open the demo study (no result): no bars, a caption saying why; back to CT_small:
    its own bars again."""
    load(qtbot, window, study=ct_small, card=tiny_card)
    panel = window.attack_panel
    panel.select_attack("fgsm").set_value("eps", 8 / 255)
    panel.set_scope(SCOPE_SLICE)
    entry = run_and_wait(qtbot, window)
    [(_index, outcome)] = entry.outcomes
    chart, caption = window.results_panel.prediction, window.results_panel.prediction_caption
    probs = [float(v) for v in outcome.result.clean_probs[0]]
    assert chart.has_bars and chart.before == pytest.approx(probs) and "fgsm" in caption.text()
    window.studies.open_paths([demo_study])
    qtbot.waitUntil(lambda: len(window.session.studies) == 2 and window.session.current_index == 1,
                    timeout=60_000)
    wait_idle(qtbot, window)
    assert not chart.has_bars and chart.before == [] and chart.message
    assert "No attack result for this study" in caption.text() and "fgsm" not in caption.text()
    click_study(qtbot, window, 0)
    wait_idle(qtbot, window)
    assert window.session.current_index == 0
    assert chart.has_bars and chart.before == pytest.approx(probs) and "fgsm" in caption.text()
