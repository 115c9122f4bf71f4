"""The corruption evaluation job: a labelled data set x corruptions x severities -> CorruptionEvaluationResult.

Order of work::

    clean pass (chunks of whole studies)
    for corruption in corruptions:
        for severity in severities:
            for chunk: corrupt the chunk's studies in native units, map through the card, predict
            [optional: attack the corrupted images still classified right]
        summary of the corruption (corruption error relative to the clean error)

**Where the corruption acts.** On each study's native pixels (HU for CT),
before the model card's intensity mapping, as a scanner or an archive would
(see :mod:`medadv_desktop.engine.corruptions.apply`); the corrupted copy is
then mapped to [0, 1] by exactly the code that maps the clean study
(:meth:`LabelledDataset.to_tensors` with replacement studies), so severity 0
reproduces the clean predictions bit for bit.

**Seeds.** Every sample has its own generator, seeded by (seed, corruption,
sample id): a 2-D corruption of a slice does not depend on which other
samples are evaluated or in which chunk. A 3-D corruption (motion, slice
thickness, bias field) acts on a study's whole volume at once with a
generator seeded by (seed, corruption, study), so its slices are corrupted
consistently, as the physics requires.

**Memory.** Studies are processed in chunks of about ``chunk_samples``
samples (whole studies; a larger study is a chunk of its own): only one
chunk's corrupted copies exist at a time.

**Corruption then attack** (``attack`` given): on each row, the attack runs
on the corrupted images the model still classifies right; a sample counts as
robust when the attack fails on it. The clean row gets the same attack on the
clean images, so the table shows how much a corruption weakens robustness.

Cancellation is checked between chunks and inside the attacks.
"""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from medadv_desktop.engine.corruptions import Corruption, CorruptionConfigError, ImageContext, create_corruption
from medadv_desktop.engine.corruptions.base import modality_group
from medadv_desktop.engine.evaluation.common import (
    card_of, logits_batched, model_device, model_summary, software_versions, utc_now_iso)
from medadv_desktop.engine.jobs import CancelToken, Job, Progress, ProgressCallback
from medadv_desktop.engine.metrics import true_class_confidence
from medadv_desktop.engine.metrics.intervals import Proportion, proportion
from medadv_desktop.engine.metrics.per_class import class_rates
from medadv_desktop.engine.results.corruption import (
    CLEAN, ClassRow, CorruptionEvaluationResult, CorruptionRow, CorruptionSampleRecord, CorruptionSummary, Rate)
from medadv_desktop.engine.results.summaries import DatasetSummary
from medadv_desktop.engine.serialization import from_jsonable
from medadv_desktop.errors import DatasetError, ModelInputError

CHUNK_SAMPLES = 256


def _rate(p: Proportion) -> Rate:
    return Rate(k=p.k, n=p.n, value=p.value, low=p.low, high=p.high, method=p.method, confidence=p.confidence)


