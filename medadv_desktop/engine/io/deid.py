"""De-identification: which header fields identify a person, and stable pseudonyms.

MedAdv never writes protected health information (PHI) to logs, reports or file
names. Two tools make that practical:

* :func:`is_phi` marks header fields that identify a patient, a clinician, an
  institution or a specific study instance (names, IDs, dates, addresses,
  phone numbers, every instance UID, free-text comments, private tags). The
  rule is conservative (it follows the spirit of the DICOM PS3.15 Basic
  Application Level Confidentiality Profile): when unsure, a field is PHI.
* :func:`is_phi_key` asks the same of a key in JSON-like metadata, in any
  spelling (``PatientName``, ``patient_name``, ``dob``, ``study_uid``...),
  and also counts the quasi-identifiers that the viewer shows but reports
  leave out (:data:`REPORT_WITHHELD`). This module holds the one PHI
  vocabulary; the reports' de-identification pass uses it.
* :func:`pseudonym` turns identifying strings (a StudyInstanceUID, a file path)
  into a stable name such as ``"STUDY-3F2A9C04B17E55D0"``: the first 64 bits
  of HMAC-SHA-256(salt, parts) in hex (with 24 bits, 20,000 studies gave 12
  collisions; 64 bits make one unlikely below about 4 billion). The salt comes from the environment variable
  ``MEDADV_PSEUDONYM_SALT`` or, failing that, from a random 32-byte salt created
  once in ``~/.config/medadv-desktop/salt`` (mode 0600). Without the salt the
  pseudonym cannot be traced back to the UID by hashing guesses.

Nothing in this module logs anything.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import re
import secrets
import threading
from pathlib import Path

#: Keywords of fields that identify a person, an institution or a study instance.
#: Every keyword ending in ``UID`` is PHI too, except the class / syntax UIDs in
#: :data:`NON_PHI_UIDS` (they name a kind of object, not an instance).
PHI_KEYWORDS: frozenset[str] = frozenset({
    # patient
    "PatientName", "PatientID", "IssuerOfPatientID", "PatientBirthDate", "PatientBirthTime",
    "PatientBirthName", "PatientMotherBirthName", "OtherPatientIDs", "OtherPatientIDsSequence",
    "OtherPatientNames", "PatientAddress", "PatientTelephoneNumbers", "PatientTelecomInformation",
    "MilitaryRank", "BranchOfService", "MedicalRecordLocator", "EthnicGroup", "Occupation",
    "PatientReligiousPreference", "PatientComments", "AdditionalPatientHistory",
    "PatientInsurancePlanCodeSequence", "ResponsiblePerson", "ResponsibleOrganization",
    "PatientInstitutionResidence", "CountryOfResidence", "RegionOfResidence",
    "PersonName", "PersonAddress", "PersonTelephoneNumbers", "PersonTelecomInformation",
    "PatientState", "MedicalAlerts", "Allergies", "PregnancyStatus", "SmokingStatus",
    # visit / order
    "AccessionNumber", "StudyID", "AdmissionID", "IssuerOfAdmissionID", "RequestedProcedureID",
    "ScheduledProcedureStepID", "PerformedProcedureStepID", "FillerOrderNumberImagingServiceRequest",
    "PlacerOrderNumberImagingServiceRequest", "RequestAttributesSequence", "CurrentPatientLocation",
    "ReasonForStudy", "RequestingService", "StudyComments", "ImageComments",
    "VisitComments", "AdmittingDiagnosesDescription",
    # clinicians and staff
    "ReferringPhysicianName", "ReferringPhysicianAddress", "ReferringPhysicianTelephoneNumbers",
    "ReferringPhysicianIdentificationSequence", "PerformingPhysicianName",
    "PerformingPhysicianIdentificationSequence", "PhysiciansOfRecord",
    "PhysiciansOfRecordIdentificationSequence", "NameOfPhysiciansReadingStudy",
    "PhysiciansReadingStudyIdentificationSequence", "OperatorsName", "OperatorIdentificationSequence",
    "RequestingPhysician", "ScheduledPerformingPhysicianName", "ConsultingPhysicianName",
    "VerifyingObserverName", "ContentCreatorName", "ReviewerName",
    # institution and device
    "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName", "InstitutionCodeSequence",
    "StationName", "DeviceSerialNumber", "DetectorID", "PlateID", "GantryID", "CassetteID",
    # dates that place a person in time
    "StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate", "AcquisitionDateTime",
    "InstanceCreationDate", "OverlayDate", "CurveDate", "LastMenstrualDate",
    # NIfTI / Analyze free-text fields (may hold anything a scanner operator typed)
    "descrip", "aux_file", "db_name", "intent_name",
})

#: UIDs that name a class of object or an encoding, not a patient's instance.
NON_PHI_UIDS: frozenset[str] = frozenset({
    "SOPClassUID", "MediaStorageSOPClassUID", "TransferSyntaxUID", "ImplementationClassUID",
    "ReferencedSOPClassUID", "ReferencedSOPClassUIDInFile", "AffectedSOPClassUID",
    "RequestedSOPClassUID", "CodingSchemeUID", "ContextGroupExtensionCreatorUID",
    "PrivateInformationCreatorUID", "RelatedGeneralSOPClassUID", "OriginalSpecializedSOPClassUID",
    "MappingResourceUID", "ContextUID", "ReferencedTransferSyntaxUIDInFile",
})

#: Patient-module fields that do not identify anyone on their own.
_NON_PHI_PATIENT_KEYWORDS = frozenset({"PatientSex", "PatientSize", "PatientWeight",
                                       "PatientOrientation", "PatientPosition"})

_SUBSTRINGS = ("BirthDate", "Address", "Telephone", "PhoneNumber", "Telecom", "PersonName")

#: Other spellings of identifying fields met as keys of JSON-like metadata (not DICOM keywords).
PHI_KEY_ALIASES: frozenset[str] = frozenset({
    "BirthDate", "DateOfBirth", "DOB", "Accession", "Institution", "PatientMothersBirthName", "UID", "UIDs",
})

#: Fields that do not identify anyone on their own (the tag browser shows them) but that reports,
#: which leave the hospital, withhold anyway: together with the dates they narrow a patient down.
REPORT_WITHHELD: frozenset[str] = frozenset({"PatientSex", "PatientAge"})

_UID_KEY = re.compile(r"(?:UID|Uid)s?$|(?:^|[_\-\s])uids?$")   # StudyInstanceUID, study_uid; not "fluid"


def normalise_key(key: str) -> str:
    """A key without case and separators: ``"Patient_Name"`` -> ``"patientname"``."""
    return re.sub(r"[\s_\-]", "", str(key)).lower()


_PHI_KEYS_NORMALISED: frozenset[str] = frozenset(
    normalise_key(k) for k in PHI_KEYWORDS | PHI_KEY_ALIASES | REPORT_WITHHELD)


@functools.lru_cache(maxsize=4096)
def is_phi_key(key: str) -> bool:
    """True when a mapping key names an identifying field in any spelling (``PatientName``,
    ``patient_id``, ``dob``, ``StudyInstanceUID``, ``study_uid``...) or a field reports withhold."""
    key = str(key)
    return normalise_key(key) in _PHI_KEYS_NORMALISED or bool(_UID_KEY.search(key))


def is_phi(keyword: str, tag: int | None = None) -> bool:
    """Whether a header field can identify a person, institution or study instance.

    ``keyword`` is the DICOM keyword (``"PatientName"``) or a NIfTI field name;
    ``tag`` is the DICOM tag as an int (``0x00100010``) when known. Private tags
    (odd group number) and patient-module tags (group 0x0010, except sex, size,
    weight) are PHI because their content is unknown or personal.
    """
    if keyword in PHI_KEYWORDS:
        return True
    if keyword.endswith("UID") or keyword.endswith("UIDs"):
        return keyword not in NON_PHI_UIDS
    if any(s in keyword for s in _SUBSTRINGS):
        return True
    if tag is not None:
        group = (int(tag) >> 16) & 0xFFFF
        if group % 2 == 1:               # private tag: content unknown
            return True
        if group == 0x0010 and keyword not in _NON_PHI_PATIENT_KEYWORDS:
            return True
    return False


_salt_lock = threading.Lock()
_salt_cache: bytes | None = None


def config_dir() -> Path:
    """The per-user configuration folder (``$XDG_CONFIG_HOME/medadv-desktop``)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "medadv-desktop"


