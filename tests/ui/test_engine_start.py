"""No first-time import on the worker thread (issue 12 item 9), checked in a fresh interpreter.

A CI run segfaulted inside ``safetensors.torch.save`` -> PySide6's import hook
on the worker while the UI thread garbage-collected. The session now imports
the worker-side stack on the UI thread before the first job; this test runs
the GUI's flows (demo, attack, exports, evaluation, training, re-test,
loading the hardened model) in a new process and asserts the import guard saw
no module first imported off the main thread.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_no_module_is_first_imported_on_the_worker(tmp_path, tiny_card, demo_data):
    out = tmp_path / "out"
    out.mkdir()
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=os.pathsep.join(
        [str(root), os.environ.get("PYTHONPATH", "")]), HOME=str(tmp_path), OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "tests.ui.import_flow", str(tiny_card), str(demo_data), str(out)],
                          cwd=root, env=env, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["steps"] == ["open demo", "attack", "export attack", "load model", "evaluate", "export report",
                               "train and re-test", "export before/after", "load the hardened model"]
    assert report["errors"] == [] and report["internal_errors"] == []
    assert report["torch_at_show"] is False
    assert report["worker_imports"] == []
    assert list(out.glob("*.pdf")) and list(out.glob("*-before_after.json"))
