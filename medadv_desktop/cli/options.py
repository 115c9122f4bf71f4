"""Attack options of the CLI, generated from the attack registry and each attack's parameter schema.

The common options (``--eps``, ``--norm``, ``--targeted``...) come from
``attacks/spec.py`` (torch-free). The attack names in the help, the default
attack lists and one option per attack-specific parameter need the registry
(which imports torch): they are added when the sub-command is actually parsed
(``medadv attack ...``, ``medadv evaluate --help``), so ``medadv --help`` and
the other sub-commands stay fast. A newly registered attack shows up here
without any change to the CLI.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable
from typing import Any

from medadv_desktop.engine.attacks.spec import COMMON_NAMES, NORMS, TARGET_MODES, ParamSpec
from medadv_desktop.errors import AttackConfigError

Hook = Callable[[argparse.ArgumentParser], None]

#: longest file name component and path the CLI accepts (Linux NAME_MAX and PATH_MAX)
NAME_MAX = 255
PATH_MAX = 4095
_WHOLE = re.compile(r"[+-]?[0-9]{1,30}")
_DEVICE = re.compile(r"auto|cpu|mps|cuda(?::[0-9]{1,3})?", re.IGNORECASE)


#: a "word" of an error line longer than this (a 5000-character option value echoed back) is shortened;
#: paths (a fallback folder the user must find) are far shorter in practice and stay whole
LONG_WORD = 1000


def short_word(word: str) -> str:
    """``word``, or its start and end around the number of characters when it is over LONG_WORD."""
    return word if len(word) <= LONG_WORD else f"{word[:200]}...({len(word)} characters)...{word[-100:]}"


class MedAdvArgumentParser(argparse.ArgumentParser):
    """argparse with the CLI's error rule: a usage error is ONE line on stderr and exit status 2
    (``medadv: error: attack: argument --batch-size: ...; see 'medadv attack --help'``)."""

    def error(self, message: str):  # type: ignore[override]
        text = " ".join(short_word(word) for word in str(message).split())
        command = self.prog.split(" ", 1)[1] + ": " if " " in self.prog else ""
        self.exit(2, f"medadv: error: {command}{text}; see '{self.prog} --help'\n")

    def _get_values(self, action, arg_strings):  # type: ignore[no-untyped-def]
        # argparse drops a lone "--" given as a value (--out=--) and hands the option an empty list
        if action.nargs is None and action.option_strings and arg_strings == ["--"]:
            value = self._get_value(action, "--")
            self._check_value(action, value)
            return value
        return super()._get_values(action, arg_strings)


# -- option value types: bad values are usage errors (one line, exit 2), found before anything is loaded
def _whole(text: str) -> int:
    t = str(text).strip()
    if not _WHOLE.fullmatch(t):
        shown = t if len(t) <= 30 else t[:27] + "..."
        raise argparse.ArgumentTypeError(f"'{shown}' is not a whole number")
    return int(t)


def positive_int(text: str) -> int:
    """A whole number >= 1 (batch sizes, epochs, steps, sample counts)."""
    value = _whole(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    """A whole number >= 0 (indices, example counts)."""
    value = _whole(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 0, got {value}")
    return value


def seed_int(text: str) -> int:
    """A random seed: a whole number from 0 to SEED_MAX."""
    from medadv_desktop.engine.attacks.spec import SEED_MAX

    value = _whole(text)
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"a seed is a whole number from 0 to {SEED_MAX}, got {value}")
    return value


def finite_float(text: str) -> float:
    """A finite decimal number (no nan, inf); the option's own range is checked where it is used."""
    t = str(text).strip()
    try:
        value = float(t) if len(t) <= 40 else float("nan")
    except ValueError:
        value = float("nan")
    if value != value or value in (float("inf"), float("-inf")):
        shown = t if len(t) <= 30 else t[:27] + "..."
        raise argparse.ArgumentTypeError(f"'{shown}' is not a finite number")
    return value


def device_arg(text: str) -> str:
    """``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps`` (whether it is there is checked when the model loads)."""
    t = str(text).strip()
    if not _DEVICE.fullmatch(t):
        shown = t if len(t) <= 30 else t[:27] + "..."
        raise argparse.ArgumentTypeError(f"'{shown}' is not a device; use auto, cpu, cuda or cuda:N")
    return t.lower()


def path_arg(text: str) -> str:
    """A file or folder name the operating system can take (not empty, no NUL character, no component
    longer than NAME_MAX bytes, at most PATH_MAX bytes); whether it exists is checked where it is used."""
    if not text or not str(text).strip():
        raise argparse.ArgumentTypeError("an empty path was given")
    if "\0" in text:
        raise argparse.ArgumentTypeError("the path contains a NUL character")
    try:
        raw = os.fsencode(text)
    except (UnicodeError, ValueError):
        raise argparse.ArgumentTypeError("the path contains characters this system cannot use") from None
    if len(raw) > PATH_MAX or any(len(part) > NAME_MAX for part in raw.split(b"/")):
        raise argparse.ArgumentTypeError("the path is too long for this system")
    return text


