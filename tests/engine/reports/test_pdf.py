"""The PDF report: sections present, numbers equal to the JSON, rebuild from JSON."""

from __future__ import annotations

import json
import re

import pytest
from pypdf import PdfReader

from medadv_desktop.engine.reports import load_report_json, write_json, write_pdf
from medadv_desktop.engine.results import WORST_CASE
from medadv_desktop.engine.reports.formatting import eps_all_units, eps_fraction, pct
from medadv_desktop.errors import OutputExistsError
from tests.engine.reports.fixtures import make_before_after, make_result

SECTIONS = ["Adversarial robustness report", "Software versions", "Model", "Data set", "Threat model",
            "Clean performance", "Robustness summary", "Robust accuracy against eps",
            "Class transitions under attack", "Example images", "Sanity checks", "How to read this report"]


def pdf_text(path) -> str:
    text = "\n".join(page.extract_text() or "" for page in PdfReader(str(path)).pages)
    return re.sub(r"[ \t]+", " ", text)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("pdf")
    result = make_result()
    ba = make_before_after(result)
    pdf = write_pdf(result, out / "report.pdf", before_after=ba)
    js = write_json(result, out / "report.json", before_after=ba)
    return result, pdf, js, pdf_text(pdf)


def test_sections_present(report):
    _, pdf, _, text = report
    assert pdf.read_bytes().startswith(b"%PDF")
    for title in SECTIONS + ["Adversarial training: before and after"]:
        assert title in text, title
    assert "Synthetic demo task, not for clinical use".lower() in text.lower()
    assert "weights sha-256" in text.lower()
    assert "how to read" in text.lower()


def test_numbers_match_json(report):
    _, _, js, text = report
    doc = json.loads(js.read_text())
    res = doc["result"]
    assert f"Clean accuracy {pct(res['clean_accuracy'])}" in text
    assert pct(res["balanced_accuracy"]) in text
    for eps, native in zip(res["eps_grid"], res["eps_native"]):
        assert eps_all_units(eps, native, res["units"]) in text      # "2/255 = 0.0078 = 3.1 HU"
    assert "2/255 = 0.0078 = 3.1 HU" in text
    # every robust accuracy appears in its per-eps table, in row order
    for eps in res["eps_grid"]:
        block = text.split(f"eps = {eps_all_units(eps, eps * 400, 'HU')}")[1]
        for row in (r for r in res["rows"] if r["eps"] == eps):
            label = {"fgsm": "FGSM", "pgd": "PGD", "square": "Square", WORST_CASE: "Worst case"}[row["attack"]]
            lines = [ln.strip() for ln in block.splitlines()]
            cells = lines[lines.index(label) + 1:lines.index(label) + 3]   # pypdf: one cell per line
            # the rate, then its exact 95 % interval in brackets: "66.7 % (34.9-90.1)"
            assert [c.split(" (")[0] for c in cells] == [pct(row["robust_accuracy"]),
                                                         pct(row["attack_success_rate"])], (label, cells)
            at = doc["measures"]["robust"]
            m = next(m for m in at if m["attack"] == row["attack"] and abs(m["eps"] - eps) < 1e-12)
            ra = m["robust_accuracy"]
            assert cells[0] == f"{pct(ra['value'])} ({100 * ra['low']:.1f}-{100 * ra['high']:.1f})", (label, cells)
    # per-class sensitivity
    for pc in res["per_class"]:
        assert pct(pc["sensitivity"]) in text
    # the model hash
    assert res["model"]["sha256"] in text.replace("\n", "")


def test_before_after_table_numbers(report):
    _, _, js, text = report
    ba = json.loads(js.read_text())["before_after"]
    section = text.split("Adversarial training: before and after")[1]
    for row in ba["rows"]:
        assert pct(row["accuracy_before"]) in section and pct(row["accuracy_after"]) in section
    change = 100 * (ba["rows"][0]["accuracy_after"] - ba["rows"][0]["accuracy_before"])
    assert f"{change:+.1f} pts" in section


