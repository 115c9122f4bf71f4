"""`medadv-desktop --demo`: the bundled demo study and demo model, FGSM on the current slice."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt

from medadv_desktop.ui.attack_info import SCOPE_SLICE
from tests.ui.conftest import load, run_and_wait


def test_demo_study_and_model_fgsm(window, qtbot):
    """`--demo`: the bundled demo study and demo model; FGSM on the current slice."""
    from medadv_desktop.paths import demo_model_card, resources_dir
    from medadv_desktop.ui.session import DEMO_TITLE

    assert demo_model_card().exists(), "the bundled demo model (resources/demo_model) is missing"
    assert (resources_dir() / "demo_study").is_dir(), "the bundled demo study is missing"
    load(qtbot, window, demo=True)
    assert DEMO_TITLE in window.windowTitle()
    assert window.model_panel.banner.isVisibleTo(window.model_panel)
    assert window.session.study.n_slices > 1
    form = window.attack_panel.select_attack("fgsm")
    form.set_value("eps", 2 / 255)
    assert form.widgets["eps"].native_text() == "3.14 HU"
    window.attack_panel.set_scope(SCOPE_SLICE)
    [(_, outcome)] = run_and_wait(qtbot, window).outcomes
    result = outcome.result
    heat = window.viewer.heatmap_array()
    changed = result.adv_native[0] != result.clean_native[0]
    assert changed.any() and np.all(heat[changed] > 0) and np.all(heat[~changed] == 0)
    table = window.results_panel.table
    robust = [table.proxy.headerData(c, Qt.Horizontal) for c in range(table.proxy.columnCount())].index("Robust acc")
    assert table.proxy.index(0, robust).data() == f"{result.row.robust_accuracy * 100:.1f} %"
    assert all(len(t) == 3 for t in window.model_panel.prediction_texts())
