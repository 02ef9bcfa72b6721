"""The AWS Price List API's grant (infra/terraform/iam_price_list.tf), judged by the IAM
evaluator (tests/iam_simulator.py): the calls `price-table: aws-price-list` makes, recorded
from a real boto3 client answered by botocore's Stubber (moto has no `pricing`), are allowed
to the build and both deploy roles with price_list_api = true, and denied without it."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from smgha.backends.aws.price_list import GetProducts
from smgha.resources.price_list import PRICE_LIST, prices_for
from tests.iam_policies import DEPLOYMENT, DOCUMENTS, policies, union, values
from tests.iam_requests import Calls
from tests.iam_simulator import Judged, denials
from tests.terraform_hcl import (
    all_blocks,
    attribute,
    policy_documents,
    policy_json,
    statements,
    strings,
)
from tests.test_price_list import REGION, answer, item, recorded, request

DOCUMENT = "price_list_permissions"
ROLES = {  # job -> its role's name in the e2e deployment (tests/iam/e2e.tfvars: churn-github)
    "build": "churn-github-build",
    "deploy-staging": "churn-github-deploy-staging",
    "deploy-production": "churn-github-deploy-production",
}


def price_list_calls() -> list[dict[str, Any]]:
    """What a stage's prices ask of AWS for two instance types (one asked twice): the calls
    as the adapter makes them."""
    client = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    ).client("pricing")
    sent = recorded(client)
    with Stubber(client) as stub:
        stub.add_response("get_products", answer(item()), request())
        stub.add_response("get_products", answer(), request("training", "ml.c5.xlarge"))
        prices = prices_for(PRICE_LIST, lambda: GetProducts(None, REGION, client=client))
        prices.hourly("hosting", "ml.m5.large", REGION)
        prices.hourly("hosting", "ml.m5.large", REGION)
        prices.hourly("training", "ml.c5.xlarge", REGION)
        stub.assert_no_pending_responses()
    assert len(sent) == 2
    return [{"service": "pricing", "operation": "GetProducts", "params": p} for p in sent]


def refused(job: str, opted_in: bool) -> list[str]:
    role = f"arn:aws:iam::{DEPLOYMENT.account}:role/{ROLES[job]}"
    document = policies()[DOCUMENTS[job]]
    if opted_in:  # Terraform creates the document and the role policy only then
        document = union(document, policy_json(policy_documents()[DOCUMENT], values()))
    derive = Calls(DEPLOYMENT)
    requests = [
        Judged(request, (job,))
        for call in price_list_calls()
        for request in derive.requests({**call, "role": role})
    ]
    assert [r.request.resource for r in requests] == ["*", "*"]
    return denials(requests, {job: document})


@pytest.mark.parametrize("job", sorted(ROLES))
def test_the_roles_that_price_may_call_get_products_only_when_opted_in(job: str) -> None:
    assert refused(job, opted_in=True) == []
    without = refused(job, opted_in=False)
    # Both calls are the same request (the evaluator reports it once).
    assert without == [f"{job} ImplicitlyDenied: pricing:GetProducts on * (pricing GetProducts)"]


def test_the_grant_exists_only_when_asked_for_on_the_three_roles() -> None:
    document = policy_documents()[DOCUMENT]
    opt_in = "${var.price_list_api ? 1 : 0}"
    assert str(attribute(document, "count")) == opt_in
    (statement,) = statements(document)
    assert strings(statement["actions"]) == ["pricing:GetProducts"]
    assert strings(statement["resources"]) == ["*"]
    role_policies = all_blocks("resource", "aws_iam_role_policy")
    granted = {
        name: str(attribute(body, "role"))
        for name, body in role_policies.items()
        if str(attribute(body, "policy")) == f"${{data.aws_iam_policy_document.{DOCUMENT}[0].json}}"
    }
    assert granted == {
        "build_price_list": "${aws_iam_role.build.id}",
        "deploy_staging_price_list": "${aws_iam_role.deploy_staging.id}",
        "deploy_production_price_list": "${aws_iam_role.deploy_production.id}",
    }
    assert all(str(attribute(role_policies[name], "count")) == opt_in for name in granted)
    variable = all_blocks("variable")["price_list_api"]
    assert attribute(variable, "default") is False