def test_rebuild_pdf_from_json(report, tmp_path):
    result, _, js, text = report
    loaded, ba = load_report_json(js)
    assert loaded.clean_accuracy == pytest.approx(result.clean_accuracy)
    assert len(loaded.samples) == len(result.samples) and len(loaded.examples) == len(result.examples)
    assert ba is not None and len(ba.rows) == len(result.rows) + 1
    rebuilt = pdf_text(write_pdf(loaded, tmp_path / "again.pdf", before_after=ba))
    def strip(t: str) -> str:     # a rebuilt report is a new document: its own id and creation time
        t = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "ID", t)
        return re.sub(r"Report created\s+\S+ \S+ UTC", "", t)
    assert strip(rebuilt) == strip(text)


def test_refuses_overwrite_and_writes_atomically(report):
    result, pdf, _, _ = report
    before = pdf.read_bytes()
    with pytest.raises(OutputExistsError):
        write_pdf(result, pdf)
    assert pdf.read_bytes() == before
    write_pdf(result, pdf, overwrite=True)
    assert not [p for p in pdf.parent.iterdir() if p.name.endswith(".part")]


def test_not_synthetic_has_no_banner_and_tolerates_missing_parts(tmp_path):
    result = make_result(synthetic=False)
    result.examples, result.flags, result.clean_confusion = [], [], []
    for r in result.rows:
        r.transitions = []
    result.eps_native = [None, None]
    for r in result.rows:
        r.eps_native = None
        r.mean_linf_native = None
    result.units = "a.u."
    result.model.sha256 = None
    text = pdf_text(write_pdf(result, tmp_path / "r.pdf"))
    assert "not for clinical use" not in text.lower()
    assert "No sanity flag was raised" in text
    assert "no example images" in text
    assert "Weights SHA-256\nnot recorded" in text
    assert f"eps = {eps_fraction(result.eps_grid[0])} = 0.0039" in text


def test_non_square_example_keeps_aspect_ratio(tmp_path):
    result = make_result()
    ex = result.examples[0]
    ex.original = [row[:32] for row in ex.original]          # 64 rows x 32 columns
    ex.adversarial = [row[:32] for row in ex.adversarial]
    reader = PdfReader(str(write_pdf(result, tmp_path / "tall.pdf")))
    sizes = [(img.image.width, img.image.height) for page in reader.pages for img in page.images]
    # embedded bitmaps keep the 1:2 shape (upscaled by whole pixels, never stretched)
    assert any(h == 2 * w for w, h in sizes), sizes


def test_model_section_shows_the_cards_modality_and_body_part(tmp_path):
    result = make_result()
    result.examples = []
    assert "Modality" not in pdf_text(write_pdf(result, tmp_path / "none.pdf"))   # not stated: not shown
    result.model.modality, result.model.body_part = "CT", "CHEST"
    text = pdf_text(write_pdf(result, tmp_path / "ct.pdf"))
    assert "Modality\nCT" in text and "Body part\nCHEST" in text


def test_damaged_example_panels_are_left_out(tmp_path):
    result = make_result()
    assert len(result.examples) == 3
    result.examples[0].original = [[0.1, 0.2], [0.3]]          # ragged rows (an edited or damaged file)
    result.examples[1].adversarial = "not an image"
    text = re.sub(r"\s+", " ", pdf_text(write_pdf(result, tmp_path / "damaged.pdf")))
    # the two damaged panels are left out, the third and the rest of the report are there
    assert text.count(" - true class ") == 1 and "Square at eps" in text and "How to read this report" in text


def test_cumulative_rows_are_marked_with_a_footnote(tmp_path):
    result = make_result()
    for r in result.rows:                    # the attack cascade: rows after the first attack are cumulative
        r.cumulative = r.attack not in ("fgsm", WORST_CASE)
    text = pdf_text(write_pdf(result, tmp_path / "cascade.pdf"))
    summary = text.split("Robustness summary")[-1].split("Robust accuracy against eps")[0]
    assert "PGD *" in summary and "Square *" in summary and "FGSM *" not in summary
    assert "Worst case *" not in summary
    assert "* Cumulative (attack cascade): after this attack and the ones above it" in text
    assert "Cumulative rows (*)" in text and "--per-attack" in text         # how to read
    assert "Attack cascade: a later attack ran only on the images still robust" in text   # threat model
    assert "strongest single attack" not in text           # not comparable across cumulative rows


def test_no_footnote_without_cumulative_rows(report):
    text = report[3]
    assert "Cumulative" not in text and "PGD *" not in text
    assert "Every attack ran on every image that was correct without attack" in text
