"""Entry point of the bundled application (PyInstaller)."""
import sys

from medadv_desktop.ui.app import main

if __name__ == "__main__":
    sys.exit(main())
