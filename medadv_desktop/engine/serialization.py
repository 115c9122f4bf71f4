"""The one place that turns result and configuration dataclasses into JSON."""

from __future__ import annotations

import dataclasses
import enum
import json
import math
from pathlib import Path
from typing import Any

import numpy as np


def to_jsonable(obj: Any) -> Any:
    """Recursively convert dataclasses, numpy values, paths and enums to JSON types."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name))
                for f in dataclasses.fields(obj) if not f.metadata.get("json_skip")}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if hasattr(obj, "tolist") and hasattr(obj, "dtype"):  # torch tensors
        return to_jsonable(obj.tolist())
    return obj


def dumps(obj: Any, **kwargs: Any) -> str:
    return json.dumps(to_jsonable(obj), indent=2, sort_keys=False, **kwargs)


def atomic_write_bytes(path: str | Path, data: bytes, *, overwrite: bool = False) -> Path:
    """Write a file atomically and race-free; refuses to overwrite unless asked.

    See :func:`medadv_desktop.engine.safe_write.write_new_file`: temporary file,
    then a hard link into place that fails if the name exists (also when it
    appeared meanwhile); :class:`OutputExistsError` or, on a full or read-only
    disk, :class:`~medadv_desktop.engine.safe_write.OutputWriteError`; nothing
    partial is left behind.
    """
    from medadv_desktop.engine.safe_write import write_new_file

    return write_new_file(path, data, overwrite=overwrite)


def write_json(path: str | Path, obj: Any, *, overwrite: bool = False) -> Path:
    """``obj`` as indented JSON (see :func:`dumps`), written like :func:`atomic_write_bytes`."""
    return atomic_write_bytes(path, dumps(obj).encode("utf-8"), overwrite=overwrite)
