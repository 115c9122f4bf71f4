"""`medadv-desktop` start-up: --screenshot smoke test, window before torch, bad arguments."""

from __future__ import annotations

import os
import subprocess
import sys


def _run(args, tmp_path, timeout=240):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "config"),
               HOME=str(tmp_path))
    return subprocess.run([sys.executable, "-m", "medadv_desktop.ui.app", *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_screenshot_after_attack_window_before_torch(tmp_path, ct_small, tiny_card):
    shot = tmp_path / "shot.png"
    proc = _run([str(ct_small), "--model", str(tiny_card), "--run-attack", "fgsm", "--eps", "6HU",
                 "--screenshot", str(shot), "--size", "1280x800"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "torch imported before show: no" in proc.stdout
    assert "screenshot saved" in proc.stdout
    from PySide6.QtGui import QImage

    image = QImage(str(shot))
    assert (image.width(), image.height()) == (1280, 800)


def test_startup_script_bad_attack_fails_with_message(qtbot, window, tmp_path, ct_small, tiny_card, capsys):
    """In process (saves a cold torch import): an unknown attack ends non-zero with a message."""
    from medadv_desktop.ui import app

    args = app.build_parser().parse_args([str(ct_small), "--model", str(tiny_card), "--run-attack", "no-such-attack",
                                          "--screenshot", str(tmp_path / "shot.png"), "--timeout", "120"])
    codes = []
    script = app.StartupScript(window, args, codes.append)
    script.start()
    qtbot.waitUntil(lambda: bool(codes), timeout=120_000)
    err = capsys.readouterr().err
    assert codes == [app.EXIT_FAILED]
    assert "no-such-attack" in err and "Traceback" not in err
    assert (tmp_path / "shot.png").exists()       # the window is still rendered for the record


def test_module_import_does_not_import_torch():
    code = ("import sys; import medadv_desktop.ui.app, medadv_desktop.ui.main_window; "
            "from PySide6.QtWidgets import QApplication; app = QApplication([]); "
            "from medadv_desktop.ui.main_window import MainWindow; w = MainWindow(restore=False); w.show(); "
            "app.processEvents(); "
            "assert 'torch' not in sys.modules and 'timm' not in sys.modules, 'torch imported before show'; "
            "w.session.shutdown(); import os; os._exit(0)")   # skip interpreter teardown of Qt objects
    subprocess.run([sys.executable, "-c", code], check=True, env=dict(os.environ, QT_QPA_PLATFORM="offscreen"))
