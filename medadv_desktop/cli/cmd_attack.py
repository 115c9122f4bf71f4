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
through the card's intensity window (and refused on images without units or
in other units). ``--modality`` sets the study's modality; a study that does
not match the card's modality, body part or units gets one warning line before
the attack (``--strict-modality``: exit 2 instead), and the warning is kept in
the summary JSON (``warnings``). ``--volume N`` attacks volume N of a 4-D NIfTI.

The adversarial DICOM/NIfTI is de-identified by default (pseudonym as patient
name and ID, new UIDs, PatientIdentityRemoved YES; see README
"De-identification"). ``--keep-identity`` keeps the source's identifying
header: an explicit opt-in, printed on stderr and recorded in the summary.
``--out`` may not be the study itself or lie inside the study's folder. On a
full or read-only disk the finished attack is written to a fallback folder
that the error line names.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from medadv_desktop.cli.options import (
    add_attack_name_option,
    add_attack_options,
    add_card_options,
    device_arg,
    load_card,
    non_negative_int,
    params_for,
    path_arg,
    positive_int,
)
from medadv_desktop.cli.progress import ProgressPrinter
from medadv_desktop.cli.saving import raise_saved_elsewhere
from medadv_desktop.cli.study_options import (
    add_modality_option, add_strict_modality_option, is_warning, print_warning,
)
from medadv_desktop.errors import AttackConfigError, OutputExistsError, OutputWriteError

_SLICE = re.compile(r"([0-9]{1,9})(?:\s*-\s*([0-9]{1,9}))?")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "attack", help="attack one study and write the adversarial image like the input",
        description="Attack a study (DICOM file or series folder, NIfTI, PNG) and write the adversarial image "
                    "in the input's own format, the perturbation map and a JSON summary into --out.")
    add_card_options(p)
    add_attack_name_option(p)
    p.add_argument("--slices", default="all", metavar="all|3,4", help="slices to attack (0-based; default all)")
    p.add_argument("--device", default="auto", type=device_arg,
                   help="auto (CUDA when available, else CPU), cpu, cuda or cuda:N")
    p.add_argument("--batch-size", type=positive_int, default=16, metavar="N",
                   help="slices per attack batch (default 16)")
    p.add_argument("--out", required=True, metavar="DIR", type=path_arg,
                   help="output folder (created; files are never overwritten; not inside the study's folder)")
    p.add_argument("--keep-identity", action="store_true",
                   help="write the adversarial DICOM/NIfTI with the source's identifying header (patient name, "
                        "IDs, dates, institution, original study UIDs) instead of de-identified; only for files "
                        "that never leave your own systems (a PACS would file them under the real patient)")
    p.add_argument("path", metavar="PATH", type=path_arg,
                   help="the study: a DICOM file or series folder, NIfTI file, or image")
    p.add_argument("--volume", type=non_negative_int, default=None, metavar="N",
                   help="volume of a 4-D NIfTI to attack (0-based; default 0)")
    add_modality_option(p)
    add_strict_modality_option(p)
    add_attack_options(p)
    p.set_defaults(func=run)


def _parse_slices(text: str, n: int | None) -> list[int] | None:
    """``all``, ``3``, ``3,4,7`` or ``2-5`` (0-based). ``n`` None checks the syntax only."""
    if text.strip().lower() in ("all", ""):
        return None
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        m = _SLICE.fullmatch(part)
        if not m:
            raise AttackConfigError(f"'{text[:40]}' is not a slice list; write all, 3 or 3,4,7 or 2-5",
                                    parameter="slices")
        a = int(m.group(1))
        b = int(m.group(2)) if m.group(2) is not None else a
        if b < a:
            raise AttackConfigError(f"'{part}' is an empty range; write the first slice first, e.g. 2-5",
                                    parameter="slices")
        if n is not None:
            for s in (a, b):
                if not 0 <= s < n:
                    raise AttackConfigError(f"slice {s} does not exist; the study has slices 0..{n - 1}",
                                            parameter="slices")
            out.extend(range(a, b + 1))
    return out if n is not None else []


def run(args: argparse.Namespace) -> int:
    import sys

    from medadv_desktop.engine.attacks import get_attack
    from medadv_desktop.engine.io import open_study
    from medadv_desktop.engine.jobs import run_job
    from medadv_desktop.engine.reports.formatting import budget_text, fixed, num, pct
    from medadv_desktop.engine.workflows.study_attack import check_output_dir, save_outputs, study_attack_workflow

    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputExistsError(out_dir)
    _parse_slices(args.slices, None)                      # the syntax, before anything is read
    params = {**params_for(args, args.attack, strict=True), "eps": args.eps}
    if args.modality:
        from medadv_desktop.engine.io import normalize_modality

        normalize_modality(args.modality)                  # a bad code fails before the card is read
    card = load_card(args)
    attack_cls = get_attack(args.attack)                   # every option checked before the study is read
    attack_cls.check_params(attack_cls.parse_params(params, card.intensity.native_per_unit()))
    check_output_dir(out_dir, None, card, [args.path])    # --out inside the study folder: refused now
    study = open_study(args.path, modality=args.modality, volume_index=args.volume)
    slices = _parse_slices(args.slices, study.n_slices)
    if args.keep_identity:
        print("medadv: note: --keep-identity: the adversarial image keeps the source's identifying header "
              "(patient name, IDs, dates, institution, study UIDs); keep it inside your own systems",
              file=sys.stderr)
    try:
        with ProgressPrinter() as printer:
            def show(event) -> None:
                if is_warning(event):
                    print_warning(event, printer)
                else:
                    printer(event)

            outcome = run_job(study_attack_workflow(card, study, args.attack, params, slices=slices,
                                                    batch_size=args.batch_size, out_dir=out_dir,
                                                    keep_identity=args.keep_identity, inputs=[args.path],
                                                    device=args.device, strict_modality=args.strict_modality),
                              show)
    except OutputWriteError as exc:
        if exc.unsaved is None:
            raise
        unsaved = exc.unsaved
        raise_saved_elsewhere(exc, lambda folder: save_outputs(unsaved, folder), "adversarial study")
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
    if outcome.rounding_undid:
        print(f"Rounding to the written file's stored values undid the attack on slice(s) "
              f"{', '.join(map(str, outcome.rounding_undid))}; every result above is that of the written file")
    print(f"Wrote {len(outcome.written)} file(s) to {out_dir}"
          + (" (identity kept: --keep-identity)" if args.keep_identity else " (de-identified)"))
    return 0
