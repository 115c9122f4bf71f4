"""Test plans: the acceptance criteria a department writes once (TOML or JSON), parsed and checked.

The schema (README, "Acceptance criteria (test plans)")::

    [plan]
    title = "..."                 # required
    version = "1.0"               # optional text
    owner = "..."                 # optional: who answers for the plan
    description = "..."           # optional
    confidence = 0.95             # optional, level of every interval (0.5 <= c < 1)
    interval = "clopper-pearson"  # optional: "clopper-pearson" (exact, default) or "wilson"
    min_samples = 0               # optional: fewer samples behind a rate -> not evaluable

    [[criteria]]                  # one or more
    id = "C1"                     # optional (default C1, C2, ... by position); unique
    name = "..."                  # optional short label
    description = "..."           # optional
    metric = "robust_sensitivity" # see METRICS
    class = "lesion"              # per-class metrics only
    attack = "worst-case"         # attack metrics only; default the worst case over the attacks run
    eps = "2/255"                 # attack metrics only: a budget as on the command line (2/255, 0.0078, 3.1HU)
    comparison = ">="             # >=, >, <=, <
    threshold = 0.80              # a fraction in [0, 1]
    bound = "lower"               # lower | upper | point; default lower for >= and >, upper for <= and <
    min_samples = 30              # optional, overrides the plan's
    codes = ["zero_gradients"]    # no_sanity_flag only: the flags that fail it (default: any flag)
    corruption = "jpeg2000"       # corruption metrics only (medadv evaluate-corruptions)
    severity = 3                  # corruption row metrics only: 1..5

Corruption criteria (applied by ``medadv evaluate-corruptions --plan``,
:mod:`medadv_desktop.engine.plans.corruption`): ``corruption_accuracy``,
``corruption_sensitivity`` / ``corruption_specificity`` (per class),
``corruption_flip_rate`` (prediction changed against the clean prediction)
and ``corruption_robust_accuracy`` (corruption then attack) are rates of one
row (``corruption`` and ``severity``) with an interval; ``corruption_error``
and ``relative_ce`` (one corruption, over the severities evaluated), ``mce``
and ``relative_mce`` (over the corruptions) are point values: the ``relative``
ones are multiples of the model's own clean error, so their threshold may
exceed 1 ("relative_mce <= 2.0"). The clean metrics are answered by both
evaluations; attack metrics only by ``medadv evaluate``, corruption metrics
only by ``medadv evaluate-corruptions`` (each refuses the other's before work).

Parsing problems raise :class:`PlanError`, one line naming the field
(``criteria[2].threshold: ...``; criteria are counted from 0, as in JSON
paths). Unknown fields are errors, so a typo never silently drops a
criterion's condition. Budgets are parsed by the attacks' own
:func:`~medadv_desktop.engine.attacks.spec.parse_budget` (torch-free).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medadv_desktop.engine.attacks.spec import parse_budget
from medadv_desktop.engine.metrics.intervals import CLOPPER_PEARSON, METHODS
from medadv_desktop.engine.results.evaluation import WORST_CASE
from medadv_desktop.errors import AttackConfigError, MedAdvError

SCHEMA_VERSION = 1
MAX_PLAN_BYTES = 1 << 20        # a plan is a few kB; refuse anything bigger than 1 MiB
MAX_CRITERIA = 500

COMPARISONS = (">=", ">", "<=", "<")
BOUNDS = ("lower", "upper", "point")

# The sanity-flag codes a plan may name (medadv_desktop.engine.metrics.flags). Listed here so that a
# misspelt code is an error instead of a criterion that can never fail; add new codes here.
KNOWN_FLAG_CODES = ("zero_gradients", "probabilities", "nondeterministic", "black_box_beats_white_box")


@dataclass(frozen=True)
class MetricSpec:
    """What a plan metric needs: a class, an attack and eps, and whether it has an interval."""

    name: str
    label: str
    per_class: bool = False
    under_attack: bool = False
    interval: bool = True        # False: only bound = "point"
    rate: bool = True            # False: no comparison/threshold/bound (no_sanity_flag)
    corruption: str = ""         # "row": needs corruption + severity; "summary": corruption; "all": neither
    ratio: bool = False          # True: a multiple of the clean error (threshold >= 0, may exceed 1)

    @property
    def under_corruption(self) -> bool:
        return bool(self.corruption)


METRICS: dict[str, MetricSpec] = {m.name: m for m in (
    MetricSpec("clean_accuracy", "clean accuracy"),
    MetricSpec("balanced_accuracy", "clean balanced accuracy", interval=False),
    MetricSpec("clean_sensitivity", "clean sensitivity", per_class=True),
    MetricSpec("clean_specificity", "clean specificity", per_class=True),
    MetricSpec("robust_accuracy", "robust accuracy", under_attack=True),
    MetricSpec("attack_success_rate", "attack success rate", under_attack=True),
    MetricSpec("robust_sensitivity", "robust sensitivity", per_class=True, under_attack=True),
    MetricSpec("robust_specificity", "robust specificity", per_class=True, under_attack=True),
    MetricSpec("no_sanity_flag", "no sanity flag", interval=False, rate=False),
    MetricSpec("corruption_accuracy", "accuracy", corruption="row"),
    MetricSpec("corruption_sensitivity", "sensitivity", per_class=True, corruption="row"),
    MetricSpec("corruption_specificity", "specificity", per_class=True, corruption="row"),
    MetricSpec("corruption_flip_rate", "prediction flip rate", corruption="row"),
    MetricSpec("corruption_robust_accuracy", "robust accuracy (corruption then attack)", corruption="row"),
    MetricSpec("corruption_error", "corruption error (CE)", interval=False, corruption="summary"),
    MetricSpec("relative_ce", "relative corruption error (times the clean error)", interval=False,
               corruption="summary", ratio=True),
    MetricSpec("mce", "mean corruption error (mCE)", interval=False, corruption="all"),
    MetricSpec("relative_mce", "relative mCE (times the clean error)", interval=False, corruption="all",
               ratio=True),
)}

_PLAN_KEYS = ("title", "version", "owner", "description", "confidence", "interval", "min_samples", "schema")
_CRITERION_KEYS = ("id", "name", "description", "metric", "class", "attack", "eps", "comparison", "threshold",
                   "bound", "min_samples", "codes", "corruption", "severity")
_WORST_ALIASES = {"worst-case", "worst_case", "worst case", "worstcase", "worst"}


class PlanError(MedAdvError):
    """A test plan cannot be read or is invalid. Carries the plan's name and the field at fault."""

    def __init__(self, message: str, *, source: str = "", field: str = "", hint: str | None = None) -> None:
        self.source = source
        self.field = field
        where = f"Test plan '{source}'" if source else "Test plan"
        at = f": {field}" if field else ""
        super().__init__(f"{where}{at}: {message}", hint=hint)


