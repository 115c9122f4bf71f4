"""What the CLI writes (issue 14 items 5, 6, 7, 8): a full or read-only disk never loses a finished result
and never leaves a partial output; no output touches an input; identity kept only on request; weights
outside the card's folder only on request.

A full disk is made two ways: a real 16 KiB tmpfs (root on Linux; skipped otherwise) and, everywhere, the
safe writer's temporary files refused with ENOSPC/EROFS inside the output folder after a given number of
files (the disk "fills up" part-way through a set of outputs). The fallback folder goes to a temporary
folder of the test (``tempfile.tempdir``) and HOME points into the test's folder as well.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from medadv_desktop.cli.main import main
from tests.conftest import make_tiny_card

CT = Path(get_testdata_file("CT_small.dcm"))

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")


def run(capsys, *argv) -> tuple[int, str, list[str]]:
    rc = main([str(a) for a in argv])
    cap = capsys.readouterr()
    return rc, cap.out, [line for line in cap.err.splitlines() if line.strip()]


def error_line(lines: list[str]) -> str:
    errors = [line for line in lines if line.startswith("medadv: error:")]
    assert len(errors) == 1 and errors[0] == lines[-1], lines
    assert not any("internal error" in line or "Traceback" in line for line in lines)
    return errors[0]


def files(folder: Path) -> list[str]:
    """Every file below ``folder`` (hidden temporary files included), relative names, sorted."""
    if not folder.exists():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def fail_writes(monkeypatch, folder: Path | None, *, after: int = 0, err: int = errno.ENOSPC) -> None:
    """The safe writer's temporary files inside ``folder`` (everywhere when None) fail with ``err`` once
    ``after`` of them have been created: the disk fills up (or is read-only) part-way."""
    real = tempfile.mkstemp
    made = [0]

    def mkstemp(*args, dir=None, **kwargs):  # noqa: A002  (tempfile's own name)
        inside = folder is None or (dir is not None and Path(dir).resolve().is_relative_to(folder.resolve()))
        if inside:
            made[0] += 1
            if made[0] > after:
                raise OSError(err, os.strerror(err))
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)


@pytest.fixture
def fallback_root(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "system-tmp"
    root.mkdir()
    (tmp_path / "home").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return root


def saved_folder(line: str) -> Path:
    m = re.search(r"saved instead in '([^']+)'", line)
    assert m, line
    return Path(m.group(1))


@pytest.fixture(scope="module")
def card(tmp_path_factory) -> Path:
    return make_tiny_card(tmp_path_factory.mktemp("model"), format="torchscript")


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    from medadv_desktop.engine.demo import write_demo_dataset

    root = tmp_path_factory.mktemp("demo") / "data"
    write_demo_dataset(root, n_train=16, n_test=8)
    return root


@pytest.fixture(scope="module")
def timm_card(tmp_path_factory) -> Path:
    from tests.engine.training._tiny import make_card

    return make_card(tmp_path_factory.mktemp("timm"))


# --------------------------------------------------------------------------- full / read-only disk
def test_attack_on_a_full_disk_saves_the_whole_result_elsewhere(card, tmp_path, fallback_root, capsys, monkeypatch):
    out = tmp_path / "out"
    fail_writes(monkeypatch, out, after=1)          # the adversarial DICOM fits, the perturbation map does not
    rc, stdout, lines = run(capsys, "attack", "--model", card, "--attack", "fgsm", "--eps", "4/255", CT,
                            "--out", out)
    line = error_line(lines)
    assert rc == 2 and "disk is full" in line and "nothing was written there" in line
    assert files(out) == []                           # nothing partial, no temporary file
    folder = saved_folder(line)
    assert folder.parent == fallback_root and folder.name.startswith("medadv-unsaved-")
    names = files(folder)
    assert len(names) == 4 and sum(n.endswith("_adv.dcm") for n in names) == 1
    summary = json.loads(next(folder.glob("*_summary.json")).read_text())
    assert sorted(summary["outputs"]) == sorted(n for n in names if not n.endswith("_summary.json"))
    assert pydicom.dcmread(next(folder.glob("*_adv.dcm"))).PatientIdentityRemoved == "YES"
    assert stdout == ""


@pytest.mark.parametrize("err,words", [(errno.ENOSPC, "disk is full"), (errno.EROFS, "read-only")])
def test_evaluate_on_a_full_or_read_only_disk(err, words, card, demo, tmp_path, fallback_root, capsys, monkeypatch):
    out = tmp_path / "out"
    fail_writes(monkeypatch, out, after=1, err=err)   # the JSON fits, the CSV does not
    rc, stdout, lines = run(capsys, "evaluate", "--model", card, "--data", demo / "test", "--attacks", "fgsm",
                            "--eps", "4/255", "--n-examples", "0", "--json", out / "r.json", "--csv", out / "r.csv",
                            "--report", out / "r.pdf")
    line = error_line(lines)
    assert rc == 2 and words in line and files(out) == []
    assert "Clean accuracy" in stdout                 # the table was shown anyway
    folder = saved_folder(line)
    assert files(folder) == ["r.csv", "r.json", "r.pdf"]
    assert json.loads((folder / "r.json").read_text())["n_samples"] == 8
    assert (folder / "r.pdf").read_bytes()[:4] == b"%PDF"


def test_evaluate_when_no_fallback_can_take_it_either(card, demo, tmp_path, fallback_root, capsys, monkeypatch):
    out = tmp_path / "out"
    fail_writes(monkeypatch, None, after=0)          # every disk is full
    rc, _, lines = run(capsys, "evaluate", "--model", card, "--data", demo / "test", "--attacks", "fgsm",
                       "--eps", "4/255", "--n-examples", "0", "--json", out / "r.json")
    line = error_line(lines)
    assert rc == 2 and "could not be saved elsewhere either" in line and "nothing partial" in line
    assert files(out) == [] and files(fallback_root) == [] and files(tmp_path / "home") == []
    assert not list(fallback_root.iterdir()) and not list((tmp_path / "home").iterdir())


def test_report_on_a_full_disk_keeps_no_partial_set(tmp_path, capsys, monkeypatch):
    from tests.engine.reports.fixtures import make_result

    src = make_result().save(tmp_path / "result.json")
    before = src.read_bytes()
    out = tmp_path / "reports"
    fail_writes(monkeypatch, out, after=2)           # JSON and summary CSV fit, the per-sample CSV does not
    rc, _, lines = run(capsys, "report", src, "--json", out / "r.json", "--summary-csv", out / "s.csv",
                       "--csv", out / "c.csv", "--pdf", out / "r.pdf")
    line = error_line(lines)
    assert rc == 2 and "disk is full" in line and "result.json' still holds the whole result" in line
    assert files(out) == [] and src.read_bytes() == before


def test_train_adv_full_disk_keeps_complete_checkpoints_and_resumes(timm_card, demo, tmp_path, fallback_root,
                                                                   capsys, monkeypatch):
    out = tmp_path / "hardened"
    common = ["train-adv", "--model", timm_card, "--data", demo, "--epochs", "2", "--out", out, "--batch-size", "8",
              "--val-pgd-steps", "1", "--attacks", "fgsm", "--eps-grid", "1/255", "--max-eval-samples", "4",
              "--device", "cpu"]
    fail_writes(monkeypatch, out, after=3)           # run.json and checkpoint 1 fit, checkpoint 2 does not
    rc, _, lines = run(capsys, *common)
    line = error_line(lines)
    assert rc == 2 and "disk is full" in line and "--resume" in line
    assert files(out) == ["checkpoint-epoch-001.json", "checkpoint-epoch-001.safetensors", "run.json"]
    monkeypatch.undo()
    rc, stdout, lines = run(capsys, *common, "--resume")
    assert rc == 0, lines
    assert "Resuming from the checkpoint of epoch 1" in stdout and (out / "before_after.json").is_file()


def test_train_adv_table_on_a_full_disk_is_saved_elsewhere(timm_card, demo, tmp_path, fallback_root, capsys,
                                                          monkeypatch):
    out = tmp_path / "hardened"
    # run.json, one checkpoint pair, model.safetensors, model_card.json fit; before_after.json does not
    fail_writes(monkeypatch, out, after=5)
    rc, stdout, lines = run(capsys, "train-adv", "--model", timm_card, "--data", demo, "--epochs", "1", "--out", out,
                            "--batch-size", "8", "--val-pgd-steps", "1", "--attacks", "fgsm", "--eps-grid", "1/255",
                            "--max-eval-samples", "4", "--device", "cpu")
    line = error_line(lines)
    assert rc == 2 and "before_after.json" in line and "worst-case" in stdout
    assert (out / "model_card.json").is_file() and not (out / "before_after.json").exists()
    assert not [n for n in files(out) if n.endswith(".part")]
    table = json.loads((saved_folder(line) / "before_after.json").read_text())
    assert table["n_samples"] == 4


def test_demo_data_on_a_full_disk_leaves_nothing(tmp_path, capsys, monkeypatch):
    target = tmp_path / "demo"
    real = Path.write_bytes
    count = [0]

    def write_bytes(self, data):
        if str(self).startswith(str(tmp_path)):
            count[0] += 1
            if count[0] > 5:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    rc, _, lines = run(capsys, "demo-data", target, "--n-train", "8", "--n-test", "4", "-q")
    line = error_line(lines)
    assert rc == 2 and "disk is full" in line
    assert sorted(os.listdir(tmp_path)) == []


def _mount(folder: Path, options: str) -> bool:
    if not sys.platform.startswith("linux") or os.geteuid() != 0 or not shutil.which("mount"):
        return False
    folder.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True,
                          timeout=30).returncode == 0


def test_real_full_and_read_only_tmpfs(card, demo, tmp_path, fallback_root, capsys):
    full, ro = tmp_path / "full", tmp_path / "ro"          # 16 KiB: a result JSON fits, not its PDF
    if not _mount(full, "size=16k"):
        pytest.skip("mounting a tmpfs needs root on Linux")
    try:
        rc, _, lines = run(capsys, "evaluate", "--model", card, "--data", demo / "test", "--attacks", "fgsm",
                           "--eps", "4/255", "--n-examples", "2", "--json", full / "r.json", "--report", full / "r.pdf")
        line = error_line(lines)
        assert rc == 2 and "disk is full" in line and files(full) == []
        assert files(saved_folder(line)) == ["r.json", "r.pdf"]
        rc, _, lines = run(capsys, "demo-data", full / "demo", "--n-train", "40", "--n-test", "4", "-q")
        assert rc == 2 and "disk is full" in error_line(lines) and files(full) == []
    finally:
        subprocess.run(["umount", str(full)], timeout=30)
    if not _mount(ro, "size=64k,ro"):
        pytest.skip("read-only tmpfs not available")
    try:
        rc, _, lines = run(capsys, "attack", "--model", card, "--attack", "fgsm", CT, "--out", ro / "adv")
        line = error_line(lines)
        assert rc == 2 and "read-only" in line and files(ro) == []
        assert len(files(saved_folder(line))) == 4
    finally:
        subprocess.run(["umount", str(ro)], timeout=30)


# --------------------------------------------------------------------------- outputs never over inputs
def test_no_output_over_an_input(card, demo, timm_card, tmp_path, capsys):
    from tests.engine.reports.fixtures import make_result

    src = make_result().save(tmp_path / "result.json")
    before = src.read_bytes()
    for extra in (["--pdf", src, "--overwrite"], ["--json", src, "--overwrite"], ["--csv", tmp_path / "b.json",
                  "--before-after", tmp_path / "b.json"]):
        (tmp_path / "b.json").write_text("{}")
        rc, _, lines = run(capsys, "report", src, *extra)
        assert rc == 2 and "MedAdv never writes over its own inputs" in error_line(lines), extra
    assert src.read_bytes() == before and (tmp_path / "b.json").read_text() == "{}"

    series = tmp_path / "series"
    series.mkdir()
    shutil.copy(CT, series / "a.dcm")
    for study, out in ((series, series), (series, series / "adv"), (series / "a.dcm", series / "a.dcm"),
                       (series, series / "a.dcm" / "x")):
        rc, _, lines = run(capsys, "attack", "--model", card, "--attack", "fgsm", study, "--out", out)
        line = error_line(lines)
        assert rc == 2 and ("never writes" in line or "already exists" in line), (out, line)
    assert files(series) == ["a.dcm"]
    for extra in (["--json", card], ["--csv", demo / "test" / "r.csv"], ["--report", card.parent / "model.pt"]):
        rc, _, lines = run(capsys, "evaluate", "--model", card, "--data", demo / "test", "--attacks", "fgsm", *extra)
        line = error_line(lines)
        assert rc == 2 and ("never writes" in line or "already exists" in line), extra
    for out in (demo, demo / "train" / "hardened", timm_card):
        rc, _, lines = run(capsys, "train-adv", "--model", timm_card, "--data", demo, "--epochs", "1", "--out", out)
        line = error_line(lines)
        assert rc == 2 and ("never writes" in line or "already" in line or "other files" in line), (out, line)
    assert not (demo / "train" / "hardened").exists() and not (demo / "test" / "r.csv").exists()


# --------------------------------------------------------------------------- identity and card confinement
def test_adversarial_dicom_is_de_identified_unless_keep_identity(card, tmp_path, capsys):
    original = pydicom.dcmread(CT)
    rc, stdout, lines = run(capsys, "attack", "--model", card, "--attack", "fgsm", CT, "--out", tmp_path / "a")
    assert rc == 0 and "(de-identified)" in stdout and not any("keep-identity" in x for x in lines)
    adv = pydicom.dcmread(next((tmp_path / "a").glob("*_adv.dcm")))
    assert str(adv.PatientName) != str(original.PatientName) and adv.PatientIdentityRemoved == "YES"
    assert adv.StudyInstanceUID != original.StudyInstanceUID
    summary = json.loads(next((tmp_path / "a").glob("*_summary.json")).read_text())
    assert summary["keep_identity"] is False
    assert str(original.PatientName) not in json.dumps(summary)

    rc, stdout, lines = run(capsys, "attack", "--model", card, "--attack", "fgsm", CT, "--out", tmp_path / "k",
                            "--keep-identity")
    assert rc == 0 and "identity kept" in stdout
    assert any(x.startswith("medadv: note: --keep-identity") for x in lines)
    kept = pydicom.dcmread(next((tmp_path / "k").glob("*_adv.dcm")))
    assert str(kept.PatientName) == str(original.PatientName) and kept.PatientID == original.PatientID
    assert kept.SOPInstanceUID != original.SOPInstanceUID and "ADVERSARIAL" in str(kept.SeriesDescription)
    assert json.loads(next((tmp_path / "k").glob("*_summary.json")).read_text())["keep_identity"] is True


def test_weights_outside_the_card_folder_need_the_flag(demo, tmp_path, capsys):
    made = make_tiny_card(tmp_path / "made", format="torchscript")
    shared = tmp_path / "shared"
    shared.mkdir()
    shutil.move(str(made.parent / "model.pt"), shared / "model.pt")
    doc = json.loads(made.read_text())
    doc["weights"] = "../shared/model.pt"
    (tmp_path / "cards").mkdir()
    card = tmp_path / "cards" / "model_card.json"
    card.write_text(json.dumps(doc))
    commands = {
        "predict": ["predict", "--model", card, CT],
        "attack": ["attack", "--model", card, "--attack", "fgsm", CT, "--out", tmp_path / "adv"],
        "evaluate": ["evaluate", "--model", card, "--data", demo / "test", "--attacks", "fgsm", "--eps", "1/255",
                     "--n-examples", "0"],
        "train-adv": ["train-adv", "--model", card, "--data", tmp_path / "none", "--out", tmp_path / "t"],
    }
    for name, argv in commands.items():
        rc, _, lines = run(capsys, *argv)
        line = error_line(lines)
        assert rc == 2 and "climbs out of the card's folder" in line and "--allow-outside-card-dir" in line, name
        rc, _, lines = run(capsys, *argv, "--allow-outside-card-dir")
        note = [x for x in lines if x.startswith("medadv: note: --allow-outside-card-dir")]
        assert len(note) == 1 and "model.pt" in note[0], (name, lines)
        if name == "train-adv":                      # gets past the card: the missing data is the next problem
            assert rc == 2 and "does not exist" in error_line(lines), lines
        else:
            assert rc == 0, (name, lines)
