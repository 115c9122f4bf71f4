"""De-identification: PHI keywords and stable salted pseudonyms."""

from __future__ import annotations

import os
import re
import stat

from medadv_desktop.engine.io import deid


def test_is_phi_covers_identifiers_and_spares_technical_fields():
    for kw in ("PatientName", "PatientID", "PatientBirthDate", "AccessionNumber", "InstitutionName",
               "InstitutionAddress", "ReferringPhysicianName", "OtherPatientIDs", "StudyID",
               "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID",
               "PatientTelephoneNumbers", "PatientAddress", "StudyDate"):
        assert deid.is_phi(kw), kw
    for kw in ("Modality", "Rows", "PixelSpacing", "SOPClassUID", "TransferSyntaxUID",
               "RescaleSlope", "WindowCenter", "PatientSex"):
        assert not deid.is_phi(kw), kw
    assert deid.is_phi("", 0x00091001)            # private tag
    assert deid.is_phi("PatientMotherBirthName", 0x00101060)
    assert not deid.is_phi("PatientSex", 0x00100040)


def test_pseudonym_is_stable_salted_and_short(monkeypatch):
    monkeypatch.setenv("MEDADV_PSEUDONYM_SALT", "salt-a")
    a = deid.pseudonym("1.2.3", "4.5.6")
    assert re.fullmatch(r"STUDY-[0-9A-F]{16}", a)
    assert deid.pseudonym("1.2.3", "4.5.6") == a
    assert deid.pseudonym("1.2.3", "4.5.7") != a
    assert "1.2.3" not in a
    monkeypatch.setenv("MEDADV_PSEUDONYM_SALT", "salt-b")
    assert deid.pseudonym("1.2.3", "4.5.6") != a
    assert deid.pseudonym("x", prefix="MODEL").startswith("MODEL-")


def test_salt_file_is_created_once_with_private_permissions(tmp_path, monkeypatch):
    monkeypatch.delenv("MEDADV_PSEUDONYM_SALT", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setattr(deid, "_salt_cache", None)
    first = deid.pseudonym("uid")
    path = tmp_path / "medadv-desktop" / "salt"
    assert path.is_file()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    monkeypatch.setattr(deid, "_salt_cache", None)        # a new process reads the same salt
    assert deid.pseudonym("uid") == first
