"""The ``medadv-desktop`` entry point (and the bundle's, installer/entry.py).

    medadv-desktop [PATH ...] [--demo] [--model CARD] ...   the GUI (medadv_desktop.ui.app.main)
    medadv-desktop --self-test [--keep DIR] [--steps a,b]   the headless self-test (medadv_desktop.selftest)

The dispatch lives here, above both, so that the GUI package never imports
the self-test (an import-linter contract in pyproject.toml).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--self-test" in argv:
        from medadv_desktop.selftest import main as self_test

        return self_test([a for a in argv if a != "--self-test"])
    from medadv_desktop.ui.app import main as gui_main

    return gui_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
