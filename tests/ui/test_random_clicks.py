"""A seeded random click sequence over the whole window (issue 12's check), with invariants after every step.

Steps: open a study (CT_small, MR_small, the demo study), switch study in the
Studies list, page through slices, change the view, type an eps (valid or
not), attack the slice or the volume (FGSM/PGD), evaluate a small labelled
data set, click a Results ▸ Samples row, export the current result, reload
the model. All through real mouse and key events on the real widgets, with
the real tiny model, files and data set; jobs run on the worker and each step
waits until the window is idle.

After every step: no exception reached ``sys.excepthook`` and none was caught
inside a callback; no error box was raised; the Model dock holds exactly its
own widgets; every Difference panel on screen has its colour map and colour
bar; Run is enabled exactly when the controller says it can run, and says why
when it is not (an invalid eps always disables it); the sample preview is
empty when the selected row has no images.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from medadv_desktop.ui.actions import ActionId
from medadv_desktop.ui.attack_info import SCOPE_DATASET, SCOPE_SLICE, SCOPE_VOLUME
from tests.ui.clicks import (
    assert_difference_coloured, click, click_sample, click_study, model_dock_widgets, open_file,
)
from tests.ui.conftest import start_engine_and_model, wait_idle

STEPS = int(os.environ.get("MEDADV_RANDOM_CLICK_STEPS", "200"))
SEED = int(os.environ.get("MEDADV_RANDOM_CLICK_SEED", "12"))
MAX_STUDIES = 5
EPS_TEXTS = ["2/255", "1/255", "0.01", "6HU", "2/25S", "300", "", "-1/255", "4/255"]


def retype(qtbot, edit, text: str) -> None:
    edit.setFocus()
    edit.selectAll()
    qtbot.keyClick(edit, Qt.Key_Delete)
    if text:
        qtbot.keyClicks(edit, text)


@pytest.mark.slow
def test_random_click_sequence_keeps_every_invariant(window, qtbot, tiny_card, demo_data, demo_study, ct_small,
                                                     tmp_path, monkeypatch, excepthook_calls):
    from pydicom.data import get_testdata_file

    from medadv_desktop.ui.controllers import export

    win = window
    session, panel = win.session, win.attack_panel
    exports = tmp_path / "exports"
    exports.mkdir()
    monkeypatch.setattr(export.QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(exports)))
    studies = [ct_small, demo_study, Path(get_testdata_file("MR_small.dcm"))]
    start_engine_and_model(qtbot, win, tiny_card)
    open_file(qtbot, win, ct_small, monkeypatch)
    baseline = model_dock_widgets(win)
    rng = random.Random(SEED)
    errors: list[str] = []
    session.error_raised.connect(lambda message, _title: errors.append(message))
    done: list[str] = []

    def open_study():
        if len(session.studies) >= MAX_STUDIES:
            return switch_study()
        open_file(qtbot, win, rng.choice(studies), monkeypatch)

    def switch_study():
        click_study(qtbot, win, rng.randrange(len(session.studies)))

    def page_slice():
        slider = win.viewer.slice_slider
        slider.setFocus()
        qtbot.keyClick(slider, rng.choice([Qt.Key_Right, Qt.Key_Left, Qt.Key_PageUp, Qt.Key_End, Qt.Key_Home]))

    def change_view():
        buttons = [b for b in win.viewer.mode_buttons.values() if b.isEnabled()]
        click(qtbot, rng.choice(buttons))

    def type_eps():
        form = panel.select_attack(rng.choice(["fgsm", "pgd"]))
        field = form.widgets["eps"]
        text = rng.choice(EPS_TEXTS)
        retype(qtbot, field.unit_edit, text)
        if text in ("2/25S", "300", "", "-1/255"):
            assert not field.valid, text

    def attack():
        name = rng.choice(["fgsm", "pgd"])
        form = panel.select_attack(name)
        if name == "pgd":
            form.set_value("steps", 2)
        if not form.widgets["eps"].valid and rng.random() < 0.7:    # mostly a user who corrects the typo
            retype(qtbot, form.widgets["eps"].unit_edit, rng.choice(["2/255", "6HU"]))
        panel.set_scope(rng.choice([SCOPE_SLICE, SCOPE_VOLUME]))
        click(qtbot, panel.run_button)           # disabled (invalid eps, no study): does nothing

    def evaluate():
        form = panel.select_attack("fgsm")
        if not form.widgets["eps"].valid:
            retype(qtbot, form.widgets["eps"].unit_edit, "2/255")
        panel.set_ticked_attacks(["fgsm"])
        panel.set_scope(SCOPE_DATASET)
        panel.dataset_edit.setText(str(demo_data / "test"))
        retype(qtbot, panel.eps_grid, rng.choice(["2/255", "2/255, 8/255"]))
        panel.max_samples.setValue(4)
        click(qtbot, panel.run_button)

    def click_a_sample():
        table = win.results_panel.samples
        if table.proxy.rowCount():
            click_sample(qtbot, win, rng.randrange(table.proxy.rowCount()))

    def export_result():
        if win.exporter.can_export():
            win.actions[ActionId.EXPORT_REPORT].trigger()

    def load_model():
        win.models.load_model(tiny_card)

    actions = [(open_study, 2), (switch_study, 3), (page_slice, 3), (change_view, 3), (type_eps, 2),
               (attack, 4), (evaluate, 1), (click_a_sample, 3), (export_result, 1), (load_model, 1)]
    funcs = [f for f, _ in actions]
    weights = [w for _, w in actions]
    for step in range(STEPS):
        action = rng.choices(funcs, weights)[0]
        action()
        wait_idle(qtbot, win, 180_000)
        done.append(action.__name__)
        where = f"step {step} ({action.__name__}); before: {done[-6:-1]}"
        # -- invariants ------------------------------------------------------------
        assert excepthook_calls == [], where
        assert session.internal_errors == [], where
        assert errors == [], where
        assert model_dock_widgets(win) == baseline, where
        assert_difference_coloured(win)
        controller = win.attacks
        assert panel.run_button.isEnabled() == controller.can_run, where
        if not controller.can_run:
            assert controller.reason and panel.run_button.toolTip() == controller.reason, where
        form = panel.current_form()
        if form is not None and not form.widgets["eps"].valid:
            assert not panel.run_button.isEnabled(), where
        sample = win.results_panel.selected_sample
        if sample is not None and not sample.has_images:
            assert win.results_panel.preview.is_empty, where
    # the sequence did reach every kind of step, and the work it asked for happened
    assert set(done) == {f.__name__ for f in funcs}
    kinds = {type(entry).__name__ for entry in session.results}
    assert kinds == {"AttackRun", "EvaluationEntry"}, kinds
    assert any(exports.iterdir())
