"""`medadv corrupt`: degrade one study the way a scanner or an archive would, and write it like the input.

    medadv corrupt --corruption jpeg2000 --severity 5 [--seed 0] [--param ratio=200] PATH --out DIR
    medadv corrupt --list                      # the corruptions, their severity tables and modalities

Corrupts the study in its native units (HU for CT) through the corruption
workflow (``engine/workflows/corruption.py``) and writes into DIR, never
overwriting anything:

* the corrupted study in the input's own format, de-identified (DICOM:
  pseudonym, new UIDs, "SIMULATED ARTEFACT - NOT FOR DIAGNOSIS"; after lossy
  JPEG / JPEG 2000, LossyImageCompression 01 with the ratio achieved),
  named ``<pseudonym>_<corruption>_s<severity>``;
* ``<pseudonym>_<corruption>_s<severity>_record.json``: what was done in
  physical terms (e.g. added noise SD in HU, compression ratio achieved).

``--keep-identity`` keeps the source's identifying header fields (explicit opt-in).
"""

from __future__ import annotations

import argparse
from typing import Any

from medadv_desktop.cli.progress import ProgressPrinter
from medadv_desktop.errors import AttackConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "corrupt", help="degrade one study like a scanner or archive would (noise, motion, compression, ...)",
        description="Corrupt a study (DICOM file or series folder, NIfTI, PNG) in its native units at a severity "
                    "from 1 (mild) to 5 (severe), calibrated in physical terms, and write it de-identified "
                    "in the input's own format with a JSON record into --out. --list shows the corruptions.")
    p.add_argument("--list", action="store_true", help="list the corruptions with their severity tables and exit")
    p.add_argument("--corruption", metavar="NAME", help="the corruption (see --list)")
    p.add_argument("--severity", type=int, default=3, metavar="S", help="1 (mild) to 5 (severe); default 3")
    p.add_argument("--seed", type=int, default=0, help="random seed: the same seed gives the same image (default 0)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="a physical parameter overriding the severity table (e.g. ratio=200, fwhm_mm=2)")
    p.add_argument("--keep-identity", action="store_true",
                   help="keep the source's identifying header fields (default: de-identified)")
    p.add_argument("--out", metavar="DIR", help="output folder (created; files are never overwritten)")
    p.add_argument("path", nargs="?", metavar="PATH", help="the study: a DICOM file or series folder, NIfTI, image")
    p.set_defaults(func=run)


def corruption_list() -> str:
    """One block per corruption: name, label, modalities, severity 1..5 of its main parameter."""
    from medadv_desktop.engine.corruptions import available, get_corruption

    lines = []
    for name in available():
        cls = get_corruption(name)
        lines.append(f"{name:<16} {cls.label} [{', '.join(cls.modalities)}"
                     + (", volumes" if cls.volume_only else "") + "]")
        for group, values in cls.severity_table.items():
            where = "" if group == "default" else f" ({group})"
            lines.append(f"{'':<16}   severity 1-5{where}: {' / '.join(f'{v:g}' for v in values)} "
                         f"{cls.severity_unit.strip()}")
        params = ", ".join(s.name for s in cls.params)
        if params:
            lines.append(f"{'':<16}   --param: {params}")
    return "\n".join(lines)


def _params(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise AttackConfigError(f"'{item}' is not NAME=VALUE", parameter="param")
        out[name.strip().replace("-", "_")] = value.strip()
    return out


def _typed(corruption: str, params: dict[str, Any]) -> dict[str, Any]:
    """Text values -> the types of the corruption's parameter schema (validated by the corruption)."""
    from medadv_desktop.engine.corruptions import get_corruption

    specs = {s.name: s for s in get_corruption(corruption).params}
    out: dict[str, Any] = {}
    for name, text in params.items():
        spec = specs.get(name)
        out[name] = text if spec is None else spec.parse_text(text)
    return out


def run(args: argparse.Namespace) -> int:
    if args.list:
        print(corruption_list())
        return 0
    from medadv_desktop.engine.io import open_study
    from medadv_desktop.engine.jobs import run_job
    from medadv_desktop.engine.workflows.corruption import corrupt_study_workflow

    if not args.corruption:
        raise AttackConfigError("choose a corruption (medadv corrupt --list shows them)", parameter="corruption")
    if not args.path or not args.out:
        raise AttackConfigError("give the study PATH and --out DIR", parameter="out" if args.path else "path")
    params = _typed(args.corruption, _params(args.param))
    study = open_study(args.path)
    with ProgressPrinter() as printer:
        outcome = run_job(corrupt_study_workflow(study, args.corruption, args.severity, seed=args.seed,
                                                 params=params, out_dir=args.out,
                                                 keep_identity=args.keep_identity), printer)
    rec = outcome.record
    print(f"Study {study.pseudonym}: {rec.label}, severity {rec.severity}, seed {rec.seed}"
          + (" [synthetic demo data]" if getattr(study, "synthetic", False) else ""))
    for key, value in {**rec.parameters, **rec.measured}.items():
        print(f"  {key:<28} {value:.4g}" if isinstance(value, float) else f"  {key:<28} {value}")
    if args.keep_identity:
        print("Kept the source's identifying header fields (--keep-identity).")
    print(f"Wrote {len(outcome.written)} file(s) to {args.out}")
    return 0
