"""The corruption section of the PDF reports: a real corruption evaluation (the synthetic demo CT patches and
a tiny real model) rendered, parsed back with pypdf, its numbers checked against the result; the
severity curve's line styles; the section inside the attack evaluation's PDF; the plan's verdict."""

from __future__ import annotations

import re

import pytest
from pypdf import PdfReader

from medadv_desktop.engine.reports import ReportMeta, write_corruption_pdf, write_pdf
from medadv_desktop.engine.reports.corruption_report import (
    SECTION_TITLE,
    level_text,
    rate_text,
    series_styles,
    severity_chart,
)
from medadv_desktop.engine.reports.formatting import pct
from medadv_desktop.errors import OutputExistsError
from tests.engine.reports.fixtures import make_result


def pdf_text(path) -> str:
    text = "\n".join(page.extract_text() or "" for page in PdfReader(str(path)).pages)
    return re.sub(r"\s+", " ", text)


@pytest.fixture(scope="module")
def corruption_result(tmp_path_factory):
    """A tiny real TorchScript model on 10 demo CT patches under CT dose noise and JPEG 2000 at severities
    1-5, then FGSM at 2/255 on the corrupted images (corruption then attack)."""
    from medadv_desktop.engine.datasets import LabelledDataset
    from medadv_desktop.engine.demo import write_demo_dataset
    from medadv_desktop.engine.evaluation.corruption import corruption_evaluation_job
    from medadv_desktop.engine.jobs import run_job
    from medadv_desktop.engine.models import load_classifier
    from tests.conftest import make_tiny_card

    root = tmp_path_factory.mktemp("crdemo")
    write_demo_dataset(root / "data", n_train=2, n_test=10)
    clf = load_classifier(make_tiny_card(root / "model", format="torchscript"), device="cpu")
    ds = LabelledDataset.from_folder(root / "data" / "test", clf.class_names)
    return run_job(corruption_evaluation_job(clf, ds, [("ct_dose", {}), ("jpeg2000", {})], [1, 2, 3, 4, 5],
                                             attack=("fgsm", {"eps": 2 / 255})))


@pytest.fixture(scope="module")
def corruption_pdf(corruption_result, tmp_path_factory):
    path = write_corruption_pdf(corruption_result, tmp_path_factory.mktemp("crpdf") / "corruptions.pdf",
                                meta=ReportMeta.create(requester="Dr Q. Requester", approver="Dr A. Approver",
                                                       purpose="Before the PACS moves to JPEG 2000 at 20:1"))
    return path, pdf_text(path)


def test_every_row_with_its_interval_is_in_the_pdf(corruption_result, corruption_pdf):
    r = corruption_result
    path, text = corruption_pdf
    assert path.read_bytes().startswith(b"%PDF")
    assert "Acquisition-artefact robustness report" in text and SECTION_TITLE in text
    n_pages = len(PdfReader(str(path)).pages)
    assert f"Page 1 of {n_pages}" in text and f"Page {n_pages} of {n_pages}" in text
    table = text.split("by corruption and severity", 1)[1].split("Corruption error relative to the clean error")[0]
    assert "Sens. no_finding (95 % CI)" in table and "Sens. lesion (95 % CI)" in table
    assert "Robust acc. (95 % CI)" in table                       # corruption then attack ran
    # the clean row first, then every corruption's rows in order: label, severity, level, accuracy, sensitivities
    pos = table.index("No corruption")
    for row in r.rows:
        if row.severity == 1:
            pos = table.index(row.label, pos)
        cells = [level_text(row), rate_text(row.accuracy, compact=True),
                 *(rate_text(c.sensitivity, compact=True) for c in row.per_class),
                 rate_text(row.robust_accuracy, compact=True)]
        for cell in cells:
            found = table.find(cell, pos)
            assert found >= 0, (row.corruption, row.severity, cell)
            pos = found
    assert "Lossy JPEG 2000" in table and "340:1 ratio, reached" in table   # the JPEG 2000 row, severity 5


