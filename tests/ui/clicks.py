"""Real mouse events on the window's widgets, shared by the click-sequence tests."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QProgressBar, QWidget

from medadv_desktop.ui.actions import ActionId
from medadv_desktop.ui.widgets.image_panel import DIFFERENCE
from medadv_desktop.ui.widgets.results_panel import TAB_SAMPLES
from tests.ui.conftest import wait_idle


def click(qtbot, widget: QWidget) -> None:
    qtbot.mouseClick(widget, Qt.LeftButton)


def click_study(qtbot, win, index: int) -> None:
    """Click row ``index`` of the Studies list."""
    tree = win.study_browser.tree
    item = tree.topLevelItem(index)
    tree.scrollToItem(item)
    qtbot.mouseClick(tree.viewport(), Qt.LeftButton, pos=tree.visualItemRect(item).center())


def show_samples_tab(qtbot, win) -> None:
    tabs = win.results_panel
    bar = tabs.tabBar()
    qtbot.mouseClick(bar, Qt.LeftButton, pos=bar.tabRect(TAB_SAMPLES).center())
    assert tabs.currentIndex() == TAB_SAMPLES


def click_sample(qtbot, win, proxy_row: int) -> None:
    """Click row ``proxy_row`` (as displayed) of Results ▸ Samples."""
    show_samples_tab(qtbot, win)
    table = win.results_panel.samples
    index = table.proxy.index(proxy_row, 0)
    table.scrollTo(index)
    qtbot.mouseClick(table.viewport(), Qt.LeftButton, pos=table.visualRect(index).center())


def open_file(qtbot, win, path: Path, monkeypatch) -> None:
    """File ▸ Open File… with the dialog answering ``path``; waits until it is open."""
    from medadv_desktop.ui.controllers import studies

    monkeypatch.setattr(studies.QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(path), "")))
    win.actions[ActionId.OPEN_FILE].trigger()
    wait_idle(qtbot, win)


def model_dock_widgets(win) -> tuple[int, int]:
    """(all widgets, progress bars) inside the Model dock."""
    dock = win.docks["dock_model"]
    return len(dock.findChildren(QWidget)), len(dock.findChildren(QProgressBar))


def difference_panels(win) -> list:
    return [p for p in win.viewer.panels if not p.isHidden() and p.kind == DIFFERENCE]


def assert_difference_coloured(win) -> None:
    """Every difference panel on screen has its diverging look-up table, centred levels and a colour bar."""
    import numpy as np

    for panel in difference_panels(win):
        lut = panel.image.lut
        assert lut is not None and np.asarray(lut).shape[0] == 256, panel.title.text
        low, high = panel.image.levels
        assert high > 0 and abs(low + high) < 1e-6 * max(1.0, high)
        assert panel.colorbar_visible
