"""Least privilege, proven: each job role's policy grants exactly the IAM actions its jobs call,
on the resources and with the condition keys of their calls.

The AWS calls come from the sagemaker-backend end-to-end runs (the `sagemaker_e2e` fixture:
the starter templates run by act against the AWS double, which records every call with the
role whose OIDC credentials signed it). Each call maps to the IAM actions it needs with the
tables the backend keeps in one place (smgha/backends/aws/client.py IAM_ACTIONS,
RUNTIME_IAM_ACTIONS, IAM_EXTRA_ACTIONS), and the union per
role must equal the actions of that role's document in infra/terraform/iam_policies.tf.

Beyond the action names, each call is judged with its resources and condition keys by a real
IAM policy evaluator (tests/iam_simulator.py): the resource ARNs and condition keys AWS
evaluates come from the recorded request parameters (tests/iam_requests.py), the policies
are the Terraform documents rendered for the runs' deployment (tests/iam_policies.py). So
is what SageMaker does with the execution role, derived from the executed pipeline
definitions and the deploy and monitor requests.

A stage's code paths that the runs do not take (a definition change that replaces a job
definition, a baseline computed by a processing job, ...) are listed in NOT_IN_THE_RUNS
with the input that takes them; an entry the runs do exercise is stale and fails the test,
so the list can only shrink as the runs grow.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.sagemaker_run import JOB_ROLES, RUNS, VARIABLES, SageMakerRun
from tests.iam_execution import execution_requests
from tests.iam_policies import DEPLOYMENT, DOCUMENTS, EXECUTION_DOCUMENT, execution_role, policies
from tests.iam_requests import Calls, iam_actions
from tests.iam_simulator import IamRequest, denials
from tests.terraform_hcl import conditions, policy_documents, statements, strings

pytestmark = pytest.mark.slow

# Actions a job's stages call on paths the runs do not take: action -> when.
NOT_IN_THE_RUNS: dict[str, dict[str, str]] = {
    "build": {
        "sagemaker:CreateModelPackage": "register-and-gate with model-data-url (a pipeline without a register step)",
        "sagemaker:ListPipelineExecutions": "build-pipeline with from-step and no source-execution-arn (the latest Succeeded execution is the source)",
        # The double runs no tuning step (tests/e2e/aws_double.py); tests/test_step_costs.py
        # calls both against moto.
        "sagemaker:DescribeHyperParameterTuningJob": "build-pipeline of a pipeline with a tuning step (its trials' time and cost)",
        "sagemaker:ListTrainingJobsForHyperParameterTuningJob": "build-pipeline of a pipeline with a tuning step (its trials' time and cost)",
        # tests/test_idle_report.py runs the report against the double and judges its recorded
        # calls against build_permissions.
        "sagemaker:ListEndpoints": "smgha endpoints idle-report (workflows-templates/idle-endpoints.yml)",
        "sagemaker:DescribeEndpoint": "smgha endpoints idle-report (workflows-templates/idle-endpoints.yml)",
        "sagemaker:DescribeEndpointConfig": "smgha endpoints idle-report (workflows-templates/idle-endpoints.yml)",
        "cloudwatch:GetMetricData": "smgha endpoints idle-report (workflows-templates/idle-endpoints.yml): each variant's Invocations",
    },
    "deploy-staging": {
        "sagemaker:InvokeEndpointAsync": "smoke-test of an endpoint deployed with async-output-s3-uri",
        "application-autoscaling:DescribeScalingPolicies": "deploy-endpoint with a changed instance-type on a variant with a scalable target",
        "sagemaker:CreateTransformJob": "model-deploy with batch-input-s3-uri (batch-transform after the staging smoke test)",
        "sagemaker:DescribeTransformJob": "model-deploy with batch-input-s3-uri (batch-transform waits for its job)",
        "sagemaker:StopTransformJob": "model-deploy with batch-input-s3-uri, a job still running at batch-transform's timeout-minutes",
        "s3:ListBucket": "model-deploy with batch-input-s3-uri (batch-transform lists its dataset and its output)",
        "s3:GetObject": "model-deploy with batch-input-s3-uri (batch-transform reads its dataset and output for the checks), or a smoke-test of an asynchronous endpoint (its answers are read from the output location)",
        "s3:PutObject": "model-deploy with batch-input-s3-uri (batch-transform publishes <output>/_LATEST.json), or a smoke-test of an asynchronous endpoint (its payloads are uploaded under async-input-s3-uri)",
    },
    "deploy-production": {
        "sagemaker:InvokeEndpointAsync": "smoke-test of an endpoint deployed with async-output-s3-uri",
        "sagemaker:CreateModel": "deploy-endpoint of a version whose model does not exist yet (the staging job in the same run creates it first; a re-run of production alone after it was deleted does not)",
        "sagemaker:DeleteDataQualityJobDefinition": "enable-monitor after a baseline or setting change (the old job definition is replaced)",
        "sagemaker:CreateModelQualityJobDefinition": "enable-monitor with model-quality: true",
        "sagemaker:DescribeModelQualityJobDefinition": "enable-monitor with model-quality: true",
        "sagemaker:DeleteModelQualityJobDefinition": "enable-monitor with model-quality: true, after a setting change (the old job definition is replaced)",
        "sagemaker:UpdateMonitoringSchedule": "enable-monitor after a schedule or job definition change",
        "sagemaker:CreateProcessingJob": "enable-monitor with baseline-method: processing-job",
        "sagemaker:DescribeProcessingJob": "enable-monitor with baseline-method: processing-job (waits for the job)",
        "application-autoscaling:DeleteScalingPolicy": "deploy-endpoint with a changed instance-type on an autoscaled production endpoint (deregistered for the update)",
        "application-autoscaling:DeregisterScalableTarget": "deploy-endpoint with a changed instance-type on an autoscaled production endpoint (deregistered for the update)",
        "s3:ListBucket": "model-deploy with production-shadow: true (shadow-test lists both variants' capture files)",
        "cloudwatch:GetMetricData": "model-deploy with production-shadow: true (shadow-test reads each variant's metrics)",
    },
}


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
    if done != list(RUNS):
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


# The execution role each job passes: the tooling account's for the build, each deploy
# account's own for the deploys (the same role in one account; infra/terraform/accounts.tf).
PASSED_ROLE = {
    "build": "${aws_iam_role.execution.arn}",
    "deploy-staging": "${local.staging_execution_role_arn}",
    "deploy-production": "${local.production_execution_role_arn}",
}


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
        assert strings(statement["resources"]) == [PASSED_ROLE[job]], document
        assert conditions(statement) == [
            ("StringEquals", "iam:PassedToService", ["sagemaker.amazonaws.com"])
        ], document


# ---- resources and conditions, by a real IAM policy evaluator ---------------------------------


def role_requests(result: SageMakerRun) -> dict[str, list[IamRequest]]:
    """Role (a job, or "execution") -> the authorizations behind its calls in the runs: each
    recorded call of a job's role, and what SageMaker does with the execution role."""
    found: dict[str, list[IamRequest]] = {}
    for job in DOCUMENTS:
        derive = Calls(DEPLOYMENT)  # per job: the calls of one job, in order
        found[job] = [
            request
            for call in result.calls
            if call["role"] == JOB_ROLES[job]
            for request in derive.requests(call)
        ]
    found["execution"] = execution_requests(result.calls, DEPLOYMENT, execution_role())
    return found


