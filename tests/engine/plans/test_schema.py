"""Reading test plans: the shipped example, TOML and JSON, and errors that name the field."""

import hashlib
import json

import pytest

from medadv_desktop.engine.plans import KNOWN_FLAG_CODES, METRICS, PlanError, load_plan, parse_plan, plan_from_bytes
from medadv_desktop.engine.results.evaluation import WORST_CASE
from medadv_desktop.errors import MedAdvError
from medadv_desktop.paths import resources_dir

EXAMPLE = resources_dir() / "plans" / "example.toml"

GOOD = """
[plan]
title = "Lesion model acceptance"
version = "2.1"
owner = "AI committee"

[[criteria]]
metric = "clean_accuracy"
comparison = ">="
threshold = 0.9

[[criteria]]
id = "sens"
metric = "robust_sensitivity"
class = "lesion"
eps = "2/255"
comparison = ">="
threshold = 0.8
bound = "lower"

[[criteria]]
metric = "attack_success_rate"
attack = "PGD"
eps = "3.1HU"
comparison = "<="
threshold = 0.3

[[criteria]]
metric = "no_sanity_flag"
"""


def test_example_plan_reads_and_its_hash_is_the_file_hash():
    plan = load_plan(EXAMPLE)
    assert plan.sha256 == hashlib.sha256(EXAMPLE.read_bytes()).hexdigest()
    assert plan.source == "example.toml" and plan.title and plan.version == "1.0" and plan.owner
    assert plan.confidence == 0.95 and plan.interval == "clopper-pearson"
    metrics = [c.metric for c in plan.criteria]
    assert {"clean_accuracy", "robust_sensitivity", "robust_specificity", "attack_success_rate",
            "no_sanity_flag"} <= set(metrics)
    assert all(c.class_name in (None, "no_finding", "lesion") for c in plan.criteria)
    sens = next(c for c in plan.criteria if c.metric == "robust_sensitivity")
    assert sens.attack == WORST_CASE and sens.eps == "2/255" and sens.eps_value == pytest.approx(2 / 255)
    assert sens.describe() == ("Worst-case robust sensitivity of class 'lesion' at eps 2/255 >= 80 % "
                               "(lower 95 % bound)")


def test_defaults_and_normalisation():
    plan = plan_from_bytes(GOOD.encode(), fmt="toml", source="p.toml")
    acc, sens, asr, flags = plan.criteria
    assert [c.id for c in plan.criteria] == ["C1", "sens", "C3", "C4"]
    assert acc.bound == "lower" and acc.attack is None and acc.eps is None      # >= -> lower bound by default
    assert asr.bound == "upper" and asr.attack == "pgd"                          # <= -> upper; names lower-case
    assert asr.eps == "3.1HU" and asr.eps_value is None                          # native: resolved at evaluation
    assert flags.codes is None and flags.comparison is None
    assert plan.min_samples == 0 and plan.interval == "clopper-pearson"
    assert plan.sha256 == hashlib.sha256(GOOD.encode()).hexdigest()


def test_json_plan_is_the_same_plan():
    try:
        import tomllib
    except ModuleNotFoundError:       # Python 3.10
        import tomli as tomllib
    data = tomllib.loads(GOOD)
    from_toml = plan_from_bytes(GOOD.encode(), fmt="toml")
    from_json = plan_from_bytes(json.dumps(data).encode(), fmt="json")
    assert from_json.criteria == from_toml.criteria and from_json.title == from_toml.title
    built = parse_plan(data)                       # built in code: hash of the canonical JSON
    assert len(built.sha256) == 64 and built.sha256 == parse_plan(json.loads(json.dumps(data))).sha256


def _with(criterion: str, plan_extra: str = "") -> bytes:
    return (f'[plan]\ntitle = "t"\n{plan_extra}\n[[criteria]]\nmetric = "clean_accuracy"\ncomparison = ">="\n'
            f'threshold = 0.5\n\n[[criteria]]\n{criterion}\n').encode()


ROBUST = 'metric = "robust_sensitivity"\nclass = "lesion"\neps = "2/255"\ncomparison = ">="\n'


