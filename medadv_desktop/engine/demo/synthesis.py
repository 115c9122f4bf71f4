"""Synthetic lesion patches cut from real CT scans: the demo classification task.

Task: binary "synthetic lesion" detection on 64x64 CT patches in HU, classes
``("no_finding", "lesion")``. Every patch is a random crop of a real scan (see
:mod:`.sources`) with a random flip / 90-degree rotation and a mild intensity
jitter; a "lesion" patch additionally holds one synthetic finding:

* an ellipse with semi-axes ``a`` in [4, 9] px and ``b = a * U(0.65, 1)``
  (at least 2.5 px), at a random angle, centred on soft tissue
  ([-100, 150] HU over a 21x21 px box around the centre);
* soft edges: weight ``w(d) = 1 / (1 + exp(-(1 - d) * r_mean / 0.8 px))``
  where ``d`` is the normalised elliptical distance from the centre;
* contrast ``delta`` of +-[50, 100] HU (hyper- or hypodense, 50/50) *added*
  to the local tissue, so the tissue texture stays visible underneath
  (the abdominal and neck sources have 10-20 HU of texture: weaker findings
  are not reliably learnable from a few thousand patches);
* texture: ``delta * w * (1 + 0.25 * n)`` with ``n`` smoothed Gaussian noise.

Crop acceptance (both classes alike, so the classes differ only by the
finding): more than 50 % of the pixels above -500 HU (not mostly air), at
least 60 % soft tissue ([-100, 150] HU; bone and air edges are what makes a
small finding hard to learn from scratch), and at least 20 possible lesion
centres at least 11 px inside the patch.

Held-out split: every source scan is cut at a column ``split_col``; training
crops lie wholly left of it, held-out crops wholly right of it, so the two
splits never share a source pixel. Each patch is drawn from its own random
stream ``SeedSequence([seed, split_id, index])``: the same seed gives the
same patch whatever the data-set size, and any patch can be regenerated alone.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from medadv_desktop.engine.demo.sources import HU_MAX, HU_MIN, SourceScan, load_source_scans
from medadv_desktop.errors import DatasetError

CLASS_NAMES: tuple[str, str] = ("no_finding", "lesion")
SPLITS: tuple[str, str] = ("train", "test")
SPLIT_IDS = {"train": 1, "test": 2, "study": 3}

PATCH_SIZE = 64                      # px, square patches
BODY_HU = -500.0                     # "not air" threshold
MIN_BODY_FRACTION = 0.5              # > 50 % of pixels above BODY_HU
MIN_SOFT_FRACTION = 0.6              # >= 60 % of pixels in SOFT_TISSUE_HU
SOFT_TISSUE_HU = (-100.0, 150.0)     # where lesions may be centred
LESION_BOX = 21                      # px, box around a centre that must be soft tissue
LESION_BOX_SOFT_FRACTION = 0.95
LESION_MARGIN = 11                   # px, centre distance from the patch edge
MIN_LESION_CENTRES = 20
SOURCE_WEIGHT_CAP = 2000            # crop positions at which a source reaches full weight
SPLIT_COLUMN_FRACTION = 0.68         # train crops left of 0.68 * width, test crops right of it

LESION_RADIUS_PX = (4.0, 9.0)
LESION_ASPECT = (0.65, 1.0)
LESION_DELTA_HU = (50.0, 100.0)
LESION_EDGE_PX = 0.8
LESION_TEXTURE = 0.25

JITTER_SCALE = (0.97, 1.03)          # contrast scale around 40 HU
JITTER_OFFSET_HU = (-8.0, 8.0)
JITTER_NOISE_HU = (0.0, 3.0)         # std of added Gaussian noise


@dataclass(frozen=True)
class Lesion:
    """Parameters of one inserted synthetic finding (patch pixel coordinates)."""

    center_rc: tuple[float, float]   # (row, col) px
    semi_axes_px: tuple[float, float]
    angle_rad: float
    delta_hu: float                  # signed contrast to local tissue, HU


@dataclass
class DemoPatch:
    """One generated patch.

    ``hu``: (64, 64) int16 HU, what is written to DICOM. ``background``: the
    same patch before the lesion was inserted (equal to ``hu`` for
    "no_finding"). ``lesion_weight``: the soft lesion mask in [0, 1] (zeros
    for "no_finding").
    """

    hu: np.ndarray
    background: np.ndarray
    label: str
    lesion: Lesion | None
    lesion_weight: np.ndarray
    source: str
    pixel_spacing: tuple[float, float]
    crop_rc: tuple[int, int]          # top-left of the crop in the source scan


def _box_sum(integral: np.ndarray, size_r: int, size_c: int) -> np.ndarray:
    """Sums over every (size_r x size_c) window from an integral image padded with a zero row/col."""
    return (integral[size_r:, size_c:] - integral[:-size_r, size_c:]
            - integral[size_r:, :-size_c] + integral[:-size_r, :-size_c])


def _integral(mask: np.ndarray) -> np.ndarray:
    out = np.zeros((mask.shape[0] + 1, mask.shape[1] + 1), dtype=np.int64)
    out[1:, 1:] = np.cumsum(np.cumsum(mask.astype(np.int64), axis=0), axis=1)
    return out


@dataclass(frozen=True)
class _SourceIndex:
    scan: SourceScan
    lesion_ok: np.ndarray                   # (rows, cols) bool: a lesion may be centred here
    positions: dict[str, np.ndarray]        # split -> (N, 2) valid crop top-lefts

    def split_col(self) -> int:
        return split_column(self.scan.shape[1])


def split_column(width: int) -> int:
    """First column of the held-out region of a source scan of this width."""
    return int(min(max(round(SPLIT_COLUMN_FRACTION * width), PATCH_SIZE), width - PATCH_SIZE))


def _index_source(scan: SourceScan) -> _SourceIndex:
    hu = scan.hu
    rows, cols = hu.shape
    p = PATCH_SIZE
    body_frac = _box_sum(_integral(hu > BODY_HU), p, p) / float(p * p)          # (rows-p+1, cols-p+1)
    soft = (hu >= SOFT_TISSUE_HU[0]) & (hu <= SOFT_TISSUE_HU[1])
    b = LESION_BOX
    soft_frac = _box_sum(_integral(soft), b, b) / float(b * b)                 # top-left indexed
    lesion_ok = np.zeros_like(soft)
    h = b // 2
    lesion_ok[h:h + soft_frac.shape[0], h:h + soft_frac.shape[1]] = soft_frac >= LESION_BOX_SOFT_FRACTION
    inner = p - 2 * LESION_MARGIN
    centres = _box_sum(_integral(lesion_ok), inner, inner)                     # indexed by inner top-left
    m = LESION_MARGIN
    n_pos_r, n_pos_c = rows - p + 1, cols - p + 1
    centres = centres[m:m + n_pos_r, m:m + n_pos_c]
    soft_patch_frac = _box_sum(_integral(soft), p, p) / float(p * p)
    valid = ((body_frac > MIN_BODY_FRACTION) & (soft_patch_frac >= MIN_SOFT_FRACTION)
             & (centres >= MIN_LESION_CENTRES))
    split = split_column(cols)
    col_idx = np.arange(n_pos_c)[None, :]
    positions = {
        "train": np.argwhere(valid & (col_idx + p <= split)),
        "test": np.argwhere(valid & (col_idx >= split)),
    }
    return _SourceIndex(scan=scan, lesion_ok=lesion_ok, positions=positions)


@functools.lru_cache(maxsize=1)
def source_indices() -> tuple[_SourceIndex, ...]:
    """Indexed source scans (valid crop positions per split), computed once per process."""
    return tuple(_index_source(s) for s in load_source_scans())


def source_weights(split: str) -> np.ndarray:
    """Probability of drawing each source scan in ``split``.

    One mix of anatomy for both splits: a source's weight is its number of
    *training* crop positions capped at SOURCE_WEIGHT_CAP (so the five 512x512
    scans count alike and the tiny CT_small much less), zero where the split
    has no position in that source. The held-out split thus has the training
    split's distribution although its regions are smaller.
    """
    indices = source_indices()
    train = np.array([len(ix.positions["train"]) for ix in indices], dtype=np.float64)
    here = np.array([len(ix.positions[split]) for ix in indices], dtype=np.float64)
    capped = np.where(here > 0, np.minimum(train, SOURCE_WEIGHT_CAP), 0.0)
    if capped.sum() == 0:
        raise DatasetError("No usable tissue region found in the source scans.")
    return capped / capped.sum()


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Gaussian noise smoothed by a 3x3 box and rescaled to unit std."""
    n = rng.standard_normal((shape[0] + 2, shape[1] + 2))
    s = np.zeros(shape)
    for i in range(3):
        for j in range(3):
            s += n[i:i + shape[0], j:j + shape[1]]
    s /= 9.0
    return (s / (s.std() + 1e-6)).astype(np.float32)


