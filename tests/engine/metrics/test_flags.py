import torch
from torch import nn

from medadv_desktop.engine.results.evaluation import AttackRow
from medadv_desktop.engine.metrics import (
    check_black_box_beats_white_box, check_nondeterminism, check_probabilities,
    check_zero_gradients, model_sanity_flags)


class TinyCNN(nn.Module):
    def __init__(self, k=2, softmax=False, noise=0.0, rounding=False):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4, k)
        self.softmax, self.noise, self.rounding = softmax, noise, rounding

    def forward(self, x):
        if self.rounding:                       # quantise the input: zero gradient
            x = torch.round(x * 4) / 4
        h = torch.relu(self.conv(x)).mean(dim=(2, 3))
        if self.noise:                          # dropout-like randomness even in eval mode
            h = nn.functional.dropout(h, p=self.noise, training=True)
        z = self.fc(h)
        return torch.softmax(z, dim=1) if self.softmax else z


def _batch():
    g = torch.Generator().manual_seed(0)
    return torch.rand(8, 1, 12, 12, generator=g), torch.tensor([0, 1] * 4)


def test_clean_model_raises_no_flag():
    x, y = _batch()
    assert model_sanity_flags(TinyCNN(), x, y) == []


def test_probabilities_flag():
    x, y = _batch()
    flags = model_sanity_flags(TinyCNN(softmax=True), x, y)
    assert [f.code for f in flags] == ["probabilities"]
    assert "softmax" in flags[0].explanation and "Export the model" in flags[0].explanation
    assert check_probabilities(torch.sigmoid(torch.randn(5, 1))).code == "probabilities"


def test_nondeterministic_flag_and_mode_restored():
    x, y = _batch()
    m = TinyCNN(noise=0.5)
    m.train()
    f = check_nondeterminism(m, x)
    assert f is not None and f.code == "nondeterministic"
    assert m.training
    assert check_nondeterminism(TinyCNN(), x) is None


def test_zero_gradient_flag():
    x, y = _batch()
    f = check_zero_gradients(TinyCNN(rounding=True), x, y)
    assert f is not None and f.code == "zero_gradients" and "8 of 8" in f.title
    assert check_zero_gradients(TinyCNN(), x, y) is None


def _row(attack, eps, ra):
    return AttackRow(attack=attack, eps=eps, eps_native=None, n_samples=20, robust_accuracy=ra,
                     attack_success_rate=None)


def test_black_box_beats_white_box():
    bb = {"fgsm": False, "pgd": False, "square": True}
    rows = [_row("fgsm", 0.01, 0.6), _row("pgd", 0.01, 0.5), _row("square", 0.01, 0.2),
            _row("fgsm", 0.02, 0.3), _row("pgd", 0.02, 0.1), _row("square", 0.02, 0.1),
            _row("worst-case", 0.01, 0.1)]
    flags = check_black_box_beats_white_box(rows, bb)
    assert len(flags) == 1 and flags[0].code == "black_box_beats_white_box"
    assert "square" in flags[0].explanation and "pgd" in flags[0].explanation
    # with the result's labels, the text names the attacks as the reports do
    labelled = check_black_box_beats_white_box(rows, bb, {"square": "Square attack", "pgd": "PGD"})[0]
    assert "Black-box Square attack beats" in labelled.title
    assert "'Square attack'" in labelled.explanation and "'PGD'" in labelled.explanation


def test_black_box_beats_white_box_with_cumulative_rows():
    """Attack cascade: a cumulative black-box row is compared with the white-box rows run before it."""
    bb = {"fgsm": False, "pgd": False, "square": True, "smia": False}

    def cascade(eps, *ras):
        rows = [_row(a, eps, ra) for a, ra in zip(("fgsm", "pgd", "square", "smia"), ras)]
        for r in rows[1:]:
            r.cumulative = True
        return rows

    # square still fools images after FGSM and PGD; SMIA (later, cumulative, so lower) does not hide it
    flags = check_black_box_beats_white_box(cascade(0.01, 0.6, 0.5, 0.3, 0.3), bb)
    assert len(flags) == 1 and "square" in flags[0].explanation and "before it" in flags[0].explanation
    # square adds nothing beyond the white-box attacks before it
    assert check_black_box_beats_white_box(cascade(0.01, 0.6, 0.5, 0.5, 0.4), bb) == []
    # a black-box attack run first (its own row) has no white-box row before it to compare with
    rows = [_row("square", 0.01, 0.2), _row("fgsm", 0.01, 0.2), _row("pgd", 0.01, 0.1)]
    rows[1].cumulative = rows[2].cumulative = True
    assert check_black_box_beats_white_box(rows, bb) == []
