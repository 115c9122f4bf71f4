"""BatchNorm folding: same function, fewer operations, the model itself untouched."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from medadv_desktop.engine._torch_compat import import_timm
from medadv_desktop.engine.models import Classifier, ModelCard
from medadv_desktop.engine.models.folding import fold_batchnorm, folded_for_attack


def _trained_bn(model: nn.Module, shape=(8, 1, 16, 16)) -> nn.Module:
    """Give every BatchNorm non-trivial running statistics and affine parameters."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.5, 0.5, generator=g)
                m.running_var.uniform_(0.5, 2.0, generator=g)
                if m.weight is not None:
                    m.weight.uniform_(0.5, 1.5, generator=g)
                    m.bias.uniform_(-0.2, 0.2, generator=g)
    return model.eval()


def _count(model: nn.Module, kind) -> int:
    return sum(isinstance(m, kind) for m in model.modules())


def test_folds_conv_bn_pairs_and_keeps_the_function():
    net = _trained_bn(nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                                    nn.Conv2d(4, 4, 3, bias=True), nn.BatchNorm2d(4), nn.Flatten(),
                                    nn.LazyLinear(3)))
    x = torch.rand(5, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = net(x)
    before = copy.deepcopy(net.state_dict())
    folded = fold_batchnorm(net)
    assert folded.pairs == 2
    assert _count(folded.module, nn.BatchNorm2d) == 0
    with torch.no_grad():
        assert torch.allclose(folded.module(x), ref, atol=1e-5)
    # the original is untouched
    assert _count(net, nn.BatchNorm2d) == 2
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_input_gradient_matches():
    net = _trained_bn(nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.Tanh(), nn.Flatten(), nn.LazyLinear(2)))
    x = torch.rand(4, 1, 16, 16, generator=torch.Generator().manual_seed(2))
    net(x)
    folded = fold_batchnorm(net).module

    def grad(m):
        xx = x.clone().requires_grad_(True)
        return torch.autograd.grad(m(xx).sum(), xx)[0]

    assert torch.allclose(grad(folded), grad(net), atol=1e-5)


def test_batchnorm_not_after_a_conv_is_left_alone():
    # BN after a Linear, and a conv whose output is also used elsewhere (residual): nothing to fold there
    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(2, 2, 3, padding=1)
            self.bn = nn.BatchNorm2d(2)

        def forward(self, x):
            y = self.conv(x)
            return self.bn(y) + y

    net = _trained_bn(nn.Sequential(Residual(), nn.Flatten(), nn.Linear(2 * 8 * 8, 4), nn.BatchNorm1d(4)))
    out = fold_batchnorm(net)
    assert out.pairs == 0 and out.module is net and out.reason


def test_timm_efficientnet_folds_with_bn_act_layers():
    timm = import_timm()
    torch.manual_seed(0)
    net = _trained_bn(timm.create_model("efficientnet_b0", pretrained=False, in_chans=1, num_classes=2))
    x = torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        ref = net(x)
    out = fold_batchnorm(net)
    assert out.pairs == 49   # every conv + BatchNormAct2d of EfficientNet-B0
    with torch.no_grad():
        assert torch.allclose(out.module(x), ref, atol=1e-4, rtol=1e-4)


def test_torchscript_and_bn_free_models_run_as_loaded():
    plain = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
    assert fold_batchnorm(plain).module is plain
    scripted = torch.jit.script(nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)).eval())
    out = fold_batchnorm(scripted)
    assert out.module is scripted and out.reason == "TorchScript model"


@pytest.fixture()
def classifier():
    net = _trained_bn(nn.Sequential(nn.Conv2d(1, 4, 3, stride=2), nn.BatchNorm2d(4), nn.ReLU(),
                                    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)))
    card = ModelCard.from_dict({"name": "tiny", "format": "timm", "architecture": "x", "weights": "w.safetensors",
                                "num_classes": 2, "class_names": ["a", "b"], "input_size": [16, 16], "in_chans": 1})
    return Classifier(net, card).eval()


def test_classifier_view_is_cached_until_weights_change(classifier):
    x = torch.rand(3, 1, 16, 16, generator=torch.Generator().manual_seed(4))
    first = folded_for_attack(classifier, probe=x)
    assert first.pairs == 1 and first.module is not classifier
    assert first.module.card is classifier.card
    assert folded_for_attack(classifier, probe=x) is first          # cached
    with torch.no_grad():
        assert torch.allclose(first.module(x), classifier(x), atol=1e-5)
        classifier.network[1].running_mean.add_(0.3)                # an in-place change: fold again
    second = folded_for_attack(classifier, probe=x)
    assert second is not first
    with torch.no_grad():
        assert torch.allclose(second.module(x), classifier(x), atol=1e-5)


def test_cache_does_not_keep_a_model_alive():
    import gc
    import weakref

    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())          # nothing to fold
    ref = weakref.ref(net)
    assert folded_for_attack(net).module is net
    del net
    gc.collect()
    assert ref() is None


def test_a_shared_convolution_is_not_folded():
    # the same conv feeds a BatchNorm once and is used bare once: folding it would change the bare use
    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 1, 3, padding=1)
            self.bn = nn.BatchNorm2d(1)

        def forward(self, x):
            return self.bn(self.conv(x)) + self.conv(x)

    net = _trained_bn(Shared())
    out = fold_batchnorm(net)
    assert out.pairs == 0 and out.module is net
