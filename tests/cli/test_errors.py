"""The CLI's error rules (issue 14 items 4, 8, 9; issue 15's "argument errors before the model loads").

Every error is ONE line on stderr and exit status 2; the hint is a second line
only with --verbose; bad option values are found before anything is loaded;
budgets in units the images do not have are refused; library warnings stay
off stderr unless --verbose; names that the terminal cannot encode are
escaped instead of crashing the command.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from pydicom.data import get_testdata_file

from medadv_desktop.cli.main import main

CT = Path(get_testdata_file("CT_small.dcm"))
ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")


def run(capsys, *argv: str) -> tuple[int, str, list[str]]:
    rc = main([str(a) for a in argv])
    cap = capsys.readouterr()
    return rc, cap.out, [line for line in cap.err.splitlines() if line.strip()]


def only_error(lines: list[str]) -> str:
    """The single error line among stderr lines (progress lines of a run that got going are allowed before it)."""
    errors = [line for line in lines if line.startswith("medadv: error:") or "internal error" in line
              or "Traceback" in line]
    assert len(errors) == 1 and errors[0] == lines[-1], lines
    return errors[0]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from medadv_desktop.engine.demo import write_demo_dataset

    root = tmp_path_factory.mktemp("demo") / "data"
    write_demo_dataset(root, n_train=16, n_test=8)
    return root


@pytest.fixture(scope="module")
def png_data(tmp_path_factory):
    """A labelled folder of 8-bit PNG images (no units)."""
    from PIL import Image

    root = tmp_path_factory.mktemp("png") / "data"
    rng = np.random.default_rng(0)
    for label in ("no_finding", "lesion"):
        (root / label).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 255, (40, 40), dtype=np.uint8)).save(root / label / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def timm_card(tmp_path_factory):
    from tests.engine.training._tiny import make_card

    return make_card(tmp_path_factory.mktemp("timm"))


# --------------------------------------------------------------------------- one line, hint with --verbose
def test_errors_are_one_line_and_the_hint_needs_verbose(tmp_path, tiny_script_card, capsys):
    rc, _, lines = run(capsys, "report", tmp_path / "missing.json", "--pdf", tmp_path / "r.pdf")
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("medadv: error:") and "does not exist" in lines[0]
    rc, _, verbose = run(capsys, "report", tmp_path / "missing.json", "--pdf", tmp_path / "r.pdf", "--verbose")
    assert rc == 2 and verbose[0] == lines[0] and len(verbose) == 2 and verbose[1].startswith("medadv: hint:")
    rc, _, before = run(capsys, "-v", "report", tmp_path / "missing.json", "--pdf", tmp_path / "r.pdf")
    assert rc == 2 and before == verbose                       # --verbose before the command works too
    # a usage error: one line, the command named, no usage block
    rc, _, lines = run(capsys, "attack", "--model", tiny_script_card, "--attack", "fgsm", "--batch-size", "0",
                       CT, "--out", tmp_path / "o")
    assert rc == 2 and len(lines) == 1
    assert lines[0].startswith("medadv: error: attack: argument --batch-size:") and "usage" not in lines[0]
    # a missing required option, an unknown command
    rc, _, lines = run(capsys, "evaluate", "--data", tmp_path)
    assert rc == 2 and len(lines) == 1 and "--model" in lines[0]
    rc, _, lines = run(capsys, "attak")
    assert rc == 2 and len(lines) == 1 and "invalid choice" in lines[0]
    assert not (tmp_path / "o").exists()


# --------------------------------------------------------------------------- hostile option values
MISSING = "no-such-input"
#: (command, the rest of a command line with a missing input, option, smallest allowed value)
INT_OPTIONS = [
    ("attack", ["--attack", "fgsm", MISSING, "--out", "OUT"], "--batch-size", 1),
    ("attack", ["--attack", "fgsm", MISSING, "--out", "OUT"], "--target-class", 0),
    ("attack", ["--attack", "fgsm", MISSING, "--out", "OUT"], "--seed", 0),
    ("evaluate", ["--data", MISSING], "--batch-size", 1),
    ("evaluate", ["--data", MISSING], "--max-samples", 1),
    ("evaluate", ["--data", MISSING], "--n-examples", 0),
    ("evaluate", ["--data", MISSING], "--seed", 0),
    ("predict", [MISSING], "--batch-size", 1),
    ("train-adv", ["--data", MISSING, "--out", "OUT"], "--epochs", 1),
    ("train-adv", ["--data", MISSING, "--out", "OUT"], "--batch-size", 1),
    ("train-adv", ["--data", MISSING, "--out", "OUT"], "--steps", 1),
    ("train-adv", ["--data", MISSING, "--out", "OUT"], "--val-pgd-steps", 1),
    ("train-adv", ["--data", MISSING, "--out", "OUT"], "--max-eval-samples", 1),
    ("train-adv", ["--data", MISSING, "--out", "OUT"], "--eval-batch-size", 1),
    ("train-adv", ["--data", MISSING, "--out", "OUT"], "--seed", 0),
    ("demo-data", ["DIR"], "--n-train", 1),
    ("demo-data", ["DIR"], "--n-test", 1),
    ("demo-data", ["DIR"], "--seed", 0),
    ("info", [MISSING], "--volume", 0),
]
NEEDS_CARD = {"attack", "evaluate", "predict", "train-adv"}


def _line(command: str, rest: list[str], option: str, value: str, tmp_path: Path) -> list[str]:
    rest = [str(tmp_path / "out") if r == "OUT" else str(tmp_path / "new") if r == "DIR" else
            str(tmp_path / r) if r == MISSING else r for r in rest]
    card = ["--model", str(tmp_path / "no-card.json")] if command in NEEDS_CARD else []
    return [command, *card, *rest, f"{option}={value}"]


@pytest.mark.parametrize("command,rest,option,lowest", INT_OPTIONS,
                         ids=[f"{c}{o}" for c, _, o, _ in INT_OPTIONS])
def test_bad_whole_numbers_fail_before_anything_is_loaded(command, rest, option, lowest, tmp_path, capsys):
    """0 / -1 / 1.5 / text / 5000 digits / nan: one line naming the option, before the (missing) card or
    input is even looked at; nothing is written."""
    for value in [str(lowest - 1), "-1", "1.5", "", "four", "9" * 5000, "nan", "1e3", "0x10", "٣"]:
        rc, out, lines = run(capsys, *_line(command, rest, option, value, tmp_path))
        assert rc == 2, (option, value, lines)
        assert len(lines) == 1 and lines[0].startswith("medadv: error:") and option in lines[0], (value, lines)
        assert len(lines[0]) < 400
    assert sorted(os.listdir(tmp_path)) == []


@pytest.mark.parametrize("argv,parameter", [
    (["attack", "--attack", "fgsm", "--eps", "1/0"], "eps"),
    (["attack", "--attack", "fgsm", "--eps", "0/0"], "eps"),
    (["attack", "--attack", "pgd", "--alpha", "1/0"], "alpha"),
    (["attack", "--attack", "pgd", "--steps", "0"], "steps"),
    (["attack", "--attack", "square", "--n-queries", "-5"], "n_queries"),
    (["attack", "--attack", "fgsm", "--eps", "inf"], "eps"),
    (["evaluate", "--attacks", "fgsm", "--eps", "1/0"], "eps"),
    (["evaluate", "--attacks", "fgsm,pgd", "--eps", "1/255,0/0"], "eps"),
    (["evaluate", "--attacks", "pgd", "--alpha", "1/0"], "alpha"),
    (["train-adv", "--eps", "1/0"], "eps"),
    (["train-adv", "--eps", "0/0"], "eps"),
    (["train-adv", "--alpha", "1/0"], "alpha"),
    (["train-adv", "--eps-grid", "0/0"], "eps"),
    (["train-adv", "--lr", "nan"], "--lr"),
    (["train-adv", "--beta", "-inf"], "--beta"),
])
def test_bad_budgets_are_one_line_before_the_model_loads(argv, parameter, tmp_path, timm_card, capsys):
    """The card (JSON) is read, the missing data/study is not reached: the budget error comes first."""
    command, rest = argv[0], argv[1:]
    where = {"attack": [str(tmp_path / MISSING), "--out", str(tmp_path / "out")],
             "evaluate": ["--data", str(tmp_path / MISSING)],
             "train-adv": ["--data", str(tmp_path / MISSING), "--out", str(tmp_path / "out")]}[command]
    rc, _, lines = run(capsys, command, "--model", timm_card, *where, *rest)
    assert rc == 2 and len(lines) == 1, lines
    assert parameter in lines[0] and "does not exist" not in lines[0] and "internal" not in lines[0], lines
    assert not (tmp_path / "out").exists()


def test_argument_errors_come_before_the_card_and_evaluate_needs_no_json(demo, tiny_script_card, tmp_path, capsys):
    # issue 15: --report/--csv without --json work; bad arguments fail before anything is loaded
    rc, _, lines = run(capsys, "evaluate", "--model", tmp_path / "no-card.json", "--data", demo / "test",
                       "--report", tmp_path / "x.pdf", "--csv", tmp_path / "x.pdf")
    assert rc == 2 and len(lines) == 1 and "same file" in lines[0]
    rc, _, lines = run(capsys, "evaluate", "--model", tmp_path / "no-card.json", "--data", demo / "test",
                       "--norm", "l3")
    assert rc == 2 and len(lines) == 1 and "--norm" in lines[0]
    rc, out, lines = run(capsys, "evaluate", "--model", tiny_script_card, "--data", demo / "test",
                         "--attacks", "fgsm", "--eps", "2/255", "--report", tmp_path / "x.pdf",
                         "--csv", tmp_path / "x.csv", "--n-examples", "0")
    assert rc == 0, lines
    assert (tmp_path / "x.pdf").read_bytes()[:4] == b"%PDF" and (tmp_path / "x.csv").stat().st_size > 0
    assert "Clean accuracy" in out and "x.pdf" in out


# --------------------------------------------------------------------------- units
def test_native_unit_budgets_need_the_images_units(demo, png_data, tiny_script_card, timm_card, tmp_path, capsys):
    # the demo data are CT in HU: "6mm" is refused, "6HU" is fine (checked on the data, before the model loads)
    rc, _, lines = run(capsys, "evaluate", "--model", tiny_script_card, "--data", demo / "test", "--attacks", "fgsm",
                       "--eps", "1/255,6mm", "--json", tmp_path / "e.json")
    assert rc == 2 and "unit 'mm' does not match the data set's units 'HU'" in only_error(lines)
    rc, _, lines = run(capsys, "evaluate", "--model", tiny_script_card, "--data", demo / "test", "--attacks", "pgd",
                       "--steps", "1", "--alpha", "2mT", "--eps", "6HU", "--json", tmp_path / "e.json")
    assert rc == 2 and "alpha" in only_error(lines) and "mT" in lines[-1]
    # PNG images have no units: a native-unit budget means nothing there
    rc, _, lines = run(capsys, "evaluate", "--model", tiny_script_card, "--data", png_data, "--attacks", "fgsm",
                       "--eps", "6HU", "--json", tmp_path / "p.json")
    assert rc == 2 and "has no units" in only_error(lines)
    rc, _, lines = run(capsys, "attack", "--model", tiny_script_card, "--attack", "fgsm", "--eps", "6HU",
                       png_data / "lesion" / "0.png", "--out", tmp_path / "a")
    assert rc == 2 and "has no units" in only_error(lines)
    rc, _, lines = run(capsys, "attack", "--model", tiny_script_card, "--attack", "fgsm", "--eps", "6mm", CT,
                       "--out", tmp_path / "a")
    assert rc == 2 and "does not match the study's units 'HU'" in only_error(lines)
    for budget in (["--eps", "6mm"], ["--eps", "2HU", "--alpha", "1mm"], ["--eps-grid", "1/255,3mm"]):
        rc, _, lines = run(capsys, "train-adv", "--model", timm_card, "--data", demo, "--epochs", "1",
                           "--out", tmp_path / "t", *budget)
        assert rc == 2 and "does not match the data set's units 'HU'" in only_error(lines), budget
    rc, _, lines = run(capsys, "train-adv", "--model", timm_card, "--data", png_data, "--epochs", "1",
                       "--eps", "3HU", "--out", tmp_path / "t")
    assert rc == 2 and "has no units" in only_error(lines)
    assert not any((tmp_path / n).exists() for n in ("e.json", "p.json", "a", "t"))


# --------------------------------------------------------------------------- resume of a damaged run
@pytest.mark.parametrize("content", ["[]", "3", "{\"fingerprint\": ", "\"x\""])
def test_resume_with_a_run_json_that_is_not_a_record(content, demo, timm_card, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_text(content)
    rc, _, lines = run(capsys, "train-adv", "--model", timm_card, "--data", demo, "--epochs", "1", "--out", out,
                       "--resume", "--device", "cpu")
    assert rc == 2 and "not a MedAdv training run record" in only_error(lines)
    assert (out / "run.json").read_text() == content and sorted(os.listdir(out)) == ["run.json"]


def test_resume_after_the_final_model_write_failed(demo, timm_card, tmp_path, capsys):
    """model.safetensors without model_card.json (the disk filled up between them): --resume sets the
    weights aside (never deleted) and writes the final model again from the checkpoints."""
    out = tmp_path / "run"
    common = ["train-adv", "--model", timm_card, "--data", demo, "--epochs", "1", "--out", out, "--batch-size",
              "8", "--val-pgd-steps", "1", "--attacks", "fgsm", "--eps-grid", "1/255", "--max-eval-samples", "4",
              "--device", "cpu"]
    rc, _, lines = run(capsys, *common)
    assert rc == 0, lines
    (out / "model_card.json").unlink()
    (out / "before_after.json").unlink()
    rc, _, lines = run(capsys, *common)
    assert rc == 2 and "without its model card" in only_error(lines)
    rc, out_text, lines = run(capsys, *common, "--resume")
    assert rc == 0, lines
    assert (out / "model_card.json").is_file() and (out / "model.safetensors.incomplete-1").is_file()


# --------------------------------------------------------------------------- warnings and encodings
class Noisy(torch.nn.Module):
    """Warns on every forward pass (as a library deep inside a model might)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        warnings.warn("noisy model: inspect me", stacklevel=2)
        return x.mean(dim=(2, 3)).repeat(1, 2)


