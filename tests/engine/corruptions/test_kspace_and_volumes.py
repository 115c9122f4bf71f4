"""k-space corruptions keep size and dtype; 3-D physics (motion, bias field) is consistent through a volume."""

from __future__ import annotations

import numpy as np
import pytest

from medadv_desktop.engine.corruptions import ImageContext, corrupt_study, create_corruption, get_corruption

from .conftest import MR

KSPACE = ("motion", "ghosting", "spike", "gibbs")


@pytest.mark.parametrize("name", KSPACE)
@pytest.mark.parametrize("shape", [(1, 37, 45), (4, 64, 50), (2, 33, 33, 3)])
def test_kspace_corruptions_keep_size_and_dtype(name, shape):
    x = np.random.default_rng(1).uniform(0, 900, shape).astype(np.float32)
    for dtype in (np.float32, np.int16, np.uint16):
        out, _ = create_corruption(name, 4, seed=2).apply(x.astype(dtype), MR)
        assert out.shape == x.shape and out.dtype == np.float32 and np.isfinite(out).all()
    # a magnitude image stays non-negative; an image with negative values keeps its floor (the baseline)
    assert (out >= 0).all()
    neg, _ = create_corruption(name, 4, seed=2).apply(x - 1000, MR)
    assert float(neg.min()) >= float((x - 1000).min()) - 1e-3


def test_motion_is_one_trajectory_for_the_whole_volume():
    """A stack of identical slices moved in-plane stays a stack of identical slices (one 3-D acquisition)."""
    rng = np.random.default_rng(0)
    slice_ = np.zeros((64, 64), np.float32)
    slice_[16:48, 20:44] = rng.uniform(300, 900, (32, 24))
    vol = np.repeat(slice_[None], 6, axis=0)
    ctx = ImageContext("MR", (2.0, 1.0, 1.0))
    c = create_corruption("motion", 4, seed=3, translation_mm=4.0, rotation_deg=4.0)
    out, rec = c.apply(vol, ctx)
    assert len(rec.measured["movement_times"]) == 2
    assert any(row[0] != 0 for row in rec.measured["translations_mm"])   # through-plane too: a no-op on this stack
    for k in range(1, 6):
        np.testing.assert_allclose(out[k], out[0], atol=1e-2)
    assert float(np.abs(out[0] - slice_).mean()) > 5.0, "the slices are corrupted, alike"
    # slice by slice as separate 2-D images each draws its own trajectory: slices differ
    separate = np.stack([create_corruption("motion", 4, seed=3 + k).apply(vol[k:k + 1], ctx)[0][0] for k in range(6)])
    assert not np.allclose(separate[1], separate[0], atol=1.0)


def test_motion_on_a_real_volume_shares_the_trajectory_and_moves_through_plane(mr_volume):
    res = corrupt_study(mr_volume, "motion", 3, seed=1)
    m = res.record.measured
    assert res.pixels.shape == mr_volume.pixels.shape
    assert len(m["translations_mm"]) == 2 and any(row[0] != 0 for row in m["translations_mm"])  # 3-D: dz too
    # the artefact is spread through the whole volume, not left in a few slices
    per_slice = np.sqrt(np.mean((res.pixels - mr_volume.pixels) ** 2, axis=(1, 2)))
    inside = mr_volume.pixels.reshape(mr_volume.n_slices, -1).std(axis=1) > 0
    assert (per_slice[inside] > 0).all()
    assert get_corruption("motion").three_d and get_corruption("bias_field").three_d


def test_bias_field_is_continuous_through_slices_and_2d_images_vary_in_plane_only():
    flat = np.full((8, 32, 32), 100.0, np.float32)
    out, _ = create_corruption("bias_field", 5, seed=1).apply(flat, ImageContext("MR", (1.0, 1.0, 1.0)))
    field = out / 100
    # slices share one smooth field: neighbours differ much less than the field spans
    assert float(np.abs(np.diff(field, axis=0)).max()) < 0.25 * float(field.max() - field.min())
    one, _ = create_corruption("bias_field", 5, seed=1).apply(flat[:1], MR)
    assert float(one.max() - one.min()) == pytest.approx(60.0, rel=1e-4)
