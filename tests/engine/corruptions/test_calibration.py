"""Each severity is calibrated in physical terms: measured statistics match the documented values
and grow monotonically with severity."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medadv_desktop.engine.corruptions import corrupt_study, create_corruption
from medadv_desktop.engine.corruptions.ct_dose import DOSE_FRACTIONS, added_noise_sd

from .conftest import CT, MR, disc_phantom

SEVERITIES = (1, 2, 3, 4, 5)


def _strictly_increasing(values) -> bool:
    return all(b > a for a, b in zip(values, values[1:], strict=False))


# -- CT dose noise ----------------------------------------------------------------------
def test_documented_ct_noise_table():
    assert [round(added_noise_sd(10.0, f), 1) for f in DOSE_FRACTIONS] == [10.0, 17.3, 26.5, 38.7, 55.7]


@pytest.mark.parametrize("texture", ["ct", "white"])
def test_ct_noise_matches_its_documented_hu_sd_within_5_percent_on_a_water_phantom(texture):
    water = np.zeros((4, 256, 256), np.float32)          # a flat 0 HU region, 4 slices
    measured = []
    for sev in SEVERITIES:
        c = create_corruption("ct_dose", sev, seed=sev, texture=texture)
        out, rec = c.apply(water, CT)
        expected = 10.0 * math.sqrt(1 / DOSE_FRACTIONS[sev - 1] - 1)
        assert rec.parameters["added_noise_sd_hu"] == pytest.approx(expected)
        sd = float(out.std())
        assert sd == pytest.approx(expected, rel=0.05), (sev, sd, expected)
        measured.append(sd)
    assert _strictly_increasing(measured)


def test_ct_noise_on_real_ct_difference_image_and_texture(ct_study, demo_study):
    for study in (ct_study, demo_study):
        for sev in SEVERITIES:
            res = corrupt_study(study, "ct_dose", sev, seed=0)
            diff = res.pixels - study.pixels
            assert float(diff.std()) == pytest.approx(res.record.parameters["added_noise_sd_hu"], rel=0.05)
            assert abs(float(diff.mean())) < 0.1 * res.record.parameters["added_noise_sd_hu"]
    # the CT texture is correlated between neighbouring pixels (FBP noise), white noise is not
    flat = np.zeros((1, 256, 256), np.float32)
    ct, _ = create_corruption("ct_dose", 3, texture="ct").apply(flat, CT)
    white, _ = create_corruption("ct_dose", 3, texture="white").apply(flat, CT)

    def neighbour_corr(a):
        return float(np.corrcoef(a[0, :, :-1].ravel(), a[0, :, 1:].ravel())[0, 1])

    assert abs(neighbour_corr(white)) < 0.03
    assert abs(neighbour_corr(ct)) > 0.1
    # a lower reference noise (head CT) scales the added SD
    head, rec = create_corruption("ct_dose", 2, reference_noise_hu=4).apply(flat, CT)
    assert rec.parameters["added_noise_sd_hu"] == pytest.approx(4 * math.sqrt(3))
    assert float(head.std()) == pytest.approx(4 * math.sqrt(3), rel=0.05)


# -- MR noise and intensity ----------------------------------------------------------------
def test_rician_noise_sd_in_flat_signal_follows_the_snr():
    flat = np.full((2, 128, 128), 1000.0, np.float32)
    sds = []
    for sev, snr in zip(SEVERITIES, (40, 20, 10, 6, 3), strict=True):
        out, rec = create_corruption("rician", sev, seed=1).apply(flat, MR)
        assert rec.parameters["snr"] == snr and rec.parameters["noise_sd"] == pytest.approx(1000 / snr)
        sds.append(float(out.std()))
        if snr >= 10:          # high SNR: Rician ~ Gaussian of SD sigma
            assert sds[-1] == pytest.approx(1000 / snr, rel=0.05)
    assert _strictly_increasing(sds)
    # background (no signal): Rayleigh, mean sigma * sqrt(pi / 2)
    bg = disc_phantom(128, 20, 1000)
    out, rec = create_corruption("rician", 3, seed=2).apply(bg, MR)
    corner = out[0, :30, :30]
    assert float(corner.mean()) == pytest.approx(rec.parameters["noise_sd"] * math.sqrt(math.pi / 2), rel=0.08)
    assert (out >= 0).all()


def test_bias_field_spans_exactly_its_peak_to_peak_non_uniformity(mr_volume):
    flat = np.full((5, 64, 64), 500.0, np.float32)
    spans = []
    for sev in SEVERITIES:
        out, rec = create_corruption("bias_field", sev, seed=3).apply(flat, MR)
        field = out / 500.0
        spans.append(float(field.max() - field.min()))
        assert spans[-1] == pytest.approx(rec.parameters["non_uniformity"], rel=1e-4)
        assert field.max() == pytest.approx(1 + rec.parameters["non_uniformity"] / 2, rel=1e-4)
    assert spans == pytest.approx([0.10, 0.20, 0.30, 0.45, 0.60], rel=1e-4)
    # smooth and shared through the volume: neighbouring slices differ far less than the field spans
    res = corrupt_study(mr_volume, "bias_field", 5, seed=3)
    ratio = res.pixels / np.where(mr_volume.pixels == 0, 1, mr_volume.pixels)
    inside = mr_volume.pixels > np.percentile(mr_volume.pixels, 50)
    step = np.abs(np.diff(ratio, axis=0))[inside[1:] & inside[:-1]]
    assert float(np.median(step)) < 0.05 * 0.60


def test_gamma_and_contrast_follow_their_tables():
    ramp = np.tile(np.linspace(0, 1000, 101, dtype=np.float32), (1, 4, 1))
    mids = []
    for sev, g in zip(SEVERITIES, (1.25, 1.5, 2.0, 2.5, 3.0), strict=True):
        out, _ = create_corruption("gamma", sev).apply(ramp, MR)
        assert out[0, 0, 0] == 0 and out[0, 0, -1] == pytest.approx(1000)      # range kept
        assert out[0, 0, 50] == pytest.approx(1000 * 0.5 ** g, rel=1e-5)
        mids.append(float(out[0, 0, 50]))
    assert mids == sorted(mids, reverse=True)
    bright, _ = create_corruption("gamma", 3, direction="brighter").apply(ramp, MR)
    assert bright[0, 0, 50] == pytest.approx(1000 * 0.5 ** 0.5, rel=1e-5)
    img = np.random.default_rng(0).uniform(0, 1000, (1, 64, 64)).astype(np.float32)
    for sev, c in zip(SEVERITIES, (0.9, 0.8, 0.65, 0.5, 0.35), strict=True):
        out, _ = create_corruption("contrast", sev).apply(img, MR)
        assert float(out.std() / img.std()) == pytest.approx(c, rel=1e-4)
        assert float(out.mean()) == pytest.approx(float(img.mean()), rel=1e-4)


# -- k-space -------------------------------------------------------------------------------
def test_ghost_intensity_matches_its_table():
    disc = disc_phantom(128, 12, 1000)                     # ghosts at 32, 64, 96 rows below (period 4)
    measured = []
    for sev in SEVERITIES:
        out, rec = create_corruption("ghosting", sev).apply(disc, MR)
        g = rec.parameters["ghost_intensity"]
        ghost = out[0, 64 + 32 - 5:64 + 32 + 5, 59:69]          # centre of the first ghost
        measured.append(float(ghost.mean()) / 1000)
        assert measured[-1] == pytest.approx(g, rel=0.02)
        inside = out[0, 59:69, 59:69]
        assert float(inside.mean()) == pytest.approx(1000, rel=1e-3)   # the object itself is kept
    assert measured == pytest.approx([0.025, 0.05, 0.10, 0.15, 0.20], rel=0.02)
    cols, _ = create_corruption("ghosting", 5, phase_encode="columns").apply(disc, MR)
    assert float(cols[0, 59:69, 91:101].mean()) == pytest.approx(200, rel=0.02)


def test_spike_stripe_amplitude_matches_its_table():
    flat = np.full((1, 64, 64), 800.0, np.float32)
    amps = []
    for sev, a in zip(SEVERITIES, (0.02, 0.05, 0.10, 0.15, 0.25), strict=True):
        out, rec = create_corruption("spike", sev, seed=7).apply(flat, MR)
        measured = (float(out.max()) - float(out.min())) / 2
        assert measured == pytest.approx(a * 800, rel=0.03)
        amps.append(measured)
    assert _strictly_increasing(amps)
    # the same seed puts the spike at the same k-space point at every severity
    locs = {tuple(create_corruption("spike", s, seed=7).apply(flat, MR)[1].measured.values())[:2] for s in SEVERITIES}
    assert len(locs) == 1


def test_gibbs_rings_and_blurs_more_with_each_severity():
    edge = np.zeros((1, 128, 128), np.float32)
    edge[:, :, 40:88] = 1000.0
    overshoots, errors = [], []
    for sev in SEVERITIES:
        out, rec = create_corruption("gibbs", sev).apply(edge, MR)
        assert rec.parameters["acquired_matrix"][1] == pytest.approx(128 * rec.parameters["kept_fraction"], abs=2)
        overshoots.append(float(out.max()) / 1000 - 1)
        errors.append(float(np.abs(out - edge).mean()))
    assert all(0.05 < o < 0.14 for o in overshoots), overshoots        # the Gibbs phenomenon: about 9 %
    assert _strictly_increasing(errors)


def test_motion_artefact_grows_with_severity():
    """Mean artefact energy over seeds grows with the motion amplitude. (For one seed it need not:
    a phase error 2 pi k d on high-k lines wraps, so a larger movement at a given moment can hurt less.)"""
    x = np.zeros((1, 128, 128), np.float32)
    yy, xx = np.mgrid[:128, :128]
    x[0][np.hypot(yy - 64, xx - 64) < 24] = 600.0
    x[0, 50:70, 55:65] = 1000.0                           # an off-centre bar: rotations show too
    mean_rms = []
    for sev in SEVERITIES:
        rms = []
        for seed in range(6):
            out, rec = create_corruption("motion", sev, seed=seed).apply(x, MR)
            rms.append(float(np.sqrt(np.mean((out - x) ** 2))))
            m = rec.measured
            assert len(m["movement_times"]) == 2 and all(0.1 <= t <= 0.9 for t in m["movement_times"])
            limit = rec.parameters["max_translation_mm"]
            assert all(abs(v) <= limit for row in m["translations_mm"] for v in row)
            assert all(row[0] == 0 for row in m["translations_mm"])        # one slice: no through-plane shift
        mean_rms.append(float(np.mean(rms)))
    assert _strictly_increasing(mean_rms), mean_rms
    # no movement at all is exact
    still, _ = create_corruption("motion", 3, translation_mm=0, rotation_deg=0).apply(x, MR)
    np.testing.assert_allclose(still, x, atol=1e-2)


# -- resolution ------------------------------------------------------------------------------
def _fwhm_mm(profile: np.ndarray, spacing: float) -> float:
    """Full width at half maximum of a peaked profile, by linear interpolation, in mm."""
    p = profile / profile.max()
    i = int(np.argmax(p))
    left = np.interp(0.5, p[:i + 1], np.arange(i + 1))                    # rising side
    right = i + np.interp(0.5, p[i:][::-1], np.arange(p.size - i)[::-1])  # falling side, reversed to rise
    return float((right - left) * spacing)


@pytest.mark.parametrize("modality, spacing, table", [
    ("CT", 0.25, (1.0, 1.5, 2.0, 3.0, 4.0)), ("DX", 0.05, (0.3, 0.5, 0.75, 1.0, 1.5))])
def test_blur_fwhm_of_a_point_matches_the_table(modality, spacing, table):
    from medadv_desktop.engine.corruptions import ImageContext

    ctx = ImageContext(modality, (1.0, spacing, spacing), "HU" if modality == "CT" else "")
    point = np.zeros((1, 129, 129), np.float32)
    point[0, 64, 64] = 1000.0
    for sev, fwhm in zip(SEVERITIES, table, strict=True):
        out, rec = create_corruption("blur", sev).apply(point, ctx)
        assert rec.parameters["fwhm_mm"] == fwhm
        assert _fwhm_mm(out[0, 64], spacing) == pytest.approx(fwhm, rel=0.05)
        assert _fwhm_mm(out[0, :, 64], spacing) == pytest.approx(fwhm, rel=0.05)
        assert float(out.sum()) == pytest.approx(1000, rel=1e-4)


def test_resolution_loss_removes_more_detail_with_each_severity(ct_study):
    detail = []
    for sev in SEVERITIES:
        res = corrupt_study(ct_study, "resolution", sev)
        lap = np.diff(res.pixels, 2, axis=-1)
        detail.append(float(np.abs(lap).mean()))
        p = res.record.parameters
        assert p["effective_pixel_mm"][0] == pytest.approx(ct_study.spacing[1] * 128 / p["coarse_matrix"][0])
    assert detail == sorted(detail, reverse=True) and detail[0] < float(np.abs(np.diff(ct_study.pixels, 2)).mean())
    # down-sampling by an integer factor and back keeps a constant image and the mean
    flat = np.full((1, 60, 60), 37.0, np.float32)
    np.testing.assert_allclose(create_corruption("resolution", 3).apply(flat, CT)[0], flat, rtol=1e-6)


def test_slice_thickness_averages_a_slab_of_the_documented_thickness():
    from medadv_desktop.engine.corruptions import ImageContext

    ctx = ImageContext("CT", (1.0, 0.7, 0.7), "HU")
    vol = np.zeros((41, 8, 8), np.float32)
    vol[20] = 1000.0                                       # a 1 mm thin plate
    widths = []
    for sev, t in zip(SEVERITIES, (2.0, 3.0, 5.0, 7.5, 10.0), strict=True):
        out, rec = create_corruption("slice_thickness", sev).apply(vol, ctx)
        profile = out[:, 4, 4]
        assert float(profile.sum()) == pytest.approx(1000, rel=1e-4)          # partial-volume: spread, not lost
        assert float(profile.max()) == pytest.approx(1000 / t, rel=0.02)      # contrast of the thin plate drops 1/T
        widths.append(int((profile > 1e-3).sum()))
    assert widths == sorted(widths) and widths[0] < widths[-1]
    thick = ImageContext("CT", (5.0, 0.7, 0.7), "HU")
    out, rec = create_corruption("slice_thickness", 2).apply(vol, thick)          # 3 mm < 5 mm slices
    assert rec.parameters["unchanged"] and np.array_equal(out, vol)


# -- quantisation and compression ---------------------------------------------------------------
def test_quantisation_step_and_error_follow_the_bits(ct_study):
    errors = []
    for sev, step in zip(SEVERITIES, (4, 8, 16, 32, 64), strict=True):
        res = corrupt_study(ct_study, "quantize", sev)
        p = res.record.parameters
        assert p["bits_stored"] == 12 and p["step"] == step and p["bits_kept"] == 12 - sev - 1
        levels = np.unique(res.pixels)
        assert np.allclose(np.diff(levels) % step, 0)
        rms = float(np.sqrt(np.mean((res.pixels - ct_study.pixels) ** 2)))
        assert rms == pytest.approx(step / math.sqrt(12), rel=0.1)
        errors.append(rms)
    assert _strictly_increasing(errors)


@pytest.mark.parametrize("name", ["jpeg", "jpeg2000"])
def test_compression_reaches_its_ratio_and_degrades_monotonically(name, ct_study):
    targets = create_corruption(name, 1).table_for("CT")
    ratios, errors = [], []
    for sev, target in zip(SEVERITIES, targets, strict=True):
        res = corrupt_study(ct_study, name, sev)
        m = res.record.measured
        assert res.record.parameters["target_ratio"] == target and res.record.parameters["bits_allocated"] == 16
        assert m["target_reached"] and m["compression_ratio"] >= target * 0.999
        assert m["compression_ratio"] < target * 1.5                         # not wildly more than asked
        ratios.append(m["compression_ratio"])
        errors.append(float(np.sqrt(np.mean((res.pixels - ct_study.pixels) ** 2))))
    assert _strictly_increasing(ratios) and _strictly_increasing(errors)


def test_jpeg2000_at_the_693_unci_ratio_on_a_full_ct_slice():
    """Severity 5 is the 339:1 of pydicom-data's 693_UNCI.dcm; on its lossless twin it lands at that size."""
    from pydicom.data import get_testdata_file

    from medadv_desktop.engine.io import open_path

    study = open_path(get_testdata_file("693_UNCR.dcm")).studies[0]
    res = corrupt_study(study, "jpeg2000", 5)
    m = res.record.measured
    assert m["target_reached"] and 340 <= m["compression_ratio"] < 400
    assert 0.8 * 1548 < 512 * 512 * 2 / m["stream_compression_ratio"] < 1.3 * 1548   # 693_J2KI.dcm's frame bytes


