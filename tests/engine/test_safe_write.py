"""Safe writes: atomic, race-free, never over an existing file, nothing partial on a full or
read-only disk, temporary files removed on SIGTERM/SIGINT, outputs never equal to inputs."""

from __future__ import annotations

import errno
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from medadv_desktop.engine import safe_write
from medadv_desktop.engine.safe_write import (
    NewFiles,
    OutputConflictError,
    OutputWriteError,
    refuse_output_over_input,
    write_new_file,
)
from medadv_desktop.engine.serialization import atomic_write_bytes, write_json
from medadv_desktop.errors import MedAdvError, OutputExistsError

ROOT = Path(__file__).resolve().parents[2]


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_writes_creates_parents_and_refuses_existing(tmp_path: Path):
    target = tmp_path / "a" / "b" / "out.bin"
    assert write_new_file(target, b"first") == target
    assert target.read_bytes() == b"first"
    with pytest.raises(OutputExistsError):
        write_new_file(target, b"second")
    assert target.read_bytes() == b"first"
    write_new_file(target, b"third", overwrite=True)          # only on explicit request
    assert target.read_bytes() == b"third"
    assert _names(target.parent) == ["out.bin"]                 # no temporary file left
    assert target.stat().st_mode & 0o777 == 0o666 & ~_umask()   # a normal file, not mkstemp's 0600
    write_new_file(tmp_path / "chunks.bin", (bytes([i]) * 1000 for i in range(5)))
    assert (tmp_path / "chunks.bin").read_bytes() == b"".join(bytes([i]) * 1000 for i in range(5))


def _umask() -> int:
    old = os.umask(0o022)
    os.umask(old)
    return old


def test_serialization_helpers_use_the_safe_writer(tmp_path: Path):
    p = write_json(tmp_path / "r.json", {"a": 1})
    with pytest.raises(OutputExistsError):
        atomic_write_bytes(p, b"{}")
    assert p.read_text().strip().startswith("{")


def test_a_name_that_appears_during_the_write_is_not_replaced(tmp_path: Path):
    target = tmp_path / "race.bin"

    def chunks():
        yield b"mine"
        target.write_bytes(b"theirs")      # another program creates the name meanwhile
        yield b" more"

    with pytest.raises(OutputExistsError):
        write_new_file(target, chunks())
    assert target.read_bytes() == b"theirs" and _names(tmp_path) == ["race.bin"]


def _enospc(monkeypatch, *, after: int = 0):
    """Make os.write fail with ENOSPC once ``after`` bytes went through (a disk filling up)."""
    real = os.write
    budget = [after]

    def write(fd, data):
        if budget[0] <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        n = real(fd, bytes(data)[:budget[0]])
        budget[0] -= n
        return n

    monkeypatch.setattr(os, "write", write)


def test_full_disk_raises_a_clear_error_and_leaves_nothing(tmp_path: Path, monkeypatch):
    _enospc(monkeypatch, after=3000)
    with pytest.raises(OutputWriteError) as info:
        write_new_file(tmp_path / "report.pdf", b"x" * 10000)
    err = info.value
    assert isinstance(err, MedAdvError) and err.errno == errno.ENOSPC
    assert "report.pdf" in str(err) and "disk is full" in str(err) and "\n" not in str(err)
    assert _names(tmp_path) == []
    assert safe_write.pending_temp_files() == []


def test_read_only_disk_raises_a_clear_error(tmp_path: Path, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(OutputWriteError, match="read-only") as info:
        write_new_file(tmp_path / "x.json", b"{}")
    assert info.value.errno == errno.EROFS
    monkeypatch.undo()
    assert _names(tmp_path) == []


def test_a_set_of_files_appears_whole_or_not_at_all(tmp_path: Path, monkeypatch):
    out = tmp_path / "series"
    (out / "s_0003.dcm").parent.mkdir()
    (out / "s_0003.dcm").write_bytes(b"user's file")
    with pytest.raises(OutputExistsError):
        with NewFiles() as batch:
            for i in range(1, 5):
                batch.add(out / f"s_{i:04d}.dcm", b"slice %d" % i)
    assert _names(out) == ["s_0003.dcm"] and (out / "s_0003.dcm").read_bytes() == b"user's file"

    # the disk fills up at the third file: nothing of the set remains
    _enospc(monkeypatch, after=2 * 100 + 50)
    with pytest.raises(OutputWriteError):
        with NewFiles() as batch:
            for i in range(5):
                batch.add(tmp_path / "set" / f"f{i}.bin", b"y" * 100)
    monkeypatch.undo()
    assert not (tmp_path / "set").exists() or _names(tmp_path / "set") == []

    # a name that appears between writing and placing: the ones already placed are removed again
    batch = NewFiles()
    for i in range(3):
        batch.add(tmp_path / "late" / f"f{i}.bin", b"z")
    (tmp_path / "late" / "f2.bin").write_bytes(b"other")
    real_lexists = os.path.lexists
    monkeypatch.setattr(os.path, "lexists", lambda p: False if str(p).endswith("f2.bin") else real_lexists(p))
    with pytest.raises(OutputExistsError):
        batch.commit()
    monkeypatch.undo()
    assert _names(tmp_path / "late") == ["f2.bin"] and (tmp_path / "late" / "f2.bin").read_bytes() == b"other"

    with NewFiles() as batch:
        batch.add(tmp_path / "ok" / "a.png", b"png")
        batch.add(tmp_path / "ok" / "a.json", b"{}")
    assert _names(tmp_path / "ok") == ["a.json", "a.png"] and batch.written


def test_file_systems_without_hard_links_still_never_overwrite(tmp_path: Path, monkeypatch):
    def no_link(src, dst):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_link)
    write_new_file(tmp_path / "a.bin", b"abc")
    assert (tmp_path / "a.bin").read_bytes() == b"abc"
    with pytest.raises(OutputExistsError):
        write_new_file(tmp_path / "a.bin", b"new")
    assert _names(tmp_path) == ["a.bin"]


