"""`medadv evaluate`: robustness of a model on a labelled data set, attacks x eps grid.

    medadv evaluate --model CARD --data DIR --attacks fgsm,pgd,square,vertical,smia \\
        --eps 1/255,2/255,4/255 --json OUT.json [--csv OUT.csv] [--report OUT.pdf]

Prints a progress bar on stderr (one updating line on a terminal, plain lines
otherwise) and, per eps, the summary table in the shape of the seed paper's
Table 1: clean accuracy first, one line per attack (robust accuracy, success
rate, L-inf in native units, L2, SSIM, queries), then the worst case over the
attacks. By default the attacks run as a cascade (a later attack only on the
samples still robust to the earlier ones): the worst case is exact and the
rows after the first attack are cumulative, marked ``*``. ``--per-attack``
runs every attack on every sample instead, for each attack's own row (slower). The JSON is the whole :class:`EvaluationResult` (``n_samples``,
``clean_accuracy``, ``rows`` with one ``worst-case`` row per eps, per-sample
records, flags, provenance); outputs are never overwritten.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from medadv_desktop.errors import AttackConfigError, OutputExistsError

DEFAULT_ATTACKS = "fgsm,pgd,square,vertical,smia"
DEFAULT_EPS = "1/255,2/255,4/255"


def register(subparsers) -> None:
    from medadv_desktop.cli.cmd_attack import add_attack_options

    p = subparsers.add_parser(
        "evaluate", help="robust accuracy of a model on a labelled data set over attacks and an eps grid",
        description="Evaluate a model on a labelled data set folder (one sub-folder per class of the card, or a "
                    "labels.csv with path,label) against several attacks over an eps grid.")
    p.add_argument("--model", required=True, metavar="CARD", help="model card (model_card.json or its folder)")
    p.add_argument("--data", required=True, metavar="DIR", help="labelled data set folder")
    p.add_argument("--attacks", default=DEFAULT_ATTACKS, metavar="A,B", help=f"attacks in run order (default {DEFAULT_ATTACKS})")
    p.add_argument("--eps", default=DEFAULT_EPS, metavar="E1,E2",
                   help=f"budgets: [0, 1] units (4/255, 0.01) or native units through the card's window (6HU); default {DEFAULT_EPS}")
    p.add_argument("--batch-size", type=int, default=32, metavar="N", help="images per attack batch (default 32)")
    p.add_argument("--max-samples", type=int, default=None, metavar="N",
                   help="evaluate a seeded, class-balanced subset of at most N samples")
    p.add_argument("--no-cascade", dest="cascade", action="store_false",
                   help="re-run every attack at every eps on every sample (no reuse of samples already fooled "
                        "at a smaller eps); slower, same kind of numbers")
    p.add_argument("--per-attack", dest="full_rows", action="store_true",
                   help="run every attack on every sample: each attack's row is its own robust accuracy "
                        "(slower). Default: the attack cascade, where later attacks run only on samples still "
                        "robust; the worst case is the same and later attacks' rows are cumulative (marked *)")
    p.add_argument("--fast", action="store_true", help=argparse.SUPPRESS)   # the old opt-in; the default now
    p.add_argument("--n-examples", type=int, default=6, metavar="N", help="example images kept for reports (default 6)")
    p.add_argument("--device", default="auto", help="auto (CUDA when available, else CPU), cpu, cuda or cuda:N")
    p.add_argument("--json", required=True, metavar="OUT", help="write the whole result as JSON")
    p.add_argument("--csv", default=None, metavar="OUT", help="also write the per-sample CSV (reports module)")
    p.add_argument("--report", default=None, metavar="OUT.pdf", help="also write the PDF report (reports module)")
    add_attack_options(p, with_eps=False)
    p.set_defaults(func=run)


def _fmt_eps(eps: float) -> str:
    k = eps * 255
    if abs(k - round(k)) < 1e-6 and round(k) > 0:
        return f"{int(round(k))}/255"
    return f"{eps:.4g}"


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:5.1f}%"


def _num(v, fmt: str = "{:.3g}") -> str:
    return "-" if v is None else fmt.format(v)


def format_table(result) -> str:
    """The summary table per eps (seed paper's Table 1 shape) as text."""
    from medadv_desktop.engine.results.evaluation import WORST_CASE

    units = result.units or "a.u."
    lines = []
    d = result.dataset
    lines.append(f"Model: {result.model.get('name', '?')}   data: {d.get('name', '?')}, n = {result.n_samples}"
                 + (" (SYNTHETIC demo data)" if d.get("synthetic") else ""))
    lines.append(f"Clean accuracy {result.clean_accuracy:.1%}   balanced accuracy {result.balanced_accuracy:.1%}")
    for f in result.flags:
        lines.append(f"WARNING [{f.code}] {f.title}")
    header = (f"  {'attack':<12} {'robust acc':>10} {'success':>8} {'Linf (' + units + ')':>12} {'L2':>8} "
              f"{'SSIM':>6} {'queries':>8}")
    for eps, eps_nat in zip(result.eps_grid, result.eps_native):
        nat = f" = {eps_nat:.3g} {units}" if eps_nat is not None else " (native units vary per image)"
        lines.append("")
        lines.append(f"{result.norm} eps {_fmt_eps(eps)} ({eps:.5g}){nat}")
        lines.append(header)
        lines.append(f"  {'clean':<12} {_pct(result.clean_accuracy):>10}")
        for r in [r for r in result.rows if abs(r.eps - eps) < 1e-12]:
            linf = r.mean_linf_native if r.mean_linf_native is not None else r.mean_linf
            name = r.attack + ("*" if r.cumulative else "")
            if r.attack == WORST_CASE:
                lines.append("  " + "-" * (len(header) - 2))
            lines.append(f"  {name:<12} {_pct(r.robust_accuracy):>10} {_pct(r.attack_success_rate):>8} "
                         f"{_num(linf):>12} {_num(r.mean_l2):>8} {_num(r.mean_ssim, '{:.3f}'):>6} "
                         f"{_num(r.mean_queries, '{:.0f}'):>8}")
    if result.has_cumulative_rows():
        lines.append("* cumulative: robust accuracy after this attack and the ones above it "
                     "(attack cascade; --per-attack gives each attack's own row)")
    return "\n".join(lines)


class ProgressBar:
    """One updating line on a terminal; a plain line every 10 % otherwise."""

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.last_decile = -1
        self.last_draw = 0.0

    def __call__(self, ev) -> None:
        if ev.stage != "evaluate":
            return
        frac = ev.fraction
        eta = ev.data.get("eta_s")
        eta_text = f" ETA {int(eta // 60)}:{int(eta % 60):02d}" if eta is not None and frac < 1 else ""
        if self.tty:
            now = time.monotonic()
            if now - self.last_draw < 0.1 and frac < 1:
                return
            self.last_draw = now
            width = 24
            filled = int(round(frac * width))
            bar = "#" * filled + "-" * (width - filled)
            print(f"\r[{bar}] {frac:4.0%} {ev.message[:44]:44s}{eta_text:10s}", end="", file=self.stream, flush=True)
        else:
            decile = int(frac * 10)
            if decile != self.last_decile:
                self.last_decile = decile
                print(f"[{frac:4.0%}] {ev.message}{eta_text}", file=self.stream, flush=True)

    def close(self) -> None:
        if self.tty:
            print(file=self.stream, flush=True)


def run(args: argparse.Namespace) -> int:
    from medadv_desktop.engine.attacks import get_attack, parse_budget
    from medadv_desktop.engine.datasets import LabelledDataset
    from medadv_desktop.engine.evaluation.evaluate import evaluate_job
    from medadv_desktop.engine.jobs import run_job
    from medadv_desktop.engine.models import load_classifier

    outputs = [Path(p) for p in (args.json, args.csv, args.report) if p]
    for p in outputs:
        if p.exists():
            raise OutputExistsError(p)
    if args.fast and args.full_rows:
        raise AttackConfigError("--fast (the attack cascade, now the default) and --per-attack contradict each "
                                "other; give one of them", parameter="per-attack")
    names = [a.strip().lower() for a in args.attacks.split(",") if a.strip()]
    if not names:
        raise AttackConfigError("give at least one attack, e.g. --attacks fgsm,pgd", parameter="attacks")
    for n in names:
        get_attack(n)                               # unknown names fail before any work
    classifier = load_classifier(args.model, device=args.device)
    card = classifier.card
    npu = float(card.intensity.width) if card.intensity.mode == "window" else None
    eps_grid = [parse_budget(e.strip(), npu) for e in args.eps.split(",") if e.strip()]
    attacks = [(n, _params_for(args, n, npu)) for n in names]
    for pname, (spec, users) in args._specs.items():
        if getattr(args, f"ap_{pname}", None) is not None and not any(pname in p for _, p in attacks):
            raise AttackConfigError(f"none of the chosen attacks has this option; it applies to {', '.join(users)}",
                                    parameter=pname.replace("_", "-"))
    dataset = LabelledDataset.from_folder(args.data, list(classifier.class_names))
    if dataset.failures:
        print(f"medadv: {len(dataset.failures)} file(s) could not be read and were skipped", file=sys.stderr)
    bar = ProgressBar()
    try:
        result = run_job(evaluate_job(classifier, dataset, attacks, eps_grid, norm=args.norm,
                                      batch_size=args.batch_size, seed=args.seed, cascade=args.cascade,
                                      full_rows=args.full_rows, n_examples=args.n_examples,
                                      max_samples=args.max_samples), bar)
    finally:
        bar.close()
    print(format_table(result))
    written = [result.save(args.json)]
    if args.csv:
        from medadv_desktop.engine.reports import write_csv
        written.append(write_csv(result, args.csv))
    if args.report:
        from medadv_desktop.engine.reports import write_pdf
        written.append(write_pdf(result, args.report))
    print("Wrote " + ", ".join(str(p) for p in written))
    return 0


def _params_for(args: argparse.Namespace, attack: str, npu: float | None) -> dict:
    """Common options plus the attack-specific options that this attack has (others ignored)."""
    from medadv_desktop.cli.cmd_attack import _number
    from medadv_desktop.engine.attacks import get_attack

    own = {s.name: s for s in get_attack(attack).params}
    params = {"targeted": args.targeted, "target_class": args.target_class, "fold_bn": args.fold_bn}
    for pname in args._specs:
        value = getattr(args, f"ap_{pname}", None)
        if value is None or pname not in own:
            continue
        params[pname] = _number(value, own[pname], npu, "") if isinstance(value, str) else value
    return params
