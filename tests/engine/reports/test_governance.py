"""Issue 15 on the report side: verdict table, traceability, intervals in every output, per-class
robustness, examples covering each flip direction, data-set fingerprint (real PDFs read back with pypdf)."""
import csv
import json
import re

import numpy as np
import pytest

from medadv_desktop.engine.datasets import LabelledDataset
from medadv_desktop.engine.evaluation.examples import ExamplePicker, study_key
from medadv_desktop.engine.metrics.intervals import clopper_pearson_interval
from medadv_desktop.engine.metrics.per_class import per_class_measures
from medadv_desktop.engine.plans import FAIL, PASS, evaluate_plan, plan_from_bytes
from medadv_desktop.engine.reports import ReportMeta, load_report_json, write_json, write_pdf, write_summary_csv
from medadv_desktop.engine.results.evaluation import ExamplePanel, SampleRecord
from medadv_desktop.errors import ReportError
from tests.engine.reports.fixtures import make_result

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")

PLAN = {
    "plan": {"title": "Committee plan", "version": "2"},
    "criteria": [
        {"id": "C1", "metric": "clean_accuracy", "comparison": ">=", "threshold": 0.5, "bound": "point"},
        {"id": "C2", "metric": "robust_sensitivity", "class": "lesion", "eps": "2/255", "comparison": ">=",
         "threshold": 0.99},
    ],
}


def pdf_text(path) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(str(path)).pages)


@pytest.fixture(scope="module")
def governed(tmp_path_factory):
    result = make_result(24)
    result.dataset.fingerprint = "f" * 64
    result.model.parent_sha256 = None
    plan = plan_from_bytes(json.dumps(PLAN).encode(), fmt="json", source="plan.json")
    verdict = evaluate_plan(plan, result)
    meta = ReportMeta.create(requester="Dr Ada Requester", approver="Prof Bo Approver", verdict=verdict)
    out = tmp_path_factory.mktemp("gov")
    pdf = write_pdf(result, out / "r.pdf", meta=meta)
    return result, verdict, meta, out, pdf_text(pdf)


def test_verdict_table_opens_the_pdf_with_a_fail_row(governed):
    result, verdict, meta, _, text = governed
    assert verdict.status == FAIL and [r.status for r in verdict.rows] == [PASS, FAIL]
    first_page = text.split("Page 1 of")[0]
    assert "Verdict against the test plan" in first_page
    assert "Test plan 'Committee plan' 2: FAIL (1 pass, 1 fail, 0 not evaluable)" in first_page.replace("\n", " ")
    assert "C2" in first_page and "PASS" in first_page and "FAIL" in first_page
    assert "Exit code 3" in first_page


def test_traceability_page_numbers_and_sign_off(governed):
    result, verdict, meta, _, text = governed
    assert UUID.fullmatch(meta.report_id)
    flat = text.replace("\n", " ")
    n_pages = len(re.findall(r"Page \d+ of (\d+)", text))
    assert n_pages >= 5 and f"Page 1 of {n_pages}" in text and f"Page {n_pages} of {n_pages}" in text
    assert meta.report_id in flat and "f" * 64 in text.replace("\n", "")
    assert verdict.plan_sha256 in text.replace("\n", "")
    assert "Dr Ada Requester" in flat and "Prof Bo Approver" in flat and "Sign-off" in flat
    # empty rows are left out: no parent hash recorded, no row for it
    assert "Parent model SHA-256" not in flat and "parent_sha256" not in flat
    # run parameters in words, not raw keys
    assert "Random seed" in flat and "full_rows" not in flat and "torch_threads" not in flat


