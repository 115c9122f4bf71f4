"""Traceability of a report: its id, who asked for it and who signs it off, the test plan's verdict,
the data set's fingerprint, the model's lineage, and the run's parameters in words.

A :class:`ReportMeta` travels with a result to every writer (PDF, CSV, JSON). Its ``report_id``
is a fresh UUID4 per report (a report rebuilt from a saved result is a new document with a new
id; the result's own date says when the evaluation ran). ``requester`` and ``approver`` are
names the user gave (``medadv evaluate --requester/--approver`` or the GUI); they are the only
people's names a report carries and are printed as given, outside de-identification, because
they are staff, not patients. ``purpose`` is the free text of the GUI's sign-off dialog (why the
report was asked for); it is free text, so it goes through the de-identification pass. ``verdict`` is the test plan applied to the result
(:func:`medadv_desktop.engine.plans.evaluate_plan`).

:func:`traceability_pairs` and :func:`run_parameters_in_words` give (label, text) pairs with empty
values left out, so a table never shows a blank row.
"""

from __future__ import annotations

import datetime as _dt
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from medadv_desktop.engine.reports import formatting as fmt

if TYPE_CHECKING:
    from medadv_desktop.engine.plans import PlanVerdict
    from medadv_desktop.engine.results import BeforeAfterResult, EvaluationResult

MAX_NAME_CHARS = 120
MAX_PURPOSE_CHARS = 2000


def _utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def _clean_name(value: str | None, option: str) -> str:
    from medadv_desktop.errors import ReportError

    text = " ".join(str(value or "").split())
    if len(text) > MAX_NAME_CHARS:
        raise ReportError(f"{option}: the name is {len(text)} characters long; at most {MAX_NAME_CHARS}.",
                          hint="Give a name and, if needed, a role, e.g. 'Dr A. Smith (radiology AI lead)'.")
    if any(ord(c) < 32 for c in text):
        raise ReportError(f"{option}: the name holds control characters.")
    return text


def _clean_purpose(value: str | None) -> str:
    from medadv_desktop.errors import ReportError

    lines = [" ".join(line.split()) for line in str(value or "").splitlines()]
    text = "\n".join(line for line in lines if line)
    if len(text) > MAX_PURPOSE_CHARS:
        raise ReportError(f"purpose: the text is {len(text)} characters long; at most {MAX_PURPOSE_CHARS}.",
                          hint="Say in a few sentences what the report is for; details belong in the test plan.")
    if any(ord(c) < 32 and c != "\n" for c in text):
        raise ReportError("purpose: the text holds control characters.")
    return text


@dataclass(frozen=True)
class ReportMeta:
    """What identifies one report document (module doc)."""

    report_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    created_utc: str = field(default_factory=_utc_now)
    requester: str = ""
    approver: str = ""
    verdict: PlanVerdict | None = None
    purpose: str = ""

    @classmethod
    def create(cls, *, requester: str | None = None, approver: str | None = None,
               verdict: PlanVerdict | None = None, purpose: str | None = None) -> ReportMeta:
        """A new report id, names checked (one line each, at most 120 characters), the purpose
        (free text, at most 2000 characters) with its blank lines and runs of spaces folded."""
        return cls(requester=_clean_name(requester, "requester"), approver=_clean_name(approver, "approver"),
                   verdict=verdict, purpose=_clean_purpose(purpose))

    def to_dict(self) -> dict[str, Any]:
        """The JSON block of a report (``report`` key): id, date, names, plan hash and verdict."""
        from medadv_desktop.engine.serialization import to_jsonable

        out: dict[str, Any] = {"report_id": self.report_id, "created_utc": self.created_utc,
                               "requester": self.requester or None, "approver": self.approver or None}
        if self.purpose:
            from medadv_desktop.engine.reports.deid import scrub_text

            out["purpose"] = scrub_text(self.purpose)
        if self.verdict is not None:
            v = self.verdict
            out["test_plan"] = {"title": v.plan_title, "version": v.plan_version, "owner": v.plan_owner,
                                "sha256": v.plan_sha256, "confidence": v.confidence, "interval": v.interval}
            out["verdict"] = {"status": v.status, "exit_code": v.exit_code, "summary": v.summary(),
                              "rows": to_jsonable(list(v.rows))}
        return out


def short_hash(value: str | None, n: int = 16) -> str:
    return "" if not value else f"{value[:n]}...{value[-4:]}" if len(value) > n + 8 else value


def traceability_pairs(result: EvaluationResult, meta: ReportMeta,
                       before_after: BeforeAfterResult | None = None) -> list[tuple[str, str]]:
    """(label, text) rows of the report's traceability table; rows without a value are left out."""
    r = result
    pairs: list[tuple[str, str]] = [
        ("Report id", meta.report_id),
        ("Report created", meta.created_utc.replace("T", " ").replace("+00:00", " UTC")),
        ("Evaluation run", str(r.provenance.date_utc or "").replace("T", " ").replace("+00:00", " UTC")),
        ("Requested by", meta.requester),
        ("Approver", meta.approver),
        ("Purpose", meta.purpose),
        ("Model weights SHA-256", r.model.sha256 or ""),
        ("Parent model SHA-256 (trained from)", r.model.parent_sha256 or ""),
        ("Data set fingerprint (SHA-256)", r.dataset.fingerprint or ""),
        ("Data set", f"{r.dataset.name}: {r.n_samples} images" + (", synthetic demo data" if r.dataset.synthetic
                                                                  else "")),
    ]
    if before_after is not None and before_after.training is not None:
        pairs.append(("Training recipe", training_recipe_in_words(before_after.training)))
    if meta.verdict is not None:
        v = meta.verdict
        pairs += [("Test plan", f"{v.plan_title}" + (f", version {v.plan_version}" if v.plan_version else "")
                   + (f" (owner: {v.plan_owner})" if v.plan_owner else "")),
                  ("Test plan SHA-256", v.plan_sha256)]
    software = ", ".join(f"{k} {v}" for k, v in r.provenance.software.items() if v)
    pairs.append(("Software (evaluation)", software))
    return [(k, v) for k, v in pairs if v and str(v).strip()]