def lesion_weight(shape: tuple[int, int], lesion: Lesion) -> np.ndarray:
    """Soft elliptical mask in [0, 1]: ``1 / (1 + exp(-(1 - d) * r_mean / edge))``."""
    rr, cc = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
    dr, dc = rr - lesion.center_rc[0], cc - lesion.center_rc[1]
    cos, sin = np.cos(lesion.angle_rad), np.sin(lesion.angle_rad)
    u = dc * cos + dr * sin
    v = -dc * sin + dr * cos
    a, b = lesion.semi_axes_px
    d = np.sqrt((u / a) ** 2 + (v / b) ** 2)
    r_mean = 0.5 * (a + b)
    return (1.0 / (1.0 + np.exp(-(1.0 - d) * r_mean / LESION_EDGE_PX))).astype(np.float32)


def draw_lesion(rng: np.random.Generator, candidates: np.ndarray) -> Lesion:
    """Random lesion parameters centred on one of ``candidates`` ((N, 2) row/col)."""
    r, c = candidates[rng.integers(len(candidates))]
    a = float(rng.uniform(*LESION_RADIUS_PX))
    b = max(2.5, a * float(rng.uniform(*LESION_ASPECT)))
    angle = float(rng.uniform(0.0, np.pi))
    sign = 1.0 if rng.random() < 0.5 else -1.0
    delta = sign * float(rng.uniform(*LESION_DELTA_HU))
    # sub-pixel centre jitter
    centre = (float(r) + float(rng.uniform(-0.5, 0.5)), float(c) + float(rng.uniform(-0.5, 0.5)))
    return Lesion(centre, (a, b), angle, delta)


