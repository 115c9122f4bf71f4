"""The Qt binding itself: a defect in it crashes the whole app, whatever our code does.

PySide6 6.12.0's ``SignalInstance.emit()`` returns ``True`` without a reference
of its own, so each call from Python takes one reference from ``True``; after
some thousand emits in a session Python aborts with "bool_dealloc" (seen in
the random click test). pyproject.toml keeps PySide6 below 6.12; this test
fails if an installed binding has the defect again.
"""

import sys

from PySide6.QtCore import QObject, Signal


class _Emitter(QObject):
    plain = Signal()
    flag = Signal(bool)


def test_emit_keeps_the_reference_count_of_true_and_false():
    emitter = _Emitter()
    emitter.plain.connect(lambda: None)
    true_before, false_before = sys.getrefcount(True), sys.getrefcount(False)
    results = [emitter.plain.emit() for _ in range(200)] + [emitter.flag.emit(False) for _ in range(200)]
    del results
    # a defective binding loses 200 of each; unrelated code may hold one or two more meanwhile
    assert sys.getrefcount(True) >= true_before - 5
    assert sys.getrefcount(False) >= false_before - 5
