"""The labelled demo data set on disk: ``train/`` and ``test/`` class folders of DICOM files.

Layout written by :func:`write_demo_dataset`::

    out_dir/
      README.txt                       what this is (synthetic, not for clinical use)
      labels.csv                       path,label,split  (paths relative to out_dir)
      train/no_finding/no_finding_00000.dcm ...
      train/lesion/lesion_00001.dcm ...
      test/no_finding/... test/lesion/...   held-out split (disjoint source regions)

Every file is a single-slice CT study of one 64x64 patch in HU (see
:mod:`.synthesis` for how patches and findings are made).
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from medadv_desktop.engine.demo.dicom_writer import (
    SYNTHETIC_NOTICE, SliceGeometry, ct_slice_dataset, dataset_bytes, demo_uid,
)
from medadv_desktop.engine.demo.sources import SOURCE_FILES
from medadv_desktop.engine.demo.synthesis import CLASS_NAMES, PATCH_SIZE, SPLITS, make_patch
from medadv_desktop.engine.jobs import NEVER_CANCELLED, CancelToken, Job, Progress, run_job
from medadv_desktop.errors import DatasetError

DEFAULT_N_TRAIN = 6000          # what the demo model was trained on; with 1200 FGSM hardening cost 17 clean points (issue 17)
DEFAULT_N_TEST = 300


@dataclass
class DemoDatasetInfo:
    """What :func:`write_demo_dataset` wrote."""

    out_dir: Path
    seed: int
    n_train: int
    n_test: int
    class_names: tuple[str, ...] = CLASS_NAMES
    counts: dict[str, dict[str, int]] = field(default_factory=dict)   # split -> class -> files
    sources: tuple[str, ...] = tuple(name for name, _ in SOURCE_FILES)
    patch_size: int = PATCH_SIZE

    @property
    def labels_csv(self) -> Path:
        return self.out_dir / "labels.csv"

    def split_dir(self, split: str) -> Path:
        return self.out_dir / split


def _check_empty_target(out_dir: Path) -> None:
    if out_dir.exists():
        if not out_dir.is_dir():
            raise DatasetError(f"'{out_dir}' is a file, not a folder.",
                               hint="Choose a new or empty folder for the demo data set.")
        if any(out_dir.iterdir()):
            raise DatasetError(f"The folder '{out_dir}' is not empty; MedAdv never writes into a folder "
                               "that already holds files.",
                               hint="Choose a new or empty folder for the demo data set.")


@contextmanager
def staged_output_dir(out_dir: str | Path) -> Iterator[Path]:
    """Write into a hidden sibling folder, then rename it to ``out_dir`` in one step.

    Refuses a non-empty ``out_dir``. If the body fails nothing is left behind; an OSError (full or
    read-only disk) becomes an :class:`~medadv_desktop.errors.OutputWriteError`.
    """
    from medadv_desktop.engine.safe_write import write_error

    out_dir = Path(out_dir)
    _check_empty_target(out_dir)
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".part", dir=out_dir.parent))
    except OSError as exc:              # a read-only or full disk, a file where a folder should be
        raise write_error(out_dir, exc) from None
    try:
        yield staging
        _check_empty_target(out_dir)
        if out_dir.exists():
            out_dir.rmdir()
        os.rename(staging, out_dir)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise write_error(out_dir, exc) from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _readme_text(info: DemoDatasetInfo) -> str:
    counts = "\n".join(
        f"  {split}: " + ", ".join(f"{c} {info.counts[split][c]}" for c in info.class_names)
        for split in SPLITS)
    return f"""{SYNTHETIC_NOTICE.upper()}

MedAdv Desktop demo data set: synthetic lesion detection on CT patches.
Synthetic demo task, not for clinical use.

Classes: {", ".join(info.class_names)}
Seed: {info.seed}  (same seed -> identical files: medadv demo-data DIR --seed {info.seed} --n-train {info.n_train} --n-test {info.n_test})
{counts}

