"""`medadv train-adv` re-tests corruptions before/after (demo DICOM train/ and test/, a tiny timm model):
the default small set, a chosen set and severities, the off switch, and bad options refused before training."""

import json

import pytest

from medadv_desktop.cli.main import main
from tests.engine.training._tiny import make_card

BASE = ["--method", "fgsm", "--eps", "2/255", "--epochs", "1", "--batch-size", "8", "--val-split", "0",
        "--attacks", "fgsm", "--eps-grid", "1/255", "--max-eval-samples", "6", "--device", "cpu"]


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    from medadv_desktop.engine.demo import write_demo_dataset

    root = tmp_path_factory.mktemp("tcdemo") / "data"
    write_demo_dataset(root, seed=0, n_train=8, n_test=6)
    return root


@pytest.fixture(scope="module")
def card(tmp_path_factory):
    return make_card(tmp_path_factory.mktemp("tcmodel") / "model")


def test_default_small_set_then_chosen_corruptions_and_severities(demo_dir, card, tmp_path, capsys):
    out = tmp_path / "small"
    assert main(["train-adv", "--model", str(card), "--data", str(demo_dir), "--out", str(out), *BASE]) == 0
    text = capsys.readouterr().out
    assert "Natural robustness" in text
    table = json.loads((out / "before_after.json").read_text())
    assert [(r["corruption"], r["severity"]) for r in table["corruption_rows"]] == [
        ("ct_dose", 3), ("blur", 3), ("jpeg2000", 3)]
    for r in table["corruption_rows"]:
        change = r["accuracy_after"] - r["accuracy_before"]
        assert r["n"] == 6 and r["change_low"] <= change <= r["change_high"] and 0 <= r["p_value"] <= 1
    assert table["corruption_severities"] == [3] and table["corruption_note"] == ""

    out = tmp_path / "chosen"
    assert main(["train-adv", "--model", str(card), "--data", str(demo_dir), "--out", str(out), *BASE,
                 "--retest-corruptions", "blur,slice_thickness", "--retest-severities", "1,5"]) == 0
    text = capsys.readouterr().out
    table = json.loads((out / "before_after.json").read_text())
    assert [(r["corruption"], r["severity"]) for r in table["corruption_rows"]] == [("blur", 1), ("blur", 5)]
    # slice thickness needs volumes: left out, and the re-test says why
    assert table["corruption_note"].startswith("Not re-tested: slice_thickness:") and "Not re-tested" in text
    assert table["corruption_severities"] == [1, 5]


def test_the_corruption_retest_can_be_switched_off(demo_dir, card, tmp_path, capsys):
    out = tmp_path / "off"
    assert main(["train-adv", "--model", str(card), "--data", str(demo_dir), "--out", str(out), *BASE,
                 "--retest-corruptions", "none"]) == 0
    text = capsys.readouterr().out
    table = json.loads((out / "before_after.json").read_text())
    assert table["corruption_rows"] == [] and "switched off" in table["corruption_note"]
    assert "Natural robustness" not in text and "switched off" in text


@pytest.mark.parametrize("extra, needle", [
    (["--retest-severities", "0"], "severity 0 is outside 1..5"),
    (["--retest-corruptions", "ct_dose,nosuch"], "no corruption named 'nosuch'"),
])
def test_bad_corruption_options_fail_before_training(demo_dir, card, tmp_path, capsys, extra, needle):
    out = tmp_path / "bad"
    code = main(["train-adv", "--model", str(card), "--data", str(demo_dir), "--out", str(out), *BASE, *extra])
    err = capsys.readouterr().err
    assert code == 2 and needle in err and "Traceback" not in err
    assert not out.exists()                 # nothing trained, nothing written
