"""A new attack shows correctly in every result reader from the metadata its class carries.

The attack is defined and registered here only: nothing else in the project
knows its name, label or description, yet they must appear in the evaluation's
rows and attack list, the JSON, the CSVs and the PDF.
"""

from __future__ import annotations

import csv
import json
import re

import pytest
import torch
from pypdf import PdfReader

from medadv_desktop.engine.attacks import ATTACKS, Attack, AttackOutput, ParamSpec, register
from medadv_desktop.engine.evaluation import evaluate_job
from medadv_desktop.engine.jobs import run_job
from medadv_desktop.engine.reports import load_report_json, write_csv, write_json, write_pdf, write_summary_csv
from tests.engine.evaluation.conftest import MeanModel, mean_dataset

NAME = "nudge-test"
LABEL = "Nudge (throwaway test attack)"
DESCRIPTION = "Adds eps to every pixel (or takes it away); made up for a test of the result metadata."


class Nudge(Attack):
    """x' = clip(x + eps) (direction "up") or clip(x - eps): needs no gradient, so a black box."""

    name = NAME
    label = LABEL
    black_box = True
    description = DESCRIPTION
    params = (ParamSpec("direction", "choice", "up", choices=("up", "down"), help="Sign of the nudge."),)

    def _run(self, x, y, targets, progress):
        sign = 1.0 if self.config["direction"] == "up" else -1.0
        adv = (x + sign * self.eps).clamp(0.0, 1.0)
        with torch.no_grad():
            logits = self._logits(adv)
        return AttackOutput(adv=adv, adv_logits=logits, success=self._is_success(logits, y, targets),
                            queries=torch.ones(x.shape[0], dtype=torch.long))


@pytest.fixture
def nudge():
    assert NAME not in ATTACKS
    register(Nudge)
    yield Nudge
    ATTACKS.pop(NAME, None)


def test_a_new_attack_appears_in_rows_json_csv_and_pdf(nudge, tmp_path):
    ds, _ = mean_dataset()
    attacks = [("fgsm", {}), (NAME, {"direction": "up"}), (NAME, {"direction": "down"})]
    result = run_job(evaluate_job(MeanModel(), ds, attacks, [4 / 255], full_rows=True, n_examples=3))

    # the evaluation: rows under the run's keys, metadata from the class
    assert result.attacks == ["fgsm", NAME, f"{NAME}-2"]
    assert {r.attack for r in result.rows} == {"fgsm", NAME, f"{NAME}-2", "worst-case"}
    info, info2 = result.attack_details(NAME), result.attack_details(f"{NAME}-2")
    assert (info.name, info.label, info.description, info.access) == (NAME, LABEL, DESCRIPTION, "black-box")
    assert info.params["direction"] == "up" and info2.params["direction"] == "down"
    assert result.attack_label(NAME) == LABEL and result.attack_label(f"{NAME}-2") == f"{LABEL} (2)"
    down = result.row(NAME, 4 / 255)
    assert 0 < down.attack_success_rate < 1          # it really ran: some images fooled, some not

    # JSON: the metadata travels with the result and reads back
    js = write_json(result, tmp_path / "r.json")
    doc = json.loads(js.read_text())
    saved = next(a for a in doc["result"]["attack_info"] if a["attack"] == NAME)
    assert saved["label"] == LABEL and saved["description"] == DESCRIPTION and saved["access"] == "black-box"
    loaded, _ = load_report_json(js)
    assert loaded.attack_details(NAME) == info

    # CSV: per-sample rows carry the key, summary rows the key, label and access
    with open(write_csv(result, tmp_path / "s.csv"), newline="") as fh:
        assert {r["attack"] for r in csv.DictReader(fh)} == {"fgsm", NAME, f"{NAME}-2"}
    with open(write_summary_csv(result, tmp_path / "t.csv"), newline="") as fh:
        rows = {r["attack"]: r for r in csv.DictReader(fh)}
    assert rows[NAME]["attack_label"] == LABEL and rows[NAME]["access"] == "black-box"
    assert rows[f"{NAME}-2"]["attack_label"] == f"{LABEL} (2)" and rows["fgsm"]["access"] == "white-box"

    # PDF: label in the tables, access and description in the threat model, nothing invented
    text = "\n".join(p.extract_text() for p in PdfReader(str(write_pdf(result, tmp_path / "r.pdf"))).pages)
    flat = re.sub(r"\s+", " ", text)
    assert LABEL in flat and f"{LABEL} (2)" in flat and DESCRIPTION in flat
    threat = flat.split("Threat model Norm:")[1].split("Clean performance")[0]
    assert f"{LABEL} black-box {DESCRIPTION}" in threat
    assert "user-supplied" not in flat and "No description was recorded" not in flat


@pytest.mark.parametrize("command, option", [("evaluate", "--attacks"), ("attack", "--attack"),
                                             ("train-adv", "--attacks")])
def test_a_new_attack_appears_in_the_cli_help(nudge, command, option, capsys, monkeypatch):
    from medadv_desktop.cli.main import main

    monkeypatch.setenv("COLUMNS", "400")                 # no line wrap inside a hyphenated name

    assert main([command, "--help"]) == 0               # --help is exit status 0 (main returns it)
    help_text = re.sub(r"\s+", " ", capsys.readouterr().out)
    options = help_text.split(" options: ", 1)[1]
    listed = re.search(rf" {option} (NAME|A,B) (.*?) --[a-z]", options).group(2)
    assert "fgsm" in listed and NAME in listed                           # listed with the registered attacks
    if command != "train-adv":
        assert "--direction" in help_text and "Sign of the nudge." in help_text   # its own parameter