@pytest.mark.parametrize("criterion, plan_extra, field, words", [
    (ROBUST + "threshold = 80", "", "criteria[1].threshold", "outside [0, 1]"),
    (ROBUST + 'threshold = "80%"', "", "criteria[1].threshold", "must be a number"),
    (ROBUST + "threshold = true", "", "criteria[1].threshold", "must be a number"),
    (ROBUST.replace('comparison = ">="\n', "") + "threshold = 0.8", "", "criteria[1].comparison", "missing"),
    (ROBUST.replace(">=", "=="), "", "criteria[1].comparison", "not one of"),
    (ROBUST, "", "criteria[1].threshold", "missing"),
    (ROBUST + 'threshold = 0.8\nbound = "lowest"', "", "criteria[1].bound", "not one of"),
    (ROBUST + "treshold = 0.8", "", "criteria[1].treshold", "unknown field"),
    (ROBUST.replace('class = "lesion"\n', "") + "threshold = 0.8", "", "criteria[1].class", "missing"),
    (ROBUST.replace('eps = "2/255"\n', "") + "threshold = 0.8", "", "criteria[1].eps", "missing"),
    (ROBUST.replace("2/255", "2/0") + "threshold = 0.8", "", "criteria[1].eps", "divides by zero"),
    (ROBUST.replace("2/255", "two") + "threshold = 0.8", "", "criteria[1].eps", "not a budget"),
    (ROBUST.replace('"2/255"', "2") + "threshold = 0.8", "", "criteria[1].eps", "outside [0, 1]"),
    ('metric = "robust_sens"', "", "criteria[1].metric", "unknown metric"),
    ('comparison = ">="', "", "criteria[1].metric", "missing"),
    ('metric = "clean_accuracy"\nclass = "lesion"\ncomparison = ">="\nthreshold = 0.5', "",
     "criteria[1].class", "not per class"),
    ('metric = "clean_accuracy"\neps = "2/255"\ncomparison = ">="\nthreshold = 0.5', "",
     "criteria[1].eps", "not measured under attack"),
    ('metric = "balanced_accuracy"\ncomparison = ">="\nthreshold = 0.5\nbound = "lower"', "",
     "criteria[1].bound", "no interval"),
    ('metric = "no_sanity_flag"\ncodes = ["zero_gradient"]', "", "criteria[1].codes", "unknown sanity flag"),
    ('metric = "no_sanity_flag"\ncodes = []', "", "criteria[1].codes", "non-empty list"),
    ('metric = "no_sanity_flag"\nthreshold = 0', "", "criteria[1].threshold", "takes no"),
    ('id = "C1"\nmetric = "no_sanity_flag"', "", "criteria[1].id", "used twice"),
    (ROBUST + "threshold = 0.8\nmin_samples = -3", "", "criteria[1].min_samples", "below 0"),
    ('metric = "no_sanity_flag"', "confidence = 95", "plan.confidence", "outside [0.5, 1)"),
    ('metric = "no_sanity_flag"', 'interval = "wald"', "plan.interval", "unknown method"),
    ('metric = "no_sanity_flag"', "schema = 2", "plan.schema", "not known"),
    ('metric = "no_sanity_flag"', 'colour = "red"', "plan.colour", "unknown field"),
])
def test_errors_name_the_field(criterion, plan_extra, field, words):
    with pytest.raises(PlanError) as info:
        plan_from_bytes(_with(criterion, plan_extra), fmt="toml", source="plan.toml")
    text = str(info.value)
    assert isinstance(info.value, MedAdvError)
    assert text.startswith(f"Test plan 'plan.toml': {field}: "), text
    assert words in text and "\n" not in text
    assert info.value.field == field


@pytest.mark.parametrize("raw, words", [
    (b'[plan]\ntitle = "t"\n', "criteria: missing"),
    (b'criteria = []\n[plan]\ntitle = "t"\n', "criteria: empty"),
    (b'[[criteria]]\nmetric = "no_sanity_flag"\n', "plan: missing"),
    (b'[plan]\ntitle = ""\n[[criteria]]\nmetric = "no_sanity_flag"\n', "plan.title: is empty"),
    (b'[plan]\ntitle = "t"\n[extra]\n[[criteria]]\nmetric = "no_sanity_flag"\n', "extra: unknown section"),
    (b'[plan\ntitle = "t"', "not valid TOML"),
    (b'\xff\xfe[plan]', "not UTF-8"),
])
def test_structural_errors(raw, words):
    with pytest.raises(PlanError) as info:
        plan_from_bytes(raw, fmt="toml", source="p.toml")
    assert words in str(info.value) and "\n" not in str(info.value)


def test_file_errors(tmp_path):
    with pytest.raises(PlanError, match="file not found"):
        load_plan(tmp_path / "absent.toml")
    (tmp_path / "plan.yaml").write_text("plan: {}")
    with pytest.raises(PlanError, match=r"give a \.toml or \.json file"):
        load_plan(tmp_path / "plan.yaml")
    big = tmp_path / "big.toml"
    big.write_bytes(b"#" * (2 << 20))
    with pytest.raises(PlanError, match="at most"):
        load_plan(big)
    (tmp_path / "bad.json").write_text('{"plan": {"title": "t"}, "criteria": [}')
    with pytest.raises(PlanError, match=r"not valid JSON: .*line 1"):
        load_plan(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(PlanError, match="top level"):
        load_plan(tmp_path / "list.json")
    (tmp_path / "folder.toml").mkdir()
    with pytest.raises(PlanError):
        load_plan(tmp_path / "folder.toml")


def test_every_metric_has_a_sentence():
    for name, spec in METRICS.items():
        if name == "no_sanity_flag":
            body = f'metric = "{name}"\ncodes = ["{KNOWN_FLAG_CODES[0]}"]'
        else:
            body = f'metric = "{name}"\ncomparison = "<"\nthreshold = 0.25'
            body += '\nclass = "lesion"' if spec.per_class else ""
            body += '\neps = "1/255"\nattack = "fgsm"' if spec.under_attack else ""
            body += '\ncorruption = "blur"' if spec.corruption in ("row", "summary") else ""
            body += '\nseverity = 3' if spec.corruption == "row" else ""
        plan = plan_from_bytes(_with(body), fmt="toml")
        text = plan.criteria[1].describe()
        assert text[0].isupper() and ("25 %" in text or "0.25x" in text or "zero_gradients" in text), text
