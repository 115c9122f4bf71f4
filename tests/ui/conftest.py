"""Fixtures for the GUI tests: a window with temporary settings, real tiny inputs, helpers that wait.

Real inputs only: pydicom's CT_small.dcm, the bundled demo study and model,
a corrupt file written here, a real tiny timm network (``test_resnet``, 1
channel) saved as safetensors with a model card, and a tiny labelled demo
data set, each built once per session. Tests wait on the session's state and
signals, never on time.
"""

from __future__ import annotations

import os
import sys
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
def excepthook_calls(monkeypatch):
    """Exceptions that reached ``sys.excepthook`` (Qt calls it for exceptions in slots)."""
    calls: list[BaseException] = []

    def hook(kind, value, tb):
        calls.append(value)

    monkeypatch.setattr(sys, "excepthook", hook)
    return calls


@pytest.fixture
def window(qtbot, settings):
    from medadv_desktop.ui.main_window import MainWindow

    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    win.resize(1400, 900)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.session.worker.cancel_all()
    win.close()


@pytest.fixture(scope="session")
def ct_small() -> Path:
    from pydicom.data import get_testdata_file

    return Path(get_testdata_file("CT_small.dcm"))


@pytest.fixture(scope="session")
def demo_study() -> Path:
    from medadv_desktop.paths import resources_dir

    return resources_dir() / "demo_study"


@pytest.fixture(scope="session")
def tiny_card(tmp_path_factory) -> Path:
    """A real tiny timm classifier (test_resnet, 1 channel, 2 classes, 64x64, window 40/400 HU)."""
    from tests.conftest import make_tiny_card

    return make_tiny_card(tmp_path_factory.mktemp("tiny_model"), architecture="test_resnet", input_size=64,
                          name="tiny test_resnet")


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory) -> Path:
    """The synthetic demo data set: train/ (32) and test/ (16) class folders of real DICOM files."""
    from medadv_desktop.engine.demo import write_demo_dataset

    root = tmp_path_factory.mktemp("demo_data") / "demo"
    write_demo_dataset(root, n_train=32, n_test=16)
    return root


def wait_idle(qtbot, win, timeout=60_000):
    """Wait until no job is queued or running and no slice prediction is about to be asked for."""
    qtbot.waitUntil(lambda: not win.session.busy and win.models.idle, timeout=timeout)


def load(qtbot, win, *, study: Path | None = None, card: Path | None = None, demo: bool = False,
         timeout=90_000):
    """Start the engine, open a study and a model, and wait until all of it is shown."""
    win.session.start_engine()
    if demo:
        win.open_demo()
    if study is not None:
        win.studies.open_paths([study])
    if card is not None:
        win.models.load_model(card)
    s = win.session
    qtbot.waitUntil(lambda: s.engine_started and s.study is not None and s.classifier is not None, timeout=timeout)
    wait_idle(qtbot, win, timeout)


def start_engine_and_model(qtbot, win, card: Path, timeout=90_000) -> None:
    win.session.start_engine()
    win.models.load_model(card)
    qtbot.waitUntil(lambda: win.session.engine_started and win.session.classifier is not None, timeout=timeout)
    wait_idle(qtbot, win, timeout)


def run_and_wait(qtbot, win, timeout=120_000):
    """Click Run in the Attack dock and wait for the job to finish; returns the session's new result (or None)."""
    from PySide6.QtCore import Qt

    before = len(win.session.results)
    button = win.attack_panel.run_button
    assert button.isEnabled(), win.attacks.reason
    qtbot.mouseClick(button, Qt.LeftButton)
    wait_idle(qtbot, win, timeout)
    return win.session.results[-1] if len(win.session.results) > before else None
