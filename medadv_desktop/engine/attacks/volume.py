"""Attacking volumes with a 2-D model: slice by slice, in batches."""

from __future__ import annotations

import time

import torch

from medadv_desktop.engine.attacks.base import Attack, AttackOutput
from medadv_desktop.engine.jobs import Progress, ProgressCallback
from medadv_desktop.errors import AttackConfigError, ModelInputError


def attack_volume(attack: Attack, volume_unit: torch.Tensor, labels: torch.Tensor, *, batch_size: int = 16,
                  progress: ProgressCallback | None = None) -> AttackOutput:
    """Attack a volume (S, C, H, W) in [0, 1] units slice by slice for a 2-D model.

    Slices are attacked in batches of ``batch_size`` (each slice is one
    sample with its own label in ``labels`` (S,)). Random starts and searches
    are drawn per slice from its own stream (seeded from ``attack.seed`` and
    the slice's pixels), so the result does not depend on ``batch_size``. Returns one :class:`AttackOutput` for all S
    slices (adv (S, C, H, W), logits, success, queries per slice). Emits a
    Progress("attack_volume", slices done, S) event after each batch and
    checks for cancellation between batches (the attack checks every step).

    For a 3-D model (input N x C x D x H x W) call ``attack.perturb`` on the
    whole volume instead: every attack accepts 5-D batches.
    """
    if volume_unit.dim() != 4:
        raise ModelInputError(f"attack_volume expects slices (S, C, H, W); got shape {tuple(volume_unit.shape)}. "
                              "For a 3-D model attack the (1, C, D, H, W) volume with attack.perturb.")
    if batch_size < 1:
        raise AttackConfigError("must be at least 1", parameter="batch_size")
    s = volume_unit.shape[0]
    labels = torch.as_tensor(labels, device=volume_unit.device).long().reshape(-1)
    if labels.numel() == 1 and s > 1:
        labels = labels.expand(s).clone()
    if labels.numel() != s:
        raise ModelInputError(f"{labels.numel()} labels for {s} slices; give one label per slice or one for all.")
    progress = progress or ProgressCallback()
    start = time.perf_counter()
    outs: list[AttackOutput] = []
    for lo in range(0, s, batch_size):
        progress.check()
        outs.append(attack.perturb(volume_unit[lo:lo + batch_size], labels[lo:lo + batch_size], progress))
        done = min(s, lo + batch_size)
        progress.report(Progress("attack_volume", done, s, f"{attack.label or attack.name}: {done}/{s} slices"))
    parts = [o.targets for o in outs if o.targets is not None]
    targets = torch.cat(parts) if len(parts) == len(outs) else None
    return AttackOutput(adv=torch.cat([o.adv for o in outs]), adv_logits=torch.cat([o.adv_logits for o in outs]),
                        success=torch.cat([o.success for o in outs]), queries=torch.cat([o.queries for o in outs]),
                        elapsed_s=time.perf_counter() - start, targets=targets,
                        extra={"batches": len(outs), "batch_size": batch_size})
