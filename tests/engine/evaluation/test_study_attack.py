"""attack_study_job on real studies through a real (tiny TorchScript) model card."""
import numpy as np
import pytest

from medadv_desktop.engine.evaluation import StudyAttackResult, attack_study_job
from medadv_desktop.engine.jobs import CancelToken, run_job
from medadv_desktop.errors import JobCancelled



@pytest.fixture(scope="module")
def classifier(tiny_script_card):
    from medadv_desktop.engine.models import load_classifier
    return load_classifier(tiny_script_card, device="cpu")


def _study(name):
    from pydicom.data import get_testdata_file
    from medadv_desktop.engine.io import open_study
    return open_study(get_testdata_file(name))


def test_ct_slice_in_hu(classifier):
    study = _study("CT_small.dcm")
    events, inner = [], []
    res = run_job(attack_study_job(classifier, study, None, "pgd", {"eps": "6HU", "steps": 3},
                                   on_attack_progress=inner.append), events.append)
    assert inner and all(e.stage == "attack" for e in inner)
    assert isinstance(res, StudyAttackResult)
    assert res.eps == pytest.approx(6 / 400) and res.eps_native == pytest.approx(6.0) and res.units == "HU"
    assert res.clean_unit.shape == res.adv_unit.shape == (1, 1, 128, 128)
    assert res.clean_native.shape == res.adv_native.shape == (1, 128, 128)
    assert np.allclose(res.clean_native, study.pixels)
    assert np.abs(res.perturbation_native).max() <= 6.0 + 1e-3
    assert np.abs(res.perturbation_unit).max() <= res.eps + 1e-6
    # pixels outside the 40/400 window keep their own HU values (no clipping to the window)
    outside = study.pixels[0] < -160
    assert outside.any() and np.abs(res.adv_native[0][outside] - study.pixels[0][outside]).max() <= 6.0 + 1e-3
    assert res.clean_probs.shape == res.adv_probs.shape == (1, 2)
    assert len(res.records) == 1 and res.row.n_samples == 1
    assert res.records[0].sample_id == study.pseudonym
    assert events[-1].fraction == 1.0


def test_multiframe_selected_slices_and_cancel(classifier):
    study = _study("emri_small.dcm")
    res = run_job(attack_study_job(classifier, study, [2, 5, 7], "fgsm", {"eps": 4 / 255}, batch_size=2))
    assert res.slices == [2, 5, 7] and res.adv_unit.shape == (3, 1, 64, 64)
    assert res.adv_native.shape == (3, 64, 64) and res.eps_native is None or res.eps_native > 0
    assert [r.sample_id.split("/")[-1] for r in res.records] == ["slice-003", "slice-006", "slice-008"]
    token = CancelToken()
    token.cancel()
    with pytest.raises(JobCancelled):
        run_job(attack_study_job(classifier, study, None, "fgsm", {"eps": 4 / 255}, cancel=token))


def test_volume_model_attacks_the_whole_volume(tmp_path):
    import warnings

    import torch
    from torch import nn

    from medadv_desktop.engine.models import create_card_from_weights, load_classifier, save_card

    class Tiny3D(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv3d(1, 2, 3, padding=1)
            self.fc = nn.Linear(2, 2)

        def forward(self, x):
            return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3, 4)))

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.trace(Tiny3D().eval(), torch.rand(1, 1, 8, 16, 16)).save(str(tmp_path / "model.pt"))
    card = create_card_from_weights(tmp_path / "model.pt", name="tiny 3-D", class_names=["a", "b"],
                                    input_size=[8, 16, 16])
    save_card(card, tmp_path / "model_card.json")
    clf = load_classifier(tmp_path / "model_card.json", device="cpu")
    res = run_job(attack_study_job(clf, _study("emri_small.dcm"), None, "pgd", {"eps": 8 / 255, "steps": 2}))
    assert res.adv_unit.shape == (10, 1, 64, 64) and res.adv_native.shape == (10, 64, 64)
    assert res.clean_probs.shape == (10, 2) and np.allclose(res.clean_probs, res.clean_probs[0])
    assert len(res.records) == 1 and np.abs(res.perturbation_unit).max() <= 8 / 255 + 1e-6
