"""Hostile and careless inputs: reading never hangs, one bad file never sinks a folder, memory stays
bounded (a budget checked from the header before decoding), a damaged duplicate never hides the good copy."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medadv_desktop.engine.io import dicom, load_file, open_path, open_study
from medadv_desktop.engine.io.budget import MemoryBudget, parse_size
from medadv_desktop.errors import CorruptStudyError, MedAdvError, StudyError, UnsupportedStudyError

from . import hostile
from .conftest import write_series

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX file types")


def _within(seconds: float, fn, *args, **kwargs):
    """Run ``fn`` in a daemon thread; fail (instead of hanging the suite) if it does not return in time."""
    box: dict = {}

    def run():
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as exc:   # handed back to the test
            box["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"{getattr(fn, '__name__', fn)} did not return within {seconds} s (blocked)"
    if "error" in box:
        raise box["error"]
    return box["value"]


def _reasons(report) -> dict[str, str]:
    return {p.name: r for p, r in report.failures}


@pytest.fixture
def special_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "s"
    folder.mkdir()
    hostile.copy_dicom(folder / "good.dcm")
    os.mkfifo(folder / "pipe.dcm")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(folder / "sock"))
    os.symlink(folder / "loop_b", folder / "loop_a")
    os.symlink(folder / "loop_a", folder / "loop_b")
    os.symlink(folder / "missing.dcm", folder / "dangling.dcm")
    os.symlink("/dev/zero", folder / "zero.dcm")
    yield folder
    sock.close()


def test_special_files_are_listed_and_never_opened(special_folder: Path):
    report = _within(120, open_path, special_folder)
    assert len(report.studies) == 1 and report.studies[0].pixels.shape == (1, 128, 128)
    reasons = _reasons(report)
    assert "named pipe (FIFO)" in reasons["pipe.dcm"]
    assert "socket" in reasons["sock"]
    assert "loops back" in reasons["loop_a"] and "loops back" in reasons["loop_b"]
    assert "target does not exist" in reasons["dangling.dcm"]
    assert "device" in reasons["zero.dcm"]
    for name in ("pipe.dcm", "sock", "loop_a", "dangling.dcm", "zero.dcm"):
        with pytest.raises(StudyError):
            _within(60, load_file, special_folder / name)
    with pytest.raises(StudyError, match="named pipe"):
        _within(60, open_study, special_folder / "pipe.dcm")


def _cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "medadv_desktop", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_cli_info_returns_on_a_folder_with_a_fifo(special_folder: Path):
    proc = _cli("info", str(special_folder))
    assert proc.returncode == 0, proc.stderr
    assert "1 study found" in proc.stdout and "pipe.dcm: it is a named pipe (FIFO)" in proc.stdout
    proc = _cli("info", str(special_folder / "pipe.dcm"))
    assert proc.returncode == 2 and "named pipe" in proc.stderr.splitlines()[0]
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("keyword, value", [("SamplesPerPixel", [1, 3]), ("Rows", [128, 128]),
                                            ("Columns", [128, 64]), ("BitsAllocated", [16, 8])])
def test_multivalued_size_tags_do_not_sink_the_folder(tmp_path: Path, keyword, value):
    hostile.copy_dicom(tmp_path / "good.dcm")
    bad = hostile.multivalued_dicom(tmp_path / "bad.dcm", keyword, value)
    report = open_path(tmp_path)
    assert len(report.studies) == 1
    assert f"values for {keyword}" in _reasons(report)["bad.dcm"]
    with pytest.raises(CorruptStudyError, match=keyword):
        load_file(bad)


def test_a_2gb_sparse_dicom_among_good_files(tmp_path: Path):
    import random

    from pydicom.uid import generate_uid

    folder = tmp_path / "study"
    folder.mkdir()
    write_series(folder, n=3, series_uid=generate_uid(), study_uid=generate_uid(), orientation=[1, 0, 0, 0, 1, 0],
                 position=lambda z: [0.0, 0.0, z], z0=0.0, dz=2.0, name_prefix="slice", rng=random.Random(0))
    sparse = hostile.sparse_dicom(folder / "huge.dcm")
    assert sparse.stat().st_size > 2 << 30
    report = open_path(folder)                 # default budget: at most 4 GiB, this needs 12 GiB
    assert [s.pixels.shape for s in report.studies] == [(3, 128, 128)]
    reason = _reasons(report)["huge.dcm"]
    assert "32768 x 32768 16-bit image" in reason and "memory budget" in reason and "not decoded" in reason
    with pytest.raises(UnsupportedStudyError, match="memory budget"):
        open_study(sparse)


def test_a_damaged_duplicate_does_not_hide_the_good_copy(tmp_path: Path):
    from pydicom.uid import generate_uid

    sop = generate_uid()
    hostile.copy_dicom(tmp_path / "a_truncated.dcm", sop=sop, truncate=5000)
    hostile.copy_dicom(tmp_path / "c_good.dcm", sop=sop)
    report = open_path(tmp_path)
    assert len(report.studies) == 1 and report.studies[0].source_paths == [tmp_path / "c_good.dcm"]
    assert "intact copy 'c_good.dcm' was loaded instead" in _reasons(report)["a_truncated.dcm"]

    hostile.copy_dicom(tmp_path / "d_copy.dcm", sop=sop)     # a second good copy is listed as skipped
    report = open_path(tmp_path)
    assert len(report.studies) == 1
    assert "copy of 'c_good.dcm'" in _reasons(report)["d_copy.dcm"]


@pytest.fixture(scope="module")
def bombs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bombs")
    return {
        "png": hostile.png_bomb(folder / "bomb.png", 20000, 20000),            # 400 MB from 390 kB
        "tiff": hostile.tiff_bomb(folder / "bomb.tif", 3000, 3000, 400),       # 3.6 GB from 54 kB
        "nifti": hostile.nifti_bomb(folder / "bomb.nii.gz"),                   # 4 GiB float32 declared
        "dicom": hostile.sparse_dicom(folder / "sparse.dcm"),                  # 2 GiB pixel data
        "multivalued": hostile.multivalued_dicom(folder / "mv.dcm", "SamplesPerPixel", [1, 3]),
    }


def test_bombs_are_refused_before_decoding_and_the_rest_loads(bombs, tmp_path: Path):
    with pytest.raises(UnsupportedStudyError, match="decompression-bomb limit"):
        load_file(bombs["png"])
    with pytest.raises(UnsupportedStudyError, match=r"400 pages of 3000 x 3000 pixels .* memory budget"):
        load_file(bombs["tiff"])
    with pytest.raises(UnsupportedStudyError, match=r"2048 x 2048 x 256 volume .* memory budget"):
        load_file(bombs["nifti"])
    folder = tmp_path / "mixed"
    folder.mkdir()
    for p in bombs.values():
        os.link(p, folder / p.name)
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).save(folder / "ok.png")
    report = open_path(folder)
    assert [s.source_paths[0].name for s in report.studies] == ["ok.png"]
    assert sorted(_reasons(report)) == sorted(p.name for p in bombs.values())


def test_the_budget_is_configurable(tmp_path: Path, monkeypatch):
    big = hostile.png_bomb(tmp_path / "big.png", 6000, 6000, colour=True)      # 108 MB RGB, needs ~1.1 GiB
    small = tmp_path / "small.png"
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(small)
    with pytest.raises(UnsupportedStudyError, match=r"6000 x 6000 PNG image .*memory budget of 256\.0 MiB;"):
        load_file(big, memory_budget="256M")
    monkeypatch.setenv("MEDADV_MEMORY_BUDGET", "300M")
    report = open_path(tmp_path)
    assert len(report.studies) == 1 and "memory budget of 300.0 MiB" in _reasons(report)["big.png"]
    monkeypatch.setenv("MEDADV_MEMORY_BUDGET", "lots")
    with pytest.raises(MedAdvError, match="MEDADV_MEMORY_BUDGET") as info:
        open_path(tmp_path)
    assert "\n" not in str(info.value)
    assert parse_size("1.5G") == 3 << 29 and parse_size("512") == 512 and parse_size("2 GiB") == 2 << 30
    for bad in ("", "-1G", "1X", "0"):
        with pytest.raises(ValueError):
            parse_size(bad)
    monkeypatch.delenv("MEDADV_MEMORY_BUDGET")
    auto = MemoryBudget.resolve(None)
    assert auto.fixed is None and 256 << 20 <= auto.limit() <= 4 << 30


def test_any_error_reading_one_file_becomes_its_failure_entry(tmp_path: Path, monkeypatch):
    import random

    from pydicom.uid import generate_uid

    folder = tmp_path / "series"
    folder.mkdir()
    write_series(folder, n=4, series_uid=generate_uid(), study_uid=generate_uid(), orientation=[1, 0, 0, 0, 1, 0],
                 position=lambda z: [0.0, 0.0, z], z0=0.0, dz=2.0, name_prefix="s", rng=random.Random(1))
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(folder / "side.png")
    victims = {"s001.dcm": TypeError("bug"), "s002.dcm": MemoryError()}
    real = dicom._to_native

    def flaky(ds, raw, path):
        if Path(path).name in victims:
            raise victims[Path(path).name]
        return real(ds, raw, path)

    monkeypatch.setattr(dicom, "_to_native", flaky)
    report = open_path(folder)
    shapes = sorted(s.pixels.shape for s in report.studies)
    assert shapes == [(1, 16, 16), (2, 128, 128)]
    reasons = _reasons(report)
    assert "reader failed on it (TypeError)" in reasons["s001.dcm"] and "bug" not in reasons["s001.dcm"]
    assert "too large to decode in the memory available" in reasons["s002.dcm"]
    with pytest.raises(CorruptStudyError, match="TypeError"):
        load_file(folder / "s001.dcm")


# --------------------------------------------------------------------------- peak memory of `medadv info`
_RSS = ("import resource, subprocess, sys\n"
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "print(p.returncode, peak * (1 if sys.platform == 'darwin' else 1024))\n"
        "sys.stderr.write(p.stderr)\n")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss of children, Linux")
def test_peak_memory_of_info_on_each_refused_file_stays_under_500_mb(bombs, tmp_path: Path):
    fifo = tmp_path / "pipe.dcm"
    os.mkfifo(fifo)
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("MEDADV_MEMORY_BUDGET", None)          # the default budget
    peaks = {}
    for name, path in [*bombs.items(), ("fifo", fifo)]:
        proc = subprocess.run([sys.executable, "-c", _RSS, sys.executable, "-m", "medadv_desktop", "info", str(path)],
                              capture_output=True, text=True, timeout=300, env=env)
        rc, peak = (int(v) for v in proc.stdout.split())
        peaks[name] = peak
        assert rc == 2, (name, proc.stderr)
        assert proc.stderr.startswith("medadv: error: Cannot read") and "Traceback" not in proc.stderr, proc.stderr
    print({k: f"{v / 2**20:.0f} MiB" for k, v in peaks.items()})
    assert max(peaks.values()) < 500 * 2**20, peaks
