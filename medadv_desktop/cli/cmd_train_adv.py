"""`medadv train-adv`: harden a model by adversarial training, then re-test it before/after.

    medadv train-adv --model CARD --data DIR --method fgsm|pgd|trades|mix --eps 2/255 \\
        --epochs N --out DIR [--attacks fgsm,pgd] [--eps-grid 1/255,2/255,4/255]

Runs the adversarial training workflow (``engine/workflows/training.py``).
Trains a copy of the model (the input files are never modified) and writes to
the new or empty folder ``--out``: ``run.json``, one checkpoint pair per epoch
(``checkpoint-epoch-NNN.safetensors`` + ``.json``), ``model.safetensors`` and
``model_card.json`` of the hardened model, and ``before_after.json`` (rows:
attack, eps, accuracy_before, accuracy_after; clean and worst-case rows
included; ``corruption_rows``: accuracy before/after under a few acquisition
and archive corruptions at severity 3 with the paired change, unless
``--retest-corruptions none``). Prints one line per epoch and the
before/after table.

If ``--data`` has ``train/`` and ``test/`` sub-folders (as ``medadv
demo-data`` writes), training uses ``train/`` and the before/after evaluation
``test/``; otherwise the evaluation uses the held-out validation split.

Every option is checked before the model is loaded; ``--out`` may not be an
input (the data folder, the card, its weights) nor lie inside one. A run
stopped by SIGTERM/SIGINT or a full disk leaves no temporary file and only
complete checkpoints: repeat the command with ``--resume``. If only
``before_after.json`` cannot be written, it is written to a fallback folder
that the error line names.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from medadv_desktop.cli.options import (
    add_attack_list_option,
    add_card_options,
    attack_names,
    device_arg,
    finite_float,
    load_card,
    path_arg,
    positive_int,
    seed_int,
)
from medadv_desktop.cli.progress import ProgressPrinter
from medadv_desktop.cli.saving import raise_saved_elsewhere
from medadv_desktop.errors import MedAdvError, OutputWriteError
from medadv_desktop.engine.attacks.spec import SUITE_QUICK


def register(subparsers: argparse._SubParsersAction) -> None:
    from medadv_desktop.engine.training.config import LR_SCHEDULES, METHODS, TrainingConfig
    from medadv_desktop.engine.workflows.training import (
        DEFAULT_CORRUPTION_SEVERITIES,
        DEFAULT_EPS_GRID,
        SMALL_CORRUPTION_SET,
        SMALL_CORRUPTIONS,
    )

    d = TrainingConfig()
    p = subparsers.add_parser(
        "train-adv", help="adversarially train a model and compare it with the original against every attack",
        description="Fine-tune a copy of a model with adversarial training (fast FGSM, PGD, TRADES or a clean + "
                    "adversarial mix), then evaluate the original and the hardened model against the attacks "
                    "at the training eps and over an eps grid (before/after table).")
    add_card_options(p)
    p.add_argument("--data", required=True, metavar="DIR", type=path_arg,
                   help="labelled data set folder (class sub-folders or labels.csv); with train/ and test/ "
                        "sub-folders, trains on train/ and evaluates on test/")
    p.add_argument("--method", choices=METHODS, default=d.method,
                   help="fgsm: fast FGSM with random start; pgd: k-step PGD; trades: TRADES (beta); "
                        f"mix: a fraction of each batch adversarial, the rest clean (default {d.method})")
    p.add_argument("--eps", default="2/255", metavar="EPS",
                   help="L-inf training budget: [0, 1] units (2/255, 0.008) or native units through the card's "
                        "window (3HU); default 2/255")
    p.add_argument("--epochs", type=positive_int, default=d.epochs, metavar="N", help=f"epochs (default {d.epochs})")
    p.add_argument("--out", required=True, metavar="DIR", type=path_arg,
                   help="new or empty output folder (or this run's, with --resume)")
    p.add_argument("--lr", type=finite_float, default=d.lr, help=f"AdamW learning rate (default {d.lr:g})")
    p.add_argument("--batch-size", type=positive_int, default=d.batch_size, metavar="N", help=f"default {d.batch_size}")
    p.add_argument("--weight-decay", type=finite_float, default=d.weight_decay, help=f"default {d.weight_decay:g}")
    p.add_argument("--lr-schedule", choices=LR_SCHEDULES, default=d.lr_schedule,
                   help=f"constant, or cosine decay to 0 over the run (default {d.lr_schedule})")
    p.add_argument("--eps-warmup", type=finite_float, default=d.eps_warmup, metavar="F",
                   help="fraction of the run over which the training eps rises linearly from 0 "
                        f"(default {d.eps_warmup:g}; 0: the full eps from the first batch)")
    p.add_argument("--steps", type=positive_int, default=d.steps, metavar="K",
                   help=f"attack steps for pgd, trades and a pgd mix (default {d.steps})")
    p.add_argument("--alpha", default=None, metavar="STEP",
                   help="attack step size ([0, 1] units); default 1.25 eps (fgsm) or 2.5 eps / steps")
    p.add_argument("--beta", type=finite_float, default=d.beta,
                   help=f"TRADES weight of the KL term (default {d.beta:g})")
    p.add_argument("--mix-ratio", type=finite_float, default=d.mix_ratio, metavar="R",
                   help=f"mix: fraction of each batch made adversarial (default {d.mix_ratio:g})")
    p.add_argument("--mix-attack", choices=("fgsm", "pgd"), default=d.mix_attack,
                   help="mix: how the adversarial part is made (default fgsm)")
    p.add_argument("--val-split", type=finite_float, default=d.val_split, metavar="F",
                   help=f"fraction held out for validation after every epoch (default {d.val_split:g})")
    p.add_argument("--val-pgd-steps", type=positive_int, default=d.val_pgd_steps, metavar="K",
                   help=f"PGD steps of the robust validation accuracy (default {d.val_pgd_steps})")
    p.add_argument("--seed", type=seed_int, default=d.seed, help="random seed (default 0)")
    p.add_argument("--mixed-precision", action="store_true", help="bfloat16 autocast on a CUDA GPU (ignored on CPU)")
    p.add_argument("--device", default="auto", type=device_arg,
                   help="auto (CUDA when available, else CPU), cpu, cuda or cuda:N")
    add_attack_list_option(p, what="attacks of the before/after evaluation", suite=SUITE_QUICK)
    p.add_argument("--eps-grid", default=DEFAULT_EPS_GRID, metavar="E1,E2",
                   help=f"budgets of the before/after evaluation, the training eps is always added "
                        f"(default {DEFAULT_EPS_GRID})")
    p.add_argument("--retest-corruptions", default=SMALL_CORRUPTIONS, metavar="A,B",
                   help="corruptions of the before/after evaluation (hardening for attacks can cost robustness to "
                        f"scanner and archive artefacts): {SMALL_CORRUPTIONS} (default: "
                        f"{', '.join(SMALL_CORRUPTION_SET)}, those that fit the data's modality), default, all, "
                        "names (medadv corrupt --list), or none to switch the corruption re-test off")
    p.add_argument("--retest-severities", default=DEFAULT_CORRUPTION_SEVERITIES, metavar="3",
                   help=f"severities 1..5 of the corruption re-test: 3, 1-5 or 1,3,5 (default "
                        f"{DEFAULT_CORRUPTION_SEVERITIES})")
    p.add_argument("--max-eval-samples", type=positive_int, default=None, metavar="N",
                   help="evaluate before/after on a seeded, class-balanced subset of at most N samples")
    p.add_argument("--eval-batch-size", type=positive_int, default=32, metavar="N",
                   help="attack batch size (default 32)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last complete checkpoint")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from medadv_desktop.engine.attacks import parse_budget
    from medadv_desktop.engine.jobs import run_job
    from medadv_desktop.engine.reports.formatting import budget_text, num, seconds
    from medadv_desktop.engine.training import TrainingConfig, format_table
    from medadv_desktop.engine.workflows.training import (
        AdversarialTrainingRequest,
        adversarial_training_workflow,
        check_request,
        save_table,
    )

    card = load_card(args)
    npu = card.intensity.native_per_unit()
    eps = parse_budget(args.eps, npu)
    config = TrainingConfig(
        method=args.method, eps=eps, alpha=parse_budget(args.alpha, npu, parameter="alpha") if args.alpha else None,
        steps=args.steps, beta=args.beta, mix_ratio=args.mix_ratio, mix_attack=args.mix_attack, epochs=args.epochs,
        lr=args.lr, batch_size=args.batch_size, weight_decay=args.weight_decay, val_split=args.val_split,
        val_pgd_steps=args.val_pgd_steps, seed=args.seed, mixed_precision=args.mixed_precision,
        eps_warmup=args.eps_warmup, lr_schedule=args.lr_schedule,
        device=None if args.device in (None, "", "auto") else args.device)
    typed = {"eps": args.eps, **({"alpha": args.alpha} if args.alpha else {})}
    request = AdversarialTrainingRequest(
        data=args.data, out_dir=args.out, config=config, attacks=attack_names(args.attacks), eps_grid=args.eps_grid,
        max_eval_samples=args.max_eval_samples, eval_batch_size=args.eval_batch_size, resume=args.resume,
        device=args.device, corruptions=args.retest_corruptions, corruption_severities=args.retest_severities,
        typed_budgets=typed)
    check_request(request, card)                       # before anything is read or loaded
    eps_text = f"L-inf eps {budget_text(eps)} = {eps:.5g}" + (f" = {num(eps * npu)} native units" if npu else "")

    try:
        with ProgressPrinter() as printer:
            def show(ev: Any) -> None:
                kind = ev.data.get("kind")
                if kind == "data":
                    if ev.data["n_failures"]:
                        printer.line(f"medadv: {ev.data['n_failures']} file(s) could not be read and were skipped",
                                     sys.stderr)
                    printer.line(f"Adversarial training ({config.method}, {eps_text}) of '{card.name}' on data set "
                                 f"{ev.data['name']}" + (" (SYNTHETIC demo data)" if ev.data["synthetic"] else "")
                                 + f", {ev.data['n_samples']} samples, {config.epochs} epoch(s)")
                elif kind in ("epoch", "resume"):
                    printer.line(ev.message)
                elif kind == "trained":
                    printer.line(f"Hardened model: {ev.data['model_card_path']}")
                    printer.restart()
                elif kind == "retest":
                    printer.line(f"Before/after evaluation on the {ev.data['source']}: {ev.data['n_samples']} "
                                 f"samples, attacks {', '.join(ev.data['attacks'])}; takes at most "
                                 f"{seconds(ev.data['upper_bound_s'])} (an upper bound from the measured model "
                                 "speed: attacks stop early on fooled samples; --attacks quick|standard|full, "
                                 "--max-eval-samples N)")
                else:
                    printer(ev)

            outcome = run_job(adversarial_training_workflow(card, request), show)
    except OutputWriteError as exc:
        if exc.unsaved is None:             # a checkpoint or the final model: complete checkpoints are kept
            raise MedAdvError(f"{exc} The training stopped; its complete checkpoints are kept in '{args.out}': "
                              "repeat the same command with --resume once there is space.", hint=exc.hint) from None
        table = exc.unsaved
        print(format_table(table))
        raise_saved_elsewhere(exc, lambda folder: [save_table(table, folder)], "before/after table")
    print(format_table(outcome.retest.table))
    if outcome.retest.table_path is not None:
        print(f"Wrote {outcome.retest.table_path}")
    else:
        print("medadv: before_after.json already exists in the output folder; it was kept as it is",
              file=sys.stderr)
    return 0
