import pytest
import torch

from medadv_desktop.engine.training.checkpoint import (
    checkpoint_paths,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    save_checkpoint,
)
from medadv_desktop.errors import ModelLoadError, OutputExistsError


def _trained(seed=0):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Flatten(),
                              torch.nn.LazyLinear(2))
    net(torch.rand(2, 1, 8, 8))
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    for _ in range(2):
        opt.zero_grad()
        net(torch.rand(4, 1, 8, 8)).sum().backward()
        opt.step()
    return net, opt


def test_round_trip_restores_weights_and_optimizer(tmp_path):
    net, opt = _trained()
    save_checkpoint(tmp_path, 1, net, opt, {"history": [{"epoch": 1}]})
    ckpt = load_checkpoint(tmp_path, 1)
    assert ckpt.state["history"] == [{"epoch": 1}]
    for k, v in net.state_dict().items():
        assert torch.equal(ckpt.model_state[k], v)
    net2, opt2 = _trained(seed=1)
    net2.load_state_dict(ckpt.model_state)
    ckpt.restore_optimizer(opt2)
    a, b = opt.state_dict(), opt2.state_dict()
    assert a["param_groups"] == b["param_groups"]
    for idx in a["state"]:
        for name, value in a["state"][idx].items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(b["state"][idx][name]))
    # never pickled: the tensor file is safetensors, the state JSON
    tensor_path, state_path = checkpoint_paths(tmp_path, 1)
    assert tensor_path.read_bytes()[8:9] == b"{" and state_path.read_text().lstrip().startswith("{")


def test_refuses_to_overwrite_and_skips_damaged_checkpoints(tmp_path):
    net, opt = _trained()
    save_checkpoint(tmp_path, 1, net, opt, {})
    with pytest.raises(OutputExistsError):
        save_checkpoint(tmp_path, 1, net, opt, {})
    save_checkpoint(tmp_path, 2, net, opt, {})
    tensor_path, _ = checkpoint_paths(tmp_path, 2)
    data = bytearray(tensor_path.read_bytes())
    data[-1] ^= 0xFF
    tensor_path.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError):
        load_checkpoint(tmp_path, 2)
    assert list_checkpoints(tmp_path) == [1, 2]
    assert latest_checkpoint(tmp_path).epoch == 1


# --------------------------------------------------------------------------- interrupted writes (issue 14)
def _names(folder):
    return sorted(p.name for p in folder.iterdir())


def _enospc_while(monkeypatch, condition):
    import errno
    import os

    real = os.write

    def write(fd, data):
        if condition():
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd, data)

    monkeypatch.setattr(os, "write", write)


def test_a_full_disk_leaves_no_part_of_the_checkpoint(tmp_path, monkeypatch):
    from medadv_desktop.engine.safe_write import OutputWriteError

    net, opt = _trained()
    save_checkpoint(tmp_path, 1, net, opt, {})
    calls = []
    _enospc_while(monkeypatch, lambda: calls.append(1) or len(calls) > 1)   # the tensors fit, the JSON does not
    with pytest.raises(OutputWriteError, match="disk is full"):
        save_checkpoint(tmp_path, 2, net, opt, {})
    monkeypatch.undo()
    assert _names(tmp_path) == ["checkpoint-epoch-001.json", "checkpoint-epoch-001.safetensors"]
    save_checkpoint(tmp_path, 2, net, opt, {})
    assert latest_checkpoint(tmp_path).epoch == 2


@pytest.mark.parametrize("damage", ["no json", "json is []", "json is garbage", "tensors damaged", "no tensors"])
def test_an_incomplete_checkpoint_is_skipped_then_set_aside_and_rewritten(tmp_path, damage):
    net, opt = _trained()
    save_checkpoint(tmp_path, 1, net, opt, {"history": [{"epoch": 1}]})
    save_checkpoint(tmp_path, 2, net, opt, {"history": [{"epoch": 2}]})
    tensor_path, state_path = checkpoint_paths(tmp_path, 2)
    if damage == "no json":                 # killed between placing the two files
        state_path.unlink()
    elif damage == "json is []":
        state_path.write_text("[]")
    elif damage == "json is garbage":
        state_path.write_bytes(b"\xff{" * 10)
    elif damage == "tensors damaged":
        tensor_path.write_bytes(tensor_path.read_bytes()[:-10])
    else:
        tensor_path.unlink()
    with pytest.raises(ModelLoadError):
        load_checkpoint(tmp_path, 2)
    assert latest_checkpoint(tmp_path).epoch == 1          # resume starts after epoch 1
    save_checkpoint(tmp_path, 2, net, opt, {"history": [{"epoch": 2, "again": True}]})   # no "already exists"
    assert load_checkpoint(tmp_path, 2).state["history"] == [{"epoch": 2, "again": True}]
    aside = [n for n in _names(tmp_path) if ".incomplete-" in n]
    assert aside and all(n.startswith("checkpoint-epoch-002.") for n in aside)    # kept, not deleted
    assert list_checkpoints(tmp_path) == [1, 2]


def test_a_complete_checkpoint_that_does_not_fit_the_optimizer_is_a_clear_error(tmp_path):
    net, opt = _trained()
    save_checkpoint(tmp_path, 1, net, opt, {})
    other = torch.optim.SGD([torch.nn.Parameter(torch.zeros(3))], lr=0.1)
    with pytest.raises(ModelLoadError, match="does not fit"):
        load_checkpoint(tmp_path, 1).restore_optimizer(other)


def test_training_resumes_after_a_full_disk_at_a_checkpoint(tiny_card, demo_train, tmp_path, monkeypatch):
    """The issue's case: the disk filled up while epoch 2's checkpoint was written; --resume then finished
    the run instead of failing for ever with 'already exists'."""
    from medadv_desktop.engine.jobs import run_job
    from medadv_desktop.engine.safe_write import OutputWriteError
    from medadv_desktop.engine.training import TrainingConfig, adversarial_training_job
    from medadv_desktop.engine.training import checkpoint as ckpt_module

    data = demo_train.subset(list(range(16)))
    config = TrainingConfig(method="fgsm", eps=4 / 255, epochs=2, lr=1e-3, batch_size=8, val_split=0.25,
                            val_pgd_steps=1, device="cpu")
    out = tmp_path / "run"
    real_save = ckpt_module.save_checkpoint
    full = [False]

    def save_on_a_filling_disk(out_dir, epoch, *args, **kwargs):
        full[0] = epoch == 2
        try:
            return real_save(out_dir, epoch, *args, **kwargs)
        finally:
            full[0] = False

    monkeypatch.setattr(ckpt_module, "save_checkpoint", save_on_a_filling_disk)
    _enospc_while(monkeypatch, lambda: full[0])
    with pytest.raises(OutputWriteError):
        run_job(adversarial_training_job(tiny_card, data, config, out))
    monkeypatch.undo()
    assert latest_checkpoint(out).epoch == 1 and not list(out.glob(".*.part"))
    # the worst moment: a kill between placing epoch 2's tensors and its JSON
    save_checkpoint(out, 2, torch.nn.Linear(1, 1), torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=1), {})
    checkpoint_paths(out, 2)[1].unlink()
    result = run_job(adversarial_training_job(tiny_card, data, config, out, resume=True))
    assert result.resumed_from_epoch == 1 and [r.epoch for r in result.history] == [0, 1, 2]
    assert latest_checkpoint(out).epoch == 2
