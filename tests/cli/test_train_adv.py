"""`medadv train-adv` end to end on a small demo data set (DICOM train/ and test/ folders)."""

import json

import pytest

from medadv_desktop.cli.main import main
from medadv_desktop.engine.models import ModelCard, sha256_file
from tests.engine.training._tiny import make_card


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    from medadv_desktop.engine.demo import write_demo_dataset

    root = tmp_path_factory.mktemp("demo") / "data"
    write_demo_dataset(root, seed=0, n_train=16, n_test=8)
    return root


def test_train_adv_prints_epochs_and_the_table_and_writes_json(demo_dir, tmp_path, capsys):
    card = make_card(tmp_path / "model")
    weights_hash = sha256_file(ModelCard.load(card).weights_path)
    out = tmp_path / "hardened"
    code = main(["train-adv", "--model", str(card), "--data", str(demo_dir), "--method", "fgsm", "--eps", "2/255",
                 "--epochs", "2", "--out", str(out), "--batch-size", "8", "--val-split", "0.25",
                 "--val-pgd-steps", "2", "--attacks", "fgsm,pgd", "--eps-grid", "1/255", "--max-eval-samples", "8",
                 "--device", "cpu"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    text = captured.out
    assert "epoch 1/2" in text and "epoch 2/2" in text and "before training" in text
    assert "SYNTHETIC" in text and "test/ folder" in text
    assert "worst-case" in text and "2/255*" in text
    # before the re-test: what it runs and at most how long (an upper bound from the measured model speed)
    line = next(ln for ln in text.splitlines() if ln.startswith("Before/after evaluation"))
    assert "8 samples, attacks fgsm, pgd; takes at most" in line and "upper bound" in line
    table = json.loads((out / "before_after.json").read_text())
    rows = [(r["attack"], round(r["eps"] * 255, 6)) for r in table["rows"]]
    assert rows == [("clean", 0), ("fgsm", 1), ("fgsm", 2), ("pgd", 1), ("pgd", 2), ("worst-case", 1),
                    ("worst-case", 2)]
    assert all(set(r) >= {"accuracy_before", "accuracy_after"} for r in table["rows"])
    assert table["n_samples"] == 8 and table["training"]["method"] == "fgsm"
    hardened = ModelCard.load(out / "model_card.json")
    assert hardened.provenance["parent_sha256"] == weights_hash
    assert hardened.provenance["adversarial_training"]["data"]["synthetic"] is True
    assert sha256_file(ModelCard.load(card).weights_path) == weights_hash
    # no PHI and no file-system path of the data in what was written
    for name in ("before_after.json", "model_card.json", "run.json"):
        assert str(demo_dir) not in (out / name).read_text()


def test_train_adv_errors_are_one_clear_line(demo_dir, tmp_path, capsys):
    card = make_card(tmp_path / "model")
    code = main(["train-adv", "--model", str(card), "--data", str(demo_dir), "--eps", "2/255", "--epochs", "0",
                 "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "epochs" in err and "Traceback" not in err
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x.txt").write_text("keep")
    code = main(["train-adv", "--model", str(card), "--data", str(demo_dir), "--epochs", "1", "--out",
                 str(tmp_path / "busy"), "--device", "cpu", "--attacks", "fgsm"])
    err = capsys.readouterr().err
    assert code == 2 and "other files" in err