@dataclass(frozen=True)
class Criterion:
    """One acceptance criterion (see the module doc for the fields)."""

    id: str
    metric: str
    comparison: str | None = None
    threshold: float | None = None
    bound: str | None = None
    class_name: str | None = None
    attack: str | None = None          # None for clean metrics; "worst-case" by default under attack
    eps: str | None = None             # the budget as written ("2/255", "3.1HU")
    eps_value: float | None = None     # [0, 1] units when written without units, else None (resolved later)
    codes: tuple[str, ...] | None = None
    name: str = ""
    description: str = ""
    min_samples: int = 0
    corruption: str | None = None      # corruption metrics: the corruption's registry name
    severity: int | None = None        # corruption row metrics: 1..5

    @property
    def spec(self) -> MetricSpec:
        return METRICS[self.metric]

    def describe(self, *, eps_label: str | None = None, confidence: float = 0.95) -> str:
        """The criterion in words: "Worst-case robust sensitivity of class 'lesion' at eps 2/255 >= 80 %
        (lower 95 % bound)". ``eps_label`` replaces the eps as written (e.g. with its native value)."""
        spec = self.spec
        if self.metric == "no_sanity_flag":
            if not self.codes:
                return "No sanity flag"
            return f"No sanity flag of the kind{'s' if len(self.codes) > 1 else ''} {', '.join(self.codes)}"
        if spec.under_corruption:
            return self._describe_corruption(confidence)
        text = spec.label
        if spec.under_attack:
            worst = self.attack == WORST_CASE
            text = ("worst-case " + text) if worst else text
        if spec.per_class:
            text += f" of class '{self.class_name}'"
        if spec.under_attack:
            if self.attack != WORST_CASE:
                text += f" {'of' if self.metric == 'attack_success_rate' else 'under'} {self.attack}"
            text += f" at eps {eps_label or self.eps}"
        assert self.threshold is not None and self.bound is not None
        text += f" {self.comparison} {_pct(self.threshold)} ({bound_label(self.bound, confidence)})"
        return text[0].upper() + text[1:]


    def _describe_corruption(self, confidence: float) -> str:
        """"Sensitivity of class 'lesion' under jpeg2000 at severity 3 >= 80 % (lower 95 % bound)"."""
        spec = self.spec
        text = spec.label
        if spec.per_class:
            text += f" of class '{self.class_name}'"
        if spec.corruption == "row":
            text += f" under {self.corruption} at severity {self.severity}"
        elif spec.corruption == "summary":
            text += f" of {self.corruption}"
        assert self.threshold is not None and self.bound is not None
        value = f"{self.threshold:g}x" if spec.ratio else _pct(self.threshold)
        text += f" {self.comparison} {value} ({bound_label(self.bound, confidence)})"
        return text[0].upper() + text[1:]


