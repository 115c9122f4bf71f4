"""The one place that turns result and configuration dataclasses into JSON and back.

:func:`to_jsonable` turns dataclasses (recursively), numpy values, paths and
enums into JSON types; :func:`from_jsonable` builds a typed value from such
JSON data, guided by the dataclass field types (nested dataclasses, lists,
tuples, dicts, ``X | None``); keys the type does not know are dropped, so a
file written by a newer MedAdv with extra fields still loads.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
import math
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")


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


@functools.cache
def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _where(path: str) -> str:
    return f"'{path}'" if path else "the document"


@typing.overload
def from_jsonable(cls: type[T], data: Any, *, path: str = "") -> T: ...


@typing.overload
def from_jsonable(cls: Any, data: Any, *, path: str = "") -> Any: ...


def from_jsonable(cls: Any, data: Any, *, path: str = "") -> Any:
    """Build a value of type ``cls`` from JSON data (the inverse of :func:`to_jsonable`).

    ``cls`` is a dataclass or a type expression such as ``list[AttackRow]``,
    ``dict[str, int]`` or ``float | None``. For a dataclass, keys it does not
    have are dropped and missing keys take the field's default; a missing key
    without a default, or a value of the wrong kind, raises
    :class:`~medadv_desktop.errors.ResultFormatError` naming the key. A
    ``null`` read into a plain ``float`` field becomes NaN (``to_jsonable``
    writes non-finite floats as ``null``). ``path`` names the value in errors.
    """
    return _convert(cls, data, path)


def _convert(cls: Any, data: Any, path: str) -> Any:
    from medadv_desktop.errors import ResultFormatError

    def fail(expected: str) -> ResultFormatError:
        got = "null" if data is None else type(data).__name__
        return ResultFormatError(f"{_where(path)} should be {expected}, not {got}.")

    if cls is Any or cls is object:
        return data
    origin = typing.get_origin(cls)
    if origin is typing.Union or origin is types.UnionType:
        options = [a for a in typing.get_args(cls) if a is not type(None)]
        if data is None and len(options) < len(typing.get_args(cls)):
            return None
        if len(options) == 1:
            return _convert(options[0], data, path=path)
        for option in options:
            try:
                return _convert(option, data, path=path)
            except ResultFormatError:
                continue
        raise fail(" or ".join(getattr(o, "__name__", str(o)) for o in options))
    if origin is typing.Literal:
        if data not in typing.get_args(cls):
            raise ResultFormatError(f"{_where(path)} should be one of {typing.get_args(cls)}, not {data!r}.")
        return data
    if origin in (list, tuple, set, frozenset):
        if not isinstance(data, (list, tuple)):
            raise fail("a list")
        args = typing.get_args(cls)
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(args) != len(data):
                raise ResultFormatError(f"{_where(path)} should have {len(args)} values, not {len(data)}.")
            return tuple(_convert(a, v, path=f"{path}[{i}]")
                         for i, (a, v) in enumerate(zip(args, data, strict=True)))
        item = args[0] if args else Any
        return origin(_convert(item, v, path=f"{path}[{i}]") for i, v in enumerate(data))
    if origin is dict:
        if not isinstance(data, dict):
            raise fail("an object")
        args = typing.get_args(cls)
        value_type = args[1] if len(args) == 2 else Any
        return {str(k): _convert(value_type, v, path=f"{path}.{k}" if path else str(k))
                for k, v in data.items()}
    if dataclasses.is_dataclass(cls) and isinstance(cls, type):
        if isinstance(data, cls):
            return data
        if not isinstance(data, dict):
            raise fail("an object")
        hints = _field_types(cls)
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if not f.init or f.name not in data:
                if (f.init and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING):
                    raise ResultFormatError(f"{_where(path + '.' + f.name if path else f.name)} is missing.")
                continue
            kwargs[f.name] = _convert(hints[f.name], data[f.name], path=f"{path}.{f.name}" if path else f.name)
        return cls(**kwargs)
    if cls is float:
        if data is None:
            return math.nan
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            raise fail("a number")
        return float(data)
    if cls is int:
        if (isinstance(data, bool) or not isinstance(data, (int, float)) or not math.isfinite(data)
                or float(data) != int(data)):
            raise fail("a whole number")
        return int(data)
    if cls is bool:
        if not isinstance(data, bool):
            raise fail("true or false")
        return data
    if cls is str:
        if not isinstance(data, str):
            raise fail("text")
        return data
    if cls is type(None):
        if data is not None:
            raise fail("null")
        return None
    if isinstance(cls, type) and issubclass(cls, Path):
        if not isinstance(data, str):
            raise fail("a path")
        return cls(data)
    if isinstance(cls, type) and issubclass(cls, enum.Enum):
        try:
            return cls(data)
        except ValueError:
            raise ResultFormatError(f"{_where(path)}: {data!r} is not a {cls.__name__}.") from None
    if cls is np.ndarray:
        return np.asarray(data)
    return data


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
