"""What the demo says about a stage when it is not verbose: one line from the stage's outputs.

The stage's whole log (its steps, tables and outputs, as `--verbose` prints them) goes to a
file under the state folder; the line says what happened and the numbers that matter.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping


def _metric(metrics_json: str, name: str) -> str:
    try:
        value = json.loads(metrics_json)["binary_classification_metrics"][name]["value"]
    except (ValueError, KeyError, TypeError):
        return "?"
    return f"{value:.4f}" if isinstance(value, (int, float)) else "?"


def _version(arn: str) -> str:
    """'churn-models/3' of a model package ARN ('' for none)."""
    return arn.split("model-package/", 1)[-1] if arn else ""


def _build(out: Mapping[str, str]) -> str:
    registered = _version(out.get("model-package-arn", ""))
    return (
        f"execution {out.get('status', '?')}: accuracy {_metric(out.get('metrics', ''), 'accuracy')}, "
        f"auc {_metric(out.get('metrics', ''), 'auc')}; "
        + (f"registered {registered}" if registered else "no model registered")
    )


def _gate(out: Mapping[str, str]) -> str:
    try:
        rules = json.loads(out.get("rules") or "[]")
    except ValueError:
        rules = []
    passed = sum(1 for rule in rules if rule.get("passed"))
    champion = _version(out.get("champion-arn", "")) or "none yet"
    return (
        f"{_version(out.get('model-package-arn', ''))} {out.get('decision', '?')}: "
        f"{passed} of {len(rules)} rules passed (champion: {champion})"
    )


def _deploy(out: Mapping[str, str]) -> str:
    before = _version(out.get("previous-model-package-arn", ""))
    return (
        f"{out.get('endpoint-name', '?')} {out.get('status', '?')}: "
        f"{_version(out.get('model-package-arn', ''))} on {out.get('endpoint-config-name', '?')}"
        + (f" (replacing {before})" if before else "")
    )


def _smoke(out: Mapping[str, str]) -> str:
    verdict = "passed" if out.get("passed") == "true" else "FAILED"
    return (
        f"{verdict}: accuracy {out.get('accuracy', '?')}, p50 {out.get('p50-ms', '?')} ms, "
        f"p99 {out.get('p99-ms', '?')} ms, error rate {out.get('error-rate', '?')}"
    )


def _monitor(out: Mapping[str, str]) -> str:
    try:
        alarms = len(json.loads(out.get("alarm-names") or "[]"))
    except ValueError:
        alarms = 0
    return f"schedule {out.get('schedule-name', '?')}, a baseline and {alarms} drift alarms"


# The stage's name (its module's, with dashes) -> the line it gets.
LINES: dict[str, Callable[[Mapping[str, str]], str]] = {
    "build-pipeline": _build,
    "register-and-gate": _gate,
    "deploy-endpoint": _deploy,
    "smoke-test": _smoke,
    "enable-monitor": _monitor,
}


def line(stage: str, outputs: Mapping[str, str]) -> str:
    return LINES[stage](outputs) if stage in LINES else ""


def error_lines(log: str, limit: int = 12) -> list[str]:
    """The log's errors as the terminal renders them (ERROR: ...), at most `limit`."""
    return [text for text in log.splitlines() if text.startswith("ERROR")][:limit]
