"""Fixtures for the GUI tests: a window with temporary settings, real tiny inputs.

Real inputs only: pydicom's CT_small.dcm, a corrupt file written here, and a
real tiny timm network (``test_resnet``, 1 channel) saved as safetensors with
a model card, built once per session.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(scope="session", autouse=True)
def _theme(qapp):
    """What ``medadv-desktop`` does at start-up: the dark theme and pyqtgraph's row-major images."""
    from medadv_desktop.ui.theme import apply_theme, configure_pyqtgraph

    apply_theme(qapp)
    configure_pyqtgraph()


@pytest.fixture
def settings(tmp_path):
    from PySide6.QtCore import QSettings

    return QSettings(str(tmp_path / "medadv-settings.ini"), QSettings.IniFormat)


@pytest.fixture
def window(qtbot, settings):
    from medadv_desktop.ui.main_window import MainWindow

    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    win.resize(1400, 900)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.worker.cancel_all()
    win.close()


@pytest.fixture(scope="session")
def ct_small() -> Path:
    from pydicom.data import get_testdata_file

    return Path(get_testdata_file("CT_small.dcm"))


@pytest.fixture(scope="session")
def tiny_card(tmp_path_factory) -> Path:
    """A real tiny timm classifier (test_resnet, 1 channel, 2 classes, 64x64, window 40/400 HU)."""
    from tests.conftest import make_tiny_card

    return make_tiny_card(tmp_path_factory.mktemp("tiny_model"), architecture="test_resnet", input_size=64,
                          name="tiny test_resnet")


def wait_idle(qtbot, win, timeout=60_000):
    """Wait until the window's worker has no queued or running job."""
    qtbot.waitUntil(lambda: not win.worker.busy and not win._predict_timer.isActive(), timeout=timeout)


def load(qtbot, win, *, study: Path | None = None, card: Path | None = None, demo: bool = False,
         timeout=90_000):
    """Start the engine, open a study and a model, and wait until all of it is shown."""
    win.prepare_engine()
    if demo:
        win.open_demo()
    if study is not None:
        win.open_paths([study])
    if card is not None:
        win.load_model(card)
    qtbot.waitUntil(lambda: bool(win.attack_infos) and win.study is not None and win.classifier is not None,
                    timeout=timeout)
    wait_idle(qtbot, win, timeout)
