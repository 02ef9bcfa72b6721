"""Least privilege, proven: each job role's policy grants exactly the IAM actions its jobs call.

The AWS calls come from the sagemaker-backend end-to-end runs (the `sagemaker_e2e` fixture:
the starter templates run by act against the AWS double, which records every call with the
role whose OIDC credentials signed it). Each call maps to the IAM actions it needs with the
tables the backend keeps beside the calls (smgha/backends/sagemaker.py IAM_ACTIONS,
RUNTIME_IAM_ACTIONS, IAM_EXTRA_ACTIONS and their monitoring counterparts), and the union per
role must equal the actions of that role's document in infra/terraform/iam_policies.tf.

A stage's code paths that the runs do not take (a definition change that replaces a job
definition, a baseline computed by a processing job, ...) are listed in NOT_IN_THE_RUNS
with the input that takes them; an entry the runs do exercise is stale and fails the test,
so the list can only shrink as the runs grow.
"""

from __future__ import annotations

import pytest

from smgha.backends import sagemaker, sagemaker_monitoring
from tests.e2e.sagemaker_run import JOB_ROLES, SageMakerRun
from tests.terraform_hcl import conditions, policy_documents, statements, strings

pytestmark = pytest.mark.slow

# Job -> its permission document in iam_policies.tf.
DOCUMENTS = {
    "build": "build_permissions",
    "deploy-staging": "deploy_staging_permissions",
    "deploy-production": "deploy_production_permissions",
}

# Allowed for every principal; no policy grants it (AWS: "No permissions are required").
NEEDS_NO_PERMISSION = frozenset({"sts:GetCallerIdentity"})

# Actions a job's stages call on paths the runs do not take: action -> when.
NOT_IN_THE_RUNS: dict[str, dict[str, str]] = {
    "build": {
        "sagemaker:CreateModelPackage": "register-and-gate with model-data-url (a pipeline without a register step)",
    },
    "deploy-staging": {
        "application-autoscaling:DescribeScalableTargets": "deploy-endpoint with a changed instance-type (is the variant autoscaled?)",
        "application-autoscaling:DescribeScalingPolicies": "deploy-endpoint with a changed instance-type on a variant with a scalable target",
    },
    "deploy-production": {
        "sagemaker:CreateModel": "deploy-endpoint of a version whose model does not exist yet (the staging job in the same run creates it first; a re-run of production alone after it was deleted does not)",
        "sagemaker:DeleteDataQualityJobDefinition": "enable-monitor after a baseline or setting change (the old job definition is replaced)",
        "sagemaker:UpdateMonitoringSchedule": "enable-monitor after a schedule or job definition change",
        "sagemaker:CreateProcessingJob": "enable-monitor with baseline-method: processing-job",
        "sagemaker:DescribeProcessingJob": "enable-monitor with baseline-method: processing-job (waits for the job)",
        "application-autoscaling:DeleteScalingPolicy": "deploy-endpoint with a changed instance-type on an autoscaled production endpoint (deregistered for the update)",
        "application-autoscaling:DeregisterScalableTarget": "deploy-endpoint with a changed instance-type on an autoscaled production endpoint (deregistered for the update)",
    },
}


def iam_actions(service: str, operation: str) -> set[str]:
    """The IAM actions one AWS call needs, by the backend's own tables."""
    if service == "sagemaker-runtime":
        table = sagemaker.RUNTIME_IAM_ACTIONS
    else:
        table = {**sagemaker.IAM_ACTIONS, **sagemaker_monitoring.IAM_ACTIONS}
    action = table.get(operation)
    assert action is not None, (
        f"{service} {operation} is called by a stage but missing from the IAM tables in "
        "smgha/backends/sagemaker.py: add it there (and to the role's policy)"
    )
    prefix = "sagemaker" if service == "sagemaker-runtime" else service
    assert action.split(":")[0] == prefix, f"{operation}: {action} is not a {service} action"
    extras = {**sagemaker.IAM_EXTRA_ACTIONS, **sagemaker_monitoring.IAM_EXTRA_ACTIONS}
    return {action, *extras.get(operation, ())} - NEEDS_NO_PERMISSION


def granted(document: str) -> set[str]:
    return {
        action
        for statement in statements(policy_documents()[document])
        for action in strings(statement.get("actions", []))
    }


def called(result: SageMakerRun, job: str) -> dict[str, set[tuple[str, str]]]:
    """IAM action -> the calls of the job's role that need it."""
    needs: dict[str, set[tuple[str, str]]] = {}
    for call in result.calls:
        if call["role"] == JOB_ROLES[job]:
            for action in iam_actions(call["service"], call["operation"]):
                needs.setdefault(action, set()).add((call["service"], call["operation"]))
    return needs


def _runs_completed(result: SageMakerRun) -> None:
    done = [name for name, run in result.runs.items() if run.returncode == 0]
    if done != ["build-1", "deploy-1", "build-2", "deploy-2"]:
        pytest.fail(f"the sagemaker e2e runs did not all succeed ({done}): see its tests")


@pytest.mark.parametrize("job", sorted(DOCUMENTS))
def test_each_role_grants_exactly_what_its_stages_call(
    sagemaker_e2e: SageMakerRun, job: str
) -> None:
    _runs_completed(sagemaker_e2e)
    needs = called(sagemaker_e2e, job)
    assert needs, f"no call was made with the {job} role"
    required = set(needs) | set(NOT_IN_THE_RUNS[job])
    policy = granted(DOCUMENTS[job])

    missing = {action: sorted(needs.get(action, [])) for action in required - policy}
    unused = sorted(policy - required)
    assert not missing, f"{DOCUMENTS[job]} lacks actions its stages call: {missing}"
    assert not unused, f"{DOCUMENTS[job]} grants actions no stage of the {job} job calls: {unused}"


@pytest.mark.parametrize("job", sorted(DOCUMENTS))
def test_paths_outside_the_runs_are_still_outside(sagemaker_e2e: SageMakerRun, job: str) -> None:
    """An action the runs now call needs no NOT_IN_THE_RUNS entry: remove it."""
    _runs_completed(sagemaker_e2e)
    stale = sorted(set(NOT_IN_THE_RUNS[job]) & set(called(sagemaker_e2e, job)))
    assert stale == [], f"called in the runs, remove from NOT_IN_THE_RUNS[{job!r}]: {stale}"


def test_pass_role_is_needed_by_every_job_and_only_to_sagemaker(
    sagemaker_e2e: SageMakerRun,
) -> None:
    """Each job passes the execution role (CreatePipeline, CreateModel, the monitoring job
    definition): its statement names only that role, and only for SageMaker."""
    _runs_completed(sagemaker_e2e)
    for job, document in DOCUMENTS.items():
        assert "iam:PassRole" in called(sagemaker_e2e, job), job
        (statement,) = [
            s
            for s in statements(policy_documents()[document])
            if "iam:PassRole" in strings(s.get("actions", []))
        ]
        assert strings(statement["actions"]) == ["iam:PassRole"], document
        assert strings(statement["resources"]) == ["${aws_iam_role.execution.arn}"], document
        assert conditions(statement) == [
            ("StringEquals", "iam:PassedToService", ["sagemaker.amazonaws.com"])
        ], document
