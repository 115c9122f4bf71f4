"""`medadv attack`: attack one study and write the adversarial image like the input.

    medadv attack --model CARD --attack pgd --eps 4/255 [--steps 10 --alpha 1/255 ...] PATH --out DIR

Writes into DIR (never overwriting anything), through the study attack
workflow (``engine/workflows/study_attack.py``):

* the adversarial study in the input's own format (DICOM: new SOP Instance
  UIDs, one new series, ImageType DERIVED; NIfTI: the same affine; PNG for
  raster images), named ``<pseudonym>_<attack>_adv``;
* the perturbation map ``adv - clean`` in the study's units
  (``<pseudonym>_<attack>_perturbation.nii.gz`` for volumes, ``.png`` + JSON
  scale side-car for 2-D images);
* ``<pseudonym>_<attack>_summary.json``: predictions before/after per slice,
  measures, eps in both units (no PHI).

and prints the prediction before and after per slice. Attack-specific options
are generated from each attack's parameter schema; ``--eps 6HU`` is converted
through the card's intensity window. ``--modality`` sets the study's modality;
a study that does not match the card's modality, body part or units gets one
warning line before the attack (``--strict-modality``: exit 2 instead), and the
warning is kept in the summary JSON (``warnings``). ``--volume N`` attacks
volume N of a 4-D NIfTI.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from medadv_desktop.cli.options import add_attack_name_option, add_attack_options, params_for
from medadv_desktop.cli.progress import ProgressPrinter
from medadv_desktop.cli.study_options import (
    add_modality_option, add_strict_modality_option, is_warning, print_warning,
)
from medadv_desktop.errors import AttackConfigError, OutputExistsError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "attack", help="attack one study and write the adversarial image like the input",
        description="Attack a study (DICOM file or series folder, NIfTI, PNG) and write the adversarial image "
                    "in the input's own format, the perturbation map and a JSON summary into --out.")
    p.add_argument("--model", required=True, metavar="CARD", help="model card (model_card.json or its folder)")
    add_attack_name_option(p)
    p.add_argument("--slices", default="all", metavar="all|3,4", help="slices to attack (0-based; default all)")
    p.add_argument("--device", default="auto", help="auto (CUDA when available, else CPU), cpu, cuda or cuda:N")
    p.add_argument("--batch-size", type=int, default=16, metavar="N", help="slices per attack batch (default 16)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created; files are never overwritten)")
    p.add_argument("path", metavar="PATH", help="the study: a DICOM file or series folder, NIfTI file, or image")
    p.add_argument("--volume", type=int, default=None, metavar="N",
                   help="volume of a 4-D NIfTI to attack (0-based; default 0)")
    add_modality_option(p)
    add_strict_modality_option(p)
    add_attack_options(p)
    p.set_defaults(func=run)


def _parse_slices(text: str, n: int) -> list[int] | None:
    if text.strip().lower() in ("all", ""):
        return None
    out = []
    for part in text.split(","):
        part = part.strip()
        try:
            if "-" in part[1:]:
                a, b = part.split("-", 1)
                out.extend(range(int(a), int(b) + 1))
            else:
                out.append(int(part))
        except ValueError:
            raise AttackConfigError(f"'{text}' is not a slice list; write all, 3 or 3,4,7 or 2-5",
                                    parameter="slices") from None
    for s in out:
        if not 0 <= s < n:
            raise AttackConfigError(f"slice {s} does not exist; the study has slices 0..{n - 1}", parameter="slices")
    return out


def run(args: argparse.Namespace) -> int:
    from medadv_desktop.engine.io import open_study
    from medadv_desktop.engine.jobs import run_job
    from medadv_desktop.engine.models import load_classifier
    from medadv_desktop.engine.reports.formatting import budget_text, fixed, num, pct
    from medadv_desktop.engine.workflows.study_attack import study_attack_workflow

    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputExistsError(out_dir)
    params = {**params_for(args, args.attack, strict=True), "eps": args.eps}
    classifier = load_classifier(args.model, device=args.device)
    study = open_study(args.path, modality=args.modality, volume_index=args.volume)
    slices = _parse_slices(args.slices, study.n_slices)
    with ProgressPrinter() as printer:
        def show(event) -> None:
            if is_warning(event):
                print_warning(event, printer)
            else:
                printer(event)

        outcome = run_job(study_attack_workflow(classifier, study, args.attack, params, slices=slices,
                                                batch_size=args.batch_size, out_dir=out_dir,
                                                strict_modality=args.strict_modality), show)
    result, summary = outcome.result, outcome.summary
    assert summary is not None
    native = f" = {num(result.eps_native)} {result.units}" if result.eps_native is not None else ""
    print(f"Study {result.study}: {result.params.get('norm', 'linf')} eps {budget_text(result.eps)}{native}, "
          f"attack {outcome.attack}, "
          f"{len(result.slices)} slice(s), {result.elapsed_s:.1f} s"
          + (" [synthetic demo data]" if study.synthetic else ""))
    print(f"{'slice':>6}  {'before':<24} {'after':<24} {'fooled':<6} {'Linf':>9} {'SSIM':>6}")
    for k, row in enumerate(summary.slices):
        rec = result.records[min(k, len(result.records) - 1)]
        before = f"{row.before} {pct(max(row.before_probabilities))}"
        after = f"{row.after} {pct(max(row.after_probabilities))}"
        linf = num(rec.linf_native if rec.linf_native is not None else rec.linf)
        print(f"{row.slice:>6}  {before:<24} {after:<24} {'yes' if row.fooled else 'no':<6} {linf:>9} "
              f"{fixed(rec.ssim, 3):>6}")
    fooled = sum(r.fooled for r in summary.slices)
    print(f"Changed predictions: {fooled}/{len(summary.slices)}; "
          f"success rate {pct(result.row.attack_success_rate or 0.0)}")
    print(f"Wrote {len(outcome.written)} file(s) to {out_dir}")
    return 0
