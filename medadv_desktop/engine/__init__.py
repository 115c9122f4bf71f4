"""The MedAdv engine. It never imports Qt (checked by tests/engine/test_no_qt.py)."""