def _key(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def _study_key(dataset: Any, study_index: int) -> str:
    """A stable key of a study: its pseudonym (never PHI), else its first sample id without the slice."""
    study = dataset.studies[study_index]
    name = getattr(study, "pseudonym", None)
    if name:
        return str(name)
    first = next(s for s in dataset.samples if s.study_index == study_index)
    return first.sample_id.split("/slice-")[0]


def _chunks(dataset: Any, limit: int) -> list[list[int]]:
    """Sample indices in chunks of whole studies, about ``limit`` samples each."""
    by_study: dict[int, list[int]] = {}
    for i, s in enumerate(dataset.samples):
        by_study.setdefault(s.study_index, []).append(i)
    chunks: list[list[int]] = []
    current: list[int] = []
    for indices in by_study.values():
        if current and len(current) + len(indices) > limit:
            chunks.append(current)
            current = []
        current.extend(indices)
    if current:
        chunks.append(current)
    return chunks


def _level(corruption: Corruption, group: str | None) -> tuple[float | None, str]:
    if corruption.severity == 0 or group is None:
        return None, corruption.severity_unit
    return float(corruption.table_for(group)[corruption.severity - 1]), corruption.severity_unit


def _mean_measured(records: Sequence[Any]) -> dict[str, Any]:
    """Means of the numeric measured values over the samples (all() of booleans)."""
    keys: dict[str, list[Any]] = {}
    for rec in records:
        for k, v in rec.measured.items():
            keys.setdefault(k, []).append(v)
    out: dict[str, Any] = {}
    for k, values in keys.items():
        values = [v for v in values if v is not None]
        if values and all(isinstance(v, (bool, np.bool_)) for v in values):
            out[k] = bool(all(values))
        elif values and all(isinstance(v, (int, float, np.integer, np.floating)) for v in values):
            out[k] = round(float(np.mean([float(v) for v in values])), 6)
    return out


def corrupt_chunk(dataset: Any, chunk: Sequence[int], corruption: Corruption, seed: int
                  ) -> tuple[dict[int, Any], list[Any], float]:
    """Corrupted copies of the studies of ``chunk`` (sample indices): {study index: Study}, the
    records and the time spent. 3-D corruptions act on whole volumes, 2-D ones on each sample slice."""
    from medadv_desktop.engine.corruptions.apply import CorruptedStudy

    slices: dict[int, list[tuple[int, str]]] = {}
    for i in chunk:
        s = dataset.samples[i]
        slices.setdefault(s.study_index, []).append((s.slice_index, s.sample_id))
    replaced: dict[int, Any] = {}
    records: list[Any] = []
    t0 = time.perf_counter()
    for si, picks in slices.items():
        study = dataset.studies[si]
        context = ImageContext.from_study(study)
        if corruption.three_d or corruption.volume_only:
            rng = corruption.rng(1 + _key(f"{seed}/{_study_key(dataset, si)}"))
            pixels, record = corruption.apply(study.pixels, context, rng=rng)
            records.append(record)
        else:
            pixels = np.array(study.pixels, dtype=np.float32, copy=True)
            for sl, sample_id in picks:
                rng = corruption.rng(1 + _key(f"{seed}/{sample_id}"))
                out, record = corruption.apply(study.pixels[sl:sl + 1], context, rng=rng)
                pixels[sl] = out[0]
                records.append(record)
        replaced[si] = CorruptedStudy(pixels, records[-1]).to_study(study)
    return replaced, records, time.perf_counter() - t0


def check_fits(dataset: Any, corruption: Corruption) -> None:
    """Refuse a corruption that is not defined for some study of the data set (e.g. CT dose on MR),
    before any work, with the corruption's own reason."""
    seen: set[tuple[str, str, bool]] = set()
    for study in dataset.studies:
        context = ImageContext.from_study(study)
        key = (context.modality, context.units, study.n_slices > 1)
        if key in seen:
            continue
        seen.add(key)
        corruption.check(study.pixels, context)


def _row(name: str, label: str, severity: int, description: str, level: tuple[float | None, str],
         y: list[int], pred: list[int], clean_pred: list[int], conf: np.ndarray, clean_conf: np.ndarray,
         class_names: Sequence[str], records: Sequence[Any], time_s: float,
         robust: list[int] | None) -> CorruptionRow:
    n = len(y)
    correct = sum(1 for t, p in zip(y, pred, strict=True) if t == p)
    flips = sum(1 for a, b in zip(pred, clean_pred, strict=True) if a != b)
    newly_wrong = sum(1 for t, p, c in zip(y, pred, clean_pred, strict=True) if c == t and p != t)
    newly_right = sum(1 for t, p, c in zip(y, pred, clean_pred, strict=True) if c != t and p == t)
    acc = proportion(correct, n)
    per_class = [ClassRow(r.class_name, _rate(r.sensitivity), _rate(r.specificity))
                 for r in class_rates(y, pred, class_names)]
    return CorruptionRow(
        corruption=name, label=label, severity=severity, level=level[0], level_unit=level[1],
        description=description, n_samples=n, accuracy=_rate(acc),
        error=None if acc.value is None else 1.0 - acc.value, flips=_rate(proportion(flips, n)),
        newly_wrong=newly_wrong, newly_right=newly_right,
        mean_conf_change=float(np.mean(conf - clean_conf)) if n else None, per_class=per_class,
        parameters=dict(records[0].parameters) if records else {}, measured=_mean_measured(records),
        time_s=float(time_s),
        robust_accuracy=None if robust is None else _rate(proportion(
            sum(1 for t, p, a in zip(y, pred, robust, strict=True) if t == p == a), n)))


def _summary(name: str, label: str, rows: Sequence[CorruptionRow], clean_error: float | None) -> CorruptionSummary:
    errors = [r.error for r in rows if r.error is not None]
    ce = float(np.mean(errors)) if errors else None
    worst = min(rows, key=lambda r: (r.accuracy.value if r.accuracy.value is not None else 2.0, -r.severity),
                default=None)
    return CorruptionSummary(
        corruption=name, label=label, severities=[r.severity for r in rows], ce=ce,
        added_error=None if ce is None or clean_error is None else ce - clean_error,
        relative_ce=None if ce is None or not clean_error else ce / clean_error,
        worst_accuracy=None if worst is None else worst.accuracy.value,
        worst_severity=None if worst is None else worst.severity)


def _mean(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return float(np.mean(vals)) if vals else None


def corruption_evaluation_job(
        classifier: torch.nn.Module, dataset: Any, corruptions: Sequence[tuple[str, Mapping[str, Any]]],
        severities: Sequence[int], *, seed: int = 0, batch_size: int = 32, max_samples: int | None = None,
        attack: tuple[str, Mapping[str, Any]] | None = None, chunk_samples: int = CHUNK_SAMPLES,
        keep_samples: bool = True, cancel: CancelToken | None = None) -> Job[CorruptionEvaluationResult]:
    """Evaluate ``classifier`` on ``dataset`` under each corruption at each severity (module doc).

    ``dataset``: a :class:`~medadv_desktop.engine.datasets.LabelledDataset` read from studies (native
    pixels are needed). ``corruptions``: ``[(name, physical overrides), ...]``; ``severities``: 1..5.
    ``attack``: ``(name, params)`` with a parsed ``eps`` in [0, 1] for "corruption then attack".
    ``max_samples`` keeps a seeded, class-balanced subset. Yields :class:`Progress` (stage
    ``"corruption"``; ``data`` has ``corruption``, ``severity``, ``elapsed_s``, ``eta_s``) and returns a
    :class:`CorruptionEvaluationResult`.
    """
    cancel = cancel or CancelToken()
    card = card_of(classifier)
    if card is None:
        raise ModelInputError("A corruption evaluation needs a model loaded from a model card "
                              "(its intensity mapping turns the corrupted native pixels into the model's input).")
    if getattr(card, "spatial_dims", 2) == 3:
        raise ModelInputError("Data set evaluation takes 2-D models; this model classifies whole 3-D volumes.")
    if not getattr(dataset, "studies", None) or any(s.study_index < 0 for s in dataset.samples):
        raise DatasetError("A corruption evaluation needs the studies' native pixels; this data set holds only "
                           "[0, 1] images.", hint="Evaluate a data set folder (DICOM, NIfTI, PNG) instead.")
    sev = sorted({int(s) for s in severities})
    if not sev or any(not 1 <= s <= 5 for s in sev):
        raise CorruptionConfigError("severities are 1 to 5 (e.g. 1-5 or 1,3,5)", parameter="severities")
    if not corruptions:
        raise CorruptionConfigError("choose at least one corruption", parameter="corruptions")
    if max_samples is not None and len(dataset) > max_samples:
        dataset = dataset.head(int(max_samples), seed=seed)
    built = [(str(name), dict(params or {})) for name, params in corruptions]
    for name, params in built:                              # unknown names, bad overrides, misfits: before work
        check_fits(dataset, create_corruption(name, severity=1, seed=seed, **params))
    attacker = None
    if attack is not None:
        from medadv_desktop.engine.attacks.base import create_attack

        attacker = create_attack(attack[0], classifier, **{**dict(attack[1]), "seed": seed})

    t0 = time.perf_counter()
    n = len(dataset)
    class_names = list(getattr(classifier, "class_names", None) or dataset.class_names)
    y = [s.label for s in dataset.samples]
    if max(y) >= len(class_names):
        raise DatasetError(f"The data set has labels up to {max(y)} but the model has {len(class_names)} classes.")
    ids = [s.sample_id for s in dataset.samples]
    chunks = _chunks(dataset, max(1, int(chunk_samples)))
    dev = model_device(classifier)
    torch.manual_seed(seed)
    groups = {modality_group(getattr(s, "modality", "") or "") for s in dataset.studies}
    group = groups.pop() if len(groups) == 1 else None
    modalities = sorted({str(getattr(s, "modality", "") or "OT") for s in dataset.studies})
    total = float(n * (1 + len(built) * len(sev)))
    done = 0.0

    def event(message: str, **data: Any) -> Progress:
        elapsed = time.perf_counter() - t0
        eta = elapsed / done * (total - done) if done > 0 else None
        return Progress("corruption", done, total, message, {"elapsed_s": elapsed, "eta_s": eta, **data})

    def predict(replaced: Mapping[int, Any] | None, chunk: Sequence[int]
                ) -> tuple[list[int], np.ndarray, list[int] | None]:
        sub = dataset.subset(chunk)
        x, yt, _, _ = sub.to_tensors(card, studies=replaced)
        logits = logits_batched(classifier, x, batch_size, cancel)
        pred = logits.argmax(dim=1)
        conf = true_class_confidence(logits, yt)
        robust = None
        if attacker is not None:
            robust = pred.tolist()                          # samples not attacked keep their prediction
            right = torch.nonzero(pred == yt).flatten().tolist()
            for b in range(0, len(right), batch_size):
                cancel.raise_if_cancelled()
                idx = right[b:b + batch_size]
                out = attacker.perturb(x[idx].to(dev), yt[idx].to(dev), progress=ProgressCallback(cancel=cancel))
                for j, adv in zip(idx, out.adv_logits.detach().argmax(dim=1).cpu().tolist(), strict=True):
                    robust[j] = int(adv)
        return pred.tolist(), np.asarray(conf, dtype=np.float64), robust

    def run_pass(corruption: Corruption | None, label: str
                 ) -> Job[tuple[list[int], np.ndarray, list[int] | None, list[Any], float]]:
        nonlocal done
        pred: list[int] = [0] * n
        conf = np.zeros(n, dtype=np.float64)
        robust: list[int] | None = [0] * n if attacker is not None else None
        records: list[Any] = []
        spent = 0.0
        seen = 0
        for chunk in chunks:
            cancel.raise_if_cancelled()
            replaced = None
            if corruption is not None:
                replaced, recs, t = corrupt_chunk(dataset, chunk, corruption, seed)
                records.extend(recs)
                spent += t
            p, c, r = predict(replaced, chunk)
            for j, i in enumerate(chunk):
                pred[i] = p[j]
                conf[i] = c[j]
                if robust is not None and r is not None:
                    robust[i] = r[j]
            done += len(chunk)
            seen += len(chunk)
            yield event(f"{label}: {seen}/{n} samples")
        return pred, conf, robust, records, spent

    clean_pred, clean_conf, clean_robust, _, _ = yield from run_pass(None, "Clean predictions")
    clean_row = _row(CLEAN, "No corruption", 0, "no corruption", (None, ""), y, clean_pred, clean_pred,
                     clean_conf, clean_conf, class_names, [], 0.0, clean_robust)
    samples: list[CorruptionSampleRecord] = []
    if keep_samples:
        samples.extend(CorruptionSampleRecord(ids[i], y[i], CLEAN, 0, clean_pred[i], float(clean_conf[i]),
                                              None if clean_robust is None else clean_robust[i])
                       for i in range(n))
    rows: list[CorruptionRow] = []
    summaries: list[CorruptionSummary] = []
    params_used: dict[str, dict[str, Any]] = {}
    for name, params in built:
        corr_rows = []
        for s in sev:
            corruption = create_corruption(name, severity=s, seed=seed, **params)
            params_used[corruption.name] = dict(params)
            context = ImageContext(modality=modalities[0]) if group is not None else None
            description = corruption.describe(context)
            pred, conf, robust, records, spent = yield from run_pass(corruption, description)
            row = _row(corruption.name, corruption.label, s, description, _level(corruption, group), y, pred,
                       clean_pred, conf, clean_conf, class_names, records, spent, robust)
            corr_rows.append(row)
            rows.append(row)
            if keep_samples:
                samples.extend(CorruptionSampleRecord(
                    ids[i], y[i], corruption.name, s, pred[i], float(conf[i]),
                    None if robust is None else robust[i]) for i in range(n))
            yield event(f"{description}: accuracy {row.accuracy.value:.3f}", corruption=corruption.name,
                        severity=s)
        first = corr_rows[0]
        summaries.append(_summary(first.corruption, first.label, corr_rows, clean_row.error))

    attack_info = None
    if attacker is not None and attack is not None:
        eps = float(attacker.config.get("eps", attack[1].get("eps", math.nan)))
        npu = card.intensity.native_per_unit()
        units = {str(getattr(s, "units", "") or "") for s in dataset.studies}
        attack_info = {"name": attacker.name, "eps": eps, "eps_native": None if npu is None else eps * npu,
                       "units": units.pop() if len(units) == 1 else "", "norm": attacker.config.get("norm"),
                       "params": {k: v for k, v in attacker.config.items() if k != "eps"}}
    ds_summary = from_jsonable(DatasetSummary, dataset.summary())
    ds_summary.n_samples = n
    model_info = model_summary(classifier)
    provenance = {
        "software": software_versions(), "device": str(dev), "seed": seed, "date_utc": utc_now_iso(),
        "batch_size": batch_size, "chunk_samples": chunk_samples, "corruption_params": params_used,
        "elapsed_s": time.perf_counter() - t0, "torch_threads": torch.get_num_threads(),
        "corruption_time_s": float(sum(r.time_s for r in rows)),
        "model_name": card.name, "model_sha256": model_info.sha256,
        "where": "corruptions act on the studies' native pixels before the model card's intensity mapping",
    }
    result = CorruptionEvaluationResult(
        model=model_info, dataset=ds_summary, class_names=class_names, modality=",".join(modalities),
        corruptions=[s.corruption for s in summaries], severities=sev, seed=seed, n_samples=n, clean=clean_row,
        rows=rows, summaries=summaries, mce=_mean([s.ce for s in summaries]),
        mean_added_error=_mean([s.added_error for s in summaries]),
        relative_mce=_mean([s.relative_ce for s in summaries]), attack=attack_info, samples=samples,
        provenance=provenance)
    done = total
    yield event("Corruption evaluation finished")
    return result


__all__ = ["CHUNK_SAMPLES", "check_fits", "corrupt_chunk", "corruption_evaluation_job"]
