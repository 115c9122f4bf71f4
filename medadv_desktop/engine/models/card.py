"""Model cards: the JSON file beside the weights that says how to use them.

Model card schema (``model_card.json``; copied to README "Model card")
-------------------------------------------------------------------

    {
      "name": "Demo EfficientNet-B0 (synthetic lesion)",
      "format": "timm",                      # "timm" or "torchscript"
      "architecture": "efficientnet_b0",     # timm model name; required for format "timm"
      "weights": "model.safetensors",        # path relative to the card
      "in_chans": 1,                         # 1 (grayscale) or 3 (RGB) channels the network takes
      "num_classes": 2,                      # outputs of the network (1 when output is "sigmoid")
      "class_names": ["no_finding", "lesion"],
      "input_size": [128, 128],              # [H, W] the network expects; [D, H, W] for a 3-D TorchScript model
      "output": "logits",                    # "logits" (K outputs, softmax) or "sigmoid" (one logit)
      "intensity": {"mode": "window", "center": 40, "width": 400},
      "mean": [0.5], "std": [0.5],           # normalisation after mapping to [0, 1]: (x - mean) / std
      "sha256": "...",                       # optional: SHA-256 of the weights file (checked on load)
      "intended_use": "free text",
      "modality": "CT",                      # optional: the modality the model was trained for
      "body_part": "HEAD",                   # optional: the body part (DICOM BodyPartExamined term)
      "synthetic": false,                    # optional: true for MedAdv's synthetic demo model only
      "provenance": {}                       # optional, e.g. the adversarial training record
    }

Fields:

- ``name`` (text, required, non-empty).
- ``format`` (required): ``timm`` builds ``architecture`` with
  ``timm.create_model(architecture, in_chans=in_chans, num_classes=num_classes)``
  and loads a state dict into it; ``torchscript`` loads a whole scripted or
  traced model with ``torch.jit.load``.
- ``weights`` (required): for ``timm`` a ``.safetensors`` file (preferred;
  fp16 is fine, it is cast to fp32) or a ``.pt``/``.pth`` state dict read with
  ``torch.load(weights_only=True)`` (a dict wrapped as ``{"state_dict": ...}``
  or ``{"model": ...}`` and a ``module.`` prefix are accepted). For
  ``torchscript`` a TorchScript archive. Files that would unpickle arbitrary
  Python objects are refused.
- ``in_chans``: 1 or 3 (default 1). Images with the other channel count are
  adapted inside the wrapper: grey -> RGB by repetition, RGB -> grey by
  ITU-R BT.601 luminance ``0.299 R + 0.587 G + 0.114 B``.
- ``num_classes`` (required): at least 2 for ``logits``; exactly 1 for
  ``sigmoid`` (the engine then treats the model as two classes with logits
  ``[0, z]``, so softmax gives ``[1 - sigmoid(z), sigmoid(z)]``).
- ``class_names`` (required): ``num_classes`` distinct names (2 for a sigmoid
  model: negative class first). In a labelled data set folder the class
  sub-folders carry these names.
- ``weights`` must name a file in the card's folder or below it: an absolute
  path, a ``..`` component or a symbolic link that leads out of the folder is
  refused (a card must not make MedAdv open ``/etc/shadow``), unless the caller
  passes ``allow_outside_card_dir=True`` (CLI: ``--allow-outside-card-dir``).
- ``num_classes``: at most 1000.
- ``input_size`` (required): ``[H, W]`` with 8 <= H, W <= 1024, or
  ``[D, H, W]`` (torchscript only; 1 <= D <= 1024, 8 <= H, W <= 1024, at most
  16,777,216 voxels, e.g. 256 x 256 x 256). Images at any other size are
  resized (bi/trilinearly) inside the differentiable wrapper, so attacks work
  at the study's own resolution.
- ``intensity`` (default ``{"mode": "minmax"}``): how native pixel values
  (HU for CT) become the [0, 1] image the model and the attacks see:
  ``{"mode": "window", "center": C, "width": W}`` maps ``C - W/2 .. C + W/2``
  to 0..1 (clipped; one [0, 1] unit = ``W`` native units; ``C`` and ``W``
  finite, ``|C| <= 1e7``, ``1e-6 <= W <= 1e7``);
  ``{"mode": "minmax"}`` maps each image's min..max to 0..1;
  ``{"mode": "percentile", "low": 0.5, "high": 99.5}`` maps each image's
  percentiles to 0..1 (clipped);
  ``{"mode": "uint8"}`` maps 8-bit pixel values 0..255 to 0..1 exactly
  (``value / 255``, the usual ``ToTensor`` of a PNG/JPEG; one [0, 1] unit =
  255 grey levels, so ``--eps 2`` in native units is 2 grey levels). Use it for
  8-bit images: ``minmax`` stretches each image's own range instead.
- ``mean`` / ``std`` (default ``[0.5]`` / ``[0.5]``): lists of 1 or
  ``in_chans`` finite numbers, ``|mean| <= 1000``, ``1e-6 <= std <= 1000``.
- ``sha256`` (optional): 64 hexadecimal characters; when present, loading
  refuses weights whose hash differs.
- ``intended_use`` (text), ``provenance`` (object): free information carried
  into reports.
- ``modality`` (optional): the DICOM modality code the model was trained on
  (``CT``, ``MR``, ``CR``, ``DX``, ``US``, ...; ``MRI`` and ``PET`` are read as
  ``MR`` and ``PT``). Before an attack or an evaluation the modality guard
  (:mod:`medadv_desktop.engine.models.guard`) compares it with the study's and
  warns on a mismatch.
- ``body_part`` (optional): the body part (a DICOM BodyPartExamined term such
  as ``HEAD``, ``CHEST``; letters, digits, spaces, ``_``, at most 64
  characters, stored upper case); the guard warns when a study states another.
- ``synthetic`` (optional, default false): the model was made for MedAdv's
  synthetic demo task; the GUI and the reports then say "synthetic demo task,
  not for clinical use". Hardened copies keep the flag.

Every validation error is a :class:`ModelCardError` that names the field, in
one line. The card file itself is read defensively: at most 1 MiB, a regular
file (never a FIFO or device), JSON nested at most 64 levels, integers of at
most 100 digits (a 5000-digit ``num_classes`` is reported as such, not as a
crash), ``NaN``/``Infinity`` refused wherever a number matters.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medadv_desktop.errors import ModelCardError

FORMATS = ("timm", "torchscript")
MAX_SIDE = 1024                 # pixels per side of a model input
MAX_VOXELS = 1 << 24            # voxels of a 3-D model input (256 x 256 x 256)
MAX_CLASSES = 1000
MAX_WINDOW = 1e7                # |centre| and width of a window, native units
MIN_WIDTH = 1e-6
MAX_MEAN = 1e3
MIN_STD, MAX_STD = 1e-6, 1e3
MAX_CARD_BYTES = 1 << 20
MAX_JSON_DEPTH = 64
MAX_INT_DIGITS = 100
MAX_TEXT = 20000                # characters of free text (name, intended_use)
OUTPUTS = ("logits", "sigmoid")
INTENSITY_MODES = ("window", "minmax", "percentile", "uint8")
#: the fixed native range of the "uint8" mode (8-bit grey levels)
UINT8_RANGE = (0.0, 255.0)


class _HugeInt:
    """An integer literal too long to be a card value (parsed without converting it)."""

    def __init__(self, digits: int) -> None:
        self.digits = digits

    def __repr__(self) -> str:
        return f"a {self.digits}-digit number"


def _parse_int(text: str) -> int | _HugeInt:
    digits = len(text.lstrip("-"))
    return _HugeInt(digits) if digits > MAX_INT_DIGITS else int(text)


def _number(value: Any) -> float:
    """A JSON number as a float; TypeError for anything else (bools, strings, huge literals)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("not a number")
    return float(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _show(value: Any, limit: int = 60) -> str:
    """A short, one-line rendering of a card value for an error message."""
    try:
        text = repr(value)
    except Exception:  # pragma: no cover
        text = f"<{type(value).__name__}>"
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _json_depth_problem(text: str) -> tuple[int, str | None] | None:
    """(depth, top-level key) where ``text`` nests deeper than MAX_JSON_DEPTH, else None.

    A linear scan outside strings, so it never recurses however deep the text nests.
    """
    depth = 0
    in_string = escape = False
    start = 0
    last_key: str | None = None
    for i, ch in enumerate(text):
        if in_string:
            if escape:
                escape = False
            elif ch == "\\":
                escape = True
            elif ch == '"':
                in_string = False
                if depth == 1:
                    last_key = text[start:i]
            continue
        if ch == '"':
            in_string, start = True, i + 1
        elif ch in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return depth, last_key
        elif ch in "]}":
            depth -= 1
    return None


def _weights_problem(weights: str) -> str | None:
    """Why ``weights`` cannot be confined to the card's folder by its spelling alone (None if it can)."""
    from pathlib import PureWindowsPath

    if Path(weights).is_absolute() or PureWindowsPath(weights).drive or weights.startswith(("/", "\\")):
        return "is an absolute path"
    if ".." in weights.replace("\\", "/").split("/"):
        return "climbs out of the card's folder with '..'"
    return None


@dataclass(frozen=True)
class IntensityMapping:
    """Native units -> [0, 1] image the attacks perturb.

    ``window``: fixed centre/width in native units (HU for CT): the mapping is
    the same for every image, so an eps in [0, 1] is ``eps * width`` native units.
    ``minmax`` / ``percentile``: per image; the native size of one [0, 1] unit
    is that image's (high - low), reported per study.
    ``uint8``: fixed 0..255 -> 0..1 (``value / 255``, exact for 8-bit images).
    """

    mode: str = "minmax"
    center: float | None = None
    width: float | None = None
    low: float = 0.5      # percentiles, mode "percentile"
    high: float = 99.5

    def _window(self) -> tuple[float, float]:
        """(centre, width) of a window mapping; :meth:`from_dict` has checked both."""
        if self.center is None or self.width is None:
            raise ModelCardError("a window needs numeric 'center' and 'width' in native units (HU for CT)",
                                 field="intensity")
        return float(self.center), float(self.width)

    def bounds(self, native: np.ndarray) -> tuple[float, float]:
        """(low, high) native values mapped to 0 and 1 for this image."""
        if self.mode == "window":
            center, width = self._window()
            return center - width / 2, center + width / 2
        if self.mode == "uint8":
            return UINT8_RANGE
        finite = native[np.isfinite(native)]
        if finite.size == 0:
            return 0.0, 1.0
        if self.mode == "minmax":
            lo, hi = float(finite.min()), float(finite.max())
        else:
            lo, hi = (float(v) for v in np.percentile(finite, [self.low, self.high]))
        if hi <= lo:
            hi = lo + 1.0
        return lo, hi

    def to_unit(self, native: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
        """Map native values to float32 [0, 1]; returns the image and its bounds."""
        lo, hi = self.bounds(native)
        unit = (native.astype(np.float32) - lo) / (hi - lo)
        return np.clip(np.nan_to_num(unit, nan=0.0), 0.0, 1.0).astype(np.float32), (lo, hi)

    @staticmethod
    def to_native(unit: np.ndarray, bounds: tuple[float, float]) -> np.ndarray:
        lo, hi = bounds
        return (unit.astype(np.float32) * (hi - lo) + lo).astype(np.float32)

    def fixed_window(self) -> tuple[float, float] | None:
        """(low, high) native values of a fixed window mapping (the same for every image), else None."""
        if self.mode != "window" or not self.width:
            return None
        center, width = self._window()
        return (center - width / 2, center + width / 2)

    def native_per_unit(self, native: np.ndarray | None = None) -> float | None:
        """Native units per [0, 1] unit (e.g. 400 HU for a 400-wide window)."""
        if self.mode == "window":
            return self._window()[1]
        if self.mode == "uint8":
            return UINT8_RANGE[1] - UINT8_RANGE[0]
        if native is None:
            return None
        lo, hi = self.bounds(native)
        return hi - lo

    def describe(self) -> str:
        if self.mode == "window":
            return f"window C {self.center:g} / W {self.width:g}"
        if self.mode == "percentile":
            return f"percentiles {self.low:g}-{self.high:g} per image"
        if self.mode == "uint8":
            return "8-bit 0-255 (value / 255)"
        return "min-max per image"

    @classmethod
    def from_dict(cls, d: Any, path: Path | None = None) -> IntensityMapping:
        if not isinstance(d, dict):
            raise ModelCardError("must be an object such as {\"mode\": \"minmax\"}", path=path, field="intensity")
        mode = d.get("mode", "minmax")
        if not isinstance(mode, str) or mode not in INTENSITY_MODES:
            raise ModelCardError(f"mode {_show(mode)} is not one of {', '.join(INTENSITY_MODES)}", path=path, field="intensity.mode")
        if mode == "window":
            try:
                center, width = _number(d["center"]), _number(d["width"])
            except (KeyError, TypeError, ValueError, OverflowError):
                raise ModelCardError("a window needs numeric 'center' and 'width' in native units (HU for CT)", path=path, field="intensity") from None
            if not (math.isfinite(center) and abs(center) <= MAX_WINDOW):
                raise ModelCardError(f"window centre must be a finite number from {-MAX_WINDOW:g} to {MAX_WINDOW:g} "
                                     f"(native units), got {center:g}", path=path, field="intensity.center")
            if not (math.isfinite(width) and MIN_WIDTH <= width <= MAX_WINDOW):
                raise ModelCardError(f"window width must be positive, from {MIN_WIDTH:g} to {MAX_WINDOW:g} "
                                     f"(native units), got {width:g}", path=path, field="intensity.width")
            return cls(mode, center, width)
        if mode == "percentile":
            try:
                low, high = _number(d.get("low", 0.5)), _number(d.get("high", 99.5))
            except (TypeError, ValueError, OverflowError):
                raise ModelCardError("percentile 'low' and 'high' must be numbers from 0 to 100", path=path, field="intensity") from None
            if not 0 <= low < high <= 100:
                raise ModelCardError("percentiles need 0 <= low < high <= 100", path=path, field="intensity")
            return cls(mode, low=low, high=high)
        if mode == "uint8":
            return cls("uint8")
        return cls("minmax")

    def to_dict(self) -> dict[str, Any]:
        if self.mode == "window":
            return {"mode": "window", "center": self.center, "width": self.width}
        if self.mode == "percentile":
            return {"mode": "percentile", "low": self.low, "high": self.high}
        if self.mode == "uint8":
            return {"mode": "uint8"}
        return {"mode": "minmax"}


@dataclass
class ModelCard:
    name: str
    format: str
    weights: str
    num_classes: int
    class_names: list[str]
    input_size: tuple[int, ...]       # (H, W) for 2-D models, (D, H, W) for 3-D TorchScript models
    in_chans: int = 1
    architecture: str = ""
    output: str = "logits"
    intensity: IntensityMapping = field(default_factory=IntensityMapping)
    mean: list[float] = field(default_factory=lambda: [0.5])
    std: list[float] = field(default_factory=lambda: [0.5])
    sha256: str | None = None
    intended_use: str = ""
    provenance: dict[str, Any] = field(default_factory=dict)
    modality: str | None = None       # DICOM modality code the model was trained on ("CT"), None: not stated
    body_part: str | None = None      # BodyPartExamined term ("HEAD"), None: not stated
    synthetic: bool = False           # MedAdv's synthetic demo model (not for clinical use)
    path: Path | None = None          # where the card was read from (not serialised)
    allow_outside_card_dir: bool = field(default=False, compare=False)   # explicit opt-in (not serialised)

    @property
    def weights_path(self) -> Path:
        """The weights file, confined to the card's folder (see :meth:`resolve_weights`)."""
        return self.resolve_weights()

    def resolve_weights(self, *, allow_outside_card_dir: bool | None = None) -> Path:
        """The absolute weights path; refuses one outside the card's folder.

        The card's folder is ``path.parent`` (the working folder for a card
        built in memory). Refused with a :class:`ModelCardError` on field
        ``weights``: an absolute path, a ``..`` component, or a path that
        resolves (following symbolic links) outside the folder, unless
        ``allow_outside_card_dir`` (default: the card's own flag, set by
        ``ModelCard.load(..., allow_outside_card_dir=True)``).
        """
        allow = self.allow_outside_card_dir if allow_outside_card_dir is None else allow_outside_card_dir
        base = self.path.parent if self.path else Path.cwd()
        hint = ("Put the weights in the card's folder, or allow this card explicitly "
                "(--allow-outside-card-dir) if you trust it.")
        problem = None if allow else _weights_problem(self.weights)
        if problem:
            raise ModelCardError(f"{_show(self.weights)} {problem}; the weights must sit in the card's folder "
                                 "or below it (or trust this card: --allow-outside-card-dir)",
                                 path=self.path, field="weights", hint=hint)
        try:
            resolved = (base / self.weights).resolve()
            base_resolved = base.resolve()
        except (OSError, RuntimeError, ValueError):   # a symbolic-link loop, a NUL character
            raise ModelCardError(f"{_show(self.weights)} cannot be resolved to a file (a symbolic-link loop "
                                 "or an invalid name)", path=self.path, field="weights") from None
        if not allow and not resolved.is_relative_to(base_resolved):
            raise ModelCardError(f"{_show(self.weights)} leads out of the card's folder through a symbolic link; "
                                 "the weights must sit in the card's folder or below it (or trust this card: "
                                 "--allow-outside-card-dir)",
                                 path=self.path, field="weights", hint=hint)
        return resolved

    @property
    def spatial_dims(self) -> int:
        """2 for image models (input N, C, H, W), 3 for volume models (N, C, D, H, W)."""
        return len(self.input_size)

    @property
    def n_outputs(self) -> int:
        """Classes as the engine sees them (a sigmoid model counts as two)."""
        return 2 if self.output == "sigmoid" else self.num_classes

    def to_dict(self) -> dict[str, Any]:
        d = {
            "name": self.name, "format": self.format, "architecture": self.architecture,
            "weights": self.weights, "in_chans": self.in_chans, "num_classes": self.num_classes,
            "class_names": list(self.class_names), "input_size": list(self.input_size),
            "output": self.output, "intensity": self.intensity.to_dict(),
            "mean": list(self.mean), "std": list(self.std), "sha256": self.sha256,
            "intended_use": self.intended_use,
        }
        if self.modality:
            d["modality"] = self.modality
        if self.body_part:
            d["body_part"] = self.body_part
        if self.synthetic:
            d["synthetic"] = True
        if self.provenance:
            d["provenance"] = self.provenance
        return d

    @classmethod
    def from_dict(cls, d: Any, path: Path | None = None, *, allow_outside_card_dir: bool = False) -> ModelCard:
        """Validate a card dictionary (every error a one-line :class:`ModelCardError` naming its field)."""
        if not isinstance(d, dict):
            raise ModelCardError("the card must be a JSON object", path=path)

        def need(key: str, kind, what: str):
            if key not in d:
                raise ModelCardError(f"is missing; it should be {what}", path=path, field=key)
            value = d[key]
            if kind is int and isinstance(value, bool) or not isinstance(value, kind):
                raise ModelCardError(f"should be {what}, got {_show(value)}", path=path, field=key)
            return value

        name = need("name", str, "a text name")
        fmt = need("format", str, "'timm' or 'torchscript'")
        if fmt not in FORMATS:
            raise ModelCardError(f"{_show(fmt)} is not one of {', '.join(FORMATS)}", path=path, field="format")
        weights = need("weights", str, "the weights file name, relative to the card")
        if not weights.strip():
            raise ModelCardError("is empty; it should name the weights file, relative to the card", path=path, field="weights")
        if "\x00" in weights or len(weights) > 4096:
            raise ModelCardError("is not a usable file name (a NUL character or over 4096 characters)",
                                 path=path, field="weights")
        if not name.strip():
            raise ModelCardError("is empty; give the model a name", path=path, field="name")
        if len(name) > 200:
            raise ModelCardError(f"is {len(name)} characters long; at most 200", path=path, field="name")
        arch = d.get("architecture", "")
        if fmt == "timm" and not (isinstance(arch, str) and arch):
            raise ModelCardError("is required for timm models (e.g. 'efficientnet_b0')", path=path, field="architecture")
        if not isinstance(arch, str) or len(arch) > 200:
            raise ModelCardError("should be a timm architecture name (text)", path=path, field="architecture")
        num_classes = need("num_classes", int, "a whole number of classes")
        if not 1 <= num_classes <= MAX_CLASSES:
            raise ModelCardError(f"should be from 1 to {MAX_CLASSES}, got {_show(num_classes)}", path=path,
                                 field="num_classes")
        output = d.get("output", "logits")
        if not isinstance(output, str) or output not in OUTPUTS:
            raise ModelCardError(f"{_show(output)} is not one of {', '.join(OUTPUTS)}", path=path, field="output")
        if output == "sigmoid" and num_classes != 1:
            raise ModelCardError("a 'sigmoid' model has exactly one output: set num_classes to 1", path=path, field="num_classes")
        if output == "logits" and num_classes < 2:
            raise ModelCardError("needs at least 2 classes (use output 'sigmoid' for a single-logit binary model)", path=path, field="num_classes")
        class_names = need("class_names", list, "a list of class names")
        n_names = 2 if output == "sigmoid" else num_classes
        if len(class_names) != n_names or not all(isinstance(c, str) and c for c in class_names):
            raise ModelCardError(f"needs {n_names} non-empty names, got {len(class_names)}", path=path, field="class_names")
        if any(len(c) > 200 for c in class_names):
            raise ModelCardError("class names must be at most 200 characters long", path=path, field="class_names")
        if len(set(class_names)) != len(class_names):
            raise ModelCardError("class names must all differ", path=path, field="class_names")
        size = need("input_size", list, "[height, width] (2-D) or [depth, height, width] (3-D) in pixels")
        if len(size) not in (2, 3) or not all(isinstance(v, int) and not isinstance(v, bool) for v in size):
            raise ModelCardError("should be [height, width] or [depth, height, width], whole numbers",
                                 path=path, field="input_size")
        if len(size) == 2 and not all(8 <= v <= MAX_SIDE for v in size):
            raise ModelCardError(f"height and width should be whole numbers from 8 to {MAX_SIDE}, got {_show(size)}",
                                 path=path, field="input_size")
        if len(size) == 3:
            if not (1 <= size[0] <= MAX_SIDE and all(8 <= v <= MAX_SIDE for v in size[1:])):
                raise ModelCardError(f"[depth, height, width] should be whole numbers: depth 1 to {MAX_SIDE}, "
                                     f"height and width 8 to {MAX_SIDE}", path=path, field="input_size")
            if size[0] * size[1] * size[2] > MAX_VOXELS:
                raise ModelCardError(f"{size[0]} x {size[1]} x {size[2]} voxels is more than {MAX_VOXELS:,} "
                                     "(e.g. 256 x 256 x 256)", path=path, field="input_size")
            if fmt != "torchscript":
                raise ModelCardError("a 3-D input size [depth, height, width] needs a 'torchscript' model; timm models are 2-D",
                                     path=path, field="input_size")
        in_chans = d.get("in_chans", 1)
        if isinstance(in_chans, bool) or in_chans not in (1, 3):
            raise ModelCardError("should be 1 (grayscale) or 3 (RGB)", path=path, field="in_chans")
        mean = d.get("mean", [0.5] * in_chans)
        std = d.get("std", [0.5] * in_chans)
        for key, vals in (("mean", mean), ("std", std)):
            if not isinstance(vals, list) or len(vals) not in (1, in_chans) or not all(_is_number(v) for v in vals):
                raise ModelCardError(f"should be a list of 1 or {in_chans} numbers", path=path, field=key)
            try:
                floats = [float(v) for v in vals]
            except OverflowError:
                raise ModelCardError("holds a number too large to use", path=path, field=key) from None
            if not all(math.isfinite(v) for v in floats):
                raise ModelCardError("values must be finite numbers (no NaN or Infinity)", path=path, field=key)
        if not all(abs(float(v)) <= MAX_MEAN for v in mean):
            raise ModelCardError(f"values must be from {-MAX_MEAN:g} to {MAX_MEAN:g}", path=path, field="mean")
        if not all(MIN_STD <= float(v) <= MAX_STD for v in std):
            raise ModelCardError(f"values must be positive, from {MIN_STD:g} to {MAX_STD:g}", path=path, field="std")
        sha = d.get("sha256")
        if sha is not None and not (isinstance(sha, str) and len(sha) == 64 and all(c in "0123456789abcdefABCDEF" for c in sha)):
            raise ModelCardError("should be 64 hexadecimal characters or absent", path=path, field="sha256")
        intensity = IntensityMapping.from_dict(d.get("intensity", {"mode": "minmax"}), path)
        intended_use = d.get("intended_use", "")
        if not isinstance(intended_use, str):
            raise ModelCardError("should be free text", path=path, field="intended_use")
        if len(intended_use) > MAX_TEXT:
            raise ModelCardError(f"is {len(intended_use)} characters long; at most {MAX_TEXT}", path=path,
                                 field="intended_use")
        synthetic = d.get("synthetic") or False    # absent or null: not synthetic
        if not isinstance(synthetic, bool):
            raise ModelCardError("should be true or false (or absent)", path=path, field="synthetic")
        provenance = d.get("provenance") or {}
        if not isinstance(provenance, dict):
            raise ModelCardError("should be an object (a JSON dictionary) or absent", path=path, field="provenance")
        modality, body_part = _modality_fields(d, path)
        return cls(
            name=name, format=fmt, weights=weights, num_classes=num_classes,
            class_names=list(class_names), input_size=tuple(size), in_chans=in_chans,
            architecture=arch or "", output=output, intensity=intensity,
            mean=[float(v) for v in mean], std=[float(v) for v in std],
            sha256=sha.lower() if sha else None, intended_use=intended_use,
            modality=modality, body_part=body_part,
            provenance=dict(provenance), synthetic=synthetic, path=path,
            allow_outside_card_dir=bool(allow_outside_card_dir),
        )

    @classmethod
    def load(cls, path: str | Path, *, allow_outside_card_dir: bool = False) -> ModelCard:
        """Read and validate a card file (or ``model_card.json`` in a folder).

        ``allow_outside_card_dir``: let the card's ``weights`` point outside
        its folder (an explicit opt-in; the default confines them).
        """
        path = Path(path)
        if path.is_dir():
            path = path / "model_card.json"
        data = _read_card_json(path)
        return cls.from_dict(data, path.resolve(), allow_outside_card_dir=allow_outside_card_dir)


_BODY_PART = re.compile(r"^[A-Z0-9 _]{1,64}$")


def _modality_fields(d: dict[str, Any], path: Path | None) -> tuple[str | None, str | None]:
    """The optional ``modality`` and ``body_part`` of a card, validated and normalised."""
    from medadv_desktop.engine.io.study import normalize_modality
    from medadv_desktop.errors import MedAdvError

    modality = d.get("modality")
    if modality is not None:
        if not isinstance(modality, str):
            raise ModelCardError(f"should be a DICOM modality code such as \"CT\", got {_show(modality)}",
                                 path=path, field="modality")
        try:
            modality = normalize_modality(modality, what="")
        except MedAdvError:
            raise ModelCardError(f"{_show(modality)} is not a DICOM modality code (CT, MR, PT, US, CR, DX, MG, ...)",
                                 path=path, field="modality") from None
    body_part = d.get("body_part")
    if body_part is not None:
        if not isinstance(body_part, str) or not _BODY_PART.match(body_part.strip().upper()):
            raise ModelCardError("should be a body part term such as \"HEAD\" or \"CHEST\" (letters, digits, "
                                 "spaces, _; at most 64 characters)", path=path, field="body_part")
        body_part = body_part.strip().upper()
    return modality or None, body_part or None


def _read_card_json(path: Path) -> Any:
    """The card's JSON, read defensively (size, file type, nesting, huge numbers); ModelCardError otherwise."""
    import os
    import stat

    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ModelCardError("file not found", path=path, hint="Pass the model_card.json that sits beside the weights.") from None
    except (OSError, ValueError) as exc:
        raise ModelCardError(f"cannot be read ({exc.__class__.__name__})", path=path) from None
    if not stat.S_ISREG(st.st_mode):
        raise ModelCardError("is not a regular file (a pipe, device or socket); not read", path=path)
    if st.st_size > MAX_CARD_BYTES:
        raise ModelCardError(f"is {st.st_size:,} bytes; a model card is a small JSON file (at most "
                             f"{MAX_CARD_BYTES:,} bytes)", path=path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_CARD_BYTES + 1)
        text = raw.decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelCardError(f"cannot be read ({exc.__class__.__name__})", path=path) from None
    if len(raw) > MAX_CARD_BYTES:
        raise ModelCardError(f"is over {MAX_CARD_BYTES:,} bytes; a model card is a small JSON file", path=path)
    problem = _json_depth_problem(text)
    if problem is not None:
        raise ModelCardError(f"is nested more than {MAX_JSON_DEPTH} levels deep", path=path,
                             field=_field_name(problem[1]))
    try:
        data = json.loads(text, parse_int=_parse_int)
    except json.JSONDecodeError as exc:
        raise ModelCardError(f"is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})", path=path) from None
    except (ValueError, RecursionError, OverflowError) as exc:
        raise ModelCardError(f"is not valid JSON ({exc.__class__.__name__})", path=path) from None
    huge = _find_huge(data)
    if huge is not None:
        key, number = huge
        raise ModelCardError(f"holds {number!r}; card numbers have at most {MAX_INT_DIGITS} digits", path=path,
                             field=_field_name(key))
    return data


def _field_name(key: str | None) -> str | None:
    """A top-level key fit to name in a one-line message (None for anything odd)."""
    if key and len(key) <= 40 and key.isprintable() and "'" not in key:
        return key
    return None


def _find_huge(data: Any) -> tuple[str | None, _HugeInt] | None:
    """The first over-long integer literal in parsed card JSON, with its top-level key."""
    stack: list[tuple[str | None, Any]] = [(None, data)]
    while stack:
        key, value = stack.pop()
        if isinstance(value, _HugeInt):
            return key, value
        if isinstance(value, dict):
            stack.extend((key if key is not None else str(k), v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((key, v) for v in value)
    return None
