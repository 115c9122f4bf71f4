"""`medadv`: the command line front end. Each subcommand lives in its own module
(``cmd_<name>.py``) exposing ``register(subparsers)``; it sets ``func(args) -> int``.

The rules every command follows (tests/cli/test_errors.py and
tests/cli/test_option_fuzz.py check them):

* An error a user can cause (a file, a card, an option, the disk) is a
  :class:`~medadv_desktop.errors.MedAdvError`: ONE line on stderr,
  ``medadv: error: <what is wrong>``, exit status 2. Its hint (what to do)
  follows on a second line only with ``--verbose``.
* A bad option value is a usage error: one line, exit 2, found by the
  option parser before anything is loaded.
* An operating-system error that escapes the engine (a folder that cannot be
  read, a disk that fails) is one line and exit 2 as well.
* Warnings of the libraries (torch, numpy, pydicom, timm) are captured: shown,
  one line each, only with ``--verbose``, which also shows the engine's log.
* Names are printed safely whatever the terminal's encoding: a character the
  output cannot encode (a non-UTF-8 file name, an accent on an ASCII
  terminal) is written as ``\\uXXXX``.
* SIGTERM and SIGINT remove the temporary files of unfinished writes
  (:func:`~medadv_desktop.engine.safe_write.install_cleanup_handlers`); the
  command stops with one line and status 143 (SIGTERM) or 130 (SIGINT).
* No raw traceback reaches the user unless ``MEDADV_DEBUG=1``: an
  unexpected exception is one ``internal error`` line, exit 1.
"""

from __future__ import annotations

import argparse
import codecs
import importlib
import io
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Any

from medadv_desktop import __version__
from medadv_desktop.cli.options import MedAdvArgumentParser, short_word
from medadv_desktop.errors import MedAdvError

SUBCOMMANDS = ("info", "predict", "demo_data", "attack", "evaluate", "train_adv", "report",
               "corrupt", "evaluate_corruptions")
ESCAPE_ERRORS = "medadv-escape"


def one_line(text: object) -> str:
    """``text`` with every run of whitespace (newlines included) as one space, and any word longer than
    LONG_WORD characters shortened (its start and end kept), so an error line stays readable."""
    return " ".join(short_word(word) for word in str(text).split())


def _escape_unencodable(exc: UnicodeError) -> tuple[str, int]:
    """Codec error handler: each character the stream cannot encode becomes ``\\uXXXX`` (a UTF-16
    surrogate pair above U+FFFF), which is also a valid JSON escape. A byte of a non-UTF-8 file name,
    decoded by Python as a lone surrogate U+DC80..U+DCFF, is shown the same way."""
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    out = []
    for ch in exc.object[exc.start:exc.end]:
        cp = ord(ch)
        if cp > 0xFFFF:
            cp -= 0x10000
            out.append(f"\\u{0xD800 + (cp >> 10):04x}\\u{0xDC00 + (cp & 0x3FF):04x}")
        else:
            out.append(f"\\u{cp:04x}")
    return "".join(out), exc.end


codecs.register_error(ESCAPE_ERRORS, _escape_unencodable)


def safe_output_streams() -> None:
    """Make stdout and stderr escape what they cannot encode instead of raising UnicodeEncodeError
    (``PYTHONIOENCODING=ascii:strict``, a C locale without UTF-8 mode, a file name that is not UTF-8)."""
    for stream in (sys.stdout, sys.stderr):
        errors = getattr(stream, "errors", None)
        encoding = codecs.lookup(getattr(stream, "encoding", None) or "ascii").name
        if errors == "strict" or (errors == "surrogateescape" and encoding != "utf-8"):
            try:
                stream.reconfigure(errors=ESCAPE_ERRORS)  # type: ignore[union-attr]
            except (AttributeError, ValueError, io.UnsupportedOperation):
                pass


def build_parser() -> argparse.ArgumentParser:
    parser = MedAdvArgumentParser(
        prog="medadv",
        description="MedAdv: adversarial robustness testing of medical image classifiers. Errors are one line "
                    "(exit status 2); add --verbose for the hint, library warnings and the log.")
    parser.add_argument("--version", action="version", version=f"medadv {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show the hint of an error, library warnings and the engine's log on stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"medadv_desktop.cli.cmd_{name}").register(sub)
    for command in sub.choices.values():     # also after the command: medadv attack ... --verbose
        command.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                             help="show the hint of an error, library warnings and the engine's log")
    return parser


def print_error(exc: MedAdvError, verbose: bool = False) -> None:
    """The one error line (and, with ``verbose``, the hint on a second line)."""
    print(f"medadv: error: {one_line(exc)}", file=sys.stderr)
    if verbose and exc.hint:
        print(f"medadv: hint: {one_line(exc.hint)}", file=sys.stderr)


def _os_error_line(exc: OSError) -> str:
    from medadv_desktop.engine.safe_write import write_error

    reason = write_error(exc.filename or "", exc).reason
    name = Path(os.fsdecode(exc.filename)).name if isinstance(exc.filename, (str, bytes)) and exc.filename else ""
    return f"{reason}" + (f" ('{name}')" if name else "")


def _show_warnings(caught: list[warnings.WarningMessage], verbose: bool) -> None:
    if not verbose:
        return
    seen: set[tuple[str, str]] = set()
    for w in caught:
        key = (w.category.__name__, one_line(w.message))
        if key in seen:
            continue
        seen.add(key)
        print(f"medadv: warning: {key[0]}: {key[1][:500]} ({Path(w.filename).name}:{w.lineno})", file=sys.stderr)


def _run(args: argparse.Namespace, verbose: bool) -> int:
    try:
        return int(args.func(args) or 0)
    except MedAdvError as exc:
        print_error(exc, verbose)
        return 2
    except KeyboardInterrupt:
        print("medadv: interrupted (unfinished files were removed)", file=sys.stderr)
        return 130
    except SystemExit as exc:   # SIGTERM (engine/safe_write.py's handler raises SystemExit(128 + signal))
        if isinstance(exc.code, int) and exc.code > 128:
            print(f"medadv: stopped by signal {exc.code - 128} (unfinished files were removed)", file=sys.stderr)
            return exc.code
        raise
    except BrokenPipeError:  # e.g. `medadv info DIR | head`: the reader stopped early
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:      # the system refused a file or folder the engine did not wrap: still one line
        if os.environ.get("MEDADV_DEBUG"):
            raise
        print(f"medadv: error: {_os_error_line(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:  # last resort: no raw traceback for users
        if os.environ.get("MEDADV_DEBUG"):
            raise
        print(f"medadv: internal error: {exc.__class__.__name__}: {one_line(exc)[:300]} "
              "(set MEDADV_DEBUG=1 to see the full traceback and report it)", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    from medadv_desktop.engine.safe_write import install_cleanup_handlers

    safe_output_streams()
    install_cleanup_handlers()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:       # --help, --version (0) or a usage error (2, one line already printed)
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 2)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    verbose = bool(getattr(args, "verbose", False))
    logger = logging.getLogger("medadv_desktop")
    handler: logging.Handler | None = None
    level = logger.level
    if verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("medadv: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    caught: list[Any] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            code = _run(args, verbose)
    finally:
        if handler is not None:
            logger.removeHandler(handler)
            logger.setLevel(level)
    _show_warnings(caught or [], verbose)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