def test_pdf_has_interval_per_class_tables_with_counts(governed):
    result, _, _, _, text = governed
    m = per_class_measures(result)
    assert "Robustness per class" in text
    wc = next(r for r in m.robust if r.attack == "worst-case" and r.eps == max(result.eps_grid))
    lesion = wc.of("lesion").sensitivity
    low, high = clopper_pearson_interval(lesion.k, lesion.n)
    assert f"({100 * low:.1f}-{100 * high:.1f})" in text and f"{lesion.k}/{lesion.n}" in text
    clean = m.clean_accuracy
    assert f"95 % CI {100 * clean.low:.1f}-{100 * clean.high:.1f} %" in text.replace("\n", " ")


def test_summary_csv_and_json_carry_intervals_and_the_verdict(governed):
    result, verdict, meta, out, _ = governed
    path = write_summary_csv(result, out / "s.csv", meta=meta)
    rows = list(csv.DictReader(path.open()))
    m = per_class_measures(result)
    for row in rows:
        at = m.at(row["attack"], float(row["eps"]))
        k, n = int(row["robust_accuracy_k"]), int(row["robust_accuracy_n"])
        assert (k, n) == (at.robust_accuracy.k, at.robust_accuracy.n)
        assert float(row["robust_accuracy_low"]) == pytest.approx(clopper_pearson_interval(k, n)[0])
        sens = at.of("lesion").sensitivity
        assert int(row["robust_sensitivity[lesion]_k"]) == sens.k
        assert float(row["robust_sensitivity[lesion]_high"]) == pytest.approx(sens.high)
        assert row["report_id"] == meta.report_id and row["plan_verdict"] == "fail"
    js = write_json(result, out / "r.json", meta=meta)
    doc = json.loads(js.read_text())
    assert doc["report"]["report_id"] == meta.report_id and doc["report"]["approver"] == "Prof Bo Approver"
    assert doc["report"]["verdict"]["status"] == "fail" and doc["report"]["verdict"]["exit_code"] == 3
    assert [r["status"] for r in doc["report"]["verdict"]["rows"]] == ["pass", "fail"]
    assert doc["measures"]["clean_accuracy"]["k"] == m.clean_accuracy.k
    again, _ = load_report_json(js)                         # still a loadable report
    assert again.clean_accuracy == pytest.approx(result.clean_accuracy)


def test_sign_off_names_are_checked():
    with pytest.raises(ReportError, match="approver"):
        ReportMeta.create(approver="x" * 500)
    with pytest.raises(ReportError, match="control"):
        ReportMeta.create(requester="Dr\x07Bell")


def _record(sid: str, true: int, adv: int, eps: float, attack: str = "fgsm") -> SampleRecord:
    return SampleRecord(sample_id=sid, attack=attack, eps=eps, true_label=true, clean_pred=true, adv_pred=adv,
                        clean_conf_true=0.9, adv_conf_true=0.2, success=adv != true)


def _panel(rec: SampleRecord) -> ExamplePanel:
    return ExamplePanel(sample_id=rec.sample_id, attack=rec.attack, eps=rec.eps, true_label=rec.true_label,
                        clean_pred=rec.clean_pred, adv_pred=rec.adv_pred, clean_conf=0.9, adv_conf=0.6,
                        original=[[0.0]], adversarial=[[0.1]])


def test_examples_cover_both_directions_the_largest_eps_one_per_study():
    picker = ExamplePicker(3)
    offered = []
    # many lesion -> no_finding flips at the smallest eps first (the old picker kept only these)
    for i in range(8):
        offered.append((_record(f"S{i}", 1, 0, 1 / 255), False))
    offered.append((_record("S20/slice-001", 0, 1, 1 / 255), False))        # the rarer direction
    offered.append((_record("S20/slice-002", 0, 1, 4 / 255), False))        # same study, larger eps
    offered.append((_record("S30", 1, 0, 4 / 255, attack="pgd"), False))
    offered.append((_record("S31", 0, 1, 8 / 255), True))                   # burned-in: never shown
    offered.append((_record("S32", 1, 1, 8 / 255), False))                  # not fooled: never shown
    for rec, burned in offered:
        picker.offer(rec, study_key(rec.sample_id), lambda rec=rec: _panel(rec), burned_in=burned)
    picked = picker.pick()
    directions = {(p.true_label, p.adv_pred) for p in picked}
    assert directions == {(0, 1), (1, 0)}
    assert len({study_key(p.sample_id) for p in picked}) == len(picked) == 3
    assert max(p.eps for p in picked) == pytest.approx(4 / 255)
    by_dir = {(p.true_label, p.adv_pred): p for p in picked[:2]}
    assert by_dir[(0, 1)].sample_id == "S20/slice-002" and by_dir[(1, 0)].sample_id == "S30"
    assert "S31" not in {p.sample_id for p in picked} and "S32" not in {p.sample_id for p in picked}


