#!/usr/bin/env python
"""Train the bundled demo model: timm efficientnet_b0, 1 channel, 2 classes, CPU.

    python scripts/train_demo_model.py --out resources/demo_model

Task: the synthetic lesion demo task of ``medadv_desktop.engine.demo``
(synthetic demo task, not for clinical use). The training split is the one
``medadv demo-data DIR --seed S --n-train N`` writes (generated here in
memory, pixel-identical); the held-out accuracy is measured on the test split
(``--n-test``, default 300, the ``medadv demo-data`` default) after saving,
with the saved fp16 weights reloaded through ``load_classifier`` (fp32).

Preprocessing is exactly the model card's, because training runs through the
same ``Classifier`` wrapper the application uses: HU -> window centre 40 /
width 400 -> [0, 1] (clipped) -> resize to 64x64 (identity here) ->
(x - 0.5) / 0.5 -> network.

The bundled model was trained in two stages (the card's provenance records
both): 12 epochs from scratch on 6000 patches of an earlier generator version
that also sampled a contrast-enhanced abdominal CT (commit d3ab474), then
``--init-from`` that model for 5 epochs at lr 5e-4 on the current generator:

    python scripts/train_demo_model.py --out STAGE1 --n-train 6000 --epochs 12 --threads 1 --min-accuracy 0
    python scripts/train_demo_model.py --out resources/demo_model --init-from STAGE1 \
        --n-train 6000 --epochs 5 --lr 5e-4 --threads 1

On a shared 2-core machine one epoch of 6000 patches took about 2 minutes.

Deterministic from ``--seed`` (weights init, shuffling, augmentation) and
``--data-seed`` on the same machine and torch version. Writes
``model.safetensors`` (fp16) and ``model_card.json`` into ``--out`` through
temporary files and renames; refuses to replace existing files unless
``--overwrite``.
"""

from __future__ import annotations

import argparse
import copy
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MODEL_NAME = "MedAdv demo EfficientNet-B0 (synthetic demo task, not for clinical use)"
INTENDED_USE = ("Synthetic demo task, not for clinical use. Detects synthetic lesions inserted into 64x64 CT "
                "patches (HU, window 40/400) cut from public test scans shipped with pydicom / pydicom-data. "
                "For demonstrating and testing adversarial robustness tooling only; it has never seen a real "
                "finding and must not be used on patient images.")
WINDOW = {"mode": "window", "center": 40.0, "width": 400.0}


def hu_to_unit(hu: np.ndarray) -> np.ndarray:
    """HU -> [0, 1] with the card's window (centre 40, width 400), clipped; adds a channel axis."""
    lo = WINDOW["center"] - WINDOW["width"] / 2
    unit = np.clip((hu.astype(np.float32) - lo) / WINDOW["width"], 0.0, 1.0)
    return unit[:, None]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=ROOT / "resources" / "demo_model")
    p.add_argument("--seed", type=int, default=0, help="training seed (init, shuffling, augmentation)")
    p.add_argument("--data-seed", type=int, default=0, help="seed of the demo data set (medadv demo-data --seed)")
    p.add_argument("--n-train", type=int, default=4000)
    p.add_argument("--n-test", type=int, default=300)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--clip-grad", type=float, default=2.0, help="gradient norm clipping")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--min-accuracy", type=float, default=0.90,
                   help="refuse to write a model whose held-out accuracy is below this")
    p.add_argument("--overwrite", action="store_true", help="replace an existing model in --out")
    p.add_argument("--init-from", type=Path, default=None, metavar="CARD",
                   help="continue training from the weights of this demo model card (a second stage); "
                        "its provenance is kept in the new card under 'previous_stage'")
    p.add_argument("--evaluate-only", action="store_true",
                   help="do not train: re-measure the held-out accuracy of the model already in --out "
                        "on the split its card names and record it in the card")
    return p.parse_args(argv)


def augment(x, generator):
    """Random 90-degree rotation (per batch) and horizontal / vertical flips (per sample)."""
    import torch

    k = int(torch.randint(4, (1,), generator=generator))
    x = torch.rot90(x, k, dims=(2, 3))
    n = x.shape[0]
    flip_h = torch.rand(n, generator=generator) < 0.5
    flip_v = torch.rand(n, generator=generator) < 0.5
    x = torch.where(flip_h[:, None, None, None], x.flip(3), x)
    x = torch.where(flip_v[:, None, None, None], x.flip(2), x)
    return x


def accuracy(model, x, y, batch_size: int = 128) -> float:
    probs = model.predict_proba(x, batch_size=batch_size)
    return float((probs.argmax(1) == y).float().mean())