def test_an_8_bit_image_keeps_its_values_in_jpeg_and_counts_8_bits():
    img = np.random.default_rng(0).integers(0, 256, (1, 64, 64)).astype(np.float32)
    img = np.round(np.clip(np.cumsum(img - 127.5, axis=2) / 8 + 128, 0, 255)).astype(np.float32)
    from medadv_desktop.engine.corruptions import ImageContext

    ctx = ImageContext("OT")
    out, rec = create_corruption("jpeg", 1).apply(img, ctx)
    assert rec.parameters["bits_allocated"] == 8 and rec.parameters["code_step"] == 1.0
    assert np.array_equal(out, np.round(out))
    out, rec = create_corruption("quantize", 3).apply(img, ctx)
    assert rec.parameters["bits_kept"] == 4 and len(np.unique(out)) <= 16


def test_large_images_blur_by_shifted_sums_exactly_as_the_matrix_does():
    from medadv_desktop.engine.corruptions import _signal

    x = np.random.default_rng(0).uniform(0, 1000, (1, 1, 3, _signal.DENSE_LIMIT + 57)).astype(np.float32)
    fast = _signal.blur_along(x, 4.3, 3)
    dense = _signal.along(x, _signal.gaussian_matrix(x.shape[3], 4.3), 3)
    np.testing.assert_allclose(fast, dense, rtol=1e-4, atol=1e-2)


