"""Sanity flags: signs that an evaluation's numbers should not be trusted as is.

Modelled on AutoAttack's flags: each flag carries a written explanation that
says what was seen, why it matters and what to do.

* ``zero_gradients``: the input gradient of the margin ``z_y - max_{k!=y} z_k``
  (logits, so a saturated softmax does not hide it) is exactly zero for some
  samples. Gradient attacks (FGSM, PGD, SMIA, white-box vertical) cannot move
  those samples; their robustness is an artefact (gradient masking).
* ``probabilities``: every output row lies in [0, 1] (and rows sum to 1): the
  model returns probabilities instead of logits. Losses on probabilities
  saturate and weaken gradient attacks.
* ``nondeterministic``: two forward passes of the same input in eval mode
  differ by more than 1e-4 (absolute, on the outputs): dropout or noise stays
  active at test time; attacks then optimise a moving target and robust
  accuracy is inflated.
* ``black_box_beats_white_box``: at the same eps, a black-box (score-based)
  attack reaches a lower robust accuracy than every white-box attack. With
  working gradients this should not happen; it is the classic sign of
  gradient masking. With the attack cascade (cumulative rows, see
  ``evaluate_job``) a black-box row is compared with the white-box attacks
  that ran *before* it, as AutoAttack's own Square check does: the flag means
  the black-box attack still fooled images that those white-box attacks
  could not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from medadv_desktop.engine.results.evaluation import WORST_CASE, AttackRow, SanityFlag
from medadv_desktop.engine.metrics.distances import as_two_class_logits

NONDETERMINISM_TOL = 1e-4


def _forward(model, x: torch.Tensor) -> torch.Tensor:
    return as_two_class_logits(model(x))


def check_zero_gradients(model, x: torch.Tensor, y: torch.Tensor) -> SanityFlag | None:
    """Flag samples whose input gradient of the logit margin is exactly zero."""
    was_training = model.training
    try:
        model.eval()
        xg = x.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            z = _forward(model, xg)
            if not z.requires_grad:
                zero = x.shape[0]
            else:
                zy = z.gather(1, y.view(-1, 1)).squeeze(1)
                other = z.clone()
                other.scatter_(1, y.view(-1, 1), float("-inf"))
                margin = zy - other.amax(dim=1)
                grad, = torch.autograd.grad(margin.sum(), xg, allow_unused=True)
                if grad is None:
                    zero = x.shape[0]
                else:
                    zero = int((grad.detach().flatten(1).abs().amax(dim=1) == 0).sum())
    finally:
        model.train(was_training)
    if not zero:
        return None
    return SanityFlag(
        code="zero_gradients",
        title=f"Zero gradients for {zero} of {x.shape[0]} checked images",
        explanation=(
            f"The model's output does not change to first order when the input changes for {zero} of "
            f"{x.shape[0]} images (the input gradient is exactly zero). Gradient-based attacks (FGSM, PGD, "
            "SMIA, white-box vertical) cannot move these images, so their robust accuracy is an artefact "
            "(gradient masking), not real robustness. Typical causes: rounding, argmax or thresholding inside "
            "the model, or saturated activations. Trust the black-box attacks for this model: Square with at least "
            "5000 queries and p_init 0.8 (as in the standard suite, `--attacks standard`), or black-box "
            "vertical; and remove non-differentiable steps from the exported model if you can."))


def check_probabilities(outputs: torch.Tensor) -> SanityFlag | None:
    """Flag outputs that look like probabilities rather than logits."""
    z = outputs.detach().to(torch.float64)
    if z.numel() == 0:
        return None
    in_unit = bool(((z >= 0) & (z <= 1)).all())
    if not in_unit:
        return None
    sums_to_one = z.shape[1] > 1 and bool(((z.sum(dim=1) - 1).abs() < 1e-3).all())
    what = "rows are non-negative and sum to 1 (softmax)" if sums_to_one else "every value lies in [0, 1] (sigmoid)"
    return SanityFlag(
        code="probabilities",
        title="The model seems to output probabilities, not logits",
        explanation=(
            f"All outputs of the checked images look like probabilities: {what}. MedAdv applies its own "
            "softmax, and losses computed on probabilities saturate, which weakens gradient attacks and can "
            "make the model look more robust than it is. Export the model without its final softmax/sigmoid "
            "layer (set \"output\": \"sigmoid\" in the model card for a single-logit binary model)."))


def check_nondeterminism(model, x: torch.Tensor) -> SanityFlag | None:
    """Flag a model whose two forward passes of the same input differ (eval mode)."""
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            a = model(x)
            b = model(x)
    finally:
        model.train(was_training)
    diff = float((a.detach().to(torch.float64) - b.detach().to(torch.float64)).abs().max()) if a.numel() else 0.0
    if diff <= NONDETERMINISM_TOL:
        return None
    return SanityFlag(
        code="nondeterministic",
        title="The model gives different outputs for the same image",
        explanation=(
            f"Two forward passes of the same images differed by up to {diff:.3g} in the model's outputs. "
            "Randomness is active at test time (dropout or noise layers left on, or a stochastic defence). "
            "Attacks then chase a moving target and the measured robust accuracy is inflated; results will "
            "also not repeat. Put the model in evaluation mode when exporting it, or evaluate with an "
            "expectation-over-transformation attack before trusting these numbers."))


def check_black_box_beats_white_box(rows: Sequence[AttackRow], black_box: Mapping[str, bool],
                                    labels: Mapping[str, str] | None = None) -> list[SanityFlag]:
    """Per eps, flag a black-box attack whose robust accuracy is below every white-box one's.

    ``black_box``: row key -> the attack is black-box; ``labels``: row key -> how
    the flag's text names the attack (the result's ``attack_label``; default the key).

    Rows of one eps are taken in run order. A row with ``cumulative=False`` is
    compared with the other non-cumulative white-box rows (each attack's own
    robust accuracy); a cumulative row (attack cascade) with the white-box rows
    before it, which are cumulative too: a drop then means the black-box attack
    fooled images that the earlier white-box attacks missed. A margin of half a
    sample (0.5 / n) avoids flagging ties.
    """
    def name(key: str) -> str:
        return (labels or {}).get(key, key)

    flags = []
    by_eps: dict[float, list[AttackRow]] = {}
    for r in rows:
        if r.attack != WORST_CASE and r.attack in black_box:
            by_eps.setdefault(round(r.eps, 12), []).append(r)
    for eps, group in sorted(by_eps.items()):
        for pos, b in enumerate(group):
            if not black_box[b.attack]:
                continue
            cumulative = bool(getattr(b, "cumulative", False))
            if cumulative:
                white = [w for w in group[:pos] if not black_box[w.attack]]
            else:
                white = [w for w in group if not black_box[w.attack] and not getattr(w, "cumulative", False)]
            if not white:
                continue
            best_white = min(white, key=lambda r: r.robust_accuracy)
            margin = 0.5 / max(1, b.n_samples)
            if b.robust_accuracy >= best_white.robust_accuracy - margin:
                continue
            if cumulative:
                seen = (f"the white-box attacks before it left {best_white.robust_accuracy:.1%} robust accuracy "
                        f"(cumulative, up to '{name(best_white.attack)}'); the black-box attack "
                        f"'{name(b.attack)}' (which sees only the model's outputs) still fooled images they "
                        f"could not, down to "
                        f"{b.robust_accuracy:.1%}.")
            else:
                seen = (f"the black-box attack '{name(b.attack)}' (which sees only the model's outputs) left "
                        f"{b.robust_accuracy:.1%} robust accuracy, lower than the strongest white-box attack "
                        f"'{name(best_white.attack)}' ({best_white.robust_accuracy:.1%}), which uses the gradients.")
            flags.append(SanityFlag(
                code="black_box_beats_white_box",
                title=f"Black-box {name(b.attack)} beats the white-box attacks at eps {eps:.4g}",
                explanation=(
                    f"At eps {eps:.4g}, {seen} With trustworthy gradients this should not happen: it is the "
                    "classic sign of gradient masking (or of too few white-box steps). Treat the white-box "
                    f"numbers as optimistic; report the worst case, which includes '{name(b.attack)}', and for a reliable "
                    "one run the standard suite (APGD-CE, APGD-T, FAB-T, Square with 5000 queries and p_init 0.8).")))
    return flags


def model_sanity_flags(model, x: torch.Tensor, y: torch.Tensor) -> list[SanityFlag]:
    """Run the model checks (zero gradients, probabilities, nondeterminism) on a small batch."""
    flags = []
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            outputs = model(x)
    finally:
        model.train(was_training)
    for f in (check_probabilities(outputs), check_nondeterminism(model, x),
              check_zero_gradients(model, x, y)):
        if f is not None:
            flags.append(f)
    return flags
