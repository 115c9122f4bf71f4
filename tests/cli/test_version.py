import subprocess
import sys

from medadv_desktop import __version__


def test_version():
    out = subprocess.run([sys.executable, "-m", "medadv_desktop", "--version"], capture_output=True, text=True, check=True)
    assert __version__ in out.stdout
