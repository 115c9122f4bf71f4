"""PNG / JPEG / TIFF images through Pillow.

Grayscale images become (1, H, W) float32 holding the stored values (0..255 for
8-bit, 0..65535 for 16-bit PNG/TIFF, which is kept at full depth); colour images
become (1, H, W, 3) RGB float32 (alpha is dropped, palettes are expanded).
Multi-page TIFFs whose pages share a size become slices. Spacing is unknown in
these formats and set to 1 mm; the modality is "OT".

Nothing is decoded before the declared size (width x height x pages x bytes
per pixel) has passed the memory budget (:mod:`.budget`); Pillow's own
decompression-bomb limit becomes a clear refusal as well.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medadv_desktop.engine.io.budget import MemoryBudget
from medadv_desktop.engine.io.deid import pseudonym
from medadv_desktop.engine.io.study import HeaderElement, Study, WindowPreset, burned_in_annotation
from medadv_desktop.errors import CorruptStudyError, UnsupportedStudyError

RASTER_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_GRAY_MODES = {"1", "L", "I", "I;16", "I;16L", "I;16B", "I;16N", "F", "LA", "La"}
_MAX_PAGES = 2048


@dataclass
class RasterNative:
    """What the PNG writer needs: the source bit depth and Pillow mode."""

    bit_depth: int          # 8 or 16 (32 for float/int TIFF)
    mode: str


def looks_like_raster(head: bytes) -> bool:
    return any(head.startswith(m) for m in _MAGIC)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
    return text[:200]


def _page_array(page) -> tuple[np.ndarray, int]:
    mode = page.mode
    if mode in ("1", "L", "LA", "La"):
        arr = np.asarray(page.convert("L"), dtype=np.float32)
        return arr, 8
    if mode in _GRAY_MODES:
        arr = np.asarray(page)
        depth = 16 if arr.dtype.itemsize == 2 or mode.startswith("I;16") else 32
        if mode == "I" and arr.size and arr.min() >= 0 and arr.max() <= 65535:
            depth = 16
        return arr.astype(np.float32), depth
    if mode in ("P", "PA"):
        rgb = page.convert("RGB")
        arr = np.asarray(rgb, dtype=np.float32)
        if np.array_equal(arr[..., 0], arr[..., 1]) and np.array_equal(arr[..., 1], arr[..., 2]):
            return arr[..., 0].copy(), 8
        return arr, 8
    arr = np.asarray(page.convert("RGB"), dtype=np.float32)
    return arr, 8


def _bomb_reason(exc: BaseException) -> str:
    """Pillow's DecompressionBombError in words (its numbers in megapixels)."""
    import re

    numbers = [int(n) for n in re.findall(r"\d{4,}", str(exc))]
    if len(numbers) >= 2:
        return (f"it declares {numbers[0] / 1e6:.0f} megapixels, beyond Pillow's decompression-bomb limit of "
                f"{numbers[1] / 1e6:.0f} megapixels; not decoded")
    return "it declares an image beyond Pillow's decompression-bomb limit; not decoded"


def _band_bytes(mode: str) -> int:
    if mode in ("I", "F") or mode.startswith("I;32") or mode.startswith("F;"):
        return 4
    if mode.startswith("I;16"):
        return 2
    return 1


def _declared_page(img) -> tuple[int, int, str, int, int]:
    """(width, height, mode, raw bytes, output values) of the current page, from its header."""
    width, height = (int(v) for v in img.size)
    mode = img.mode
    try:
        bands = len(img.getbands())
    except Exception:
        bands = 4
    colour = mode not in _GRAY_MODES
    out_channels = 3 if colour else 1
    return width, height, mode, width * height * bands * _band_bytes(mode), width * height * out_channels


def _count_pages(img, first: tuple[int, int, str]) -> int:
    """Pages (up to the limit) sharing the first page's size and mode; reads headers only."""
    n = 1
    while n < _MAX_PAGES:
        try:
            img.seek(n)
        except EOFError:
            break
        if (tuple(img.size), img.mode) != (first[:2], first[2]):
            break
        n += 1
    img.seek(0)
    return n


