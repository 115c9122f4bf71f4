"""`medadv evaluate`: robustness of a model on a labelled data set, attacks x eps grid.

    medadv evaluate --model CARD --data DIR --attacks fgsm,pgd \\
        --eps 1/255,2/255,4/255 [--json OUT.json] [--csv OUT.csv] [--summary-csv OUT.csv] [--report OUT.pdf]
        [--plan PLAN.toml] [--requester NAME] [--approver NAME] [--purpose TEXT]
        [--corruptions default|all|ct_dose,jpeg2000 [--severities 1-5] [--corruption-csv OUT.csv]]

Runs the evaluation workflow (``engine/workflows/evaluation.py``). Prints a
progress bar on stderr (one updating line on a terminal, plain lines
otherwise) and, per eps, the summary table in the shape of the seed paper's
Table 1: clean accuracy first, one line per attack (robust accuracy, success
rate, L-inf in native units, L2, SSIM, queries), then the worst case over the
attacks. By default the attacks run as a cascade (a later attack only on the
samples still robust to the earlier ones): the worst case is exact and the
rows after the first attack are cumulative, marked ``*``. ``--per-attack``
runs every attack on every sample instead, for each attack's own row (slower).
The JSON is the whole :class:`EvaluationResult` (``n_samples``,
``clean_accuracy``, ``rows`` with one ``worst-case`` row per eps, per-sample
records, flags, provenance) plus ``measures`` (every rate with its interval)
and ``report`` (report id, names, test plan verdict); outputs are never overwritten.

``--plan`` applies a test plan (acceptance criteria, README "Acceptance criteria
(test plans)"): the plan is read and checked against the model card, the attacks
and the eps grid before the model loads; after the run the verdict is printed,
opens the PDF and is in the JSON/CSV, and the exit code is 0 when the plan passed,
3 when it failed or could not be fully evaluated (2 stays for errors in the input).
Every option is checked before the model is loaded, and no output may be an
input (the data folder, the card, its weights). On a full or read-only disk
the finished result is written to a fallback folder that the error line names.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from medadv_desktop.cli.options import (
    add_attack_list_option,
    add_attack_options,
    add_card_options,
    add_signoff_options,
    attack_names,
    check_options_used,
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
from medadv_desktop.errors import AttackConfigError, OutputWriteError

DEFAULT_EPS = "1/255,2/255,4/255"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate", help="robust accuracy of a model on a labelled data set over attacks and an eps grid",
        description="Evaluate a model on a labelled data set folder (one sub-folder per class of the card, or a "
                    "labels.csv with path,label) against several attacks over an eps grid.")
    add_card_options(p)
    p.add_argument("--data", required=True, metavar="DIR", type=path_arg, help="labelled data set folder")
    add_attack_list_option(p)
    p.add_argument("--eps", default=DEFAULT_EPS, metavar="E1,E2",
                   help=f"budgets: [0, 1] units (4/255, 0.01) or native units through the card's window (6HU); default {DEFAULT_EPS}")
    p.add_argument("--batch-size", type=positive_int, default=32, metavar="N",
                   help="images per attack batch (default 32)")
    p.add_argument("--max-samples", type=positive_int, default=None, metavar="N",
                   help="evaluate a seeded, class-balanced subset of at most N samples")
    p.add_argument("--no-cascade", dest="cascade", action="store_false",
                   help="re-run every attack at every eps on every sample (no reuse of samples already fooled "
                        "at a smaller eps); slower, same kind of numbers")
    p.add_argument("--per-attack", dest="full_rows", action="store_true",
                   help="run every attack on every sample: each attack's row is its own robust accuracy "
                        "(slower). Default: the attack cascade, where later attacks run only on samples still "
                        "robust; the worst case is the same and later attacks' rows are cumulative (marked *)")
    p.add_argument("--fast", action="store_true", help=argparse.SUPPRESS)   # the old opt-in; the default now
    p.add_argument("--n-examples", type=non_negative_int, default=6, metavar="N",
                   help="example images kept for reports (default 6)")
    p.add_argument("--device", default="auto", type=device_arg,
                   help="auto (CUDA when available, else CPU), cpu, cuda or cuda:N")
    p.add_argument("--json", default=None, metavar="OUT", type=path_arg, help="write the whole result as JSON")
    p.add_argument("--csv", default=None, metavar="OUT", type=path_arg, help="write the per-sample CSV")
    p.add_argument("--summary-csv", default=None, metavar="OUT", type=path_arg,
                   help="write the attack x eps CSV with 95 %% intervals and per-class robust rates")
    p.add_argument("--report", default=None, metavar="OUT.pdf", type=path_arg, help="write the PDF report")
    p.add_argument("--plan", default=None, metavar="PLAN.toml", type=path_arg,
                   help="apply a test plan (acceptance criteria, TOML or JSON): verdict in the reports, "
                        "exit code 0 pass / 3 fail")
    p.add_argument("--corruptions", default=None, metavar="A,B",
                   help="also evaluate acquisition and archive corruptions on the same data (default: those whose "
                        "physics fits the data's modality, all, or names such as ct_dose,jpeg2000; medadv corrupt "
                        "--list): one JSON and PDF with both, the test plan answered on both")
    p.add_argument("--severities", default=None, metavar="1-5",
                   help="corruption severities 1..5 with --corruptions: 1-5, 1,3,5 or 4 (default 1-5)")
    p.add_argument("--corruption-csv", default=None, metavar="OUT", type=path_arg,
                   help="with --corruptions: write the corruption table (one row per corruption and severity) as CSV")
    add_signoff_options(p)
    p.add_argument("--examples-with-burned-in", action="store_true",
                   help="let images flagged for burned-in annotation (ultrasound, secondary captures, "
                        "BurnedInAnnotation = YES) be example images of the report (default: left out)")
    add_modality_option(p)
    add_strict_modality_option(p)
    add_attack_options(p, with_eps=False)
    p.set_defaults(func=run)


def format_table(result: Any) -> str:
    """The summary table per eps (seed paper's Table 1 shape) as text."""
    from medadv_desktop.engine.reports.formatting import budget_text, fixed, num, pct
    from medadv_desktop.engine.results.evaluation import WORST_CASE

    units = result.units or "a.u."
    lines = []
    d = result.dataset
    lines.append(f"Model: {result.model.name or '?'}   data: {d.name or '?'}, n = {result.n_samples}"
                 + (" (SYNTHETIC demo data)" if d.synthetic else ""))
    lines.append(f"Clean accuracy {pct(result.clean_accuracy)}   balanced accuracy {pct(result.balanced_accuracy)}")
    suite = result.provenance.suite
    if suite:
        lines.append(f"Attack suite: {suite['label']}" + (" - robust accuracy is an UPPER BOUND; run the standard "
                                                          "suite for a reliable worst case"
                                                          if suite.get("upper_bound") else ""))
    for f in result.flags:
        lines.append(f"WARNING [{f.code}] {f.title}")
    for w in getattr(result, "warnings", []) or []:
        lines.append(f"WARNING [{w.code}] {w.message}")
    header = (f"  {'attack':<12} {'robust acc':>10} {'success':>8} {'Linf (' + units + ')':>12} {'L2':>8} "
              f"{'SSIM':>6} {'queries':>8}")
    for eps, eps_nat in zip(result.eps_grid, result.eps_native):
        nat = f" = {num(eps_nat)} {units}" if eps_nat is not None else " (native units vary per image)"
        lines.append("")
        lines.append(f"{result.norm} eps {budget_text(eps)} ({eps:.5g}){nat}")
        lines.append(header)
        lines.append(f"  {'clean':<12} {pct(result.clean_accuracy):>10}")
        for r in [r for r in result.rows if abs(r.eps - eps) < 1e-12]:
            linf = r.mean_linf_native if r.mean_linf_native is not None else r.mean_linf
            name = r.attack + ("*" if r.cumulative else "")
            if r.attack == WORST_CASE:
                lines.append("  " + "-" * (len(header) - 2))
            lines.append(f"  {name:<12} {pct(r.robust_accuracy):>10} {pct(r.attack_success_rate):>8} "
                         f"{num(linf):>12} {num(r.mean_l2):>8} {fixed(r.mean_ssim, 3):>6} "
                         f"{fixed(r.mean_queries, 0):>8}")
    if result.has_cumulative_rows():
        lines.append("* cumulative: robust accuracy after this attack and the ones above it "
                     "(attack cascade; --per-attack gives each attack's own row)")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from medadv_desktop.engine.jobs import run_job
    from medadv_desktop.engine.workflows.evaluation import (
        EvaluationRequest,
        check_request,
        evaluation_workflow,
        export_outcome,
    )

    if args.fast and args.full_rows:
        raise AttackConfigError("--fast (the attack cascade, now the default) and --per-attack contradict each "
                                "other; give one of them", parameter="per-attack")
    if args.corruptions is None and args.severities is not None:
        raise AttackConfigError("--severities applies only with --corruptions (the corruption evaluation)",
                                parameter="severities")
    if args.corruptions is None and args.corruption_csv is not None:
        raise AttackConfigError("--corruption-csv applies only with --corruptions", parameter="corruption-csv")
    plan = None
    if args.plan:
        from medadv_desktop.engine.plans import load_plan

        plan = load_plan(args.plan)                # a bad plan is an error before anything runs
    from medadv_desktop.engine.attacks import suite_attacks
    from medadv_desktop.engine.attacks.spec import SUITE_QUICK, split_suite

    suite, _ = split_suite(attack_names(args.attacks))
    chosen = suite_attacks(suite.name) if suite else [(n, {}) for n in attack_names(args.attacks)]
    attacks = [(n, {**own, **params_for(args, n, strict=False, with_norm_and_seed=False)}) for n, own in chosen]
    check_options_used(args, [n for n, _ in chosen])
    request = EvaluationRequest(
        data=args.data, attacks=attacks, eps=args.eps, norm=args.norm, batch_size=args.batch_size, seed=args.seed,
        cascade=args.cascade, full_rows=args.full_rows, n_examples=args.n_examples, max_samples=args.max_samples,
        json=args.json, csv=args.csv, pdf=args.report, modality=args.modality,
        strict_modality=args.strict_modality, examples_with_burned_in=args.examples_with_burned_in,
        summary_csv=args.summary_csv, plan=plan, requester=args.requester, approver=args.approver,
        purpose=args.purpose,
        suite=suite.name if suite else None, corruptions=args.corruptions, severities=args.severities or "1-5",
        corruption_csv=args.corruption_csv)
    check_request(request)                              # numbers and outputs before the card is even read
    card = load_card(args)
    try:
        with ProgressPrinter() as printer:
            def show(event: Any) -> None:
                if event.data.get("kind") == "dataset" and event.data.get("n_failures"):
                    printer.line(f"medadv: {event.data['n_failures']} file(s) could not be read and were skipped",
                                 sys.stderr)
                if is_warning(event):
                    print_warning(event, printer)
                elif event.data.get("kind") == "estimate":     # before any attack step: at most how long
                    cheaper = "--max-samples N" if suite is not None and suite.name == SUITE_QUICK else \
                        "--attacks quick, --max-samples N"
                    printer.line(f"Evaluation: {event.message}; {cheaper} for less", sys.stderr)
                elif event.stage in ("evaluate", "corruption"):
                    printer(event)

            outcome = run_job(evaluation_workflow(card, request, device=args.device), show)
    except OutputWriteError as exc:
        if exc.unsaved is None:
            raise
        unsaved = exc.unsaved

        def save(folder: Path) -> list[Path]:
            return export_outcome(unsaved, **{k: folder / Path(v).name for k, v in
                                              (("json", args.json), ("csv", args.csv),
                                                                 ("summary_csv", args.summary_csv),
                                                                 ("pdf", args.report),
                                                                 ("corruption_csv", args.corruption_csv)) if v})
        print(format_table(unsaved.result))
        raise_saved_elsewhere(exc, save, "evaluation")
    print(format_table(outcome.result))
    if outcome.corruption is not None:
        from medadv_desktop.cli.cmd_evaluate_corruptions import format_table as format_corruption_table

        print()
        print("Acquisition and archive artefacts (corruptions) on the same samples:")
        print(format_corruption_table(outcome.corruption, outcome.corruption_skipped))
    if outcome.written:
        print("Wrote " + ", ".join(str(p) for p in outcome.written))
    if outcome.verdict is not None:
        print()
        print(format_verdict(outcome.verdict))
        return int(outcome.verdict.exit_code)
    return 0


def format_verdict(verdict: Any) -> str:
    """The test plan's verdict as text: one line per criterion, then the overall line."""
    lines = []
    for row in verdict.rows:
        lines.append(f"  {row.status_word:<13} {row.criterion_id}: {row.text}: {row.reason}")
    lines.append(verdict.summary() + f" -> exit code {verdict.exit_code}")
    return "\n".join(lines)
