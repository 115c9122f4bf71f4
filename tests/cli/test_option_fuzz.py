"""A seeded fuzz of the command line's options (issue 14: no internal error on any input; issue 15: argument
errors before the model loads).

Every option of every command that takes a value (and every positional) is
taken from the real parser, so an option added later is fuzzed too. Each
case replaces one or two of them in a working command line with a hostile
value (numbers at and beyond their limits, 1/0, nan, 5000 digits, unit
suffixes, non-ASCII and non-UTF-8 text, NUL, empty, option-like text, paths
to devices, to nothing, too long, to the inputs themselves) and runs
``medadv`` in-process. The outcome must be exit 0 or 2 with at most one error
line and never an internal error or a traceback.

Pass 1 (hundreds of cases) gives each command an input that does not exist
(the study, the data folder), so a case whose options are all acceptable
ends with one "does not exist" line: no model may be loaded in pass 1 (a
probe replaces ``load_classifier``), which checks that every option error is
found before the model loads. Pass 2 runs cheap real attacks and evaluations
(a tiny TorchScript model, one CT slice, eight demo patches) with hostile
budgets, slices, target classes and attack lists, where a case may succeed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import random
import shutil
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from medadv_desktop.cli.main import build_parser, main

CT = Path(get_testdata_file("CT_small.dcm"))
SEED = 1414
N_PASS1 = 600
N_PASS2 = 40

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")

NUMBERS = ["0", "-1", "1", "2", "-0", "+3", "1.5", "0.5 ", "1e3", "1e309", "-1e309", "1e-300", "nan", "NaN", "inf",
           "-inf", "", " ", "9" * 20, "9" * 400, "9" * 5000, "0x10", "1_000", "\u0663", "\uff11", "1/0", "0/0",
           "-1/3", "1/3", "4/255", "255/4", "1/255,", ",", ",,", "1,2", "1 2", "2**31", "2147483648",
           "4294967296", "18446744073709551616", "-9223372036854775809", "3.4e38"]
BUDGETS = ["6HU", "6hu", "-6HU", "6mm", "6 HU", "6H U", "0.0000001HU", "1e9HU", "1/0HU", "4/255HU", "%", "6%",
           "1/255," * 500, "1/255,0/0", "nan/255", "1/nan", "4/-255", "-4/255", "0", "1", "1.0000001"]
TEXT = ["abc", "\x00", "a\x00b", "\U0001f4a5", "\udcff\udcfe", "caf\u00e9", "--help", "-h", "--", "-", "-x",
        "--eps", "a\nb", "\t", "'", '"', "$(id)", "`id`", "%s%n", "{}", "x" * 300, "x" * 5000, "null", "true",
        "[]", "{\"a\": 1}", "all", "0-3", "3-0", "0,0,0", "-5", "1-", "-1-2", "0-99999999999"]
CHOICES = ["fgsm", "pgd", "square", "vertical", "smia", "fgsm,pgd", "FGSM", "nope", "fgsm,,", ",fgsm", "linf", "l2",
           "L2", "class", "least_likely", "none", "cosine", "constant", "trades", "mix", "cpu", "auto", "cuda",
           "cuda:0", "cuda:99", "tpu", "mps", "CPU"]


def path_values(ctx: dict) -> list[str]:
    """Hostile paths; none of them is a large folder (no walk of the whole disk) or a place outside the test."""
    return ["", ".", "..", "/dev/null", "/dev/zero", "/proc/self/status", "/proc/nope/x.pdf", "nope",
            "nope/deeper/x", "x" * 300, "d/" + "x" * 300, "a\x00b", "\udcff.dcm", "a\nb.pdf", "~", "-",
            str(ctx["card"]), str(ctx["card"].parent), str(ctx["card"]) + "/x", str(ctx["result"]),
            str(ctx["full"]), str(ctx["full"] / "keep.txt"), "out.json", "out.pdf", "out/sub", "/"]


# --------------------------------------------------------------------------- the options, from the parser
def _command_parsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    out = {}
    for name, p in sub.choices.items():
        with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
            p.parse_known_args(["--help"])           # runs the lazy registry hooks (attack-specific options)
        out[name] = p
    return out


def _valued_options(p: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in p._actions if a.option_strings and a.nargs is None and not isinstance(
        a, (argparse._StoreTrueAction, argparse._StoreFalseAction, argparse._HelpAction, argparse._VersionAction,
            argparse.BooleanOptionalAction))]


def _flags(p: argparse.ArgumentParser) -> list[str]:
    return [a.option_strings[-1] for a in p._actions if a.option_strings and isinstance(
        a, (argparse._StoreTrueAction, argparse._StoreFalseAction, argparse.BooleanOptionalAction))
        and a.dest not in ("help", "verbose")]


# --------------------------------------------------------------------------- working command lines
#: the positional of each baseline that pass 1 may replace
POSITIONAL = {"attack": "missing-study.dcm", "predict": "missing-study.dcm", "info": "missing-study.dcm",
              "report": "RESULT", "demo-data": "FULL"}


def _baselines(ctx: dict, *, real: bool) -> dict[str, list[str]]:
    """``command -> argv``. Pass 1 (``real`` False): the study / data do not exist. Pass 2: real, cheap inputs."""
    study = str(CT) if real else "missing-study.dcm"
    data = str(ctx["demo"] / "test") if real else "missing-data"
    card = str(ctx["card"])
    return {
        "attack": ["attack", "--model", card, "--attack", "pgd", "--steps", "1", "--eps", "2/255", study,
                   "--out", "adv"],
        "evaluate": ["evaluate", "--model", card, "--data", data, "--attacks", "fgsm", "--eps", "2/255",
                     "--n-examples", "0", "--json", "eval.json"],
        "predict": ["predict", "--model", card, study],
        "train-adv": ["train-adv", "--model", str(ctx["timm"]), "--data", data, "--epochs", "1", "--out", "hardened"],
        "info": ["info", "missing-study.dcm"],
        "report": ["report", "RESULT", "--summary-csv", "summary.csv"],
        "demo-data": ["demo-data", "FULL", "--n-train", "2", "--n-test", "2", "-q"],
    }


def _set(argv: list[str], option: str, value: str, rng: random.Random) -> list[str]:
    """``argv`` with ``option`` set to ``value`` (replaced where present), as ``--opt value`` or ``--opt=value``."""
    out = list(argv)
    if option in out:
        i = out.index(option)
        del out[i:i + 2]
    if rng.random() < 0.5 or value.startswith("-"):
        return out + [f"{option}={value}"]
    return out + [option, value]


def _set_positional(argv: list[str], old: str, value: str) -> list[str]:
    """Replace the positional ``old`` of the baseline (its first occurrence) by ``value``."""
    out = list(argv)
    if old in out:
        out[out.index(old)] = value
    return out


def _value_pool(action: argparse.Action, ctx: dict) -> list[str]:
    name = action.dest
    pools = [NUMBERS, TEXT]
    if any(k in name for k in ("eps", "alpha", "budget")):
        pools.append(BUDGETS)
    if action.choices or name in ("attack", "attacks", "device", "mix_attack"):
        pools.append(CHOICES)
    if any(k in name for k in ("model", "data", "out", "json", "csv", "report", "pdf", "path", "result",
                               "before_after", "dir")):
        pools.append(path_values(ctx))
    return [v for pool in pools for v in pool]


def _check(argv: list[str], rc: int, err: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc in (0, 2), (rc, argv, lines[-3:])
    assert "Traceback" not in err and "internal error" not in err, (argv, lines[-3:])
    errors = [line for line in lines if line.startswith("medadv: error:")]
    if rc == 2:
        assert len(errors) == 1 and errors[0] == lines[-1], (argv, lines[-3:])
        assert len(errors[0]) < 2000
    else:
        assert errors == [], (argv, lines)


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    from tests.conftest import make_tiny_card
    from tests.engine.reports.fixtures import make_result
    from tests.engine.training._tiny import make_card

    base = tmp_path_factory.mktemp("fuzz")
    full = base / "not-empty"
    full.mkdir()
    (full / "keep.txt").write_text("keep")
    from medadv_desktop.engine.demo import write_demo_dataset

    write_demo_dataset(base / "demo", n_train=2, n_test=8)
    return {"card": make_tiny_card(base / "script", format="torchscript"), "timm": make_card(base / "timm"),
            "result": make_result().save(base / "result.json"), "full": full, "demo": base / "demo", "base": base}


def _run(argv: list[str], capsys) -> tuple[int, str]:
    rc = main(argv)
    return rc, capsys.readouterr().err


def test_hostile_option_values_pass1_never_load_a_model(ctx, tmp_path, monkeypatch, capsys):
    import medadv_desktop.engine.models as models
    from medadv_desktop.engine.models import loading

    def probe(*args, **kwargs):
        raise AssertionError("a model was loaded although an input is missing")

    monkeypatch.setattr(models, "load_classifier", probe, raising=False)
    monkeypatch.setattr(loading, "load_classifier", probe)
    cwd = tmp_path / "cwd" / "sub"
    cwd.mkdir(parents=True)
    monkeypatch.chdir(cwd)
    parsers = _command_parsers()
    rng = random.Random(SEED)
    baselines = _baselines(ctx, real=False)
    result_before = ctx["result"].read_bytes()
    seen_options: set[tuple[str, str]] = set()
    for _case in range(N_PASS1):
        command = rng.choice(sorted(baselines))
        p = parsers[command]
        argv = baselines[command]
        options = _valued_options(p)
        positionals = [a for a in p._actions if not a.option_strings]
        for _ in range(1 if command == "demo-data" else rng.choice((1, 1, 2))):
            if positionals and rng.random() < 0.15:
                # never "/" as an input: `medadv info /` would rightly read the whole disk
                value = rng.choice([v for v in path_values(ctx) + TEXT if v != "/"])
                if command == "demo-data" and value not in ("", ".", ".."):
                    value = str(ctx["full"])          # a fresh folder would really be written (cheap, but noisy)
                argv = _set_positional(argv, POSITIONAL[command], value)
                seen_options.add((command, "<positional>"))
            else:
                action = rng.choice(options)
                option = action.option_strings[-1]
                seen_options.add((command, option))
                argv = _set(argv, option, rng.choice(_value_pool(action, ctx)), rng)
        flags = [f for f in _flags(p) if f != "--overwrite"]     # --overwrite could replace the test's own card
        if rng.random() < 0.2 and flags:
            argv = argv + [rng.choice(flags)]
        argv = [str(ctx["result"]) if a == "RESULT" else str(ctx["full"]) if a == "FULL" else a for a in argv]
        rc, err = _run(argv, capsys)
        _check(argv, rc, err)
    # then every valued option the random cases missed, once each (options keep being added)
    for command in sorted(baselines):
        p = parsers[command]
        for action in _valued_options(p):
            option = action.option_strings[-1]
            if (command, option) in seen_options:
                continue
            seen_options.add((command, option))
            argv = _set(baselines[command], option, rng.choice(_value_pool(action, ctx)), rng)
            argv = [str(ctx["result"]) if a == "RESULT" else str(ctx["full"]) if a == "FULL" else a for a in argv]
            rc, err = _run(argv, capsys)
            _check(argv, rc, err)
    assert ctx["result"].read_bytes() == result_before
    assert sorted(p.name for p in ctx["full"].iterdir()) == ["keep.txt"]
    assert [p for p in ctx["base"].rglob("*") if p.name.endswith(".part")] == []
    # every valued option of every command was fuzzed at least once
    every = {(c, a.option_strings[-1]) for c, p in parsers.items() if c in baselines for a in _valued_options(p)}
    assert every - seen_options == set()


def test_hostile_budgets_slices_and_attacks_pass2_on_real_inputs(ctx, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    rng = random.Random(SEED + 1)
    baselines = _baselines(ctx, real=True)
    attack_options = {"--eps": BUDGETS + NUMBERS[:30], "--alpha": BUDGETS + NUMBERS[:30],
                      "--slices": TEXT[26:] + ["0", "1", "all", ""], "--target-class": NUMBERS[:12],
                      "--targeted": CHOICES[12:15] + ["x"], "--norm": ["linf", "l2", "l1", ""],
                      "--seed": NUMBERS[:12]}
    evaluate_options = {"--eps": BUDGETS[:-5] + ["1/255,2/255", "1/255,1/255", "0"], "--attacks": CHOICES[:10],
                        "--max-samples": NUMBERS[:8], "--batch-size": NUMBERS[:8], "--norm": ["linf", "l2", "x"]}
    outcomes = {0: 0, 2: 0}
    for case in range(N_PASS2):
        command = "attack" if case % 2 == 0 else "evaluate"
        table = attack_options if command == "attack" else evaluate_options
        argv = list(baselines[command])
        for option in rng.sample(sorted(table), rng.choice((1, 2))):
            argv = _set(argv, option, rng.choice(table[option]), rng)
        if "--attacks" in " ".join(argv) and any(n in " ".join(argv) for n in ("square", "vertical", "smia")):
            argv = _set(argv, "--attacks", "fgsm,pgd", rng)          # keep pass 2 cheap: gradient attacks only
        argv = [f"adv{case}" if a == "adv" else f"eval{case}.json" if a == "eval.json" else a for a in argv]
        rc, err = _run(argv, capsys)
        _check(argv, rc, err)
        outcomes[rc] += 1
    assert outcomes[0] >= 5 and outcomes[2] >= 5, outcomes       # both kinds of outcome were exercised
    assert [p for p in tmp_path.rglob("*") if p.name.endswith(".part")] == []
    shutil.rmtree(tmp_path, ignore_errors=True)
