"""The attack contract: parameter schema, base class, output, registry.

Threat model (see README "Threat model"): attacks perturb the [0, 1] image the
reader sees (native units after the model card's intensity mapping), at the
study's own resolution. Resizing and normalisation live inside the
differentiable classifier wrapper. Every adversarial image is clipped to
[0, 1] and lies inside the eps-ball of the chosen norm.

A subclass sets ``name``, ``label``, ``black_box``, ``norms``, ``params`` and
implements ``_run``. The model is called in exactly one place: ``_logits``,
which runs the BatchNorm-folded eval-mode view of the model (see
:mod:`medadv_desktop.engine.models.folding`) unless ``fold_bn`` is off.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from medadv_desktop.engine.jobs import ProgressCallback
from medadv_desktop.errors import AttackConfigError

TARGET_MODES = ("none", "class", "least_likely")
NORMS = ("linf", "l2")


@dataclass(frozen=True)
class ParamSpec:
    """One attack parameter, from which the GUI builds a form and the CLI an option."""

    name: str
    kind: str                  # "float" | "int" | "choice" | "bool" | "budget"
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    unit: str = ""             # "[0,1]" for budgets shown also in native units, "queries", "px"...
    help: str = ""
    choices: tuple[str, ...] = ()
    label: str = ""            # form label; default: the name with spaces

    @property
    def display_name(self) -> str:
        return self.label or self.name.replace("_", " ")

    def validate(self, value: Any) -> Any:
        if self.kind == "bool":
            if isinstance(value, str):
                return value.lower() in ("1", "true", "yes", "on")
            return bool(value)
        if self.kind == "choice":
            if value not in self.choices:
                raise AttackConfigError(f"'{value}' is not one of {', '.join(self.choices)}", parameter=self.name)
            return value
        try:
            v = int(value) if self.kind == "int" else float(value)
        except (TypeError, ValueError):
            raise AttackConfigError(f"'{value}' is not a number", parameter=self.name) from None
        if self.kind == "int" and float(value) != int(value):
            raise AttackConfigError(f"'{value}' must be a whole number", parameter=self.name)
        if v != v:  # NaN
            raise AttackConfigError("must be a number, not NaN", parameter=self.name)
        if self.minimum is not None and v < self.minimum:
            raise AttackConfigError(f"{v:g} is below the minimum {self.minimum:g}", parameter=self.name)
        if self.maximum is not None and v > self.maximum:
            raise AttackConfigError(f"{v:g} is above the maximum {self.maximum:g}", parameter=self.name)
        return v


COMMON_PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("eps", "budget", 2 / 255, 0.0, 1.0, "[0,1]",
              "Perturbation budget in [0, 1] image units (also shown in the study's native units)."),
    ParamSpec("norm", "choice", "linf", help="Distance measure of the budget.", choices=NORMS),
    ParamSpec("targeted", "choice", "none", help="none: any wrong class; class: a chosen class; least_likely: the clean least-likely class.",
              choices=TARGET_MODES),
    ParamSpec("target_class", "int", 0, 0, None, "", "Class index for targeted mode 'class'."),
    ParamSpec("seed", "int", 0, 0, None, "", "Random seed (random starts, Square, black-box search)."),
    ParamSpec("early_stop", "bool", True, help="Stop working on a sample as soon as it is fooled."),
    ParamSpec("fold_bn", "bool", True,
              help="Run the attack on a copy of the model with each BatchNorm folded into the convolution before it "
                   "(same outputs up to float rounding, fewer operations per pass). Off: the model exactly as loaded.",
              label="fold BatchNorm"),
)


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

    def __init__(self, model: nn.Module, **kwargs: Any) -> None:
        self.model = model
        values: dict[str, Any] = {}
        specs = {p.name: p for p in self.schema()}
        unknown = set(kwargs) - set(specs)
        if unknown:
            raise AttackConfigError(f"unknown parameter for {self.label or self.name}; known: {', '.join(specs)}",
                                    parameter=sorted(unknown)[0])
        for spec in specs.values():
            values[spec.name] = spec.validate(kwargs.get(spec.name, spec.default))
        if values["norm"] not in self.norms:
            raise AttackConfigError(f"{self.label} supports {', '.join(self.norms)} only", parameter="norm")
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
        #: added to ``seed`` for the local generator; attack_volume sets it per batch
        self._seed_offset = 0

    @classmethod
    def schema(cls) -> tuple[ParamSpec, ...]:
        return COMMON_PARAMS + cls.params

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
            from medadv_desktop.errors import ModelInputError
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
            raise AttackConfigError(f"class {t} does not exist (the model has {k} classes: 0..{k - 1})", parameter="target_class")
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
    return cls


def available() -> list[str]:
    _load_builtin()
    return list(ATTACKS)


def get_attack(name: str) -> type[Attack]:
    _load_builtin()
    try:
        return ATTACKS[name.lower()]
    except KeyError:
        raise AttackConfigError(f"no attack named '{name}'; available: {', '.join(ATTACKS)}", parameter="attack") from None


def create_attack(name: str, model: nn.Module, **params: Any) -> Attack:
    return get_attack(name)(model, **params)


def _load_builtin() -> None:
    if not ATTACKS:
        import medadv_desktop.engine.attacks  # noqa: F401  (registers on import)


# -- budgets ------------------------------------------------------------------
_BUDGET = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(?:/\s*([0-9]*\.?[0-9]+))?\s*([A-Za-z%]*)\s*$")


def parse_budget(text: str | float, native_per_unit: float | None = None, units: str = "") -> float:
    """Parse an eps such as ``0.01``, ``4/255`` or ``6HU`` into [0, 1] units.

    A value with a unit suffix (``6HU``, ``20a.u``) is in the study's native
    units and needs ``native_per_unit`` (native units per [0, 1] unit: the
    model card's window width, or the image's range for per-image mappings).
    """
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        m = _BUDGET.match(str(text))
        if not m:
            raise AttackConfigError(f"'{text}' is not a budget; write e.g. 0.01, 4/255 or 6HU", parameter="eps")
        num, den, unit = m.groups()
        value = float(num) / float(den) if den else float(num)
        if den is not None and float(den) == 0:
            raise AttackConfigError("division by zero", parameter="eps")
        if unit:
            if not native_per_unit:
                raise AttackConfigError(
                    f"'{text}' is in native units but this model card maps intensities per image; give eps in [0, 1] units (e.g. 2/255)",
                    parameter="eps")
            if units and unit.upper() != units.upper():
                raise AttackConfigError(f"unit '{unit}' does not match the study's units '{units}'", parameter="eps")
            value = value / native_per_unit
    if not 0 <= value <= 1:
        raise AttackConfigError(f"{value:g} is outside [0, 1]", parameter="eps")
    return value
