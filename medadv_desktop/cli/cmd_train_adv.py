"""`medadv train-adv`: harden a model by adversarial training, then re-test it before/after.

    medadv train-adv --model CARD --data DIR --method fgsm|pgd|trades|mix --eps 2/255 \\
        --epochs N --out DIR [--attacks fgsm,pgd,square,vertical,smia] [--eps-grid 1/255,2/255,4/255]

Trains a copy of the model (the input files are never modified) and writes to
the new or empty folder ``--out``: ``run.json``, one checkpoint pair per epoch
(``checkpoint-epoch-NNN.safetensors`` + ``.json``), ``model.safetensors`` and
``model_card.json`` of the hardened model, and ``before_after.json`` (rows:
attack, eps, accuracy_before, accuracy_after; clean and worst-case rows
included). Prints one line per epoch and the before/after table.

If ``--data`` has ``train/`` and ``test/`` sub-folders (as ``medadv
demo-data`` writes), training uses ``train/`` and the before/after evaluation
``test/``; otherwise the evaluation uses the held-out validation split.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

DEFAULT_ATTACKS = "fgsm,pgd,square,vertical,smia"
DEFAULT_EPS_GRID = "1/255,2/255,4/255"


def register(subparsers) -> None:
    from medadv_desktop.engine.training.config import LR_SCHEDULES, METHODS, TrainingConfig

    d = TrainingConfig()
    p = subparsers.add_parser(
        "train-adv", help="adversarially train a model and compare it with the original against every attack",
        description="Fine-tune a copy of a model with adversarial training (fast FGSM, PGD, TRADES or a clean + "
                    "adversarial mix), then evaluate the original and the hardened model against the attacks "
                    "at the training eps and over an eps grid (before/after table).")
    p.add_argument("--model", required=True, metavar="CARD", help="model card (model_card.json or its folder)")
    p.add_argument("--data", required=True, metavar="DIR",
                   help="labelled data set folder (class sub-folders or labels.csv); with train/ and test/ "
                        "sub-folders, trains on train/ and evaluates on test/")
    p.add_argument("--method", choices=METHODS, default="fgsm",
                   help="fgsm: fast FGSM with random start; pgd: k-step PGD; trades: TRADES (beta); "
                        "mix: a fraction of each batch adversarial (default fgsm)")
    p.add_argument("--eps", default="2/255", metavar="EPS",
                   help="L-inf training budget: [0, 1] units (2/255, 0.008) or native units through the card's "
                        "window (3HU); default 2/255")
    p.add_argument("--epochs", type=int, default=d.epochs, metavar="N", help=f"epochs (default {d.epochs})")
    p.add_argument("--out", required=True, metavar="DIR", help="new or empty output folder (or this run's, with --resume)")
    p.add_argument("--lr", type=float, default=d.lr, help=f"AdamW learning rate (default {d.lr:g})")
    p.add_argument("--batch-size", type=int, default=d.batch_size, metavar="N", help=f"default {d.batch_size}")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay, help=f"default {d.weight_decay:g}")
    p.add_argument("--lr-schedule", choices=LR_SCHEDULES, default=d.lr_schedule,
                   help=f"constant, or cosine decay to 0 over the run (default {d.lr_schedule})")
    p.add_argument("--eps-warmup", type=float, default=d.eps_warmup, metavar="F",
                   help="fraction of the run over which the training eps rises linearly from 0 "
                        f"(default {d.eps_warmup:g}; 0: the full eps from the first batch)")
    p.add_argument("--steps", type=int, default=d.steps, metavar="K",
                   help=f"attack steps for pgd, trades and a pgd mix (default {d.steps})")
    p.add_argument("--alpha", default=None, metavar="STEP",
                   help="attack step size ([0, 1] units); default 1.25 eps (fgsm) or 2.5 eps / steps")
    p.add_argument("--beta", type=float, default=d.beta, help=f"TRADES weight of the KL term (default {d.beta:g})")
    p.add_argument("--mix-ratio", type=float, default=d.mix_ratio, metavar="R",
                   help=f"mix: fraction of each batch made adversarial (default {d.mix_ratio:g})")
    p.add_argument("--mix-attack", choices=("fgsm", "pgd"), default=d.mix_attack,
                   help="mix: how the adversarial part is made (default fgsm)")
    p.add_argument("--val-split", type=float, default=d.val_split, metavar="F",
                   help=f"fraction held out for validation after every epoch (default {d.val_split:g})")
    p.add_argument("--val-pgd-steps", type=int, default=d.val_pgd_steps, metavar="K",
                   help=f"PGD steps of the robust validation accuracy (default {d.val_pgd_steps})")
    p.add_argument("--seed", type=int, default=d.seed, help="random seed (default 0)")
    p.add_argument("--mixed-precision", action="store_true", help="bfloat16 autocast on a CUDA GPU (ignored on CPU)")
    p.add_argument("--device", default="auto", help="auto (CUDA when available, else CPU), cpu, cuda or cuda:N")
    p.add_argument("--attacks", default=DEFAULT_ATTACKS, metavar="A,B",
                   help=f"attacks of the before/after evaluation (default {DEFAULT_ATTACKS})")
    p.add_argument("--eps-grid", default=DEFAULT_EPS_GRID, metavar="E1,E2",
                   help=f"budgets of the before/after evaluation, the training eps is always added "
                        f"(default {DEFAULT_EPS_GRID})")
    p.add_argument("--max-eval-samples", type=int, default=None, metavar="N",
                   help="evaluate before/after on a seeded, class-balanced subset of at most N samples")
    p.add_argument("--eval-batch-size", type=int, default=32, metavar="N", help="attack batch size (default 32)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last complete checkpoint")
    p.set_defaults(func=run)


class _BatchLine:
    """Batch progress on stderr: one updating line on a terminal, nothing otherwise."""

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.last = 0.0
        self.open = False

    def show(self, text: str, force: bool = False) -> None:
        if not self.tty:
            return
        now = time.monotonic()
        if now - self.last < 0.1 and not force:
            return
        self.last = now
        print(f"\r{text[:78]:78s}", end="", file=self.stream, flush=True)
        self.open = True

    def clear(self) -> None:
        if self.tty and self.open:
            print("\r" + " " * 78 + "\r", end="", file=self.stream, flush=True)
            self.open = False


def run(args: argparse.Namespace) -> int:
    from medadv_desktop.engine.attacks import get_attack, parse_budget
    from medadv_desktop.engine.datasets import LabelledDataset
    from medadv_desktop.engine.models import ModelCard, load_classifier
    from medadv_desktop.engine.training import (
        TrainingConfig, adversarial_training_job, before_after_job, format_table, resolve_split_dirs,
        stratified_split)
    from medadv_desktop.errors import AttackConfigError

    card = ModelCard.load(args.model)
    npu = float(card.intensity.width) if card.intensity.mode == "window" else None
    eps = parse_budget(args.eps, npu)
    alpha = parse_budget(args.alpha, npu) if args.alpha else None
    grid = [parse_budget(e.strip(), npu) for e in args.eps_grid.split(",") if e.strip()]
    names = [a.strip().lower() for a in args.attacks.split(",") if a.strip()]
    if not names:
        raise AttackConfigError("give at least one attack, e.g. --attacks fgsm,pgd", parameter="attacks")
    for n in names:
        get_attack(n)                                   # unknown names fail before any work
    config = TrainingConfig(
        method=args.method, eps=eps, alpha=alpha, steps=args.steps, beta=args.beta, mix_ratio=args.mix_ratio,
        mix_attack=args.mix_attack, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
        weight_decay=args.weight_decay, val_split=args.val_split, val_pgd_steps=args.val_pgd_steps,
        seed=args.seed, mixed_precision=args.mixed_precision, eps_warmup=args.eps_warmup,
        lr_schedule=args.lr_schedule, device=None if args.device in (None, "", "auto") else args.device)

    train_dir, test_dir = resolve_split_dirs(args.data)
    classifier = load_classifier(card, device=args.device)
    train_set = LabelledDataset.from_folder(train_dir, list(classifier.class_names))
    if train_set.failures:
        print(f"medadv: {len(train_set.failures)} file(s) could not be read and were skipped", file=sys.stderr)
    print(f"Adversarial training ({config.method}, L-inf eps {eps * 255:.3g}/255 = {eps:.5g}"
          + (f" = {eps * npu:.3g} native units" if npu else "") + f") of '{card.name}' on data set "
          f"{train_set.name}" + (" (SYNTHETIC demo data)" if train_set.synthetic else "")
          + f", {len(train_set)} samples, {config.epochs} epoch(s)", flush=True)

    line = _BatchLine()
    result = None
    job = adversarial_training_job(classifier, train_set, config, args.out, resume=args.resume)
    try:
        while True:
            try:
                ev = next(job)
            except StopIteration as stop:
                result = stop.value
                break
            kind = ev.data.get("kind")
            if kind == "batch":
                line.show(ev.message)
            elif kind in ("epoch", "resume"):
                line.clear()
                print(ev.message, flush=True)
    finally:
        line.clear()
    print(f"Hardened model: {result.model_card_path}", flush=True)

    if test_dir is not None:
        eval_set = LabelledDataset.from_folder(test_dir, list(classifier.class_names))
        where = "test/ folder"
    else:
        _, val_idx = stratified_split(train_set.labels, config.val_split, config.seed)
        eval_set = train_set.subset(val_idx) if val_idx else train_set
        where = "held-out validation split" if val_idx else "training data (no validation split: optimistic)"
    print(f"Before/after evaluation on the {where}: {min(len(eval_set), args.max_eval_samples or len(eval_set))} "
          f"samples, attacks {', '.join(names)}", flush=True)
    ba_job = before_after_job(classifier, result.model_card_path, eval_set, names, eps, grid, training=result,
                              batch_size=args.eval_batch_size, seed=config.seed,
                              max_samples=args.max_eval_samples, device=args.device)
    try:
        while True:
            try:
                ev = next(ba_job)
            except StopIteration as stop:
                table = stop.value
                break
            line.show(f"[{ev.fraction:4.0%}] {ev.message}" if ev.total else ev.message)
    finally:
        line.clear()
    print(format_table(table))
    path = table.save_table(Path(args.out) / "before_after.json")
    print(f"Wrote {path}")
    return 0