# --------------------------------------------------------------------------- real tmpfs (root only)
def _mount_tmpfs(folder: Path, options: str) -> bool:
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        return False
    folder.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                          capture_output=True, timeout=30)
    return proc.returncode == 0


def test_real_full_and_read_only_tmpfs(tmp_path: Path):
    full, ro = tmp_path / "full", tmp_path / "ro"
    if not _mount_tmpfs(full, "size=64k"):
        pytest.skip("mounting a tmpfs needs root on Linux")
    try:
        with pytest.raises(OutputWriteError, match="disk is full") as info:
            write_new_file(full / "big.bin", b"q" * 400_000)
        assert info.value.errno == errno.ENOSPC and _names(full) == []
        write_new_file(full / "small.bin", b"fits")     # the space was given back
        assert _names(full) == ["small.bin"]
    finally:
        subprocess.run(["umount", str(full)], timeout=30)
    if not _mount_tmpfs(ro, "size=64k,ro"):
        pytest.skip("read-only tmpfs not available")
    try:
        with pytest.raises(OutputWriteError, match="read-only") as info:
            write_new_file(ro / "x.bin", b"x")
        assert info.value.errno == errno.EROFS
    finally:
        subprocess.run(["umount", str(ro)], timeout=30)


# --------------------------------------------------------------------------- two-process race
def _race_worker(folder: str, worker: int, rounds: int, barrier, results) -> None:
    for r in range(rounds):
        barrier.wait(timeout=120)
        payload = (f"worker {worker} round {r} ".encode() * 4000)
        try:
            write_new_file(Path(folder) / f"r{r:04d}.bin", payload)
            results.put((r, worker, True))
        except OutputExistsError:
            results.put((r, worker, False))
        except Exception as exc:   # reported, so the parent fails with the reason
            results.put((r, worker, repr(exc)))


def test_two_processes_writing_the_same_path_exactly_one_wins(tmp_path: Path):
    rounds = 150
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    results = ctx.Queue()
    procs = [ctx.Process(target=_race_worker, args=(str(tmp_path), w, rounds, barrier, results)) for w in (0, 1)]
    for p in procs:
        p.start()
    outcome: dict[int, dict[int, object]] = {}
    for _ in range(2 * rounds):
        r, w, ok = results.get(timeout=300)
        outcome.setdefault(r, {})[w] = ok
    for p in procs:
        p.join(timeout=60)
    for r in range(rounds):
        wins = [w for w, ok in outcome[r].items() if ok is True]
        assert all(ok in (True, False) for ok in outcome[r].values()), outcome[r]
        assert len(wins) == 1, f"round {r}: {outcome[r]}"
        data = (tmp_path / f"r{r:04d}.bin").read_bytes()
        assert data == f"worker {wins[0]} round {r} ".encode() * 4000
    assert not [n for n in _names(tmp_path) if n.endswith(".part")]


# --------------------------------------------------------------------------- signals
_SLOW_WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from medadv_desktop.engine.safe_write import install_cleanup_handlers, write_new_file

    install_cleanup_handlers()
    target, ready = Path(sys.argv[1]), Path(sys.argv[2])

    def chunks():
        yield b"x" * 65536
        ready.write_text("writing")      # the temporary file exists now
        while True:
            time.sleep(0.02)
            yield b"y" * 1024

    write_new_file(target, chunks())
""")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_during_a_write_removes_the_temporary_file(tmp_path: Path, signum):
    out = tmp_path / "out"
    out.mkdir()
    ready = tmp_path / "ready"
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_WRITER, str(out / "big.bin"), str(ready)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the writer never started"
            time.sleep(0.05)
        assert [n for n in _names(out) if n.endswith(".part")], "a temporary file is being written"
        proc.send_signal(signum)
        proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    if signum == signal.SIGTERM:
        assert proc.returncode == 128 + signal.SIGTERM
    else:
        assert proc.returncode != 0
    assert _names(out) == [], "no temporary or partial file remains"


# --------------------------------------------------------------------------- outputs vs inputs
def test_output_equal_to_or_inside_an_input_is_refused(tmp_path: Path):
    study = tmp_path / "study"
    study.mkdir()
    (study / "a.dcm").write_bytes(b"x")
    report = tmp_path / "r.json"
    report.write_text("{}")
    with pytest.raises(OutputConflictError, match="also an input"):
        refuse_output_over_input([report], [report])
    with pytest.raises(OutputConflictError, match="also an input"):
        refuse_output_over_input([tmp_path / "." / "r.json"], [report])
    os.symlink(report, tmp_path / "alias.json")
    os.link(report, tmp_path / "hard.json")
    for alias in ("alias.json", "hard.json"):
        with pytest.raises(OutputConflictError):
            refuse_output_over_input([tmp_path / alias], [report])
    with pytest.raises(OutputConflictError, match="inside the input folder"):
        refuse_output_over_input([study / "adv"], [study])
    with pytest.raises(OutputConflictError):
        refuse_output_over_input([study], [study])
    refuse_output_over_input([tmp_path / "adv"], [study, report])        # beside the inputs: fine
    refuse_output_over_input([tmp_path / "r.pdf"], [report])
    refuse_output_over_input([study.parent / "out"], [study / "a.dcm"])
