"""End to end: real DICOM data set with PHI markers -> evaluate_job -> every report.

The data set holds copies of pydicom's CT_small.dcm whose identifying fields
are set to known markers (and whose class folders live under a folder named
after the patient). A tiny real timm model (``test_efficientnet``) is saved as
safetensors with a model card and loaded through the model loader; the real
evaluation runs FGSM and PGD at two budgets; the reports, CSVs, JSON, log
lines and file names must contain neither the markers nor any UID.
"""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid
from pypdf import PdfReader

from medadv_desktop.engine.reports import export_reports_job, load_report_json
from medadv_desktop.engine.reports.formatting import pct
from tests.engine.reports.test_deid import (
    MARKER_ACCESSION,
    MARKER_BIRTH,
    MARKER_ID,
    MARKER_INSTITUTION,
    MARKER_NAME,
    forbidden,
)

CLASSES = ["no_finding", "lesion"]


@pytest.fixture(scope="module")
def marked_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipe") / "MARKER^PHI^12345"
    src = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    rng = np.random.default_rng(0)
    uids = []
    for label, cls in enumerate(CLASSES):
        (root / cls).mkdir(parents=True)
        for i in range(2):
            ds = src.copy()
            ds.PatientName, ds.PatientID = MARKER_NAME, MARKER_ID
            ds.AccessionNumber, ds.InstitutionName, ds.PatientBirthDate = (MARKER_ACCESSION, MARKER_INSTITUTION,
                                                                          MARKER_BIRTH)
            ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = (generate_uid() for _ in range(3))
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            px = ds.pixel_array.astype(np.int32)
            px = px + rng.integers(-20, 20, px.shape)
            if label:                                  # a bright "lesion"
                px[40:70, 50:80] += 300
            ds.PixelData = np.clip(px, 0, 4000).astype(ds.pixel_array.dtype).tobytes()
            ds.save_as(root / cls / f"img{i}.dcm")
            uids += [str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)]
    shutil.copy(get_testdata_file("CT_small.dcm"), root / "lesion" / "orig.dcm")
    orig = pydicom.dcmread(root / "lesion" / "orig.dcm")
    uids += [str(orig.StudyInstanceUID), str(orig.SeriesInstanceUID), str(orig.SOPInstanceUID)]
    return root, uids


@pytest.fixture(scope="module")
def tiny_classifier(tmp_path_factory):
    import torch
    from safetensors.torch import save_file

    from medadv_desktop.engine._torch_compat import import_timm
    from medadv_desktop.engine.models import create_card_from_weights, load_classifier, save_card

    folder = tmp_path_factory.mktemp("model")
    torch.manual_seed(0)
    net = import_timm().create_model("test_efficientnet", pretrained=False, in_chans=1, num_classes=2)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(folder / "weights.safetensors"))
    card = create_card_from_weights(folder / "weights.safetensors", name="Tiny test CT model", class_names=CLASSES,
                                    input_size=[32, 32], architecture="test_efficientnet",
                                    intensity={"mode": "window", "center": 40, "width": 400})
    save_card(card, folder / "model_card.json")
    return load_classifier(folder / "model_card.json", device="cpu")


def test_real_evaluation_reports_carry_no_phi(marked_dataset, tiny_classifier, tmp_path, caplog):
    from medadv_desktop.engine.datasets import LabelledDataset
    from medadv_desktop.engine.evaluation import evaluate_job
    from medadv_desktop.engine.jobs import run_job

    root, uids = marked_dataset
    caplog.set_level(logging.DEBUG)
    dataset = LabelledDataset.from_folder(root, CLASSES)
    assert len(dataset) == 5
    eps_grid = [2 / 255, 4 / 255]
    result = run_job(evaluate_job(tiny_classifier, dataset, [("fgsm", {}), ("pgd", {"steps": 2})], eps_grid,
                                  batch_size=16, n_examples=2))
    out = tmp_path / "reports"
    events = []
    written = run_job(export_reports_job(result, pdf=out / "report.pdf", csv=out / "samples.csv",
                                         summary_csv=out / "summary.csv", json=out / "result.json"), events.append)
    assert len(written) == 4 and len(events) == 8
    pdf_text = "\n".join(p.extract_text() for p in PdfReader(str(out / "report.pdf")).pages)
    texts = {p.name: p.read_bytes().decode("latin-1") for p in written}
    texts.update({"pdf text": pdf_text, "log": "\n".join(r.getMessage() for r in caplog.records),
                  "names": " ".join(str(p) for p in written)})
    for where, text in texts.items():
        for value in forbidden(uids):
            assert value not in text, (value, where)
        assert "MARKER" not in text.upper(), where

    # the CSV has one row per sample x attack x eps, the PDF the JSON's numbers
    lines = texts["samples.csv"].strip().splitlines()
    assert len(lines) - 1 == len(dataset) * 2 * len(eps_grid)
    doc = json.loads(texts["result.json"])["result"]
    assert f"Clean accuracy {pct(doc['clean_accuracy'])}" in pdf_text
    for row in doc["rows"]:
        assert pct(row["robust_accuracy"]) in pdf_text
    assert "2/255 = 0.0078 = 3.1" in pdf_text
    # the default attack cascade: PGD's rows are cumulative in the JSON, the summary CSV and the PDF
    assert [(r["attack"], r["cumulative"]) for r in doc["rows"]] == [
        ("fgsm", False), ("pgd", True), ("worst-case", False)] * len(eps_grid)
    summary = texts["summary.csv"].strip().splitlines()
    col = summary[0].split(",").index("cumulative")
    assert [line.split(",")[col] for line in summary[1:]] == ["false", "true", "false"] * len(eps_grid)
    assert "PGD *" in pdf_text and "* Cumulative (attack cascade)" in pdf_text
    shutil.copy(out / "report.pdf", "/tmp/medadv_real_report.pdf") if __import__("os").environ.get("MEDADV_KEEP_REPORT") else None
    loaded, _ = load_report_json(out / "result.json")
    assert loaded.n_samples == len(dataset)
