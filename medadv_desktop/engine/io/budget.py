"""The memory budget for decoding images, checked from the header before any pixel is decoded.

Every reader (DICOM, NIfTI, PNG/JPEG/TIFF) knows from the header how many
values an image holds and how many bytes each takes, before it decodes
anything. Decoding then needs about::

    need = 2 * raw_bytes + 8 * values

bytes at its peak: the stored pixels as read from the file and as decoded
(``raw_bytes`` = values x stored bytes per value, twice), plus the float32
study MedAdv keeps and one float32 working copy (``values`` = pixels x
frames x output channels, 4 bytes each, twice). A file whose ``need`` is
larger than the budget is refused with the numbers in the reason, so a 500 kB
decompression bomb or a 2 GB file never exhausts the machine's memory, and the
rest of a folder still loads.

The budget is

* the value of the environment variable ``MEDADV_MEMORY_BUDGET`` (``"8G"``,
  ``"512M"``, ``"1.5GB"``, a number of bytes), or the ``memory_budget``
  option of :func:`~medadv_desktop.engine.io.open_path`; else
* half of the memory available right now (``MemAvailable``, bounded by a
  cgroup limit when the process runs in a container), at most 4 GiB and at
  least 256 MiB. It is re-read for every file, so loading a large folder
  stops before it runs the machine out of memory.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from medadv_desktop.errors import InvalidArgumentError, MedAdvError, UnsupportedStudyError

ENV_VAR = "MEDADV_MEMORY_BUDGET"
DEFAULT_CAP = 4 << 30        # 4 GiB
MINIMUM = 256 << 20          # 256 MiB
_UNITS = {"": 1, "B": 1, "K": 1 << 10, "KB": 1 << 10, "KIB": 1 << 10, "M": 1 << 20, "MB": 1 << 20,
          "MIB": 1 << 20, "G": 1 << 30, "GB": 1 << 30, "GIB": 1 << 30, "T": 1 << 40, "TB": 1 << 40,
          "TIB": 1 << 40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([A-Za-z]*)\s*$")


def parse_size(text: str) -> int:
    """``"8G"`` -> 8589934592. Units K, M, G, T (powers of 1024; ``B``/``iB`` suffixes allowed)."""
    m = _SIZE.match(str(text))
    unit = m.group(2).upper() if m else ""
    if not m or unit not in _UNITS:
        raise InvalidArgumentError(f"'{text}' is not a size such as 512M, 8G or 8GB")
    value = float(m.group(1)) * _UNITS[unit]
    if not value >= 1 or value > 1 << 60:
        raise InvalidArgumentError(f"'{text}' is not a usable memory size")
    return int(value)


def format_bytes(n: float) -> str:
    """4294967296 -> '4.0 GiB' (binary units, the ones MEDADV_MEMORY_BUDGET takes)."""
    for unit, size in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} bytes"


def _read_int(path: str) -> int | None:
    try:
        with open(path, encoding="ascii") as fh:
            text = fh.read(64).strip()
    except OSError:
        return None
    try:
        return int(text)
    except ValueError:
        return None            # "max" = no cgroup limit


def available_memory() -> int | None:
    """Bytes of memory available to this process now (None when the system does not say)."""
    avail = None
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        avail = None
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            avail = None
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        limit = _read_int(limit_file)
        if limit is not None and limit < 1 << 60:
            usage = _read_int(usage_file) or 0
            room = max(0, limit - usage)
            avail = room if avail is None else min(avail, room)
            break
    return avail


def need_bytes(raw_bytes: int, values: int) -> int:
    """Peak memory to decode an image (see the module docstring)."""
    return 2 * int(raw_bytes) + 8 * int(values)


@dataclass(frozen=True)
class MemoryBudget:
    """How much memory decoding one image (or one series) may take.

    ``fixed``: bytes chosen by the user (environment variable or option);
    ``None``: derived from the memory available at each check.
    """

    fixed: int | None = None

    @classmethod
    def resolve(cls, value: MemoryBudget | int | str | None = None) -> MemoryBudget:
        """The budget for a load: an explicit value, else ``MEDADV_MEMORY_BUDGET``, else automatic.

        Raises :class:`MedAdvError` (one line) for a value that is not a size.
        """
        if isinstance(value, MemoryBudget):
            return value
        source = "the memory budget"
        if value is None:
            value = os.environ.get(ENV_VAR) or None
            source = ENV_VAR
            if value is None:
                return cls(None)
        if isinstance(value, bool):
            raise MedAdvError(f"{source} must be a size such as 8G, not {value!r}")
        if isinstance(value, int):
            if value < 1:
                raise MedAdvError(f"{source} must be a positive number of bytes, not {value}")
            return cls(int(value))
        try:
            return cls(parse_size(str(value)))
        except ValueError as exc:
            raise MedAdvError(f"{source}: {exc}", hint=f"Set {ENV_VAR} to a size such as 4G, or unset it.") from None

    def limit(self) -> int:
        if self.fixed is not None:
            return self.fixed
        avail = available_memory()
        budget = DEFAULT_CAP if avail is None else min(DEFAULT_CAP, avail // 2)
        return max(MINIMUM, budget)

    def check(self, path: Path, *, raw_bytes: int, values: int, what: str) -> None:
        """Refuse (UnsupportedStudyError) when decoding ``what`` would exceed the budget.

        ``what`` describes the image in words, e.g. ``"its 32768 x 32768 16-bit image"``.
        """
        need = need_bytes(raw_bytes, values)
        limit = self.limit()
        if need > limit:
            how = "" if self.fixed is not None else " (half the free memory, at most 4 GiB)"
            raise UnsupportedStudyError(
                path, f"{what} would need about {format_bytes(need)} of memory to decode, more than "
                      f"the memory budget of {format_bytes(limit)}{how}; not decoded",
                hint=f"On a machine with enough memory, raise the budget (e.g. {ENV_VAR}=16G).")
