"""CSV and JSON reports."""

from __future__ import annotations

import csv
import json

import pytest

from medadv_desktop.engine.reports import (
    load_before_after,
    load_report_json,
    write_csv,
    write_json,
    write_summary_csv,
)
from medadv_desktop.engine.results import WORST_CASE, BeforeAfterResult, EvaluationResult
from medadv_desktop.errors import OutputExistsError, ReportError
from tests.engine.reports.fixtures import ATTACKS, EPS, make_before_after, make_result


@pytest.fixture(scope="module")
def result():
    return make_result()


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_per_sample_csv_has_samples_x_attacks_x_eps_rows(result, tmp_path):
    rows = read_csv(write_csv(result, tmp_path / "samples.csv"))
    assert len(rows) == result.n_samples * len(ATTACKS) * len(EPS)
    keys = {(r["sample_id"], r["attack"], r["eps"]) for r in rows}
    assert len(keys) == len(rows)
    for name in ("sample_id", "true_class", "attack", "eps", "eps_fraction", "clean_pred_class", "adv_pred_class",
                 "clean_conf_true", "adv_conf_true", "conf_drop", "success", "linf", "l2", "l0",
                 "linf_native", "l2_native", "psnr", "ssim", "queries", "time_s"):
        assert name in rows[0], name
    first = result.samples[0]
    assert float(rows[0]["linf"]) == pytest.approx(first.linf)
    assert float(rows[0]["conf_drop"]) == pytest.approx(first.clean_conf_true - first.adv_conf_true)
    assert {r["eps_fraction"] for r in rows} == {"1/255", "2/255"}
    assert {r["success"] for r in rows} <= {"true", "false", ""}


def test_summary_csv_one_row_per_attack_and_eps(result, tmp_path):
    rows = read_csv(write_summary_csv(result, tmp_path / "summary.csv"))
    assert len(rows) == (len(ATTACKS) + 1) * len(EPS)
    wc = [r for r in rows if r["attack"] == WORST_CASE]
    assert len(wc) == len(EPS)
    for r, src in zip(rows, result.rows):
        assert float(r["robust_accuracy"]) == pytest.approx(src.robust_accuracy)
        assert json.loads(r["transitions"]) == src.transitions
        assert float(r["clean_accuracy"]) == pytest.approx(result.clean_accuracy)
    assert {r["cumulative"] for r in rows} == {"false"}          # every attack's own row


def test_summary_csv_marks_cumulative_rows(tmp_path):
    result = make_result()
    for r in result.rows:                    # as the attack cascade writes them: every attack after the first
        r.cumulative = r.attack not in (ATTACKS[0], WORST_CASE)
    rows = read_csv(write_summary_csv(result, tmp_path / "summary.csv"))
    assert [r["cumulative"] for r in rows] == ["true" if r.cumulative else "false" for r in result.rows]
    assert "true" in {r["cumulative"] for r in rows}
    doc = json.loads(write_json(result, tmp_path / "r.json").read_text())
    assert [r["cumulative"] for r in doc["result"]["rows"]] == [r.cumulative for r in result.rows]
    loaded, _ = load_report_json(tmp_path / "r.json")
    assert [r.cumulative for r in loaded.rows] == [r.cumulative for r in result.rows]


def test_csv_refuses_overwrite(result, tmp_path):
    path = write_summary_csv(result, tmp_path / "s.csv")
    with pytest.raises(OutputExistsError):
        write_summary_csv(result, path)
    with pytest.raises(OutputExistsError):
        write_csv(result, path)
    write_csv(result, path, overwrite=True)


def test_json_round_trip_with_before_after(result, tmp_path):
    path = write_json(result, tmp_path / "r.json", before_after=make_before_after(result))
    doc = json.loads(path.read_text())
    assert doc["format"] == "medadv-report"
    loaded, ba = load_report_json(path)
    assert isinstance(loaded, EvaluationResult)
    assert loaded.rows == result.rows and loaded.samples == result.samples
    assert loaded.examples[0].original == result.examples[0].original
    assert ba.rows[0].attack == "clean" and ba.training.method == "fgsm"


def test_load_bare_evaluation_json(result, tmp_path):
    path = result.save(tmp_path / "eval.json")      # as 'medadv evaluate --json' writes it
    loaded, ba = load_report_json(path)
    assert ba is None and loaded.clean_accuracy == pytest.approx(result.clean_accuracy)


@pytest.mark.parametrize("content", ["not json", "[1, 2]", '{"rows": []}'])
def test_load_rejects_other_files(tmp_path, content):
    path = tmp_path / "x.json"
    path.write_text(content)
    with pytest.raises(ReportError) as err:
        load_report_json(path)
    assert err.value.hint
    with pytest.raises(ReportError):
        load_report_json(tmp_path / "missing.json")


@pytest.mark.parametrize("kind", ["fifo", "folder", "too-large", "deep", "huge-int", "binary"])
def test_load_refuses_hostile_files_with_one_clear_error(result, tmp_path, monkeypatch, kind):
    import os

    from medadv_desktop.engine.reports import tables

    path = tmp_path / "r.json"
    if kind == "fifo":
        os.mkfifo(path)                                   # nobody writes: reading would wait forever
    elif kind == "folder":
        path.mkdir()
    elif kind == "too-large":
        write_json(result, path)
        monkeypatch.setattr(tables, "MAX_RESULT_BYTES", path.stat().st_size - 1)
    elif kind == "deep":
        path.write_text("[" * 200_000 + "]" * 200_000)
    elif kind == "huge-int":
        path.write_text('{"n_samples": ' + "9" * 100_000 + "}")
    else:
        path.write_bytes(b"\xff\xfe\x00garbage")
    for load in (load_report_json, load_before_after):
        with pytest.raises(ReportError) as err:
            load(path)
        message = err.value.user_message()
        assert "r.json" in message and "\n" not in str(err.value)
    expected = {"fifo": "not a regular file", "folder": "is a folder", "too-large": "bytes",
                "deep": "RecursionError", "huge-int": "not a readable JSON", "binary": "not a readable JSON"}[kind]
    assert expected in message


def test_before_after_shapes(result, tmp_path):
    """A before/after table read back from JSON (the reports take BeforeAfterResult only)."""
    table = BeforeAfterResult.from_data({"rows": [{"attack": "fgsm", "eps": 2 / 255, "accuracy_before": 0.2,
                                                   "accuracy_after": 0.6}],
                                         "training": {"method": "pgd", "eps": 2 / 255}})
    assert table.rows[0].change == pytest.approx(0.4)
    assert table.training.method == "pgd" and table.train_eps == pytest.approx(2 / 255)
    assert BeforeAfterResult.from_data({"rows": [{"attack": "pgd", "eps": 0.1, "accuracy_before": 0.1,
                                                  "accuracy_after": None}]}).rows[0].change is None
    bad = tmp_path / "bad.json"
    bad.write_text('{"no_rows": 1}')
    with pytest.raises(ReportError):
        load_before_after(bad)


def test_load_training_before_after_json(result, tmp_path):
    """A before/after JSON of the training job (rows + the two evaluations) rebuilds a report."""
    doc = make_before_after(result)
    doc.before = result
    doc.after = result
    path = doc.save(tmp_path / "before_after.json")
    loaded, ba = load_report_json(path)
    assert loaded.clean_accuracy == pytest.approx(result.clean_accuracy)
    assert ba.rows[0].attack == "clean" and len(ba.rows) == len(result.rows) + 1
