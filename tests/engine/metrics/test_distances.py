import math

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from medadv_desktop.engine.metrics import perturbation_measures, ssim, true_class_confidence


def test_distances_hand_computed():
    clean = torch.zeros(2, 1, 4, 4)
    adv = clean.clone()
    adv[0, 0, 0, 0] = 0.5
    adv[0, 0, 1, 2] = -0.25 + 0.0  # a negative change
    adv[1] = 0.1                    # every pixel by 0.1
    m = perturbation_measures(clean, adv, native_per_unit=400.0)
    assert m.linf == pytest.approx([0.5, 0.1])
    assert m.l2 == pytest.approx([math.sqrt(0.25 + 0.0625), math.sqrt(16 * 0.01)])
    assert m.l0 == pytest.approx([2 / 16, 1.0])
    assert m.linf_native == pytest.approx([200.0, 40.0])
    assert m.l2_native == pytest.approx(np.array([math.sqrt(0.3125), 0.4]) * 400)
    assert m.psnr[1] == pytest.approx(10 * math.log10(1 / 0.01))
    assert m.psnr[0] == pytest.approx(10 * math.log10(16 / 0.3125))


def test_l0_counts_pixels_not_channels_and_tolerance():
    clean = torch.zeros(1, 3, 2, 2)
    adv = clean.clone()
    adv[0, :, 0, 0] = 0.2          # one pixel, all three channels
    adv[0, 1, 1, 1] = 1e-8         # below tolerance: unchanged
    m = perturbation_measures(clean, adv)
    assert m.l0[0] == pytest.approx(0.25)
    assert m.linf_native is None


def test_identical_images():
    x = torch.rand(3, 1, 16, 16)
    m = perturbation_measures(x, x.clone(), native_per_unit=[1.0, 2.0, 3.0])
    assert np.all(m.linf == 0) and np.all(m.l0 == 0)
    assert np.all(np.isinf(m.psnr))
    assert m.ssim == pytest.approx([1.0, 1.0, 1.0])


@pytest.mark.parametrize("shape", [(32, 32), (40, 23)])
def test_ssim_matches_skimage_gray(shape):
    rng = np.random.default_rng(0)
    a = rng.random(shape)
    b = np.clip(a + rng.normal(0, 0.05, shape), 0, 1)
    ours = ssim(torch.tensor(a)[None, None], torch.tensor(b)[None, None])[0]
    ref = structural_similarity(a, b, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                use_sample_covariance=False)
    assert ours == pytest.approx(ref, abs=1e-9)


def test_ssim_matches_skimage_rgb_and_real_image():
    from skimage import data
    cam = data.camera()[::8, ::8].astype(np.float64) / 255  # 64x64 real photo
    rng = np.random.default_rng(1)
    noisy = np.clip(cam + rng.uniform(-4 / 255, 4 / 255, cam.shape), 0, 1)
    ours = ssim(torch.tensor(cam)[None, None], torch.tensor(noisy)[None, None])[0]
    ref = structural_similarity(cam, noisy, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                use_sample_covariance=False)
    assert ours == pytest.approx(ref, abs=1e-9)
    rgb = rng.random((24, 24, 3))
    rgb2 = np.clip(rgb + rng.normal(0, 0.1, rgb.shape), 0, 1)
    ours = ssim(torch.tensor(rgb).permute(2, 0, 1)[None], torch.tensor(rgb2).permute(2, 0, 1)[None])[0]
    ref = structural_similarity(rgb, rgb2, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                use_sample_covariance=False, channel_axis=2)
    assert ours == pytest.approx(ref, abs=1e-9)


def test_ssim_small_image_and_volume():
    x = torch.rand(2, 1, 3, 7, 7)
    v = ssim(x, x.clone())
    assert v.shape == (2,) and v == pytest.approx([1.0, 1.0])


def test_true_class_confidence_softmax_and_single_logit():
    logits = torch.tensor([[0.0, math.log(3.0)], [2.0, 2.0]])
    assert true_class_confidence(logits, torch.tensor([1, 0])) == pytest.approx([0.75, 0.5])
    single = torch.tensor([[0.0], [math.log(3.0)]])
    assert true_class_confidence(single, torch.tensor([0, 1])) == pytest.approx([0.5, 0.75])
