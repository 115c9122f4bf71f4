"""Action ids as constants and the one factory that builds every QAction.

Menus, the toolbar and tests refer to actions by these ids
(``window.actions[ActionId.OPEN_FILE].trigger()``), never by their text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget


class ActionId:
    OPEN_FILE = "file.open_file"
    OPEN_FOLDER = "file.open_folder"
    OPEN_DEMO = "file.open_demo"
    CLEAR_RECENT = "file.clear_recent"
    REMEMBER_RECENT = "file.remember_recent"
    LOAD_MODEL = "model.load_card"
    CREATE_CARD = "model.create_card"
    ADVERSARIAL_TRAINING = "model.adversarial_training"
    EXPORT_REPORT = "file.export_report"
    REPORT_SIGNOFF = "file.report_signoff"
    QUIT = "file.quit"
    RUN_ATTACK = "attack.run"
    CANCEL_JOB = "attack.cancel"
    VIEW_ORIGINAL = "view.original"
    VIEW_ADVERSARIAL = "view.adversarial"
    VIEW_DIFFERENCE = "view.difference"
    VIEW_SIDE_BY_SIDE = "view.side_by_side"
    TOGGLE_HEATMAP = "view.heatmap"
    RESET_VIEW = "view.reset"
    NEXT_SLICE = "view.next_slice"
    PREV_SLICE = "view.prev_slice"
    RESET_LAYOUT = "view.reset_layout"
    ABOUT = "help.about"
    SHORTCUTS = "help.shortcuts"


@dataclass(frozen=True)
class ActionSpec:
    text: str
    shortcut: str | QKeySequence.StandardKey | None = None
    tip: str = ""
    checkable: bool = False


#: Text, shortcut and tooltip of every action, in one place.
ACTION_SPECS: dict[str, ActionSpec] = {
    ActionId.OPEN_FILE: ActionSpec("&Open File…", QKeySequence.Open, "Open a DICOM, NIfTI or image file"),
    ActionId.OPEN_FOLDER: ActionSpec("Open &Folder…", "Ctrl+Shift+O", "Open a folder of DICOM series or images"),
    ActionId.OPEN_DEMO: ActionSpec("Open &Demo", "Ctrl+D", "Open the bundled synthetic demo study and model"),
    ActionId.CLEAR_RECENT: ActionSpec("Clear Recent", None, "Forget the recent files list"),
    ActionId.REMEMBER_RECENT: ActionSpec("Remember recent study paths between launches (may contain patient names)",
                                         None, "Off (the default): the recent list lasts for this session only and "
                                         "shows pseudonyms; on: study paths are stored in the settings file",
                                         True),
    ActionId.LOAD_MODEL: ActionSpec("Load &Model Card…", "Ctrl+M", "Load a model card (JSON beside the weights)"),
    ActionId.CREATE_CARD: ActionSpec("&Create Card from Weights…", None, "Write a model card for a weights file"),
    ActionId.ADVERSARIAL_TRAINING: ActionSpec("Adversarial &Training…", "Ctrl+T",
                                              "Harden the model by adversarial training and re-test it before/after"),
    ActionId.EXPORT_REPORT: ActionSpec("&Export Result…", "Ctrl+E",
                                       "Export the current result: an attacked study (adversarial study, perturbation "
                                       "map, summary), an evaluation or a before/after table (PDF / CSV / JSON)"),
    ActionId.REPORT_SIGNOFF: ActionSpec("Report &Sign-off…", None,
                                        "Requester, approver and purpose printed in the exported reports"),
    ActionId.QUIT: ActionSpec("&Quit", QKeySequence.Quit, "Quit MedAdv Desktop"),
    ActionId.RUN_ATTACK: ActionSpec("&Run Attack", "Ctrl+R", "Run the configured attack"),
    ActionId.CANCEL_JOB: ActionSpec("&Cancel Job", "Ctrl+.", "Cancel the running job"),
    ActionId.VIEW_ORIGINAL: ActionSpec("&Original", "Ctrl+1", "Show the original image", True),
    ActionId.VIEW_ADVERSARIAL: ActionSpec("&Adversarial", "Ctrl+2", "Show the adversarial image", True),
    ActionId.VIEW_DIFFERENCE: ActionSpec("&Difference", "Ctrl+3", "Show adversarial − original", True),
    ActionId.VIEW_SIDE_BY_SIDE: ActionSpec("&Side by Side", "Ctrl+4", "Original, adversarial and difference side by side",
                                           True),
    ActionId.TOGGLE_HEATMAP: ActionSpec("Perturbation &Overlay", "H",
                                            "Opt-in overlay of |perturbation| in native units (none for a "
                                            "uniform L∞ perturbation: see the signed difference)", True),
    ActionId.RESET_VIEW: ActionSpec("&Fit to Window", "F", "Reset zoom and pan"),
    ActionId.NEXT_SLICE: ActionSpec("Next Slice", "PgDown", "Next slice"),
    ActionId.PREV_SLICE: ActionSpec("Previous Slice", "PgUp", "Previous slice"),
    ActionId.RESET_LAYOUT: ActionSpec("Reset &Layout", None, "Restore the default panel layout"),
    ActionId.ABOUT: ActionSpec("&About MedAdv Desktop", None, "Version and intended use"),
    ActionId.SHORTCUTS: ActionSpec("&Keyboard Shortcuts", "F1", "The viewer's keys and every shortcut"),
}


def create_action(parent: QWidget, action_id: str, slot: Callable | None = None) -> QAction:
    """Build the QAction for ``action_id`` from :data:`ACTION_SPECS`."""
    spec = ACTION_SPECS[action_id]
    action = QAction(spec.text, parent)
    action.setObjectName(action_id)
    if spec.shortcut is not None:
        action.setShortcut(QKeySequence(spec.shortcut))
    tip = spec.tip
    if spec.shortcut is not None:
        tip = f"{tip} ({action.shortcut().toString(QKeySequence.NativeText)})"
    action.setToolTip(tip)
    action.setStatusTip(spec.tip)
    action.setCheckable(spec.checkable)
    if slot is not None:
        if spec.checkable:
            action.toggled.connect(slot)
        else:
            action.triggered.connect(lambda _checked=False: slot())
    return action
