"""Attack forms generated from the engine's schemas; eps kept in sync in [0, 1] and native units."""

from __future__ import annotations

import pytest

from medadv_desktop.errors import AttackConfigError
from medadv_desktop.ui.attack_dock import (
    SCOPE_DATASET, AttackPanel, BudgetField, format_budget, gather_attack_infos,
)


@pytest.fixture(scope="module")
def infos():
    return gather_attack_infos()


@pytest.fixture
def panel(qtbot, infos):
    p = AttackPanel()
    qtbot.addWidget(p)
    p.set_attacks(infos)
    return p


def test_every_attack_gets_a_form_from_its_schema(panel, infos):
    names = {i.name for i in infos}
    assert {"fgsm", "pgd"} <= names
    for info in infos:
        form = panel.form_by_name[info.name]
        assert set(form.widgets) == {spec.name for spec in info.schema}
        values = form.values()
        for spec in info.schema:
            assert values[spec.name] == pytest.approx(spec.default) if spec.kind in ("float", "budget") \
                else values[spec.name] == spec.default


def test_int_ranges_come_from_schema(panel):
    form = panel.select_attack("pgd")
    steps_spec = form.specs["steps"]
    spin = form.widgets["steps"]
    assert spin.minimum() == steps_spec.minimum and spin.maximum() == steps_spec.maximum
    form.set_value("steps", 25)
    assert form.values()["steps"] == 25


def test_eps_in_unit_and_native_kept_in_sync(qtbot):
    field = BudgetField("eps", 2 / 255)
    qtbot.addWidget(field)
    assert field.unit_edit.text() == "2/255"
    field.set_native_scale(400.0, "HU")                 # a 400 HU window
    assert field.native_edit.text() == "3.14" and field.native_label.text() == "HU"
    field.native_edit.setText("6")
    field.native_edit.editingFinished.emit()
    assert field.value == pytest.approx(6 / 400)
    assert field.unit_edit.text() == "0.015"
    field.unit_edit.setText("4/255")
    field.unit_edit.editingFinished.emit()
    assert field.value == pytest.approx(4 / 255) and field.native_edit.text() == "6.27"
    field.unit_edit.setText("nonsense")
    field.unit_edit.editingFinished.emit()
    assert field.unit_edit.property("invalid") == "true" and field.value == pytest.approx(4 / 255)


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


def test_dataset_scope_request_and_errors(panel, tmp_path):
    panel.select_attack("fgsm")
    panel.set_scope(SCOPE_DATASET)
    with pytest.raises(Exception) as exc:
        panel.build_request()
    assert "data set folder" in str(exc.value)
    panel.dataset_edit.setText(str(tmp_path))
    panel.eps_grid.setText("1/255, 2/255")
    request = panel.build_request()
    assert request.eps_grid == pytest.approx([1 / 255, 2 / 255])
    assert request.attacks[0][0] == "fgsm" and "eps" not in request.attacks[0][1]
    assert request.full_rows is False                                   # default: the attack cascade
    panel.eps_grid.setText("2/255, 7")
    with pytest.raises(AttackConfigError):
        panel.build_request()
    panel.request_run()
    assert panel.error.isVisibleTo(panel) and "eps" in panel.error.text()


def test_per_attack_checkbox_reaches_the_request(panel, qtbot, tmp_path):
    from PySide6.QtCore import Qt

    from medadv_desktop.ui.attack_dock import SCOPE_SLICE

    box = panel.per_attack
    assert box.text() == "Each attack on every sample (per-attack rows, slower)"
    assert not box.isChecked() and not box.isEnabled()                # only for a labelled data set
    panel.select_attack("fgsm")
    panel.set_scope(SCOPE_DATASET)
    assert box.isEnabled() and "cumulative" in box.toolTip()
    panel.dataset_edit.setText(str(tmp_path))
    assert panel.build_request().full_rows is False
    qtbot.mouseClick(box, Qt.LeftButton)
    assert box.isChecked()
    with qtbot.waitSignal(panel.sig_run_requested) as sent:
        panel.request_run()
    assert sent.args[0].full_rows is True and sent.args[0].scope == SCOPE_DATASET
    panel.set_scope(SCOPE_SLICE)
    assert not box.isEnabled() and panel.build_request().full_rows is False   # single images: no rows to cascade
