"""Issue 13: the opt-in overlay of an L-inf result shows |delta x input-gradient|, labelled as what it is.

A real FGSM on the demo study with the demo model (the workflow the GUI's worker runs), shown in a real
ViewerWidget through the viewer controller's helpers; the overlay is turned on with a real click.
"""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from medadv_desktop.engine.jobs import run_job
from medadv_desktop.engine.workflows import study_attack_workflow
from medadv_desktop.ui.controllers.viewer import adversarial_slices, input_gradients
from medadv_desktop.ui.widgets.viewer import ADVERSARIAL, SIDE_BY_SIDE, ViewerWidget


@pytest.fixture(scope="module")
def demo_fgsm():
    from medadv_desktop.engine.io import open_path
    from medadv_desktop.engine.models import load_classifier
    from medadv_desktop.paths import demo_model_card, resources_dir

    study = open_path(resources_dir() / "demo_study").studies[0]
    classifier = load_classifier(demo_model_card(), device="cpu")
    slice_ = study.default_slice if study.default_slice is not None else study.n_slices // 2
    return run_job(study_attack_workflow(classifier, study, "fgsm", {"eps": 4 / 255}, slices=[slice_],
                                         attribution=True))


@pytest.fixture
def viewer(qtbot, demo_fgsm):
    v = ViewerWidget()
    qtbot.addWidget(v)
    v.resize(1000, 600)
    v.show()
    qtbot.waitExposed(v)
    v.set_study(demo_fgsm.study)
    return v


def test_linf_overlay_is_delta_times_gradient(viewer, qtbot, demo_fgsm):
    viewer.set_adversarial(adversarial_slices(demo_fgsm), gradients=input_gradients(demo_fgsm))
    assert viewer.mode == SIDE_BY_SIDE and not any(p.overlay.isVisible() for p in viewer.panels)   # off by default
    qtbot.mouseClick(viewer.heatmap_check, Qt.LeftButton)
    assert viewer.heatmap_check.isChecked()
    adversarial = viewer.panels[1]
    assert adversarial.kind == ADVERSARIAL and adversarial.overlay.isVisible()
    assert not viewer.panels[0].overlay.isVisible()          # the original stays clean for comparison
    info = viewer.overlay_info
    assert info is not None and info.kind == "attribution"
    result, k = demo_fgsm.result, demo_fgsm.result.slices.index(viewer.current)
    expected = np.abs((result.adv_native[k] - result.clean_native[k]) * demo_fgsm.input_gradient[k])
    np.testing.assert_allclose(adversarial.overlay.image, expected, rtol=1e-5)
    assert np.ptp(expected) > 0 and "∂loss/∂x" in adversarial.toolTip()
    assert "∂loss/∂x" in viewer.heat_bar.axis.labelText        # the colour bar names what is drawn
    assert "no overlay" not in adversarial.title.text


def test_without_a_gradient_the_linf_overlay_still_refuses_the_wash(viewer, qtbot, demo_fgsm):
    viewer.set_adversarial(adversarial_slices(demo_fgsm))
    qtbot.mouseClick(viewer.heatmap_check, Qt.LeftButton)
    assert viewer.overlay_info.kind == "none" and not any(p.overlay.isVisible() for p in viewer.panels)
    # a new result without gradients after one with them: the old gradients are not reused
    viewer.set_adversarial(adversarial_slices(demo_fgsm), gradients=input_gradients(demo_fgsm))
    viewer.set_adversarial(adversarial_slices(demo_fgsm))
    viewer.heatmap_check.setChecked(True)
    assert viewer.overlay_info.kind == "none"
