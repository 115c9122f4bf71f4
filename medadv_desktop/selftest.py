"""Headless end-to-end self-test of an installation or of the desktop bundle.

    MedAdvDesktop --self-test                  # the PyInstaller bundle
    python -m medadv_desktop.selftest          # a source / pip install
    python -m medadv_desktop.selftest --keep DIR   # keep the outputs in DIR (must not exist yet)

Steps (each prints one ``[ok] ...`` line, or ``[FAILED] ...`` with what went
wrong and what to do):

1. **demo study and model**: open ``resources/demo_study`` (a DICOM series)
   with :func:`medadv_desktop.engine.io.open_path`, read its per-slice ground
   truth from ``labels.csv``, load the demo model card with
   :func:`medadv_desktop.engine.models.load_classifier` (SHA-256 checked).
2. **attack**: FGSM, L-inf, eps = 2/255 of the [0, 1] image (= 2/255 x 400 HU
   ~ 3.1 HU for the demo card's 40/400 window), through
   :func:`~medadv_desktop.engine.evaluation.evaluate_job` on the labelled
   demo slices and the study attack workflow
   (:func:`~medadv_desktop.engine.workflows.study_attack.study_attack_workflow`)
   on the whole study; checks the perturbation stays inside the eps-ball.
3. **reports**: PDF, per-sample CSV, summary CSV and JSON through
   :func:`medadv_desktop.engine.reports.export_reports_job`; the PDF must start
   with ``%PDF`` and hold at least one page.
4. **GUI**: ``medadv_desktop.ui.app.main(["--demo", "--screenshot", PNG,
   "--run-attack", "fgsm"])`` in a child process with the Qt ``offscreen``
   platform and throw-away settings folders; the PNG must exist and not be
   blank.
5. **DICOM decoders**: JPEG-LS and JPEG 2000 lossless files decoded through
   the pylibjpeg plugins (libjpeg, openjpeg) equal the uncompressed original.

Everything is written under one temporary folder that is removed at the end
(unless ``--keep``); the pseudonym salt comes from the environment for the run
so no per-user salt file is created. Exit code 0 when every step passed, 1
otherwise. No network is used, no PHI is printed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from medadv_desktop.errors import MedAdvError, SelfTestError

#: FGSM budget of the self-test, in [0, 1] image units (2/255 of the intensity window).
SELF_TEST_EPS = 2 / 255
#: Seconds the GUI child process may take (start-up, torch import, model load, one attack).
GUI_TIMEOUT_S = 300.0
#: Files (from pydicom's test data) used by the decoder step: (name, kind of compression).
DECODER_FILES = (("MR_small_jpeg_ls_lossless.dcm", "JPEG-LS lossless"),
                 ("MR_small_jp2klossless.dcm", "JPEG 2000 lossless"))
DECODER_REFERENCE = "MR_small.dcm"
#: Folder (inside the bundle) holding the decoder test files; see installer/medadv_desktop.spec.
BUNDLED_DECODER_DIR = "medadv_selftest"


@dataclass
class StepOutcome:
    """The outcome of one self-test step."""

    name: str
    ok: bool
    detail: str
    seconds: float


@dataclass
class SelfTestContext:
    """What the steps hand on to each other."""

    work_dir: Path
    study: object = None
    classifier: object = None
    labels: list[int] = field(default_factory=list)
    evaluation: object = None
    messages: list[str] = field(default_factory=list)


def _say(line: str) -> None:
    print(line, flush=True)


# ---------------------------------------------------------------------- steps
def read_slice_labels(study, labels_csv: Path, class_names: Sequence[str]) -> list[int]:
    """Per-slice class indices of ``study`` from a ``labels.csv`` beside its files.

    Read with the data sets' reader (:func:`medadv_desktop.engine.datasets.read_labels_csv`):
    a file column (matched by file name against the study's source files, in
    the study's slice order) and/or a slice column (0-based slice number, used
    when the file is not one of the study's), and a label column.
    """
    from medadv_desktop.engine.datasets import read_labels_csv
    from medadv_desktop.errors import DatasetError

    if not labels_csv.is_file():
        raise SelfTestError(f"The demo study has no {labels_csv.name}.",
                            hint="The installation is incomplete; reinstall MedAdv Desktop.")
    try:
        rows = read_labels_csv(labels_csv, class_names)
    except DatasetError as exc:
        raise SelfTestError(str(exc), hint="The installation is incomplete; reinstall MedAdv Desktop.") from None
    by_name = {Path(p).name: i for i, p in enumerate(study.source_paths)}
    labels: dict[int, int] = {}
    for row in rows:
        index = by_name.get(Path(row.path).name, -1) if row.path is not None else -1
        if index < 0 and row.slice_index is not None:
            index = row.slice_index
        if 0 <= index < study.n_slices:
            labels[index] = row.label
    if len(labels) != study.n_slices:
        raise SelfTestError(f"{labels_csv.name} gives labels for {len(labels)} of the {study.n_slices} demo slices.",
                            hint="The installation is incomplete; reinstall MedAdv Desktop.")
    return [labels[i] for i in range(study.n_slices)]


def step_demo(ctx: SelfTestContext) -> str:
    """Open the demo study and the demo model; read the slice labels."""
    from medadv_desktop.engine.io import open_path
    from medadv_desktop.engine.models import load_classifier
    from medadv_desktop.paths import demo_model_card, resources_dir

    study_dir = resources_dir() / "demo_study"
    if not study_dir.is_dir():
        raise SelfTestError(f"The demo study folder is missing ({study_dir}).",
                            hint="The installation is incomplete; reinstall MedAdv Desktop.")
    report = open_path(study_dir)
    if not report.studies:
        reasons = "; ".join(str(r) for _, r in report.failures[:3]) or "no images found"
        raise SelfTestError(f"The demo study could not be opened ({reasons}).")
    study = max(report.studies, key=lambda s: s.n_slices)
    card_path = demo_model_card()
    if not card_path.is_file():
        raise SelfTestError(f"The demo model card is missing ({card_path}).",
                            hint="The installation is incomplete; reinstall MedAdv Desktop.")
    classifier = load_classifier(card_path, device="cpu")
    ctx.study, ctx.classifier = study, classifier
    ctx.labels = read_slice_labels(study, study_dir / "labels.csv", classifier.card.class_names)
    counts = {c: ctx.labels.count(i) for i, c in enumerate(classifier.card.class_names)}
    return (f"demo study: {study.modality} {study.n_slices} slices {study.shape2d[0]}x{study.shape2d[1]} "
            f"{study.units or ''} ({', '.join(f'{v} {k}' for k, v in counts.items())}); "
            f"model: {classifier.card.architecture}, {len(classifier.card.class_names)} classes")


def step_attack(ctx: SelfTestContext) -> str:
    """FGSM 2/255 on the labelled demo slices (evaluate_job) and on the study (the study attack workflow)."""
    import numpy as np

    from medadv_desktop.engine.datasets import DatasetSample, LabelledDataset, slice_sample_id
    from medadv_desktop.engine.evaluation import evaluate_job
    from medadv_desktop.engine.jobs import run_job
    from medadv_desktop.engine.workflows.study_attack import study_attack_workflow

    study, model = ctx.study, ctx.classifier
    class_names = list(model.card.class_names)
    name = study.pseudonym or "DEMO"
    dataset = LabelledDataset(
        class_names=class_names,
        samples=[DatasetSample(slice_sample_id(name, i), label, 0, i) for i, label in enumerate(ctx.labels)],
        studies=[study], name="demo-study", synthetic=True)
    result = run_job(evaluate_job(model, dataset, [("fgsm", {})], [SELF_TEST_EPS], batch_size=16))
    rows = [r for r in result.rows if r.attack.lower() == "fgsm"]
    if not rows:
        raise SelfTestError("The evaluation returned no FGSM row.")
    row = rows[0]
    ctx.evaluation = result
    clean_acc = float(result.clean_accuracy)
    robust_acc = float(row.robust_accuracy)
    if not (0.0 <= robust_acc <= clean_acc + 1e-9 <= 1.0 + 1e-9):
        raise SelfTestError(f"Implausible accuracies: clean {clean_acc:.3f}, robust {robust_acc:.3f}.")

    attacked = run_job(study_attack_workflow(model, study, "fgsm", {"eps": "2/255"})).result
    linf = float(np.abs(attacked.perturbation_unit).max())
    if linf > SELF_TEST_EPS + 1e-5:
        raise SelfTestError(f"The FGSM perturbation ({linf:.5f}) leaves the eps-ball ({SELF_TEST_EPS:.5f}).")
    flipped = int((attacked.clean_pred != attacked.adv_pred).sum())
    return (f"FGSM eps 2/255: clean accuracy {clean_acc:.1%}, robust accuracy {robust_acc:.1%} "
            f"on {len(dataset)} labelled slices; whole study: {flipped}/{len(attacked.slices)} predictions "
            f"flipped, max |delta| {linf * 255:.2f}/255")


def count_pdf_pages(data: bytes) -> int:
    """Page objects in a PDF (``/Type /Page``, not ``/Pages``); enough for reportlab's output."""
    import re

    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", data))


def step_reports(ctx: SelfTestContext) -> str:
    """PDF + CSV + JSON reports of the evaluation into the work folder."""
    import json

    from medadv_desktop.engine.jobs import run_job
    from medadv_desktop.engine.reports import export_reports_job

    out = ctx.work_dir / "reports"
    out.mkdir()
    files = {"pdf": out / "self-test-report.pdf", "csv": out / "self-test-samples.csv",
             "summary_csv": out / "self-test-summary.csv", "json": out / "self-test-report.json"}
    written = run_job(export_reports_job(ctx.evaluation, **files))
    missing = [p.name for p in files.values() if not p.is_file() or p.stat().st_size == 0]
    if missing or len(written) != len(files):
        raise SelfTestError(f"Report file(s) not written: {', '.join(missing) or '?'}.")
    pdf = files["pdf"].read_bytes()
    if not pdf.startswith(b"%PDF"):
        raise SelfTestError("The PDF report does not start with %PDF.")
    pages = count_pdf_pages(pdf)
    if pages < 1:
        raise SelfTestError("The PDF report has no pages.")
    json.loads(files["json"].read_text(encoding="utf-8"))
    lines = files["csv"].read_text(encoding="utf-8").splitlines()
    return (f"reports: PDF {pages} page(s) {len(pdf) // 1024} kB, per-sample CSV {len(lines) - 1} rows, "
            f"summary CSV, JSON")


def gui_command(argv: Sequence[str]) -> list[str]:
    """The command that runs ``medadv_desktop.ui.app.main(argv)`` in a child process.

    In the bundle the executable itself is the GUI entry point
    (installer/entry.py); from source it is ``python -m medadv_desktop.ui.app``.
    """
    if getattr(sys, "frozen", False):
        return [sys.executable, *argv]
    return [sys.executable, "-m", "medadv_desktop.ui.app", *argv]


def png_is_non_trivial(path: Path) -> str:
    """Check a screenshot: a PNG of at least 400x300 pixels with more than a few colours."""
    import numpy as np
    from PIL import Image

    if not path.is_file() or path.stat().st_size < 2048:
        raise SelfTestError("The GUI did not write its screenshot (or it is nearly empty).")
    with Image.open(path) as img:
        if img.format != "PNG":
            raise SelfTestError(f"The screenshot is a {img.format}, not a PNG.")
        rgb = np.asarray(img.convert("RGB"))
    h, w = rgb.shape[:2]
    if w < 400 or h < 300:
        raise SelfTestError(f"The screenshot is only {w}x{h} pixels.")
    colours = len(np.unique(rgb.reshape(-1, 3)[::7], axis=0))
    if colours < 16 or float(rgb.std()) < 5.0:
        raise SelfTestError(f"The screenshot looks blank ({colours} colours).")
    return f"{w}x{h}, {colours}+ colours"


def step_gui(ctx: SelfTestContext) -> str:
    """The GUI, offscreen: open the demo, run FGSM on the current slice, save a screenshot."""
    png = ctx.work_dir / "gui" / "self-test-window.png"
    png.parent.mkdir()
    env = dict(os.environ)
    env["QT_QPA_PLATFORM"] = "offscreen"
    home = ctx.work_dir / "gui" / "home"
    for var, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_CACHE_HOME", "cache"), ("XDG_DATA_HOME", "data"),
                     ("XDG_STATE_HOME", "state")):
        (home / sub).mkdir(parents=True)
        env[var] = str(home / sub)
    runtime = home / "runtime"
    runtime.mkdir(mode=0o700)
    env["XDG_RUNTIME_DIR"] = str(runtime)
    argv = ["--demo", "--screenshot", str(png), "--run-attack", "fgsm", "--eps", "2/255",
            "--timeout", str(int(GUI_TIMEOUT_S - 30))]
    try:
        proc = subprocess.run(gui_command(argv), env=env, cwd=str(ctx.work_dir), capture_output=True,
                              text=True, timeout=GUI_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise SelfTestError(f"The GUI did not finish within {GUI_TIMEOUT_S:.0f} s.") from None
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-8:])
        raise SelfTestError(f"The GUI exited with code {proc.returncode}:\n{tail}",
                            hint="The lines above are the GUI's own message. Run 'MedAdvDesktop --demo' to "
                                 "see the window; if Qt cannot start, check its platform plugins (offscreen, xcb).")
    shown = next((ln for ln in proc.stdout.splitlines() if ln.startswith("window shown")), "")
    detail = png_is_non_trivial(png)
    return f"GUI offscreen: demo opened, FGSM run, screenshot {detail}" + (f"; {shown}" if shown else "")


