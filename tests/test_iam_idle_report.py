"""The idle endpoints report's grants, judged by the IAM evaluator (tests/iam_simulator.py):
the build role may read every endpoint, its config and the Invocations metric, and may delete
an endpoint only with the opt-in deletion policy, only of its prefixes, never production's.
tests/test_idle_report.py judges the calls a real run of the report makes the same way."""

from __future__ import annotations

from typing import Any

from tests.iam_idle_report import report_denials
from tests.terraform_hcl import all_blocks, attribute, sub_blocks


def call(service: str, operation: str, **params: Any) -> dict[str, Any]:
    return {"service": service, "operation": operation, "status": 200, "params": params}


READS = [
    call("sagemaker", "ListEndpoints", StatusEquals="InService", MaxResults=100),
    # Any endpoint of the account: the report is about all of them, not only the project's.
    call("sagemaker", "DescribeEndpoint", EndpointName="someone-elses-endpoint"),
    call("sagemaker", "DescribeEndpointConfig", EndpointConfigName="someone-elses-config"),
    call("sagemaker", "DescribeEndpoint", EndpointName="churn-production"),
    call("cloudwatch", "GetMetricData", MetricDataQueries=[], StartTime=0, EndTime=1),
]


def delete(name: str) -> dict[str, Any]:
    return call("sagemaker", "DeleteEndpoint", EndpointName=name)


def test_the_build_role_reads_what_the_report_reads() -> None:
    assert report_denials(READS) == []


def test_the_build_role_deletes_nothing_by_default() -> None:
    refused = report_denials([delete("churn-staging"), delete("idle-thing")])

    assert len(refused) == 2
    assert all("sagemaker:DeleteEndpoint" in line for line in refused), refused


def test_the_opt_in_policy_deletes_only_endpoints_of_its_prefixes() -> None:
    prefixes = ["churn-staging", "Sandbox"]
    allowed = [delete("churn-staging"), delete("churn-staging-2"), delete("sandbox-x")]
    refused = [delete("churn-production"), delete("other"), delete("churn-stag")]

    assert report_denials(READS + allowed, prefixes) == []
    found = report_denials(refused, prefixes)
    assert sorted(line.split(" on ")[1].split(" ")[0].rsplit("/", 1)[1] for line in found) == [
        "churn-production",
        "churn-stag",
        "other",
    ], found


def test_the_deletion_policy_exists_only_when_asked_for_and_never_for_production() -> None:
    policy = all_blocks("resource", "aws_iam_role_policy")["build_idle_endpoint_deletion"]
    document = all_blocks("data", "aws_iam_policy_document")["idle_endpoint_deletion_permissions"]
    opt_in = "${length(var.idle_endpoint_deletion_prefixes) > 0 ? 1 : 0}"
    assert str(attribute(policy, "count")) == str(attribute(document, "count")) == opt_in
    assert str(attribute(policy, "role")) == "${aws_iam_role.build.id}"
    (precondition,) = sub_blocks(sub_blocks(policy, "lifecycle")[0], "precondition")
    condition = str(attribute(precondition, "condition"))
    assert "!startswith(local.production_endpoint, lower(prefix))" in condition
    assert "!startswith(lower(prefix), local.production_endpoint)" in condition
