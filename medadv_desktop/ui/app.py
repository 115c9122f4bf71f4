"""`medadv-desktop`: start the GUI.

    medadv-desktop [PATH ...] [--demo] [--model CARD]
                   [--run-attack NAME [--eps 2/255]] [--screenshot FILE]

The window is on screen before torch and timm are imported: after the
first paint the session imports the worker-side stack on the UI thread (so no
first-time import ever runs on the worker), then the attack registry is read
and the jobs (opening studies, loading the model) run on the worker.
Without ``--model`` or ``--demo`` the last model card loaded is loaded again.
With ``--screenshot FILE`` the main window is rendered to a PNG once loading
(and, with ``--run-attack``, that attack on the current slice) is done, and
the program exits 0, or non-zero with a message when something failed.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

_T0 = time.perf_counter()

EXIT_OK, EXIT_FAILED, EXIT_TIMEOUT = 0, 2, 3


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="medadv-desktop",
                                     description="MedAdv Desktop: adversarial robustness testing of medical image "
                                                 "classifiers.")
    parser.add_argument("paths", nargs="*", help="files or folders to open (DICOM, NIfTI, PNG/JPEG/TIFF)")
    parser.add_argument("--demo", action="store_true", help="open the bundled synthetic demo study and model")
    parser.add_argument("--model", metavar="CARD", help="model card (JSON) to load")
    parser.add_argument("--run-attack", metavar="NAME", help="run this attack on the current slice once loaded")
    parser.add_argument("--eps", default=None, help="budget for --run-attack, e.g. 2/255, 0.01 or 6HU")
    parser.add_argument("--screenshot", metavar="FILE", help="save the main window as PNG when done, then exit")
    parser.add_argument("--self-test", action="store_true",
                        help="headless end-to-end check of this installation (demo, attack, reports, GUI), then exit")
    parser.add_argument("--size", default=None, metavar="WxH", help="window size, e.g. 1600x1000")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds before --screenshot gives up")
    parser.add_argument("--no-restore", action="store_true", help="ignore the saved window layout")
    from medadv_desktop import __version__
    parser.add_argument("--version", action="version", version=f"medadv-desktop {__version__}")
    return parser


class StartupScript:
    """Drives the command-line requests (demo, paths, attack, screenshot) through the window's session."""

    def __init__(self, window, args, on_finish, *, load_last_model: bool = False) -> None:
        """``on_finish(exit_code)`` ends the run (``QApplication.exit`` in :func:`main`)."""
        from PySide6.QtCore import QTimer

        self.window, self.args, self.on_finish = window, args, on_finish
        self.load_last_model = load_last_model
        self.exit_code: int | None = None
        self.errors: list[str] = []
        self.attack_submitted = False
        self.attack_done = not args.run_attack
        self._shot_pending = False
        self.settle = QTimer()
        self.settle.setSingleShot(True)
        self.settle.setInterval(400)
        self.settle.timeout.connect(self._on_settled)
        session = window.session
        session.idle.connect(self.settle.start)
        session.error_raised.connect(lambda message, _title: self.errors.append(message))
        if args.screenshot:
            self.deadline = QTimer()
            self.deadline.setSingleShot(True)
            self.deadline.timeout.connect(self._on_timeout)
            self.deadline.start(int(args.timeout * 1000))

    def start(self) -> None:
        w, args = self.window, self.args
        w.session.start_engine()
        if args.demo:
            w.open_demo()
        if args.paths:
            w.studies.open_paths(args.paths)
        if args.model:
            w.models.load_model(args.model)
        elif self.load_last_model and not args.demo:
            last = w.store.last_model()
            if last:
                w.models.load_model(last)

    def _on_settled(self) -> None:
        w = self.window
        if w.session.busy or not w.models.idle:
            return
        if self.args.run_attack and not self.attack_submitted:
            self.attack_submitted = True
            try:
                self._submit_attack()
            except Exception as exc:  # noqa: BLE001 - report and stop
                message = exc.user_message() if hasattr(exc, "user_message") else str(exc)
                self.errors.append(message)
                w.show_error(message, "--run-attack")
                self.attack_done = True
                self._on_settled()
            return
        if self.args.screenshot and self.attack_done and not self._shot_pending:
            # Let the layout and the views' fit settle before grabbing.
            from PySide6.QtCore import QTimer

            self._shot_pending = True
            QTimer.singleShot(200, self._screenshot)

    def _submit_attack(self) -> None:
        from medadv_desktop.errors import MedAdvError
        from medadv_desktop.ui.attack_info import SCOPE_SLICE

        w = self.window
        if w.session.classifier is None or w.session.study is None:
            raise MedAdvError("--run-attack needs a study and a model (use --demo, or PATH and --model).")
        panel = w.attack_panel
        form = panel.select_attack(self.args.run_attack)
        panel.set_scope(SCOPE_SLICE)
        if self.args.eps:
            field = form.widgets["eps"]
            field.unit_edit.setText(self.args.eps)          # the strict field parses 2/255, 0.01 or 6HU
            if not field.valid:
                raise MedAdvError(f"--eps {self.args.eps}: {field.error}")
        request = w.attacks.run(panel.build_request())
        if request is None:
            raise MedAdvError(f"The attack could not be started: {w.attacks.reason}")
        request.on_finished = self._attack_finished

    def _attack_finished(self, _status: str) -> None:
        self.attack_done = True             # done, failed or cancelled: the screenshot shows it

    def _screenshot(self) -> None:
        w = self.window
        path = Path(self.args.screenshot)
        ok = w.grab().save(str(path), "PNG")
        if not ok:
            print(f"medadv-desktop: error: could not write the screenshot '{path}'", file=sys.stderr)
            self.finish(EXIT_FAILED)
            return
        if self.errors:
            print("medadv-desktop: error: " + self.errors[0], file=sys.stderr)
            self.finish(EXIT_FAILED)
            return
        print(f"screenshot saved: {path}")
        self.finish(EXIT_OK)

    def _on_timeout(self) -> None:
        print(f"medadv-desktop: error: loading did not finish within {self.args.timeout:g} s", file=sys.stderr)
        self.finish(EXIT_TIMEOUT)

    def finish(self, code: int) -> None:
        if self.exit_code is not None:
            return
        self.exit_code = code
        self.window.close()
        self.on_finish(code)


