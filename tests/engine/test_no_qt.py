"""The engine must never import Qt: the CLI and servers run it without a screen."""
import subprocess
import sys


def test_engine_imports_no_qt():
    code = (
        "import sys, pkgutil, importlib, medadv_desktop.engine as e\n"
        "for m in pkgutil.walk_packages(e.__path__, 'medadv_desktop.engine.'):\n"
        "    importlib.import_module(m.name)\n"
        "import medadv_desktop.cli.main\n"
        "bad = [m for m in sys.modules if m.startswith(('PySide6', 'pyqtgraph', 'PyQt'))]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
