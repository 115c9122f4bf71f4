"""`medadv attack` on real DICOM, NIfTI and PNG inputs with a tiny TorchScript model."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from medadv_desktop.cli.main import main
from tests.conftest import make_tiny_card


@pytest.fixture(scope="module")
def card(tmp_path_factory):
    return make_tiny_card(tmp_path_factory.mktemp("model"), format="torchscript")


def test_attack_dicom_writes_derived_dicom(card, tmp_path, capsys):
    import pydicom
    from pydicom.data import get_testdata_file

    src = tmp_path / "in" / "ct.dcm"
    src.parent.mkdir()
    shutil.copy(get_testdata_file("CT_small.dcm"), src)
    out = tmp_path / "out"
    rc = main(["attack", "--model", str(card), "--attack", "pgd", "--eps", "6HU", "--steps", "3",
               "--alpha", "2/255", "--no-random-start", str(src), "--out", str(out)])
    text = capsys.readouterr().out
    assert rc == 0
    assert "before" in text and "after" in text and "6 HU" in text
    assert "no_finding" in text or "lesion" in text
    dcm = sorted(out.glob("*_adv*.dcm"))
    assert len(dcm) == 1 and "CT" not in dcm[0].name.replace("STUDY", "")
    orig, adv = pydicom.dcmread(src), pydicom.dcmread(dcm[0])
    assert adv.SOPInstanceUID != orig.SOPInstanceUID
    assert "DERIVED" in list(adv.ImageType)
    diff = adv.pixel_array.astype(float) * float(adv.RescaleSlope) - orig.pixel_array.astype(float) * float(orig.RescaleSlope)
    assert np.abs(diff).max() <= 6 + 1.0          # within 6 HU (+ integer rounding)
    from medadv_desktop.engine.io import open_study
    again = open_study(dcm[0])
    assert again.pixels.shape == (1, 128, 128)
    summary = json.loads(next(out.glob("*_summary.json")).read_text())
    assert summary["eps_native"] == pytest.approx(6.0) and summary["units"] == "HU"
    assert "CompressedSamples" not in json.dumps(summary)     # no header values, no PHI
    assert (list(out.glob("*_perturbation.png")))
    # never overwrite: a second run into the same folder is refused
    rc = main(["attack", "--model", str(card), "--attack", "fgsm", "--eps", "6HU", str(src), "--out", str(out)])
    assert rc == 0   # different attack name: different files
    rc = main(["attack", "--model", str(card), "--attack", "fgsm", "--eps", "6HU", str(src), "--out", str(out)])
    assert rc == 2 and "already exists" in capsys.readouterr().err


def test_attack_nifti_slices_and_png(tmp_path, capsys):
    import nibabel as nib
    from nibabel.testing import data_path
    from PIL import Image
    from skimage import data

    card = make_tiny_card(tmp_path / "m", format="torchscript", intensity={"mode": "minmax"})
    nii = Path(data_path) / "anatomical.nii"
    out = tmp_path / "out_nii"
    rc = main(["attack", "--model", str(card), "--attack", "fgsm", "--eps", "8/255", "--slices", "3,4",
               str(nii), "--out", str(out)])
    text = capsys.readouterr().out
    assert rc == 0, text
    lines = [ln for ln in text.splitlines() if ln.strip().startswith(("3 ", "4 "))]
    assert len(lines) == 2
    written = sorted(out.glob("*_adv.nii.gz"))
    assert len(written) == 1
    src_img, adv_img = nib.load(nii), nib.load(written[0])
    assert np.allclose(src_img.affine, adv_img.affine)
    assert adv_img.shape[:3] == src_img.shape[:3]
    assert list(out.glob("*_perturbation.nii.gz"))

    png = tmp_path / "camera.png"
    Image.fromarray(data.camera()[::8, ::8]).save(png)
    out = tmp_path / "out_png"
    rc = main(["attack", "--model", str(card), "--attack", "pgd", "--eps", "4/255", "--steps", "2",
               str(png), "--out", str(out)])
    assert rc == 0
    adv = np.asarray(Image.open(next(out.glob("*_adv.png"))), dtype=float)
    orig = np.asarray(Image.open(png), dtype=float)
    assert adv.shape == orig.shape and np.abs(adv - orig).max() <= 4 * (orig.max() - orig.min()) / 255 + 1


def test_attack_option_of_another_attack_is_refused(card, tmp_path, capsys):
    from pydicom.data import get_testdata_file

    rc = main(["attack", "--model", str(card), "--attack", "fgsm", "--steps", "3",
               get_testdata_file("CT_small.dcm"), "--out", str(tmp_path / "o")])
    assert rc == 2 and "steps" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_attack_outputs_carry_no_phi(card, tmp_path, capsys):
    import pydicom
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.PatientName = "MARKER^PHI^12345"
    ds.PatientID = "PHI-ID-98765"
    src = tmp_path / "MARKER_PHI.dcm"
    ds.save_as(src)
    out = tmp_path / "out"
    assert main(["attack", "--model", str(card), "--attack", "fgsm", "--eps", "2/255", str(src),
                 "--out", str(out)]) == 0
    cap = capsys.readouterr()
    text = cap.out + cap.err + "".join(p.name for p in out.iterdir())
    text += next(out.glob("*_summary.json")).read_text()
    for secret in ("MARKER", "PHI-ID", "12345", str(ds.SOPInstanceUID), str(ds.StudyInstanceUID)):
        assert secret not in text


@pytest.mark.parametrize("flag,expected", [([], True), (["--no-fold-bn"], False)])
def test_fold_bn_flag_reaches_the_attack(card, tmp_path, capsys, flag, expected):
    from pydicom.data import get_testdata_file

    out = tmp_path / "o"
    rc = main(["attack", "--model", str(card), "--attack", "fgsm", *flag, get_testdata_file("CT_small.dcm"),
               "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    summary = json.loads(next(out.glob("*_summary.json")).read_text())
    assert '"fold_bn": ' + str(expected).lower() in json.dumps(summary)
