"""`medadv predict --model CARD PATH`: class probabilities per image or slice.

PATH is a file (DICOM, NIfTI, PNG/JPEG/TIFF), a folder of studies, or a
labelled data set folder (one sub-folder per class of the card, or a
``labels.csv``); for a labelled folder the accuracy against the folder labels
is printed too (the prediction workflow, ``engine/workflows/predict.py``).
Studies are named by their pseudonym, never by header values.
"""

from __future__ import annotations

import argparse
import sys

from medadv_desktop.cli.options import add_card_options, device_arg, load_card, path_arg, positive_int
from medadv_desktop.cli.study_options import add_modality_option
from medadv_desktop.engine.workflows.predict import PredictionRun, predict_path, prediction_document


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "predict", help="print class probabilities per image or slice",
        description="Classify a study, a folder of studies, or a labelled data set folder (class sub-folders "
                    "named after the card's classes, or labels.csv: then the accuracy is printed too).")
    add_card_options(p)
    p.add_argument("path", metavar="PATH", type=path_arg, help="image file, study folder, or labelled data set folder")
    p.add_argument("--device", default="auto", type=device_arg,
                   help="auto (CUDA when available, else CPU), cpu, cuda or cuda:N")
    p.add_argument("--batch-size", type=positive_int, default=32, metavar="N",
                   help="images per forward pass (default 32)")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    add_modality_option(p)
    p.set_defaults(func=run)


def format_text(run: PredictionRun) -> str:
    names = run.class_names
    width = max(12, *(len(p.sample) for p in run.predictions)) if run.predictions else 12
    lines = [f"model: {run.model['name']} ({run.model['format']}"
             + (f" {run.model['architecture']}" if run.model.get("architecture") else "")
             + f", {len(names)} classes) on {run.device}"]
    use = (run.model.get("intended_use") or "").strip().splitlines()
    if use:
        lines.append(f"intended use: {use[0][:160]}")
    if run.synthetic:
        lines.append("note: synthetic demo data, not for clinical use")
    for p in run.predictions:
        probs = "  ".join(f"{c} {v:.3f}" for c, v in zip(names, p.probabilities))
        line = f"{p.sample:<{width}}  {probs}  -> {p.predicted}"
        if p.label is not None:
            line += f"  (label {p.label}{'' if p.correct else ', WRONG'})"
        lines.append(line)
    o = run.overall()
    counts = ", ".join(f"{c} {n}" for c, n in o["predicted_counts"].items())
    means = ", ".join(f"{c} {v:.3f}" for c, v in o["mean_probabilities"].items())
    lines.append(f"overall: {o['n_images']} image(s) in {o['n_studies']} stud{'y' if o['n_studies'] == 1 else 'ies'}; "
                 f"predicted {counts}; mean probability {means}")
    if "accuracy" in o:
        a = o["accuracy"]
        per = ", ".join(f"{c} {v['correct']}/{v['total']}" for c, v in a["per_class"].items())
        lines.append(f"accuracy {a['value']:.2f} ({a['correct']}/{a['total']}); per class: {per}")
    return "\n".join(lines)


def to_json(run: PredictionRun) -> str:
    from medadv_desktop.engine.serialization import dumps

    return dumps(prediction_document(run))


def run(args: argparse.Namespace) -> int:
    result = predict_path(load_card(args), args.path, device=args.device, batch_size=args.batch_size,
                          modality=args.modality)
    if args.json:
        print(to_json(result))
    else:
        print(format_text(result))
    if result.failures:
        print(f"medadv: {len(result.failures)} file(s) could not be read and were skipped:", file=sys.stderr)
        for name, reason in result.failures[:20]:
            print(f"  {name}: {reason}", file=sys.stderr)
        if len(result.failures) > 20:
            print(f"  ... and {len(result.failures) - 20} more", file=sys.stderr)
    return 0
