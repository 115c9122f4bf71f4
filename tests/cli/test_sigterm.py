"""SIGTERM during a real `medadv train-adv` process: one line, no temporary file left, and `--resume` finishes it.

The child is a real CLI process on a tiny timm model and the demo data set.
The test waits for the first epoch line on the child's stdout (its checkpoint
is written just before), then keeps the child from finishing: it fills the
child's stdout pipe from a thread, so the child's next line blocks until the
test reads again. No wall-clock sleep decides anything; every wait has a
generous timeout.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.engine.training._tiny import make_card

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

TIMEOUT_S = 300


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    from medadv_desktop.engine.demo import write_demo_dataset

    root = tmp_path_factory.mktemp("sigterm") / "data"
    write_demo_dataset(root, seed=0, n_train=16, n_test=8)
    return root


def _command(card: Path, data: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "medadv_desktop", "train-adv", "--model", str(card), "--data", str(data),
            "--method", "fgsm", "--eps", "2/255", "--epochs", "4", "--out", str(out), "--batch-size", "8",
            "--val-split", "0.25", "--val-pgd-steps", "1", "--attacks", "fgsm", "--eps-grid", "1/255",
            "--max-eval-samples", "4", "--device", "cpu", *extra]


def _env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    env.update(OMP_NUM_THREADS="1", TMPDIR=str(tmp), PYTHONUNBUFFERED="1")
    env.pop("MEDADV_DEBUG", None)
    return env


def _read_until(fd: int, needle: bytes, proc: subprocess.Popen, deadline: float) -> bytes:
    seen = b""
    while needle not in seen:
        if time.monotonic() > deadline:
            raise AssertionError(f"no {needle!r} on stdout in time; got {seen[-500:]!r}")
        ready, _, _ = select.select([fd], [], [], 1.0)
        if not ready:
            if proc.poll() is not None:
                raise AssertionError(f"the child stopped early (rc {proc.returncode}); stdout {seen[-500:]!r}")
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            raise AssertionError(f"stdout closed early; got {seen[-500:]!r}")
        seen += chunk
    return seen


def _part_files(*folders: Path) -> list[Path]:
    return [p for folder in folders if folder.exists() for p in folder.rglob("*")
            if p.name.endswith(".part") or ".part" in p.suffixes]


def test_sigterm_during_train_adv_leaves_no_temp_file_and_resume_finishes(demo_dir, tmp_path):
    card = make_card(tmp_path / "model")
    out = tmp_path / "hardened"
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = _env(tmp)
    deadline = time.monotonic() + TIMEOUT_S
    r, w = os.pipe()
    err_path = tmp_path / "stderr.txt"
    with open(err_path, "wb") as err:
        proc = subprocess.Popen(_command(card, demo_dir, out), stdout=w, stderr=err, env=env, cwd=tmp_path)
    filler: threading.Thread | None = None
    try:
        seen = _read_until(r, b"epoch 1/4", proc, deadline)
        # keep the child from finishing: its next stdout line blocks once the pipe is full
        filler = threading.Thread(target=os.write, args=(w, b"\n" * (1 << 20)), daemon=True)
        filler.start()
        assert proc.poll() is None, "the child finished before it could be stopped"
        assert list(out.glob("checkpoint-epoch-001.json")), "the first checkpoint precedes its epoch line"
        proc.send_signal(signal.SIGTERM)
        while proc.poll() is None or filler.is_alive():          # drain: the child must be able to exit
            if time.monotonic() > deadline:
                raise AssertionError("the child did not stop after SIGTERM")
            ready, _, _ = select.select([r], [], [], 1.0)
            if ready:
                seen += os.read(r, 1 << 20)
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=60)
        os.close(w)
        while True:                                              # the rest, up to EOF
            chunk = os.read(r, 1 << 20)
            if not chunk:
                break
        os.close(r)
    err_text = err_path.read_text(errors="replace")
    assert rc == 128 + signal.SIGTERM, err_text
    assert "Traceback" not in err_text and "internal error" not in err_text
    assert "medadv: stopped by signal 15" in err_text
    assert _part_files(out, tmp, tmp_path) == []
    assert not (out / "model_card.json").exists()
    assert sorted(p.name for p in out.glob("checkpoint-epoch-*.json"))[0] == "checkpoint-epoch-001.json"

    done = subprocess.run(_command(card, demo_dir, out, "--resume"), capture_output=True, env=env, cwd=tmp_path,
                          timeout=TIMEOUT_S)
    text = done.stdout.decode(errors="replace")
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    assert "Resuming from the checkpoint of epoch" in text and "epoch 4/4" in text
    assert (out / "model_card.json").is_file() and (out / "before_after.json").is_file()
    assert _part_files(out, tmp, tmp_path) == []