def bound_label(bound: str, confidence: float = 0.95) -> str:
    if bound == "point":
        return "point estimate"
    return f"{bound} {100.0 * confidence:g} % bound"


def _pct(v: float) -> str:
    return f"{100.0 * v:.4g} %"


@dataclass(frozen=True)
class TestPlan:
    """A parsed test plan. ``sha256`` is the hash of the file's bytes as read (of the canonical JSON
    of the data for a plan built in code), for the report's traceability block."""

    __test__ = False      # not a pytest test class, whatever its name

    title: str
    criteria: tuple[Criterion, ...]
    version: str = ""
    owner: str = ""
    description: str = ""
    confidence: float = 0.95
    interval: str = CLOPPER_PEARSON
    min_samples: int = 0
    sha256: str = ""
    source: str = ""                  # file name (no folder) or "" for a plan built in code
    schema: int = SCHEMA_VERSION
    data: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


# ---------------------------------------------------------------- reading

def load_plan(path: str | Path) -> TestPlan:
    """Read a test plan from a ``.toml`` or ``.json`` file (at most 1 MiB)."""
    path = Path(path)
    name = path.name
    if path.suffix.lower() not in (".toml", ".json"):
        raise PlanError("give a .toml or .json file", source=name,
                        hint="See the README section 'Acceptance criteria (test plans)'.")
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise PlanError("is not a file", source=name)
        if size > MAX_PLAN_BYTES:
            raise PlanError(f"is {size} bytes; a test plan is at most {MAX_PLAN_BYTES} bytes", source=name)
        raw = path.read_bytes()
    except PlanError:
        raise
    except FileNotFoundError:
        raise PlanError("file not found", source=name) from None
    except OSError as exc:
        raise PlanError(f"cannot be read ({exc.strerror or exc})", source=name) from None
    return plan_from_bytes(raw, fmt=path.suffix.lower().lstrip("."), source=name)


def plan_from_bytes(raw: bytes, *, fmt: str, source: str = "") -> TestPlan:
    """Parse the bytes of a plan file (``fmt``: ``"toml"`` or ``"json"``)."""
    if len(raw) > MAX_PLAN_BYTES:
        raise PlanError(f"is {len(raw)} bytes; a test plan is at most {MAX_PLAN_BYTES} bytes", source=source)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PlanError(f"is not UTF-8 text (byte {exc.start})", source=source) from None
    data: Any
    if fmt == "toml":
        if sys.version_info >= (3, 11):
            import tomllib
        else:                                       # pragma: no cover - Python 3.10
            import tomli as tomllib
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise PlanError(f"is not valid TOML: {exc}", source=source) from None
    elif fmt == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PlanError(f"is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
                            source=source) from None
    else:
        raise PlanError(f"unknown format '{fmt}'; use toml or json", source=source)
    return parse_plan(data, source=source, sha256=hashlib.sha256(raw).hexdigest())


