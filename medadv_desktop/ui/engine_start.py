"""Import the worker-side stack once, on the UI thread, before the worker's first job.

Why: a first-time ``import`` runs module code through PySide6's import hook
(``builtins.__import__`` is replaced by shiboken's ``__feature_import__``).
Run on the worker thread while the UI thread garbage-collected Qt wrappers,
it crashed CI once (segfault inside ``safetensors.torch.save``) and hung
another run. So the session imports everything the worker uses (torch,
safetensors, timm, pydicom, nibabel, reportlab's lazily loaded parts, every
engine module) here, one module per event-loop turn after the window is
shown, and holds jobs back until it is done: a first-time import never runs
on the worker thread.

:class:`ImportGuard` (a ``sys.meta_path`` finder that records first-time
imports made off the main thread) makes that checkable: the GUI tests run
the click sequences and assert it recorded nothing.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import sys
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

#: Third-party modules the engine imports inside functions (or that import parts of themselves
#: lazily on first use), in import order. Found with :class:`ImportGuard` over the GUI's click
#: sequences (open, attack, evaluate, export, train, load the hardened model).
WORKER_MODULES: tuple[str, ...] = (
    "numpy", "numpy.linalg", "numpy.fft", "numpy.random", "numpy.ma", "numpy.ctypeslib",
    "encodings.utf_8_sig",
    "torch", "torch.nn", "torch.nn.functional", "torch.optim", "torch.utils.data", "torch.autograd",
    "torch.profiler", "torch.profiler._cupti_monitor",
    "safetensors", "safetensors.torch",
    "PIL.Image", "PIL.PngImagePlugin", "PIL.TiffImagePlugin", "PIL.JpegImagePlugin",
    "PIL.BmpImagePlugin", "PIL.GifImagePlugin", "PIL.PpmImagePlugin",      # Image.open's preinit (JPEG corruption)
    "pydicom", "pydicom.uid", "pydicom.dataset", "pydicom.errors", "pydicom.pixels", "pydicom.data",
    "pydicom.filewriter", "pydicom.filereader", "pydicom.encaps",
    "nibabel", "nibabel.spatialimages", "nibabel.filebasedimages", "nibabel.nifti1", "nibabel.orientations",
    "gzip", "zlib", "csv", "tempfile", "shutil", "hashlib", "hmac", "secrets", "fractions", "platform",
    "xml.sax.saxutils", "json", "copy", "datetime",
    "reportlab", "reportlab.lib", "reportlab.lib.units", "reportlab.lib.styles", "reportlab.lib.enums",
    "reportlab.lib.pagesizes", "reportlab.lib.colors", "reportlab.platypus", "reportlab.pdfgen.canvas",
    "reportlab.pdfbase.pdfmetrics", "reportlab.pdfbase._fontdata",
    "reportlab.pdfbase._fontdata_enc_winansi", "reportlab.pdfbase._fontdata_enc_macroman",
    "reportlab.pdfbase._fontdata_enc_standard", "reportlab.pdfbase._fontdata_enc_symbol",
    "reportlab.pdfbase._fontdata_enc_zapfdingbats", "reportlab.pdfbase._fontdata_enc_pdfdoc",
    "reportlab.pdfbase._fontdata_enc_macexpert",
    "reportlab.pdfbase._fontdata_widths_helvetica", "reportlab.pdfbase._fontdata_widths_helveticabold",
    "reportlab.pdfbase._fontdata_widths_helveticaoblique", "reportlab.pdfbase._fontdata_widths_helveticaboldoblique",
    "reportlab.pdfbase._fontdata_widths_courier", "reportlab.pdfbase._fontdata_widths_courierbold",
    "reportlab.pdfbase._fontdata_widths_symbol", "reportlab.pdfbase._fontdata_widths_zapfdingbats",
    "reportlab.pdfbase._fontdata_widths_timesroman", "reportlab.pdfbase._fontdata_widths_timesbold",
    "reportlab.graphics.shapes", "reportlab.graphics.charts.lineplots", "reportlab.graphics.charts.legends",
    "reportlab.graphics.widgets.markers", "reportlab.graphics.renderPDF",
)


def engine_modules() -> list[str]:
    """Every module of ``medadv_desktop.engine`` (the worker runs their code)."""
    import medadv_desktop.engine as engine

    names = [engine.__name__]
    for info in pkgutil.walk_packages(engine.__path__, prefix=engine.__name__ + "."):
        names.append(info.name)
    return names


def _import_timm() -> None:
    from medadv_desktop.engine._torch_compat import import_timm

    import_timm()


def warm_up_steps() -> list[tuple[str, Callable[[], None]]]:
    """(name, import it) for every module the worker needs, cheapest first; timm through the
    project's torchvision guard (a CPU torch with a CUDA torchvision)."""
    steps: list[tuple[str, Callable[[], None]]] = []
    for name in WORKER_MODULES:
        steps.append((name, lambda n=name: _import_optional(n)))
        if name == "torch.autograd":
            steps.append(("timm", _import_timm))
    steps.extend((name, lambda n=name: _import_optional(n)) for name in engine_modules())
    return steps


def _import_optional(name: str) -> None:
    """Import ``name``; a module this installation lacks (an optional part) is skipped with a log line."""
    if name in sys.modules:
        return
    try:
        importlib.import_module(name)
    except ImportError as exc:
        log.info("warm-up: %s not imported (%s)", name, exc)
    except Exception:  # noqa: BLE001 - a broken optional part must not stop the application
        log.warning("warm-up: importing %s failed", name, exc_info=True)


class ImportGuard:
    """A ``sys.meta_path`` finder that records each first-time import made off the main thread.

    It never imports anything itself (``find_spec`` returns None). ``imports``
    lists ``(module, thread name)``; a name that is still missing from
    ``sys.modules`` afterwards was an optional import that failed (harmless).
    """

    def __init__(self) -> None:
        self.imports: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def find_spec(self, fullname, path=None, target=None):  # noqa: ANN001 - importlib protocol
        thread = threading.current_thread()
        if thread is not threading.main_thread():
            with self._lock:
                self.imports.append((fullname, thread.name))
        return None

    def worker_imports(self) -> list[str]:
        """Modules first imported off the main thread that did load."""
        with self._lock:
            return sorted({name for name, _ in self.imports if name in sys.modules})

    def clear(self) -> None:
        with self._lock:
            self.imports.clear()


_guard: ImportGuard | None = None


def import_guard() -> ImportGuard:
    """The process's one :class:`ImportGuard`, installed first in ``sys.meta_path`` on first use."""
    global _guard
    if _guard is None:
        _guard = ImportGuard()
        sys.meta_path.insert(0, _guard)
    return _guard