def decoder_files() -> tuple[Path, list[tuple[Path, str]]] | None:
    """The reference and compressed test files: bundled copies first, else pydicom's test data."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        folder = Path(bundle) / BUNDLED_DECODER_DIR
        if (folder / DECODER_REFERENCE).is_file():
            return folder / DECODER_REFERENCE, [(folder / n, kind) for n, kind in DECODER_FILES]
    try:
        from pydicom.data import get_testdata_file

        ref = get_testdata_file(DECODER_REFERENCE)
        files = [(get_testdata_file(n), kind) for n, kind in DECODER_FILES]
    except Exception:  # noqa: BLE001 - test data not installed
        return None
    if ref is None or any(f is None for f, _ in files):
        return None
    return Path(ref), [(Path(f), kind) for f, kind in files]


def step_decoders(ctx: SelfTestContext) -> str:
    """JPEG-LS and JPEG 2000 decoding through pydicom's pylibjpeg plugin (libjpeg, openjpeg)."""
    import numpy as np
    import pydicom
    from pydicom.pixels import pixel_array

    found = decoder_files()
    if found is None:
        return "DICOM decoders: no compressed test file available here (step skipped)"
    ref_path, files = found
    reference = pydicom.dcmread(ref_path).pixel_array
    done = []
    for path, kind in files:
        try:
            arr = pixel_array(path, decoding_plugin="pylibjpeg")
        except Exception as exc:  # noqa: BLE001 - report which decoder is missing
            raise SelfTestError(
                f"pydicom could not decode {kind} with pylibjpeg ({exc.__class__.__name__}: {exc}).",
                hint="The decoder plugins pylibjpeg-libjpeg / pylibjpeg-openjpeg are missing.") from None
        if not np.array_equal(arr, reference):
            raise SelfTestError(f"{kind} decoding gave different pixels from the uncompressed original.")
        done.append(kind)
    return f"DICOM decoders: {' and '.join(done)} decoded losslessly (pylibjpeg)"