ROLE_DOCUMENTS = {**DOCUMENTS, "execution": EXECUTION_DOCUMENT}
# What "*" narrows to: an ARN (a Resource must be one, or "*"; iam-simulate matches a
# malformed pattern such as "*-narrowed" like "*").
NARROWED_STAR = "arn:aws:s3:::narrowed"


def judge(
    requests: dict[str, list[IamRequest]], rendered: dict[str, dict[str, Any]]
) -> dict[str, list[str]]:
    """Role -> the denials of its requests, all roles evaluated in one batch."""
    batch = [(r, ROLE_DOCUMENTS[role]) for role, found in requests.items() for r in found]
    problems = denials(batch, rendered)
    return {
        role: [p for p in problems if p.startswith(f"{ROLE_DOCUMENTS[role]} ")] for role in requests
    }


@pytest.fixture(scope="module")
def requests_of_the_runs(sagemaker_e2e: SageMakerRun) -> dict[str, list[IamRequest]]:
    _runs_completed(sagemaker_e2e)
    assert all("params" in call for call in sagemaker_e2e.calls), "calls recorded without params"
    return role_requests(sagemaker_e2e)


@pytest.fixture(scope="module")
def denied(requests_of_the_runs: dict[str, list[IamRequest]]) -> dict[str, list[str]]:
    """The runs' requests against the policies as Terraform renders them for the runs'
    deployment (tests/iam/e2e.tfvars), judged by @cloud-copilot/iam-simulate."""
    return judge(requests_of_the_runs, policies())


