"""``medadv demo-data DIR``: write the labelled synthetic demo data set (DICOM)."""

from __future__ import annotations

import argparse

from medadv_desktop.cli.options import path_arg, positive_int, seed_int
from medadv_desktop.cli.progress import ProgressPrinter


def register(subparsers: argparse._SubParsersAction) -> None:
    from medadv_desktop.engine.demo.dataset import DEFAULT_N_TEST, DEFAULT_N_TRAIN

    p = subparsers.add_parser(
        "demo-data",
        help="write the synthetic lesion demo data set (DICOM, train/test class folders)",
        description="Write a labelled data set of 64x64 CT patches (DICOM, HU) cut from real scans "
                    "shipped with pydicom / pydicom-data, half of them with a synthetic lesion inserted: "
                    "DIR/train/<class>/*.dcm, DIR/test/<class>/*.dcm (held-out), labels.csv, README.txt. "
                    "Synthetic demo task, not for clinical use. Deterministic from --seed.")
    p.add_argument("dir", metavar="DIR", type=path_arg, help="new or empty folder to write into")
    p.add_argument("--seed", type=seed_int, default=0, help="random seed (default 0; same seed -> identical files)")
    p.add_argument("--n-train", type=positive_int, default=DEFAULT_N_TRAIN, metavar="N",
                   help=f"training patches, half per class (default {DEFAULT_N_TRAIN})")
    p.add_argument("--n-test", type=positive_int, default=DEFAULT_N_TEST, metavar="N",
                   help=f"held-out patches, half per class (default {DEFAULT_N_TEST})")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the summary")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from medadv_desktop.engine.demo.dataset import demo_dataset_job
    from medadv_desktop.engine.jobs import run_job

    with ProgressPrinter() as printer:
        info = run_job(demo_dataset_job(args.dir, seed=args.seed, n_train=args.n_train, n_test=args.n_test),
                       None if args.quiet else printer)
    print(f"Wrote the synthetic demo data set (synthetic demo task, not for clinical use) to {info.out_dir}")
    for split, counts in info.counts.items():
        print(f"  {split}: " + ", ".join(f"{name} {n}" for name, n in counts.items()))
    print(f"  labels: {info.labels_csv}")
    print(f"Check a model on the held-out split: medadv predict --model CARD {info.out_dir / 'test'}")
    return 0
