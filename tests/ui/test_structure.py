"""The GUI's shape (issue 12): small modules, one widget per file, controllers that talk only through the session.

The import rules are the ones of the import-linter contracts for ``ui``
(README, "GUI structure"); this test keeps them true until the lint runs in CI.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import medadv_desktop.ui as ui

UI = Path(ui.__file__).parent
MODULES = sorted(p for p in UI.rglob("*.py"))


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_module_sizes():
    sizes = {p.relative_to(UI).as_posix(): len(p.read_text(encoding="utf-8").splitlines()) for p in MODULES}
    assert sizes["main_window.py"] < 400
    too_big = {name: n for name, n in sizes.items() if n > 550}
    assert not too_big


def test_controllers_import_the_session_and_widgets_never_each_other_or_the_window():
    controllers = sorted((UI / "controllers").glob("*.py"))
    names = {f"medadv_desktop.ui.controllers.{p.stem}" for p in controllers if p.stem != "__init__"}
    assert len(names) >= 6
    for path in controllers:
        imported = _imports(path)
        own = f"medadv_desktop.ui.controllers.{path.stem}"
        assert not (imported & (names - {own})), f"{path.name} imports another controller"
        assert not {m for m in imported if m.startswith(("medadv_desktop.ui.main_window", "medadv_desktop.ui.app"))}


def test_widgets_and_dialogs_never_see_the_session_worker_or_controllers():
    forbidden = ("medadv_desktop.ui.session", "medadv_desktop.ui.worker", "medadv_desktop.ui.controllers",
                 "medadv_desktop.ui.main_window", "medadv_desktop.ui.app")
    for path in [*(UI / "widgets").glob("*.py"), *(UI / "dialogs").glob("*.py")]:
        bad = {m for m in _imports(path) if m.startswith(forbidden)}
        assert not bad, f"{path.name} imports {bad}"


@pytest.mark.parametrize("package", ["widgets", "dialogs"])
def test_one_widget_per_file(package):
    from PySide6.QtWidgets import QWidget

    pkg = importlib.import_module(f"medadv_desktop.ui.{package}")
    seen = 0
    for info in pkgutil.iter_modules(pkg.__path__):
        module = importlib.import_module(f"{pkg.__name__}.{info.name}")
        widgets = [cls for _, cls in inspect.getmembers(module, inspect.isclass)
                   if cls.__module__ == module.__name__ and issubclass(cls, QWidget)]
        assert len(widgets) <= 1, f"{info.name}: {[c.__name__ for c in widgets]}"
        seen += len(widgets)
    assert seen >= (15 if package == "widgets" else 1)


def test_jobs_carry_their_callbacks_no_routing_by_name():
    from dataclasses import fields

    from medadv_desktop.ui.worker import JobRequest

    names = {f.name for f in fields(JobRequest)}
    assert {"on_result", "on_error", "on_cancelled", "on_progress", "on_finished"} <= names
    assert "kind" not in names
    for path in MODULES:
        text = path.read_text(encoding="utf-8")
        assert "_handle_{" not in text and 'getattr(self, f"' not in text, path.name