def atomic_write(path: Path, data: bytes, overwrite: bool) -> None:
    from medadv_desktop.engine.serialization import atomic_write_bytes

    atomic_write_bytes(path, data, overwrite=overwrite)


def evaluate_only(card_path: Path) -> int:
    """Re-measure the held-out accuracy of the saved model and record it in its card."""
    import torch

    from medadv_desktop.engine.demo import make_split_arrays
    from medadv_desktop.engine.models import ModelCard, load_classifier, save_card

    card = ModelCard.load(card_path)
    data = card.provenance["data"]
    x_hu, y = make_split_arrays(int(data["seed"]), "test", int(data["n_test"]))
    model = load_classifier(card, device="cpu")
    held_out = accuracy(model, torch.from_numpy(hu_to_unit(x_hu)), torch.from_numpy(y))
    print(f"held-out accuracy of {card.weights} (fp16 reloaded as fp32): {held_out:.4f} "
          f"(card said {card.provenance.get('held_out_accuracy')})")
    card.provenance["held_out_accuracy"] = round(held_out, 4)
    card.provenance["held_out_measured_by"] = "scripts/train_demo_model.py --evaluate-only"
    save_card(card, card_path, overwrite=True)
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch
    import torch.nn.functional as F
    from safetensors.torch import save as save_safetensors

    from medadv_desktop.engine._torch_compat import import_timm
    from medadv_desktop.engine.demo import CLASS_NAMES, PATCH_SIZE, make_split_arrays
    from medadv_desktop.engine.models import ModelCard, create_card_from_weights, load_classifier, save_card
    from medadv_desktop.engine.models.wrapper import Classifier

    out: Path = args.out
    weights_path, card_path = out / "model.safetensors", out / "model_card.json"
    if args.evaluate_only:
        return evaluate_only(card_path)
    if not args.overwrite:
        for f in (weights_path, card_path):
            if f.exists():
                print(f"{f} exists; pass --overwrite to replace it", file=sys.stderr)
                return 2

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    t0 = time.time()
    x_train_hu, y_train = make_split_arrays(args.data_seed, "train", args.n_train)
    x_test_hu, y_test = make_split_arrays(args.data_seed, "test", args.n_test)
    x_train = torch.from_numpy(hu_to_unit(x_train_hu))
    x_test = torch.from_numpy(hu_to_unit(x_test_hu))
    y_train_t, y_test_t = torch.from_numpy(y_train), torch.from_numpy(y_test)
    print(f"data: {len(x_train)} train / {len(x_test)} held-out patches in {time.time() - t0:.1f} s", flush=True)

    card_dict = {
        "name": MODEL_NAME, "format": "timm", "architecture": "efficientnet_b0", "weights": "model.safetensors",
        "in_chans": 1, "num_classes": len(CLASS_NAMES), "class_names": list(CLASS_NAMES),
        "input_size": [PATCH_SIZE, PATCH_SIZE], "output": "logits", "intensity": WINDOW,
        "mean": [0.5], "std": [0.5], "intended_use": INTENDED_USE, "synthetic": True,
    }
    timm = import_timm()
    network = timm.create_model("efficientnet_b0", pretrained=False, in_chans=1, num_classes=len(CLASS_NAMES))
    # A zero classifier head starts every logit at 0: timm's default head init
    # (uniform +-1/sqrt(2) over 1280 features) gives losses of 3-5 and unstable
    # early training from scratch.
    previous = None
    if args.init_from is not None:
        from medadv_desktop.engine.models import load_state_dict_file, sha256_file

        previous = ModelCard.load(args.init_from)
        if sha256_file(previous.weights_path) != previous.sha256:
            print(f"{previous.weights_path} does not match its card's sha256", file=sys.stderr)
            return 2
        network.load_state_dict({k: v.float() if v.is_floating_point() else v
                                 for k, v in load_state_dict_file(previous.weights_path).items()})
        previous_sha = previous.sha256
    else:
        torch.nn.init.zeros_(network.get_classifier().weight)
        torch.nn.init.zeros_(network.get_classifier().bias)
    model = Classifier(network, ModelCard.from_dict(card_dict))   # the application's own preprocessing

    steps_per_epoch = math.ceil(len(x_train) / args.batch_size)
    total_steps = steps_per_epoch * args.epochs
    warmup = steps_per_epoch
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / max(1, warmup)) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / total_steps))))
    step = 0
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(x_train), generator=gen)
        loss_sum, correct = 0.0, 0
        t_epoch = time.time()
        for b in range(steps_per_epoch):
            idx = order[b * args.batch_size:(b + 1) * args.batch_size]
            if len(idx) < 2:
                continue
            xb, yb = augment(x_train[idx], gen), y_train_t[idx]
            logits = model(xb)
            loss = F.cross_entropy(logits, yb, label_smoothing=0.05)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip_grad)
            optimizer.step()
            schedule.step()
            step += 1
            loss_sum += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(1) == yb).sum())
        model.eval()
        test_acc = accuracy(model, x_test, y_test_t)
        with torch.no_grad():   # batch-statistics accuracy (on a copy: running stats untouched)
            probe = copy.deepcopy(model).train()
            batch_stats_acc = float((probe(x_test).argmax(1) == y_test_t).float().mean())
            del probe
        print(f"epoch {epoch + 1}/{args.epochs}: loss {loss_sum / len(x_train):.4f} "
              f"train acc {correct / len(x_train):.4f} held-out acc {test_acc:.4f} "
              f"(batch-stats {batch_stats_acc:.4f}) "
              f"({time.time() - t_epoch:.0f} s)", flush=True)

    # fp16 safetensors: floating tensors halved, integer buffers (BN counters) kept
    state = {k: (v.detach().half() if v.is_floating_point() else v.detach()).contiguous()
             for k, v in network.state_dict().items()}
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out, prefix=".train-") as tmp:
        tmp_weights = Path(tmp) / "model.safetensors"
        tmp_weights.write_bytes(save_safetensors(state, metadata={
            "description": MODEL_NAME, "format": "pt"}))
        # Held-out accuracy of the *saved* fp16 weights, reloaded as fp32 by the application's loader.
        provisional = create_card_from_weights(tmp_weights, card_path=Path(tmp) / "model_card.json",
                                               name=MODEL_NAME, architecture="efficientnet_b0",
                                               class_names=list(CLASS_NAMES), input_size=[PATCH_SIZE, PATCH_SIZE],
                                               intensity=WINDOW, mean=[0.5], std=[0.5], intended_use=INTENDED_USE)
        reloaded = load_classifier(provisional, device="cpu")
        held_out = accuracy(reloaded, x_test, y_test_t)
        print(f"held-out accuracy of the saved fp16 weights (reloaded fp32): {held_out:.4f}", flush=True)
        if held_out < args.min_accuracy:
            print(f"held-out accuracy {held_out:.4f} is below --min-accuracy {args.min_accuracy}; nothing written",
                  file=sys.stderr)
            return 1
        provenance = {
            "task": "synthetic lesion detection on 64x64 CT patches (synthetic demo task, not for clinical use)",
            "training_script": "scripts/train_demo_model.py",
            "data": {
                "generator": "medadv_desktop.engine.demo (medadv demo-data)",
                "seed": args.data_seed, "n_train": args.n_train, "n_test": args.n_test,
                "reproduce": f"medadv demo-data DIR --seed {args.data_seed} --n-train {args.n_train} "
                             f"--n-test {args.n_test}",
            },
            "training": {
                "seed": args.seed, "epochs": args.epochs, "batch_size": args.batch_size,
                "optimizer": "AdamW", "lr": args.lr, "clip_grad_norm": args.clip_grad,
                "init": "timm default, classifier head zeroed", "weight_decay": args.weight_decay,
                "schedule": "linear warm-up one epoch, cosine decay", "label_smoothing": 0.05,
                "augmentation": "random 90-degree rotation, horizontal and vertical flips",
                "device": "cpu", "threads": args.threads, "torch": torch.__version__,
                "timm": timm.__version__, "wall_time_s": round(time.time() - t0, 1),
            },
            "held_out_accuracy": round(held_out, 4),
            "held_out_split": f"test split of medadv demo-data --seed {args.data_seed} ({args.n_test} patches)",
            "weights_dtype": "float16 (evaluated reloaded as float32)",
        }
        if previous is not None:
            provenance["training"]["init"] = f"continued from weights sha256 {previous_sha} (see previous_stage)"
            provenance["previous_stage"] = previous.provenance
        card = create_card_from_weights(tmp_weights, card_path=card_path, name=MODEL_NAME,
                                        architecture="efficientnet_b0", class_names=list(CLASS_NAMES),
                                        input_size=[PATCH_SIZE, PATCH_SIZE], intensity=WINDOW,
                                        mean=[0.5], std=[0.5], intended_use=INTENDED_USE, provenance=provenance,
                                        modality="CT")
        card.weights = "model.safetensors"
        card.synthetic = True                 # MedAdv's synthetic demo model: the GUI and reports say so
        atomic_write(weights_path, tmp_weights.read_bytes(), args.overwrite)
    save_card(card, card_path, overwrite=args.overwrite)
    print(f"wrote {weights_path} ({weights_path.stat().st_size / 1e6:.1f} MB) and {card_path}; "
          f"held-out accuracy {held_out:.4f}; total {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
