"""The attack contract: parameter schema, base class, output, registry.

Threat model (see README "Threat model"): attacks perturb the [0, 1] image the
reader sees (native units after the model card's intensity mapping), at the
study's own resolution. Resizing and normalisation live inside the
differentiable classifier wrapper. Every adversarial image is clipped to
[0, 1] and lies inside the eps-ball of the chosen norm.

A subclass sets ``name``, ``label``, ``black_box``, ``norms``, ``params``
(and, when it differs from the default, ``fast_settings``) and implements ``_run``; ``@register`` plus its module name
in ``attacks/__init__.py``'s ``BUILTIN`` make it appear in the GUI form, the CLI
options and help, the "full" suite, evaluations, reports and the attack
tests. The named suites (``standard``, ``quick``, ``full``) live in ``spec.py``. The model is called in exactly one place: ``_logits``, which runs the
BatchNorm-folded eval-mode view of the model (see
:mod:`medadv_desktop.engine.models.folding`) unless ``fold_bn`` is off.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from medadv_desktop.engine.attacks.spec import (  # re-exported: the attack modules import them from here
    COMMON_PARAMS,
    DEFAULT_SUITE,
    NORMS,
    SUITE_EVALUATE,
    SUITE_QUICK,
    SUITES,
    TARGET_MODES,
    ParamSpec,
    get_suite,
    parse_budget,
    parse_budget_list,
)
from medadv_desktop.engine.jobs import ProgressCallback
from medadv_desktop.errors import AttackConfigError, ModelInputError

__all__ = ["ATTACKS", "COMMON_PARAMS", "NORMS", "SUITE_EVALUATE", "SUITE_QUICK", "TARGET_MODES", "Attack",
           "AttackOutput", "ParamSpec", "available", "create_attack", "default_attacks", "get_attack", "parse_budget",
           "parse_budget_list", "register", "suite_attacks"]


@dataclass
class AttackOutput:
    """What an attack returns for one batch."""

    adv: torch.Tensor            # (N, C, H, W) or (N, C, D, H, W) in [0, 1]
    adv_logits: torch.Tensor     # (N, K) logits of the adversarial images
    success: torch.Tensor        # (N,) bool: fooled (untargeted) or hit the target
    queries: torch.Tensor        # (N,) int64 forward passes spent per sample
    elapsed_s: float = 0.0
    targets: torch.Tensor | None = None   # (N,) target classes when targeted
    extra: dict[str, Any] = field(default_factory=dict)


class Attack:
    """Base class. Construct with the model and parameters; call :meth:`perturb`."""

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    black_box: ClassVar[bool] = False
    norms: ClassVar[tuple[str, ...]] = NORMS
    description: ClassVar[str] = ""
    params: ClassVar[tuple[ParamSpec, ...]] = ()
    #: the suites (``spec.SUITES``) this attack runs in; set by :func:`register` from the suite table
    default_suites: ClassVar[tuple[str, ...]] = ()
    #: parameter sets that keep one run cheap (a few steps or queries), one per variant worth checking;
    #: the attack invariant tests (tests/engine/attacks/test_invariants.py) run every one of them
    fast_settings: ClassVar[tuple[dict[str, Any], ...]] = ({},)

    def __init__(self, model: nn.Module, **kwargs: Any) -> None:
        self.model = model
        values = self.check_params(kwargs)
        self.config = values
        self.eps = float(values["eps"])
        self.norm = values["norm"]
        self.targeted = values["targeted"]
        self.seed = int(values["seed"])
        self.early_stop = bool(values["early_stop"])
        self.queries = None
        self.fold_bn = bool(values["fold_bn"])
        #: the module the attack calls: the model, or its BatchNorm-folded view (set by perturb)
        self._net: nn.Module = model
        #: conv + BatchNorm pairs folded for the last perturb (0: the model ran as loaded)
        self.folded_pairs = 0

    @classmethod
    def schema(cls) -> tuple[ParamSpec, ...]:
        return COMMON_PARAMS + cls.params

    @classmethod
    def check_params(cls, params: Mapping[str, Any]) -> dict[str, Any]:
        """Every parameter validated (defaults filled in), without a model: the constructor's checks,
        so front ends can refuse bad options before anything is loaded. Raises AttackConfigError."""
        specs = {p.name: p for p in cls.schema()}
        unknown = set(params) - set(specs)
        if unknown:
            raise AttackConfigError(f"unknown parameter for {cls.label or cls.name}; known: {', '.join(specs)}",
                                    parameter=sorted(unknown)[0])
        values = {spec.name: spec.validate(params.get(spec.name, spec.default)) for spec in specs.values()}
        if values["norm"] not in cls.norms:
            raise AttackConfigError(f"{cls.label} supports {', '.join(cls.norms)} only", parameter="norm")
        return values

    @classmethod
    def parse_params(cls, params: Mapping[str, Any], native_per_unit: float | None = None,
                     units: str = "") -> dict[str, Any]:
        """``params`` with every text value parsed by its spec (budgets such as ``4/255`` or ``6HU``
        through ``native_per_unit``, fractions for numbers); other values and unknown names are
        left as they are (the constructor validates them)."""
        specs = {s.name: s for s in cls.schema()}
        out = dict(params)
        for name, value in params.items():
            spec = specs.get(name)
            if spec is not None and isinstance(value, str):
                out[name] = spec.parse_text(value, native_per_unit, units)
        return out

    @classmethod
    def is_black_box(cls, params: Mapping[str, Any] | None = None) -> bool:
        """True when the attack, with these parameters, needs only the model's outputs (no gradients)."""
        return bool(cls.black_box)

    @classmethod
    def model_calls(cls, params: Mapping[str, Any] | None = None, n_classes: int = 2) -> tuple[int, int]:
        """The most model calls one sample can cost, as ``(forward passes, forward+backward passes)``, with
        these parameters on a model with ``n_classes`` classes: every restart and target class run to the
        last step or query (early stopping on success only makes it cheaper). Used for time estimates
        (:mod:`medadv_desktop.engine.evaluation.estimate`); an attack with a different cost overrides it."""
        values = {spec.name: spec.default for spec in cls.schema()}
        values.update(params or {})
        runs = max(1, int(values.get("restarts") or 1))
        if "n_target_classes" in values and values.get("targeted", "none") == "none":
            runs *= max(1, min(int(values["n_target_classes"]), max(1, n_classes - 1)))
        if cls.is_black_box(values):
            return runs * max(1, int(values.get("n_queries") or 1)) + 1, 0
        return runs + 1, runs * max(1, int(values.get("steps") or 1))

    # -- the one place the model is called ---------------------------------
    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of the model, float32.

        On CUDA a 4-D batch is handed over in channels-last memory layout
        (faster convolutions, same values up to float rounding) and, only
        when the attack's ``amp`` parameter is on, the forward runs under
        bfloat16 autocast (faster, less exact gradients).
        """
        if x.is_cuda:
            if x.dim() == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            if getattr(self, "config", {}).get("amp"):
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    return self._net(x).float()
        return self._net(x)

    # -- public entry -------------------------------------------------------
    def perturb(self, x: torch.Tensor, y: torch.Tensor,
                progress: ProgressCallback | None = None) -> AttackOutput:
        """Attack a batch. ``x`` in [0, 1]; ``y`` the true labels (N,).

        The model's train/eval mode and requires_grad flags are restored even
        if the attack raises or is cancelled.
        """
        if not torch.isfinite(x).all():
            raise ModelInputError("The image contains NaN or infinite values; the attack cannot run on it.")
        was_training = self.model.training
        grad_flags = [p.requires_grad for p in self.model.parameters()]
        progress = progress or ProgressCallback()
        start = time.perf_counter()
        try:
            self.model.eval()
            for p in self.model.parameters():
                p.requires_grad_(False)
            x = x.detach()
            y = y.detach().to(x.device)
            self._net, self.folded_pairs = self.model, 0
            if self.fold_bn:
                from medadv_desktop.engine.models.folding import folded_for_attack
                folded = folded_for_attack(self.model, probe=x[:2])
                self._net, self.folded_pairs = folded.module, folded.pairs
            targets = self._resolve_targets(x, y)
            out = self._run(x, y, targets, progress)
            out.elapsed_s = time.perf_counter() - start
            out.targets = targets
            return out
        finally:
            self._net = self.model
            self.model.train(was_training)
            for p, flag in zip(self.model.parameters(), grad_flags):
                p.requires_grad_(flag)

    def _resolve_targets(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor | None:
        if self.targeted == "none":
            return None
        with torch.no_grad():
            logits = self._logits(x)
        if self.targeted == "least_likely":
            return logits.argmin(dim=1)
        k = logits.shape[1]
        t = int(self.config["target_class"])
        if not 0 <= t < k:
            raise AttackConfigError(f"class {t} does not exist (the model has {k} classes: 0..{k - 1})",
                                    parameter="target_class")
        return torch.full_like(y, t)

    def _is_success(self, logits: torch.Tensor, y: torch.Tensor, targets: torch.Tensor | None) -> torch.Tensor:
        pred = logits.argmax(dim=1)
        return pred == targets if targets is not None else pred != y

    def _run(self, x: torch.Tensor, y: torch.Tensor, targets: torch.Tensor | None,
             progress: ProgressCallback) -> AttackOutput:
        raise NotImplementedError


# -- registry -----------------------------------------------------------------
ATTACKS: dict[str, type[Attack]] = {}


def register(cls: type[Attack]) -> type[Attack]:
    ATTACKS[cls.name] = cls
    cls.default_suites = tuple(s.name for s in SUITES.values() if s.with_registered or cls.name in s.names)
    return cls


def available() -> list[str]:
    """The registered attack names, in registration order."""
    _load_builtin()
    return list(ATTACKS)


def suite_attacks(suite: str = DEFAULT_SUITE) -> list[tuple[str, dict[str, Any]]]:
    """``[(attack name, params)]`` of a named suite (``spec.SUITES``) in run order.

    The "full" suite appends every other registered attack (registry order,
    its defaults) to its fixed part.
    """
    s = get_suite(suite)
    specs = s.specs()
    if s.with_registered:
        listed = set(s.names)
        specs += [(name, {}) for name in available() if name not in listed]
    for name, _ in specs:
        get_attack(name)                  # a suite naming an attack that is not registered fails here
    return specs


def default_attacks(suite: str = DEFAULT_SUITE) -> list[str]:
    """The attack names of a suite (default: the standard suite), in run order; see :func:`suite_attacks`."""
    return [name for name, _ in suite_attacks(suite)]


def get_attack(name: str) -> type[Attack]:
    _load_builtin()
    try:
        return ATTACKS[name.lower()]
    except KeyError:
        raise AttackConfigError(f"no attack named '{name}'; available: {', '.join(ATTACKS)}",
                                parameter="attack") from None


def create_attack(name: str, model: nn.Module, **params: Any) -> Attack:
    return get_attack(name)(model, **params)


def _load_builtin() -> None:
    from medadv_desktop.engine.attacks import _register_builtin

    _register_builtin()
