import pytest
import torch

from medadv_desktop.engine.training.checkpoint import (
    checkpoint_paths, latest_checkpoint, list_checkpoints, load_checkpoint, save_checkpoint)
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
