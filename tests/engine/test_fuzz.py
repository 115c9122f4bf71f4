"""Fuzzing: mutated copies of the shipped test files (pydicom, nibabel, PNG/JPEG/TIFF) and mutated model
cards either load or fail with a MedAdvError, never with any other exception.

Hypothesis draws the mutations (byte flips, truncations, overwritten and inserted runs, structured edits
of the DICOM size / pixel tags, replaced card fields, edited card text) with a fixed seed
(``derandomize=True``), so CI runs the same cases every time. The case counts are fixed, not a time
limit: 2,100 cases in all, each a few milliseconds to a few tens of milliseconds. Images are read with a
64 MiB memory budget so that a mutated header declaring a huge image is refused at once.
"""

from __future__ import annotations

import io
import json
import math
import os
import warnings
from pathlib import Path

import nibabel
import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from PIL import Image
from pydicom.data import get_testdata_file

from medadv_desktop.engine.io import load_file, open_path
from medadv_desktop.engine.io.writers import write_study_like
from medadv_desktop.engine.models import ModelCard
from medadv_desktop.errors import MedAdvError

BUDGET = 64 << 20
NIBABEL_DATA = Path(nibabel.__file__).parent / "tests" / "data"


def _fuzz_settings(n: int):
    return settings(max_examples=n, deadline=None, derandomize=True, database=None, print_blob=True,
                    suppress_health_check=list(HealthCheck), phases=(Phase.explicit, Phase.generate, Phase.shrink))


def _dicom_seeds() -> dict[str, bytes]:
    names = ["CT_small.dcm", "MR_small.dcm", "MR_small_RLE.dcm", "SC_rgb_small_odd.dcm", "emri_small.dcm",
             "MR_small_bigendian.dcm", "SC_rgb_rle_2frame.dcm", "rtplan.dcm", "MR_small_jpeg_ls_lossless.dcm"]
    return {n: Path(get_testdata_file(n)).read_bytes() for n in names}


def _volume_seeds() -> dict[str, bytes]:
    names = ["anatomical.nii", "example_nifti2.nii.gz", "standard.nii.gz", "tiny.mnc"]
    return {n: (NIBABEL_DATA / n).read_bytes() for n in names if (NIBABEL_DATA / n).exists()}


def _raster_seeds() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    out = {}
    for name, array, fmt in [("g8.png", rng.integers(0, 256, (24, 20), dtype=np.uint8), "PNG"),
                             ("g16.png", rng.integers(0, 65535, (16, 12), dtype=np.uint16), "PNG"),
                             ("rgb.png", rng.integers(0, 256, (10, 14, 3), dtype=np.uint8), "PNG"),
                             ("g.jpg", rng.integers(0, 256, (16, 16), dtype=np.uint8), "JPEG")]:
        buf = io.BytesIO()
        Image.fromarray(array).save(buf, format=fmt)
        out[name] = buf.getvalue()
    buf = io.BytesIO()
    pages = [Image.fromarray(rng.integers(0, 256, (12, 10), dtype=np.uint8)) for _ in range(3)]
    pages[0].save(buf, format="TIFF", save_all=True, append_images=pages[1:])
    out["pages.tif"] = buf.getvalue()
    return out


DICOM_SEEDS = _dicom_seeds()
VOLUME_SEEDS = _volume_seeds()
RASTER_SEEDS = _raster_seeds()


@st.composite
def mutated(draw, seeds: dict[str, bytes]) -> tuple[str, bytes]:
    """A seed file with 1-3 byte-level mutations, mostly in the header (first 2 kB)."""
    name = draw(st.sampled_from(sorted(seeds)))
    data = bytearray(seeds[name])
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["flip", "flip", "truncate", "overwrite", "insert", "delete"]))
        span = len(data) if draw(st.booleans()) else min(len(data), 2048)
        if span == 0:
            break
        at = draw(st.integers(0, max(0, span - 1)))
        if kind == "flip":
            for i in range(draw(st.integers(1, 8))):
                j = (at + i * draw(st.integers(1, 64))) % len(data)
                data[j] = draw(st.integers(0, 255))
        elif kind == "truncate":
            del data[at:]
        elif kind == "overwrite":
            fill = draw(st.sampled_from([b"\x00", b"\xff", b"\x7f", b"9"]))
            n = draw(st.integers(1, 64))
            data[at:at + n] = fill * n
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=32))
        else:
            del data[at:at + draw(st.integers(1, 64))]
    return name, bytes(data)


