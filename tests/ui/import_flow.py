"""Run the GUI's main flows in a fresh interpreter and print what was first imported off the main thread.

    python -m tests.ui.import_flow CARD DATA OUT

CARD: a model card (trained on quickly), DATA: a labelled folder with
train/ and test/, OUT: an empty folder for exports and the hardened model.
Prints one JSON line: {"worker_imports": [...], "steps": [...], "errors": [...]}.
Used by tests/ui/test_engine_start.py (a fresh process: nothing imported beforehand).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    card, data, out = (Path(a) for a in argv[:3])
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    from medadv_desktop.ui import theme
    from medadv_desktop.ui.attack_info import SCOPE_DATASET, SCOPE_SLICE
    from medadv_desktop.ui.main_window import MainWindow

    theme.apply_theme(app)
    theme.configure_pyqtgraph()
    window = MainWindow(settings=QSettings(str(out / "settings.ini"), QSettings.IniFormat), restore=False)
    window.resize(1280, 800)
    window.show()
    app.processEvents()
    steps: list[str] = []
    session = window.session

    def wait(what: str, timeout: float = 900.0) -> None:
        end = time.monotonic() + timeout
        while session.busy or not window.models.idle:
            app.processEvents()
            time.sleep(0.01)
            if time.monotonic() > end:
                raise SystemExit(f"timed out: {what}")
        app.processEvents()
        steps.append(what)

    torch_at_show = "torch" in sys.modules
    session.start_engine_now()
    window.open_demo()
    wait("open demo")
    panel = window.attack_panel
    panel.select_attack("fgsm")
    panel.set_scope(SCOPE_SLICE)
    panel.request_run()
    wait("attack")
    window.exporter.export(session.current_result, out)
    wait("export attack")
    window.models.load_model(card)
    wait("load model")
    panel.set_ticked_attacks(["fgsm", "pgd"])
    panel.form_by_name["pgd"].set_value("steps", 2)
    panel.set_scope(SCOPE_DATASET)
    panel.dataset_edit.setText(str(data / "test"))
    panel.eps_grid.setText("2/255")
    panel.request_run()
    wait("evaluate")
    window.exporter.export(session.current_result, out)
    wait("export report")
    training = window.training_panel
    training.data_edit.setText(str(data))
    training.out_edit.setText(str(out / "hardened"))
    training.epochs.setValue(1)
    training.batch_size.setValue(8)
    training.val_pgd_steps.setValue(1)
    training.select_attacks(["fgsm"])
    training.eps_grid.setText("2/255")
    training.request_start()
    wait("train and re-test")
    window.exporter.export(session.current_result, out)
    wait("export before/after")
    window.models.load_model(out / "hardened" / "model_card.json")
    wait("load the hardened model")
    from medadv_desktop.ui.engine_start import import_guard

    print(json.dumps({"worker_imports": import_guard().worker_imports(), "steps": steps,
                      "errors": [session.last_error] if session.last_error else [],
                      "internal_errors": session.internal_errors, "torch_at_show": torch_at_show}))
    sys.stdout.flush()
    session.shutdown()
    os._exit(0)                     # skip the interpreter's teardown of Qt objects


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