def test_dataset_fingerprint_follows_content_and_labels_not_order():
    rng = np.random.default_rng(0)
    images = rng.random((4, 1, 8, 8)).astype(np.float32)
    a = LabelledDataset.from_arrays(images, [0, 1, 0, 1], ["a", "b"])
    b = LabelledDataset.from_arrays(images[::-1].copy(), [1, 0, 1, 0], ["a", "b"], name="other")
    assert a.fingerprint() == b.fingerprint() and re.fullmatch(r"[0-9a-f]{64}", a.fingerprint())
    c = LabelledDataset.from_arrays(images, [0, 1, 1, 1], ["a", "b"])
    assert c.fingerprint() != a.fingerprint()
    changed = images.copy()
    changed[2, 0, 3, 3] += 0.01
    assert LabelledDataset.from_arrays(changed, [0, 1, 0, 1], ["a", "b"]).fingerprint() != a.fingerprint()
    assert a.summary()["fingerprint"] == a.fingerprint()


def test_dataset_fingerprint_of_files_ignores_paths(tmp_path):
    from PIL import Image

    for root in ("one", "two"):
        for cls, value in (("a", 10), ("b", 200)):
            folder = tmp_path / root / cls
            folder.mkdir(parents=True)
            Image.fromarray(np.full((8, 8), value, dtype=np.uint8)).save(folder / f"{root}-{cls}.png")
    one = LabelledDataset.from_folder(tmp_path / "one", ["a", "b"])
    two = LabelledDataset.from_folder(tmp_path / "two", ["a", "b"])
    assert one.fingerprint() == two.fingerprint()
    swapped = LabelledDataset.from_folder(tmp_path / "two", ["b", "a"])       # labels swapped
    assert swapped.fingerprint() != one.fingerprint()


def test_before_after_section_has_the_paired_test_and_cautions(tmp_path):
    from dataclasses import replace

    from medadv_desktop.engine.metrics.per_class import paired_robustness
    from tests.engine.reports.fixtures import make_before_after

    before, after = make_result(24, seed=0), make_result(24, seed=1)
    # the hardened model gets two more lesions right under the worst case at the largest eps
    eps = max(after.eps_grid)
    flipped = 0
    for i, s in enumerate(after.samples):
        if s.eps == eps and s.clean_pred == s.true_label and s.adv_pred != s.true_label and flipped < 4:
            after.samples[i] = replace(s, adv_pred=s.true_label, success=False)
            flipped += 1
    table = replace(make_before_after(before), before=before, after=after)
    text = pdf_text(write_pdf(after, tmp_path / "ba.pdf", before_after=table)).replace("\n", " ")
    assert "Adversarial training: before and after" in text and "McNemar p" in text
    cmp = paired_robustness(before, after, attack="worst-case", eps=eps)
    assert f"{cmp.p_value:.2g}" in text
    assert f"{100 * cmp.difference:+.1f} ({100 * cmp.low:+.1f} to {100 * cmp.high:+.1f})" in text
    assert "Few samples (n = 24 pairs)" in text            # the caution in words
    assert "possibly chance" in text
    # a table without the two evaluations says the change is not tested
    text = pdf_text(write_pdf(before, tmp_path / "t.pdf", before_after=make_before_after(before)))
    assert "changes are not tested" in text.replace("\n", " ")


