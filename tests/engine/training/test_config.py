import pytest

from medadv_desktop.engine.training import TrainingConfig, TrainingConfigError
from medadv_desktop.errors import MedAdvError


def test_default_steps_follow_the_papers():
    assert TrainingConfig(method="fgsm", eps=8 / 255).step_size == pytest.approx(1.25 * 8 / 255)
    assert TrainingConfig(method="pgd", eps=8 / 255, steps=10).step_size == pytest.approx(2 / 255)
    assert TrainingConfig(method="mix", mix_attack="pgd", eps=8 / 255, steps=5).step_size == pytest.approx(4 / 255)
    assert TrainingConfig(method="pgd", eps=0.01, alpha=0.003).step_size == 0.003
    assert TrainingConfig(method="fgsm").cost_factor == 2.0
    assert TrainingConfig(method="pgd", steps=7).cost_factor == 8.0


@pytest.mark.parametrize("field,value", [
    ("method", "free"), ("eps", 0.0), ("eps", 1.5), ("alpha", -1.0), ("steps", 0), ("steps", 2.5),
    ("beta", -1.0), ("mix_ratio", 1.5), ("mix_attack", "square"), ("epochs", 0), ("lr", 0.0),
    ("batch_size", 0), ("weight_decay", -0.1), ("val_split", 0.95), ("seed", -1), ("device", "gpu0"),
    ("mixed_precision", "yes"), ("eps", float("nan")), ("eps_warmup", 1.5), ("eps_warmup", -0.1),
    ("lr_schedule", "step"),
])
def test_invalid_options_name_the_field(field, value):
    with pytest.raises(TrainingConfigError) as info:
        TrainingConfig(**{field: value})
    assert info.value.field == field
    assert field in str(info.value)
    assert isinstance(info.value, MedAdvError)


def test_round_trip_and_fingerprint():
    cfg = TrainingConfig(method="trades", eps=4 / 255, beta=3.0, epochs=2, device="cpu")
    again = TrainingConfig.from_dict(cfg.to_dict())
    assert again == cfg
    fp = cfg.fingerprint_dict()
    assert "epochs" not in fp and "device" not in fp and fp["beta"] == 3.0


def test_eps_warmup_and_cosine_schedule():
    cfg = TrainingConfig(eps=4 / 255, lr=1e-3, eps_warmup=0.5, lr_schedule="cosine")
    total = 100
    scales = [cfg.eps_scale(s, total) for s in range(total)]
    assert scales[0] == pytest.approx(1 / 50) and scales[24] == pytest.approx(0.5) and scales[49] == 1.0
    assert all(a <= b for a, b in zip(scales, scales[1:])) and scales[-1] == 1.0
    lrs = [cfg.lr_at(s, total) for s in range(total)]
    assert lrs[0] == pytest.approx(1e-3) and lrs[50] == pytest.approx(5e-4) and 0 < lrs[-1] < 1e-5
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))
    plain = TrainingConfig(lr=1e-3, eps_warmup=0.0, lr_schedule="constant")
    assert plain.eps_scale(0, total) == 1.0 and plain.lr_at(99, total) == 1e-3
