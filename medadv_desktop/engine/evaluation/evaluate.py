"""The evaluation job: a labelled data set x attacks x eps grid -> EvaluationResult.

Order of work::

    clean pass (batches)  ->  sanity checks on a small batch
    for eps in ascending eps_grid:
        for attack in attacks (in the given order):
            attack the samples that were correct on clean input, in batches
        summary row per attack + one 'worst-case' row

**Attack cascade (default, ``full_rows=False``).** As in AutoAttack, robust
accuracy per eps is the worst case over the attacks, and a later attack runs
only on the samples still robust to the earlier ones at the same eps. The
``worst-case`` row is exact: a sample counts as robust only if it is robust to
*every* attack, and a fooled sample keeps the record of the first attack (in
run order) that fooled it. The row of the first attack is that attack's own
robust accuracy; the rows of later attacks are *cumulative* (robust accuracy
after attacks 1..k; ``AttackRow.cumulative`` is True and reports mark them).

**Per-attack rows (``full_rows=True``).** Every attack runs on every sample
that was correct on clean input, so each row is that attack's own robust
accuracy (e.g. for a before/after table per attack). The worst-case row is the
same as with the cascade (for deterministic attacks; random starts draw per
batch, and the batches differ); it is slower, since later attacks also run on
samples an earlier attack already fooled.

**What makes it fast.**

* Per-sample early stopping inside the attacks (a fooled sample stops costing
  forward/backward passes), and batches of ``batch_size``.
* ``cascade=True`` (default) reuses results across the eps grid: a sample an
  attack fooled at a smaller eps is fooled at every larger eps (its
  adversarial image lies inside the larger ball too), so the attack is not
  re-run on it; its record is carried over (distances of the smaller-eps
  example). This never overstates robustness, and makes robust accuracy
  monotone in eps. ``cascade=False`` runs every attack at every eps on every
  clean-correct sample (the plain loop, e.g. as a benchmark baseline).
* The attack cascade above (``full_rows=False``, the default).

Cancellation is checked between batches and inside the attacks (through the
:class:`ProgressCallback` carrying the cancel token); a cancelled job raises
:class:`JobCancelled`. Once at least one attack row is complete, its
``partial`` is the :class:`EvaluationResult` of what finished (complete rows
and their samples, worst-case rows only where every attack ran, the eps grid
cut to the eps reached) carrying a ``"partial"`` sanity flag.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import torch

from medadv_desktop.engine.evaluation.examples import ExamplePicker, study_key
from medadv_desktop.engine.evaluation.common import (
    card_of, eps_in_native, example_panel, logits_batched, make_records, model_device,
    model_summary, software_versions, unattacked_record, utc_now_iso)
from medadv_desktop.engine.jobs import CancelToken, Job, Progress, ProgressCallback
from medadv_desktop.engine.metrics import (
    check_black_box_beats_white_box, classification_summary, model_sanity_flags,
    summarize_records, true_class_confidence, worst_case_records)
from medadv_desktop.engine.results import (
    WORST_CASE, AttackInfo, DatasetSummary, EvaluationResult, ExamplePanel, Provenance, SampleRecord, SanityFlag)
from medadv_desktop.engine.serialization import from_jsonable
from medadv_desktop.errors import AttackConfigError, DatasetError, JobCancelled, ModelInputError

SANITY_BATCH = 16


def _attack_labels(attacks: Sequence[tuple[str, dict]]) -> list[str]:
    labels: list[str] = []
    seen: dict[str, int] = {}
    for name, _ in attacks:
        key = name.lower()
        seen[key] = seen.get(key, 0) + 1
        labels.append(key if seen[key] == 1 else f"{key}-{seen[key]}")
    return labels


def partial_result_flag(rows: Sequence, labels: Sequence[str], grid: Sequence[float]) -> SanityFlag:
    """The flag a cancelled evaluation's partial result carries (``code == "partial"``)."""
    done = sum(1 for r in rows if r.attack != WORST_CASE)
    incomplete = [e for e in grid if not any(r.attack == WORST_CASE and abs(r.eps - e) < 1e-12 for r in rows)]
    text = (f"The evaluation was cancelled. This result holds the {done} attack row(s) of "
            f"{len(labels)} attack(s) x {len(grid)} eps that finished, with their per-sample records.")
    if incomplete:
        text += (" At eps " + ", ".join(f"{e:.4g}" for e in incomplete) + " not every attack ran, so there is "
                 "no worst-case row: the robust accuracy of those rows is an upper bound.")
    return SanityFlag("partial", "Cancelled: partial result", text, "warning")


