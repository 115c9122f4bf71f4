"""`medadv evaluate` on a tiny real DICOM data set (the synthetic demo generator) and a tiny model."""
import json

import pytest

from medadv_desktop.cli.main import main
from tests.conftest import make_tiny_card


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from medadv_desktop.engine.demo import write_demo_dataset

    root = tmp_path_factory.mktemp("demo") / "data"
    write_demo_dataset(root, n_train=2, n_test=8)
    card = make_tiny_card(tmp_path_factory.mktemp("model"), format="torchscript")
    return root / "test", card


def test_evaluate_writes_json_table_and_reports(demo, tmp_path, capsys):
    data, card = demo
    out = tmp_path / "r.json"
    rc = main(["evaluate", "--model", str(card), "--data", str(data), "--attacks", "fgsm,pgd",
               "--eps", "1/255,8HU", "--steps", "2", "--json", str(out), "--csv", str(tmp_path / "r.csv"),
               "--report", str(tmp_path / "r.pdf")])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    doc = json.loads(out.read_text())
    assert doc["n_samples"] == 8 and 0 <= doc["clean_accuracy"] <= 1
    keys = {"attack", "eps", "robust_accuracy", "attack_success_rate", "mean_linf", "mean_l2", "mean_ssim",
            "mean_queries"}
    assert all(keys <= set(r) for r in doc["rows"])
    assert [r["attack"] for r in doc["rows"]] == ["fgsm", "pgd", "worst-case"] * 2
    assert doc["rows"][3]["eps"] == pytest.approx(8 / 400) and doc["eps_native"][1] == pytest.approx(8.0)
    assert doc["units"] == "HU" and doc["dataset"]["synthetic"] is True
    # the table: clean first, one line per attack, worst case last, per eps
    assert "Clean accuracy" in cap.out and cap.out.count("worst-case") == 2
    assert "1/255" in cap.out and "8 HU" in cap.out and "SYNTHETIC" in cap.out
    assert "%]" in cap.err                         # plain progress lines when not a TTY
    assert "Evaluation: at most " in cap.err and " for 8 samples x 2 eps with fgsm, pgd (an upper bound" in cap.err
    assert "; --attacks quick, --max-samples N for less" in cap.err          # a cheaper choice named
    # default: the attack cascade; the second attack's rows are cumulative, marked * with a footnote
    assert [r["cumulative"] for r in doc["rows"]] == [False, True, False] * 2
    assert doc["provenance"]["full_rows"] is False
    assert "pgd*" in cap.out and "* cumulative: robust accuracy after this attack and the ones above it" in cap.out
    assert "--fast" not in cap.out and "--per-attack gives each attack's own row" in cap.out
    assert (tmp_path / "r.csv").stat().st_size > 0 and (tmp_path / "r.pdf").read_bytes()[:4] == b"%PDF"
    # never overwrite
    rc = main(["evaluate", "--model", str(card), "--data", str(data), "--attacks", "fgsm", "--json", str(out)])
    assert rc == 2 and "already exists" in capsys.readouterr().err


def test_evaluate_rejects_unknown_attack_and_stray_option(demo, tmp_path, capsys):
    data, card = demo
    rc = main(["evaluate", "--model", str(card), "--data", str(data), "--attacks", "fgsm,nope",
               "--json", str(tmp_path / "a.json")])
    assert rc == 2 and "nope" in capsys.readouterr().err
    rc = main(["evaluate", "--model", str(card), "--data", str(data), "--attacks", "fgsm", "--steps", "3",
               "--json", str(tmp_path / "b.json")])
    assert rc == 2 and "steps" in capsys.readouterr().err
    assert not (tmp_path / "a.json").exists() and not (tmp_path / "b.json").exists()


def test_evaluate_per_attack_rows_and_hidden_fast_alias(demo, tmp_path, capsys):
    data, card = demo
    common = ["evaluate", "--model", str(card), "--data", str(data), "--attacks", "fgsm,pgd", "--eps", "8/255",
              "--steps", "2", "--no-random-start", "--n-examples", "0"]      # deterministic: same worst case
    rc = main(common + ["--per-attack", "--json", str(tmp_path / "per.json")])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    per = json.loads((tmp_path / "per.json").read_text())
    assert [(r["attack"], r["cumulative"]) for r in per["rows"]] == [
        ("fgsm", False), ("pgd", False), ("worst-case", False)]
    assert per["provenance"]["full_rows"] is True
    assert "pgd*" not in cap.out and "cumulative" not in cap.out
    # --fast, the old opt-in, is still accepted and is the default: same rows as no flag
    rc = main(common + ["--fast", "--json", str(tmp_path / "fast.json")])
    assert rc == 0, capsys.readouterr().err
    fast = json.loads((tmp_path / "fast.json").read_text())
    assert [r["cumulative"] for r in fast["rows"]] == [False, True, False]
    assert fast["rows"][2]["robust_accuracy"] == pytest.approx(per["rows"][2]["robust_accuracy"])  # same worst case
    rc = main(common + ["--fast", "--per-attack", "--json", str(tmp_path / "both.json")])
    assert rc == 2 and "per-attack" in capsys.readouterr().err and not (tmp_path / "both.json").exists()
    assert main(["evaluate", "--help"]) == 0
    text = capsys.readouterr().out
    assert "--per-attack" in text and "--fast" not in text
