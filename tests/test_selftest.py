"""The installation self-test (``python -m medadv_desktop.selftest``, ``MedAdvDesktop --self-test``).

Runs the real self-test from the source tree: the bundled demo study and
model, FGSM through the engine, PDF/CSV/JSON reports, the GUI offscreen in a
child process, and the JPEG-LS / JPEG 2000 decoders. Plus the small helpers
on real inputs (labels.csv parsing on a real DICOM series, PDF page count,
blank-screenshot detection).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from medadv_desktop import selftest
from medadv_desktop.paths import demo_model_card, resources_dir


def test_demo_resources_are_present():
    """The self-test (and the bundle) needs them; a missing one must fail loudly, not skip."""
    assert (resources_dir() / "demo_study" / "labels.csv").is_file()
    assert demo_model_card().is_file()


def test_full_self_test_passes_and_writes_only_into_its_folder(tmp_path, capsys, monkeypatch):
    # anything written outside the output folder would land in these throw-away homes
    home = tmp_path / "home"
    home.mkdir()
    for var in ("HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME"):
        monkeypatch.setenv(var, str(home) if var == "HOME" else str(home / var.lower()))
    monkeypatch.delenv("MEDADV_PSEUDONYM_SALT", raising=False)
    out = tmp_path / "selftest-out"
    code = selftest.run_self_test(out)
    text = capsys.readouterr().out
    assert code == 0, text
    lines = text.splitlines()
    assert sum(ln.startswith("[ok] ") for ln in lines) == len(selftest.STEPS), text
    assert lines[-1].startswith("self-test passed")
    assert "[FAILED]" not in text
    pdf = (out / "reports" / "self-test-report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF")
    from pypdf import PdfReader

    assert len(PdfReader(out / "reports" / "self-test-report.pdf").pages) == selftest.count_pdf_pages(pdf) >= 1
    assert (out / "gui" / "self-test-window.png").stat().st_size > 10_000
    # the salt came from the environment for the run and was restored; no per-user file was created
    assert "MEDADV_PSEUDONYM_SALT" not in os.environ
    assert not any(p.is_file() for p in home.rglob("*")), sorted(str(p) for p in home.rglob("*"))
    # no PHI of the (synthetic) demo study in the output
    assert "SYNTHETIC^DEMO" not in text and "MEDADV-DEMO" not in text


def test_failure_is_reported_in_words_and_returns_1(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MEDADV_RESOURCES", str(tmp_path / "no-such-resources"))
    code = selftest.run_self_test(steps=["demo", "attack", "reports"])
    text = capsys.readouterr().out
    assert code == 1
    assert "[FAILED] The demo study folder is missing" in text
    assert "reinstall MedAdv Desktop" in text
    assert "[FAILED] attack: not run, it needs the 'demo' step" in text
    assert "self-test FAILED: 3 of 3 step(s) failed" in text


def test_existing_output_folder_is_refused(tmp_path, capsys):
    (tmp_path / "keep").mkdir()
    assert selftest.run_self_test(tmp_path / "keep", steps=["decoders"]) == 1
    assert "already exists" in capsys.readouterr().out


def test_labels_from_series_file_names_and_slice_numbers(tmp_path):
    """labels.csv by file name (in slice order of the series) and by slice index, on a real DICOM series."""
    from medadv_desktop.engine.demo.dicom_writer import SliceGeometry, ct_slice_dataset, dataset_bytes, demo_uid
    from medadv_desktop.engine.io import open_path

    folder = tmp_path / "series"
    folder.mkdir()
    for i, z in enumerate([3.0, 1.0, 2.0]):  # files not in slice order
        hu = np.full((16, 16), 40 + 10 * i, dtype=np.int16)
        ds = ct_slice_dataset(hu, study_uid=demo_uid("t"), series_uid=demo_uid("t", "s"), sop_uid=demo_uid("t", i),
                              frame_uid=demo_uid("t", "f"), geometry=SliceGeometry((1.0, 1.0), 1.0, (0.0, 0.0, z)),
                              instance_number=i + 1)
        (folder / f"f{i}.dcm").write_bytes(dataset_bytes(ds))
    study = open_path(folder).studies[0]
    assert study.n_slices == 3
    names = [p.name for p in study.source_paths]
    (folder / "labels.csv").write_text("path,label\nf0.dcm,lesion\nf1.dcm,no_finding\nf2.dcm,1\n")
    expected = [{"f0.dcm": 1, "f1.dcm": 0, "f2.dcm": 1}[n] for n in names]
    assert selftest.read_slice_labels(study, folder / "labels.csv", ["no_finding", "lesion"]) == expected
    (folder / "labels.csv").write_text("slice,label\n0,no_finding\n1,lesion\n2,lesion\n")
    assert selftest.read_slice_labels(study, folder / "labels.csv", ["no_finding", "lesion"]) == [0, 1, 1]
    (folder / "labels.csv").write_text("slice,label\n0,no_finding\n1,tumour\n2,lesion\n")
    with pytest.raises(selftest.SelfTestError, match="'tumour' is not one of no_finding, lesion"):
        selftest.read_slice_labels(study, folder / "labels.csv", ["no_finding", "lesion"])
    (folder / "labels.csv").write_text("slice,label\n0,no_finding\n")
    with pytest.raises(selftest.SelfTestError, match="labels for 1 of the 3"):
        selftest.read_slice_labels(study, folder / "labels.csv", ["no_finding", "lesion"])


def test_blank_screenshot_is_rejected(tmp_path):
    from PIL import Image

    blank = tmp_path / "blank.png"
    Image.new("RGB", (800, 600), (30, 30, 30)).save(blank)
    with pytest.raises(selftest.SelfTestError, match="looks blank"):
        selftest.png_is_non_trivial(blank)
    with pytest.raises(selftest.SelfTestError, match="did not write"):
        selftest.png_is_non_trivial(tmp_path / "missing.png")


def test_gui_command_from_source_runs_the_app_module():
    assert selftest.gui_command(["--demo"]) == [sys.executable, "-m", "medadv_desktop.ui.app", "--demo"]


def test_entry_point_dispatches_self_test(capsys):
    """installer/entry.py: --self-test goes to the self-test (here only the decoder step)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("medadv_installer_entry",
                                                  Path(__file__).resolve().parent.parent / "installer" / "entry.py")
    entry = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(entry)
    assert entry.main(["--self-test", "--steps", "decoders"]) == 0
    assert "self-test passed (1 step," in capsys.readouterr().out