def parse_plan(data: Any, *, source: str = "", sha256: str | None = None) -> TestPlan:
    """Check and convert parsed plan data (a dict as TOML/JSON give it) into a :class:`TestPlan`."""
    def err(where: str, message: str) -> PlanError:
        return PlanError(message, source=source, field=where)

    if not isinstance(data, dict):
        raise err("", "the top level must be a table/object with 'plan' and 'criteria'")
    for key in data:
        if key not in ("plan", "criteria"):
            raise err(str(key), "unknown section (a plan has [plan] and [[criteria]])")
    head = data.get("plan")
    if not isinstance(head, dict):
        raise err("plan", "missing: a [plan] table with at least 'title'")
    _unknown(head, _PLAN_KEYS, "plan", err)
    schema = _int(head.get("schema", SCHEMA_VERSION), "plan.schema", err, minimum=1)
    if schema != SCHEMA_VERSION:
        raise err("plan.schema", f"version {schema} is not known to this MedAdv (it reads version {SCHEMA_VERSION})")
    title = _text(head.get("title"), "plan.title", err, required=True)
    confidence = _number(head.get("confidence", 0.95), "plan.confidence", err)
    if not 0.5 <= confidence < 1.0:
        raise err("plan.confidence", f"{confidence:g} is outside [0.5, 1); write e.g. 0.95 for 95 %")
    interval = _text(head.get("interval", CLOPPER_PEARSON), "plan.interval", err).lower()
    if interval not in METHODS:
        raise err("plan.interval", f"unknown method '{interval}' (known: {', '.join(METHODS)})")
    min_samples = _int(head.get("min_samples", 0), "plan.min_samples", err, minimum=0)

    crit_data = data.get("criteria")
    if crit_data is None:
        raise err("criteria", "missing: at least one [[criteria]] table")
    if not isinstance(crit_data, list):
        raise err("criteria", "must be a list of tables ([[criteria]] in TOML, an array in JSON)")
    if not crit_data:
        raise err("criteria", "empty: give at least one criterion")
    if len(crit_data) > MAX_CRITERIA:
        raise err("criteria", f"{len(crit_data)} criteria; at most {MAX_CRITERIA}")
    criteria = []
    seen: set[str] = set()
    for i, c in enumerate(crit_data):
        crit = _criterion(c, f"criteria[{i}]", i, err, min_samples)
        if crit.id in seen:
            raise err(f"criteria[{i}].id", f"'{crit.id}' is used twice; ids must be unique")
        seen.add(crit.id)
        criteria.append(crit)
    if sha256 is None:
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
        sha256 = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return TestPlan(
        title=title, criteria=tuple(criteria), version=_text(head.get("version", ""), "plan.version", err,
                                                             allow_number=True, max_len=40),
        owner=_text(head.get("owner", ""), "plan.owner", err),
        description=_text(head.get("description", ""), "plan.description", err, max_len=4000, one_line=False),
        confidence=confidence, interval=interval, min_samples=min_samples, sha256=sha256, source=source,
        schema=schema, data=data)


def _criterion(c: Any, where: str, i: int, err, plan_min_samples: int) -> Criterion:
    if not isinstance(c, dict):
        raise err(where, "must be a table/object")
    _unknown(c, _CRITERION_KEYS, where, err)
    metric_text = _text(c.get("metric"), f"{where}.metric", err, required=True).lower()
    spec = METRICS.get(metric_text)
    if spec is None:
        raise err(f"{where}.metric", f"unknown metric '{metric_text}' (known: {', '.join(METRICS)})")
    cid = _text(c.get("id", f"C{i + 1}"), f"{where}.id", err, allow_number=True, max_len=40) or f"C{i + 1}"

    def forbid(key: str, why: str) -> None:
        if key in c:
            raise err(f"{where}.{key}", f"{spec.name} {why}; remove '{key}'")

    class_name = None
    if spec.per_class:
        class_name = _text(c.get("class"), f"{where}.class", err, required=True)
    else:
        forbid("class", "is not per class")
    attack = eps = None
    eps_value = None
    if spec.under_attack:
        attack = _text(c.get("attack", WORST_CASE), f"{where}.attack", err).strip().lower() or WORST_CASE
        if attack in _WORST_ALIASES:
            attack = WORST_CASE
        if "eps" not in c:
            raise err(f"{where}.eps", f"missing: {spec.name} is measured at one eps (e.g. eps = \"2/255\")")
        eps, eps_value = _budget(c["eps"], f"{where}.eps", err)
    else:
        forbid("attack", "is not measured under attack")
        forbid("eps", "is not measured under attack")
    corruption = None
    severity = None
    if spec.corruption in ("row", "summary"):
        corruption = _text(c.get("corruption"), f"{where}.corruption", err, required=True,
                           max_len=80).lower().replace("-", "_")
    else:
        forbid("corruption", "is not measured per corruption")
    if spec.corruption == "row":
        if "severity" not in c:
            raise err(f"{where}.severity", f"missing: {spec.name} is measured at one severity (1 to 5)")
        severity = _int(c["severity"], f"{where}.severity", err, minimum=1)
        if severity > 5:
            raise err(f"{where}.severity", f"{severity} is above 5 (severities are 1 to 5)")
    else:
        forbid("severity", "is not measured at one severity")
    codes = None
    comparison = bound = None
    threshold = None
    if spec.rate:
        forbid("codes", "does not take sanity-flag codes")
        comparison = _text(c.get("comparison"), f"{where}.comparison", err, required=True).replace(" ", "")
        comparison = {"=>": ">=", "=<": "<="}.get(comparison, comparison)
        if comparison not in COMPARISONS:
            raise err(f"{where}.comparison", f"'{comparison}' is not one of {', '.join(COMPARISONS)}")
        if "threshold" not in c:
            raise err(f"{where}.threshold", "missing: a fraction in [0, 1] (0.80 for 80 %)")
        threshold = _number(c["threshold"], f"{where}.threshold", err)
        if spec.ratio:
            if threshold < 0.0:
                raise err(f"{where}.threshold", f"{threshold:g} is negative; {spec.name} is a multiple of the "
                                                "clean error (2.0 = twice the clean error)")
        elif not 0.0 <= threshold <= 1.0:
            raise err(f"{where}.threshold",
                      f"{threshold:g} is outside [0, 1]; write rates as fractions (0.80 for 80 %)")
        default_bound = "point" if not spec.interval else ("lower" if comparison in (">=", ">") else "upper")
        bound = _text(c.get("bound", default_bound), f"{where}.bound", err).lower()
        if bound not in BOUNDS:
            raise err(f"{where}.bound", f"'{bound}' is not one of {', '.join(BOUNDS)}")
        if not spec.interval and bound != "point":
            raise err(f"{where}.bound", f"{spec.name} has no interval; use bound = \"point\"")
    else:
        for key in ("comparison", "threshold", "bound"):
            forbid(key, "passes when no flag is raised and takes no")
        if "codes" in c:
            raw = c["codes"]
            if not isinstance(raw, list) or not raw or not all(isinstance(x, str) for x in raw):
                raise err(f"{where}.codes", "must be a non-empty list of flag codes, e.g. [\"zero_gradients\"]")
            for x in raw:
                if x not in KNOWN_FLAG_CODES:
                    raise err(f"{where}.codes", f"unknown sanity flag '{x}' (known: {', '.join(KNOWN_FLAG_CODES)})")
            codes = tuple(dict.fromkeys(raw))
    min_samples = _int(c.get("min_samples", plan_min_samples), f"{where}.min_samples", err, minimum=0)
    return Criterion(
        id=cid, metric=spec.name, comparison=comparison, threshold=threshold, bound=bound,
        class_name=class_name, attack=attack, eps=eps, eps_value=eps_value, codes=codes,
        name=_text(c.get("name", ""), f"{where}.name", err, max_len=200),
        description=_text(c.get("description", ""), f"{where}.description", err, max_len=4000, one_line=False),
        min_samples=min_samples, corruption=corruption, severity=severity)


