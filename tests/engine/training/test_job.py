"""The adversarial training job on tiny real inputs (demo CT patches, a timm test network)."""

import json

import pytest
import torch

from medadv_desktop.engine.jobs import CancelToken, run_job
from medadv_desktop.engine.models import ModelCard, load_classifier, sha256_file
from medadv_desktop.engine.training import (
    TrainingConfig, TrainingError, adversarial_training_job, latest_checkpoint, robust_accuracy)
from medadv_desktop.errors import JobCancelled

EPS = 4 / 255


def _files_hash(card_path):
    card = ModelCard.load(card_path)
    return sha256_file(card_path), sha256_file(card.weights_path)


def test_fgsm_training_raises_robust_accuracy(pretrained_card, demo_train, tmp_path):
    before_hash = _files_hash(pretrained_card)
    x, y, _, _ = demo_train.to_tensors()
    parent = load_classifier(pretrained_card, device="cpu")
    clean0, robust0 = robust_accuracy(parent, x, y, EPS, steps=5)

    config = TrainingConfig(method="fgsm", eps=EPS, epochs=3, lr=1e-3, batch_size=16, val_split=0.0, device="cpu")
    events = []
    result = run_job(adversarial_training_job(pretrained_card, demo_train, config, tmp_path / "out"), events.append)
    hardened = load_classifier(result.model_card_path, device="cpu")
    clean1, robust1 = robust_accuracy(hardened, x, y, EPS, steps=5)
    print(f"clean {clean0:.3f} -> {clean1:.3f}, PGD robust {robust0:.3f} -> {robust1:.3f}")
    assert robust1 >= robust0 + 0.15
    assert clean1 >= clean0 - 0.15

    # the input model is untouched; the output has its own card with provenance
    assert _files_hash(pretrained_card) == before_hash
    card = ModelCard.load(result.model_card_path)
    assert card.name.endswith("(adversarially trained)")
    assert card.sha256 == sha256_file(card.weights_path) == result.weights_sha256
    record = card.provenance["adversarial_training"]
    assert card.provenance["parent_sha256"] == before_hash[1]
    assert record["method"] == "fgsm" and record["eps"] == pytest.approx(EPS) and record["epochs"] == 3
    assert record["data"]["n_train"] == 64 and record["data"]["name"] == "demo-train"
    assert record["metrics"]["final"]["epoch"] == 3
    assert sorted(p.name for p in (tmp_path / "out").glob("checkpoint-epoch-*")) == [
        f"checkpoint-epoch-00{e}.{ext}" for e in (1, 2, 3) for ext in ("json", "safetensors")]
    batches = [e for e in events if e.data.get("kind") == "batch"]
    epochs = [e for e in events if e.data.get("kind") == "epoch"]
    assert len(batches) == 3 * 4 and all("loss" in e.data and "accuracy" in e.data for e in batches)
    assert [e.data["epoch"] for e in epochs] == [0, 1, 2, 3]
    assert all({"val_clean_accuracy", "val_robust_accuracy", "loss"} <= set(e.data) for e in epochs)
    assert batches[-1].done == batches[-1].total


def _small(demo_train, n=24):
    return demo_train.subset(list(range(n)))


# the eps warm-up and cosine schedule follow the step index: the resume test covers them too
SMALL = dict(method="fgsm", eps=EPS, epochs=2, lr=1e-3, batch_size=8, val_split=0.25, val_pgd_steps=2,
             device="cpu", eps_warmup=0.5, lr_schedule="cosine")


def test_cancel_mid_epoch_keeps_last_checkpoint_and_resume_repeats_the_run(tiny_card, demo_train, tmp_path):
    data = _small(demo_train)
    config = TrainingConfig(**SMALL)
    parent_hash = _files_hash(tiny_card)
    straight = run_job(adversarial_training_job(tiny_card, data, config, tmp_path / "straight"))

    out = tmp_path / "interrupted"
    cancel = CancelToken()
    job = adversarial_training_job(tiny_card, data, config, out, cancel=cancel)
    with pytest.raises(JobCancelled) as info:
        for event in job:
            if event.data.get("kind") == "batch" and event.data["epoch"] == 2 and event.data["batch"] == 1:
                cancel.cancel()
    assert info.value.partial.endswith("checkpoint-epoch-001.json")
    ckpt = latest_checkpoint(out)
    assert ckpt.epoch == 1
    load_classifier(tiny_card, device="cpu").network.load_state_dict(ckpt.model_state)   # loadable
    assert not (out / "model.safetensors").exists() and not list(out.glob("*.part"))
    assert _files_hash(tiny_card) == parent_hash

    # another run's options into this folder are refused; so is restarting it without resume
    other = TrainingConfig(**{**SMALL, "eps": 2 / 255})
    with pytest.raises(TrainingError, match="different training run"):
        run_job(adversarial_training_job(tiny_card, data, other, out))
    with pytest.raises(TrainingError, match="checkpoints"):
        run_job(adversarial_training_job(tiny_card, data, config, out, resume=False))

    events = []
    resumed = run_job(adversarial_training_job(tiny_card, data, config, out, resume=True), events.append)
    assert resumed.resumed_from_epoch == 1
    assert [e.data["epoch"] for e in events if e.data.get("kind") == "batch"][0] == 2
    assert [r.epoch for r in resumed.history] == [0, 1, 2]
    a = load_classifier(straight.model_card_path, device="cpu").network.state_dict()
    b = load_classifier(resumed.model_card_path, device="cpu").network.state_dict()
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), atol=1e-5), k
    assert _files_hash(tiny_card) == parent_hash
    with pytest.raises(TrainingError, match="finished model"):
        run_job(adversarial_training_job(tiny_card, data, config, out))


def test_refuses_a_folder_with_other_files(tiny_card, demo_train, tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(TrainingError, match="other files"):
        run_job(adversarial_training_job(tiny_card, _small(demo_train, 8), TrainingConfig(**SMALL), out))
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize("method,extra", [
    ("pgd", {"steps": 2}), ("trades", {"steps": 2, "beta": 3.0}),
    ("mix", {"mix_ratio": 0.5, "mix_attack": "pgd", "steps": 2}), ("mix", {"mix_ratio": 0.5}),
])
def test_every_method_trains_and_writes_a_loadable_card(method, extra, tiny_card, demo_train, tmp_path):
    config = TrainingConfig(**{**SMALL, "epochs": 1, "method": method, "mixed_precision": True, **extra})
    result = run_job(adversarial_training_job(tiny_card, _small(demo_train, 16), config, tmp_path / "out"))
    assert result.final.epoch == 1 and result.final.loss == result.final.loss   # finite, not NaN
    card = ModelCard.load(result.model_card_path)
    assert card.provenance["adversarial_training"]["method"] == method
    model = load_classifier(card, device="cpu")
    assert model(torch.rand(2, 1, 64, 64)).shape == (2, 2)
    saved = json.loads((tmp_path / "out" / "run.json").read_text())
    assert saved["config"]["method"] == method and "/" not in saved["data"]["name"]
