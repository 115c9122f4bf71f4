"""The project's one base exception and its subclasses.

Every error a user can cause (a bad file, a wrong model card, a cancelled job)
is a :class:`MedAdvError` whose message says what is wrong and what to do. The
front ends show ``str(error)``; they never show a raw traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class MedAdvError(Exception):
    """Base of every error MedAdv Desktop raises on purpose."""

    hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    def user_message(self) -> str:
        text = str(self)
        return f"{text}\n{self.hint}" if self.hint else text


class StudyError(MedAdvError):
    """A study (file or folder) cannot be read. Carries the path at fault."""

    def __init__(self, path: str | Path, reason: str, *, hint: str | None = None) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"Cannot read '{self.path.name}': {reason}", hint=hint)


class UnsupportedStudyError(StudyError):
    """The file is readable but its kind of image is not supported."""


class CorruptStudyError(StudyError):
    """The file is truncated, damaged or not what its name says."""


class ModelCardError(MedAdvError):
    """The model card is invalid. Carries the card path and the field at fault."""

    def __init__(self, message: str, *, path: str | Path | None = None,
                 field: str | None = None, hint: str | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.field = field
        prefix = f"Model card '{self.path.name}'" if self.path else "Model card"
        where = f", field '{field}'" if field else ""
        super().__init__(f"{prefix}{where}: {message}", hint=hint)


class ModelLoadError(MedAdvError):
    """The weights cannot be loaded safely or do not fit the architecture."""

    def __init__(self, message: str, *, path: str | Path | None = None,
                 hint: str | None = None) -> None:
        self.path = Path(path) if path is not None else None
        super().__init__(message, hint=hint)


class UnsafeFileError(ModelLoadError):
    """A file would execute code when loaded (e.g. a pickle with objects)."""


class ModelInputError(MedAdvError):
    """The image does not fit the model (channels, dimensions, NaNs)."""


class AttackConfigError(MedAdvError):
    """An attack parameter is out of range or inconsistent. Names the parameter."""

    def __init__(self, message: str, *, parameter: str | None = None,
                 hint: str | None = None) -> None:
        self.parameter = parameter
        where = f"Parameter '{parameter}': " if parameter else ""
        super().__init__(f"{where}{message}", hint=hint)


class TrainingConfigError(MedAdvError):
    """An adversarial training option is out of range or inconsistent. Names the field."""

    def __init__(self, message: str, *, field: str | None = None, hint: str | None = None) -> None:
        self.field = field
        where = f"Training option '{field}': " if field else ""
        super().__init__(f"{where}{message}", hint=hint)


class TrainingError(MedAdvError):
    """Adversarial training cannot run (output folder holds another run, data too small...)."""


class DatasetError(MedAdvError):
    """A labelled data set folder is missing, empty or malformed."""


class JobCancelled(MedAdvError):
    """A long job was cancelled by the user. Partial results may be attached."""

    def __init__(self, message: str = "The job was cancelled.", *, partial: Any = None) -> None:
        self.partial = partial
        super().__init__(message)


class ReportError(MedAdvError):
    """A report cannot be written (destination exists, not writable, ...)."""


class SelfTestError(MedAdvError):
    """One step of the installation self-test failed; the message says what and what to do."""


class OutputExistsError(MedAdvError):
    """Refusing to overwrite a file that already exists."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        super().__init__(
            f"'{self.path}' already exists; MedAdv never overwrites your files.",
            hint="Choose another output folder or file name, or remove the file first.",
        )


class ModalityMismatchError(MedAdvError):
    """The study does not match what the model was trained for, and the user asked for strictness
    (``--strict-modality``): nothing was attacked. Carries the guard's warnings."""

    def __init__(self, message: str, *, warnings: Any = None, hint: str | None = None) -> None:
        self.warnings = list(warnings or [])
        super().__init__(message, hint=hint)


class OutputWriteError(MedAdvError):
    """A file could not be written (disk full, read-only, no permission, ...). Nothing partial is left.

    ``path`` is the file that was being written, ``errno`` the OS error number
    (``errno.ENOSPC``, ``errno.EROFS``, ...) and ``reason`` the cause in words.
    ``unsaved``: the finished result that was being saved, still in memory,
    when a workflow attaches it (the CLI then writes it to a fallback folder
    it names, the GUI offers a save-as dialog); None otherwise.
    """

    def __init__(self, path: str | Path, err: int | None, reason: str) -> None:
        self.path = Path(path)
        self.errno = err
        self.reason = reason
        self.unsaved: Any = None
        super().__init__(f"Cannot write '{self.path}': {reason}; nothing was written there.",
                         hint="Free some space or choose another output folder; the finished result "
                              "is still in memory.")


class OutputConflictError(MedAdvError):
    """An output path is one of the inputs, or an output folder lies inside an input folder."""

    def __init__(self, output: str | Path, source: str | Path, message: str) -> None:
        self.path = Path(output)
        self.source = Path(source)
        super().__init__(message, hint="Choose an output outside the input files and folders.")


class ResultFormatError(MedAdvError):
    """A saved result (JSON) does not have the shape of a MedAdv result, or is from a newer MedAdv."""


class InvalidArgumentError(MedAdvError, ValueError):
    """The engine was called with an argument it cannot use (a shape, a count, a name, a size).

    Usually a caller's mistake rather than the user's, but still a :class:`MedAdvError`, so a front end
    shows one line instead of a traceback; it stays a ``ValueError`` for callers that catch that.
    """
