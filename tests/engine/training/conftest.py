import pytest

from tests.engine.training._tiny import demo_dataset, make_card

# MEDADV_TEST_THREADS (tests/conftest.py) sets torch's threads for every test.


@pytest.fixture(scope="session")
def demo_train():
    return demo_dataset("train", 64)


@pytest.fixture
def tiny_card(tmp_path):
    return make_card(tmp_path / "parent")


@pytest.fixture(scope="session")
def pretrained_card(tmp_path_factory, demo_train):
    """The tiny network trained on clean examples only (mix with ratio 0 = clean training)."""
    from medadv_desktop.engine.jobs import run_job
    from medadv_desktop.engine.training import TrainingConfig, adversarial_training_job

    root = tmp_path_factory.mktemp("pretrained")
    card = make_card(root / "random")
    config = TrainingConfig(method="mix", mix_ratio=0.0, epochs=25, lr=3e-3, batch_size=16, val_split=0.0,
                            device="cpu")
    result = run_job(adversarial_training_job(card, demo_train, config, root / "clean"))
    return result.model_card_path
