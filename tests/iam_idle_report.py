"""The idle endpoints report's permissions, as the e2e deployment renders them: the build
role's document (build_permissions) and, when a team opts in, its deletion document
(infra/terraform/iam_idle_report.tf) for the given endpoint name prefixes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tests.iam_policies import DEPLOYMENT, DOCUMENTS, policies, union, values
from tests.iam_requests import Calls
from tests.iam_simulator import Judged, denials
from tests.terraform_hcl import policy_documents, policy_json

BUILD_ROLE = f"arn:aws:iam::{DEPLOYMENT.account}:role/churn-github-build"
DELETION_DOCUMENT = "idle_endpoint_deletion_permissions"


def build_policies(deletion_prefixes: Sequence[str] = ()) -> dict[str, dict[str, Any]]:
    """{"build": the build role's permissions}: build_permissions, plus the deletion document
    rendered for `deletion_prefixes` when there are any (Terraform creates it only then)."""
    build = policies()[DOCUMENTS["build"]]
    if not deletion_prefixes:
        return {"build": build}
    resolved = values()
    arn_base = f"arn:aws:sagemaker:{DEPLOYMENT.region}:{DEPLOYMENT.account}"
    # iam_idle_report.tf's local (a for expression, which the renderer does not evaluate).
    resolved["local.idle_endpoint_deletion_arns"] = [
        f"{arn_base}:endpoint/{prefix.lower()}*" for prefix in deletion_prefixes
    ]
    deletion = policy_json(policy_documents()[DELETION_DOCUMENT], resolved)
    return {"build": union(build, deletion)}


def report_denials(
    calls: Sequence[dict[str, Any]], deletion_prefixes: Sequence[str] = ()
) -> list[str]:
    """What the build role's policies refuse of `calls` (the report's calls as the double
    records them, or hand-written ones), made as the build role."""
    derive = Calls(DEPLOYMENT)
    requests = [
        Judged(request, ("build",))
        for call in calls
        for request in derive.requests({**call, "role": BUILD_ROLE})
    ]
    return denials(requests, build_policies(deletion_prefixes))
