"""Screenshots of the real GUI in the states issues 12 and 13 are about, at fixed window sizes.

    python scripts/screenshots.py OUT_DIR [--sizes 1600x1000,1280x800] [--only demo_attacks,mr_guard]

Drives the real main window (offscreen Qt unless ``QT_QPA_PLATFORM`` says
otherwise) through its actions, buttons and keys, with real inputs only: the
bundled synthetic demo study and demo CT model, pydicom's CT_small.dcm and
MR_small.dcm, a real multi-file CT series from pydicom's DICOMDIR tests, the
512x512 head CT 693_UNCI.dcm of pydicom-data, nibabel's 4-D EPI
``example4d.nii.gz`` and a labelled synthetic demo data set written to a
temporary folder. The window's settings go to a temporary file (the user's
settings are never read or written).

Every shot is taken at each size, ``OUT_DIR/<scene>_<W>x<H>.png``, and listed
with what it should show in ``OUT_DIR/index.md``. A scene whose expected
state is not reached (an attack that did not finish, Run not disabled on an
invalid eps, ...) is reported on stderr and the script exits 1; the other
scenes still run. Look at every PNG: this script takes them, it does not judge
them.

Scenes (``--only`` takes these names):

- ``demo_attacks``: the demo after FGSM, PGD and Square on the slice with the finding;
- ``ct_series``: a real 4-file CT series (pydicom's DICOMDIR test data) with the demo CT model;
- ``ct_measure``: the 512x512 head CT with the ruler and the ellipse ROI;
- ``nifti_4d``: nibabel's 4-D EPI, second volume shown by the volume control;
- ``mr_guard``: MR_small with the demo CT model: the modality guard before and after FGSM;
- ``issue12``: the fixed states of issue 12 (difference colour bar after switching studies,
  invalid eps with Run disabled and the reason, sample previews cleared on rows without images).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: The demo attacks' budget: 8/255 of the card's 400 HU window = 12.5 HU, invisible at W 400 yet enough to flip
#: the demo model on its finding (the default 2/255 does not flip it: that is shown too, by the guard scene).
DEMO_EPS = "8/255"

SCENES = ("demo_attacks", "ct_series", "ct_measure", "nifti_4d", "mr_guard", "issue12")


class SceneFailed(RuntimeError):
    """An expected state of a scene was not reached."""


@dataclass
class Shooter:
    out: Path
    sizes: list[tuple[int, int]]
    tmp: Path
    index: list[tuple[str, str]] = field(default_factory=list)      # (file name, what it shows)
    failures: list[str] = field(default_factory=list)

    # -- waiting --------------------------------------------------------------
    def wait(self, condition: Callable[[], bool], what: str, timeout: float = 300.0) -> None:
        from PySide6.QtWidgets import QApplication

        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise SceneFailed(f"timed out after {timeout:g} s waiting for: {what}")
            QApplication.processEvents()
            time.sleep(0.01)

    def settle(self, seconds: float = 0.3) -> None:
        from PySide6.QtWidgets import QApplication

        end = time.monotonic() + seconds
        while time.monotonic() < end:
            QApplication.processEvents()
            time.sleep(0.01)

    def idle(self, win, what: str = "the job queue to empty", timeout: float = 300.0) -> None:
        self.wait(lambda: not win.session.busy and win.models.idle, what, timeout)
        if win.session.internal_errors:
            raise SceneFailed(f"internal error in the GUI: {win.session.internal_errors[-1]}")

    # -- the window -----------------------------------------------------------
    def new_window(self):
        from PySide6.QtCore import QSettings

        from medadv_desktop.ui.main_window import MainWindow

        settings = QSettings(str(self.tmp / f"settings-{len(self.index)}-{time.monotonic_ns()}.ini"),
                             QSettings.IniFormat)
        win = MainWindow(settings=settings, restore=False)
        width, height = self.sizes[0]
        win.resize(width, height)
        win.show()
        self.settle(0.2)
        win.session.start_engine()
        self.wait(lambda: win.session.engine_started, "the engine to start")
        return win

    def close(self, win) -> None:
        win.session.worker.cancel_all()
        win.close()
        self.settle(0.1)

    def open_demo(self, win) -> None:
        from medadv_desktop.ui.actions import ActionId

        win.actions[ActionId.OPEN_DEMO].trigger()            # File > Open Demo: the demo study and model
        self.wait(lambda: win.session.study is not None and win.session.classifier is not None,
                  "the demo study and model")
        self.idle(win)
        self.wait(lambda: bool(win.model_panel.prediction_texts()), "the demo prediction")

    def open_paths(self, win, paths: list[Path], *, card: Path | None = None) -> None:
        n = len(win.session.studies)
        win.studies.open_paths([str(p) for p in paths])     # what File > Open / drag and drop call
        self.wait(lambda: len(win.session.studies) > n, f"{paths[0].name} to open")
        if card is not None:
            win.models.load_model(card)
            self.wait(lambda: win.session.classifier is not None, "the model to load")
        self.idle(win)

    # -- real events ----------------------------------------------------------
    def click(self, widget, pos=None) -> None:
        from PySide6.QtCore import Qt
        from PySide6.QtTest import QTest

        if pos is None:
            QTest.mouseClick(widget, Qt.LeftButton)
        else:
            QTest.mouseClick(widget, Qt.LeftButton, Qt.NoModifier, pos)
        self.settle(0.05)

    def type_text(self, edit, text: str) -> None:
        from PySide6.QtCore import Qt
        from PySide6.QtTest import QTest

        edit.setFocus()
        edit.selectAll()
        QTest.keyClick(edit, Qt.Key_Delete)
        QTest.keyClicks(edit, text)
        self.settle(0.05)

    def click_study(self, win, row: int) -> None:
        tree = win.study_browser.tree
        item = tree.topLevelItem(row)
        tree.scrollToItem(item)
        self.click(tree.viewport(), tree.visualItemRect(item).center())
        self.idle(win)

    def run_attack(self, win, name: str, scope: str, eps: str | None = None, timeout: float = 600.0):
        """Select ``name`` in the Attack dock, set the scope (and type ``eps``), click Run; the new result."""
        panel = win.attack_panel
        form = panel.select_attack(name)
        panel.set_scope(scope)
        if eps is not None:
            self.type_text(form.widgets["eps"].unit_edit, eps)
        if not panel.run_button.isEnabled():
            raise SceneFailed(f"Run is disabled for {name}: {panel.reason.text()}")
        before = len(win.session.results)
        self.click(panel.run_button)
        self.idle(win, f"{name} to finish", timeout)
        if len(win.session.results) == before:
            raise SceneFailed(f"{name} gave no result (last error: {win.session.last_error!r})")
        return win.session.results[-1]

    # -- shots ----------------------------------------------------------------
    def shoot(self, win, name: str, what: str, prepare: Callable[[], None] | None = None) -> None:
        """Grab the window at every size as ``<name>_<W>x<H>.png``."""
        for width, height in self.sizes:
            win.resize(width, height)
            self.settle(0.25)
            win.viewer.reset_view()
            if prepare is not None:
                prepare()
            self.settle(0.25)
            if (win.width(), win.height()) != (width, height):
                minimum = win.minimumSizeHint()
                raise SceneFailed(f"the window cannot be {width}x{height} (it is {win.width()}x{win.height()}; "
                                  f"its minimum is about {minimum.width()}x{minimum.height()})")
            path = self.out / f"{name}_{width}x{height}.png"
            if not win.grab().save(str(path), "PNG"):
                raise SceneFailed(f"could not write {path}")
            self.index.append((path.name, what))
            print(f"  {path}", flush=True)
        width, height = self.sizes[0]
        win.resize(width, height)
        self.settle(0.1)


# -- scenes -------------------------------------------------------------------------


def scene_demo_attacks(s: Shooter) -> None:
    from medadv_desktop.ui.attack_info import SCOPE_SLICE
    from medadv_desktop.ui.widgets.results_panel import TAB_PREDICTION

    win = s.new_window()
    try:
        s.open_demo(win)
        for name, label in (("fgsm", "FGSM"), ("pgd", "PGD"), ("square", "Square")):
            entry = s.run_attack(win, name, SCOPE_SLICE, eps=DEMO_EPS)
            [(_i, outcome)] = entry.outcomes
            result = outcome.result
            flipped = any(r.success for r in result.records)
            s.shoot(win, f"demo_{name}",
                    f"Demo study (synthetic, labelled) after {label} at eps {DEMO_EPS} "
                    f"(= {result.eps_native:.3g} {result.units}) on slice {result.slices[0] + 1} (the finding): "
                    "side by side at the clinical window (original | adversarial | signed difference with its "
                    f"diverging colour bar in HU), Results > Prediction change; prediction "
                    f"{'flipped' if flipped else 'not flipped'}.",
                    prepare=lambda: win.results_panel.setCurrentIndex(TAB_PREDICTION))
    finally:
        s.close(win)


def _dicomdir_ct_series() -> Path:
    import pydicom.data

    folder = Path(pydicom.data.__file__).parent / "test_files" / "dicomdirtests" / "77654033" / "CT2"
    if not folder.is_dir():
        raise SceneFailed(f"pydicom's DICOMDIR test series is missing: {folder}")
    return folder


def scene_ct_series(s: Shooter) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    from medadv_desktop.paths import demo_model_card

    win = s.new_window()
    try:
        s.open_paths(win, [_dicomdir_ct_series()], card=demo_model_card())
        study = win.session.study
        if study.n_slices < 2 or study.modality != "CT":
            raise SceneFailed(f"the CT series opened as {study.modality} with {study.n_slices} slice(s)")
        s.wait(lambda: bool(win.model_panel.prediction_texts()), "the prediction")
        viewer = win.viewer
        bone = 1 + [name for name, _level, _width in viewer.preset_combo.presets].index("Bone")
        s.click(viewer.panels[0].viewport(), viewer.panels[0].viewport().rect().center())   # keys to the viewer
        QTest.keyClick(viewer, Qt.Key_Home)                                    # first slice
        QTest.keyClick(viewer, Qt.Key_0 + bone)                                # the Bone preset by its digit
        s.idle(win)
        if viewer.current != 0 or round(viewer.width) != 2500:
            raise SceneFailed(f"Home / digit {bone} did not reach slice 1 at the Bone window")
        s.shoot(win, "ct_series",
                f"A real multi-file CT series (pydicom's DICOMDIR test data, {study.n_slices} files of 16x16, "
                "'Routine Brain', values up to ~1400 HU) opened from its folder with the demo CT model, on slice 1 "
                f"(Home) at the Bone preset (digit {bone}): series sorted by position, slice position/thickness and "
                "W/L in the corners, study list with description.")
    finally:
        s.close(win)


def scene_ct_measure(s: Shooter) -> None:
    from pydicom.data import get_testdata_file

    win = s.new_window()
    try:
        s.open_paths(win, [Path(get_testdata_file("693_UNCI.dcm"))])
        viewer = win.viewer
        s.click(viewer.measure_buttons["ellipse"])
        s.click(viewer.measure_buttons["ruler"])
        if viewer.measure.ellipse is None or viewer.measure.ruler is None:
            raise SceneFailed("the ruler / ellipse buttons did not add their shapes")
        stats, length = viewer.measure.results["ellipse"], viewer.measure.results["ruler"]
        s.shoot(win, "ct_measure",
                "512x512 head CT (pydicom-data 693_UNCI.dcm) with the ruler "
                f"({length.length:.1f} {length.units}) and the ellipse ROI (mean {stats.mean:.1f} {stats.units}, "
                f"SD {stats.sd:.1f}, area {stats.area_mm2:.0f} {stats.units_area}) on the original.")
    finally:
        s.close(win)


def scene_nifti_4d(s: Shooter) -> None:
    import nibabel
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    path = Path(nibabel.__file__).parent / "tests" / "data" / "example4d.nii.gz"
    win = s.new_window()
    try:
        s.open_paths(win, [path])
        study = win.session.study
        if study.n_volumes < 2:
            raise SceneFailed(f"example4d.nii.gz opened with {study.n_volumes} volume(s)")
        spin = win.viewer.volume_spin
        spin.setFocus()
        QTest.keyClick(spin, Qt.Key_Up)                    # the time / volume control: volume 2
        s.wait(lambda: win.session.study.volume_index == 1, "volume 2")
        s.idle(win)
        s.shoot(win, "nifti_4d",
                f"nibabel's real 4-D EPI brain (example4d.nii.gz, {study.n_volumes} volumes) showing volume 2 "
                "through the volume control beside the slice slider; 'Volume 2/2' in the corner; "
                f"modality {study.modality}, units '{study.units or 'a.u.'}'.")
    finally:
        s.close(win)


def scene_mr_guard(s: Shooter) -> None:
    from pydicom.data import get_testdata_file

    from medadv_desktop.paths import demo_model_card
    from medadv_desktop.ui.attack_info import SCOPE_SLICE
    from medadv_desktop.ui.widgets.results_panel import TAB_PREDICTION

    win = s.new_window()
    try:
        s.open_paths(win, [Path(get_testdata_file("MR_small.dcm"))], card=demo_model_card())
        panel = win.attack_panel
        panel.select_attack("fgsm")
        panel.set_scope(SCOPE_SLICE)
        s.settle(0.1)
        if not win.attacks.guard.isVisible():
            raise SceneFailed("the modality guard is not shown for MR_small with the CT demo model")
        s.shoot(win, "mr_guard_before",
                "MR_small.dcm with the demo CT model, before any run: the modality guard's warning in the "
                "Attack dock (model trained on CT, study is MR); Run stays possible.")
        s.run_attack(win, "fgsm", SCOPE_SLICE)
        if not win.results.guard_banners[0].isVisible():
            raise SceneFailed("the result's guard banner is not shown in Results > Prediction change")
        s.shoot(win, "mr_guard_after",
                "The same after FGSM: the guard's warnings kept with the result (banner in Results > Prediction "
                "change) and still in the Attack dock.",
                prepare=lambda: win.results_panel.setCurrentIndex(TAB_PREDICTION))
    finally:
        s.close(win)


def scene_issue12(s: Shooter) -> None:
    from medadv_desktop.engine.demo import write_demo_dataset
    from medadv_desktop.ui.attack_info import SCOPE_DATASET, SCOPE_SLICE
    from medadv_desktop.ui.widgets.image_panel import DIFFERENCE, SIDE_BY_SIDE
    from medadv_desktop.ui.widgets.results_panel import TAB_PREDICTION, TAB_SAMPLES

    from pydicom.data import get_testdata_file

    win = s.new_window()
    try:
        s.open_demo(win)
        viewer = win.viewer
        # 2: attack the demo -> open CT_small -> back to the demo -> attack again
        s.run_attack(win, "fgsm", SCOPE_SLICE)
        s.open_paths(win, [Path(get_testdata_file("CT_small.dcm"))])
        s.shoot(win, "issue12_switch_to_study_without_result",
                "Issue 12 #2 and #3 of this lane: after an FGSM on the demo, CT_small opened (no result): the "
                "difference panel is a zero map that keeps its colour bar; the Prediction change tab does not "
                "keep the demo's chart.",
                prepare=lambda: win.results_panel.setCurrentIndex(TAB_PREDICTION))
        s.click_study(win, 0)
        s.run_attack(win, "fgsm", SCOPE_SLICE)
        if viewer.mode != SIDE_BY_SIDE or not all(p.colorbar_visible for p in viewer.panels if p.kind == DIFFERENCE
                                                  and not p.isHidden()):
            raise SceneFailed("side by side without the difference colour bar after switching studies")
        s.shoot(win, "issue12_difference_after_switching",
                "Issue 12 #2: back on the demo and attacked again: side by side with the signed difference in "
                "its diverging colour map and colour bar (HU).")
        s.click(viewer.mode_buttons[DIFFERENCE])
        s.shoot(win, "issue12_difference_single",
                "Issue 12 #2: the single Difference view (toolbar button) with its colour map and colour bar.")
        # 3: an invalid eps disables Run with the reason
        panel = win.attack_panel
        form = panel.select_attack("fgsm")
        s.type_text(form.widgets["eps"].unit_edit, "2/25S")
        if panel.run_button.isEnabled() or not panel.reason.text():
            raise SceneFailed("Run stays enabled on eps '2/25S'")
        s.shoot(win, "issue12_invalid_eps",
                f"Issue 12 #3: eps typed as '2/25S': the field is red, Run is disabled and the reason is shown "
                f"under it ('{panel.reason.text()}').")
        s.type_text(form.widgets["eps"].unit_edit, "6HU")
        # 4: previews cleared on a sample row without images (an evaluation keeps images of its examples only)
        data = s.tmp / "demo_data"
        if not data.exists():
            write_demo_dataset(data, n_train=8, n_test=16)
        panel.set_scope(SCOPE_DATASET)
        panel.dataset_edit.setText(str(data / "test"))
        s.type_text(panel.eps_grid, "8/255")
        panel.set_ticked_attacks(["fgsm"])
        panel.max_samples.setValue(8)
        s.run_attack(win, "fgsm", SCOPE_DATASET)
        results = win.results_panel
        results.setCurrentIndex(TAB_SAMPLES)
        table = results.samples
        entries = [table.entry_at(r) for r in range(table.proxy.rowCount())]
        with_images = next((r for r, e in enumerate(entries) if e.has_images), None)
        without = next((r for r, e in enumerate(entries) if not e.has_images), None)
        if with_images is None or without is None:
            raise SceneFailed("the evaluation gave no sample rows both with and without images")

        def click_row(row: int) -> None:
            results.setCurrentIndex(TAB_SAMPLES)
            index = table.proxy.index(row, 0)
            table.scrollTo(index)
            s.click(table.viewport(), table.visualRect(index).center())

        click_row(with_images)
        s.shoot(win, "issue12_sample_with_images",
                "Issue 12 #4: Results > Samples after an 8-sample evaluation of the labelled synthetic demo test "
                "split: a row with images, previews at the model's window, 'Open in viewer' enabled.",
                prepare=lambda: click_row(with_images))
        click_row(without)
        if not results.preview.is_empty:
            raise SceneFailed("the preview kept the previous sample's images on a row without images")
        s.shoot(win, "issue12_sample_without_images",
                "Issue 12 #4: the next click on a row without images: previews cleared, the caption says no "
                "images were kept for this sample.",
                prepare=lambda: click_row(without))
    finally:
        s.close(win)


RUNNERS = {name: globals()[f"scene_{name}"] for name in SCENES}


def _size(text: str) -> tuple[int, int]:
    width, height = (int(v) for v in text.lower().split("x"))
    return width, height


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder for the PNGs and index.md (created)")
    parser.add_argument("--sizes", default="1600x1000,1280x800", help="window sizes, comma-separated WxH")
    parser.add_argument("--only", default="", help=f"comma-separated scenes of: {', '.join(SCENES)}")
    args = parser.parse_args(argv)
    only = [n.strip() for n in args.only.split(",") if n.strip()] or list(SCENES)
    unknown = [n for n in only if n not in RUNNERS]
    if unknown:
        parser.error(f"unknown scene(s) {', '.join(unknown)}; choose from {', '.join(SCENES)}")
    try:
        sizes = [_size(t) for t in args.sizes.split(",") if t.strip()]
    except ValueError:
        parser.error(f"--sizes {args.sizes!r}: expected WxH[,WxH...], e.g. 1600x1000,1280x800")
    args.out.mkdir(parents=True, exist_ok=True)

    from PySide6.QtWidgets import QApplication

    from medadv_desktop.ui import theme

    app = QApplication.instance() or QApplication(["medadv-screenshots"])
    theme.apply_theme(app)
    theme.configure_pyqtgraph()
    with tempfile.TemporaryDirectory(prefix="medadv-shots-") as tmp:
        shooter = Shooter(args.out, sizes, Path(tmp))
        for name in only:
            print(f"{name}:", flush=True)
            t0 = time.monotonic()
            try:
                RUNNERS[name](shooter)
            except SceneFailed as exc:
                shooter.failures.append(f"{name}: {exc}")
                print(f"  FAILED: {exc}", file=sys.stderr, flush=True)
            except Exception as exc:  # noqa: BLE001 - a broken scene must not stop the others
                shooter.failures.append(f"{name}: {type(exc).__name__}: {exc}")
                traceback.print_exc()
            print(f"  ({time.monotonic() - t0:.0f} s)", flush=True)
    lines = ["# MedAdv Desktop screenshots", "", "Taken by `scripts/screenshots.py` (real window, offscreen Qt).", ""]
    lines += [f"- `{file}`: {what}" for file, what in shooter.index]
    if shooter.failures:
        lines += ["", "## Scenes that did not reach their state", ""] + [f"- {f}" for f in shooter.failures]
    (args.out / "index.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{len(shooter.index)} screenshots in {args.out} (index.md lists them)")
    return 1 if shooter.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
