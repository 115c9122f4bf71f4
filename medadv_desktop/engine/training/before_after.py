"""Before/after adversarial training: the seed paper's Table 1 with an "after" column.

:func:`before_after_job` evaluates the original and the hardened model with
the same attacks, eps grid, samples and seed (``evaluate_job`` of
``engine/evaluation``) and pairs their accuracies in one table of
:class:`BeforeAfterRow`:

* ``attack == "clean"``, ``eps == 0``: clean accuracy;
* one row per attack and eps (the training eps is always in the grid):
  robust accuracy = fraction of samples still classified correctly;
* ``attack == "worst-case"``: a sample counts as robust only if every attack
  fails on it.

Accuracies are fractions in [0, 1]; eps in [0, 1] image units (L-inf unless
``norm`` says otherwise).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

from medadv_desktop.engine.jobs import CancelToken, Job, Progress, relay
from medadv_desktop.engine.results.before_after import (
    CLEAN,
    BeforeAfterResult,
    BeforeAfterRow,
    CorruptionBeforeAfterRow,
)
from medadv_desktop.engine.results.corruption import CorruptionEvaluationResult
from medadv_desktop.engine.results.evaluation import WORST_CASE, EvaluationResult
from medadv_desktop.engine.results.training import TrainingResult, TrainingSummary
from medadv_desktop.engine.serialization import from_jsonable


def merge_eps_grid(train_eps: float, eps_grid: Sequence[float] | None) -> list[float]:
    """The grid with the training eps added, sorted, without duplicates (to 1e-9)."""
    values = sorted({float(e) for e in (eps_grid or [])} | {float(train_eps)})
    out: list[float] = []
    for v in values:
        if not out or abs(v - out[-1]) > 1e-9:
            out.append(v)
    return out


def training_summary(training: TrainingResult | TrainingSummary | dict[str, Any] | None) -> TrainingSummary | None:
    """The training summary stored with a before/after table, from a run's result, a summary or its JSON."""
    if training is None or isinstance(training, TrainingSummary):
        return training
    if isinstance(training, TrainingResult):
        return training.summary()
    return from_jsonable(TrainingSummary, dict(training)) if training else None


def pair_results(before: EvaluationResult, after: EvaluationResult, train_eps: float, *,
                 training: TrainingResult | TrainingSummary | dict[str, Any] | None = None) -> BeforeAfterResult:
    """Pair two evaluations (same attacks and grid) into a :class:`BeforeAfterResult`."""
    rows = [BeforeAfterRow(CLEAN, 0.0, before.clean_accuracy, after.clean_accuracy)]
    attacks = list(before.attacks)
    order = attacks + [WORST_CASE]
    for attack in order:
        for i, eps in enumerate(before.eps_grid):
            rb, ra = before.row(attack, eps), after.row(attack, eps)
            if rb is None and ra is None:
                continue
            native = before.eps_native[i] if i < len(before.eps_native) else None
            rows.append(BeforeAfterRow(attack, float(eps), rb.robust_accuracy if rb else None,
                                       ra.robust_accuracy if ra else None, native,
                                       abs(eps - train_eps) < 1e-9))
    return BeforeAfterResult(rows=rows, train_eps=float(train_eps), eps_grid=list(before.eps_grid),
                             attacks=attacks, norm=before.norm, units=before.units, n_samples=before.n_samples,
                             training=training_summary(training), before=before, after=after,
                             attack_info=list(before.attack_info))


def before_after_job(original, hardened, dataset, attacks: Sequence[str | tuple[str, dict]], train_eps: float,
                     eps_grid: Sequence[float] | None = None, *, training: Any = None, norm: str = "linf",
                     batch_size: int = 32, seed: int = 0, max_samples: int | None = None, n_examples: int = 0,
                     device: str | None = None, cancel: CancelToken | None = None) -> Job[BeforeAfterResult]:
    """Evaluate the original and the hardened model against every attack; pair the results.

    ``original`` / ``hardened``: loaded classifiers or model card paths.
    ``dataset``: a ``LabelledDataset`` or a data folder (its ``test/``
    sub-folder when it has ``train/`` and ``test/``). ``attacks``: names
    (``"fgsm"``) or ``(name, params)`` pairs. The grid always includes
    ``train_eps``. ``training``: a ``TrainingResult`` (its summary is stored),
    a ``TrainingSummary`` or its JSON dict. Progress events come from ``evaluate_job`` with
    ``data["model"]`` = ``"before"`` / ``"after"``; ``done`` runs from 0 to
    ``total`` = 2 (one unit per model).
    """
    from medadv_desktop.engine.evaluation import evaluate_job

    cancel = cancel or CancelToken()
    grid = merge_eps_grid(train_eps, eps_grid)
    specs = [(a, {}) if isinstance(a, str) else (str(a[0]), dict(a[1] or {})) for a in attacks]
    models = []
    for m in (original, hardened):
        if isinstance(m, (str, Path)):
            from medadv_desktop.engine.models import load_classifier

            m = load_classifier(m, device=device)
        models.append(m)
    if isinstance(dataset, (str, Path)):
        from medadv_desktop.engine.datasets import LabelledDataset

        folder = Path(dataset)
        if (folder / "train").is_dir() and (folder / "test").is_dir():
            folder = folder / "test"
        dataset = LabelledDataset.from_folder(folder, list(models[0].card.class_names))
    if max_samples is not None and len(dataset) > max_samples:
        dataset = dataset.head(int(max_samples), seed=seed)

    results = []
    for k, (label, model) in enumerate(zip(("before", "after"), models)):
        # full_rows: the table compares each attack's own robust accuracy before and after training
        job = evaluate_job(model, dataset, specs, grid, norm=norm, batch_size=batch_size, seed=seed,
                           full_rows=True, n_examples=n_examples, cancel=cancel)
        results.append((yield from relay(job, transform=partial(_as_part, k, label))))
    return pair_results(results[0], results[1], train_eps, training=training)


