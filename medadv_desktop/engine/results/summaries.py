"""Typed summaries a result carries about what was run: the model, the data set,
the attacks (with their own label, access and description) and the run's provenance.

They are filled where the result is made (``engine/evaluation``) from the
model card, the data set and the Attack classes, so every reader (PDF, CSV,
JSON, CLI, GUI) shows the same names without a copy of its own. No torch, no
paths: everything here is safe to write into a report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

#: How an attack reaches the model: through gradients (white box) or its outputs only (black box).
Access = Literal["white-box", "black-box", ""]
WHITE_BOX: Access = "white-box"
BLACK_BOX: Access = "black-box"


@dataclass
class IntensitySummary:
    """The model card's intensity mapping (native units -> [0, 1]) as recorded in a result.

    ``mode`` "window": fixed ``center``/``width`` in native units (one [0, 1]
    unit = ``width`` native units); "minmax" / "percentile" (``low``/``high``
    percentiles): per image.
    """

    mode: str = "minmax"
    center: float | None = None
    width: float | None = None
    low: float | None = None
    high: float | None = None

    def native_per_unit(self) -> float | None:
        """Native units per [0, 1] image unit: the window width; None for per-image mappings."""
        return float(self.width) if self.mode == "window" and self.width else None


@dataclass
class ModelSummary:
    """The model card without paths: what a report says about the model under test.

    A bare ``torch.nn.Module`` without a card has only ``name`` (its class),
    ``format == "module"`` and ``parameters``. ``synthetic`` is the card's own
    flag (MedAdv's demo model sets it).
    """

    name: str = "model"
    format: str = ""
    architecture: str = ""
    weights: str = ""                  # the weights file name, relative to the card
    in_chans: int | None = None
    num_classes: int | None = None
    class_names: list[str] = field(default_factory=list)
    input_size: list[int] = field(default_factory=list)
    output: str = ""
    intensity: IntensitySummary | None = None
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)
    sha256: str | None = None
    intended_use: str = ""
    modality: str | None = None        # the DICOM modality the model was trained on ("CT"), when the card states it
    body_part: str | None = None       # the body part (BodyPartExamined term), when the card states it
    intensity_description: str = ""
    parent_sha256: str | None = None   # hardened models: the model it was trained from
    parameters: int | None = None      # bare modules: number of parameters
    synthetic: bool = False


@dataclass
class DatasetSummary:
    """The evaluated data set, de-identified: a pseudonymous name and counts, never paths."""

    name: str = "dataset"
    n_samples: int = 0
    n_studies: int | None = None
    n_failures: int | None = None
    counts: dict[str, int] = field(default_factory=dict)   # images per class name
    synthetic: bool = False            # made by MedAdv's demo generator
    fingerprint: str | None = None     # SHA-256 of the evaluated samples' content and labels (LabelledDataset.fingerprint)


@dataclass
class AttackInfo:
    """One attack of a run as its result carries it, taken from the Attack class at run time.

    ``attack`` is the key its rows and samples carry (``AttackRow.attack``):
    the registry ``name``, with ``-2``, ``-3``... when a run holds the same
    attack more than once. ``label`` and ``description`` are the class's own
    (``Attack.label``, ``Attack.description``); ``access`` is "white-box"
    (gradients) or "black-box" (outputs only) for the parameters used;
    ``params`` are the parameters it ran with (the budget eps is the result's
    eps grid and not repeated here).
    """

    attack: str
    name: str = ""
    label: str = ""
    access: Access = ""
    description: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def black_box(self) -> bool:
        return self.access == BLACK_BOX

    @property
    def title(self) -> str:
        """The label to show: the class's label (numbered when the run holds the attack twice)."""
        if not self.label:
            return self.attack
        suffix = self.attack[len(self.name):] if self.name and self.attack.startswith(self.name) else ""
        return f"{self.label} ({suffix.lstrip('-')})" if suffix.lstrip("-").isdigit() else self.label

    @classmethod
    def from_attack(cls, attack_class: Any, key: str, params: dict[str, Any], *, black_box: bool) -> AttackInfo:
        """Describe ``attack_class`` (an :class:`~medadv_desktop.engine.attacks.base.Attack`
        subclass) run under ``key`` with ``params``."""
        return cls(attack=key, name=str(attack_class.name), label=str(attack_class.label or attack_class.name),
                   access=BLACK_BOX if black_box else WHITE_BOX, description=str(attack_class.description or ""),
                   params={k: v for k, v in params.items() if k != "eps"})


#: ``lookup(name) -> (label, description)`` or None: where a reader finds what an old file did not record.
AttackLookup = Callable[[str], "tuple[str, str] | None"]


def complete_attack_info(infos: list[AttackInfo], lookup: AttackLookup) -> list[AttackInfo]:
    """Fill the label and description of attacks recorded without them (files of the first
    release recorded only names) from ``lookup``; attacks it does not know keep their name."""
    for info in infos:
        if info.label and info.description:
            continue
        found = lookup(info.name or info.attack)
        if found is not None:
            info.label = info.label or found[0]
            info.description = info.description or found[1]
    return infos


@dataclass
class Provenance:
    """How a result was made: software versions, device, seed, date, run options, threat model."""

    software: dict[str, str] = field(default_factory=dict)   # package -> version
    device: str = ""
    seed: int | None = None
    date_utc: str = ""                 # ISO 8601, UTC
    norm: str = ""
    batch_size: int | None = None
    cascade: bool | None = None        # a sample fooled at a smaller eps counts as fooled at the larger ones
    full_rows: bool | None = None      # True: every attack on every sample; False: the attack cascade
    elapsed_s: float | None = None
    torch_threads: int | None = None
    model_name: str = ""
    model_sha256: str | None = None
    threat_model: str = ""
    suite: dict[str, Any] | None = None   # the named attack suite that ran (attacks.spec.Suite.describe())
