"""`medadv demo-data DIR`."""

from __future__ import annotations

from medadv_desktop.cli.main import main


def test_demo_data_writes_then_refuses_non_empty_folder(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo-data", str(out), "--seed", "1", "--n-train", "4", "--n-test", "2", "-q"]) == 0
    text = capsys.readouterr().out
    assert "not for clinical use" in text and "train: no_finding 2, lesion 2" in text
    assert len(list(out.rglob("*.dcm"))) == 6 and (out / "labels.csv").is_file()
    before = sorted(p.relative_to(out) for p in out.rglob("*"))

    assert main(["demo-data", str(out), "--n-train", "4", "--n-test", "2"]) == 2
    err = capsys.readouterr().err
    assert "not empty" in err and "Traceback" not in err
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before


def test_demo_data_rejects_too_few_patches(tmp_path, capsys):
    assert main(["demo-data", str(tmp_path / "x"), "--n-train", "1"]) == 2
    assert "n_train" in capsys.readouterr().err
