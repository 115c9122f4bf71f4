"""File ▸ Export: write the current result, whatever its kind, as the CLI would, under names that never collide.

* a study attack (every study of the run): the adversarial study like the
  input (DICOM series, NIfTI, PNG), the perturbation map and the summary
  JSON, through the study attack workflow's writer, in a new folder
  ``medadv-attack-<pseudonym>-<attack>-<YYYYmmdd-HHMMSS>`` (refused inside
  the study's own series folder, as ``medadv attack --out`` is);
* a data-set evaluation: PDF report, per-sample and summary CSV, JSON
  (``medadv-report-<model>-<YYYYmmdd-HHMMSS>``; "-partial" for a cancelled one);
* a before/after table of adversarial training: the hardened model's
  report with the table (PDF, CSVs, JSON), ``…-before_after.json`` and the
  dedicated before/after report (``…-before-after-report.pdf/.csv/.json``,
  both models' hashes, the recipe, the paired test: the CLI's
  ``report --before-after-report``);
* a corruption evaluation: its PDF report, JSON, table CSV and per-sample
  CSV as ``medadv evaluate-corruptions --report --json --csv --samples-csv`` (``medadv-corruptions-<model>-<YYYYmmdd-HHMMSS>``);
* a corrupted study (Corruptions dock): the study corrupted again with the
  same corruption, severity and seed (deterministic), written like
  ``medadv corrupt`` (de-identified, marked simulated) with its record JSON.

A report (evaluation or before/after) carries the sign-off of
:mod:`medadv_desktop.ui.dialogs.signoff` (requester, approver, purpose), asked
at export when the evaluation has a test plan's verdict or when the user asked
for it at every export, and the verdict itself (the PDF opens with it); all
files of one export share one report id.

Names carry the time to the second, and a counter (``-2``, ``-3``…) when
that name is taken, so a second export never meets "already exists"; the
writers still refuse to overwrite anything. The files are written on the
worker thread.

A full, read-only or otherwise failing disk (issue 14): an export is one
unit. When a write fails (``OutputWriteError``), the files this export had
already written are removed again, with the folders it created, so nothing
partial is left; the result stays in the session and
:class:`~medadv_desktop.ui.dialogs.save_elsewhere.SaveElsewhereDialog`
offers to save it in another folder (one message, no path in it). The same
offer serves a result a workflow could not save itself (the before/after
table of adversarial training: :meth:`ExportController.offer_save_elsewhere`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QFileDialog, QWidget

from medadv_desktop.engine.jobs import CancelToken, Progress
from medadv_desktop.errors import OutputWriteError
from medadv_desktop.ui.dialogs.save_elsewhere import SaveElsewhereDialog
from medadv_desktop.ui.dialogs.signoff import SignOff, SignOffDialog
from medadv_desktop.ui.privacy import redact_path
from medadv_desktop.ui.session import (
    AttackRun, BeforeAfterEntry, CorruptedStudyEntry, CorruptionEntry, EvaluationEntry, Session,
)
from medadv_desktop.ui.settings import KEY_EXPORT_DIR, SettingsStore
from medadv_desktop.ui.worker import JobFailure, JobRequest

REPORT_SUFFIXES = (".pdf", "-samples.csv", "-summary.csv", ".json")
BEFORE_AFTER_SUFFIXES = ("-before_after.json", "-before-after-report.pdf", "-before-after-report.csv",
                         "-before-after-report.json")
# the sign-off names (staff, not patients) are remembered between launches; the purpose is per session
KEY_REQUESTER, KEY_APPROVER, KEY_ASK_SIGNOFF = "report/requester", "report/approver", "report/ask_signoff"
CORRUPTION_SUFFIXES = (".pdf", ".json", "-table.csv", "-samples.csv")


def unique_stem(folder: Path, stem: str, suffixes: Sequence[str] = ("",)) -> str:
    """``stem``, or ``stem-2``, ``stem-3``… : the first for which no ``folder/(stem + suffix)`` exists."""
    candidate, n = stem, 1
    while any((folder / f"{candidate}{suffix}").exists() for suffix in suffixes):
        n += 1
        candidate = f"{stem}-{n}"
    return candidate


def remove_new_outputs(files: Sequence[Path], folders: Sequence[Path]) -> None:
    """Remove ``files`` (new files this export wrote) and, deepest first, those of ``folders`` (created by
    this export) that are empty afterwards. Never touches anything else."""
    for path in files:
        try:
            os.unlink(path)
        except OSError:
            pass
    for folder in sorted({Path(f) for f in folders}, key=lambda f: len(f.parts), reverse=True):
        if not folder.is_dir():
            continue
        for sub in sorted((p for p in folder.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            try:
                sub.rmdir()
            except OSError:
                pass
        try:
            folder.rmdir()
        except OSError:
            pass


def tracked_report_job(job: Any, folder: Path, written: list[Path]) -> Iterator[Any]:
    """Run ``export_reports_job`` and note in ``written`` each file it finished (its event after the file
    reports a larger ``done`` for the same file than the event before it). Returns the job's value."""
    started: dict[str, int] = {}
    while True:
        try:
            event = next(job)
        except StopIteration as stop:
            return stop.value
        name = (getattr(event, "data", None) or {}).get("file")
        if name:
            if name in started and event.done > started[name]:
                written.append(folder / name)
            started.setdefault(name, event.done)
        yield event


