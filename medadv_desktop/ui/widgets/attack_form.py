"""A form generated from one attack's schema (the engine's ``ParamSpec`` tuple).

Each parameter gets the widget its kind calls for; budgets (kind ``budget``,
or a float in ``[0,1]`` units such as a step size) get a
:class:`~medadv_desktop.ui.widgets.budget_field.BudgetField`, so a new attack
appears in the GUI with no UI code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QLabel, QSizePolicy, QSpinBox, QWidget,
)

from medadv_desktop.ui.attack_info import AttackInfo
from medadv_desktop.ui.widgets.budget_field import BudgetField


class AttackForm(QWidget):
    """A form generated from one attack's schema."""

    sig_validity_changed = Signal()
    sig_edited = Signal()                   # any parameter's value changed (typed, clicked or set)

    def __init__(self, info: AttackInfo, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.info = info
        self.widgets: dict[str, QWidget] = {}
        self.specs = {spec.name: spec for spec in info.schema}
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.setLabelAlignment(Qt.AlignRight)
        form.setVerticalSpacing(4)
        for spec in info.schema:
            widget = self._widget_for(spec)
            if isinstance(widget, QComboBox):      # never let a long choice widen the dock
                widget.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
                widget.setMinimumContentsLength(6)
            if isinstance(widget, (QSpinBox, QDoubleSpinBox)):
                widget.setMinimumWidth(60)
                widget.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)
            self._watch(widget)
            if isinstance(widget, BudgetField):
                widget.sig_validity_changed.connect(lambda _ok: self.sig_validity_changed.emit())
            else:
                widget.setToolTip(self._tooltip(spec))
            self.widgets[spec.name] = widget
            label = QLabel(spec.display_name + ":")
            label.setToolTip(self._tooltip(spec))
            form.addRow(label, widget)
        if "targeted" in self.widgets and "target_class" in self.widgets:
            self.widgets["targeted"].currentTextChanged.connect(self._targeted_changed)
            self._targeted_changed(self.widgets["targeted"].currentText())

    def _watch(self, widget: QWidget) -> None:
        """Emit :attr:`sig_edited` when ``widget``'s value changes."""
        changed = {BudgetField: "sig_changed", QCheckBox: "toggled", QComboBox: "currentIndexChanged",
                   QSpinBox: "valueChanged", QDoubleSpinBox: "valueChanged"}
        for kind, signal in changed.items():
            if isinstance(widget, kind):
                getattr(widget, signal).connect(lambda *_a: self.sig_edited.emit())
                return

    def reset(self, keep: Sequence[str] = ()) -> None:
        """Every parameter back to its schema default, except those named in ``keep``."""
        for name, spec in self.specs.items():
            if name not in keep:
                self.set_value(name, spec.default)

    @staticmethod
    def _tooltip(spec) -> str:
        parts = [spec.help]
        rng = []
        if spec.minimum is not None:
            rng.append(f"min {spec.minimum:g}")
        if spec.maximum is not None:
            rng.append(f"max {spec.maximum:g}")
        if rng:
            parts.append("Range: " + ", ".join(rng) + (f" {spec.unit}" if spec.unit else ""))
        return "\n".join(p for p in parts if p)

    def _widget_for(self, spec) -> QWidget:
        if spec.kind == "budget" or (spec.kind == "float" and spec.unit == "[0,1]"):
            return BudgetField(spec.name, float(spec.default))
        if spec.kind == "bool":
            box = QCheckBox()
            box.setChecked(bool(spec.default))
            return box
        if spec.kind == "choice":
            combo = QComboBox()
            choices = [c for c in spec.choices if c in self.info.norms] if spec.name == "norm" else list(spec.choices)
            combo.addItems(choices)
            combo.setCurrentText(str(spec.default))
            return combo
        if spec.kind == "int" and spec.name == "target_class":
            combo = QComboBox()
            combo.setEditable(False)
            combo.addItem(f"class {spec.default}", int(spec.default))
            return combo
        if spec.kind == "int":
            box = QSpinBox()
            box.setRange(int(spec.minimum) if spec.minimum is not None else -10**9,
                         int(spec.maximum) if spec.maximum is not None else 10**9)
            box.setValue(int(spec.default))
            if spec.unit:
                box.setSuffix(f" {spec.unit}")
            return box
        box = QDoubleSpinBox()
        box.setDecimals(4)
        box.setRange(float(spec.minimum) if spec.minimum is not None else -1e9,
                     float(spec.maximum) if spec.maximum is not None else 1e9)
        box.setSingleStep(0.1 if (spec.maximum or 10) > 1 else 0.01)
        box.setValue(float(spec.default))
        if spec.unit:
            box.setSuffix(f" {spec.unit}")
        return box

    def _targeted_changed(self, mode: str) -> None:
        self.widgets["target_class"].setEnabled(mode == "class")

    def set_class_names(self, names: Sequence[str]) -> None:
        combo = self.widgets.get("target_class")
        if isinstance(combo, QComboBox) and names:
            current = combo.currentData()
            combo.clear()
            for i, name in enumerate(names):
                combo.addItem(f"{i}: {name}", i)
            combo.setCurrentIndex(current if isinstance(current, int) and current < len(names) else 0)

    def set_native_scale(self, native_per_unit: float | None, units: str) -> None:
        for widget in self.widgets.values():
            if isinstance(widget, BudgetField):
                widget.set_native_scale(native_per_unit, units)

    def set_value(self, name: str, value: Any) -> None:
        widget = self.widgets[name]
        if isinstance(widget, BudgetField):
            widget.set_value(float(value))
        elif isinstance(widget, QCheckBox):
            widget.setChecked(bool(value))
        elif isinstance(widget, QComboBox) and name == "target_class":
            widget.setCurrentIndex(max(0, widget.findData(int(value))))
        elif isinstance(widget, QComboBox):
            widget.setCurrentText(str(value))
        else:
            widget.setValue(value)

    def errors(self) -> list[str]:
        """Why the form cannot run as it stands (invalid budget fields), in words; [] when it can."""
        return [w.error for w in self.widgets.values() if isinstance(w, BudgetField) and not w.valid]

    def budget_texts(self) -> dict[str, str]:
        """Every budget in both units (``2/255 = 3.14 HU``), e.g. for the Run button's tooltip."""
        return {n: w.both_units_text() for n, w in self.widgets.items() if isinstance(w, BudgetField)}

    def values(self) -> dict[str, Any]:
        """Parameter values, validated by each ParamSpec (raises AttackConfigError naming the parameter)."""
        out: dict[str, Any] = {}
        for name, widget in self.widgets.items():
            if isinstance(widget, BudgetField):
                if widget.failure is not None:
                    raise widget.failure
                value: Any = widget.value
            elif isinstance(widget, QCheckBox):
                value = widget.isChecked()
            elif isinstance(widget, QComboBox) and name == "target_class":
                value = int(widget.currentData() or 0)
            elif isinstance(widget, QComboBox):
                value = widget.currentText()
            else:
                value = widget.value()
            out[name] = self.specs[name].validate(value)
        return out

    def text_values(self) -> dict[str, Any]:
        """The form as JSON-friendly values (budgets as their [0, 1] text, e.g. ``2/255``) for QSettings."""
        out: dict[str, Any] = {}
        for name, widget in self.widgets.items():
            if isinstance(widget, BudgetField):
                if widget.valid:
                    out[name] = widget.unit_edit.text()
            elif isinstance(widget, QCheckBox):
                out[name] = widget.isChecked()
            elif isinstance(widget, QComboBox) and name == "target_class":
                out[name] = int(widget.currentData() or 0)
            elif isinstance(widget, QComboBox):
                out[name] = widget.currentText()
            else:
                out[name] = widget.value()
        return out

    def restore_text_values(self, values: dict[str, Any]) -> None:
        """Apply :meth:`text_values` output; a value its ParamSpec no longer accepts is skipped."""
        from medadv_desktop.engine.attacks.spec import parse_budget
        from medadv_desktop.errors import MedAdvError

        for name, raw in values.items():
            widget, spec = self.widgets.get(name), self.specs.get(name)
            if widget is None or spec is None:
                continue
            try:
                value = parse_budget(str(raw), parameter=name) if isinstance(widget, BudgetField) else raw
                value = spec.validate(value)
                if isinstance(widget, QComboBox) and name != "target_class" and widget.findText(str(value)) < 0:
                    continue
                self.set_value(name, value)
            except (MedAdvError, TypeError, ValueError):
                continue