def _check_eps_grid(eps_grid: Sequence[float]) -> list[float]:
    if not eps_grid:
        raise AttackConfigError("give at least one eps (e.g. 2/255)", parameter="eps")
    grid = []
    for e in eps_grid:
        e = float(e)
        if not (0 <= e <= 1) or math.isnan(e):
            raise AttackConfigError(f"{e:g} is outside [0, 1]", parameter="eps")
        grid.append(e)
    return sorted(set(grid))


def _burned_in_samples(dataset) -> set[int]:
    """Indices of the samples whose study may carry burned-in text (never shown as examples by default)."""
    studies = getattr(dataset, "studies", None) or []
    out = set()
    for i, sample in enumerate(getattr(dataset, "samples", [])):
        k = getattr(sample, "study_index", -1)
        if 0 <= k < len(studies) and getattr(studies[k], "burned_in_annotation", False):
            out.add(i)
    return out


def evaluate_job(classifier: torch.nn.Module, dataset, attacks: Sequence[tuple[str, dict]],
                 eps_grid: Sequence[float], *, norm: str = "linf", batch_size: int = 32, seed: int = 0,
                 cascade: bool = True, full_rows: bool = False, n_examples: int = 6,
                 max_samples: int | None = None, cancel: CancelToken | None = None,
                 on_attack_progress: Callable[[Progress], None] | None = None,
                 examples_with_burned_in: bool = False) -> Job[EvaluationResult]:
    """Evaluate ``classifier`` on ``dataset`` against ``attacks`` over ``eps_grid`` (see module doc).

    ``dataset``: a :class:`~medadv_desktop.engine.datasets.LabelledDataset`.
    ``attacks``: ``[(name, params), ...]``; ``eps``, ``norm`` and ``seed`` of
    the params are set from the grid / arguments. ``full_rows=False`` (default):
    the attack cascade, rows after the first attack are cumulative;
    ``full_rows=True``: every attack on every sample, each row the attack's own
    robust accuracy (slower). ``max_samples`` keeps a
    seeded, class-balanced subset. Yields :class:`Progress` (stage
    ``"evaluate"``; ``data`` has ``elapsed_s``, ``eta_s``, ``attack``, ``eps``)
    and returns an :class:`EvaluationResult`. The generator can only yield between
    batches; ``on_attack_progress`` (optional, e.g. a GUI signal's ``emit``) receives the
    attacks' own throttled events (stage ``"attack"``) *during* a batch, from the job's thread.
    Samples of studies flagged for burned-in annotation (``Study.burned_in_annotation``) are never
    picked as example images unless ``examples_with_burned_in``.
    """
    from medadv_desktop.engine.attacks.base import create_attack, get_attack

    cancel = cancel or CancelToken()
    grid = _check_eps_grid(eps_grid)
    attacks = [(str(n), dict(p or {})) for n, p in attacks]
    if not attacks:
        raise AttackConfigError("choose at least one attack", parameter="attack")
    labels = _attack_labels(attacks)
    black_box = {lab: get_attack(name).is_black_box(params) for lab, (name, params) in zip(labels, attacks)}
    card = card_of(classifier)
    if card is not None and getattr(card, "spatial_dims", 2) == 3:
        raise ModelInputError("Data set evaluation takes 2-D models; this model classifies whole 3-D volumes.",
                              hint="Attack single volumes with 'medadv attack' instead.")

    def build(i: int, eps: float):
        name, params = attacks[i]
        return create_attack(name, classifier, **{**params, "eps": eps, "norm": norm, "seed": seed})

    configs = {lab: dict(build(i, grid[0]).config) for i, lab in enumerate(labels)}  # validates early
    for c in configs.values():
        c.pop("eps", None)                       # the eps grid is recorded separately
    attack_info = [AttackInfo.from_attack(get_attack(name), lab, configs[lab], black_box=black_box[lab])
                   for lab, (name, _) in zip(labels, attacks)]

    t0 = time.perf_counter()
    yield Progress("evaluate", 0, 0, "Reading the data set")
    if max_samples is not None and len(dataset) > max_samples:
        dataset = dataset.head(int(max_samples), seed=seed)
    x, y, ids, npu = dataset.to_tensors(card)
    n = int(x.shape[0])
    if n == 0:
        raise DatasetError("The data set has no samples.")
    class_names = list(getattr(classifier, "class_names", None) or dataset.class_names)
    k = len(class_names)
    if int(y.max()) >= k:
        raise DatasetError(f"The data set has labels up to {int(y.max())} but the model has {k} classes.")
    dev = model_device(classifier)
    torch.manual_seed(seed)

    # ---- clean pass (total: an upper bound until the clean-correct samples are known)
    total = float(n + len(grid) * len(attacks) * n)
    done = 0.0

    def event(message: str, **data: Any) -> Progress:
        elapsed = time.perf_counter() - t0
        eta = elapsed / done * (total - done) if done > 0 else None
        return Progress("evaluate", done, total, message, {"elapsed_s": elapsed, "eta_s": eta, **data})

    parts = []
    for i in range(0, n, batch_size):
        cancel.raise_if_cancelled()
        parts.append(logits_batched(classifier, x[i:i + batch_size], batch_size))
        done += min(batch_size, n - i)
        yield event(f"Clean predictions {int(done)}/{n}", attack="clean")
    clean_logits = torch.cat(parts)
    clean_pred = clean_logits.argmax(dim=1)
    clean_conf = true_class_confidence(clean_logits, y)
    correct = (clean_pred == y)
    correct_idx = torch.nonzero(correct).flatten().tolist()
    summary = classification_summary(y.tolist(), clean_pred.tolist(), class_names)

    # ---- sanity checks on a small batch
    m = min(SANITY_BATCH, n)
    flags = model_sanity_flags(classifier, x[:m].to(dev), y[:m].to(dev))
    flags += [SanityFlag("double_normalisation", "The model may normalise its input twice", text)
              for text in getattr(classifier, "load_warnings", [])]
    cancel.raise_if_cancelled()

    total = float(n + len(grid) * len(attacks) * len(correct_idx))
    eps_native = [eps_in_native(card, e) for e in grid]
    rows = []
    samples: list[SampleRecord] = []
    picker = ExamplePicker(max(0, int(n_examples)))      # flip directions, largest eps, one per study
    fooled_before: dict[str, dict[int, SampleRecord]] = {lab: {} for lab in labels}  # eps reuse
    wrong_records = {i: None for i in range(n) if not correct[i]}
    no_example = set() if examples_with_burned_in else _burned_in_samples(dataset)

    cancelled = False
    try:
        for ei, eps in enumerate(grid):
            at_eps: list[dict[int, SampleRecord]] = []
            for ai, lab in enumerate(labels):
                attack = build(ai, eps)
                records: dict[int, SampleRecord] = {}
                todo = list(correct_idx)
                if cascade:
                    for i, rec in fooled_before[lab].items():
                        records[i] = replace(rec, eps=float(eps))
                    todo = [i for i in todo if i not in records]
                if not full_rows and ai > 0:
                    for i in list(todo):
                        prev = next((r[i] for r in at_eps if i in r and r[i].adv_pred != r[i].true_label), None)
                        if prev is not None:
                            records[i] = replace(prev, attack=lab, queries=0, time_s=0.0)
                            todo.remove(i)
                done += len(correct_idx) - len(todo)
                for b in range(0, len(todo), batch_size):
                    cancel.raise_if_cancelled()
                    idx = todo[b:b + batch_size]
                    xb = x[idx].to(dev)
                    yb = y[idx].to(dev)
                    out = attack.perturb(xb, yb, progress=ProgressCallback(cancel=cancel, callback=on_attack_progress))
                    cancel.raise_if_cancelled()
                    recs = make_records(
                        sample_ids=[ids[i] for i in idx], y=y[idx], attack=lab, eps=eps, clean=xb, adv=out.adv,
                        clean_logits=clean_logits[idx], adv_logits=out.adv_logits, success=out.success.cpu(),
                        queries=out.queries.cpu() if out.queries is not None else None, time_s=out.elapsed_s,
                        native_per_unit=npu[idx])
                    for j, (i, rec) in enumerate(zip(idx, recs)):
                        records[i] = rec
                        if rec.adv_pred != rec.true_label:
                            fooled_before[lab][i] = rec
                        def make(rec: SampleRecord = rec, i: int = i, j: int = j, out: Any = out,
                                 xb: torch.Tensor = xb) -> ExamplePanel:
                            adv_conf = float(torch.softmax(out.adv_logits[j].detach().float().cpu(), 0).max())
                            clean_c = float(torch.softmax(clean_logits[i], 0).max())
                            return example_panel(rec, xb[j], out.adv[j], adv_conf, clean_c, float(npu[i]))

                        picker.offer(rec, study_key(rec.sample_id), make, burned_in=i in no_example)
                    done += len(idx)
                    yield event(f"{lab} eps {eps:.4g}: {min(b + batch_size, len(todo))}/{len(todo)} samples",
                                attack=lab, eps=eps)
                for i in wrong_records:
                    records[i] = unattacked_record(ids[i], int(y[i]), lab, eps, int(clean_pred[i]), clean_conf[i])
                at_eps.append(records)
                ordered = [records[i] for i in range(n)]
                samples.extend(ordered)
                row = summarize_records(ordered, lab, eps, eps_native[ei], k)
                row.cumulative = (not full_rows) and ai > 0
                rows.append(row)
            wc = worst_case_records([[r[i] for i in range(n)] for r in at_eps])
            rows.append(summarize_records(wc, WORST_CASE, eps, eps_native[ei], k))
            yield event(f"eps {eps:.4g} done", eps=eps)
    except JobCancelled:
        if not rows:
            raise
        # keep what finished: complete attack rows (each with its per-sample records); a worst-case row
        # only for an eps whose attacks all finished (a worst case over fewer attacks would overstate
        # robustness)
        cancelled = True
        grid = [e for e in grid if any(abs(r.eps - e) < 1e-12 for r in rows)]
        eps_native = [eps_in_native(card, e) for e in grid]
        flags.append(partial_result_flag(rows, labels, grid))

    flags.extend(check_black_box_beats_white_box(rows, black_box, {a.attack: a.title for a in attack_info}))
    units = "a.u."
    if card is not None and card.intensity.native_per_unit() is not None:
        study_units = {getattr(s, "units", "") for s in getattr(dataset, "studies", [])}
        units = study_units.pop() if len(study_units) == 1 and "" not in study_units else "a.u."
    model_info = model_summary(classifier)
    provenance = Provenance(
        software=software_versions(), device=str(dev), seed=seed, date_utc=utc_now_iso(), norm=norm,
        batch_size=batch_size, cascade=cascade, full_rows=full_rows, elapsed_s=time.perf_counter() - t0,
        torch_threads=torch.get_num_threads(),
        model_name=(card.name if card is not None else type(classifier).__name__), model_sha256=model_info.sha256,
        threat_model=("perturbations of the [0, 1] image after the model card's intensity mapping, "
                      "at the study's resolution; adversarial images clipped to [0, 1]"))
    ds_summary = from_jsonable(DatasetSummary, dataset.summary() if hasattr(dataset, "summary") else {})
    ds_summary.n_samples = n
    result = EvaluationResult(
        model=model_info, dataset=ds_summary, class_names=class_names, norm=norm,
        eps_grid=grid, eps_native=eps_native, units=units, attacks=labels, n_samples=n,
        clean_accuracy=summary.accuracy, balanced_accuracy=summary.balanced_accuracy,
        per_class=summary.per_class, rows=rows, samples=samples, flags=flags, examples=picker.pick(),
        provenance=provenance, clean_confusion=summary.confusion, attack_info=attack_info)
    if cancelled:
        raise JobCancelled(partial=result)
    done = total
    try:
        yield event("Evaluation finished")
    except JobCancelled:
        pass            # a cancel that arrives once every attack has finished does not discard the result
    return result
