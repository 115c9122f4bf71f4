"""`medadv evaluate-corruptions --plan`: the verdict after the table, exit 0 on pass and 3 on fail, and
criteria the run cannot answer refused (exit 2) before the model loads or any file is written."""
import json

import pytest

from medadv_desktop.cli.main import main
from tests.conftest import make_tiny_card


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from medadv_desktop.engine.demo import write_demo_dataset

    root = tmp_path_factory.mktemp("pcdemo") / "data"
    write_demo_dataset(root, n_train=2, n_test=6)
    card = make_tiny_card(tmp_path_factory.mktemp("pcmodel"), format="torchscript")
    return root / "test", card


PLAN = """[plan]
title = "Artefact gate"

[[criteria]]
id = "A"
metric = "corruption_accuracy"
corruption = "jpeg2000"
severity = 2
comparison = ">="
threshold = {threshold}

[[criteria]]
id = "M"
metric = "mce"
comparison = "<="
threshold = 1.0
"""


def _run(demo, tmp_path, plan_text, *extra):
    data, card = demo
    plan = tmp_path / "plan.toml"
    plan.write_text(plan_text, encoding="utf-8")
    out = tmp_path / "c.json"
    rc = main(["evaluate-corruptions", "--model", str(card), "--data", str(data), "--corruptions", "jpeg2000",
               "--severities", "1-2", "--json", str(out), "--plan", str(plan), *extra])
    return rc, out


def test_plan_pass_and_fail_set_the_exit_code(demo, tmp_path, capsys):
    rc, out = _run(demo, tmp_path, PLAN.format(threshold=0.0))
    text = capsys.readouterr().out
    assert rc == 0 and out.exists()
    assert "Test plan 'Artefact gate': PASS (2 pass, 0 fail, 0 not evaluable)" in text
    assert "[PASS] A: Accuracy under jpeg2000 at severity 2 >= 0 % (lower 95 % bound)" in text

    (tmp_path / "b").mkdir()
    rc, out2 = _run(demo, tmp_path / "b", PLAN.format(threshold=1.0))
    text = capsys.readouterr().out
    assert rc == 3 and out2.exists()
    assert ": FAIL (1 pass, 1 fail, 0 not evaluable)" in text and "[FAIL] A:" in text
    n = json.loads(out2.read_text())["n_samples"]
    assert f"of {n})" in text


@pytest.mark.parametrize("plan_text, needle", [
    (PLAN.format(threshold=0.5).replace("severity = 2", "severity = 4"),
     "criteria[0].severity: 4 is not among the severities to run (1,2)"),
    (PLAN.format(threshold=0.5).replace('corruption = "jpeg2000"', 'corruption = "blur"'),
     "criteria[0].corruption: 'blur' is not among the corruptions to run (jpeg2000)"),
    (PLAN.format(threshold=0.5) + '\n[[criteria]]\nmetric = "robust_accuracy"\neps = "2/255"\ncomparison = ">="\n'
     'threshold = 0.5\n', "criteria[2].metric: robust_accuracy is measured by medadv evaluate"),
    ("[plan]\ntitle = 'x'\n", "criteria: missing"),
])
def test_plan_problems_are_one_line_exit_2_before_any_work(demo, tmp_path, capsys, plan_text, needle):
    rc, out = _run(demo, tmp_path, plan_text)
    err = capsys.readouterr().err
    assert rc == 2 and not out.exists()
    assert needle in err and "Traceback" not in err