def _unknown(table: dict, known: tuple[str, ...], where: str, err) -> None:
    for key in table:
        if key not in known:
            raise err(f"{where}.{key}", f"unknown field (known: {', '.join(known)})")


def _text(value: Any, where: str, err, *, required: bool = False, allow_number: bool = False,
          max_len: int = 500, one_line: bool = True) -> str:
    if value is None:
        if required:
            raise err(where, "missing")
        return ""
    if allow_number and isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise err(where, f"must be text, not {type(value).__name__}")
    value = value.strip()
    if required and not value:
        raise err(where, "is empty")
    if len(value) > max_len:
        raise err(where, f"is {len(value)} characters long; at most {max_len}")
    if one_line and any(ch in value for ch in "\r\n"):
        raise err(where, "must be one line")
    return value


def _number(value: Any, where: str, err) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        hint = " (write 0.8, not \"80%\")" if isinstance(value, str) else ""
        raise err(where, f"must be a number, not {type(value).__name__}{hint}")
    v = float(value)
    if not math.isfinite(v):
        raise err(where, "must be a finite number")
    return v


def _int(value: Any, where: str, err, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise err(where, f"must be a whole number, not {type(value).__name__}")
    if value < minimum:
        raise err(where, f"{value} is below {minimum}")
    return int(value)


_NATIVE_SUFFIX = re.compile(r"[A-Za-z%]\s*$")
NATIVE_PROBE = 1e300    # native units per [0, 1] unit used only to check the syntax of a native budget


def _budget(value: Any, where: str, err) -> tuple[str, float | None]:
    """(the budget as written, its [0, 1] value or None when in native units such as HU)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise err(where, f"must be a budget such as \"2/255\", 0.0078 or \"3.1HU\", not {type(value).__name__}")
    text = value.strip() if isinstance(value, str) else repr(float(value))
    if not text:
        raise err(where, "is empty")
    try:
        if isinstance(value, str) and _NATIVE_SUFFIX.search(text):
            parse_budget(text, NATIVE_PROBE)          # syntax only; the value needs the evaluated model's window
            return text, None
        return text, parse_budget(value if not isinstance(value, str) else text)
    except AttackConfigError as exc:
        message = str(exc).split(": ", 1)[-1]
        raise err(where, message) from None
