"""Per-sample random streams: a sample's result does not depend on the batch it is attacked in,
so the evaluation cascade's worst case is never above a single attack's own run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medadv_desktop.engine.attacks import create_attack
from medadv_desktop.engine.attacks._common import SampleRNG
from medadv_desktop.engine.datasets import LabelledDataset
from medadv_desktop.engine.evaluation import evaluate_job
from medadv_desktop.engine.jobs import run_job

from .conftest import TinyCNN, correct_labels

RANDOM = [("pgd", {"steps": 6}), ("pgd", {"steps": 3, "restarts": 3}), ("pgd", {"steps": 4, "norm": "l2", "eps": 0.15}),
          ("square", {"n_queries": 40}), ("square", {"n_queries": 40, "norm": "l2", "eps": 0.2}),
          ("apgd-ce", {"steps": 10}), ("apgd-dlr", {"steps": 8, "restarts": 2}), ("apgd-t", {"steps": 6}),
          ("vertical", {"random_start": True, "steps": 4}), ("vertical", {"variant": "black_box", "n_queries": 30})]


@pytest.mark.parametrize("name,params", RANDOM, ids=[f"{n}-{i}" for i, (n, _) in enumerate(RANDOM)])
def test_the_same_samples_in_other_batchings_give_the_same_adversarial_examples(name, params):
    model = TinyCNN(1, 3, seed=7).eval()
    x = torch.rand(12, 1, 16, 16, generator=torch.Generator().manual_seed(3))
    y = correct_labels(model, x)
    kw = {"eps": 4 / 255, **params}
    attack = create_attack(name, model, **kw)
    whole = attack.perturb(x, y)
    assert whole.success.any() and not whole.success.all()     # early stop changes the batch as it goes
    perm = torch.randperm(12, generator=torch.Generator().manual_seed(1))
    for size in (1, 5):
        adv = torch.empty_like(x)
        success = torch.empty_like(whole.success)
        for i in range(0, 12, size):
            sel = perm[i:i + size]
            out = attack.perturb(x[sel], y[sel])
            adv[sel], success[sel] = out.adv, out.success
        assert torch.equal(success, whole.success), (name, size)
        torch.testing.assert_close(adv, whole.adv, atol=1e-6, rtol=0)


def test_streams_depend_on_seed_stream_and_pixels_only():
    x = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    a = SampleRNG.for_samples(x, 0, "pgd").rand((3,))
    b = SampleRNG.for_samples(x[[2, 0]], 0, "pgd").rand((3,))
    assert torch.equal(a[[2, 0]], b)
    assert not torch.equal(SampleRNG.for_samples(x, 1, "pgd").rand((3,)), a)
    assert not torch.equal(SampleRNG.for_samples(x, 0, "square").rand((3,)), a)
    rng = SampleRNG.for_samples(x, 0, "pgd")
    first = rng.select([1]).rand((2,))           # a selection shares (and advances) the stream
    assert not torch.equal(rng.select([1]).rand((2,)), first)
    assert rng.signs((5,)).abs().eq(1).all() and rng.randn((2, 2)).shape == (4, 2, 2)


def test_cascade_worst_case_is_never_above_the_single_attack():
    """The issue's case: FGSM before PGD changed which samples PGD saw in a batch, so PGD's random
    starts changed and the worst case rose above PGD's own robust accuracy. With per-sample
    streams every PGD-attacked sample gets exactly its own PGD result."""
    model = TinyCNN(1, 3, seed=7).eval()
    gen = np.random.default_rng(0)
    x = gen.random((40, 1, 16, 16)).astype(np.float32)
    y = correct_labels(model, torch.from_numpy(x)).tolist()
    ds = LabelledDataset.from_arrays(x, y, ["a", "b", "c"], name="seeding", synthetic=True)
    pgd = ("pgd", {"steps": 3, "alpha": 1 / 255})
    alone = run_job(evaluate_job(model, ds, [pgd], [2 / 255, 4 / 255], batch_size=8, n_examples=0))
    both = run_job(evaluate_job(model, ds, [("fgsm", {}), pgd], [2 / 255, 4 / 255], batch_size=8, n_examples=0))
    for eps in (2 / 255, 4 / 255):
        own = {s.sample_id: s.adv_pred != s.true_label for s in alone.samples if s.attack == "pgd" and s.eps == eps}
        pgd_in_cascade = {s.sample_id: s for s in both.samples if s.attack == "pgd" and s.eps == eps}
        fgsm = {s.sample_id: s.adv_pred != s.true_label for s in both.samples if s.attack == "fgsm" and s.eps == eps}
        # every sample PGD fooled alone is fooled in the cascade (by FGSM or by the same PGD run)
        for sid, fooled in own.items():
            if fooled:
                rec = pgd_in_cascade[sid]
                assert rec.adv_pred != rec.true_label or fgsm[sid], sid
        worst = {r.attack: r.robust_accuracy for r in both.rows if r.eps == eps}
        own_row = {r.attack: r.robust_accuracy for r in alone.rows if r.eps == eps}
        assert worst["worst-case"] <= own_row["pgd"]
