"""MedAdv's AutoAttack-grade cascade against torchattacks' AutoAttack(version="standard").

    python benchmarks/autoattack_compare.py [--data DIR] [--max-samples N] [--eps 8/255] [--norm linf]
                                            [--models demo,tiny-cnn3,resnet10,masked-resnet10]
                                            [--square-queries 5000] [--peer-square-queries 5000] [--peer-steps 100]
                                            [--add-fab] [--threads 1] [--device cpu]

MedAdv: its default suite "standard" (``attacks.suite_attacks()``: APGD-CE -> APGD-T ->
FAB-T -> Square-5000), run by ``engine.evaluation.evaluate_job`` as a cascade (a later attack
runs only on the samples still robust; per-sample early stop; 100 APGD/FAB iterations, 9
target classes at most, Square p_init 0.8). The cascade rows show what each attack finds
beyond the ones before it (the FAB-T row: the measurement that put FAB-T into the suite).
``--add-fab`` inserts FAB-T before Square when the suite lacks it (the standard suite has
held it since that measurement, so it changes nothing there).
Peer: AutoAttack standard built from torchattacks' components, as ``torchattacks.AutoAttack``
builds it (``MultiAttack`` of APGD-CE, APGD-T, FAB-T, Square-5000, seed 0, one restart each),
with ``--peer-steps`` iterations for APGD, APGD-T and FAB: default 100, AutoAttack as published
(Croce & Hein 2020, the reference code's ``n_iter``). ``--peer-steps 10`` is
``torchattacks.AutoAttack(version="standard")`` exactly as its users run it (its components keep
torchattacks' default 10 steps: about ten times cheaper and weaker; with 4 or more classes the
benchmark then calls ``AutoAttack`` itself). Its APGD-T ranks targets with the
DLR-targeted loss, which indexes the 3rd and 4th largest logits: with fewer than 4 classes
(a binary medical model) ``AutoAttack`` raises. For such a model the peer is built from its
standard attacks that do run, constructed as ``AutoAttack`` constructs them: APGD-CE ->
FAB-T (``multi_targeted``, n_classes=K: the K - 1 other classes) -> Square
(``--peer-square-queries``, default 5000 as in AutoAttack); the table says so. Any other
error of the peer falls back the same way after probing each attack.

Models:
  demo             the demo model (resources/demo_model) on the held-out split of the
                   SYNTHETIC demo data: ``--data DIR`` reads DIR/test as written by
                   ``medadv demo-data DIR``; without it the same held-out patches are made in
                   memory (``medadv demo-data --seed 0`` test split);
  tiny-cnn3        a 3-class two-layer CNN (1 x 16 x 16), random weights, seeded random inputs;
  resnet10         timm ``test_resnet`` with 10 classes (1 x 32 x 32), random weights;
  masked-resnet10  the same behind an 8-level input quantiser (zero input gradient: gradient
                   masking; only the black-box Square can succeed).
The random-weight models are labelled with their own clean predictions (clean accuracy
100 %), so robust accuracy measures the attacks alone.

Printed per model: clean accuracy, robust accuracy (MedAdv worst case, peer), time, the
difference in points and the time ratio; goal: MedAdv worst case <= peer + 0.5 points, in
less time. Timing is wall-clock on whatever else runs on the machine: on a loaded machine
run it alone for figures you quote (``--threads`` sets torch's CPU threads).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from medadv_desktop.engine._torch_compat import import_timm  # noqa: E402
from medadv_desktop.engine.attacks import parse_budget, suite_attacks  # noqa: E402
from medadv_desktop.engine.attacks.spec import DEFAULT_SUITE  # noqa: E402
from medadv_desktop.engine.datasets import LabelledDataset  # noqa: E402
from medadv_desktop.engine.evaluation import evaluate_job  # noqa: E402
from medadv_desktop.engine.jobs import run_job  # noqa: E402

DEMO_CARD = ROOT / "resources" / "demo_model" / "model_card.json"
MODELS = ("demo", "tiny-cnn3", "resnet10", "masked-resnet10")


class TinyCNN(nn.Module):
    """Two conv layers and a linear head on (N, 1, 16, 16)."""

    def __init__(self, num_classes: int, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.features = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(),
                                      nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten())
        self.head = nn.Linear(8 * 8 * 8, num_classes)
        with torch.no_grad():
            for m in self.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / m.weight[0].numel()) ** 0.5)
                    m.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x - 0.5))


class Quantised(nn.Module):
    """An input quantiser (``levels`` grey levels) in front of a network: its input gradient is zero."""

    def __init__(self, net: nn.Module, levels: int = 8) -> None:
        super().__init__()
        self.net, self.levels = net, levels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(torch.round(x * (self.levels - 1)) / (self.levels - 1))


def own_labels(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x).argmax(1)


def build(name: str, args, device: torch.device):
    """(model, x, y, class count, description)."""
    if name == "demo":
        from medadv_desktop.engine.models import load_classifier

        model = load_classifier(DEMO_CARD, device)
        if args.data:
            ds = LabelledDataset.from_folder(Path(args.data) / "test", model.card.class_names)
            x, y, _, _ = ds.to_tensors(model.card)
            what = f"held-out split {args.data}/test (SYNTHETIC demo data)"
        else:
            from medadv_desktop.engine.demo.dataset import DEFAULT_N_TEST
            from medadv_desktop.engine.demo.synthesis import CLASS_NAMES, make_patch

            imgs, labels = [], []
            for i in range(DEFAULT_N_TEST):
                patch = make_patch(0, "test", i)
                unit, _ = model.card.intensity.to_unit(np.asarray(patch.hu, dtype=np.float32))
                imgs.append(unit[None])
                labels.append(CLASS_NAMES.index(patch.label))
            x, y = torch.from_numpy(np.stack(imgs)), torch.tensor(labels)
            what = "held-out split of medadv demo-data --seed 0, made in memory (SYNTHETIC demo data)"
        return model.eval(), x, y, len(model.card.class_names), f"demo model, {what}"
    timm = import_timm()
    gen = torch.Generator().manual_seed(1)
    if name == "tiny-cnn3":
        model = TinyCNN(3, seed=7).eval()
        x = torch.rand(args.tiny_samples, 1, 16, 16, generator=gen)
        return model, x, own_labels(model, x), 3, "tiny 3-class CNN 1x16x16, random weights, own labels"
    torch.manual_seed(0)
    net = timm.create_model("test_resnet", pretrained=False, num_classes=10, in_chans=1).eval()
    x = torch.rand(args.tiny_samples, 1, 32, 32, generator=gen)
    if name == "resnet10":
        return net, x, own_labels(net, x), 10, "timm test_resnet 10 classes 1x32x32, random weights, own labels"
    if name == "masked-resnet10":
        model = Quantised(net).eval()
        return model, x, own_labels(model, x), 10, "8-level input quantiser + test_resnet (gradient-masked), own labels"
    raise SystemExit(f"unknown model {name!r}; choose from {', '.join(MODELS)}")


def medadv_cascade(model, x, y, k, eps, norm, args):
    ds = LabelledDataset.from_arrays(x.cpu().numpy(), y.tolist(), [f"class {i}" for i in range(k)],
                                     name="benchmark", synthetic=True)
    attacks = [(name, {**params, "n_queries": args.square_queries} if name == "square" else params)
               for name, params in suite_attacks(DEFAULT_SUITE)]
    if args.add_fab and "fab-t" not in [a for a, _ in attacks]:
        at = [a for a, _ in attacks].index("square") if any(a == "square" for a, _ in attacks) else len(attacks)
        attacks.insert(at, ("fab-t", {}))
    t = time.perf_counter()
    result = run_job(evaluate_job(model, ds, attacks, [eps], norm=norm, batch_size=args.batch, seed=0,
                                  n_examples=0))
    elapsed = time.perf_counter() - t
    rows = {r.attack: r.robust_accuracy for r in result.rows}
    return rows, result.clean_accuracy, elapsed


def peer_cascade(torchattacks, model, x, y, k, eps, norm, args):
    """torchattacks' AutoAttack standard; where it raises on this model, its standard attacks that run."""
    peer_norm = {"linf": "Linf", "l2": "L2"}[norm]
    dev = next(model.parameters()).device
    xs, ys = x.to(dev), y.to(dev)

    def run(attack) -> tuple[float, float]:
        t = time.perf_counter()
        robust = 0
        for i in range(0, len(xs), args.batch):
            xb, yb = xs[i:i + args.batch], ys[i:i + args.batch]
            with torch.no_grad():
                correct = model(xb).argmax(1) == yb
            if bool(correct.any()):
                adv = attack(xb[correct], yb[correct])
                with torch.no_grad():
                    robust += int((model(adv).argmax(1) == yb[correct]).sum())
        return robust / len(xs), time.perf_counter() - t

    q, steps = args.peer_square_queries, args.peer_steps
    # the peer's components, each built as torchattacks.AutoAttack builds it (one place for all branches)
    make = {
        "APGD-CE": lambda: torchattacks.APGD(model, norm=peer_norm, eps=eps, seed=0, loss="ce", n_restarts=1,
                                             steps=steps),
        "APGD-T": lambda: torchattacks.APGDT(model, norm=peer_norm, eps=eps, seed=0, n_classes=k, n_restarts=1,
                                             steps=steps),
        "FAB-T": lambda: torchattacks.FAB(model, norm=peer_norm, eps=eps, seed=0, multi_targeted=True, n_classes=k,
                                          n_restarts=1, steps=steps),
        "Square": lambda queries=q: torchattacks.Square(model, norm=peer_norm, eps=eps, seed=0, n_queries=queries,
                                                        n_restarts=1),
    }
    if k >= 4 and steps != 10:
        # AutoAttack standard as published: torchattacks.AutoAttack's own construction with n_iter = steps
        parts = [make["APGD-CE"](), make["APGD-T"](), make["FAB-T"](), make["Square"](5000)]
        try:
            ra, secs = run(torchattacks.MultiAttack(parts))
            return ra, secs, (f"AutoAttack standard as published: APGD-CE -> APGD-T -> FAB-T ({steps} iterations "
                              "each) -> Square-5000, torchattacks' components")
        except Exception as exc:  # noqa: BLE001 - the peer's own limits are part of the result
            print(f"  peer: AutoAttack standard ({steps} iterations) raised {type(exc).__name__}: {exc}", flush=True)
    elif k >= 4:
        note = "AutoAttack standard (torchattacks.AutoAttack, its default 10 iterations)"
        try:
            ra, secs = run(torchattacks.AutoAttack(model, norm=peer_norm, eps=eps, version="standard", n_classes=k,
                                                   seed=0))
            return ra, secs, note
        except Exception as exc:  # noqa: BLE001 - the peer's own limits are part of the result
            print(f"  peer: AutoAttack(version='standard', n_classes={k}) raised {type(exc).__name__}: {exc}",
                  flush=True)
    else:
        # its APGD-T (DLR-targeted loss: the 3rd and 4th largest logits) cannot run with fewer than 4 classes;
        # the rest of its standard cascade, constructed as AutoAttack constructs it
        ra, secs = run(torchattacks.MultiAttack([make[label]() for label in ("APGD-CE", "FAB-T", "Square")]))
        return ra, secs, (f"AutoAttack standard without APGD-T (needs 4 classes, the model has {k}): "
                          f"APGD-CE -> FAB-T ({steps} iterations each) -> Square-{q}, as AutoAttack constructs them")
    kept, dropped = [], []
    probe_x, probe_y = xs[:2], ys[:2]
    for label, build_attack in make.items():
        atk = build_attack()
        try:
            if label == "Square":
                atk.n_queries = 2
            atk(probe_x, probe_y)
            if label == "Square":
                atk.n_queries = q
            kept.append((label, atk))
        except Exception as exc:  # noqa: BLE001
            dropped.append(f"{label} ({type(exc).__name__})")
    note = f"its standard attacks that run: {' -> '.join(lab for lab, _ in kept)}; dropped {', '.join(dropped)}"
    attack = torchattacks.MultiAttack([a for _, a in kept]) if len(kept) > 1 else kept[0][1]
    ra, secs = run(attack)
    return ra, secs, note


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", help="folder written by `medadv demo-data DIR` (its test/ split is used)")
    ap.add_argument("--max-samples", type=int, default=0, help="seeded, class-balanced subset of the demo split")
    ap.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, from {', '.join(MODELS)}")
    ap.add_argument("--eps", default="8/255", help="budget (default 8/255; L2: e.g. 0.5)")
    ap.add_argument("--norm", choices=("linf", "l2"), default="linf")
    ap.add_argument("--square-queries", type=int, default=5000, help="MedAdv's Square budget (default 5000)")
    ap.add_argument("--peer-square-queries", type=int, default=5000,
                    help="the peer's Square budget where MedAdv builds its cascade (fewer than 4 classes; default "
                         "5000 as AutoAttack; with 4 or more classes AutoAttack's own 5000)")
    ap.add_argument("--peer-steps", type=int, default=100,
                    help="iterations of the peer's APGD, APGD-T and FAB (default 100: AutoAttack as published; 10: "
                         "torchattacks.AutoAttack's own default)")
    ap.add_argument("--add-fab", action="store_true",
                    help="insert MedAdv's FAB-T before Square when the suite lacks it (standard has it)")
    ap.add_argument("--tiny-samples", type=int, default=64, help="inputs per random-weight model (default 64)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1; 0: torch's choice)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    eps = parse_budget(args.eps)
    import_timm()  # the torchvision fix before torchattacks imports torchvision
    import torchattacks

    sys.stdout.reconfigure(line_buffering=True)  # progress visible when the output goes to a file
    ours = [n for n, _ in suite_attacks(DEFAULT_SUITE)]
    if args.add_fab and "fab-t" not in ours:
        ours.insert(ours.index("square") if "square" in ours else len(ours), "fab-t")
    ours = [f"square-{args.square_queries}" if n == "square" else n for n in ours]
    print(f"torch {torch.__version__}, torchattacks {torchattacks.__version__}, {torch.get_num_threads()} threads, "
          f"device {device}; {args.norm} eps {args.eps}; MedAdv: {' -> '.join(ours)} "
          f"(suite '{DEFAULT_SUITE}', evaluate_job cascade); peer: {args.peer_steps} APGD/FAB iterations, "
          f"Square {args.peer_square_queries} queries below 4 classes, AutoAttack's 5000 otherwise")
    table = []
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        model, x, y, k, what = build(name, args, device)
        if args.max_samples and len(x) > args.max_samples:
            ds = LabelledDataset.from_arrays(x.numpy(), y.tolist(), [str(i) for i in range(k)]).head(
                args.max_samples, seed=0)
            x, y, _, _ = ds.to_tensors()
        model = model.to(device)
        print(f"\n{name}: {what}; {len(x)} samples, {k} classes")
        rows, clean, t_ours = medadv_cascade(model, x, y, k, eps, args.norm, args)
        cascade = ", ".join(f"{a} {v:.1%}" for a, v in rows.items())
        print(f"  MedAdv: clean {clean:.1%}; {cascade}; {t_ours:.1f} s")
        ra, t_peer, note = peer_cascade(torchattacks, model, x, y, k, eps, args.norm, args)
        print(f"  peer ({note}): robust {ra:.1%}; {t_peer:.1f} s")
        table.append((name, len(x), clean, rows["worst-case"], t_ours, ra, t_peer, note))

    print("\nmodel            n    clean  MedAdv worst  peer     diff (pts)  MedAdv s  peer s  time ratio  goal")
    for name, n, clean, ours, t_o, peer, t_p, _note in table:
        diff = (ours - peer) * 100
        goal = "met" if diff <= 0.5 and t_o < t_p else ("robust acc met, slower" if diff <= 0.5 else "NOT met")
        print(f"{name:16s} {n:4d} {clean:6.1%}  {ours:11.1%}  {peer:6.1%}  {diff:+9.1f}  {t_o:9.1f} {t_p:7.1f}"
              f"  {t_p / t_o:9.2f}x  {goal}")
    print("diff = MedAdv worst case - peer (negative: MedAdv found more adversarial examples); time ratio = peer / "
          "MedAdv (above 1: MedAdv faster). Peer notes above say which peer attacks ran.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
