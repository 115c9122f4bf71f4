"""How long an evaluation can take, said before it starts (no Qt).

An evaluation's cost is set by model calls: every attack spends at most
:meth:`Attack.model_calls` forward and forward+backward passes per sample and
budget. :func:`measure_call_seconds` times one batch of each kind on the
model and inputs that will be attacked (two calls each, the faster kept, after
a warm-up call); :func:`attack_seconds_upper_bound` multiplies. The result is
an *upper bound*: early stopping on success and the attack cascade (a later
attack only on the samples still robust) make real runs shorter, often much
shorter when a model is fragile. The front ends say so beside the number.

    speed = measure_call_seconds(classifier, x_batch)
    upper = attack_seconds_upper_bound(attacks, speed, n_samples=300, n_eps=3, n_classes=2, batch_size=32)

:func:`dataset_seconds_upper_bound` does both on a few samples of a labelled data set: what
``medadv evaluate``, the GUI's data-set evaluation and the before/after re-test say before they start.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["CallSeconds", "attack_seconds_upper_bound", "dataset_seconds_upper_bound", "measure_call_seconds",
           "model_calls_per_sample"]

#: samples timed for an estimate: a small batch costs at least as much per sample as a larger one, so the
#: bound scaled up from it stays a bound, and the probe stays cheap (a fraction of a second on the demo model)
PROBE_SAMPLES = 8


@dataclass(frozen=True)
class CallSeconds:
    """Measured seconds of one batch of ``batch`` samples: a forward pass, and a forward+backward pass to
    the input (what a gradient attack step costs)."""

    batch: int
    forward_s: float
    gradient_s: float


def measure_call_seconds(classifier: torch.nn.Module, x: torch.Tensor, *, repeats: int = 2) -> CallSeconds:
    """Time a forward and an input-gradient pass on ``x`` (one batch, on the model's device); the model's
    mode and parameter flags are restored."""
    was_training = classifier.training
    flags = [p.requires_grad for p in classifier.parameters()]
    try:
        classifier.eval()
        for p in classifier.parameters():
            p.requires_grad_(False)

        def forward() -> None:
            with torch.no_grad():
                classifier(x)

        def gradient() -> None:
            xi = x.detach().clone().requires_grad_(True)
            out = classifier(xi)
            out.float().logsumexp(dim=1).sum().backward()

        def best(call: Any) -> float:
            call()                                          # warm-up: first-call allocations, lazy init
            times = []
            for _ in range(max(1, repeats)):
                start = time.perf_counter()
                call()
                if x.is_cuda:
                    torch.cuda.synchronize(x.device)
                times.append(time.perf_counter() - start)
            return min(times)

        return CallSeconds(int(x.shape[0]), best(forward), best(gradient))
    finally:
        classifier.train(was_training)
        for p, flag in zip(classifier.parameters(), flags):
            p.requires_grad_(flag)


def model_calls_per_sample(attacks: Sequence[tuple[str, dict[str, Any]]], n_classes: int) -> tuple[int, int]:
    """The most ``(forward, forward+backward)`` passes one sample can cost over ``attacks`` at one budget."""
    from medadv_desktop.engine.attacks.base import get_attack

    forwards = gradients = 0
    for name, params in attacks:
        f, g = get_attack(name).model_calls(params, n_classes)
        forwards += f
        gradients += g
    return forwards, gradients


def attack_seconds_upper_bound(attacks: Sequence[tuple[str, dict[str, Any]]], speed: CallSeconds, *,
                               n_samples: int, n_eps: int, n_classes: int, batch_size: int,
                               n_models: int = 1) -> float:
    """Seconds ``attacks`` can take at most on ``n_samples`` samples at ``n_eps`` budgets for ``n_models``
    models of the measured speed (every attack on every sample, to its last step or query)."""
    forwards, gradients = model_calls_per_sample(attacks, n_classes)
    batches = math.ceil(max(0, n_samples) / max(1, batch_size))
    scale = min(batch_size, max(1, n_samples)) / max(1, speed.batch)      # per-batch time ~ batch size
    per_batch = (forwards * speed.forward_s + gradients * speed.gradient_s) * scale
    return per_batch * batches * max(1, n_eps) * max(1, n_models)


def dataset_seconds_upper_bound(classifier: Any, dataset: Any,
                                attacks: Sequence[tuple[str, dict[str, Any]]], *, n_samples: int, n_eps: int,
                                batch_size: int, seed: int = 0, n_models: int = 1) -> float:
    """At most how long ``attacks`` take on ``n_samples`` samples of the labelled data set ``dataset`` at
    ``n_eps`` budgets, for ``n_models`` models as fast as ``classifier``: timed on a seeded, class-balanced
    batch of at most :data:`PROBE_SAMPLES` of its samples, mapped by the classifier's card."""
    card = classifier.card
    probe = dataset.head(max(1, min(PROBE_SAMPLES, batch_size, n_samples)), seed=seed)
    x = probe.to_tensors(card)[0]
    param = next(iter(classifier.parameters()), None)
    device = param.device if param is not None else torch.device("cpu")
    speed = measure_call_seconds(classifier, torch.as_tensor(x, dtype=torch.float32, device=device))
    return attack_seconds_upper_bound(attacks, speed, n_samples=n_samples, n_eps=n_eps,
                                      n_classes=len(card.class_names), batch_size=batch_size, n_models=n_models)