def add_card_options(p: argparse.ArgumentParser) -> None:
    """``--model CARD`` and ``--allow-outside-card-dir`` (every command that loads a model card)."""
    p.add_argument("--model", required=True, metavar="CARD", type=path_arg,
                   help="model card (model_card.json or its folder)")
    p.add_argument("--allow-outside-card-dir", action="store_true",
                   help="trust this card's weights path even when it leads out of the card's folder (an absolute "
                        "path, '..', a symbolic link); off by default so a card cannot make MedAdv open any file")


def load_card(args: argparse.Namespace) -> Any:
    """The model card of ``--model`` (JSON only, no weights opened), its weights path confined to the
    card's folder (ModelCardError otherwise), with the confinement opt-in logged on stderr when given."""
    import sys

    from medadv_desktop.engine.models import ModelCard

    allow = bool(getattr(args, "allow_outside_card_dir", False))
    card = ModelCard.load(args.model, allow_outside_card_dir=allow)
    weights = card.weights_path     # the confinement check (no file opened): refused before any input is read
    if allow:
        print(f"medadv: note: --allow-outside-card-dir: the weights of '{card.name}' are read from "
              f"'{weights}', wherever the card points", file=sys.stderr)
    return card


class _LazyRegistryParser(MedAdvArgumentParser):
    """A sub-command parser that runs its registry hooks (attack names, options) on first use."""

    _medadv_hooks: list[Hook]

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[no-untyped-def, override]
        hooks, self._medadv_hooks = getattr(self, "_medadv_hooks", []), []
        for hook in hooks:
            hook(self)
        return super().parse_known_args(args, namespace)


def _on_first_parse(p: argparse.ArgumentParser, hook: Hook) -> None:
    if not isinstance(p, _LazyRegistryParser):
        p.__class__ = _LazyRegistryParser
        p._medadv_hooks = []  # type: ignore[attr-defined]
    p._medadv_hooks.append(hook)  # type: ignore[attr-defined]


def _action(p: argparse.ArgumentParser, dest: str) -> argparse.Action:
    return next(a for a in p._actions if a.dest == dest)


def add_attack_name_option(p: argparse.ArgumentParser) -> None:
    """``--attack NAME`` (one attack); the help lists the registered attacks."""
    p.add_argument("--attack", required=True, metavar="NAME", help="the attack")

    def hook(parser: argparse.ArgumentParser) -> None:
        from medadv_desktop.engine.attacks import available

        _action(parser, "attack").help = f"the attack: {', '.join(available())}"
    _on_first_parse(p, hook)


def add_attack_list_option(p: argparse.ArgumentParser, *, what: str = "attacks in run order",
                           suite: str | None = None) -> None:
    """``--attacks A,B`` or one suite name; the default is a suite (``spec.DEFAULT_SUITE`` unless given)."""
    p.add_argument("--attacks", default=None, metavar="A,B", help=what)

    def hook(parser: argparse.ArgumentParser) -> None:
        from medadv_desktop.engine.attacks import available
        from medadv_desktop.engine.attacks.spec import DEFAULT_SUITE, suite_help

        action = _action(parser, "attacks")
        action.default = suite or DEFAULT_SUITE
        action.help = (f"{what}, from {', '.join(available())}; or one suite ({suite_help()}) "
                       f"(default {action.default})")
    _on_first_parse(p, hook)


def attack_names(text: str) -> list[str]:
    return [a.strip().lower() for a in text.split(",") if a.strip()]


def add_attack_options(p: argparse.ArgumentParser, *, with_eps: bool = True) -> None:
    """The common attack options, then (on first parse) one option per attack-specific parameter."""
    if with_eps:
        p.add_argument("--eps", default="2/255", metavar="EPS",
                       help="budget: [0, 1] units (0.01, 4/255) or native units through the card's window (6HU)")
    p.add_argument("--norm", default="linf", choices=NORMS, help="distance measure of the budget")
    p.add_argument("--targeted", default="none", choices=TARGET_MODES,
                   help="none: any wrong class; class: --target-class K; least_likely: the clean least-likely class")
    p.add_argument("--target-class", type=non_negative_int, default=0, metavar="K",
                   help="class index for --targeted class")
    p.add_argument("--seed", type=seed_int, default=0, help="random seed (default 0)")
    p.add_argument("--fold-bn", action=argparse.BooleanOptionalAction, default=True,
                   help="attack a copy of the model with each BatchNorm folded into the convolution before it: "
                        "same outputs up to float rounding, faster (default on; --no-fold-bn: the model as loaded)")
    p.set_defaults(_specs={})
    _on_first_parse(p, lambda parser: parser.set_defaults(_specs=_add_specific_options(parser)))


