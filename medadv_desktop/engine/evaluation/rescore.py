"""What is written is what is reported: re-score a study attack on the pixels its output file holds.

An attack finds its adversarial image in float [0, 1] units; the file written
from it stores the study's own type (8-bit or 16-bit PNG, integer DICOM values
through the rescale slope/intercept, ...). Rounding to that type can undo a
small perturbation, so a success claimed for the float image may not hold for
the file (issue 17: 2 of 33 PNGs reported fooled by PGD at 2/255 did not fool
the model when read back).

:func:`read_back` reads the written adversarial files with the project's own
reader (the same path a user's next ``medadv predict`` takes);
:func:`rescore_study_attack` maps those pixels through the model card exactly
as the attack's input was mapped, classifies them and rebuilds the result from
them: predictions, probabilities, success, perturbation measures and the
summary row. The slices whose float image fooled the model but whose written
file does not are returned, so front ends can say that rounding undid the
attack there.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from medadv_desktop.engine.evaluation.common import make_records, model_device
from medadv_desktop.engine.metrics import as_two_class_logits, summarize_records
from medadv_desktop.engine.results.study_attack import StudyAttackResult
from medadv_desktop.errors import ModelInputError


def read_back(paths: Sequence[Path], shape: tuple[int, ...]) -> np.ndarray:
    """The pixels (native units, float32) of the written adversarial files, slices in written order.

    ``shape`` is the study's pixel shape; a file set that reads back in
    another shape raises :class:`ModelInputError` (it cannot be verified).
    """
    from medadv_desktop.engine.io.reader import load_file

    parts = [np.asarray(load_file(Path(p)).pixels, dtype=np.float32) for p in paths]
    if not parts:
        raise ModelInputError("No adversarial file was written, so there is nothing to re-score.")
    pixels = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)
    if pixels.shape != tuple(shape):
        raise ModelInputError(f"The written adversarial image reads back with shape {pixels.shape}, the study has "
                              f"{tuple(shape)}; it could not be re-scored.")
    return pixels


def _logits(classifier: torch.nn.Module, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    dev = model_device(classifier)
    was_training = classifier.training
    classifier.eval()
    try:
        with torch.no_grad():
            return torch.cat([as_two_class_logits(classifier(x[i:i + batch_size].to(dev))).float().cpu()
                              for i in range(0, x.shape[0], batch_size)])
    finally:
        classifier.train(was_training)


def rescore_study_attack(classifier: torch.nn.Module, study: Any, result: StudyAttackResult,
                         written_pixels: np.ndarray, *, batch_size: int = 16
                         ) -> tuple[StudyAttackResult, list[int]]:
    """``result`` rebuilt from ``written_pixels`` (the whole study as read back from its written file).

    Returns ``(result, undone)``: ``undone`` lists the slices whose float
    adversarial image succeeded but whose written pixels do not. Queries and
    time per sample are kept from the attack; everything else is measured on
    the written pixels.
    """
    from medadv_desktop.engine.evaluation.common import card_of
    from medadv_desktop.engine.models.wrapper import study_to_unit, study_to_unit_volume

    card = card_of(classifier)
    written = dataclasses.replace(study, pixels=written_pixels)
    index = list(result.slices)
    volume = getattr(card, "spatial_dims", 2) == 3
    clean_unit = torch.from_numpy(np.ascontiguousarray(result.clean_unit))      # (S, C, H, W)
    if volume:
        unit_v, b = study_to_unit_volume(written, card)                        # (C, D, H, W)
        adv_x = torch.from_numpy(unit_v)[None]
        clean_x = clean_unit.permute(1, 0, 2, 3)[None]
        adv_unit = adv_x[0].permute(1, 0, 2, 3).numpy()
        npu = np.array([b[1] - b[0]], dtype=np.float64)
        ids = [result.records[0].sample_id]
    else:
        unit, bounds = study_to_unit(written, card, index)
        adv_x, clean_x, adv_unit = torch.from_numpy(unit), clean_unit, unit
        npu = np.array([hi - lo for lo, hi in bounds], dtype=np.float64)
        ids = [r.sample_id for r in result.records]
    adv_logits = _logits(classifier, adv_x, batch_size)
    clean_logits = torch.log(torch.from_numpy(np.asarray(result.clean_probs[:len(ids)], dtype=np.float64))
                             .clamp_min(1e-30)).float()
    y = clean_logits.argmax(dim=1)
    if result.targets:
        success = adv_logits.argmax(dim=1) == torch.tensor(result.targets[:len(ids)])
    else:
        success = adv_logits.argmax(dim=1) != y
    old = result.records
    records = make_records(
        sample_ids=ids, y=y, attack=result.attack, eps=result.eps, clean=clean_x, adv=adv_x,
        clean_logits=clean_logits, adv_logits=adv_logits, success=success,
        queries=torch.tensor([r.queries for r in old]), time_s=sum(r.time_s for r in old), native_per_unit=npu)
    undone = [index[k] if not volume else -1 for k, (o, r) in enumerate(zip(old, records)) if o.success and not r.success]
    if volume and undone:
        undone = list(index)
    adv_probs = torch.softmax(adv_logits, dim=1).numpy()
    if volume:
        adv_probs = np.repeat(adv_probs, len(index), axis=0)
    k = adv_probs.shape[1]
    row = summarize_records(records, result.attack, result.eps, result.eps_native, k)
    adv_native = np.stack([written_pixels[i] for i in index]).astype(np.float32)
    return dataclasses.replace(result, adv_unit=adv_unit, adv_native=adv_native, adv_probs=adv_probs,
                               records=records, row=row), undone
