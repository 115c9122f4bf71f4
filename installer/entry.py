"""Entry point of the bundled application (PyInstaller).

    MedAdvDesktop [PATH ...] [--demo] [--model CARD] ...   the GUI (medadv_desktop.ui.app.main)
    MedAdvDesktop --self-test [--keep DIR] [--steps a,b]   headless self-test, exit 0 when it passed

The self-test's GUI step starts this same executable again with GUI options
(see medadv_desktop.selftest.gui_command).
"""

import multiprocessing
import sys

from medadv_desktop.launcher import main  # --self-test or the GUI


if __name__ == "__main__":
    multiprocessing.freeze_support()  # torch / DataLoader workers re-enter the executable
    sys.exit(main())