#: Header values that break naive readers: zero, negative, huge, multi-valued, text, non-finite.
ODD_VALUES = [0, 1, 2, 3, 4, 7, 12, 64, 65535, -1, 2 ** 31, [1, 3], [128, 128], [0, 0], "abc", "", "1e308",
              "NaN", "-inf", 1e308, [1.0, 0.0, 0.0], [float("nan")] * 6, ["1", "2", "3", "4", "5", "6"]]
DICOM_TAGS = ["Rows", "Columns", "SamplesPerPixel", "BitsAllocated", "BitsStored", "HighBit",
              "PixelRepresentation", "NumberOfFrames", "PhotometricInterpretation", "PlanarConfiguration",
              "RescaleSlope", "RescaleIntercept", "WindowCenter", "WindowWidth", "PixelSpacing",
              "ImageOrientationPatient", "ImagePositionPatient", "SliceThickness", "InstanceNumber",
              "SOPInstanceUID", "SeriesInstanceUID", "Modality", "RescaleType"]


@st.composite
def dicom_with_odd_tags(draw) -> tuple[str, bytes | None]:
    name = draw(st.sampled_from(["CT_small.dcm", "MR_small.dcm", "emri_small.dcm", "SC_rgb_small_odd.dcm"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(io.BytesIO(DICOM_SEEDS[name]))
        for _ in range(draw(st.integers(1, 3))):
            try:
                setattr(ds, draw(st.sampled_from(DICOM_TAGS)), draw(st.sampled_from(ODD_VALUES)))
            except Exception:  # noqa: BLE001  (pydicom refuses some values outright: not a file)
                return name, None
        buf = io.BytesIO()
        try:
            ds.save_as(buf)
        except Exception:  # noqa: BLE001
            return name, None
    return name, buf.getvalue()


def _check_loads_or_refuses(path: Path, *, write_to: Path | None = None) -> None:
    """The property: a Study that makes sense, or a MedAdvError. Anything else fails the test."""
    try:
        study = load_file(path, memory_budget=BUDGET)
    except MedAdvError:
        return
    px = study.pixels
    assert px.dtype == np.float32 and px.ndim in (3, 4) and np.all(np.isfinite(px))
    assert all(math.isfinite(s) and s > 0 for s in study.spacing)
    study.summary()
    study.default_preset()
    if write_to is not None:
        try:
            write_study_like(study, px, write_to, stem=f"f{len(list(write_to.glob('*'))) if write_to.exists() else 0}",
                             description="fuzz")
        except MedAdvError:
            pass


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory):
    """Case files live in memory (/dev/shm) where there is one: thousands of small writes stay cheap."""
    import shutil
    import tempfile

    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        folder = Path(tempfile.mkdtemp(prefix="medadv-fuzz-", dir=shm))
        yield folder
        shutil.rmtree(folder, ignore_errors=True)
    else:
        yield tmp_path_factory.mktemp("fuzz")


def _case_file(folder: Path, name: str, data: bytes) -> Path:
    path = folder / ("case_" + name)
    path.write_bytes(data)
    return path


def test_fuzz_dicom_bytes(fuzz_dir):
    folder = fuzz_dir / "dicom"
    folder.mkdir()
    out = fuzz_dir / "dicom_out"

    @_fuzz_settings(600)
    @given(mutated(DICOM_SEEDS), st.integers(0, 9))
    def case(item, n):
        name, data = item
        path = _case_file(folder, name, data)
        _check_loads_or_refuses(path, write_to=out if n == 0 else None)

    case()


def test_fuzz_dicom_size_and_pixel_tags(fuzz_dir):
    folder = fuzz_dir / "tags"
    (folder / "set").mkdir(parents=True)
    good = folder / "set" / "good.dcm"
    good.write_bytes(DICOM_SEEDS["MR_small.dcm"])
    out = fuzz_dir / "tags_out"

    @_fuzz_settings(300)
    @given(dicom_with_odd_tags(), st.integers(0, 3))
    def case(item, n):
        name, data = item
        if data is None:
            return
        path = _case_file(folder, name, data)
        _check_loads_or_refuses(path, write_to=out if n == 0 else None)
        if n == 1:                                   # beside a good file: the good one always loads
            (folder / "set" / "bad.dcm").write_bytes(data)
            assert open_path(folder / "set", memory_budget=BUDGET).studies

    case()


def test_fuzz_volumes(fuzz_dir):
    folder = fuzz_dir / "vol"
    folder.mkdir()

    @_fuzz_settings(300)
    @given(mutated(VOLUME_SEEDS))
    def case(item):
        name, data = item
        _check_loads_or_refuses(_case_file(folder, name, data))

    case()


def test_fuzz_images(fuzz_dir):
    folder = fuzz_dir / "img"
    folder.mkdir()

    @_fuzz_settings(300)
    @given(mutated(RASTER_SEEDS))
    def case(item):
        name, data = item
        _check_loads_or_refuses(_case_file(folder, name, data))

    case()


# --------------------------------------------------------------------------- model cards
GOOD_CARD = {
    "name": "m", "format": "timm", "architecture": "test_resnet", "weights": "w.safetensors",
    "in_chans": 1, "num_classes": 2, "class_names": ["a", "b"], "input_size": [64, 64],
    "intensity": {"mode": "window", "center": 40, "width": 400}, "mean": [0.5], "std": [0.25],
    "sha256": "a" * 64, "intended_use": "tests", "output": "logits",
}

json_scalars = (st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70)
                | st.sampled_from([0, 1, 2, 3, 8, 1024, 1025, 4096, 10 ** 400, -1, 0.5, 1e308, 1e-300])
                | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=6)
                | st.sampled_from(["window", "minmax", "percentile", "timm", "torchscript", "sigmoid", "logits",
                                   "../../etc/passwd", "/etc/shadow", "w.safetensors", "a\x00b", ""]))
