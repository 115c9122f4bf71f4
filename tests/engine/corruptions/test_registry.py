"""The corruption registry, parameter schema, modality defaults and refusals with clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from medadv_desktop.engine.attacks.spec import ParamSpec
from medadv_desktop.engine.corruptions import (
    CORRUPTIONS,
    Corruption,
    CorruptionConfigError,
    ImageContext,
    available,
    corrupt_study,
    create_corruption,
    default_corruptions,
    get_corruption,
    modality_group,
)
from medadv_desktop.errors import MedAdvError, ModelInputError

from .conftest import CT, MR

ALL = ("ct_dose", "rician", "bias_field", "motion", "ghosting", "spike", "gibbs", "blur", "resolution",
       "slice_thickness", "gamma", "contrast", "jpeg", "jpeg2000", "quantize")


def test_every_corruption_is_registered_with_a_schema_and_a_severity_table():
    assert tuple(available()) == ALL
    for name in ALL:
        cls = get_corruption(name)
        assert issubclass(cls, Corruption) and cls.name == name and cls.label and cls.description
        schema = cls.schema()
        assert all(isinstance(p, ParamSpec) for p in schema)
        assert [p.name for p in schema][:2] == ["severity", "seed"]
        assert len(cls.table_for("CT")) == 5 and cls.severity_unit
        assert "| severity |" in (cls.__doc__ or ""), f"{name}: the docstring documents its severity table"
        # the table is monotone: every severity is a step further from the clean image
        values = list(cls.table_for("MR"))
        assert values == sorted(values) or values == sorted(values, reverse=True)


def test_names_are_forgiving_and_unknown_names_say_what_exists():
    assert get_corruption("JPEG2000") is CORRUPTIONS["jpeg2000"]
    assert get_corruption("ct-dose") is CORRUPTIONS["ct_dose"]
    with pytest.raises(CorruptionConfigError, match="available: ct_dose, rician"):
        get_corruption("snow")


@pytest.mark.parametrize("kwargs, parameter", [
    ({"severity": 6}, "severity"), ({"severity": -1}, "severity"), ({"severity": 1.5}, "severity"),
    ({"seed": -3}, "seed"), ({"dose_fraction": 0}, "dose_fraction"), ({"dose_fraction": "a"}, "dose_fraction"),
    ({"texture": "pink"}, "texture"), ({"fwhm": 2}, "fwhm"),
])
def test_bad_parameters_raise_one_clear_error_naming_the_parameter(kwargs, parameter):
    with pytest.raises(CorruptionConfigError) as info:
        create_corruption("ct_dose", **kwargs)
    assert info.value.parameter == parameter
    assert isinstance(info.value, MedAdvError) and str(info.value).startswith(f"Parameter '{parameter}'")


def test_modality_groups_and_defaults():
    assert [modality_group(m) for m in ("CT", "mr", "CR", "DX", "MG", "US", "", "OT")] == \
        ["CT", "MR", "XR", "XR", "XR", "OT", "OT", "OT"]
    ct = default_corruptions("CT")
    assert ct == ["ct_dose", "blur", "resolution", "jpeg2000", "quantize"]
    assert default_corruptions("CT", volume=True) == ["ct_dose", "blur", "resolution", "slice_thickness",
                                                      "jpeg2000", "quantize"]
    mr = default_corruptions("MR")
    assert {"rician", "bias_field", "motion", "ghosting", "spike", "gibbs"} <= set(mr) and "ct_dose" not in mr
    assert "jpeg" not in mr and "jpeg2000" in mr       # 12-16-bit archives: JPEG 2000; 8-bit JPEG is for exports
    xr = default_corruptions("DX")
    assert "ct_dose" not in xr and "motion" not in xr and {"blur", "gamma", "contrast", "jpeg"} <= set(xr)
    assert get_corruption("blur").table_for("XR") != get_corruption("blur").table_for("CT")   # finer for X-ray


def test_refusals_are_clear_and_leave_the_input_alone(mr_study, ct_study):
    before = mr_study.pixels.copy()
    with pytest.raises(CorruptionConfigError, match="Hounsfield units and this study is MR"):
        corrupt_study(mr_study, "ct_dose", 2)
    with pytest.raises(CorruptionConfigError, match="needs a volume"):
        corrupt_study(ct_study, "slice_thickness", 2)
    with pytest.raises(CorruptionConfigError, match="at least 32 x 32"):
        create_corruption("jpeg2000", 2).apply(np.zeros((1, 16, 40), np.float32), MR)
    with pytest.raises(ModelInputError, match="NaN"):
        create_corruption("blur", 2).apply(np.full((1, 8, 8), np.nan, np.float32), MR)
    with pytest.raises(ModelInputError, match="shape"):
        create_corruption("blur", 2).apply(np.zeros((8, 8), np.float32), MR)
    with pytest.raises(CorruptionConfigError, match="not both"):
        corrupt_study(mr_study, create_corruption("blur", 2), 3)
    np.testing.assert_array_equal(mr_study.pixels, before)


@pytest.mark.parametrize("name", ALL)
def test_shape_and_float32_are_kept_and_the_input_is_not_changed(name):
    rng = np.random.default_rng(0)
    vol = rng.uniform(0, 1000, (3, 40, 36)).astype(np.float32)
    colour = rng.integers(0, 256, (2, 48, 40, 3)).astype(np.float32)
    ctx = CT if name == "ct_dose" else MR
    for x in (vol, colour) if name != "ct_dose" else (vol,):
        keep = x.copy()
        out, record = create_corruption(name, 3, seed=1).apply(x, ctx)
        assert out.shape == x.shape and out.dtype == np.float32 and np.isfinite(out).all()
        assert not np.shares_memory(out, x)
        np.testing.assert_array_equal(x, keep)
        assert record.corruption == name and record.severity == 3 and record.seed == 1
        json.dumps(record.to_dict())            # physical parameters are plain JSON


def test_describe_and_record_state_the_physical_parameters(ct_study):
    c = create_corruption("ct_dose", 2, seed=4)
    assert c.describe(ImageContext.from_study(ct_study)) == "CT dose reduction noise, severity 2 (25 % dose)"
    res = corrupt_study(ct_study, c)
    d = res.record.to_dict()
    assert d["parameters"]["dose_fraction"] == 0.25
    assert d["parameters"]["added_noise_sd_hu"] == pytest.approx(17.3205, abs=1e-3)
    assert d["modality"] == "CT" and d["units"] == "HU" and d["seed"] == 4
    study = res.to_study(ct_study)
    assert study.pixels is res.pixels and study.modality == "CT" and ct_study.pixels is not res.pixels
    assert create_corruption("blur", 0).describe() == "Blur, severity 0 (no change)"
    ratio = create_corruption("jpeg2000", 5).describe(ImageContext.from_study(ct_study))
    assert ratio.endswith(":1 ratio)") and " :1" not in ratio, ratio          # "340:1", not "340 :1"


def test_the_corruptions_import_neither_torch_nor_qt():
    import subprocess
    import sys

    code = ("import sys, medadv_desktop.engine.corruptions as c\n"
            "assert len(c.available()) == 15\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'PySide6', 'pyqtgraph')]\n"
            "assert not bad, bad[:5]\n")
    subprocess.run([sys.executable, "-c", code], check=True)
