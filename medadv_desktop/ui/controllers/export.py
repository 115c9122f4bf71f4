"""File ▸ Export: write the current result, whatever its kind, as the CLI would, under names that never collide.

* a study attack (every study of the run): the adversarial study like the
  input (DICOM series, NIfTI, PNG), the perturbation map and the summary
  JSON, through the study attack workflow's writer, in a new folder
  ``medadv-attack-<pseudonym>-<attack>-<YYYYmmdd-HHMMSS>``;
* a data-set evaluation: PDF report, per-sample and summary CSV, JSON
  (``medadv-report-<model>-<YYYYmmdd-HHMMSS>``; "-partial" for a cancelled one);
* a before/after table of adversarial training: the hardened model's
  report with the table (PDF, CSVs, JSON) and ``…-before_after.json``.

Names carry the time to the second, and a counter (``-2``, ``-3``…) when
that name is taken, so a second export never meets "already exists"; the
writers still refuse to overwrite anything. The files are written on the
worker thread.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QWidget

from medadv_desktop.engine.jobs import CancelToken, Progress
from medadv_desktop.ui.session import AttackRun, BeforeAfterEntry, EvaluationEntry, Session
from medadv_desktop.ui.settings import KEY_EXPORT_DIR, SettingsStore
from medadv_desktop.ui.worker import JobRequest

REPORT_SUFFIXES = (".pdf", "-samples.csv", "-summary.csv", ".json")


def unique_stem(folder: Path, stem: str, suffixes: Sequence[str] = ("",)) -> str:
    """``stem``, or ``stem-2``, ``stem-3``… : the first for which no ``folder/(stem + suffix)`` exists."""
    candidate, n = stem, 1
    while any((folder / f"{candidate}{suffix}").exists() for suffix in suffixes):
        n += 1
        candidate = f"{stem}-{n}"
    return candidate


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

    def can_export(self) -> bool:
        return self.session.current_result is not None

    def export_current(self) -> JobRequest | None:
        entry = self.session.current_result
        if entry is None:
            self.session.report_error("Run an attack, an evaluation or an adversarial training first; "
                                      "the export writes its result.", title="Export")
            return None
        start = self.settings.text(KEY_EXPORT_DIR) or self.settings.last_dir()
        folder = QFileDialog.getExistingDirectory(self.parent, f"Export the {entry.label} to folder", start)
        if not folder:
            return None
        self.settings.set_text(KEY_EXPORT_DIR, folder)
        return self.export(entry, Path(folder))

    def export(self, entry: Any, folder: Path) -> JobRequest:
        """Write ``entry`` into ``folder`` (a job on the worker)."""
        if isinstance(entry, AttackRun):
            title, factory = self._attack_job(entry, folder)
        elif isinstance(entry, EvaluationEntry):
            title, factory = self._evaluation_job(entry, folder)
        elif isinstance(entry, BeforeAfterEntry):
            title, factory = self._before_after_job(entry, folder)
        else:  # pragma: no cover - every entry type is handled above
            raise TypeError(f"cannot export {type(entry).__name__}")
        return self.session.submit(JobRequest(title, factory, on_result=self._written,
                                              on_error=self.session.job_failed(title)))

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
            from medadv_desktop.engine.workflows.study_attack import write_study_attack_outputs

            def job():
                written: list[Path] = []
                for i, (outcome, target) in enumerate(targets):
                    cancel.raise_if_cancelled(partial=written)
                    yield Progress("export", i, len(targets), f"Writing the adversarial study {i + 1}/{len(targets)}")
                    written += write_study_attack_outputs(outcome, target)
                yield Progress("export", len(targets), len(targets), "Exported")
                return written
            return job()

        return f"Export the adversarial stud{'y' if len(outcomes) == 1 else 'ies'}", factory

    def _evaluation_job(self, entry: EvaluationEntry, folder: Path):
        result = entry.result
        stem = unique_stem(folder, report_stem(result, entry.partial), REPORT_SUFFIXES)
        paths = report_paths(folder, stem)

        def factory(cancel: CancelToken):
            from medadv_desktop.engine.reports import export_reports_job

            return export_reports_job(result, cancel=cancel, **paths)

        return f"Export report {stem}", factory

    def _before_after_job(self, entry: BeforeAfterEntry, folder: Path):
        table = entry.table
        base = table.after if table.after is not None else None
        stem = unique_stem(folder, (report_stem(base) if base is not None else f"medadv-before-after-{_stamp()}"),
                           (*REPORT_SUFFIXES, "-before_after.json"))
        paths = report_paths(folder, stem)
        table_path = folder / f"{stem}-before_after.json"

        def factory(cancel: CancelToken):
            from medadv_desktop.engine.reports import export_reports_job

            def job():
                written: list[Path] = [table.save_table(table_path)]
                if base is not None:
                    written += yield from export_reports_job(base, before_after=table, cancel=cancel, **paths)
                return written
            return job()

        return f"Export before/after {stem}", factory
