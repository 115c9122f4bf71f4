"""Adding an attack is one class: a throwaway attack registered here appears everywhere the registry reaches.

The CLI's help and the "full" suite, the GUI's attack infos, the attack
invariant checks, and an evaluation's rows, without touching any other file.
"""

from __future__ import annotations

import re

import pytest
import torch

from medadv_desktop.engine.attacks import ATTACKS, Attack, AttackOutput, available, default_attacks, register
from medadv_desktop.engine.attacks.spec import ParamSpec
from medadv_desktop.engine.jobs import ProgressCallback

from .test_bounds import check_invariants

NAME = "throwaway"


class Throwaway(Attack):
    """Random sign noise of size eps (a throwaway attack for the registry test).

    Distance measure: L-inf, in [0, 1] image units: x' = clip_[0,1](x + eps * s), s random signs.
    """

    name = NAME
    label = "Throwaway noise"
    black_box = True
    norms = ("linf",)
    description = "Random sign noise of size eps (test only)."
    params = (ParamSpec("tries", "int", 2, 1, 10, "queries", "Random draws per sample; the first that fools is kept."),)
    fast_settings = ({"tries": 2},)

    def _run(self, x: torch.Tensor, y: torch.Tensor, targets: torch.Tensor | None,
             progress: ProgressCallback) -> AttackOutput:
        gen = torch.Generator().manual_seed(self.seed)
        tries = int(self.config["tries"])
        adv, logits, done = x.clone(), None, torch.zeros(len(x), dtype=torch.bool)
        queries = torch.zeros(len(x), dtype=torch.long)
        for _ in range(tries):
            progress.check()
            signs = torch.randint(0, 2, x.shape, generator=gen).float() * 2 - 1
            cand = (x + self.eps * signs).clamp(0, 1)
            with torch.no_grad():
                out = self._logits(cand)
            take = ~done
            adv[take], queries[take] = cand[take], queries[take] + 1
            logits = out if logits is None else torch.where(take[:, None], out, logits)
            done |= self._is_success(out, y, targets)
        assert logits is not None
        return AttackOutput(adv=adv, adv_logits=logits, success=self._is_success(logits, y, targets), queries=queries)


@pytest.fixture
def throwaway():
    register(Throwaway)
    try:
        yield Throwaway
    finally:
        ATTACKS.pop(NAME, None)


def test_registered_attack_is_in_the_lists_and_keeps_the_invariants(throwaway, gray_model):
    from medadv_desktop.ui.attack_info import gather_attack_infos

    assert NAME in available() and NAME in default_attacks("full")
    assert NAME not in default_attacks() and NAME not in default_attacks("quick")   # fixed suites
    assert Throwaway.default_suites == ("full",)
    info = next(i for i in gather_attack_infos() if i.name == NAME)
    assert info.label == "Throwaway noise" and info.black_box and "tries" in {s.name for s in info.schema}
    check_invariants(gray_model, NAME, dict(Throwaway.fast_settings[0]), "linf")
    assert NAME not in available() or ATTACKS[NAME] is Throwaway


@pytest.mark.parametrize("command", ["attack", "evaluate", "train-adv"])
def test_registered_attack_is_in_the_cli_help(throwaway, command, capsys):
    from medadv_desktop.cli.main import main

    assert main([command, "--help"]) == 0
    text = re.sub(r"\s+", " ", capsys.readouterr().out)
    assert NAME in text
    if command == "evaluate":
        assert "--tries" in text and "(attacks: throwaway; default 2)" in text
        assert "(default standard)" in text and "Standard (AutoAttack-grade)" in text


def test_registered_attack_runs_in_an_evaluation(throwaway, tmp_path):
    import numpy as np

    from medadv_desktop.engine.datasets import LabelledDataset
    from medadv_desktop.engine.jobs import run_job
    from medadv_desktop.engine.workflows.evaluation import EvaluationRequest, evaluation_workflow
    from tests.engine.attacks.conftest import TinyCNN

    model = TinyCNN(1, 2, seed=2).eval()
    x = np.random.default_rng(0).uniform(0, 1, (8, 1, 16, 16)).astype(np.float32)
    with torch.no_grad():
        y = model(torch.from_numpy(x)).argmax(1).numpy()
    data = LabelledDataset.from_arrays(x, y, ["a", "b"], name="arrays")
    outcome = run_job(evaluation_workflow(model, EvaluationRequest(
        data=data, attacks=["fgsm", (NAME, {"tries": "3"})], eps="8/255", json=tmp_path / "r.json")))
    rows = [r.attack for r in outcome.result.rows]
    assert rows == ["fgsm", NAME, "worst-case"]
    assert {a.attack: a.black_box for a in outcome.result.attack_info} == {"fgsm": False, NAME: True}
    assert outcome.result.attack_details(NAME).params["tries"] == 3
    assert NAME in (tmp_path / "r.json").read_text()