def pseudonym_salt() -> bytes:
    """The secret salt for pseudonyms (env ``MEDADV_PSEUDONYM_SALT``, else a stored random one)."""
    env = os.environ.get("MEDADV_PSEUDONYM_SALT")
    if env:
        return env.encode("utf-8")
    global _salt_cache
    with _salt_lock:
        if _salt_cache is not None:
            return _salt_cache
        path = config_dir() / "salt"
        try:
            _salt_cache = path.read_bytes().strip() or None
        except OSError:
            _salt_cache = None
        if _salt_cache is None:
            _salt_cache = _create_salt(path)
        return _salt_cache


def _create_salt(path: Path) -> bytes:
    salt = secrets.token_hex(32).encode("ascii")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:               # another process created it first: use theirs
        return path.read_bytes().strip() or salt
    except OSError:                       # read-only home: a per-process salt still hides PHI
        return salt
    with os.fdopen(fd, "wb") as fh:
        fh.write(salt)
    return salt


#: Hex digits of the HMAC in a pseudonym: 16 = 64 bits.
PSEUDONYM_HEX_DIGITS = 16


def pseudonym(*identifying_parts: str, prefix: str = "STUDY") -> str:
    """A stable, salted, non-reversible name such as ``"STUDY-3F2A9C04B17E55D0"``.

    ``prefix-HEX16`` where HEX16 is the first 16 hex digits (64 bits) of
    HMAC-SHA-256(salt, parts joined by U+001F). The same parts and salt always
    give the same name; different salts give unrelated names.
    """
    message = "\x1f".join(str(p) for p in identifying_parts).encode("utf-8", "surrogatepass")
    digest = hmac.new(pseudonym_salt(), message, hashlib.sha256).hexdigest()
    return f"{prefix}-{digest[:PSEUDONYM_HEX_DIGITS].upper()}"