def load_raster(path: Path, *, memory_budget: MemoryBudget | int | str | None = None) -> Study:
    """A PNG/JPEG/TIFF file as a Study (see module docstring)."""
    from PIL import Image, UnidentifiedImageError  # noqa: PLC0415

    budget = MemoryBudget.resolve(memory_budget)
    path = Path(path)
    if path.is_file() and path.stat().st_size == 0:
        raise CorruptStudyError(path, "the file is empty (0 bytes)", hint="Copy the file again from its source.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            img = Image.open(path)
        except Image.DecompressionBombError as exc:
            raise UnsupportedStudyError(
                path, _bomb_reason(exc),
                hint="A small file that declares a huge image is a decompression bomb.") from None
        except UnidentifiedImageError:
            raise UnsupportedStudyError(path, "it is not a PNG, JPEG or TIFF image Pillow can identify") from None
        except Exception as exc:
            raise CorruptStudyError(path, f"its image header cannot be read ({_short(exc)})") from None
        fmt = (img.format or "image").upper()
        pages: list[np.ndarray] = []
        depth = 8
        try:
            width, height, mode0, raw, values = _declared_page(img)
            n_pages = _count_pages(img, (width, height, mode0))
            what = (f"its {n_pages} pages of {width} x {height} pixels ({fmt}, mode {mode0})" if n_pages > 1
                    else f"its {width} x {height} {fmt} image (mode {mode0})")
            budget.check(path, raw_bytes=raw * n_pages, values=values * n_pages, what=what)
            for i in range(n_pages):
                img.seek(i)
                arr, depth_i = _page_array(img)
                if pages and arr.shape != pages[0].shape:
                    break
                pages.append(arr)
                depth = max(depth, depth_i)
            mode = img.mode
        except Image.DecompressionBombError as exc:
            raise UnsupportedStudyError(path, _bomb_reason(exc)) from None
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            text = _short(exc)
            if "truncated" in text.lower() or isinstance(exc, EOFError):
                reason = f"the file ends before its image data is complete ({text})"
            else:
                reason = f"its {fmt} image data is damaged ({text})"
            raise CorruptStudyError(path, reason, hint="Copy the file again from its source.") from None
        finally:
            img.close()
    pixels = np.stack(pages, axis=0).astype(np.float32)
    if not np.all(np.isfinite(pixels)):
        pixels = np.nan_to_num(pixels, nan=0.0, posinf=0.0, neginf=0.0)
    presets: list[WindowPreset] = []
    if depth == 8:
        presets.append(WindowPreset("Full range", 127.5, 255.0))
    n = pixels.shape[0]
    colour = " RGB" if pixels.ndim == 4 else ""
    header = [
        HeaderElement("format", "format", "", fmt),
        HeaderElement("mode", "mode", "", mode),
        HeaderElement("bit_depth", "bit_depth", "", str(depth)),
        HeaderElement("size", "size", "", f"{pixels.shape[2]}x{pixels.shape[1]}"),
        HeaderElement("pages", "pages", "", str(n)),
    ]
    burned_in, burned_in_reason = burned_in_annotation("OT", source_format="image", colour=pixels.ndim == 4)
    return Study(
        pixels=np.ascontiguousarray(pixels),
        spacing=(1.0, 1.0, 1.0),
        modality="OT",
        source_format="image",
        source_paths=[path],
        presets=presets,
        units="",
        description=f"OT{colour} {fmt} {n} slice{'s' if n != 1 else ''} {pixels.shape[1]}x{pixels.shape[2]}, {depth}-bit",
        pseudonym=pseudonym(str(path.resolve())),
        header=header,
        orientation=None,
        native=RasterNative(bit_depth=depth, mode=mode),
        spacing_known=False,
        burned_in_annotation=burned_in,
        burned_in_reason=burned_in_reason,
    )
