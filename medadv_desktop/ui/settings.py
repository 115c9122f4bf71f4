"""What MedAdv Desktop remembers between launches (QSettings), and what it deliberately does not.

Kept: window geometry and dock layout, the heatmap opacity, the Attack
panel (chosen and ticked attacks, every attack's parameters, scope, eps
grid, max samples, per-attack rows), the data-set folders of the Attack and
Training panels, the last export folder, and the last model card loaded.

De-identification (issue 14): a study's own path never enters these
settings by default. Folder and file names often carry a patient's name, so
the recent-files list (File ▸ Open Recent) is kept for the session only, in
memory, and shown by de-identified label (the pseudonym of the study it
opened). Only the explicit opt-in File ▸ Open Recent ▸ "Remember recent
study paths between launches (may contain patient names)" stores the paths;
turning it off removes them from the settings file at once, and a list left
by an older version is removed at start-up. Qt's own file dialog records the
last folder in Qt's shared settings file; that record is removed after each
study dialog and at exit (:func:`forget_file_dialog_history`). The model card path and data-set folders are stored as they are: they name
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
KEY_REMEMBER_RECENT = "privacy/remember_recent_paths"    # opt-in; off by default
KEY_GEOMETRY, KEY_STATE = "window/geometry", "window/state"
KEY_OPACITY = "viewer/heatmap_opacity"
KEY_ATTACK = "attack/panel"              # JSON of AttackPanel.settings_state()
KEY_DATASET = "attack/dataset_folder"
KEY_TRAINING_DATA = "training/dataset_folder"
KEY_EXPORT_DIR = "export/folder"
KEY_LAST_MODEL = "model/last_card"


def make_settings() -> QSettings:
    return QSettings(SETTINGS_ORG, SETTINGS_APP)


def forget_file_dialog_history() -> None:
    """Remove the folders Qt's own file dialog records (``FileDialog/history`` and ``lastVisited`` in
    Qt's shared settings file, ``~/.config/QtProject.conf`` on Linux): every QFileDialog writes the
    folder it was left in there, which for a study is a path that can carry a patient's name."""
    qt = QSettings(QSettings.UserScope, "QtProject")
    if qt.contains("FileDialog/history") or qt.contains("FileDialog/lastVisited"):
        qt.remove("FileDialog/history")
        qt.remove("FileDialog/lastVisited")
        qt.sync()


class SettingsStore:
    """Typed access to the application's QSettings (one place for every key)."""

    def __init__(self, settings: QSettings | None = None) -> None:
        self.qsettings = settings if settings is not None else make_settings()
        self._recent: list[str] | None = None          # the recent paths (read from disk only when opted in)
        self._labels: dict[str, str] | None = None     # path -> de-identified label, this session only

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
        if not self.remember_recent:
            forget_file_dialog_history()

    def after_study_dialog(self) -> None:
        """Called after a file dialog that chose a study: Qt's record of its folder goes unless opted in."""
        if not self.remember_recent:
            forget_file_dialog_history()

    # -- recent files -----------------------------------------------------------------
    def _load_recent(self) -> None:
        """Read the persisted list once (only when the user opted in; otherwise remove any left there)."""
        if self._recent is not None:
            return
        self._recent, self._labels = [], {}
        if self.remember_recent:
            value = self.qsettings.value(KEY_RECENT, [])
            if isinstance(value, str):
                value = [value]
            self._recent = [str(v) for v in (value or []) if str(v)][:MAX_RECENT]
        elif self.qsettings.contains(KEY_RECENT):
            self.qsettings.remove(KEY_RECENT)          # paths stored by an older version
            self.qsettings.sync()

    @property
    def remember_recent(self) -> bool:
        """True only when the user opted in to keeping study paths between launches."""
        # stored as text ("true"/"false"), read the same way from INI and native settings files
        return str(self.qsettings.value(KEY_REMEMBER_RECENT) or "").strip().lower() in ("true", "1")

    def set_remember_recent(self, on: bool) -> None:
        """Opt in (store the session's list now) or out (remove every stored path now)."""
        self._load_recent()
        self.qsettings.setValue(KEY_REMEMBER_RECENT, "true" if on else "false")
        if on:
            self.qsettings.setValue(KEY_RECENT, list(self._recent or []))
        else:
            self.qsettings.remove(KEY_RECENT)
        self.qsettings.sync()

    def recent_files(self) -> list[str]:
        self._load_recent()
        return list(self._recent or [])

    def add_recent(self, path: str | Path) -> None:
        self._load_recent()
        path = str(Path(path).resolve())
        recent = [p for p in (self._recent or []) if p != path]
        recent.insert(0, path)
        self._recent = recent[:MAX_RECENT]
        if self.remember_recent:
            self.qsettings.setValue(KEY_RECENT, self._recent)

    def recent_label(self, path: str) -> str | None:
        """The de-identified label of a recent path (the pseudonyms it opened), if known this session."""
        return (self._labels or {}).get(path)

    def set_recent_label(self, path: str | Path, label: str) -> None:
        """Remember (in memory only) how to show ``path`` without its name."""
        if self._labels is None:
            self._labels = {}
        self._labels[str(Path(path).resolve())] = label

    def clear_recent(self) -> None:
        self._recent, self._labels = [], {}
        self.qsettings.remove(KEY_RECENT)

    def last_dir(self) -> str:
        recent = self.recent_files()
        return str(Path(recent[0]).parent) if recent else str(Path.home())

    # -- the last model ------------------------------------------------------------------
    def last_model(self) -> str | None:
        """The last model card loaded, if it still exists."""
        path = self.text(KEY_LAST_MODEL)
        return path if path and Path(path).is_file() else None