def _settings_factory():
    from medadv_desktop.ui.settings import make_settings

    return make_settings()


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=os.environ.get("MEDADV_LOG", "WARNING"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from PySide6.QtCore import QCoreApplication, QTimer
    from PySide6.QtWidgets import QApplication

    from medadv_desktop.ui import theme

    QCoreApplication.setOrganizationName("MedAdv")
    QCoreApplication.setApplicationName("MedAdv Desktop")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    theme.apply_theme(app)
    theme.configure_pyqtgraph()

    from medadv_desktop.ui.main_window import MainWindow

    window = MainWindow(settings=_settings_factory(), restore=not args.no_restore and not args.screenshot)
    if args.size:
        width, height = (int(v) for v in args.size.lower().split("x"))
        window.resize(width, height)
    elif args.screenshot or window.settings.value("window/geometry") is None:
        window.resize(1600, 1000)
    if args.demo:
        window.session.demo = True
        window._update_title()
    window.show()
    app.processEvents()
    window.startup_seconds = time.perf_counter() - _T0
    window.torch_loaded_at_show = "torch" in sys.modules
    if args.screenshot:
        print(f"window shown after {window.startup_seconds:.2f} s; torch imported before show: "
              f"{'yes' if window.torch_loaded_at_show else 'no'}", flush=True)
    script = StartupScript(window, args, app.exit, load_last_model=not args.no_restore and not args.screenshot)
    QTimer.singleShot(0, script.start)
    code = app.exec()
    if script.exit_code is not None:
        code = script.exit_code
    window.session.shutdown()
    return int(code)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