def _warning_card(folder: Path, num_classes: int = 2) -> Path:
    folder.mkdir(parents=True)
    torch.jit.script(Noisy()).save(str(folder / "model.pt"))
    card = {"name": "noisy", "format": "torchscript", "weights": "model.pt", "num_classes": num_classes,
            "class_names": ["a", "b", "c"][:num_classes], "input_size": [32, 32], "intensity": {"mode": "minmax"}}
    (folder / "model_card.json").write_text(json.dumps(card))
    return folder / "model_card.json"


def test_library_warnings_are_shown_only_with_verbose(tmp_path, capsys):
    card = _warning_card(tmp_path / "noisy")
    rc, out, lines = run(capsys, "predict", "--model", card, CT)
    assert rc == 0 and lines == [] and "-> " in out
    rc, _, lines = run(capsys, "predict", "--model", card, CT, "--verbose")
    assert rc == 0 and lines == [next(x for x in lines if "noisy" in x)]
    assert lines[0].startswith("medadv: warning: UserWarning: noisy model: inspect me")
    # a card error next to the warnings: still the one error line
    bad = _warning_card(tmp_path / "noisy3", num_classes=3)
    rc, _, lines = run(capsys, "predict", "--model", bad, CT)
    assert rc == 2 and len(lines) == 1 and "num_classes 3" in lines[0]