STEPS: tuple[tuple[str, Callable[[SelfTestContext], str]], ...] = (
    ("demo", step_demo),
    ("attack", step_attack),
    ("reports", step_reports),
    ("gui", step_gui),
    ("decoders", step_decoders),
)
#: Steps that need an earlier one: skipped (and reported) when it failed.
NEEDS = {"attack": "demo", "reports": "attack"}


@contextmanager
def _self_test_environment() -> Iterator[None]:
    """A fixed pseudonym salt for the run, so no per-user salt file is created; restored afterwards."""
    key = "MEDADV_PSEUDONYM_SALT"
    before = os.environ.get(key)
    if before is None:
        os.environ[key] = "medadv-self-test"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(key, None)


def run_self_test(out_dir: Path | None = None, *, steps: Sequence[str] | None = None) -> int:
    """Run the self-test; print one line per step; return 0 when all passed, else 1.

    ``out_dir``: keep the outputs (reports, screenshot) in this folder, which
    must not exist yet (it is created); by default a temporary folder is used
    and removed. ``steps``: a subset of ``demo, attack, reports, gui,
    decoders`` (default: all).
    """
    from medadv_desktop import __version__

    wanted = list(steps) if steps is not None else [name for name, _ in STEPS]
    unknown = [s for s in wanted if s not in dict(STEPS)]
    if unknown:
        _say(f"[FAILED] unknown self-test step(s): {', '.join(unknown)}")
        return 1
    frozen = "bundle" if getattr(sys, "frozen", False) else "source/install"
    _say(f"MedAdv Desktop {__version__} self-test ({frozen}, Python {sys.version.split()[0]})")
    if out_dir is not None:
        out_dir = Path(out_dir)
        if out_dir.exists():
            _say(f"[FAILED] the output folder '{out_dir}' already exists; give a new folder name")
            return 1
        out_dir.mkdir(parents=True)
        work, cleanup = out_dir, False
    else:
        work, cleanup = Path(tempfile.mkdtemp(prefix="medadv-self-test-")), True
    ctx = SelfTestContext(work_dir=work)
    outcomes: list[StepOutcome] = []
    t_all = time.perf_counter()
    try:
        with _self_test_environment():
            for name, fn in STEPS:
                if name not in wanted:
                    continue
                needed = NEEDS.get(name)
                if needed and not any(o.name == needed and o.ok for o in outcomes):
                    outcomes.append(StepOutcome(name, False, f"not run: it needs the '{needed}' step", 0.0))
                    _say(f"[FAILED] {name}: not run, it needs the '{needed}' step")
                    continue
                t0 = time.perf_counter()
                try:
                    detail = fn(ctx)
                    ok = True
                except MedAdvError as exc:
                    detail, ok = exc.user_message(), False
                except Exception as exc:  # noqa: BLE001 - a self-test reports every failure in words
                    frames = traceback.extract_tb(exc.__traceback__)
                    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
                    detail, ok = f"unexpected {exc.__class__.__name__}: {exc}{where}", False
                seconds = time.perf_counter() - t0
                outcomes.append(StepOutcome(name, ok, detail, seconds))
                _say(f"[{'ok' if ok else 'FAILED'}] {detail} ({seconds:.1f} s)")
    finally:
        if cleanup:
            shutil.rmtree(work, ignore_errors=True)
    failed = [o for o in outcomes if not o.ok]
    total = time.perf_counter() - t_all
    if failed:
        _say(f"self-test FAILED: {len(failed)} of {len(outcomes)} step(s) failed "
             f"({', '.join(o.name for o in failed)}) in {total:.1f} s")
        return 1
    if out_dir is not None:
        _say(f"outputs kept in {out_dir}")
    _say(f"self-test passed ({len(outcomes)} step{'' if len(outcomes) == 1 else 's'}, {total:.1f} s)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="medadv-self-test", description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="keep the reports and screenshot in DIR (a new folder) instead of a temporary one")
    parser.add_argument("--steps", default=None,
                        help="comma-separated subset of: " + ", ".join(name for name, _ in STEPS))
    parser.add_argument("--self-test", action="store_true", help=argparse.SUPPRESS)  # accepted for symmetry
    args = parser.parse_args(argv)
    steps = [s.strip() for s in args.steps.split(",") if s.strip()] if args.steps else None
    return run_self_test(args.keep, steps=steps)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