@pytest.fixture(scope="module")
def narrowed_denied(requests_of_the_runs: dict[str, list[IamRequest]]) -> dict[str, list[str]]:
    """The same against a copy of every policy whose Resource patterns are narrowed: each
    ARN pattern followed by "-narrowed", "*" replaced by an ARN no call names."""
    narrowed = policies()
    for policy in narrowed.values():
        for statement in policy["Statement"]:
            statement["Resource"] = [
                NARROWED_STAR if r == "*" else f"{r}-narrowed" for r in statement["Resource"]
            ]
    return judge(requests_of_the_runs, narrowed)


@pytest.mark.parametrize("job", sorted(DOCUMENTS))
def test_each_call_is_allowed_on_its_resources_with_its_condition_keys(
    requests_of_the_runs: dict[str, list[IamRequest]], denied: dict[str, list[str]], job: str
) -> None:
    """Every call of the runs, with its resource ARNs (from its request parameters) and its
    condition keys, is allowed by the role's policy."""
    assert requests_of_the_runs[job], f"no call was made with the {job} role"
    assert denied[job] == [], f"{DOCUMENTS[job]} does not allow:\n" + "\n".join(denied[job])


def test_what_sagemaker_does_with_the_execution_role_is_allowed(
    requests_of_the_runs: dict[str, list[IamRequest]], denied: dict[str, list[str]]
) -> None:
    """The pipeline's jobs (from each executed definition), the endpoints' models and data
    capture, the monitoring job and the rollback alarms, as the execution role: allowed by
    execution_permissions."""
    assert execution_role() == VARIABLES["SAGEMAKER_EXECUTION_ROLE_ARN"], "the runs pass another"
    made = {r.action for r in requests_of_the_runs["execution"]}
    # Each kind of work the runs hand SageMaker is there: a derivation that found nothing
    # would allow everything.
    assert {
        "sagemaker:CreateProcessingJob",
        "sagemaker:CreateTrainingJob",
        "sagemaker:CreateModelPackage",
        "ecr:BatchGetImage",
        "s3:PutObject",
        "cloudwatch:DescribeAlarms",
    } <= made, made
    problems = denied["execution"]
    assert problems == [], f"{EXECUTION_DOCUMENT} does not allow:\n" + "\n".join(problems)


@pytest.mark.parametrize("role", sorted(ROLE_DOCUMENTS))
def test_the_check_fails_when_a_policy_is_narrowed(
    requests_of_the_runs: dict[str, list[IamRequest]],
    narrowed_denied: dict[str, list[str]],
    role: str,
) -> None:
    """Against the narrowed copy, every call is reported, by its action, resource, condition
    keys and the call or step it stands for."""
    document = ROLE_DOCUMENTS[role]
    made = {r.describe() for r in requests_of_the_runs[role]}
    assert narrowed_denied[role] == sorted(f"{document} ImplicitlyDenied: {line}" for line in made)