def _bad_name_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "studies"
    folder.mkdir()
    shutil.copy(CT, folder / "good.dcm")
    bad = os.path.join(os.fsencode(folder), b"caf\xe9-\xff.dcm")     # Latin-1 bytes: not UTF-8
    with open(bad, "wb") as fh:
        fh.write(b"not a dicom file at all")
    return folder


@pytest.mark.skipif(sys.platform != "linux", reason="non-UTF-8 file names are a POSIX thing")
@pytest.mark.parametrize("env", [{"PYTHONIOENCODING": "ascii:strict"}, {"LC_ALL": "C", "PYTHONUTF8": "0"},
                                 {"PYTHONIOENCODING": "utf-8:strict"}])
def test_non_utf8_file_names_with_a_strict_terminal(env, tmp_path):
    folder = _bad_name_folder(tmp_path)
    full = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    full.pop("MEDADV_DEBUG", None)
    for argv in (["info", str(folder)], ["info", str(folder), "--json"]):
        proc = subprocess.run([sys.executable, "-m", "medadv_desktop", *argv], capture_output=True, env=full,
                              timeout=300)
        err = proc.stderr.decode("utf-8", "replace")
        assert proc.returncode == 0, err
        assert "Traceback" not in err and "internal error" not in err and "UnicodeEncodeError" not in err
        out = proc.stdout
        assert b"1 study found" in out or b'"studies"' in out
        if "--json" in argv:
            doc = json.loads(out.decode("utf-8", "surrogateescape"))
            assert len(doc["failures"]) == 1 and doc["failures"][0]["file"].endswith(".dcm")
        else:
            assert b".dcm:" in out
    # an error line that quotes such a name: still one line, exit 2
    proc = subprocess.run([sys.executable, "-m", "medadv_desktop", "predict", "--model",
                           os.fsdecode(os.path.join(os.fsencode(tmp_path), b"m\xe9del.json")), str(CT)],
                          capture_output=True, env=full, timeout=300)
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith(b"medadv: error:"), proc.stderr
