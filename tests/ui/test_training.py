"""The Adversarial Training dock end to end: a real tiny model, real demo DICOM data, no mocks.

A 1-epoch FGSM training run from the dock to completion: live curves get
points, the before/after table has numbers for every re-tested attack,
"Use the hardened model" loads the new card into the Model dock. Cancel keeps
the app working and says what was kept. Waits on signals, never sleeps.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from medadv_desktop.ui.actions import ActionId
from medadv_desktop.ui.session import BeforeAfterEntry
from tests.ui.conftest import start_engine_and_model as _engine_and_model
from tests.ui.conftest import wait_idle


def _configure(panel, data: Path, out: Path, *, epochs: int = 1) -> None:
    panel.data_edit.setText(str(data))
    panel.out_edit.setText(str(out))
    panel.set_method("fgsm")
    panel.eps.set_value(8 / 255)
    panel.epochs.setValue(epochs)
    panel.lr.setValue(1e-3)
    panel.batch_size.setValue(16)
    panel.val_split.setValue(0.25)
    panel.val_pgd_steps.setValue(2)
    panel.select_attacks(["fgsm", "pgd"])
    panel.eps_grid.setText("4/255")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_training_dock_runs_to_the_before_after_table_and_uses_the_model(window, qtbot, tiny_card, demo_data,
                                                                         tmp_path):
    _engine_and_model(qtbot, window, tiny_card)
    parent_hash = _sha(tiny_card.parent / "weights.safetensors")
    assert not window.training_dock.isVisible()
    window.actions[ActionId.ADVERSARIAL_TRAINING].trigger()
    assert window.training_dock.isVisible()
    panel, controller = window.training_panel, window.training
    assert {panel.attack_list.item(r).data(Qt.UserRole) for r in range(panel.attack_list.count())} >= {"fgsm", "pgd"}
    assert panel.eps.native_text() == "3.14 a.u."            # 2/255 of the card's 400-unit window
    assert panel.start_button.isEnabled() and not panel.cancel_button.isEnabled()
    assert str(Path.home() / "MedAdv") in panel.out_edit.text()   # default output under the home folder
    # method parameters follow the method
    panel.set_method("trades")
    assert panel.form.isRowVisible(panel.beta) and panel.form.isRowVisible(panel.steps)
    assert not panel.form.isRowVisible(panel.mix_ratio)
    panel.set_method("mix")
    assert panel.form.isRowVisible(panel.mix_ratio) and not panel.form.isRowVisible(panel.beta)

    window.attack_panel.select_attack("pgd").set_value("steps", 3)    # the re-test uses the Attack panel's PGD
    out = tmp_path / "hardened"
    _configure(panel, demo_data, out)
    shown: list[tuple[str, int]] = []           # (status text, progress maximum: 0 = a busy bar)
    set_status = panel.set_status
    panel.set_status = lambda text: (shown.append((text, panel.progress.maximum())), set_status(text))
    with qtbot.waitSignal(controller.sig_before_after_ready, timeout=120_000) as done:
        qtbot.mouseClick(panel.start_button, Qt.LeftButton)
        qtbot.waitUntil(lambda: panel.cancel_button.isEnabled() or not controller.running, timeout=5_000)
    table = done.args[0]
    wait_idle(qtbot, window)
    # the first seconds (reading the data, measuring the model) are announced, with a busy bar, not a silent 0 %
    from medadv_desktop.ui.controllers.training import EARLY_MESSAGES

    early = [text for text, maximum in shown if maximum == 0]
    assert early and set(early) & set(EARLY_MESSAGES.values()), shown[:6]
    # before the re-test starts: what it runs and at most how long (an upper bound), kept beside its progress
    retest = [text for text, _ in shown if text.startswith("Re-test")]
    assert retest and "at most" in retest[0] and "upper bound" in retest[0], retest[:2]
    assert all("at most" in text for text in retest), retest

    # live curves: one loss point per batch (24 training images / 16 = 2 batches), epochs 0 and 1
    curves = panel.curves
    assert len(curves.batch_loss) == 2 and curves.batch_x == pytest.approx([0.5, 1.0])
    assert curves.epoch_x == [1.0] and len(curves.epoch_loss) == 1
    assert curves.acc_x == [0.0, 1.0] and len(curves.clean_accuracy) == 2 and len(curves.robust_accuracy) == 2
    assert len(curves.batch_item.getData()[0]) == 2 and len(curves.robust_item.getData()[1]) == 2
    assert all(0 <= v <= 100 for v in curves.clean_accuracy + curves.robust_accuracy)

    # the before/after table: clean, fgsm, pgd, worst-case at 4/255 and the training eps 8/255
    rows = panel.table.row_texts()
    attacks = [r["Attack"] for r in rows]
    assert attacks[0] == "clean" and {"fgsm", "pgd", "worst-case"} <= set(attacks)
    for name in ("fgsm", "pgd"):
        mine = [r for r in rows if r["Attack"] == name]
        assert len(mine) == 2                                     # 4/255 and 8/255
        assert any("★" in r["eps"] for r in mine)                 # the training eps is marked
        for r in mine:
            assert re.fullmatch(r"\d+\.\d %", r["Before"]) and re.fullmatch(r"\d+\.\d %", r["After adv. training"])
            assert re.fullmatch(r"[+-]\d+\.\d pt", r["Change"])
    assert table.n_samples == 16 and "test/ folder" in panel.table_caption.text()
    trained = table.row("fgsm", 8 / 255)
    assert trained.at_training_eps
    fgsm_row = next(r for r in rows if r["Attack"] == "fgsm" and "★" in r["eps"])
    assert fgsm_row["After adv. training"] == f"{trained.accuracy_after * 100:.1f} %"
    # sortable and copyable
    panel.table.sortByColumn(3, Qt.DescendingOrder)
    before = [float(r["Before"].split()[0]) for r in panel.table.row_texts()]
    assert before == sorted(before, reverse=True)
    panel.table.setFocus()
    qtbot.keyClick(panel.table, Qt.Key_C, Qt.ControlModifier)
    tsv = QGuiApplication.clipboard().text().splitlines()
    assert tsv[0].split("\t") == ["Attack", "eps", "eps native", "Before", "Before 95 % CI", "After adv. training",
                                  "After 95 % CI", "Change", "Change 95 % CI", "McNemar p"]
    assert len(tsv) == 1 + len(rows)

    # files: the hardened model, its card, a checkpoint, the table; the parent untouched
    assert (out / "model_card.json").is_file() and (out / "model.safetensors").is_file()
    assert list(out.glob("checkpoint-epoch-001*"))
    saved = json.loads((out / "before_after.json").read_text())
    assert len(saved["rows"]) + len(saved["corruption_rows"]) == len(rows)      # the corruption re-test rows too
    assert saved["corruption_rows"] and all(f"corruption: {c['corruption']}" in [r["Attack"] for r in rows]
                                            for c in saved["corruption_rows"])
    assert _sha(tiny_card.parent / "weights.safetensors") == parent_hash
    assert "Done" in panel.status.text() and panel.progress.value() == 1000
    assert str(out) != panel.out_edit.text()                       # a fresh folder for the next run
    log = window.jobs_panel.log.toPlainText()
    assert str(demo_data) not in log and str(out) not in log       # no paths in the log

    # the table is a result of the session: File > Export can write it
    assert isinstance(window.session.current_result, BeforeAfterEntry)
    assert window.session.current_result.table is table

    # use the hardened model: the Model dock, the status bar and the title say it is the hardened one
    assert panel.use_button.isEnabled()
    with qtbot.waitSignal(window.session.model_changed, timeout=60_000) as loaded:
        qtbot.mouseClick(panel.use_button, Qt.LeftButton)
    assert loaded.args[0].name.endswith("(adversarially trained)")
    assert window.model_panel.fields["name"].text() == "tiny test_resnet (adversarially trained)"
    assert window.model_panel.trained_badge.isVisibleTo(window.model_panel)
    assert window.status.trained.isVisibleTo(window.status) and "adversarially trained" in window.windowTitle()
    assert Path(window.session.card.path).resolve() == (out / "model_card.json").resolve()
    wait_idle(qtbot, window)


def test_training_errors_in_words_cancel_keeps_checkpoint_note(window, qtbot, tiny_card, demo_data, tmp_path):
    _engine_and_model(qtbot, window, tiny_card)
    window.show_training()
    panel, controller = window.training_panel, window.training
    # errors in words, before any job: no data folder, an output folder with other files
    panel.data_edit.setText("")
    panel.request_start()
    assert panel.error.isVisibleTo(panel) and "data set folder" in panel.error.text()
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    _configure(panel, demo_data, busy)
    panel.request_start()
    assert "already holds files" in panel.error.text() and not controller.running
    assert (busy / "notes.txt").read_text() == "mine"
    # an error on the worker (a data folder whose classes the model does not have) is shown; the app survives
    wrong = tmp_path / "wrong"
    (wrong / "cats").mkdir(parents=True)
    (wrong / "dogs").mkdir()
    _configure(panel, wrong, tmp_path / "out-wrong")
    with qtbot.waitSignal(controller.sig_run_finished, timeout=30_000) as fin:
        panel.request_start()
    assert fin.args[0] == "failed"
    assert "Training failed" in panel.error.text() and panel.start_button.isEnabled()
    assert window.session.last_error

    # cancel a long run: the status says what was kept, the app keeps working
    out = tmp_path / "cancelled"
    _configure(panel, demo_data, out, epochs=500)
    panel.batch_size.setValue(4)
    seen = []
    window.session.worker.sig_progress.connect(lambda r, e: seen.append(e.data.get("kind")))
    panel.request_start()
    qtbot.waitUntil(lambda: "batch" in seen, timeout=60_000)
    assert panel.cancel_button.isEnabled() and not window.actions[ActionId.RUN_ATTACK].isEnabled()
    with qtbot.waitSignal(controller.sig_run_finished, timeout=10_000) as fin:
        qtbot.mouseClick(panel.cancel_button, Qt.LeftButton)
    assert fin.args[0] == "cancelled"
    status = panel.status.text()
    assert status.startswith("Cancelled") and ("checkpoint (epoch" in status or "no checkpoint" in status)
    assert not panel.use_button.isEnabled() and panel.start_button.isEnabled()
    assert not (out / "model_card.json").exists()
    wait_idle(qtbot, window)
    # the app keeps working: a new job runs after the cancelled one
    with qtbot.waitSignal(window.session.model_changed, timeout=60_000):
        window.models.load_model(tiny_card)
