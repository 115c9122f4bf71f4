"""Model cards: the JSON file beside the weights that says how to use them.

Schema (documented in README "Model card"):

    {
      "name": "Demo EfficientNet-B0 (synthetic lesion)",
      "format": "timm" | "torchscript",
      "architecture": "efficientnet_b0",          # timm name (format timm only)
      "weights": "model.safetensors",             # relative to the card
      "in_chans": 1,
      "num_classes": 2,
      "class_names": ["no_finding", "lesion"],
      "input_size": [128, 128],                   # H, W the network expects
      "output": "logits" | "sigmoid",             # sigmoid: a single-logit binary model
      "intensity": {"mode": "window", "center": 40, "width": 400}
                 | {"mode": "minmax"}
                 | {"mode": "percentile", "low": 0.5, "high": 99.5},
      "mean": [0.5], "std": [0.5],
      "sha256": "...",                            # optional, of the weights file
      "intended_use": "free text",
      "provenance": {...}                         # optional, e.g. adversarial training record
    }
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medadv_desktop.errors import ModelCardError

FORMATS = ("timm", "torchscript")
OUTPUTS = ("logits", "sigmoid")
INTENSITY_MODES = ("window", "minmax", "percentile")


@dataclass(frozen=True)
class IntensityMapping:
    """Native units -> [0, 1] image the attacks perturb.

    ``window``: fixed centre/width in native units (HU for CT): the mapping is
    the same for every image, so an eps in [0, 1] is ``eps * width`` native units.
    ``minmax`` / ``percentile``: per image; the native size of one [0, 1] unit
    is that image's (high - low), reported per study.
    """

    mode: str = "minmax"
    center: float | None = None
    width: float | None = None
    low: float = 0.5      # percentiles, mode "percentile"
    high: float = 99.5

    def bounds(self, native: np.ndarray) -> tuple[float, float]:
        """(low, high) native values mapped to 0 and 1 for this image."""
        if self.mode == "window":
            return float(self.center - self.width / 2), float(self.center + self.width / 2)
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

    def native_per_unit(self, native: np.ndarray | None = None) -> float | None:
        """Native units per [0, 1] unit (e.g. 400 HU for a 400-wide window)."""
        if self.mode == "window":
            return float(self.width)
        if native is None:
            return None
        lo, hi = self.bounds(native)
        return hi - lo

    def describe(self) -> str:
        if self.mode == "window":
            return f"window C {self.center:g} / W {self.width:g}"
        if self.mode == "percentile":
            return f"percentiles {self.low:g}-{self.high:g} per image"
        return "min-max per image"

    @classmethod
    def from_dict(cls, d: Any, path: Path | None = None) -> "IntensityMapping":
        if not isinstance(d, dict):
            raise ModelCardError("must be an object such as {\"mode\": \"minmax\"}", path=path, field="intensity")
        mode = d.get("mode", "minmax")
        if mode not in INTENSITY_MODES:
            raise ModelCardError(f"mode '{mode}' is not one of {', '.join(INTENSITY_MODES)}", path=path, field="intensity.mode")
        if mode == "window":
            try:
                center, width = float(d["center"]), float(d["width"])
            except (KeyError, TypeError, ValueError):
                raise ModelCardError("a window needs numeric 'center' and 'width' in native units (HU for CT)", path=path, field="intensity") from None
            if not width > 0:
                raise ModelCardError("window width must be positive", path=path, field="intensity.width")
            return cls(mode, center, width)
        if mode == "percentile":
            low, high = float(d.get("low", 0.5)), float(d.get("high", 99.5))
            if not 0 <= low < high <= 100:
                raise ModelCardError("percentiles need 0 <= low < high <= 100", path=path, field="intensity")
            return cls(mode, low=low, high=high)
        return cls("minmax")

    def to_dict(self) -> dict[str, Any]:
        if self.mode == "window":
            return {"mode": "window", "center": self.center, "width": self.width}
        if self.mode == "percentile":
            return {"mode": "percentile", "low": self.low, "high": self.high}
        return {"mode": "minmax"}


@dataclass
class ModelCard:
    name: str
    format: str
    weights: str
    num_classes: int
    class_names: list[str]
    input_size: tuple[int, int]
    in_chans: int = 1
    architecture: str = ""
    output: str = "logits"
    intensity: IntensityMapping = field(default_factory=IntensityMapping)
    mean: list[float] = field(default_factory=lambda: [0.5])
    std: list[float] = field(default_factory=lambda: [0.5])
    sha256: str | None = None
    intended_use: str = ""
    provenance: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None          # where the card was read from (not serialised)

    @property
    def weights_path(self) -> Path:
        base = self.path.parent if self.path else Path.cwd()
        return (base / self.weights).resolve()

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
        if self.provenance:
            d["provenance"] = self.provenance
        return d

    @classmethod
    def from_dict(cls, d: Any, path: Path | None = None) -> "ModelCard":
        if not isinstance(d, dict):
            raise ModelCardError("the card must be a JSON object", path=path)

        def need(key: str, kind, what: str):
            if key not in d:
                raise ModelCardError(f"is missing; it should be {what}", path=path, field=key)
            value = d[key]
            if kind is int and isinstance(value, bool) or not isinstance(value, kind):
                raise ModelCardError(f"should be {what}, got {value!r}", path=path, field=key)
            return value

        name = need("name", str, "a text name")
        fmt = need("format", str, "'timm' or 'torchscript'")
        if fmt not in FORMATS:
            raise ModelCardError(f"'{fmt}' is not one of {', '.join(FORMATS)}", path=path, field="format")
        weights = need("weights", str, "the weights file name, relative to the card")
        arch = d.get("architecture", "")
        if fmt == "timm" and not (isinstance(arch, str) and arch):
            raise ModelCardError("is required for timm models (e.g. 'efficientnet_b0')", path=path, field="architecture")
        num_classes = need("num_classes", int, "a whole number of classes")
        output = d.get("output", "logits")
        if output not in OUTPUTS:
            raise ModelCardError(f"'{output}' is not one of {', '.join(OUTPUTS)}", path=path, field="output")
        if output == "sigmoid" and num_classes != 1:
            raise ModelCardError("a 'sigmoid' model has exactly one output: set num_classes to 1", path=path, field="num_classes")
        if output == "logits" and num_classes < 2:
            raise ModelCardError("needs at least 2 classes (use output 'sigmoid' for a single-logit binary model)", path=path, field="num_classes")
        class_names = need("class_names", list, "a list of class names")
        n_names = 2 if output == "sigmoid" else num_classes
        if len(class_names) != n_names or not all(isinstance(c, str) and c for c in class_names):
            raise ModelCardError(f"needs {n_names} non-empty names, got {len(class_names)}", path=path, field="class_names")
        size = need("input_size", list, "[height, width] in pixels")
        if len(size) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and 8 <= v <= 4096 for v in size):
            raise ModelCardError("should be [height, width], whole numbers from 8 to 4096", path=path, field="input_size")
        in_chans = d.get("in_chans", 1)
        if in_chans not in (1, 3) or isinstance(in_chans, bool):
            raise ModelCardError("should be 1 (grayscale) or 3 (RGB)", path=path, field="in_chans")
        mean = d.get("mean", [0.5] * in_chans)
        std = d.get("std", [0.5] * in_chans)
        for key, vals in (("mean", mean), ("std", std)):
            if not isinstance(vals, list) or len(vals) not in (1, in_chans) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
                raise ModelCardError(f"should be a list of 1 or {in_chans} numbers", path=path, field=key)
        if any(v <= 0 for v in std):
            raise ModelCardError("values must be positive", path=path, field="std")
        sha = d.get("sha256")
        if sha is not None and not (isinstance(sha, str) and len(sha) == 64 and all(c in "0123456789abcdefABCDEF" for c in sha)):
            raise ModelCardError("should be 64 hexadecimal characters or absent", path=path, field="sha256")
        intensity = IntensityMapping.from_dict(d.get("intensity", {"mode": "minmax"}), path)
        return cls(
            name=name, format=fmt, weights=weights, num_classes=num_classes,
            class_names=list(class_names), input_size=(size[0], size[1]), in_chans=in_chans,
            architecture=arch or "", output=output, intensity=intensity,
            mean=[float(v) for v in mean], std=[float(v) for v in std],
            sha256=sha.lower() if sha else None, intended_use=str(d.get("intended_use", "")),
            provenance=dict(d.get("provenance") or {}), path=path,
        )

    @classmethod
    def load(cls, path: str | Path) -> "ModelCard":
        path = Path(path)
        if path.is_dir():
            path = path / "model_card.json"
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ModelCardError("file not found", path=path, hint="Pass the model_card.json that sits beside the weights.") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ModelCardError(f"cannot be read ({exc.__class__.__name__})", path=path) from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelCardError(f"is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})", path=path) from None
        return cls.from_dict(data, path.resolve())