def _stamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


def _slug(text: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:48] or "x"


def report_paths(folder: Path, stem: str) -> dict[str, Path]:
    """The four report files of one evaluation export (keyword names of ``export_reports_job``)."""
    return dict(pdf=folder / f"{stem}.pdf", csv=folder / f"{stem}-samples.csv",
                summary_csv=folder / f"{stem}-summary.csv", json=folder / f"{stem}.json")


def report_stem(result: Any, partial: bool = False) -> str:
    """The engine's report stem (``medadv-report-<model>-<YYYYmmdd-HHMM>``) with seconds added."""
    from medadv_desktop.engine.reports import default_report_stem

    return default_report_stem(result) + time.strftime("%S") + ("-partial" if partial else "")


class ExportController(QObject):
    """Exports the session's current result (chosen by the last run, or a Summary row)."""

    sig_exported = Signal(list)              # the paths written

    def __init__(self, session: Session, settings: SettingsStore, dialog_parent: QWidget) -> None:
        super().__init__(session)
        self.session, self.settings, self.parent = session, settings, dialog_parent
        self.signoff = SignOff(settings.text(KEY_REQUESTER), settings.text(KEY_APPROVER))
        self.ask_always = settings.text(KEY_ASK_SIGNOFF) == "1"
        self.unsaved_dialog: SaveElsewhereDialog | None = None

    def edit_signoff(self, verdict: Any = None) -> bool:
        """File ▸ Report Sign-off… (and the question at export): False when the user cancelled."""
        line = (f"This report carries the test plan's verdict: {verdict.summary()}." if verdict is not None else "")
        dialog = SignOffDialog(self.parent, values=self.signoff, ask_always=self.ask_always, verdict_line=line)
        if dialog.exec() != SignOffDialog.Accepted or dialog.result_values is None:
            return False
        self.signoff = dialog.result_values
        self.ask_always = dialog.ask_always.isChecked()
        self.settings.set_text(KEY_REQUESTER, self.signoff.requester)
        self.settings.set_text(KEY_APPROVER, self.signoff.approver)
        self.settings.set_text(KEY_ASK_SIGNOFF, "1" if self.ask_always else "0")
        return True

    def can_export(self) -> bool:
        return self.session.current_result is not None

    def export_current(self) -> JobRequest | None:
        entry = self.session.current_result
        if entry is None:
            self.session.report_error("Run an attack, an evaluation or an adversarial training first; "
                                      "the export writes its result.", title="Export")
            return None
        verdict = getattr(entry, "verdict", None)
        if isinstance(entry, (EvaluationEntry, BeforeAfterEntry)) and (verdict is not None or self.ask_always) \
                and not self.edit_signoff(verdict):
            return None
        start = self.settings.text(KEY_EXPORT_DIR) or self.settings.last_dir()
        folder = QFileDialog.getExistingDirectory(self.parent, f"Export the {entry.label} to folder", start)
        if not folder:
            return None
        if self.settings.remember_recent or not self._beside_a_study(Path(folder)):
            self.settings.set_text(KEY_EXPORT_DIR, folder)     # a study's folder is never stored (issue 14)
        return self.export(entry, Path(folder))

    def _beside_a_study(self, folder: Path) -> bool:
        """``folder`` is (inside) a folder that held a study opened in this session: its path may carry a
        patient's name, so it is not stored in the settings file unless the user opted in."""
        folder = folder.resolve()
        for recent in self.settings.recent_files():
            path = Path(recent)
            for place in (path, path.parent) if path.is_file() or not path.exists() else (path,):
                if folder == place or folder.is_relative_to(place):
                    return True
        return False

    def export(self, entry: Any, folder: Path) -> JobRequest:
        """Write ``entry`` into ``folder`` (a job on the worker)."""
        if isinstance(entry, AttackRun):
            title, factory = self._attack_job(entry, folder)
        elif isinstance(entry, EvaluationEntry):
            title, factory = self._evaluation_job(entry, folder)
        elif isinstance(entry, BeforeAfterEntry):
            title, factory = self._before_after_job(entry, folder)
        elif isinstance(entry, CorruptionEntry):
            title, factory = self._corruption_job(entry, folder)
        elif isinstance(entry, CorruptedStudyEntry):
            title, factory = self._corrupted_study_job(entry, folder)
        else:  # pragma: no cover - every entry type is handled above
            raise TypeError(f"cannot export {type(entry).__name__}")
        return self.session.submit(JobRequest(title, factory, on_result=self._written,
                                              on_error=lambda failure: self._failed(entry, title, failure)))

    # -- the write/failure path ----------------------------------------------------------
    def _failed(self, entry: Any, title: str, failure: JobFailure) -> None:
        exc = failure.exception
        if isinstance(exc, OutputWriteError):
            self.offer_save_elsewhere(entry, exc)
        else:                                   # e.g. refused inside a study folder: its name is not shown
            self.session.report_error(redact_path(failure.message, *self.settings.recent_files()), title=title)

    def offer_save_elsewhere(self, entry: Any, error: OutputWriteError) -> SaveElsewhereDialog:
        """One message (what, why, nothing partial, still in memory) with "Save Elsewhere…": a folder
        dialog, then the export again into the chosen folder. The entry stays in the session either way."""
        if entry not in self.session.results:
            self.session.add_result(entry)          # kept in memory: File ▸ Export can write it later
        message = SaveElsewhereDialog.message(entry.label, error.reason)
        self.session.last_error = message
        self.session.message.emit(message)
        if self.unsaved_dialog is not None:
            try:
                self.unsaved_dialog.close()
            except RuntimeError:                  # already deleted by Qt
                pass
        dialog = SaveElsewhereDialog(entry.label, error.reason, self.parent)
        dialog.sig_save_elsewhere.connect(lambda: QTimer.singleShot(0, lambda: self.save_elsewhere(entry)))
        dialog.destroyed.connect(lambda _obj=None, d=dialog: self._forget_dialog(d))
        self.unsaved_dialog = dialog
        dialog.show()
        return dialog

    def _forget_dialog(self, dialog: SaveElsewhereDialog) -> None:
        if self.unsaved_dialog is dialog:
            self.unsaved_dialog = None

    def save_elsewhere(self, entry: Any) -> JobRequest | None:
        """Ask for another folder and export ``entry`` there (None when the user cancels the dialog)."""
        folder = QFileDialog.getExistingDirectory(self.parent, f"Save the {entry.label} in another folder",
                                                  str(Path.home()))
        if not folder:
            self.session.message.emit(f"The {entry.label} is still in memory; File ▸ Export saves it.")
            return None
        return self.export(entry, Path(folder))

    def _written(self, paths: list[Path]) -> None:
        names = ", ".join(Path(p).name for p in paths[:6]) + (f" and {len(paths) - 6} more" if len(paths) > 6 else "")
        where = Path(paths[0]).parent.name if paths else ""
        self.session.message.emit(f"Exported {len(paths)} file(s) to '{where}': {names}")
        self.sig_exported.emit(list(paths))

    # -- the kinds -------------------------------------------------------------------
    def _attack_job(self, run: AttackRun, folder: Path):
        outcomes = [outcome for _index, outcome in run.outcomes]
        stamp = _stamp()
        targets = []
        for outcome in outcomes:
            stem = f"medadv-attack-{_slug(outcome.study.pseudonym or 'study')}-{outcome.attack}-{stamp}"
            targets.append((outcome, folder / unique_stem(folder, stem)))

        def factory(cancel: CancelToken):
            from medadv_desktop.engine.workflows.study_attack import check_output_dir, write_study_attack_outputs

            def job():
                for outcome, target in targets:     # never into the study's own files or series folder
                    check_output_dir(target, outcome.study)
                written: list[Path] = []
                try:
                    for i, (outcome, target) in enumerate(targets):
                        cancel.raise_if_cancelled(partial=written)
                        yield Progress("export", i, len(targets),
                                       f"Writing the adversarial study {i + 1}/{len(targets)}")
                        written += write_study_attack_outputs(outcome, target)
                except OutputWriteError:          # one unit: the studies already written go too
                    remove_new_outputs(written, [target for _o, target in targets])
                    raise
                yield Progress("export", len(targets), len(targets), "Exported")
                return written
            return job()

        return f"Export the adversarial stud{'y' if len(outcomes) == 1 else 'ies'}", factory

    def _evaluation_job(self, entry: EvaluationEntry, folder: Path):
        result = entry.result
        stem = unique_stem(folder, report_stem(result, entry.partial), REPORT_SUFFIXES)
        paths = report_paths(folder, stem)
        meta = self.signoff.meta(verdict=entry.verdict)          # one report id for every file

        def factory(cancel: CancelToken):
            from medadv_desktop.engine.reports import export_reports_job

            def job():
                written: list[Path] = []
                try:
                    reports = export_reports_job(result, cancel=cancel, meta=meta, **paths)
                    return (yield from tracked_report_job(reports, folder, written))
                except OutputWriteError:          # one unit: the reports already written go too
                    remove_new_outputs(written, [])
                    raise
            return job()

        return f"Export report {stem}", factory

    def _before_after_job(self, entry: BeforeAfterEntry, folder: Path):
        table = entry.table
        base = table.after if table.after is not None else None
        stem = unique_stem(folder, (report_stem(base) if base is not None else f"medadv-before-after-{_stamp()}"),
                           (*REPORT_SUFFIXES, *BEFORE_AFTER_SUFFIXES))
        paths = report_paths(folder, stem)
        table_path = folder / f"{stem}-before_after.json"
        own = [folder / f"{stem}-before-after-report{ext}" for ext in (".pdf", ".csv", ".json")]
        meta = self.signoff.meta()                               # one report id for every file

        def factory(cancel: CancelToken):
            from medadv_desktop.engine.reports import export_reports_job
            from medadv_desktop.engine.reports.before_after_report import (
                write_before_after_csv, write_before_after_json, write_before_after_pdf)

            def job():
                written: list[Path] = []
                try:
                    written.append(table.save_table(table_path))
                    writers = (write_before_after_pdf, write_before_after_csv, write_before_after_json)
                    for i, (path, write) in enumerate(zip(own, writers)):     # the before/after report itself
                        cancel.raise_if_cancelled(partial=list(written))
                        yield Progress("report", i, len(own), f"Writing the before/after report: {path.name}")
                        written.append(write(table, path, meta=meta))
                    if base is not None:
                        reports = export_reports_job(base, before_after=table, cancel=cancel, meta=meta, **paths)
                        done = list(written)
                        return [*done, *(yield from tracked_report_job(reports, folder, written))]
                except OutputWriteError:          # one unit: the files already written go too
                    remove_new_outputs(written, [])
                    raise
                return written
            return job()

        return f"Export before/after {stem}", factory

    def _corruption_job(self, entry: CorruptionEntry, folder: Path):
        result = entry.result
        stem = unique_stem(folder, f"medadv-corruptions-{_slug(result.model.name or 'model').rstrip('-')}-{_stamp()}",
                           CORRUPTION_SUFFIXES)
        pdf, json_path, csv, samples_csv = (folder / f"{stem}{suffix}" for suffix in CORRUPTION_SUFFIXES)
        meta = self.signoff.meta()                               # one report id; the sign-off names if given

        def factory(cancel: CancelToken):
            from medadv_desktop.engine.workflows.corruption import CorruptionEvaluationOutcome, export_corruption_outcome

            def job():
                yield Progress("export", 0, 1, "Writing the corruption evaluation (PDF, JSON, CSVs)")
                written = export_corruption_outcome(CorruptionEvaluationOutcome(result, meta=meta), pdf=pdf,
                                                    json=json_path, csv=csv, samples_csv=samples_csv)
                yield Progress("export", 1, 1, "Exported")
                return written                    # all four or none (the engine's all-or-nothing)
            return job()

        return f"Export corruption evaluation {stem}", factory

    def _corrupted_study_job(self, entry: CorruptedStudyEntry, folder: Path):
        record = entry.outcome.record
        target = folder / unique_stem(folder, f"medadv-corrupt-{_slug(entry.source.pseudonym or 'study')}-"
                                              f"{record.corruption}-s{record.severity}-{_stamp()}")

        def factory(cancel: CancelToken):
            from medadv_desktop.engine.workflows.corruption import corrupt_study_workflow
            from medadv_desktop.engine.workflows.study_attack import check_output_dir

            def job():
                check_output_dir(target, entry.source)      # never into the study's own files or series folder
                try:
                    outcome = yield from corrupt_study_workflow(entry.source, record.corruption, record.severity,
                                                                seed=entry.seed, out_dir=target, cancel=cancel)
                except OutputWriteError:          # one unit: the new folder (all of it this export's) goes
                    remove_new_outputs([p for p in target.rglob("*") if p.is_file()], [target])
                    raise
                return outcome.written
            return job()

        return "Export the corrupted study", factory