Each file is one {info.patch_size}x{info.patch_size} patch of a real CT scan shipped offline with
pydicom / pydicom-data ({", ".join(info.sources)}), in Hounsfield units
(int16 with RescaleSlope 1 / RescaleIntercept -1024; window 40/400).
"lesion" patches contain an inserted synthetic finding: a soft-edged ellipse,
4-9 px semi-axis, 50-100 HU hyper- or hypodense relative to the local tissue.
Patches are random crops with flips, 90-degree rotations and mild intensity jitter.
The held-out split (test/) is cut from image regions disjoint from train/.

No real patient is identified: only pixels and pixel spacing were taken from
the source scans; names, IDs and UIDs are synthetic.
labels.csv lists every file (path relative to this folder), its label and split.
"""


def demo_dataset_job(out_dir: str | Path, *, seed: int = 0, n_train: int = DEFAULT_N_TRAIN,
                     n_test: int = DEFAULT_N_TEST,
                     cancel: CancelToken = NEVER_CANCELLED) -> Job[DemoDatasetInfo]:
    """Generator job writing the demo data set; yields :class:`Progress`, returns the info."""
    out_dir = Path(out_dir)
    for name, n in (("n_train", n_train), ("n_test", n_test)):
        if not isinstance(n, int) or n < 2:
            raise DatasetError(f"{name} must be a whole number of at least 2 (one per class), got {n!r}.")
    info = DemoDatasetInfo(out_dir=out_dir, seed=int(seed), n_train=n_train, n_test=n_test)
    total = n_train + n_test
    done = 0
    yield Progress("demo-data", 0, total, "Cutting synthetic CT patches")
    with staged_output_dir(out_dir) as stage:
        rows: list[tuple[str, str, str]] = []
        for split, n in (("train", n_train), ("test", n_test)):
            info.counts[split] = {c: 0 for c in CLASS_NAMES}
            for c in CLASS_NAMES:
                (stage / split / c).mkdir(parents=True)
            for i in range(n):
                cancel.raise_if_cancelled()
                patch = make_patch(seed, split, i)
                rel = f"{split}/{patch.label}/{patch.label}_{i:05d}.dcm"
                ds = ct_slice_dataset(
                    patch.hu,
                    study_uid=demo_uid(seed, split, i, "study"),
                    series_uid=demo_uid(seed, split, i, "series"),
                    sop_uid=demo_uid(seed, split, i, "sop"),
                    frame_uid=demo_uid(seed, split, i, "frame"),
                    geometry=SliceGeometry(pixel_spacing=patch.pixel_spacing),
                    series_description=f"{SYNTHETIC_NOTICE} ({split})",
                )
                (stage / rel).write_bytes(dataset_bytes(ds))
                rows.append((rel, patch.label, split))
                info.counts[split][patch.label] += 1
                done += 1
                if done % 100 == 0:
                    yield Progress("demo-data", done, total, f"{done}/{total} patches written")
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(("path", "label", "split"))
        writer.writerows(rows)
        (stage / "labels.csv").write_text(buf.getvalue(), encoding="utf-8")
        (stage / "README.txt").write_text(_readme_text(info), encoding="utf-8")
    yield Progress("demo-data", total, total, f"Demo data set written to {out_dir.name}")
    return info


def write_demo_dataset(out_dir: str | Path, *, seed: int = 0, n_train: int = DEFAULT_N_TRAIN,
                       n_test: int = DEFAULT_N_TEST) -> DemoDatasetInfo:
    """Write the labelled synthetic demo data set (DICOM) into a new or empty folder.

    Deterministic: the same ``seed`` gives byte-identical files; the first k
    patches of a split do not depend on ``n_train`` / ``n_test``.
    Raises :class:`DatasetError` if ``out_dir`` holds files already.
    """
    return run_job(demo_dataset_job(out_dir, seed=seed, n_train=n_train, n_test=n_test))
