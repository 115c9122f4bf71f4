"""Corruption speed beside the demo model's forward pass, measured in the same run.

    python benchmarks/corruption_speed.py [--batch 64] [--severities 1-5] [--threads 1] [--repeat 3]

Inputs: held-out SYNTHETIC demo patches (64 x 64 CT in HU, ``medadv demo-data``
test split), corrupted in native units by
:func:`medadv_desktop.engine.corruptions.corrupt_native_batch` exactly as the
corruption evaluation will call it (one generator per sample). The CT
corruptions (``default_corruptions("CT")``, and ``jpeg`` as an 8-bit export)
run on the patches as CT; the MR / X-ray ones run on the same patches as an MR image (HU + 1024, so
values are non-negative) to time them at the same size. ``slice_thickness``
needs a volume and is timed on the 14-slice demo study (per slice).

Peer: the demo model (resources/demo_model: EfficientNet-B0, 64 x 64, window
40 / 400 HU) forward pass without gradients on the same patches, after the
card's intensity mapping: what the evaluation spends on each corrupted image
at the least (a corruption-only evaluation). Per corruption (its slowest
severity) it prints
  * img/s      : corrupted images per second;
  * fwd/corr   : forward time / corruption time per image (>= 4 keeps it under 20 %);
  * share      : corruption time / (corruption + forward) time for that corruption;
and then the evaluation's share: all corruptions x severities, corruption time
over (corruption + forward) time, the part of a corruption evaluation spent
corrupting (goal: <= 20 %; PASS / FAIL). A cascade "corruption then attack"
spends many forward/backward passes per image, so its share is far smaller. Timings: best of ``--repeat`` rounds after
a warm-up round; within a round the forward and each corruption take turns.
``--large`` adds the X-ray defaults on a full chest CR (1955 x 1841) beside
resizing it to 224 x 224 and an efficientnet_b0 forward.
``--threads`` (default 1) sets torch's threads and, before numpy loads, the
BLAS/OpenMP threads, so both sides run on one core: the machine's other load
hits both alike. Without the demo model a randomly initialised
efficientnet_b0 of the same shape is the peer (a notice is printed).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path


def _threads_from_argv(argv: list[str]) -> int:
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            return int(argv[i + 1])
        if a.startswith("--threads="):
            return int(a.split("=", 1)[1])
    return 1


_THREADS = _threads_from_argv(sys.argv)
if _THREADS > 0:   # before numpy is imported, or BLAS keeps its own thread pool
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(_THREADS))

import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from medadv_desktop.engine.corruptions import (  # noqa: E402
    ImageContext,
    available,
    corrupt_native_batch,
    default_corruptions,
    get_corruption,
)

DEMO_CARD = ROOT / "resources" / "demo_model" / "model_card.json"
DEMO_STUDY = ROOT / "resources" / "demo_study"
GOAL_SHARE = 0.20


def load_model():
    """(model, window (low, high), description)."""
    if DEMO_CARD.is_file():
        try:
            from medadv_desktop.engine.models import load_classifier

            model = load_classifier(DEMO_CARD, torch.device("cpu"))
            lo, hi = model.card.intensity.bounds(np.zeros(1, np.float32))
            return model, (lo, hi), f"demo model '{model.card.name}'"
        except Exception as exc:  # noqa: BLE001 - fall back, say why
            print(f"NOTICE: demo model not usable ({type(exc).__name__}: {exc}); using a random efficientnet_b0.")
    else:
        print("NOTICE: resources/demo_model not found; using a randomly initialised efficientnet_b0 (64 x 64).")
    from medadv_desktop.engine._torch_compat import import_timm

    torch.manual_seed(0)
    model = import_timm().create_model("efficientnet_b0", pretrained=False, in_chans=1, num_classes=2).eval()
    return model, (-160.0, 240.0), "fallback efficientnet_b0 (random weights), window 40 / 400 HU"


def demo_patches(n: int) -> np.ndarray:
    from medadv_desktop.engine.demo.synthesis import make_patch

    return np.stack([np.asarray(make_patch(0, "test", i).hu, dtype=np.float32) for i in range(n)])


def best_times(fns: dict, repeat: int) -> dict:
    best = {k: float("inf") for k in fns}
    for r in range(repeat + 1):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            if r:
                best[k] = min(best[k], time.perf_counter() - t)
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=64, help="patches per batch (default 64)")
    ap.add_argument("--severities", default="1-5",
                    help="severities to time, e.g. 3 or 1-5 (default 1-5, as the evaluation)")
    ap.add_argument("--threads", type=int, default=1,
                    help="threads for torch and numpy's BLAS (default 1; 0: the libraries' defaults)")
    ap.add_argument("--repeat", type=int, default=3, help="timed rounds, best kept (default 3)")
    ap.add_argument("--large", action="store_true",
                    help="also time the X-ray defaults on a full 1955 x 1841 chest CR beside a 224-px forward")
    args = ap.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    model, (lo, hi), what = load_model()
    native = demo_patches(args.batch)
    n = native.shape[0]
    ct = ImageContext("CT", (1.0, 0.478516, 0.478516), "HU")          # the demo patches' spacing
    mr = ImageContext("MR", (1.0, 0.478516, 0.478516))
    ct_names = set(default_corruptions("CT")) | {"jpeg"}   # jpeg: as an 8-bit export of the CT patches
    first, _, last = args.severities.partition("-")
    severities = tuple(range(int(first), int(last or first) + 1))
    from medadv_desktop.engine.io import open_path

    volume = open_path(DEMO_STUDY).studies[0]                        # for the volume-only corruptions
    print(f"Peer: {what}; {n} SYNTHETIC demo patches 64 x 64; torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s); numpy {np.__version__}; severities {list(severities)}")

    def forward() -> object:
        with torch.no_grad():
            # the evaluation maps native -> [0, 1] with the card's window, then runs the model
            x = torch.from_numpy(np.clip((native - lo) / (hi - lo), 0, 1)[:, None].astype(np.float32))
            return model(x)

    def timed(name: str, sev: int) -> Callable[[], object]:
        if get_corruption(name).volume_only:
            c = get_corruption(name)(severity=sev)
            return lambda: c.apply(volume.pixels, ImageContext.from_study(volume))
        ctx, data = (ct, native) if name in ct_names else (mr, native + 1024.0)
        return lambda: corrupt_native_batch(data, name, sev, context=ctx, seed=0)

    fns: dict[str, Callable[[], object]] = {"forward": forward}
    for name in available():
        for sev in severities:
            fns[f"{name}@{sev}"] = timed(name, sev)
    best = best_times(fns, args.repeat)
    t_fwd = best.pop("forward") / n
    print(f"Forward: {1 / t_fwd:8.1f} img/s  ({t_fwd * 1e3:.2f} ms per image, intensity mapping included)")
    print()
    print(f"{'corruption':18s} {'modality':8s} {'img/s':>9s} {'ms/img':>7s} {'fwd/corr':>9s} {'share':>7s}"
          "   (slowest severity)")
    total = 0.0
    cells = 0
    for name in available():
        per = [best[f"{name}@{s}"] / (volume.n_slices if get_corruption(name).volume_only else n) for s in severities]
        total += sum(per)
        cells += len(per)
        t = max(per)
        share = t / (t + t_fwd)
        where = "CT vol" if get_corruption(name).volume_only else ("CT" if name in ct_names else "MR")
        flag = "" if share <= GOAL_SHARE else "  above 20 % on its own"
        print(f"{name:18s} {where:8s} {1 / t:9.1f} {t * 1e3:7.3f} {t_fwd / t:9.1f} {share:7.1%}{flag}")
    overall = total / (total + cells * t_fwd)
    print()
    print(f"Evaluation of {len(available())} corruptions x severities {args.severities} ({cells} cells): corrupting "
          f"takes {overall:.1%} of the time, the model's forward {1 - overall:.1%} "
          f"(goal <= {GOAL_SHARE:.0%}): {'PASS' if overall <= GOAL_SHARE else 'FAIL'}")
    if args.large:
        large_image(args.repeat)
    return 0


def large_image(repeat: int) -> None:
    """X-ray defaults on a full chest CR (pydicom-data RG1_UNCR.dcm, 1955 x 1841) beside what a chest model
    spends on it: resizing to 224 x 224 and an efficientnet_b0 forward (random weights: speed only)."""
    from pydicom.data import get_testdata_file

    from medadv_desktop.engine._torch_compat import import_timm
    from medadv_desktop.engine.corruptions import corrupt_study
    from medadv_desktop.engine.io import open_path

    path = get_testdata_file("RG1_UNCR.dcm")
    if path is None:
        print("NOTICE: pydicom-data's RG1_UNCR.dcm is not installed; no large-image measurement.")
        return
    study = open_path(path).studies[0]
    torch.manual_seed(0)
    net = import_timm().create_model("efficientnet_b0", pretrained=False, in_chans=1, num_classes=2).eval()

    def forward() -> object:
        with torch.no_grad():
            x = torch.from_numpy(study.pixels[:, None])
            return net(torch.nn.functional.interpolate(x, size=(224, 224), mode="bilinear", antialias=True))

    names = default_corruptions(study.modality)
    fns: dict[str, Callable[[], object]] = {"forward": forward}
    for name in names:
        fns[name] = (lambda name=name: corrupt_study(study, name, 3, seed=0))  # type: ignore[misc]
    best = best_times(fns, max(1, repeat - 1))
    t_fwd = best.pop("forward")
    print()
    print(f"Large image: {study.modality} {study.pixels.shape[2]} x {study.pixels.shape[1]} (RG1_UNCR.dcm), "
          f"severity 3; peer: resize to 224 + efficientnet_b0 forward {t_fwd * 1e3:.0f} ms")
    for name in names:
        t = best[name]
        print(f"{name:18s} {t * 1e3:9.0f} ms  {t / t_fwd:6.1f}x the forward")
    total = sum(best.values())
    share = total / (total + len(names) * t_fwd)
    print(f"Corrupting takes {share:.1%} of a corruption-only evaluation of such images "
          f"(goal <= {GOAL_SHARE:.0%}: {'met' if share <= GOAL_SHARE else 'not met'})")


if __name__ == "__main__":
    raise SystemExit(main())
