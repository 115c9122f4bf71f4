"""Every default corruption on real studies (CT, MR, an MR volume, the demo study) at every severity,
and the batch entry points the evaluation will call."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from medadv_desktop.engine.corruptions import (
    ImageContext,
    corrupt_native_batch,
    corrupt_study,
    corrupt_unit_batch,
    create_corruption,
    default_corruptions,
)


@pytest.mark.parametrize("which", ["ct_study", "mr_study", "mr_volume", "demo_study"])
def test_default_corruptions_run_on_real_studies_at_every_severity(which, request):
    study = request.getfixturevalue(which)
    names = default_corruptions(study.modality, volume=study.n_slices > 1)
    assert names
    for name in names:
        previous = None
        for sev in range(1, 6):
            res = corrupt_study(study, name, sev, seed=0)
            assert res.pixels.shape == study.pixels.shape and res.pixels.dtype == np.float32
            assert np.isfinite(res.pixels).all()
            json.dumps(res.record.to_dict())
            # something changed from one severity to the next (slice thickness may be a no-op on thick slices,
            # and a codec cannot go below its floor on tiny frames: recorded as target not reached)
            if (previous is not None and not res.record.parameters.get("unchanged")
                    and res.record.measured.get("target_reached", True)):
                assert not np.array_equal(previous, res.pixels), (name, sev)
            previous = res.pixels


def test_native_batch_equals_corrupting_each_sample(demo_study):
    ctx = ImageContext.from_study(demo_study)
    x = demo_study.pixels[:4]
    out, records = corrupt_native_batch(x, "jpeg2000", 3, context=ctx, keys=["a", "b", "c", "d"])
    for i in range(4):
        single, rec = create_corruption("jpeg2000", 3).apply(x[i:i + 1], ctx)
        np.testing.assert_array_equal(out[i], single[0])        # deterministic codec: no seed involved
        assert records[i].measured == rec.measured
    with pytest.raises(Exception, match="keys"):
        corrupt_native_batch(x, "blur", 1, context=ctx, keys=["a"])


def test_unit_batch_goes_through_native_units_with_the_card_window(demo_study):
    ctx = ImageContext.from_study(demo_study)
    window = (40 - 200.0, 40 + 200.0)                            # the demo card's window, 40 / 400 HU
    native = demo_study.pixels[:3]
    unit = np.clip((native - window[0]) / 400.0, 0, 1).astype(np.float32)
    x = torch.from_numpy(unit[:, None])
    y, records = corrupt_unit_batch(x, window, "ct_dose", 2, context=ctx, seed=1, keys=[0, 1, 2])
    assert y.shape == x.shape and y.dtype == x.dtype and float(y.min()) >= 0 and float(y.max()) <= 1
    ref, _ = corrupt_native_batch(np.clip(native, *window)[:, None], "ct_dose", 2, context=ctx, seed=1, keys=[0, 1, 2])
    np.testing.assert_allclose(y.numpy(), np.clip((ref - window[0]) / 400.0, 0, 1), atol=1e-5)
    # 17.3 HU of noise is 17.3 / 400 of a unit where the window does not clip
    inside = (unit > 0.1) & (unit < 0.9)
    sd = float((y.numpy()[:, 0] - unit)[inside].std())
    assert sd == pytest.approx(17.32 / 400, rel=0.1)
    # per-sample bounds
    y2, _ = corrupt_unit_batch(x, [window] * 3, "ct_dose", 2, context=ctx, seed=1, keys=[0, 1, 2])
    assert torch.equal(y, y2)
    with pytest.raises(Exception, match="bounds"):
        corrupt_unit_batch(x, [window] * 2, "ct_dose", 2, context=ctx)
