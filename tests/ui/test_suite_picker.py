"""The Attack dock's suite picker: choosing a named suite ticks its attacks with the suite's settings, in the
suite's order, and the evaluation records the suite; any change to them makes the choice Custom."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QSpinBox

from medadv_desktop.engine.attacks import suite_attacks
from medadv_desktop.ui.attack_info import SCOPE_DATASET, gather_attack_infos
from medadv_desktop.ui.widgets.attack_panel import AttackPanel


@pytest.fixture(scope="module")
def infos():
    return gather_attack_infos()


@pytest.fixture
def panel(qtbot, infos, tmp_path):
    p = AttackPanel()
    qtbot.addWidget(p)
    p.set_attacks(infos)
    p.set_scope(SCOPE_DATASET)
    p.dataset_edit.setText(str(tmp_path))
    p.resize(420, 900)
    p.show()
    qtbot.waitExposed(p)
    return p


def choose(qtbot, panel, name: str) -> None:
    """Pick the suite ``name`` ("" = Custom) with the keyboard, as a user would."""
    combo = panel.suite_picker.combo
    combo.setFocus()
    target = combo.findData(name)
    assert target >= 0
    for _ in range(combo.count()):
        if combo.currentIndex() == target:
            break
        qtbot.keyClick(combo, Qt.Key_Down if combo.currentIndex() < target else Qt.Key_Up)
    assert combo.currentIndex() == target


def retype_spin(qtbot, spin: QSpinBox, text: str) -> None:
    spin.setFocus()
    spin.selectAll()
    qtbot.keyClicks(spin, text)
    qtbot.keyClick(spin, Qt.Key_Return)


@pytest.mark.parametrize("suite", ["quick", "standard", "full"])
def test_choosing_a_suite_ticks_its_attacks_with_its_settings_in_its_order(qtbot, panel, suite):
    assert panel.suite_picker.suite() == "standard"               # the default, as in the CLI
    assert set(panel.ticked_attacks()) == {n for n, _ in suite_attacks("standard")}
    assert panel.current_attack() == "fgsm"                       # the single-study attack stays the first row
    choose(qtbot, panel, "")                                      # Custom leaves the ticks as they are
    assert set(panel.ticked_attacks()) == {n for n, _ in suite_attacks("standard")}
    choose(qtbot, panel, suite)
    want = suite_attacks(suite)                                   # the engine's own list (torch side)
    assert set(panel.ticked_attacks()) == {n for n, _ in want}
    assert panel.suite_in_force() == suite
    request = panel.build_request()
    assert request.suite == suite
    assert [n for n, _ in request.attacks] == [n for n, _ in want]
    for (name, params), (_, sent) in zip(want, request.attacks):
        for key, value in params.items():
            assert sent[key] == value, (name, key)
    note = panel.suite_picker.note.text()
    assert ("UPPER BOUND" in note) == (suite == "quick")
    from medadv_desktop.engine.attacks.spec import SUITES

    assert note == SUITES[suite].short and panel.suite_picker.note.toolTip() == SUITES[suite].description


def test_a_suite_resets_what_the_user_changed_and_a_change_after_it_makes_it_custom(qtbot, panel):
    square = panel.form_by_name["square"].widgets["n_queries"]
    apgd_steps = panel.form_by_name["apgd-ce"].widgets["steps"]
    panel.select_attack("apgd-ce")
    retype_spin(qtbot, apgd_steps, "7")
    assert apgd_steps.value() == 7
    choose(qtbot, panel, "quick")
    assert apgd_steps.value() == 20 and square.value() == 1000
    panel.select_attack("square")
    retype_spin(qtbot, square, "300")
    assert square.value() == 300
    assert panel.suite_picker.suite() == "" and panel.suite_in_force() == ""     # shown as Custom now
    request = panel.build_request()
    assert request.suite == ""
    assert dict(request.attacks)["square"]["n_queries"] == 300
    # the standard suite puts Square back to its 5000 queries and unticks FGSM
    choose(qtbot, panel, "standard")
    assert square.value() == 5000 and "fgsm" not in panel.ticked_attacks()
    # unticking one of its attacks with a click: Custom again
    row = [panel.attack_list.item(r).data(Qt.UserRole) for r in range(panel.attack_list.count())].index("apgd-t")
    item = panel.attack_list.item(row)
    panel.attack_list.scrollToItem(item)
    rect = panel.attack_list.visualItemRect(item)
    check = rect.topLeft() + (rect.bottomLeft() - rect.topLeft()) / 2
    check.setX(rect.left() + 10)
    qtbot.mouseClick(panel.attack_list.viewport(), Qt.LeftButton, pos=check)
    assert "apgd-t" not in panel.ticked_attacks()
    assert panel.suite_picker.suite() == ""


def test_the_chosen_suite_survives_the_settings_round_trip(qtbot, panel, infos):
    choose(qtbot, panel, "quick")
    state = panel.settings_state()
    assert state["suite"] == "quick"
    again = AttackPanel()
    qtbot.addWidget(again)
    again.set_attacks(infos)
    again.restore_state(state)
    assert again.suite_picker.suite() == "quick" and again.suite_in_force() == "quick"
    # a remembered Custom choice comes back as Custom with its ticks, not as the default suite
    choose(qtbot, panel, "")
    panel.set_ticked_attacks(["fgsm", "pgd"])
    custom = AttackPanel()
    qtbot.addWidget(custom)
    custom.set_attacks(infos)
    assert custom.suite_picker.suite() == "standard"
    custom.restore_state(panel.settings_state())
    assert custom.suite_picker.suite() == "" and set(custom.ticked_attacks()) == {"fgsm", "pgd"}


def test_the_panels_suite_request_runs_the_suite_and_the_result_records_it(qtbot, panel):
    from medadv_desktop.engine.datasets import LabelledDataset
    from medadv_desktop.engine.jobs import run_job
    from medadv_desktop.engine.workflows.evaluation import EvaluationRequest, evaluation_workflow

    from tests.engine.attacks.conftest import TinyCNN

    choose(qtbot, panel, "quick")
    request = panel.build_request()
    model = TinyCNN(1, 3).eval()
    x = np.random.default_rng(0).uniform(0, 1, (4, 1, 16, 16)).astype(np.float32)
    with torch.no_grad():
        y = model(torch.from_numpy(x)).argmax(1).tolist()
    ds = LabelledDataset.from_arrays(x, y, ["a", "b", "c"], name="suite picker test", synthetic=True)
    outcome = run_job(evaluation_workflow(model, EvaluationRequest(
        data=ds, attacks=request.attacks, eps="8/255", n_examples=0, suite=request.suite or None)))
    suite = outcome.result.provenance.suite
    assert suite["name"] == "quick" and suite["upper_bound"]
    assert [r.attack for r in outcome.result.rows if r.attack != "worst-case"][:3] == ["fgsm", "apgd-ce", "square"]


def test_the_training_docks_retest_suite_quick_by_default_custom_on_a_tick(qtbot, infos):
    """The Training dock's re-test: a suite picker, "quick" by default; while the ticks are a suite's the request
    names the suite (the engine runs it with the suite's settings); a tick by hand makes it Custom (the ticked
    attacks with the Attack panel's parameters)."""
    from medadv_desktop.ui.widgets.training_panel import TrainingPanel

    panel = TrainingPanel()
    qtbot.addWidget(panel)
    panel.set_attacks(infos)
    picker = panel.retest_suite
    assert picker.suite() == "quick" and "UPPER BOUND" in picker.note.text()
    assert set(panel.selected_attacks()) == {n for n, _ in suite_attacks("quick")}
    assert panel.retest_attacks(lambda n: {"steps": 3}) == ["quick"]
    choose(qtbot, panel_like(picker), "standard")
    assert set(panel.selected_attacks()) == {n for n, _ in suite_attacks("standard")}
    assert panel.retest_attacks() == ["standard"]
    panel.select_attacks(["fgsm", "pgd"])
    assert picker.suite() == ""
    assert panel.retest_attacks(lambda n: {"steps": 3}) == [("fgsm", {"steps": 3}), ("pgd", {"steps": 3})]
    panel.set_attacks(infos)                                   # the engine's list again: the ticks are kept
    assert set(panel.selected_attacks()) == {"fgsm", "pgd"}


class panel_like:                                              # choose() needs .suite_picker.combo
    def __init__(self, picker):
        self.suite_picker = picker
