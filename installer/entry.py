"""Entry point of the bundled application (PyInstaller).

    MedAdvDesktop [PATH ...] [--demo] [--model CARD] ...   the GUI (medadv_desktop.ui.app.main)
    MedAdvDesktop --self-test [--keep DIR] [--steps a,b]   headless self-test, exit 0 when it passed

The self-test's GUI step starts this same executable again with GUI options
(see medadv_desktop.selftest.gui_command).
"""

import multiprocessing
import sys


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--self-test" in argv:
        from medadv_desktop.selftest import main as self_test_main

        return self_test_main([a for a in argv if a != "--self-test"])
    from medadv_desktop.ui.app import main as gui_main

    return gui_main(argv)


if __name__ == "__main__":
    multiprocessing.freeze_support()  # torch / DataLoader workers re-enter the executable
    sys.exit(main())
