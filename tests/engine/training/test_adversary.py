import torch

from medadv_desktop.engine.models import load_classifier
from medadv_desktop.engine.training import adversary as adv


def _batch(demo_train, n=16):
    x, y, _, _ = demo_train.to_tensors()
    return x[:n], y[:n]


def test_examples_stay_in_the_ball_and_in_range(tiny_card, demo_train):
    model = load_classifier(tiny_card, device="cpu")
    x, y = _batch(demo_train)
    eps = 4 / 255
    g = torch.Generator().manual_seed(0)
    for x_adv in (adv.fgsm_random_start(model, x, y, eps, 1.25 * eps, generator=g),
                  adv.pgd(model, x, y, eps, eps / 4, 3, generator=g),
                  adv.trades_adversary(model, x, eps, eps / 4, 3, generator=g)):
        assert x_adv.shape == x.shape and not x_adv.requires_grad
        assert (x_adv - x).abs().max() <= eps + 1e-6
        assert x_adv.min() >= 0 and x_adv.max() <= 1
    # no parameter gradient is computed while examples are made
    assert all(p.grad is None for p in model.parameters())


def test_pgd_without_random_start_matches_torchattacks(tiny_card, demo_train):
    import torchattacks

    model = load_classifier(tiny_card, device="cpu")
    x, y = _batch(demo_train, 8)
    eps, alpha, steps = 8 / 255, 2 / 255, 3
    ours = adv.pgd(model, x, y, eps, alpha, steps, random_start=False)
    ref = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=False)(x, y)
    assert torch.allclose(ours, ref, atol=1e-6)


def test_trades_loss_is_ce_plus_beta_kl():
    torch.manual_seed(0)
    a, b = torch.randn(4, 2), torch.randn(4, 2)
    y = torch.tensor([0, 1, 1, 0])
    ce = torch.nn.functional.cross_entropy(a, y)
    p = a.softmax(1)
    kl = (p * (p.log() - b.log_softmax(1))).sum(1).mean()
    assert torch.allclose(adv.trades_loss(a, b, y, 6.0), ce + 6.0 * kl, atol=1e-6)
    assert torch.allclose(adv.trades_loss(a, a, y, 6.0), ce, atol=1e-6)
