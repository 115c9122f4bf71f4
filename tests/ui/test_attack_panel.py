"""Attack forms generated from the engine's schemas; strict budget fields in [0, 1] and native units."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from medadv_desktop.engine.reports.formatting import budget_text as format_budget
from medadv_desktop.errors import AttackConfigError
from medadv_desktop.ui.attack_info import SCOPE_DATASET, SCOPE_SLICE, gather_attack_infos
from medadv_desktop.ui.widgets.attack_panel import AttackPanel
from medadv_desktop.ui.widgets.budget_field import BudgetField


@pytest.fixture(scope="module")
def infos():
    return gather_attack_infos()


@pytest.fixture
def panel(qtbot, infos):
    p = AttackPanel()
    qtbot.addWidget(p)
    p.set_attacks(infos)
    p.show()
    return p


def retype(qtbot, edit, text):
    """Select all in ``edit`` and type ``text`` with real key events."""
    edit.setFocus()
    edit.selectAll()
    qtbot.keyClick(edit, Qt.Key_Delete)
    qtbot.keyClicks(edit, text)


def test_every_attack_gets_a_form_from_its_schema(panel, infos):
    from medadv_desktop.engine.attacks.spec import DEFAULT_SUITE, SUITES

    names = {i.name for i in infos}
    assert {"fgsm", "pgd"} <= names
    suite = dict(SUITES[DEFAULT_SUITE].specs())        # the default suite's settings are in its attacks' forms
    for info in infos:
        form = panel.form_by_name[info.name]
        assert set(form.widgets) == {spec.name for spec in info.schema}
        values = form.values()
        for spec in info.schema:
            want = suite.get(info.name, {}).get(spec.name, spec.default)
            assert values[spec.name] == pytest.approx(want) if spec.kind in ("float", "budget") \
                else values[spec.name] == want


def test_int_ranges_come_from_schema(panel):
    form = panel.select_attack("pgd")
    steps_spec = form.specs["steps"]
    spin = form.widgets["steps"]
    assert spin.minimum() == steps_spec.minimum and spin.maximum() == steps_spec.maximum
    form.set_value("steps", 25)
    assert form.values()["steps"] == 25


def test_eps_in_unit_and_native_kept_in_sync_with_typed_text(qtbot):
    field = BudgetField("eps", 2 / 255)
    qtbot.addWidget(field)
    field.show()
    assert field.unit_edit.text() == "2/255"
    field.set_native_scale(400.0, "HU")                 # a 400 HU window
    assert field.native_edit.text() == "3.14" and field.native_label.text() == "HU"
    retype(qtbot, field.native_edit, "6")
    assert field.value == pytest.approx(6 / 400) and field.unit_edit.text() == "0.015"
    retype(qtbot, field.unit_edit, "4/255")
    assert field.value == pytest.approx(4 / 255) and field.native_edit.text() == "6.27"
    # the CLI's "6HU" works in the [0, 1] field too, and is shown in both units once the field is left
    retype(qtbot, field.unit_edit, "6HU")
    assert field.valid and field.value == pytest.approx(6 / 400) and field.native_edit.text() == "6"
    qtbot.keyClick(field.unit_edit, Qt.Key_Return)
    assert field.unit_edit.text() == "0.015" and field.both_units_text() == "0.015 = 6 HU"
    # invalid text is marked, never replaced, and never used
    retype(qtbot, field.unit_edit, "nonsense")
    assert field.unit_edit.property("invalid") == "true" and not field.valid
    assert "not a budget" in field.unit_edit.toolTip() and field.unit_edit.text() == "nonsense"


def test_invalid_eps_disables_run_with_the_reason(panel, qtbot):
    """Issue 12 item 3: ``2/25S`` and ``300`` are refused with a reason that fits the card (a 400 HU window)."""
    panel.set_native_scale(400.0, "HU")
    form = panel.select_attack("fgsm")
    eps = form.widgets["eps"]
    for text, reason in (("2/25S", "unit 'S' does not match"), ("300", "outside [0, 1]"), ("1/0", "divides by zero"),
                         ("2//255", "not a budget")):
        retype(qtbot, eps.unit_edit, text)
        problems = panel.problems()
        assert problems and reason in problems[0], problems
        assert "per image" not in problems[0]                 # the old, wrong reason on a windowed card
        assert eps.native_edit.text() == ""                   # the HU mirror no longer shows the old value
        with pytest.raises(AttackConfigError):
            panel.build_request()
    retype(qtbot, eps.unit_edit, "1/255")
    assert panel.problems() == [] and panel.build_request().params["eps"] == pytest.approx(1 / 255)
    assert eps.native_edit.text() == "1.57"                   # and shows the valid one again
    retype(qtbot, eps.native_edit, "6HU")
    assert panel.build_request().params["eps"] == pytest.approx(6 / 400)


def test_format_budget():
    assert format_budget(8 / 255) == "8/255"
    assert format_budget(0.01) == "0.01"
    assert format_budget(0) == "0"


def test_targeted_class_uses_class_names(panel):
    panel.set_class_names(["no_finding", "lesion"])
    form = panel.select_attack("fgsm")
    combo = form.widgets["target_class"]
    assert combo.count() == 2 and "lesion" in combo.itemText(1)
    assert not combo.isEnabled()
    form.set_value("targeted", "class")
    assert combo.isEnabled()
    form.set_value("target_class", 1)
    assert form.values()["target_class"] == 1 and form.values()["targeted"] == "class"


def test_dataset_scope_request_and_errors(panel, qtbot, tmp_path):
    panel.select_attack("fgsm")
    panel.set_scope(SCOPE_DATASET)
    assert panel.dataset_row.isVisibleTo(panel)
    with pytest.raises(Exception) as exc:
        panel.build_request()
    assert "data set folder" in str(exc.value)
    assert any("data set folder" in p for p in panel.problems())
    panel.dataset_edit.setText(str(tmp_path))
    retype(qtbot, panel.eps_grid, "1/255, 2/255")
    request = panel.build_request()
    assert request.eps_grid == pytest.approx([1 / 255, 2 / 255])
    # the default is the standard (AutoAttack-grade) suite, as in the CLI, in the suite's order
    assert panel.suite_picker.suite() == "standard" and request.suite == "standard"
    assert [n for n, _ in request.attacks] == ["apgd-ce", "apgd-t", "fab-t", "square"]
    assert dict(request.attacks)["square"]["n_queries"] == 5000
    panel.set_ticked_attacks(["fgsm"])                                     # Custom: the ticked attack only
    request = panel.build_request()
    assert panel.suite_picker.suite() == "" and not request.suite
    assert [n for n, _ in request.attacks] == ["fgsm"] and "eps" not in request.attacks[0][1]
    assert request.full_rows is False and request.max_samples is None      # default: the cascade, all samples
    panel.max_samples.setValue(10)
    assert panel.build_request().max_samples == 10
    retype(qtbot, panel.eps_grid, "2/255, 7")
    assert panel.eps_grid.property("invalid") == "true" and "eps grid" in panel.problems()[0]
    with pytest.raises(AttackConfigError):
        panel.build_request()
    panel.request_run()
    assert panel.error.isVisibleTo(panel) and "eps" in panel.error.text()
    panel.set_native_scale(400.0, "HU")
    retype(qtbot, panel.eps_grid, "1/255, 6HU")
    assert panel.build_request().eps_grid == pytest.approx([1 / 255, 6 / 400])


def test_per_attack_checkbox_reaches_the_request(panel, qtbot, tmp_path):
    box = panel.per_attack
    assert box.text() == "Each attack on every sample" and "slower" in box.toolTip()
    assert box.minimumSizeHint().width() < 260                             # fits the dock at 1280x800
    assert not box.isChecked() and not box.isVisibleTo(panel)             # only for a labelled data set
    panel.select_attack("fgsm")
    panel.set_scope(SCOPE_DATASET)
    assert box.isEnabled() and box.isVisibleTo(panel) and "cumulative" in box.toolTip()
    panel.dataset_edit.setText(str(tmp_path))
    assert panel.build_request().full_rows is False
    qtbot.mouseClick(box, Qt.LeftButton)
    assert box.isChecked()
    with qtbot.waitSignal(panel.sig_run_requested) as sent:
        panel.request_run()
    assert sent.args[0].full_rows is True and sent.args[0].scope == SCOPE_DATASET
    panel.set_scope(SCOPE_SLICE)
    assert not box.isEnabled() and panel.build_request().full_rows is False   # single images: no rows to cascade


def test_settings_state_round_trip(panel, qtbot, infos):
    form = panel.select_attack("pgd")
    form.set_value("steps", 17)
    retype(qtbot, form.widgets["eps"].unit_edit, "3/255")
    panel.set_ticked_attacks(["fgsm", "pgd"])
    panel.set_scope(SCOPE_DATASET)
    retype(qtbot, panel.eps_grid, "1/255, 8/255")
    panel.max_samples.setValue(12)
    state = panel.settings_state()
    other = AttackPanel()
    qtbot.addWidget(other)
    other.set_attacks(infos)
    other.restore_state(state)
    assert other.current_attack() == "pgd" and other.scope_key() == SCOPE_DATASET
    assert other.form_by_name["pgd"].values()["steps"] == 17
    assert other.form_by_name["pgd"].values()["eps"] == pytest.approx(3 / 255)
    assert other.ticked_attacks() == [n for n in other.ticked_attacks() if n in ("fgsm", "pgd")]
    assert set(other.ticked_attacks()) == {"fgsm", "pgd"}
    assert other.eps_grid.text() == "1/255, 8/255" and other.max_samples.value() == 12
    other.restore_state({"forms": {"pgd": {"steps": -5, "eps": "junk"}, "nope": {}}, "attack": "nope"})
    assert other.form_by_name["pgd"].values()["steps"] == 17          # values that do not validate are skipped