def insert_lesion(background: np.ndarray, lesion: Lesion, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Add the finding to a float HU patch; returns (patched HU float32, weight mask)."""
    w = lesion_weight(background.shape, lesion)
    texture = 1.0 + LESION_TEXTURE * _smooth_noise(rng, background.shape)
    return (background + lesion.delta_hu * w * texture).astype(np.float32), w


def _to_int16_hu(hu: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(hu), HU_MIN, HU_MAX).astype(np.int16)


def patch_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The random stream of one patch: independent of the data-set size."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), SPLIT_IDS[split], int(index)]))


def label_for_index(index: int) -> str:
    """Balanced classes: even indices are "no_finding", odd ones "lesion"."""
    return CLASS_NAMES[index % 2]


def make_patch(seed: int, split: str, index: int, label: str | None = None) -> DemoPatch:
    """Generate patch ``index`` of ``split`` ("train" or "test") for ``seed``.

    ``label`` defaults to :func:`label_for_index`. Deterministic: the same
    arguments always give the same pixels.
    """
    if split not in SPLITS:
        raise DatasetError(f"Unknown split '{split}'; use one of {', '.join(SPLITS)}.")
    label = label or label_for_index(index)
    if label not in CLASS_NAMES:
        raise DatasetError(f"Unknown class '{label}'; use one of {', '.join(CLASS_NAMES)}.")
    rng = patch_rng(seed, split, index)
    indices = source_indices()
    weights = source_weights(split)
    src = indices[int(rng.choice(len(indices), p=weights))]
    r0, c0 = (int(v) for v in src.positions[split][rng.integers(len(src.positions[split]))])
    p = PATCH_SIZE
    patch = src.scan.hu[r0:r0 + p, c0:c0 + p].astype(np.float32)
    ok = src.lesion_ok[r0:r0 + p, c0:c0 + p].copy()
    m = LESION_MARGIN
    border = np.ones_like(ok)
    border[m:p - m, m:p - m] = False
    ok[border] = False
    k = int(rng.integers(4))
    flip = bool(rng.random() < 0.5)
    patch, ok = np.rot90(patch, k), np.rot90(ok, k)
    if flip:
        patch, ok = patch[:, ::-1], ok[:, ::-1]
    scale = float(rng.uniform(*JITTER_SCALE))
    offset = float(rng.uniform(*JITTER_OFFSET_HU))
    noise_sd = float(rng.uniform(*JITTER_NOISE_HU))
    background = (patch - 40.0) * scale + 40.0 + offset + noise_sd * rng.standard_normal(patch.shape)
    background = np.clip(background, HU_MIN, HU_MAX).astype(np.float32)
    lesion = None
    weight = np.zeros(patch.shape, dtype=np.float32)
    final = background
    if label == "lesion":
        lesion = draw_lesion(rng, np.argwhere(ok))
        final, weight = insert_lesion(background, lesion, rng)
    return DemoPatch(
        hu=_to_int16_hu(final), background=_to_int16_hu(background), label=label,
        lesion=lesion, lesion_weight=weight, source=src.scan.name,
        pixel_spacing=src.scan.pixel_spacing, crop_rc=(r0, c0),
    )


def make_split_arrays(seed: int, split: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """In-memory split: (n, 64, 64) int16 HU and (n,) int64 class indices.

    Identical to the pixels :func:`write_demo_dataset` writes for the same
    seed and split (used by the training script and tests).
    """
    images = np.empty((n, PATCH_SIZE, PATCH_SIZE), dtype=np.int16)
    labels = np.empty(n, dtype=np.int64)
    for i in range(n):
        patch = make_patch(seed, split, i)
        images[i] = patch.hu
        labels[i] = CLASS_NAMES.index(patch.label)
    return images, labels
