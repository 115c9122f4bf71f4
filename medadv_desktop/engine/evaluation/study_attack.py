"""Attack one opened study: the GUI's "current slice / whole volume / all studies"
scopes and ``medadv attack``.

A 2-D model attacks the chosen slices in batches (slice-wise); a 3-D model
attacks the whole volume at once. The adversarial study in native units is

    adv_native = clean_native + (adv_unit - clean_unit) * (high - low)

per slice, i.e. the perturbation found in the [0, 1] image carried back to the
study's units through the card's intensity mapping. Pixels outside the
intensity window keep their own values (they are not clipped to the window),
and the native perturbation never exceeds ``eps * (high - low)``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from medadv_desktop.engine.datasets import slice_sample_id
from medadv_desktop.engine.evaluation.common import card_of, make_records, model_device
from medadv_desktop.engine.jobs import CancelToken, Job, Progress, ProgressCallback
from medadv_desktop.engine.metrics import as_two_class_logits, summarize_records
from medadv_desktop.engine.results import AttackInfo, SampleRecord, StudyAttackResult
from medadv_desktop.errors import ModelInputError

DEFAULT_BATCH = 16


def attack_study_job(classifier: torch.nn.Module, study, slices: Sequence[int] | None, attack: str,
                     params: dict[str, Any], *, batch_size: int = DEFAULT_BATCH,
                     cancel: CancelToken | None = None,
                     on_attack_progress: Callable[[Progress], None] | None = None) -> Job[StudyAttackResult]:
    """Attack ``slices`` of ``study`` (all when None) with ``attack`` and ``params``.

    The label of each slice for the attack is the model's clean prediction
    (a study has no ground truth): an untargeted attack tries to change the
    prediction; ``success`` means it did. Yields Progress (stage ``"attack"``) between
    batches; ``on_attack_progress`` (optional) gets the attack's own events during a batch.
    """
    from medadv_desktop.engine.attacks.base import get_attack
    from medadv_desktop.engine.models.wrapper import study_to_unit, study_to_unit_volume

    cancel = cancel or CancelToken()
    card = card_of(classifier)
    if card is None:
        raise ModelInputError("Attacking a study needs a model loaded from a model card.")
    t0 = time.perf_counter()
    units = study.units or "a.u."
    attack_cls = get_attack(attack)
    params = attack_cls.parse_params(params, card.intensity.native_per_unit(), study.units)  # text budgets
    dev = model_device(classifier)
    volume = getattr(card, "spatial_dims", 2) == 3
    if volume:
        unit_v, b = study_to_unit_volume(study, card)           # (C, D, H, W)
        index = list(range(study.n_slices))
        x_all = torch.from_numpy(unit_v)[None]                  # (1, C, D, H, W)
        bounds = [(float(b[0]), float(b[1]))] * len(index)
        npu = np.array([b[1] - b[0]], dtype=np.float64)
    else:
        index = list(range(study.n_slices)) if slices is None else [int(s) % study.n_slices for s in slices]
        unit, bounds = study_to_unit(study, card, index)
        x_all = torch.from_numpy(unit)                          # (S, C, H, W)
        npu = np.array([hi - lo for lo, hi in bounds], dtype=np.float64)
    attack_obj = attack_cls(classifier, **params)
    eps = attack_obj.eps
    n = x_all.shape[0]
    pseudo = study.pseudonym or "STUDY"
    ids = [pseudo] if volume else [pseudo if study.n_slices == 1 else slice_sample_id(pseudo, s) for s in index]
    adv_parts: list[torch.Tensor] = []
    clean_logit_parts: list[torch.Tensor] = []
    adv_logit_parts: list[torch.Tensor] = []
    records: list[SampleRecord] = []
    targets: list[int] = []
    yield Progress("attack", 0, n, f"{attack_obj.label or attack}: starting", {"elapsed_s": 0.0})
    for b0 in range(0, n, batch_size):
        cancel.raise_if_cancelled()
        xb = x_all[b0:b0 + batch_size].to(dev)
        was_training = classifier.training
        classifier.eval()
        try:
            with torch.no_grad():
                clean_logits = as_two_class_logits(classifier(xb)).float()
        finally:
            classifier.train(was_training)
        yb = clean_logits.argmax(dim=1)
        out = attack_obj.perturb(xb, yb, progress=ProgressCallback(cancel=cancel, callback=on_attack_progress))
        cancel.raise_if_cancelled()
        adv_logits = as_two_class_logits(out.adv_logits.detach()).float()
        records.extend(make_records(
            sample_ids=ids[b0:b0 + batch_size], y=yb, attack=attack_obj.name or attack, eps=eps, clean=xb,
            adv=out.adv, clean_logits=clean_logits, adv_logits=adv_logits, success=out.success.cpu(),
            queries=out.queries.cpu() if out.queries is not None else None, time_s=out.elapsed_s,
            native_per_unit=npu[b0:b0 + batch_size]))
        adv_parts.append(out.adv.detach().float().cpu())
        clean_logit_parts.append(clean_logits.cpu())
        adv_logit_parts.append(adv_logits.cpu())
        if out.targets is not None:
            targets.extend(int(t) for t in out.targets.cpu())
        done = min(b0 + batch_size, n)
        elapsed = time.perf_counter() - t0
        yield Progress("attack", done, n, f"{attack_obj.label or attack}: {done}/{n} slice(s)",
                       {"elapsed_s": elapsed, "eta_s": elapsed / done * (n - done)})
    adv_all = torch.cat(adv_parts)
    clean_probs = torch.softmax(torch.cat(clean_logit_parts), dim=1).numpy()
    adv_probs = torch.softmax(torch.cat(adv_logit_parts), dim=1).numpy()
    if volume:   # (1, C, D, H, W) -> (D, C, H, W); the volume's prediction repeated per slice
        clean_unit = x_all[0].permute(1, 0, 2, 3).numpy()
        adv_unit = adv_all[0].permute(1, 0, 2, 3).numpy()
        clean_probs = np.repeat(clean_probs, len(index), axis=0)
        adv_probs = np.repeat(adv_probs, len(index), axis=0)
    else:
        clean_unit, adv_unit = x_all.numpy(), adv_all.numpy()
    clean_native = np.stack([study.pixels[i] for i in index]).astype(np.float32)
    delta = (adv_unit - clean_unit) * np.array([hi - lo for lo, hi in bounds], dtype=np.float32).reshape(-1, 1, 1, 1)
    if clean_native.ndim == 4:         # (S, H, W, C)
        delta = np.moveaxis(delta, 1, -1)
    else:
        delta = delta[:, 0]
    adv_native = (clean_native + delta).astype(np.float32)
    k = clean_probs.shape[1]
    widths = {round(hi - lo, 6) for lo, hi in bounds}
    eps_native = eps * widths.pop() if len(widths) == 1 else None
    row = summarize_records(records, attack_obj.name or attack, eps, eps_native, k)
    class_names = list(getattr(classifier, "class_names", None) or card.class_names)
    attack_cls = type(attack_obj)
    info = AttackInfo.from_attack(attack_cls, attack_obj.name or attack, dict(attack_obj.config),
                                  black_box=attack_cls.is_black_box(dict(attack_obj.config)))
    return StudyAttackResult(
        study=pseudo, attack=attack_obj.name or attack, params=dict(attack_obj.config), slices=index,
        class_names=class_names, clean_unit=clean_unit, adv_unit=adv_unit, clean_native=clean_native,
        adv_native=adv_native, bounds=[(float(lo), float(hi)) for lo, hi in bounds], clean_probs=clean_probs,
        adv_probs=adv_probs, records=records, row=row, eps=eps, eps_native=eps_native, units=units,
        elapsed_s=time.perf_counter() - t0, targets=targets or None, attack_info=info)
