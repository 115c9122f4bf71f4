"""What the modality guard recorded about a run (see :mod:`medadv_desktop.engine.models.guard`)."""

from __future__ import annotations

from dataclasses import dataclass

#: Warning codes, one per rule of the guard.
MODALITY_MISMATCH = "modality_mismatch"
BODY_PART_MISMATCH = "body_part_mismatch"
UNITS_MISMATCH = "units_mismatch"


@dataclass
class ModalityWarning:
    """The study (or some studies of a data set) differ from what the model was trained for.

    ``code``: :data:`MODALITY_MISMATCH`, :data:`BODY_PART_MISMATCH` or
    :data:`UNITS_MISMATCH`; ``message``: one line for the CLI, the GUI and
    reports (no PHI); ``expected``: what the model card states (``"CT"``,
    ``"HEAD"``, ``"HU"``); ``found``: what the study has (``"MR"``, ``"CHEST"``,
    ``""`` for no units); ``n_studies`` of ``n_total`` studies are concerned.
    """

    code: str
    message: str
    expected: str
    found: str
    n_studies: int = 1
    n_total: int = 1