json_values = st.recursive(json_scalars, lambda children: st.lists(children, max_size=3)
                           | st.dictionaries(st.sampled_from(["mode", "center", "width", "a", ""]), children,
                                             max_size=3), max_leaves=5)


@st.composite
def mutated_card(draw) -> dict:
    card = json.loads(json.dumps(GOOD_CARD))
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from(sorted(GOOD_CARD) + ["provenance", "extra"]))
        action = draw(st.sampled_from(["replace", "replace", "delete", "nested"]))
        if action == "delete":
            card.pop(key, None)
        elif action == "nested" and key == "intensity":
            card["intensity"] = dict(card.get("intensity") or {})
            card["intensity"][draw(st.sampled_from(["mode", "center", "width", "low", "high"]))] = draw(json_values)
        elif action == "nested" and key in ("input_size", "mean", "std", "class_names"):
            card[key] = draw(st.lists(json_values, max_size=4))
        else:
            card[key] = draw(json_values)
    return card


def _use_card(card: ModelCard) -> None:
    again = ModelCard.from_dict(json.loads(json.dumps(card.to_dict())), card.path)
    assert again.to_dict() == card.to_dict()
    lo, hi = card.intensity.bounds(np.linspace(-1000, 1000, 16, dtype=np.float32))
    assert math.isfinite(lo) and math.isfinite(hi) and hi > lo
    try:
        card.resolve_weights()
    except MedAdvError:
        pass


def test_fuzz_card_fields(fuzz_dir):
    @_fuzz_settings(300)
    @given(mutated_card())
    def case(d):
        try:
            card = ModelCard.from_dict(d, fuzz_dir / "model_card.json")
        except MedAdvError as exc:
            assert "\n" not in str(exc)
            return
        _use_card(card)

    case()


@st.composite
def mutated_card_text(draw) -> bytes:
    text = bytearray(json.dumps(GOOD_CARD, indent=1).encode())
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["byte", "insert", "delete", "digits", "nest", "constant"]))
        if kind == "byte":
            if text:
                text[min(at, len(text) - 1)] = draw(st.integers(0, 255))
        elif kind == "insert":
            text[at:at] = draw(st.sampled_from([b"[", b"]", b"{", b"}", b",", b":", b'"', b"\\", b"-", b"e",
                                                b"0", b"\xff", b"\x00", b"null"]))
        elif kind == "delete":
            del text[at:at + draw(st.integers(1, 8))]
        elif kind == "digits":
            text[at:at] = b"9" * draw(st.integers(1, 6000))
        elif kind == "nest":
            depth = draw(st.integers(1, 3000))
            text[at:at] = b"[" * depth + b"]" * depth
        else:
            text[at:at] = draw(st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-0", b"1e-400"]))
    return bytes(text)


def test_fuzz_card_text(fuzz_dir):
    path = fuzz_dir / "card_text" / "model_card.json"
    path.parent.mkdir()

    @_fuzz_settings(300)
    @given(mutated_card_text())
    def case(data):
        path.write_bytes(data)
        try:
            card = ModelCard.load(path)
        except MedAdvError as exc:
            assert "\n" not in str(exc)
            return
        _use_card(card)

    case()