def test_resampling_in_linear_time_equals_the_resampling_matrices():
    from medadv_desktop.engine.corruptions import _signal

    x = np.random.default_rng(1).uniform(-1000, 1000, (2, 1, 5, 77)).astype(np.float32)
    for m in (1, 13, 26, 51, 77):
        down = _signal.area_resample(x, m, 3)
        np.testing.assert_allclose(down, _signal.along(x, _signal.area_matrix(77, m), 3), rtol=1e-4, atol=1e-2)
        up = _signal.linear_resample(down, 77, 3)
        np.testing.assert_allclose(up, _signal.along(down, _signal.linear_matrix(m, 77), 3), rtol=1e-4, atol=1e-2)


def test_slab_average_by_shifted_sums_equals_the_box_matrix():
    from medadv_desktop.engine.corruptions import _signal

    x = np.random.default_rng(2).uniform(-1000, 1000, (23, 1, 4, 3)).astype(np.float32)
    for width in (1.0, 1.5, 2.0, 3.7, 10.0, 30.0):
        np.testing.assert_allclose(_signal.box_along(x, width, 0), _signal.along(x, _signal.box_matrix(23, width), 0),
                                   rtol=1e-4, atol=1e-2)


def test_large_axes_resample_back_as_small_ones_do():
    from medadv_desktop.engine.corruptions import _signal

    x = np.random.default_rng(3).uniform(0, 1000, (1, 1, 2, _signal.DENSE_LIMIT + 41)).astype(np.float32)
    n = x.shape[3]
    for m in (n // 6, n // 2, round(n / 1.5)):
        fast = _signal.resample_back(x, m, 3)
        dense = _signal.along(x, _signal.linear_matrix(m, n) @ _signal.area_matrix(n, m), 3)
        np.testing.assert_allclose(fast, dense, rtol=1e-4, atol=1e-2)