def test_before_after_report_of_its_own_from_the_cli(tmp_path, capsys):
    from dataclasses import replace

    from pypdf import PdfReader

    from medadv_desktop.cli.main import main
    from tests.engine.reports.fixtures import make_before_after

    before, after = make_result(24, seed=0), make_result(24, seed=1)
    before.model.sha256, after.model.sha256, after.model.parent_sha256 = "a" * 64, "b" * 64, "a" * 64
    full = tmp_path / "before_after_result.json"
    replace(make_before_after(before), before=before, after=after).save(full)
    pdf, csv_path, js = tmp_path / "ba.pdf", tmp_path / "ba.csv", tmp_path / "ba.json"
    rc = main(["report", str(full), "--before-after-report", "--pdf", str(pdf), "--csv", str(csv_path),
               "--json", str(js), "--approver", "Prof Bo Approver"])
    assert rc == 0, capsys.readouterr().err
    text = " ".join(p.extract_text() for p in PdfReader(str(pdf)).pages).replace("\n", " ")
    assert "before/after report" in text and "a" * 64 in text.replace(" ", "") and "b" * 64 in text.replace(" ", "")
    assert "McNemar p" in text and "Page 1 of" in text and "Prof Bo Approver" in text and "Training recipe" in text
    # the one page frame of every MedAdv PDF (pdf.page_frame): header with title and model on every page
    pages = [page.extract_text() for page in PdfReader(str(pdf)).pages]
    assert all("MedAdv Desktop - Adversarial training: before/after report" in t for t in pages), pages[0][:200]
    rows = list(csv.DictReader(csv_path.open()))
    assert rows[0]["attack"] == "clean" and rows[0]["mcnemar_p"] != "" and int(rows[0]["n_pairs"]) == 24
    doc = json.loads(js.read_text())
    assert doc["models"]["after"]["parent_sha256"] == "a" * 64 and doc["comparisons"][0]["change_low"] is not None
    # the table alone (what before_after.json holds): intervals, no test, and it says so
    table_only = tmp_path / "before_after.json"
    make_before_after(before).save_table(table_only)
    rc = main(["report", str(table_only), "--before-after-report", "--pdf", str(tmp_path / "t.pdf")])
    assert rc == 0
    text = " ".join(p.extract_text() for p in PdfReader(str(tmp_path / "t.pdf")).pages).replace("\n", " ")
    assert "changes are not tested" in text


def test_small_sample_caution_in_words_beside_the_summary(governed):
    result, _, _, _, text = governed
    flat = text.replace("\n", " ")
    wc = per_class_measures(result).at("worst-case", max(result.eps_grid)).robust_accuracy
    assert wc.n == 24 and "Few samples (n = 24): the worst-case robust accuracy at eps" in flat


def test_report_purpose_is_checked_folded_and_de_identified():
    """The GUI sign-off's free-text purpose (issue 15): folded, length-checked, scrubbed in the JSON."""
    from medadv_desktop.engine.reports import ReportMeta
    from medadv_desktop.engine.reports.traceability import MAX_PURPOSE_CHARS, traceability_pairs
    from medadv_desktop.errors import ReportError
    from tests.engine.reports.fixtures import make_result

    meta = ReportMeta.create(requester="Dr A", purpose="  Pilot   acceptance\n\n study 1.2.840.10008.5.1.4  ")
    assert meta.purpose == "Pilot acceptance\nstudy 1.2.840.10008.5.1.4"
    assert meta.to_dict()["purpose"] == "Pilot acceptance\nstudy [UID removed]"
    assert ("Purpose", meta.purpose) in traceability_pairs(make_result(), meta)
    assert "purpose" not in ReportMeta.create().to_dict()
    with pytest.raises(ReportError, match="purpose"):
        ReportMeta.create(purpose="x" * (MAX_PURPOSE_CHARS + 1))
    with pytest.raises(ReportError, match="control"):
        ReportMeta.create(purpose="a\x07b")
