"""Metric gates: parse rules, evaluate them against a candidate and a champion, decide.

One grammar serves absolute thresholds and comparisons with the champion:

    accuracy >= 0.8               an absolute threshold
    rmse <= 3                     lower is better: the operator says so
    auc >= champion - 0.01        at most 0.01 below the champion's auc
    accuracy >= champion - 2%     at most 2 % (of the champion's value) below it
    rmse <= champion + 5%         at most 5 % above the champion's rmse
    shadow.p99_ms <= production.p99_ms * 1.2
                                  against another metric of the same evaluation, times a
                                  factor or plus/minus an allowance (shadow-test's rules)

A metric is named by its leaf in the evaluation JSON (`accuracy` for
`binary_classification_metrics.accuracy.value`) or by its full dotted path. Everything here
is pure: no I/O, no AWS.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from smgha.errors import InputError

OPERATORS = {
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
    "==": lambda a, b: math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12),
}

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_RULE = re.compile(
    rf"""^\s*(?P<metric>[A-Za-z_][\w.:\-]*)\s*(?P<op>>=|<=|==|>|<)\s*
    (?:(?P<value>{_NUMBER})
      |(?P<reference>champion|[A-Za-z_][\w.:\-]*)
       (?:\s*\*\s*(?P<factor>{_NUMBER})
         |\s*(?P<sign>[-+])\s*(?P<delta>{_NUMBER})\s*(?P<percent>%)?)?)\s*$""",
    re.VERBOSE,
)
RULE_HELP = (
    "Write one rule per line as '<metric> <op> <number>' or '<metric> <op> champion [+|- <number>[%]]', "
    "with op one of >=, >, <=, <, ==; e.g. 'accuracy >= 0.8' or 'auc >= champion - 0.01' "
    "(or, against another metric, '<metric> <op> <metric> [* <number> | +|- <number>[%]]')."
)


@dataclass(frozen=True)
class Rule:
    text: str
    metric: str  # as written; resolved against the evaluation by `resolve_metric`
    operator: str
    value: float | None = None  # an absolute threshold, or None for a champion rule
    delta: float = 0.0  # signed allowance on the champion's value
    relative: bool = False  # delta is a percentage of the champion's value
    # Compared with another metric of the same evaluation instead of the champion's value
    # ('' for the champion), times `factor`.
    reference: str = ""
    factor: float = 1.0

    @property
    def versus_champion(self) -> bool:
        return self.value is None and not self.reference

    def threshold(self, champion: float) -> float:
        """The bar, from the champion's (or the reference metric's) value."""
        base = champion * self.factor
        return base * (1 + self.delta / 100) if self.relative else base + self.delta


@dataclass(frozen=True)
class RuleResult:
    rule: Rule
    metric: str  # the metric's name in the evaluation (resolved)
    observed: float
    threshold: float | None  # None: nothing to compare with (no champion)
    champion: float | None
    passed: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule.text,
            "metric": self.metric,
            "observed": self.observed,
            "threshold": self.threshold,
            "champion": self.champion,
            "passed": self.passed,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class GateDecision:
    decision: str  # approved | pending | rejected
    approval_status: str  # Approved | PendingManualApproval | Rejected
    results: tuple[RuleResult, ...]
    forced: bool
    description: str  # for ApprovalDescription

    @property
    def failures(self) -> list[RuleResult]:
        return [r for r in self.results if not r.passed]


def parse_rules(lines: Iterable[str]) -> list[Rule]:
    """Rules from lines (blank lines and `# comments` skipped); InputError('rules') otherwise."""
    rules = []
    for line in lines:
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        for part in (p.strip() for p in re.split(r"[;,]", text)):
            if not part:
                continue
            match = _RULE.match(part)
            # A factor applies to another metric only: the champion rules keep their grammar.
            if not match or (match["reference"] == "champion" and match["factor"]):
                raise InputError("rules", f"cannot read the rule {part!r}", RULE_HELP)
            value, reference = match["value"], match["reference"]
            delta = float(match["delta"] or 0) * (-1 if match["sign"] == "-" else 1)
            rules.append(
                Rule(
                    text=" ".join(part.split()),
                    metric=match["metric"],
                    operator=match["op"],
                    value=float(value) if value is not None else None,
                    delta=delta,
                    relative=bool(match["percent"]),
                    reference="" if reference in (None, "champion") else reference,
                    factor=float(match["factor"] or 1),
                )
            )
    return rules


def metric_table(evaluation: Any) -> dict[str, float]:
    """Every metric in an evaluation JSON by dotted path; `{"value": x}` leaves collapse,
    so `binary_classification_metrics.accuracy.value` is `binary_classification_metrics.accuracy`.
    Confusion matrices are counts, not metrics: left out."""
    table: dict[str, float] = {}

    def walk(path: str, node: Any) -> None:
        if isinstance(node, Mapping):
            if "value" in node and _is_number(node["value"]):
                table[path] = float(node["value"])
                return
            for key, child in node.items():
                if key != "confusion_matrix":
                    walk(f"{path}.{key}" if path else str(key), child)
        elif _is_number(node) and path:
            table[path] = float(node)

    walk("", evaluation)
    return table


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def resolve_metric(name: str, table: Mapping[str, float]) -> str | None:
    """The table key `name` means: the full path, or the one path ending in `.name`."""
    if name in table:
        return name
    matches = [key for key in table if key.endswith("." + name)]
    return matches[0] if len(matches) == 1 else None


def short_names(table: Mapping[str, float]) -> dict[str, str]:
    """A readable name per metric path: its leaf where that is unambiguous."""
    leaves = [key.rsplit(".", 1)[-1] for key in table]
    return {
        key: (leaf if leaves.count(leaf) == 1 else key)
        for key, leaf in zip(table, leaves, strict=True)
    }


def check_metrics_exist(rules: list[Rule], candidate: Mapping[str, float]) -> None:
    """InputError('rules') naming every rule metric (and reference metric) the evaluation lacks."""
    named = [name for rule in rules for name in (rule.metric, rule.reference) if name]
    missing = [name for name in named if resolve_metric(name, candidate) is None]
    if missing:
        available = ", ".join(sorted(short_names(candidate).values())) or "none"
        raise InputError(
            "rules",
            f"the evaluation has no metric {', '.join(map(repr, missing))}",
            f"Metrics it has: {available}.",
        )


def evaluate(
    rules: list[Rule], candidate: Mapping[str, float], champion: Mapping[str, float] | None
) -> list[RuleResult]:
    """Each rule's outcome. A champion rule passes when there is no champion yet (the first
    model sets the bar) and fails when the champion lacks the metric."""
    results = []
    for rule in rules:
        key = resolve_metric(rule.metric, candidate)
        assert key is not None, "check_metrics_exist first"
        observed = candidate[key]
        compare = OPERATORS[rule.operator]
        if rule.reference:
            results.append(_versus_metric(rule, key, observed, candidate))
            continue
        if rule.value is not None:
            threshold = rule.value
            passed = compare(observed, threshold)
            detail = f"{_fmt(observed)} {rule.operator if passed else _negated(rule.operator)} {_fmt(threshold)}"
            results.append(RuleResult(rule, key, observed, threshold, None, passed, detail))
            continue
        if champion is None:
            results.append(
                RuleResult(rule, key, observed, None, None, True, "no champion yet: sets the bar")
            )
            continue
        champion_key = resolve_metric(rule.metric, champion)
        if champion_key is None:
            results.append(
                RuleResult(
                    rule,
                    key,
                    observed,
                    None,
                    None,
                    False,
                    f"the champion has no {rule.metric} to compare with",
                )
            )
            continue
        champion_value = champion[champion_key]
        threshold = rule.threshold(champion_value)
        passed = compare(observed, threshold)
        allowance = (
            ""
            if not rule.delta
            else f" {'+' if rule.delta > 0 else '-'} {_fmt(abs(rule.delta))}{'%' if rule.relative else ''}"
        )
        detail = (
            f"{_fmt(observed)} {rule.operator if passed else _negated(rule.operator)} {_fmt(threshold)}"
            f" (champion {_fmt(champion_value)}{allowance})"
        )
        results.append(RuleResult(rule, key, observed, threshold, champion_value, passed, detail))
    return results


def verdict(
    rules: list[Rule],
    candidate: Mapping[str, float],
    champion: Mapping[str, float] | None,
    *,
    manual_approval: bool,
    force: bool = False,
    forced_by: str = "",
    reason: str = "",
) -> GateDecision:
    """The gate's decision on `candidate` against `champion` (None: there is none).

    register-and-gate's plan() and the review's predicted verdict (smgha.review.compare)
    both call this one function, so the prediction is the gate's own answer, not a copy of it.
    InputError('rules') when a rule names a metric the candidate lacks."""
    check_metrics_exist(rules, candidate)
    return decide(
        evaluate(rules, candidate, champion),
        manual_approval=manual_approval,
        force=force,
        forced_by=forced_by,
        reason=reason,
    )


def decide(
    results: list[RuleResult],
    manual_approval: bool,
    force: bool,
    forced_by: str = "",
    reason: str = "",
) -> GateDecision:
    """Pass: Approved (or PendingManualApproval when approval is manual). Fail: Rejected,
    unless forced, which approves and records who and why."""
    failed = [r for r in results if not r.passed]
    summary = "; ".join(f"{r.metric.rsplit('.', 1)[-1]}: {r.detail}" for r in results) or "no rules"
    if failed and force:
        description = (
            f"forced by {forced_by or 'unknown'}: {reason} (failed gates: "
            + "; ".join(f"{r.rule.text}: {r.detail}" for r in failed)
            + ")"
        )
        return GateDecision("approved", "Approved", tuple(results), True, description)
    if failed:
        description = "rejected by gates: " + "; ".join(
            f"{r.rule.text}: {r.detail}" for r in failed
        )
        return GateDecision("rejected", "Rejected", tuple(results), False, description)
    if manual_approval:
        return GateDecision(
            "pending",
            "PendingManualApproval",
            tuple(results),
            force,
            f"gates passed, awaiting manual approval: {summary}",
        )
    return GateDecision("approved", "Approved", tuple(results), force, f"gates passed: {summary}")


def _versus_metric(
    rule: Rule, key: str, observed: float, candidate: Mapping[str, float]
) -> RuleResult:
    """A rule against another metric of the same evaluation (`shadow.p99_ms <= production.p99_ms * 1.2`)."""
    reference_key = resolve_metric(rule.reference, candidate)
    assert reference_key is not None, "check_metrics_exist first"
    base = candidate[reference_key]
    threshold = rule.threshold(base)
    passed = OPERATORS[rule.operator](observed, threshold)
    how = f" × {_fmt(rule.factor)}" if rule.factor != 1 else ""
    if rule.delta:
        how += f" {'+' if rule.delta > 0 else '-'} {_fmt(abs(rule.delta))}{'%' if rule.relative else ''}"
    detail = (
        f"{_fmt(observed)} {rule.operator if passed else _negated(rule.operator)} {_fmt(threshold)}"
        f" ({rule.reference} {_fmt(base)}{how})"
    )
    return RuleResult(rule, key, observed, threshold, None, passed, detail)


def _fmt(value: float) -> str:
    return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.6g}"


def _negated(operator: str) -> str:
    return {">=": "<", ">": "<=", "<=": ">", "<": ">=", "==": "!="}[operator]


def comparison_rows(
    candidate: dict[str, float],
    champion: dict[str, float] | None,
    results: Sequence[RuleResult],
) -> list[list[str]]:
    """The gate's summary table: one row per metric (and one more per extra rule on it) with
    the candidate, the champion, the delta, the rule and its result."""
    names = short_names(candidate)
    by_metric: dict[str, list[RuleResult]] = {}
    for result in results:
        by_metric.setdefault(result.metric, []).append(result)
    rows = []
    for key, value in candidate.items():
        champion_value = (champion or {}).get(key)
        delta = f"{value - champion_value:+.4f}" if champion_value is not None else "–"
        base = [
            names[key],
            f"{value:.4f}",
            f"{champion_value:.4f}" if champion_value is not None else "–",
            delta,
        ]
        for result in by_metric.get(key) or []:
            mark = "✅ " if result.passed else "❌ "
            rows.append([*base, f"`{result.rule.text}`", mark + result.detail])
        if key not in by_metric:
            rows.append([*base, "–", ""])
    return rows
