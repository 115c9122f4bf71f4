"""`medadv`: the command line front end. Each subcommand lives in its own module
(``cmd_<name>.py``) exposing ``register(subparsers)``; it sets ``func(args) -> int``.

Errors a user can cause are MedAdvError: printed as one clear message, exit 2.
No raw traceback reaches the user unless MEDADV_DEBUG=1.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from medadv_desktop import __version__
from medadv_desktop.errors import MedAdvError

SUBCOMMANDS = ("info", "predict", "demo_data", "attack", "evaluate", "train_adv", "report",
               "corrupt", "evaluate_corruptions")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="medadv",
        description="MedAdv: adversarial robustness testing of medical image classifiers.")
    parser.add_argument("--version", action="version", version=f"medadv {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"medadv_desktop.cli.cmd_{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except MedAdvError as exc:
        print(f"medadv: error: {exc.user_message()}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("medadv: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `medadv info DIR | head`: the reader stopped early
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # last resort: no raw traceback for users
        if os.environ.get("MEDADV_DEBUG"):
            raise
        print(f"medadv: internal error: {exc.__class__.__name__}: {exc}\n"
              "Set MEDADV_DEBUG=1 to see the full traceback and report it.", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
