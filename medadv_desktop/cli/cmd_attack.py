"""`medadv attack`: attack one study and write the adversarial image like the input.

    medadv attack --model CARD --attack pgd --eps 4/255 [--steps 10 --alpha 1/255 ...] PATH --out DIR

Writes into DIR (never overwriting anything):

* the adversarial study in the input's own format (DICOM: new SOP Instance
  UIDs, one new series, ImageType DERIVED; NIfTI: the same affine; PNG for
  raster images), named ``<pseudonym>_<attack>_adv``;
* the perturbation map ``adv - clean`` in the study's units
  (``<pseudonym>_<attack>_perturbation.nii.gz`` for volumes, ``.png`` + JSON
  scale side-car for 2-D images);
* ``<pseudonym>_<attack>_summary.json``: predictions before/after per slice,
  measures, eps in both units (no PHI).

and prints the prediction before and after per slice. Attack-specific options
are generated from each attack's parameter schema; ``--eps 6HU`` is converted
through the card's intensity window.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from medadv_desktop.errors import AttackConfigError, OutputExistsError

_COMMON = {"eps", "norm", "targeted", "target_class", "seed", "early_stop", "fold_bn"}
_FRACTION = re.compile(r"^\s*([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*/\s*([0-9]*\.?[0-9]+)\s*$")


def _attack_specs() -> dict[str, tuple[Any, list[str]]]:
    """{param name: (ParamSpec, [attack names using it])} for attack-specific options."""
    try:
        from medadv_desktop.engine.attacks import available, get_attack
    except ImportError:          # attacks not importable: only the common options
        return {}
    specs: dict[str, tuple[Any, list[str]]] = {}
    for name in available():
        for spec in get_attack(name).params:
            if spec.name in _COMMON:
                continue
            if spec.name in specs:
                specs[spec.name][1].append(name)
            else:
                specs[spec.name] = (spec, [name])
    return specs


def add_attack_options(p: argparse.ArgumentParser, *, with_eps: bool = True) -> None:
    """Common attack options now; one option per attack-specific parameter (from the attack
    schemas) when the sub-command is actually parsed, so that ``medadv --help`` and the other
    sub-commands do not pay for importing torch and the attacks."""
    if with_eps:
        p.add_argument("--eps", default="2/255", metavar="EPS",
                       help="budget: [0, 1] units (0.01, 4/255) or native units through the card's window (6HU)")
    p.add_argument("--norm", default="linf", choices=("linf", "l2"), help="distance measure of the budget")
    p.add_argument("--targeted", default="none", choices=("none", "class", "least_likely"),
                   help="none: any wrong class; class: --target-class K; least_likely: the clean least-likely class")
    p.add_argument("--target-class", type=int, default=0, metavar="K", help="class index for --targeted class")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--fold-bn", action=argparse.BooleanOptionalAction, default=True,
                   help="attack a copy of the model with each BatchNorm folded into the convolution before it: "
                        "same outputs up to float rounding, faster (default on; --no-fold-bn: the model as loaded)")
    p.__class__ = _SchemaOptionsParser


class _SchemaOptionsParser(argparse.ArgumentParser):
    """A sub-command parser that adds the attack-specific options on first use."""

    def parse_known_args(self, args=None, namespace=None):
        if not getattr(self, "_medadv_specs_added", False):
            self._medadv_specs_added = True
            self.set_defaults(_specs=_add_specific_options(self))
        return super().parse_known_args(args, namespace)


def _add_specific_options(p: argparse.ArgumentParser) -> dict[str, Any]:
    specs = _attack_specs()
    group = p.add_argument_group("attack-specific options (from each attack's parameter schema)")
    for pname, (spec, users) in sorted(specs.items()):
        flag = "--" + pname.replace("_", "-")
        unit = f" [{spec.unit}]" if spec.unit else ""
        defaults = {u: _default_of(u, pname) for u in users}
        if len({repr(v) for v in defaults.values()}) == 1:
            default_text = f"default {spec.default}"
        else:
            default_text = "defaults " + ", ".join(f"{u} {v}" for u, v in defaults.items())
        text = f"{spec.help}{unit} (attacks: {', '.join(users)}; {default_text})".replace("%", "%%")
        if spec.kind == "bool":
            group.add_argument(flag, dest=f"ap_{pname}", action=argparse.BooleanOptionalAction, default=None,
                               help=text)
        elif spec.kind == "choice":
            group.add_argument(flag, dest=f"ap_{pname}", choices=spec.choices, default=None, help=text)
        else:
            group.add_argument(flag, dest=f"ap_{pname}", default=None, metavar=spec.kind.upper(), help=text)
    return specs


def _default_of(attack: str, pname: str) -> Any:
    from medadv_desktop.engine.attacks import get_attack

    return next((sp.default for sp in get_attack(attack).params if sp.name == pname), None)


def _number(text: str, spec, native_per_unit: float | None, units: str) -> Any:
    """CLI text -> value: fractions (1/255) everywhere; native units (2HU) for [0,1] budgets."""
    from medadv_desktop.engine.attacks.base import parse_budget

    if spec.kind in ("budget",) or (spec.kind == "float" and spec.unit == "[0,1]"):
        return parse_budget(text, native_per_unit, units) if text.strip() not in ("0", "0.0") else 0.0
    m = _FRACTION.match(text)
    if m:
        return float(m.group(1)) / float(m.group(2))
    return text


def attack_params(args: argparse.Namespace, attack: str, specs: dict[str, Any],
                  native_per_unit: float | None, units: str) -> dict[str, Any]:
    """The params dict for ``create_attack`` from parsed CLI options (eps excluded)."""
    from medadv_desktop.engine.attacks import get_attack

    cls = get_attack(attack)
    own = {s.name: s for s in cls.params}
    params: dict[str, Any] = {"norm": args.norm, "targeted": args.targeted, "target_class": args.target_class,
                              "seed": args.seed, "fold_bn": args.fold_bn}
    for pname, (spec, users) in specs.items():
        value = getattr(args, f"ap_{pname}", None)
        if value is None:
            continue
        if pname not in own:
            raise AttackConfigError(
                f"is not an option of {cls.label or attack}; it applies to {', '.join(users)}",
                parameter=pname.replace("_", "-"))
        params[pname] = _number(value, own[pname], native_per_unit, units) if isinstance(value, str) else value
    return params


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "attack", help="attack one study and write the adversarial image like the input",
        description="Attack a study (DICOM file or series folder, NIfTI, PNG) and write the adversarial image "
                    "in the input's own format, the perturbation map and a JSON summary into --out.")
    p.add_argument("--model", required=True, metavar="CARD", help="model card (model_card.json or its folder)")
    p.add_argument("--attack", required=True, metavar="NAME", help="fgsm, pgd, square, vertical, smia")
    p.add_argument("--slices", default="all", metavar="all|3,4", help="slices to attack (0-based; default all)")
    p.add_argument("--device", default="auto", help="auto (CUDA when available, else CPU), cpu, cuda or cuda:N")
    p.add_argument("--batch-size", type=int, default=16, metavar="N", help="slices per attack batch (default 16)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created; files are never overwritten)")
    p.add_argument("path", metavar="PATH", help="the study: a DICOM file or series folder, NIfTI file, or image")
    add_attack_options(p)
    p.set_defaults(func=run)


def _parse_slices(text: str, n: int) -> list[int] | None:
    if text.strip().lower() in ("all", ""):
        return None
    out = []
    for part in text.split(","):
        part = part.strip()
        try:
            if "-" in part[1:]:
                a, b = part.split("-", 1)
                out.extend(range(int(a), int(b) + 1))
            else:
                out.append(int(part))
        except ValueError:
            raise AttackConfigError(f"'{text}' is not a slice list; write all, 3 or 3,4,7 or 2-5",
                                    parameter="slices") from None
    for s in out:
        if not 0 <= s < n:
            raise AttackConfigError(f"slice {s} does not exist; the study has slices 0..{n - 1}", parameter="slices")
    return out


def _progress_printer():
    tty = sys.stderr.isatty()
    last = [-1]

    def show(ev) -> None:
        pct = int(ev.fraction * 100)
        if tty:
            print(f"\r{ev.message[:70]:70s} {pct:3d}%", end="", file=sys.stderr, flush=True)
        elif pct // 25 != last[0] // 25 or ev.fraction >= 1:
            print(f"{ev.message} ({pct}%)", file=sys.stderr)
        last[0] = pct
    return show, tty


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from medadv_desktop.engine.evaluation.study_attack import attack_study_job
    from medadv_desktop.engine.io import open_study
    from medadv_desktop.engine.io.writers import write_float_map, write_study_like
    from medadv_desktop.engine.jobs import run_job
    from medadv_desktop.engine.models import load_classifier
    from medadv_desktop.engine.serialization import write_json
    from medadv_desktop.engine.attacks.base import parse_budget

    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputExistsError(out_dir)
    classifier = load_classifier(args.model, device=args.device)
    card = classifier.card
    study = open_study(args.path)
    npu_window = float(card.intensity.width) if card.intensity.mode == "window" else None
    eps = parse_budget(args.eps, npu_window, study.units)
    params = attack_params(args, args.attack, args._specs, npu_window, study.units)
    params["eps"] = eps
    slices = _parse_slices(args.slices, study.n_slices)
    name = args.attack.lower()
    stem = f"{study.pseudonym or 'STUDY'}_{name}"
    # refuse before the (possibly long) attack if the summary target is taken
    summary_path = out_dir / f"{stem}_summary.json"
    if summary_path.exists():
        raise OutputExistsError(summary_path)

    show, tty = _progress_printer()
    result = run_job(attack_study_job(classifier, study, slices, name, params, batch_size=args.batch_size), show)
    if tty:
        print(file=sys.stderr)

    adv_full = study.pixels.astype(np.float32).copy()
    for k, s in enumerate(result.slices):
        adv_full[s] = result.adv_native[k]
    written = write_study_like(study, adv_full, out_dir, stem=f"{stem}_adv",
                               description=f"MedAdv adversarial ({name}, eps {eps:.4g})")
    delta = adv_full - study.pixels.astype(np.float32)
    if delta.ndim == 4:                       # colour: largest channel change, signed
        idx = np.abs(delta).argmax(axis=-1)[..., None]
        delta = np.take_along_axis(delta, idx, axis=-1)[..., 0]
    if study.n_slices == 1:
        written += write_float_map(delta[0], out_dir / f"{stem}_perturbation.png", units=study.units,
                                   description="adversarial minus original")
    else:
        written += write_float_map(delta, out_dir / f"{stem}_perturbation.nii.gz", spacing=study.spacing,
                                   units=study.units, description="adversarial minus original")

    names = result.class_names
    units = study.units or "a.u."
    eps_native = f" = {result.eps_native:.3g} {units}" if result.eps_native is not None else ""
    print(f"Study {result.study}: {result.params.get('norm', 'linf')} eps {eps:.5g}{eps_native}, attack {name}, "
          f"{len(result.slices)} slice(s), {result.elapsed_s:.1f} s"
          + (" [synthetic demo data]" if study.synthetic else ""))
    print(f"{'slice':>6}  {'before':<24} {'after':<24} {'fooled':<6} {'Linf':>9} {'SSIM':>6}")
    per_slice = []
    for k, s in enumerate(result.slices):
        cb, ca = int(result.clean_pred[k]), int(result.adv_pred[k])
        rec = result.records[min(k, len(result.records) - 1)]
        before = f"{names[cb]} {result.clean_probs[k, cb]:.1%}"
        after = f"{names[ca]} {result.adv_probs[k, ca]:.1%}"
        linf = f"{rec.linf_native:.3g}" if rec.linf_native is not None else f"{rec.linf:.3g}"
        print(f"{s:>6}  {before:<24} {after:<24} {'yes' if ca != cb else 'no':<6} {linf:>9} "
              f"{(rec.ssim if rec.ssim is not None else float('nan')):>6.3f}")
        per_slice.append({"slice": s, "before": names[cb], "before_probabilities": result.clean_probs[k].tolist(),
                          "after": names[ca], "after_probabilities": result.adv_probs[k].tolist(),
                          "fooled": ca != cb})
    row = result.row
    print(f"Changed predictions: {sum(p['fooled'] for p in per_slice)}/{len(per_slice)}; "
          f"success rate {row.attack_success_rate if row.attack_success_rate is not None else 0:.0%}")
    summary = {"study": result.study, "attack": name, "params": result.params, "eps": eps,
               "eps_native": result.eps_native, "units": units, "model": card.name, "slices": per_slice,
               "summary_row": row, "records": result.records, "outputs": [p.name for p in written],
               "synthetic": study.synthetic}
    write_json(summary_path, summary)
    print(f"Wrote {len(written) + 1} file(s) to {out_dir}")
    return 0