def test_ce_table_key_findings_and_signoff(corruption_result, corruption_pdf):
    r = corruption_result
    _, text = corruption_pdf
    ce = text.split("Corruption error relative to the clean error", 1)[1]
    for s in r.summaries:
        assert s.label in ce and pct(s.ce) in ce
    assert f"Mean (mCE) 1,2,3,4,5 {pct(r.mce)}" in ce
    assert f"Mean corruption error (mCE) {pct(r.mce)}" in text
    assert "Most harmful:" in text and "Lossy JPEG 2000 at severity" in text
    assert "Accuracy against severity" in text and "Sign-off" in text
    assert "Dr Q. Requester" in text and "Dr A. Approver" in text
    assert "Before the PACS moves to JPEG 2000 at 20:1" in text
    assert "Data set fingerprint" in text and r.model.sha256 in text
    assert "SYNTHETIC DEMO TASK" in text


def test_refuses_to_overwrite(corruption_result, corruption_pdf):
    path, _ = corruption_pdf
    before = path.read_bytes()
    with pytest.raises(OutputExistsError):
        write_corruption_pdf(corruption_result, path)
    assert path.read_bytes() == before


def test_severity_curve_has_a_distinct_style_per_corruption(corruption_result):
    styles = series_styles(15)                                   # every corruption MedAdv defines
    assert len(set((c, tuple(d or ()), m) for c, d, m in styles)) == 15
    assert len({tuple(d or ()) for _, d, _ in styles}) > 1 and len({m for _, _, m in styles}) > 1
    from reportlab.graphics.charts.lineplots import LinePlot

    drawing = severity_chart(corruption_result, 500)
    plot = next(c for c in drawing.contents if isinstance(c, LinePlot))
    assert len(plot.data) == len(corruption_result.summaries)
    seen = {(str(plot.lines[i].strokeColor), tuple(getattr(plot.lines[i], "strokeDashArray", None) or ()),
             plot.lines[i].symbol.kind) for i in range(len(plot.data))}
    assert len(seen) == len(plot.data)
    for series, s in zip(plot.data, corruption_result.summaries, strict=True):
        assert series[0] == (0.0, 100.0 * corruption_result.clean.accuracy.value)      # severity 0 = clean
        rows = [row for row in corruption_result.rows if row.corruption == s.corruption]
        assert series[1:] == [(float(row.severity), 100.0 * row.accuracy.value) for row in rows]


def test_section_inside_the_evaluation_pdf(corruption_result, tmp_path):
    path = write_pdf(make_result(), tmp_path / "evaluation.pdf", corruption=corruption_result)
    text = pdf_text(path)
    per_class = text.index("Robustness per class")
    section = text.index(SECTION_TITLE)
    transitions = text.index("Class transitions under attack")
    assert per_class < section < transitions
    assert "Lossy JPEG 2000" in text and "Mean (mCE)" in text
    plain = pdf_text(write_pdf(make_result(), tmp_path / "plain.pdf"))
    assert SECTION_TITLE not in plain


def test_plan_verdict_opens_the_corruption_pdf(corruption_result, tmp_path):
    from medadv_desktop.engine.plans import evaluate_corruption_plan, parse_plan

    plan = parse_plan({"plan": {"title": "Artefact gate"}, "criteria": [
        {"id": "J5", "metric": "corruption_accuracy", "corruption": "jpeg2000", "severity": 5,
         "comparison": ">=", "threshold": 0.99},
        {"id": "M", "metric": "relative_mce", "comparison": "<=", "threshold": 1000.0}]}, source="gate.toml")
    verdict = evaluate_corruption_plan(plan, corruption_result)
    assert verdict.exit_code == 3
    text = pdf_text(write_corruption_pdf(corruption_result, tmp_path / "gated.pdf",
                                         meta=ReportMeta.create(verdict=verdict)))
    assert text.index("Verdict against the test plan") < text.index(SECTION_TITLE)
    assert "Test plan 'Artefact gate': FAIL (1 pass, 1 fail, 0 not evaluable)" in text
    assert "Accuracy under jpeg2000 at severity 5 >= 99 %" in text and "Test plan SHA-256" in text



def test_attack_and_small_n_in_words(corruption_result, corruption_pdf):
    _, text = corruption_pdf
    assert "Corruption then attack: fgsm at eps 2/255" in text
    assert rate_text(corruption_result.clean.robust_accuracy) in text
    assert "Caution: 10 images" in text