def _attack_specs() -> dict[str, tuple[ParamSpec, list[str]]]:
    """{param name: (ParamSpec, [attack names using it])} for attack-specific options."""
    from medadv_desktop.engine.attacks import available, get_attack

    specs: dict[str, tuple[ParamSpec, list[str]]] = {}
    for name in available():
        for spec in get_attack(name).params:
            if spec.name in COMMON_NAMES:
                continue
            if spec.name in specs:
                specs[spec.name][1].append(name)
            else:
                specs[spec.name] = (spec, [name])
    return specs


def _add_specific_options(p: argparse.ArgumentParser) -> dict[str, tuple[ParamSpec, list[str]]]:
    from medadv_desktop.engine.attacks import get_attack

    specs = _attack_specs()
    group = p.add_argument_group("attack-specific options (from each attack's parameter schema)")
    for pname, (spec, users) in sorted(specs.items()):
        flag = "--" + pname.replace("_", "-")
        unit = f" [{spec.unit}]" if spec.unit else ""
        defaults = {u: next(s.default for s in get_attack(u).params if s.name == pname) for u in users}
        if len({repr(v) for v in defaults.values()}) == 1:
            default_text = f"default {spec.default}"
        else:
            default_text = "defaults " + ", ".join(f"{u} {v}" for u, v in defaults.items())
        text = f"{spec.help}{unit} (attacks: {', '.join(users)}; {default_text})".replace("%", "%%")
        if spec.kind == "bool":
            group.add_argument(flag, dest=f"ap_{pname}", action=argparse.BooleanOptionalAction, default=None,
                               help=text)
        elif spec.kind == "choice":
            group.add_argument(flag, dest=f"ap_{pname}", choices=spec.choices, default=None, help=text)
        else:
            group.add_argument(flag, dest=f"ap_{pname}", default=None, metavar=spec.kind.upper(), help=text)
    return specs


def given_specific_options(args: argparse.Namespace) -> dict[str, Any]:
    """{param name: value} of the attack-specific options given on the command line (text or bool)."""
    return {pname: getattr(args, f"ap_{pname}") for pname in args._specs
            if getattr(args, f"ap_{pname}", None) is not None}


def common_params(args: argparse.Namespace, *, with_norm_and_seed: bool = True) -> dict[str, Any]:
    params: dict[str, Any] = {"targeted": args.targeted, "target_class": args.target_class, "fold_bn": args.fold_bn}
    if with_norm_and_seed:
        params.update(norm=args.norm, seed=args.seed)
    return params


def params_for(args: argparse.Namespace, attack: str, *, strict: bool, with_norm_and_seed: bool = True
               ) -> dict[str, Any]:
    """The params of ``attack`` from the parsed options (values as typed: the workflow parses them).

    ``strict``: an option the attack does not have is an error (``medadv attack``);
    otherwise it is left out (``medadv evaluate`` passes each attack its own).
    """
    from medadv_desktop.engine.attacks import get_attack

    cls = get_attack(attack)
    own = {s.name for s in cls.params}
    params = common_params(args, with_norm_and_seed=with_norm_and_seed)
    for pname, value in given_specific_options(args).items():
        if pname in own:
            params[pname] = value
        elif strict:
            raise AttackConfigError(f"is not an option of {cls.label or attack}; it applies to "
                                    f"{', '.join(args._specs[pname][1])}", parameter=pname.replace("_", "-"))
    return params


def check_options_used(args: argparse.Namespace, attacks: list[str]) -> None:
    """Every attack-specific option given belongs to at least one of the chosen attacks."""
    from medadv_desktop.engine.attacks import get_attack

    for pname in given_specific_options(args):
        if not any(pname in {s.name for s in get_attack(a).params} for a in attacks):
            raise AttackConfigError(f"none of the chosen attacks has this option; it applies to "
                                    f"{', '.join(args._specs[pname][1])}", parameter=pname.replace("_", "-"))


def add_signoff_options(p: argparse.ArgumentParser) -> None:
    """``--requester``, ``--approver`` and ``--purpose``: the reports' sign-off block (staff names, not
    patients; the purpose is free text, checked by ``ReportMeta.create``)."""
    p.add_argument("--requester", default="", metavar="NAME", help="who asked for the evaluation (sign-off block)")
    p.add_argument("--approver", default="", metavar="NAME", help="who signs the report off (sign-off block)")
    p.add_argument("--purpose", default="", metavar="TEXT",
                   help="what the report is for, printed in the sign-off block (at most 2000 characters)")
