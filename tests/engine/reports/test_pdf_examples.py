"""The PDF's example panels show the perturbation truthfully (issue 13): original and adversarial at the
same stated window, the signed change in native units on a diverging map centred at 0 over a symmetric
range with a +r / 0 / -r colour bar; no amplified |delta| heat map, and an L-inf panel is not a uniform
block (real PDFs read back with pypdf, their embedded bitmaps inspected)."""

from __future__ import annotations

import re

import numpy as np
from pypdf import PdfReader

from medadv_desktop.engine.reports import write_pdf
from medadv_desktop.engine.reports.images import colormap_diverging
from medadv_desktop.engine.results import ExamplePanel
from tests.engine.reports.fixtures import WINDOW_WIDTH, make_result

EPS = 8 / 255


def _panels() -> list[ExamplePanel]:
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:48, 0:48]
    clean = 0.3 + 0.4 * np.exp(-((yy - 24) ** 2 + (xx - 20) ** 2) / 80.0)      # grey tissue with a blob
    linf = clean + EPS * np.sign(rng.standard_normal(clean.shape))            # FGSM-like: +-eps everywhere
    sparse = clean.copy()
    sparse[10:14, 30:34] += 0.05                                               # a local, non-uniform change
    sparse[30:32, 8:10] -= 0.02

    def panel(i: int, attack: str, adv: np.ndarray) -> ExamplePanel:
        return ExamplePanel(sample_id=f"DEMO-0001/slice-{i:03d}", attack=attack, eps=EPS, true_label=0,
                            clean_pred=0, adv_pred=1, clean_conf=0.9, adv_conf=0.7, original=clean.tolist(),
                            adversarial=adv.tolist(), native_per_unit=WINDOW_WIDTH)
    return [panel(0, "fgsm", linf), panel(2, "square", sparse)]


def _rgb_images(path) -> list[np.ndarray]:
    reader = PdfReader(str(path))
    out = []
    for page in reader.pages:
        for img in page.images:
            a = np.asarray(img.image.convert("RGB") if img.image.mode != "L" else img.image)
            if a.ndim == 3:
                out.append(a)
    return out


def test_example_panels_show_the_signed_change_in_native_units(tmp_path):
    result = make_result()
    result.examples = _panels()
    path = write_pdf(result, tmp_path / "examples.pdf")
    text = re.sub(r"\s+", " ", "\n".join(p.extract_text() for p in PdfReader(str(path)).pages))
    assert not re.search(r"amplified x\d", text) and "heat map" not in text
    assert "same window (the model's window W 400 / L 40 HU)" in text
    eps_hu = EPS * WINDOW_WIDTH                                            # 12.5 HU
    # L-inf: the symmetric range is +-eps in HU and the caption says the map shows the sign only
    assert f"+{eps_hu:.1f} HU" in text and f"-{eps_hu:.1f} HU" in text
    assert f"|change| = {eps_hu:.1f} HU at almost every pixel; colour shows the sign only" in text
    # the local change: its own range, its largest change in HU, not called L-inf
    assert f"largest |change| {0.05 * WINDOW_WIDTH:.1f} HU" in text
    assert text.count("adversarial - original (HU)") == 2

    rgb = [a for a in _rgb_images(path) if a.shape[1] > 32]                 # panels, not the 16-px bars
    bars = [a for a in _rgb_images(path) if a.shape[1] <= 32]
    blue, centre, red = (tuple(int(v) for v in colormap_diverging(np.array(x))) for x in (0.0, 0.5, 1.0))
    # the L-inf map: only the two ends of the diverging map (sign of +-eps), in about equal shares:
    # no uniform block of one colour
    linf = rgb[0].reshape(-1, 3)
    colours = {tuple(int(v) for v in c) for c in np.unique(linf, axis=0)}
    assert colours == {blue, red}
    share_red = np.mean(np.all(linf == red, axis=1))
    assert 0.4 < share_red < 0.6
    # the local change: unchanged pixels at the centre colour (0), the raised patch red, the lowered blue-ish
    local = rgb[1]
    factor = local.shape[0] // 48
    assert tuple(local[0, 0]) == centre
    assert tuple(local[11 * factor, 31 * factor]) == red
    assert local[30 * factor, 8 * factor][2] > local[30 * factor, 8 * factor][0]
    # the colour bar: red at the top, the centre colour in the middle, blue at the bottom (symmetric)
    bar = bars[0]
    assert tuple(bar[0, 0]) == red and tuple(bar[-1, 0]) == blue
    mid = bar[bar.shape[0] // 2, 0].astype(int)
    assert np.abs(mid - np.array(centre)).max() <= 12


def test_unchanged_example_says_so(tmp_path):
    result = make_result()
    panel = _panels()[1]
    panel.adversarial = panel.original
    result.examples = [panel]
    text = re.sub(r"\s+", " ", "\n".join(p.extract_text() for p in PdfReader(str(write_pdf(
        result, tmp_path / "same.pdf"))).pages))
    assert "Signed perturbation: no pixel changed" in text