def pair_corruption_results(before: CorruptionEvaluationResult, after: CorruptionEvaluationResult, *,
                            confidence: float = 0.95) -> list[CorruptionBeforeAfterRow]:
    """One row per corruption and severity of two corruption evaluations of the same samples (the
    original and the hardened model): accuracies and the paired change (Newcombe interval, exact
    McNemar p-value) from the per-sample records."""
    from medadv_desktop.engine.metrics.intervals import paired_comparison

    def right(result: CorruptionEvaluationResult, corruption: str, severity: int) -> dict[str, bool]:
        return {r.sample_id: r.pred == r.true_label for r in result.samples
                if r.corruption == corruption and r.severity == severity}

    rows = []
    for rb in before.rows:
        ra = after.row(rb.corruption, rb.severity)
        if ra is None:
            continue
        b, a = right(before, rb.corruption, rb.severity), right(after, rb.corruption, rb.severity)
        ids = [i for i in b if i in a]
        cmp = paired_comparison([b[i] for i in ids], [a[i] for i in ids], confidence=confidence) if ids else None
        rows.append(CorruptionBeforeAfterRow(
            rb.corruption, rb.severity, rb.description, rb.accuracy.value, ra.accuracy.value, n=rb.n_samples,
            change_low=cmp.low if cmp else None, change_high=cmp.high if cmp else None,
            p_value=cmp.p_value if cmp else None, level=rb.level, level_unit=rb.level_unit))
    return rows


def _as_part(k: int, label: str, event: Progress) -> Progress:
    """An event of the k-th of the two evaluations as progress of the whole job (0..2)."""
    return Progress("evaluate", k + event.fraction, 2.0,
                    f"{'original' if label == 'before' else 'hardened'} model: {event.message}",
                    {**event.data, "model": label})


def format_table(result: BeforeAfterResult) -> str:
    """The table as plain text (what the CLI prints); '*' marks the training eps."""
    units = result.units or ""
    lines = [f"{'attack':<12} {'eps':>10} {'native':>10} {'before':>8} {'after':>8} {'change':>8}"]
    for r in result.rows:
        eps = "-" if r.attack == CLEAN else f"{r.eps * 255:.3g}/255"
        native = "-" if r.eps_native is None or r.attack == CLEAN else f"{r.eps_native:.3g}{(' ' + units) if units else ''}"
        mark = "*" if r.at_training_eps and r.attack != CLEAN else " "
        before = "n/a" if r.accuracy_before is None else f"{100 * r.accuracy_before:.1f}%"
        after = "n/a" if r.accuracy_after is None else f"{100 * r.accuracy_after:.1f}%"
        change = "" if r.change is None else f"{100 * r.change:+.1f}"
        lines.append(f"{r.attack:<12} {eps:>9}{mark} {native:>10} {before:>8} {after:>8} {change:>8}")
    lines.append(f"(* training eps; accuracies on {result.n_samples} samples; worst-case = every attack must fail)")
    if result.corruption_rows:
        lines.append("")
        lines.append("Natural robustness (acquisition and archive corruptions, same samples; change with its "
                     "95 % paired interval):")
        lines.append(f"{'corruption':<16} {'sev':>3} {'level':>16} {'before':>8} {'after':>8} {'change':>8} "
                     f"{'95 % CI':>16} {'p':>6}")
        for c in result.corruption_rows:
            unit = c.level_unit.strip()
            level = "-" if c.level is None else f"{c.level:.4g}{'' if unit.startswith(':') else ' '}{unit}"
            before = "n/a" if c.accuracy_before is None else f"{100 * c.accuracy_before:.1f}%"
            after = "n/a" if c.accuracy_after is None else f"{100 * c.accuracy_after:.1f}%"
            change = "" if c.change is None else f"{100 * c.change:+.1f}"
            ci = ("" if c.change_low is None or c.change_high is None
                  else f"{100 * c.change_low:+.1f} to {100 * c.change_high:+.1f}")
            p = "" if c.p_value is None else f"{c.p_value:.2g}"
            lines.append(f"{c.corruption:<16} {c.severity:>3} {level[:16]:>16} {before:>8} {after:>8} {change:>8} "
                         f"{ci:>16} {p:>6}")
        worse = [c for c in result.corruption_rows if c.change_high is not None and c.change_high < 0]
        if worse:
            lines.append("Hardening cost natural robustness (interval below 0): "
                         + ", ".join(f"{c.corruption} severity {c.severity}" for c in worse))
    if result.corruption_note:
        lines.append(result.corruption_note)
    return "\n".join(lines)
