"""What MedAdv Desktop remembers between launches (QSettings), and what it deliberately does not.

Kept: window geometry and dock layout, the heatmap opacity, the recent
files list (File ▸ Open Recent; File ▸ Clear Recent forgets it), the Attack
panel (chosen and ticked attacks, every attack's parameters, scope, eps
grid, max samples, per-attack rows), the data-set folders of the Attack and
Training panels, the last export folder, and the last model card loaded.

De-identification (issue 14): a study's own path never enters these
settings except through the recent-files list the user sees and can clear.
The model card path and data-set folders are stored as they are: they name
a model and a folder of class sub-folders, not a patient. Budgets are stored
as text in [0, 1] units (``2/255``), never as native values of a study.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings

SETTINGS_ORG, SETTINGS_APP = "MedAdv", "MedAdv Desktop"
MAX_RECENT = 10
STATE_VERSION = 3

KEY_RECENT = "recent_files"
KEY_GEOMETRY, KEY_STATE = "window/geometry", "window/state"
KEY_OPACITY = "viewer/heatmap_opacity"
KEY_ATTACK = "attack/panel"              # JSON of AttackPanel.settings_state()
KEY_DATASET = "attack/dataset_folder"
KEY_TRAINING_DATA = "training/dataset_folder"
KEY_EXPORT_DIR = "export/folder"
KEY_LAST_MODEL = "model/last_card"


def make_settings() -> QSettings:
    return QSettings(SETTINGS_ORG, SETTINGS_APP)


class SettingsStore:
    """Typed access to the application's QSettings (one place for every key)."""

    def __init__(self, settings: QSettings | None = None) -> None:
        self.qsettings = settings if settings is not None else make_settings()

    # -- plain values -----------------------------------------------------------------
    def text(self, key: str, default: str = "") -> str:
        value = self.qsettings.value(key)
        return str(value) if value not in (None, "") else default

    def set_text(self, key: str, value: str | None) -> None:
        self.qsettings.setValue(key, value or "")

    def json(self, key: str) -> dict[str, Any]:
        try:
            value = json.loads(self.text(key, "{}"))
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    def set_json(self, key: str, value: dict[str, Any]) -> None:
        self.qsettings.setValue(key, json.dumps(value, sort_keys=True))

    def bytes(self, key: str) -> QByteArray | None:
        value = self.qsettings.value(key)
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def set_value(self, key: str, value: Any) -> None:
        self.qsettings.setValue(key, value)

    def int(self, key: str, default: int) -> int:
        try:
            return int(self.qsettings.value(key, default))
        except (TypeError, ValueError):
            return default

    def sync(self) -> None:
        self.qsettings.sync()

    # -- recent files -----------------------------------------------------------------
    def recent_files(self) -> list[str]:
        value = self.qsettings.value(KEY_RECENT, [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def add_recent(self, path: str | Path) -> None:
        path = str(Path(path).resolve())
        recent = [p for p in self.recent_files() if p != path]
        recent.insert(0, path)
        self.qsettings.setValue(KEY_RECENT, recent[:MAX_RECENT])

    def clear_recent(self) -> None:
        self.qsettings.setValue(KEY_RECENT, [])

    def last_dir(self) -> str:
        recent = self.recent_files()
        return str(Path(recent[0]).parent) if recent else str(Path.home())

    # -- the last model ------------------------------------------------------------------
    def last_model(self) -> str | None:
        """The last model card loaded, if it still exists."""
        path = self.text(KEY_LAST_MODEL)
        return path if path and Path(path).is_file() else None