def training_recipe_in_words(training: Any) -> str:
    """The adversarial training recipe in one line (method, eps, epochs, learning rate...)."""
    from medadv_desktop.engine.serialization import to_jsonable

    from medadv_desktop.engine.reports.deid import scrub

    data = scrub(to_jsonable(training))
    if not isinstance(data, dict):
        return str(data)
    config: dict[str, Any] = data["config"] if isinstance(data.get("config"), dict) else data
    parts = []
    for key, value in config.items():
        if value in (None, "", [], {}) or isinstance(value, (dict, list)):
            continue
        parts.append(f"{words_of_key(key)} {value_in_words(key, value)}")
    return "; ".join(parts[:14])


#: Parameter keys a reader would not understand as written.
KEY_WORDS = {
    "eps": "budget eps", "alpha": "step size", "steps": "steps", "n_queries": "queries",
    "p_init": "initial square size",
    "random_start": "random start", "restarts": "restarts", "norm": "norm", "seed": "random seed",
    "batch_size": "batch size", "cascade": "eps cascade", "full_rows": "every attack on every image",
    "elapsed_s": "run time", "torch_threads": "CPU threads", "device": "device", "date_utc": "date",
    "lr": "learning rate", "epochs": "epochs", "train_eps": "training budget eps", "method": "method",
    "model_name": "model", "model_sha256": "model SHA-256", "threat_model": "threat model",
    "fold_bn": "batch-norm folded into the convolutions", "amp": "mixed precision",
    "early_stop": "stop on a sample once it is fooled", "targeted": "targeted",
}
_SECONDS = ("elapsed_s", "time_s")


def words_of_key(key: str) -> str:
    key = str(key)
    return KEY_WORDS.get(key, key.replace("_", " "))


def value_in_words(key: str, value: Any) -> str:
    """A parameter value with its unit: budgets also as k/255, seconds as time, booleans as yes/no."""
    k = str(key).lower()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if k in _SECONDS and fmt.is_number(value):
        return fmt.seconds(value)
    if isinstance(value, float) and fmt.is_number(value):
        text = fmt.num(value, 4)
        if k in ("eps", "train_eps") or (k.startswith("eps") and value <= 1):
            frac = fmt.eps_fraction(value)
            return f"{text} ({frac} of the [0, 1] intensity range)" if "/" in frac else f"{text} ([0, 1] units)"
        if k == "alpha":
            return "automatic (2.5 x eps / steps)" if value == 0 else f"{text} ([0, 1] units per step)"
        return text
    if k == "norm":
        return fmt.norm_name(value)
    if k == "batch_size":
        return f"{value} images"
    return str(value)


def run_parameters_in_words(result: EvaluationResult, *, include_phi: bool = False) -> list[tuple[str, str]]:
    """The run's parameters as (label, text with units); parameters not recorded are left out.
    Attack parameters pass the key-based de-identification (:func:`deid.scrub`) unless
    ``include_phi``; the caller scrubs the text of every value as for any other table."""
    from medadv_desktop.engine.reports.deid import scrub

    p = result.provenance
    pairs: list[tuple[str, str]] = [
        ("Norm of the budget", fmt.norm_description(p.norm or result.norm)),
        ("Budgets eps", "; ".join(fmt.eps_all_units(e, result.eps_native_at(e), result.units)
                                  for e in result.eps_grid)),
        ("Random seed", "" if p.seed is None else f"{p.seed} (same seed and inputs give the same attacks)"),
        ("Device", p.device),
        ("CPU threads", "" if p.torch_threads is None else str(p.torch_threads)),
        ("Batch size", "" if p.batch_size is None else f"{p.batch_size} images per attack batch"),
        ("Attack order", "" if p.full_rows is None else (
            "every attack on every image correct without attack" if p.full_rows else
            "cascade: a later attack ran only on the images still robust to the ones before it")),
        ("Across budgets", "" if p.cascade is None else (
            "an image fooled at a smaller eps counts as fooled at the larger ones" if p.cascade else
            "every budget attacked afresh")),
        ("Run time", "" if p.elapsed_s is None else fmt.seconds(p.elapsed_s)),
        ("Threat model", p.threat_model),
    ]
    for info in result.attack_info:
        kept = scrub(dict(info.params), include_phi=include_phi)
        for same in ("norm", "seed"):               # the run's own, given above
            kept.pop(same, None)
        if str(kept.get("targeted", "")).lower() in ("", "none", "false", "no"):
            kept.pop("target_class", None)          # only meaningful for a targeted attack
            kept["targeted"] = "no (untargeted)"
        params = [f"{words_of_key(k)} {value_in_words(k, v)}" for k, v in kept.items()
                  if v not in (None, "", [], {})]
        access = f" ({info.access})" if info.access else ""
        pairs.append((f"Attack: {info.title}{access}", "; ".join(params) or "default parameters"))
    return [(k, v) for k, v in pairs if v and str(v).strip()]
