"""The input gradient a study attack keeps for the viewer's overlay: a real FGSM on the demo study and demo model."""

from __future__ import annotations

import numpy as np
import pytest

from medadv_desktop.engine.jobs import run_job
from medadv_desktop.engine.perturbation import is_uniform_magnitude, overlay_map, signed_delta
from medadv_desktop.engine.workflows import study_attack_workflow


@pytest.fixture(scope="module")
def fgsm_outcome():
    from medadv_desktop.engine.io import open_path
    from medadv_desktop.engine.models import load_classifier
    from medadv_desktop.paths import demo_model_card, resources_dir

    report = open_path(resources_dir() / "demo_study")
    assert report.studies, report.failures
    study = report.studies[0]
    classifier = load_classifier(demo_model_card(), device="cpu")
    slice_ = study.default_slice if study.default_slice is not None else study.n_slices // 2
    return run_job(study_attack_workflow(classifier, study, "fgsm", {"eps": 4 / 255}, slices=[slice_],
                                         attribution=True))


def test_fgsm_outcome_keeps_the_loss_gradient_at_the_original(fgsm_outcome):
    result, grad = fgsm_outcome.result, fgsm_outcome.input_gradient
    assert grad is not None and grad.shape == result.adv_native.shape and grad.dtype == np.float32
    assert np.isfinite(grad).all() and np.any(grad)
    # FGSM steps along sign(d loss / d input) of the same loss at the same image: wherever the step was
    # not clipped to the model's [0, 1] range, the sign of the native change is the sign of the gradient
    delta = result.adv_native - result.clean_native
    clean_unit = result.clean_unit[:, 0]
    free = (clean_unit > 0.02) & (clean_unit < 0.98) & (grad != 0)
    assert free.sum() > 100
    np.testing.assert_array_equal(np.sign(delta[free]), np.sign(grad[free]))


def test_the_linf_overlay_with_the_gradient_is_an_attribution_not_a_uniform_wash(fgsm_outcome):
    result, grad = fgsm_outcome.result, fgsm_outcome.input_gradient
    clean, adv = result.clean_native[0], result.adv_native[0]
    assert is_uniform_magnitude(signed_delta(clean, adv))              # the L-inf signature...
    assert overlay_map(clean, adv, units="HU").kind == "none"          # ...which alone gives no map
    shown = overlay_map(clean, adv, units="HU", gradient=grad[0])
    assert shown.kind == "attribution" and "∂loss/∂x" in shown.label
    np.testing.assert_allclose(shown.array, np.abs((adv - clean) * grad[0]), rtol=1e-5)
    assert not is_uniform_magnitude(shown.array)                       # it says where the change matters


def test_the_gradient_is_computed_only_when_asked(fgsm_outcome):
    """The CLI writes nothing that uses it: without ``attribution`` no extra backward pass runs."""
    from medadv_desktop.engine.models import load_classifier
    from medadv_desktop.paths import demo_model_card

    classifier = load_classifier(demo_model_card(), device="cpu")
    plain = run_job(study_attack_workflow(classifier, fgsm_outcome.study, "fgsm", {"eps": 4 / 255},
                                          slices=list(fgsm_outcome.result.slices)))
    assert plain.input_gradient is None
    np.testing.assert_array_equal(plain.result.adv_native, fgsm_outcome.result.adv_native)

