"""Severity 0 is the identity; every corruption is deterministic under its seed."""

from __future__ import annotations

import numpy as np
import pytest

from medadv_desktop.engine.corruptions import (
    available,
    corrupt_native_batch,
    corrupt_study,
    create_corruption,
    default_corruptions,
)

from .conftest import CT, MR

RANDOM = ("ct_dose", "rician", "bias_field", "motion", "spike")


@pytest.mark.parametrize("name", available())
def test_severity_zero_is_the_identity(name, ct_study, mr_volume):
    study = ct_study if name == "ct_dose" else mr_volume
    res = corrupt_study(study, name, 0, seed=5)
    np.testing.assert_array_equal(res.pixels, study.pixels.astype(np.float32))
    assert res.record.severity == 0 and res.record.parameters == {}
    # severity 0 with physical overrides given is still the identity
    c = create_corruption(name, 0)
    out, _ = c.apply(study.pixels, CT if name == "ct_dose" else MR)
    np.testing.assert_array_equal(out, study.pixels)


@pytest.mark.parametrize("name", available())
def test_the_same_seed_gives_the_same_image(name, demo_study, mr_volume):
    study = demo_study if name in default_corruptions("CT", volume=True) else mr_volume
    a = corrupt_study(study, name, 3, seed=11)
    b = corrupt_study(study, name, 3, seed=11)
    np.testing.assert_array_equal(a.pixels, b.pixels)
    assert a.record == b.record
    if name in RANDOM:
        c = corrupt_study(study, name, 3, seed=12)
        assert not np.array_equal(a.pixels, c.pixels), "another seed draws another corruption"


def test_a_batch_sample_is_corrupted_alike_wherever_it_sits(demo_study):
    x = demo_study.pixels[:6]
    out, records = corrupt_native_batch(x, "ct_dose", 2, context=CT, seed=3, keys=[f"s{i}" for i in range(6)])
    rev, _ = corrupt_native_batch(x[::-1], "ct_dose", 2, context=CT, seed=3, keys=[f"s{i}" for i in range(6)][::-1])
    np.testing.assert_array_equal(out, rev[::-1])
    assert len(records) == 6 and all(r.severity == 2 for r in records)
    # samples get their own noise, not one noise field repeated
    assert not np.allclose(out[0] - x[0], out[1] - x[1])
    # (N, C, H, W) batches too
    out4, _ = corrupt_native_batch(x[:, None], "ct_dose", 2, context=CT, seed=3, keys=[f"s{i}" for i in range(6)])
    np.testing.assert_array_equal(out4[:, 0], out)
