"""Hostile inputs through the command line (issue 14 items 3, 4, 6, 8): every model-loading command turns a
hostile model card into one line and exit 2 before any weights are read; ``medadv report`` refuses a device
or a pipe without reading it, and a folder or a JSON nested thousands of levels deep in one line; two ``medadv
report`` processes writing the same PDF at once: exactly one wins, the other stops with one line and leaves
nothing behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from medadv_desktop.cli.main import main

CT = Path(get_testdata_file("CT_small.dcm"))
ROOT = Path(__file__).resolve().parents[2]


def run(capsys, *argv) -> tuple[int, list[str]]:
    rc = main([str(a) for a in argv])
    return rc, [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def only_error(lines: list[str]) -> str:
    assert len(lines) == 1 and lines[0].startswith("medadv: error:"), lines
    assert "internal error" not in lines[0] and "Traceback" not in lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def result_json(tmp_path_factory) -> Path:
    from tests.engine.reports.fixtures import make_result

    return make_result().save(tmp_path_factory.mktemp("result") / "result.json")


@pytest.fixture
def no_model_load(monkeypatch):
    """Any attempt to load weights fails the test: hostile cards must be refused from their JSON."""
    import medadv_desktop.engine.models as models
    from medadv_desktop.engine.models import loading

    def probe(*args, **kwargs):
        raise AssertionError("a model was loaded from a hostile card")

    monkeypatch.setattr(models, "load_classifier", probe, raising=False)
    monkeypatch.setattr(loading, "load_classifier", probe)


# --------------------------------------------------------------------------- hostile model cards
def _card_variants(good: str) -> dict[str, tuple[str, str]]:
    """name -> (card text, a word the error line must hold)."""
    doc = json.loads(good)

    def edited(**changes) -> str:
        return json.dumps({**doc, **changes})

    return {
        "deeply-nested": (good[:-1] + ', "provenance": {"x": ' + "[" * 100000 + "]" * 100000 + "}}", "nested"),
        "5000-digit-classes": (good.replace(f'"num_classes": {doc["num_classes"]}', '"num_classes": ' + "9" * 5000)
                               if '"num_classes"' in good else edited(num_classes=int("9" * 40)), "num_classes"),
        "std-infinity": (good[:-1] + ', "std": [Infinity]}', "std"),
        "width-1e308": (edited(intensity={"mode": "window", "center": 40, "width": 1e308}), "width"),
        "input-4096": (edited(input_size=[4096, 4096]), "input_size"),
        "weights-etc-shadow": (edited(weights="../../../../etc/shadow"), "card's folder"),
        "weights-absolute": (edited(weights="/etc/passwd"), "card's folder"),
        "not-an-object": ("[]", "model card"),
    }


@pytest.mark.parametrize("command", ["predict", "attack", "evaluate", "train-adv"])
def test_hostile_cards_are_one_line_in_every_command(command, tiny_script_card, tmp_path, capsys, no_model_load):
    good = Path(tiny_script_card).read_text(encoding="utf-8")
    data = tmp_path / "data"
    for name, (text, word) in _card_variants(good).items():
        folder = tmp_path / name
        folder.mkdir()
        card = folder / "model_card.json"
        card.write_text(text, encoding="utf-8")
        argv = {"predict": ["predict", "--model", card, CT],
                "attack": ["attack", "--model", card, "--attack", "fgsm", CT, "--out", tmp_path / "adv"],
                "evaluate": ["evaluate", "--model", card, "--data", data, "--attacks", "fgsm",
                             "--json", tmp_path / "e.json"],
                "train-adv": ["train-adv", "--model", card, "--data", data, "--out", tmp_path / "t"]}[command]
        rc, lines = run(capsys, *argv)
        line = only_error(lines)
        assert rc == 2 and word.lower() in line.lower(), (name, line)
        assert len(line) < 600, (name, len(line))
    assert not any((tmp_path / n).exists() for n in ("adv", "e.json", "t"))


# --------------------------------------------------------------------------- report inputs that are not files
def test_report_refuses_devices_pipes_folders_and_deep_json_without_reading_them(result_json, tmp_path, capsys):
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)                   # opening it for reading would block for ever
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 200000 + "]" * 200000)
    deep_object = tmp_path / "deep_object.json"
    deep_object.write_text('{"rows": ' + "[" * 200000 + "]" * 200000 + ', "clean_accuracy": 1}')
    hostile = {"/dev/zero": "not a regular file", str(fifo): "not a regular file", str(tmp_path): "folder",
               str(deep): "RecursionError", str(deep_object): "RecursionError"}
    out = tmp_path / "out"
    out.mkdir()
    for path, words in hostile.items():
        rc, lines = run(capsys, "report", path, "--pdf", out / "r.pdf", "--csv", out / "r.csv")
        assert rc == 2 and words in only_error(lines), (path, lines)
        if path == str(tmp_path):
            continue                      # the outputs lie inside it: refused for that reason first
        rc, lines = run(capsys, "report", result_json, "--before-after", path, "--pdf", out / "r.pdf")
        line = only_error(lines)
        assert rc == 2 and ("not a regular file" in line or "folder" in line or "JSON" in line
                            or "nested" in line), (path, line)
    assert sorted(os.listdir(out)) == []


# --------------------------------------------------------------------------- two processes, one output
def test_two_report_processes_racing_for_one_pdf_exactly_one_wins(result_json, tmp_path):
    """Issue 14 item 6: two simultaneous `medadv report ... --pdf X.pdf` both exited 0. Both processes
    start together and pass the early 'does it exist' check; the safe writer lets exactly one of them put
    its file in place; the other stops with one line and its other output (a CSV) is removed again."""
    from pypdf import PdfReader

    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PYTHONIOENCODING": "utf-8"}
    for round_ in range(2):
        folder = tmp_path / f"round{round_}"
        folder.mkdir()
        procs = [subprocess.Popen([sys.executable, "-m", "medadv_desktop", "report", str(result_json),
                                   "--pdf", str(folder / "X.pdf"), "--csv", str(folder / f"mine{i}.csv")],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
                 for i in range(2)]
        outcomes = [(p.wait(timeout=600), p.stderr.read() if p.stderr else "") for p in procs]
        for p in procs:
            for stream in (p.stdout, p.stderr):
                if stream:
                    stream.close()
        codes = sorted(rc for rc, _ in outcomes)
        assert codes == [0, 2], outcomes
        loser = next(i for i, (rc, _) in enumerate(outcomes) if rc == 2)
        err = [line for line in outcomes[loser][1].splitlines() if line.strip()]
        assert err and err[-1].startswith("medadv: error:") and "already exists" in err[-1], err
        assert not any("internal error" in line or "Traceback" in line for line in err)
        # the winner's PDF is whole; the loser's CSV is gone with its failed PDF (all or nothing); no temp file
        assert len(PdfReader(folder / "X.pdf").pages) >= 1
        assert sorted(os.listdir(folder)) == sorted(["X.pdf", f"mine{1 - loser}.csv"]), os.listdir(folder)
