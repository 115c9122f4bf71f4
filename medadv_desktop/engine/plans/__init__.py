"""Acceptance criteria (test plans): parse a department's plan (TOML or JSON) and apply it to an
evaluation (verdict rows, overall pass/fail, exit code). See README "Acceptance criteria (test plans)"."""

from medadv_desktop.engine.plans.corruption import (
    check_corruption_plan_fits, evaluate_combined_plan, evaluate_corruption_plan, format_verdict)
from medadv_desktop.engine.plans.schema import (
    COMPARISONS, KNOWN_FLAG_CODES, METRICS, SCHEMA_VERSION, Criterion, MetricSpec, PlanError, TestPlan, load_plan,
    parse_plan, plan_from_bytes)
from medadv_desktop.engine.plans.verdict import (
    EXIT_FAIL, EXIT_PASS, FAIL, NOT_EVALUABLE, PASS, PlanVerdict, VerdictRow, check_plan_fits, evaluate_plan,
    exit_code, native_per_unit_of, overall_status, resolve_eps)

__all__ = [
    "COMPARISONS", "KNOWN_FLAG_CODES", "METRICS", "SCHEMA_VERSION", "Criterion", "MetricSpec", "PlanError",
    "TestPlan", "load_plan", "parse_plan", "plan_from_bytes", "EXIT_FAIL", "EXIT_PASS", "FAIL", "NOT_EVALUABLE",
    "PASS", "PlanVerdict", "VerdictRow", "check_plan_fits", "evaluate_plan", "exit_code", "native_per_unit_of",
    "overall_status", "resolve_eps", "check_corruption_plan_fits", "evaluate_combined_plan", "evaluate_corruption_plan",
    "format_verdict",
]
