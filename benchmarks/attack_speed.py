"""Attack speed: MedAdv's attacks against torchattacks on the same model and inputs.

    python benchmarks/attack_speed.py [--device cpu|cuda] [--batch 32] [--square-queries 100 | --full]

Model: the demo model (resources/demo_model/model_card.json) with held-out
synthetic demo patches (labelled SYNTHETIC); without it, a randomly
initialised timm efficientnet_b0 (1 channel, 2 classes, 64 x 64) on seeded
random inputs labelled with its own predictions (a notice is printed).

For each attack it prints
  * ours/s      : our images per second with ``early_stop`` off (the same passes as the peer),
                  with the default BatchNorm folding (``fold_bn``: each eval-mode BatchNorm merged
                  into the convolution before it, same outputs up to float rounding);
  * ours+ES/s   : the same with the default per-sample early stop;
  * peer/s      : torchattacks' images per second on the same inputs, *plus one forward*
                  to score its adversarial images (our attacks return the adversarial
                  logits and success, so the peer must be scored too to compare like with like);
  * ratio       : ours/s / peer/s (goal: >= 1.0);
  * unfold/s, ratio: ours with ``fold_bn`` off, i.e. the model exactly as loaded: the same
                  arithmetic as the peer, so this ratio shows our loop's own overhead (about 1.0);
  * limit/s     : the raw limit of the model *as loaded*, measured in the same run:
                  N / (k * t_fwd+bwd + t_fwd) for k gradient steps and the scoring forward
                  (SMIA: each step runs the image and its smoothed copy, 2N);
                  for query attacks: N / (queries * t_fwd) with the queries actually spent;
  * share       : ours/s / limit/s (goal for FGSM and PGD: >= 90 %; above 100 % when folding
                  makes each pass cheaper than the model as loaded).
Then the evaluation speed-up: ``evaluate_job`` as the product runs it by default
(early stopping, the cascade over eps and the attack cascade) and with
``--per-attack`` (no attack cascade), each vs. the same job with early
stopping and both cascades off (a plain loop).
Timings: best of ``--repeat`` rounds after one warm-up round; within a round
ours, the peer and the raw forward / forward+backward take turns. Other processes on the
machine make numbers noisy: run it on an idle machine for figures you quote.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from medadv_desktop.engine._torch_compat import import_timm  # noqa: E402
from medadv_desktop.engine.attacks import create_attack  # noqa: E402

DEMO_CARD = ROOT / "resources" / "demo_model" / "model_card.json"


def load_model(device: torch.device, batch: int, size: int, arch: str = "efficientnet_b0"):
    """(model, x, y, description)."""
    if DEMO_CARD.is_file():
        try:
            from medadv_desktop.engine.models import load_classifier

            model = load_classifier(DEMO_CARD, device)
            x, y = demo_inputs(model, batch)
            return model, x.to(device), y.to(device), f"demo model '{model.card.name}', held-out SYNTHETIC demo patches"
        except Exception as exc:  # noqa: BLE001 - fall back, say why
            print(f"NOTICE: demo model not usable ({type(exc).__name__}: {exc}); using the fallback model.")
    else:
        print(f"NOTICE: {DEMO_CARD.name} not found in resources/demo_model; using a randomly initialised timm {arch} "
              f"(in_chans=1, 2 classes, {size}x{size}) on seeded random inputs.")
    timm = import_timm()
    torch.manual_seed(0)
    model = timm.create_model(arch, pretrained=False, in_chans=1, num_classes=2).to(device).eval()
    x = torch.rand(batch, 1, size, size, generator=torch.Generator().manual_seed(0)).to(device)
    with torch.no_grad():
        y = model(x).argmax(1)
    return model, x, y, f"fallback {arch} (random weights) {size}x{size}, seeded random inputs"


def demo_inputs(model, batch: int):
    import numpy as np

    from medadv_desktop.engine.demo.synthesis import CLASS_NAMES, make_patch

    imgs, labels = [], []
    for i in range(batch):
        patch = make_patch(0, "test", i)
        unit, _ = model.card.intensity.to_unit(np.asarray(patch.hu, dtype=np.float32))
        imgs.append(unit[None])
        labels.append(CLASS_NAMES.index(patch.label))
    return torch.from_numpy(np.stack(imgs)), torch.tensor(labels)


def _param_default(attack: str, param: str):
    from medadv_desktop.engine.attacks import get_attack

    return next(p.default for p in get_attack(attack).schema() if p.name == param)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def raw_fns(model, x, y) -> dict:
    """The raw cost of the model on the batch: one forward (no grad) and one
    forward + input-gradient backward (parameters need no gradient)."""

    def fwd():
        with torch.no_grad():
            return model(x)

    def fwd_bwd():
        flags = [p.requires_grad for p in model.parameters()]
        for p in model.parameters():
            p.requires_grad_(False)
        try:
            xg = x.clone().requires_grad_(True)
            loss = torch.nn.functional.cross_entropy(model(xg), y, reduction="sum")
            return torch.autograd.grad(loss, xg)[0]
        finally:
            for p, flag in zip(model.parameters(), flags):
                p.requires_grad_(flag)

    return {"fwd": fwd, "fwd_bwd": fwd_bwd}


def interleaved(fns: dict, device, repeat: int) -> tuple[dict, dict]:
    """Best time of each function over ``repeat`` rounds (after a warm-up round),
    the functions taking turns so that load changes on the machine hit all alike."""
    best = {k: float("inf") for k in fns}
    outs = {}
    for r in range(repeat + 1):
        for k, fn in fns.items():
            t = time.perf_counter()
            outs[k] = fn()
            sync(device)
            if r:
                best[k] = min(best[k], time.perf_counter() - t)
    return best, outs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    ap.add_argument("--batch", type=int, default=32, help="images per batch (default 32)")
    ap.add_argument("--size", type=int, default=64, help="side of the fallback model's inputs (default 64)")
    ap.add_argument("--arch", default="efficientnet_b0", help="timm architecture of the fallback model (default efficientnet_b0)")
    ap.add_argument("--demo", choices=("auto", "off"), default="auto", help="off: always use the fallback model")
    ap.add_argument("--eps", default="2/255", help="L-inf budget (default 2/255)")
    ap.add_argument("--square-queries", type=int, default=100, help="Square / black-box query budget (default 100)")
    ap.add_argument("--full", action="store_true", help="the issue's full budget: Square with 1000 queries")
    ap.add_argument("--repeat", type=int, default=3, help="timed rounds per measurement, best kept (default 3)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--skip-eval", action="store_true", help="skip the evaluation early-stopping measurement")
    args = ap.parse_args(argv)

    from medadv_desktop.engine.attacks import parse_budget

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    eps = parse_budget(args.eps)
    queries = 1000 if args.full else args.square_queries
    global DEMO_CARD
    if args.demo == "off":
        DEMO_CARD = ROOT / "no-demo-model"
    model, x, y, what = load_model(device, args.batch, args.size, args.arch)
    n = x.shape[0]
    print(f"Model: {what}; batch {n} x {tuple(x.shape[1:])}; device {device}; torch {torch.__version__}; "
          f"{torch.get_num_threads()} CPU threads; eps {args.eps}; Square budget {queries} queries")

    import_timm()  # the torchvision fix before torchattacks imports torchvision
    try:
        import torchattacks
    except ImportError:
        torchattacks = None
        print("NOTICE: torchattacks is not installed (pip install --no-deps torchattacks); peer columns show n/a.")

    best, _ = interleaved(raw_fns(model, x, y), device, args.repeat)
    print(f"Raw limit: forward {n / best['fwd']:.1f} img/s, forward + input-gradient backward "
          f"{n / best['fwd_bwd']:.1f} img/s (re-measured beside every attack below)")

    def score(adv):
        with torch.no_grad():
            return model(adv).argmax(1)

    steps = 10
    alpha = 2.5 * eps / steps
    with torch.no_grad():
        k_classes = int(model(x[:1]).shape[1])
    ours_p = _param_default("square", "p_init")
    ours_apgd = _param_default("apgd-ce", "steps")
    plans = [
        # label, our attack + params, peer factory, gradient steps (None: query attack), forward multiplier
        ("FGSM", ("fgsm", {}), (lambda: torchattacks.FGSM(model, eps=eps)), 1, 1),
        ("PGD-10", ("pgd", {"steps": steps, "alpha": alpha, "random_start": True}),
         (lambda: torchattacks.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=True)), steps, 1),
        # Square: each as shipped (ours: our default p_init; torchattacks: its default 0.8), then matched at the
        # paper's p_init 0.05. Equal queries: ours counts the first evaluation, torchattacks does not.
        (f"Square-{queries}, as shipped (p {ours_p:g} / 0.8)", ("square", {"n_queries": queries}),
         (lambda: torchattacks.Square(model, eps=eps, n_queries=queries - 1, seed=0)), None, 1),
        (f"Square-{queries}, both p_init 0.05", ("square", {"n_queries": queries, "p_init": 0.05}),
         (lambda: torchattacks.Square(model, eps=eps, n_queries=queries - 1, p_init=0.05, seed=0)), None, 1),
        # APGD: as shipped (ours: AutoAttack's 100 iterations; torchattacks: its default 10 steps), then matched
        (f"APGD-CE, as shipped ({ours_apgd} / 10 steps)", ("apgd-ce", {}),
         (lambda: torchattacks.APGD(model, eps=eps, seed=0)), ours_apgd + 1, 1),
        (f"APGD-CE-{steps}, matched", ("apgd-ce", {"steps": steps}),
         (lambda: torchattacks.APGD(model, eps=eps, steps=steps, seed=0)), steps + 1, 1),
        (f"APGD-T-{steps}, matched", ("apgd-t", {"steps": steps}),
         (lambda: torchattacks.APGDT(model, eps=eps, steps=steps, n_classes=k_classes, seed=0)),
         (steps + 1) * min(9, k_classes - 1), 1),
        ("Vertical (white box)", ("vertical", {"steps": steps}), None, steps, 1),
        (f"Vertical (black box, {queries})", ("vertical", {"variant": "black_box", "n_queries": queries}), None, None, 1),
        ("SMIA-10", ("smia", {"steps": steps}), None, steps, 2),
    ]
    rows = []
    folded_pairs = 0
    raw = raw_fns(model, x, y)
    for label, (name, params), peer, k, mult in plans:
        off = create_attack(name, model, eps=eps, early_stop=False, **params)
        on = create_attack(name, model, eps=eps, **params)
        unfolded = create_attack(name, model, eps=eps, early_stop=False, fold_bn=False, **params)
        fns = {"off": lambda off=off: off.perturb(x, y), "on": lambda on=on: on.perturb(x, y),
               "unfolded": lambda unfolded=unfolded: unfolded.perturb(x, y), **raw}
        peer_error = None
        if peer is not None and torchattacks is not None:
            atk = peer()
            try:                                   # the peer's own limits (e.g. DLR on 2 classes) are a result
                atk(x[:2], y[:2])
                fns["peer"] = lambda atk=atk: (lambda a: (a, score(a)))(atk(x, y))
            except Exception as exc:  # noqa: BLE001
                peer_error = f"{type(exc).__name__}"
                print(f"NOTICE: {label}: torchattacks raised {type(exc).__name__}: {exc}")
        best, outs = interleaved(fns, device, args.repeat)
        t_f, t_fb = best["fwd"], best["fwd_bwd"]
        if "peer" in best:
            peer_rate = n / best["peer"]
            peer_fooled = float((outs["peer"][1] != y).float().mean())
        else:
            peer_rate = peer_fooled = None
        out_off = outs["off"]
        if k is not None:
            limit = n / (k * mult * t_fb + t_f)
        else:
            limit = n / (float(out_off.queries.float().mean()) * t_f)
        ours = n / best["off"]
        unf = n / best["unfolded"]
        folded_pairs = max(folded_pairs, off.folded_pairs)
        rows.append((label, ours, n / best["on"], peer_rate, ours / peer_rate if peer_rate else None, unf,
                     unf / peer_rate if peer_rate else None, limit, ours / limit,
                     float(out_off.success.float().mean()), peer_fooled, peer_error))

    def fmt(v, spec=".1f", na="no peer"):
        return na if v is None else format(v, spec)

    head = ("attack", "ours/s", "ours+ES/s", "peer/s", "ratio", "unfold/s", "ratio", "limit/s", "share", "fooled",
            "peer fooled", "fooled ratio")
    widths = (40, 8, 9, 8, 6, 8, 6, 8, 6, 6, 11, 12)
    print()
    print(" ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(head, widths))))
    print("-" * (sum(widths) + len(widths) - 1))
    for label, ours, ours_es, peer, ratio, unf, ratio_unf, limit, share, fooled, pfooled, perr in rows:
        na = f"peer: {perr}" if perr else "no peer"
        fooled_ratio = None if not pfooled else fooled / pfooled
        cells = (label, fmt(ours), fmt(ours_es), fmt(peer, na=na), fmt(ratio, ".2f", "n/a"), fmt(unf),
                 fmt(ratio_unf, ".2f", "n/a"), fmt(limit), f"{share:.0%}", f"{fooled:.0%}", fmt(pfooled, ".0%", "n/a"),
                 fmt(fooled_ratio, ".2f", "n/a"))
        print(" ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))))
    print(f"ours/s: early stop off (the same passes as the peer), BatchNorm folding on (default; {folded_pairs} conv + "
          "BatchNorm pairs folded); unfold/s: folding off (the model as loaded, the peer's arithmetic); "
          "peer/s includes one forward to score its output; ratio = ours / peer; share = ours/s / limit/s "
          "(limit of the model as loaded); fooled ratio = our fooled share / the peer's (goal: >= 1.00). "
          "'as shipped': each library's defaults (ours vs torchattacks'), 'matched': the same settings.")

    if not args.skip_eval:
        evaluation_speedup(model, x, y, eps, queries, device)
    return 0


def evaluation_speedup(model, x, y, eps: float, queries: int, device) -> None:
    """evaluate_job as the product runs it (early stop + eps and attack cascade) and with --per-attack,
    each against the same job with early stopping and both cascades off."""
    try:
        from medadv_desktop.engine.datasets import LabelledDataset
        from medadv_desktop.engine.evaluation import evaluate_job
        from medadv_desktop.engine.jobs import run_job
    except ImportError as exc:
        print(f"\nEvaluation speed-up: n/a (TODO: evaluate_job not available: {exc})")
        return
    k = int(model(x[:1]).shape[1])
    ds = LabelledDataset.from_arrays(x.cpu().numpy(), y.cpu().tolist(), [f"class {i}" for i in range(k)],
                                     name="benchmark", synthetic=True)
    grid = [eps / 2, eps, 2 * eps]

    def attacks(early_stop: bool):
        return [("fgsm", {"early_stop": early_stop}), ("pgd", {"steps": 10, "early_stop": early_stop}),
                ("square", {"n_queries": queries, "early_stop": early_stop})]

    times = {}
    # plain: every attack on every sample at every eps, no early stop;
    # default (the product's): early stop + reuse over eps + the AutoAttack cascade over attacks (later attacks
    #   only on samples still robust; exact worst case, later rows cumulative);
    # --per-attack: early stop + reuse over eps, every attack still on every clean-correct sample (own rows).
    runs = (("plain", False, True), ("default (early stop + eps and attack cascade)", True, False),
            ("--per-attack (early stop + eps cascade)", True, True))
    for label, es, full_rows in runs:
        t = time.perf_counter()
        result = run_job(evaluate_job(model, ds, attacks(es), grid, batch_size=x.shape[0], cascade=es,
                                      full_rows=full_rows, n_examples=0))
        times[label] = time.perf_counter() - t
        worst = [round(r.robust_accuracy, 4) for r in result.rows if r.attack == "worst-case"]
        print(f"\nEvaluation ({label}): {times[label]:.1f} s; worst-case robust accuracy per eps {worst}")
    what = (f"FGSM, PGD-10, Square-{queries}; eps {', '.join(f'{e * 255:g}/255' for e in grid)}; "
            "Square always stops per sample")
    for label, *_ in runs[1:]:
        print(f"Evaluation speed-up, {label} vs plain: {times['plain'] / times[label]:.2f}x ({what})")


if __name__ == "__main__":
    raise SystemExit(main())
