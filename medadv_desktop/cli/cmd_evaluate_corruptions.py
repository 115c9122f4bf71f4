"""`medadv evaluate-corruptions`: how a model holds up to scanner and archive artefacts on a labelled data set.

    medadv evaluate-corruptions --model CARD --data DIR [--corruptions default|all|ct_dose,jpeg2000] \\
        [--severities 1-5] [--attack pgd --eps 2/255] [--json OUT.json] [--csv OUT.csv] [--samples-csv OUT.csv] \\
        [--report OUT.pdf] [--requester NAME] [--approver NAME] [--purpose TEXT] [--plan PLAN.toml]

Runs the corruption evaluation workflow (``engine/workflows/corruption.py``):
every sample is corrupted in its native units (HU for CT) at each severity,
mapped through the model card like the clean study, and classified. Prints
the table: clean row first, then one line per corruption and severity with
the physical level, accuracy and its 95 % interval, prediction flips against
the clean prediction, the mean change of the true-class probability, the
sensitivity of each class and, with ``--attack``, the robust accuracy after
the attack on the corrupted image ("corruption then attack"); then each
corruption's corruption error relative to the model's own clean error
(ImageNet-C's mCE with the model as its own baseline). ``default`` runs the
corruptions whose physics fits the data's modality, ``all`` every corruption
defined for it. Outputs (at least one of --json, --csv, --samples-csv,
--report) are never overwritten; the PDF (engine/reports/corruption_report.py)
carries the table with intervals, the CE/mCE table, the severity curve, the
plan's verdict and a sign-off block. With ``--plan`` the test
plan's verdict follows the table and sets the exit code (0 pass, 3 fail or
not evaluable; engine/plans/corruption.py).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from medadv_desktop.cli.options import add_attack_options, add_signoff_options, given_specific_options, params_for
from medadv_desktop.cli.progress import ProgressPrinter
from medadv_desktop.errors import AttackConfigError, MedAdvError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate-corruptions",
        help="accuracy of a model on a labelled data set under scanner and archive artefacts, severities 1-5",
        description="Evaluate a model on a labelled data set folder under acquisition and archive corruptions "
                    "(CT dose noise, MR noise and k-space artefacts, blur, resolution loss, gamma, contrast, "
                    "lossy JPEG / JPEG 2000, quantisation) at severities 1-5 calibrated in physical terms "
                    "(medadv corrupt --list shows them), optionally followed by an attack.")
    p.add_argument("--model", required=True, metavar="CARD", help="model card (model_card.json or its folder)")
    p.add_argument("--data", required=True, metavar="DIR", help="labelled data set folder")
    p.add_argument("--corruptions", default="default", metavar="A,B",
                   help="default (those whose physics fits the data's modality), all (every one defined for the "
                        "data), or names, e.g. ct_dose,jpeg2000 (default: default)")
    p.add_argument("--severities", default="1-5", metavar="1-5", help="severities 1..5: 1-5, 1,3,5 or 4 (default 1-5)")
    p.add_argument("--attack", default=None, metavar="NAME",
                   help="corruption then attack: also attack the corrupted images (with --eps and the attack options)")
    p.add_argument("--batch-size", type=int, default=32, metavar="N", help="images per batch (default 32)")
    p.add_argument("--max-samples", type=int, default=None, metavar="N",
                   help="evaluate a seeded, class-balanced subset of at most N samples")
    p.add_argument("--device", default="auto", help="auto (CUDA when available, else CPU), cpu, cuda or cuda:N")
    p.add_argument("--json", default=None, metavar="OUT", help="write the whole result as JSON")
    p.add_argument("--csv", default=None, metavar="OUT", help="also write the table as CSV")
    p.add_argument("--samples-csv", default=None, metavar="OUT", help="also write one CSV row per sample and row")
    p.add_argument("--report", default=None, metavar="OUT.pdf",
                   help="write the PDF report (table with intervals, CE/mCE, severity curve, verdict, sign-off)")
    add_signoff_options(p)
    p.add_argument("--plan", default=None, metavar="PLAN.toml",
                   help="test plan (TOML/JSON) with clean and corruption criteria (e.g. corruption_accuracy of "
                        "jpeg2000 at severity 3, relative_mce): prints the verdict; exit 0 pass, 3 fail or not "
                        "evaluable; criteria the run cannot answer are refused before the model loads")
    add_attack_options(p)
    p.set_defaults(func=run)


def format_table(result: Any, skipped: list[tuple[str, str]] | None = None) -> str:
    """The corruption table as text (module doc)."""
    from medadv_desktop.engine.reports.formatting import budget_text, fixed, num, pct, pct_compact, points

    def ci(rate: Any) -> str:
        if rate is None or rate.value is None:
            return "-"
        return f"{pct_compact(rate.value)} ({pct_compact(rate.low)}-{pct_compact(rate.high)})"

    d = result.dataset
    lines = [(f"Model: {result.model.name}   data: {d.name}, n = {result.n_samples}, "
              f"modality {result.modality}") + (" (SYNTHETIC demo data)" if d.synthetic else ""),
             (f"Seed {result.seed}; corruptions act on native pixels before the card's mapping; "
              f"95 % intervals ({result.clean.accuracy.method})")]
    attack = result.attack
    if attack:
        nat = f" = {num(attack['eps_native'])} {attack['units']}" if attack.get("eps_native") is not None else ""
        lines.append(f"Then attack: {attack['name']} {attack.get('norm') or ''} eps {budget_text(attack['eps'])}{nat} "
                     "on the corrupted images")
    classes = list(result.class_names)
    header = (f"  {'corruption':<16} {'sev':>3} {'level':>22} {'accuracy (95 % CI)':>24} {'flips':>7} "
              f"{'dconf':>7} " + " ".join(f"{'sens ' + c[:10]:>16}" for c in classes)
              + (f" {'robust acc':>10}" if attack else ""))
    lines.append("")
    lines.append(header)

    def line(row: Any) -> str:
        unit = row.level_unit.strip()
        level = "-" if row.level is None else f"{num(row.level, 4)}{'' if unit.startswith(':') else ' '}{unit}"
        sens = " ".join(f"{pct(c.sensitivity.value):>16}" for c in row.per_class)
        robust = f" {pct(row.robust_accuracy.value):>10}" if attack else ""
        return (f"  {row.corruption:<16} {row.severity:>3} {level[:22]:>22} {ci(row.accuracy):>24} "
                f"{pct_compact(row.flips.value):>7} {fixed(row.mean_conf_change, 3):>7} {sens}{robust}")

    lines.append(line(result.clean))
    previous = None
    for row in result.rows:
        if previous is not None and row.corruption != previous:
            lines.append("")
        previous = row.corruption
        lines.append(line(row))
    lines.append("")
    lines.append(f"Corruption error (CE: mean error over severities {','.join(map(str, result.severities))}; "
                 f"clean error {pct(result.clean.error)}):")
    for s in result.summaries:
        rel = f"{s.relative_ce:.2f}x clean error" if s.relative_ce is not None else "clean error is 0"
        lines.append(f"  {s.corruption:<16} CE {pct(s.ce):>8}  {points(s.added_error):>9}  {rel:<22} "
                     f"worst: severity {s.worst_severity}, accuracy {pct(s.worst_accuracy)}")
    rel = f"{result.relative_mce:.2f}x" if result.relative_mce is not None else "-"
    lines.append(f"  {'mean (mCE)':<16} CE {pct(result.mce):>8}  {points(result.mean_added_error):>9}  {rel}")
    if result.n_samples < 30:
        lines.append(f"Caution: {result.n_samples} samples; every rate here is uncertain (see the intervals).")
    for name, reason in skipped or []:
        lines.append(f"Skipped {name}: {reason}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from medadv_desktop.engine.jobs import run_job
    from medadv_desktop.engine.workflows.corruption import (
        CorruptionEvaluationRequest,
        corruption_evaluation_workflow,
    )

    if not (args.json or args.csv or args.samples_csv or args.report):
        raise MedAdvError("give at least one output: --json OUT.json, --csv OUT.csv, --samples-csv OUT.csv "
                          "or --report OUT.pdf")
    plan = None
    if args.plan:
        from medadv_desktop.engine.plans import load_plan

        plan = load_plan(args.plan)
    attack = None
    if args.attack:
        attack = (args.attack, params_for(args, args.attack, strict=True, with_norm_and_seed=False))
    else:
        stray = sorted(given_specific_options(args))
        if stray:
            raise AttackConfigError("attack options apply only with --attack NAME (corruption then attack)",
                                    parameter=stray[0].replace("_", "-"))
    request = CorruptionEvaluationRequest(
        data=args.data, corruptions=args.corruptions, severities=args.severities, seed=args.seed,
        batch_size=args.batch_size, max_samples=args.max_samples, attack=attack,
        eps=args.eps if args.attack else None, norm=args.norm, json=args.json, csv=args.csv,
        samples_csv=args.samples_csv, plan=plan, pdf=args.report, requester=args.requester,
        approver=args.approver, purpose=args.purpose)
    with ProgressPrinter() as printer:
        def show(event: Any) -> None:
            if event.data.get("kind") == "dataset" and event.data.get("n_failures"):
                printer.line(f"medadv: {event.data['n_failures']} file(s) could not be read and were skipped",
                             sys.stderr)
            printer(event)

        outcome = run_job(corruption_evaluation_workflow(args.model, request, device=args.device), show)
    print(format_table(outcome.result, outcome.skipped))
    print("Wrote " + ", ".join(str(p) for p in outcome.written))
    if outcome.verdict is not None:
        from medadv_desktop.engine.plans import format_verdict

        print(format_verdict(outcome.verdict))
        return int(outcome.verdict.exit_code)
    return 0
