# `terraform test` for the module, offline: mocked aws providers, plans only, nothing is
# created. Run from infra/terraform after `terraform init`. (The Python suite checks the
# same files without terraform: tests/test_terraform.py.)
#
# The three configurations of the aws provider (versions.tf) all answer as one account,
# 111122223333 in us-east-1, as a one-account caller passes them; a run gives the staging or
# production provider another account (or region) with override_data.

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "111122223333" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_region" {
    defaults = { name = "us-east-1" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
}

mock_provider "aws" {
  alias = "staging"
  mock_data "aws_caller_identity" {
    defaults = { account_id = "111122223333" }
  }
  mock_data "aws_region" {
    defaults = { name = "us-east-1" }
  }
}

mock_provider "aws" {
  alias = "production"
  mock_data "aws_caller_identity" {
    defaults = { account_id = "111122223333" }
  }
  mock_data "aws_region" {
    defaults = { name = "us-east-1" }
  }
}

variables {
  github_repository = "my-org/churn-model"
}

run "defaults" {
  command = plan

  assert {
    condition     = local.build_subjects == ["repo:my-org/churn-model:ref:refs/heads/main"]
    error_message = "By default only pushes to main may assume the build role."
  }
  assert {
    condition     = local.deploy_staging_subject == "repo:my-org/churn-model:environment:staging"
    error_message = "The staging role trusts the staging environment's subject."
  }
  assert {
    condition     = local.deploy_production_subject == "repo:my-org/churn-model:environment:production"
    error_message = "The production role trusts the production environment's subject."
  }
  assert {
    condition     = length(data.aws_iam_policy_document.deploy_production_trust.statement[0].condition) == 2
    error_message = "Without production_workflow_refs the production trust has aud and sub conditions only."
  }
  assert {
    condition     = length(aws_iam_openid_connect_provider.github) == 1
    error_message = "Without oidc_provider_arn the module creates the OIDC provider."
  }
  assert {
    condition     = local.bucket_name == "smgha-artifacts-111122223333-us-east-1"
    error_message = "The default bucket name is <name_prefix>-artifacts-<account>-<region>."
  }
  assert {
    condition     = length(aws_iam_role_policy.bucket_key) == 0 && length(aws_iam_role_policy.staging_bucket_key) == 0 && length(aws_iam_role_policy.production_bucket_key) == 0
    error_message = "Without kms_key_arn (and in one account) no role gets KMS permissions."
  }
  assert {
    condition     = !local.separate_staging && !local.separate_production && join(",", keys(local.hosting_accounts)) == "tooling"
    error_message = "Three providers of one account are one account."
  }
  assert {
    condition     = length(aws_iam_role.staging_execution) == 0 && length(aws_iam_role.production_execution) == 0
    error_message = "One account has one execution role."
  }
  assert {
    condition     = length(aws_iam_role_policy.hosting_execution) == 1 && length(aws_iam_role_policy.staging_hosting_execution) == 0 && length(aws_iam_role_policy.production_hosting_execution) == 0
    error_message = "In one account the tooling execution role gets the hosting permissions."
  }
  assert {
    condition     = length(aws_iam_openid_connect_provider.github_staging) == 0 && length(aws_iam_openid_connect_provider.github_production) == 0
    error_message = "One account has one OIDC provider."
  }
  assert {
    condition     = length(aws_kms_key.artifacts) == 0 && length(aws_sagemaker_model_package_group_policy.models) == 0
    error_message = "One account needs no bucket key of the module's and no group policy."
  }
}

run "pinned_production_workflow" {
  command = plan

  variables {
    production_workflow_refs = [
      "acme/sagemaker-mlops/.github/workflows/model-deploy.yml@refs/tags/v1.*",
      "acme/sagemaker-mlops/.github/workflows/model-deploy.yml@0123456789abcdef0123456789abcdef01234567",
    ]
    build_trust_pull_requests = true
    oidc_provider_arn         = "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"
    kms_key_arn               = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  }

  assert {
    condition     = length(data.aws_iam_policy_document.deploy_production_trust.statement[0].condition) == 3
    error_message = "production_workflow_refs adds the job_workflow_ref condition."
  }
  assert {
    condition = anytrue([
      for c in data.aws_iam_policy_document.deploy_production_trust.statement[0].condition :
      c.test == "StringLike" && c.variable == "token.actions.githubusercontent.com:job_workflow_ref" && length(c.values) == 2
    ])
    error_message = "The job_workflow_ref condition is StringLike with every pattern as a value."
  }
  assert {
    condition     = contains(local.build_subjects, "repo:my-org/churn-model:pull_request")
    error_message = "build_trust_pull_requests adds the pull_request subject."
  }
  assert {
    condition     = length(aws_iam_openid_connect_provider.github) == 0
    error_message = "An existing OIDC provider is used, not created."
  }
  assert {
    condition     = length(aws_iam_role_policy.bucket_key) == 2 && length(aws_iam_role_policy.staging_bucket_key) == 1 && length(aws_iam_role_policy.production_bucket_key) == 1
    error_message = "With kms_key_arn the build, execution and both deploy roles may use the key."
  }
}

run "three_accounts" {
  command = plan

  variables {
    permissions_boundary_arn = "arn:aws:iam::111122223333:policy/ml/boundary"
  }
  override_data {
    target = data.aws_caller_identity.staging
    values = { account_id = "444455556666" }
  }
  override_data {
    target = data.aws_caller_identity.production
    values = { account_id = "777788889999" }
  }

  assert {
    condition     = local.separate_staging && local.separate_production && join(",", keys(local.hosting_accounts)) == "production,staging"
    error_message = "Staging and production are separate accounts, each hosting its endpoints."
  }
  assert {
    condition     = local.hosting_accounts["staging"] == "444455556666" && local.hosting_accounts["production"] == "777788889999"
    error_message = "Each hosting document is for its own account."
  }
  assert {
    condition     = length(aws_iam_role.staging_execution) == 1 && length(aws_iam_role.production_execution) == 1
    error_message = "Each separate account gets an execution role."
  }
  assert {
    condition     = length(aws_iam_role_policy.hosting_execution) == 0 && length(aws_iam_role_policy.staging_hosting_execution) == 1 && length(aws_iam_role_policy.production_hosting_execution) == 1
    error_message = "Hosting permissions go to the separate accounts' execution roles only."
  }
  assert {
    condition     = length(aws_iam_openid_connect_provider.github_staging) == 1 && length(aws_iam_openid_connect_provider.github_production) == 1
    error_message = "Each separate account gets GitHub's OIDC provider."
  }
  assert {
    condition     = length(aws_kms_key.artifacts) == 1 && length(aws_sagemaker_model_package_group_policy.models) == 1
    error_message = "Separate accounts get the module's bucket key and the group's policy."
  }
  assert {
    condition     = length(aws_iam_role_policy.bucket_key) == 2 && length(aws_iam_role_policy.staging_bucket_key) == 2 && length(aws_iam_role_policy.production_bucket_key) == 2
    error_message = "Every role that reads or writes objects may use the module's bucket key."
  }
  assert {
    condition     = local.staging_sagemaker_arn == "arn:aws:sagemaker:us-east-1:444455556666" && local.production_cloudwatch_alarm_arn == "arn:aws:cloudwatch:us-east-1:777788889999:alarm"
    error_message = "The deploy accounts' ARN bases name their own account."
  }
  assert {
    condition     = local.staging_permissions_boundary_arn == "arn:aws:iam::444455556666:policy/ml/boundary" && local.production_permissions_boundary_arn == "arn:aws:iam::777788889999:policy/ml/boundary"
    error_message = "A separate account's roles get the boundary of the same path and name in their account."
  }
}

run "separate_staging_only" {
  command = plan

  override_data {
    target = data.aws_caller_identity.staging
    values = { account_id = "444455556666" }
  }

  assert {
    condition     = join(",", keys(local.hosting_accounts)) == "staging,tooling"
    error_message = "Production in the tooling account keeps the hosting permissions on the tooling execution role."
  }
  assert {
    condition     = length(aws_iam_role.production_execution) == 0 && length(aws_iam_role_policy.hosting_execution) == 1
    error_message = "Production uses the tooling execution role."
  }
}

run "separate_accounts_with_kms_key_arn" {
  command = plan

  variables {
    kms_key_arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  }
  override_data {
    target = data.aws_caller_identity.production
    values = { account_id = "777788889999" }
  }

  expect_failures = [aws_s3_bucket_server_side_encryption_configuration.artifacts]
}

run "staging_in_another_region" {
  command = plan

  override_data {
    target = data.aws_region.staging
    values = { name = "eu-west-1" }
  }

  expect_failures = [aws_iam_role.deploy_staging]
}

run "staging_and_production_share_a_separate_account" {
  command = plan

  override_data {
    target = data.aws_caller_identity.staging
    values = { account_id = "444455556666" }
  }
  override_data {
    target = data.aws_caller_identity.production
    values = { account_id = "444455556666" }
  }

  expect_failures = [aws_iam_role.deploy_production]
}

run "staging_oidc_provider_arn_in_one_account" {
  command = plan

  variables {
    staging_oidc_provider_arn = "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"
  }

  expect_failures = [aws_iam_role.deploy_staging]
}

run "overlapping_endpoint_prefixes" {
  command = plan

  variables {
    staging_endpoint_name_prefix = "churn"
  }

  expect_failures = [aws_iam_role.deploy_staging]
}

run "wildcard_repository" {
  command = plan

  variables {
    github_repository = "my-org/*"
  }

  expect_failures = [var.github_repository]
}

run "workflow_ref_without_refs_tags" {
  command = plan

  variables {
    production_workflow_refs = ["acme/sagemaker-mlops/.github/workflows/model-deploy.yml@v1"]
  }

  expect_failures = [var.production_workflow_refs]
}

run "workflow_ref_any_tag" {
  command = plan

  variables {
    production_workflow_refs = ["acme/sagemaker-mlops/.github/workflows/model-deploy.yml@refs/tags/*"]
  }

  expect_failures = [var.production_workflow_refs]
}

run "drift_events_with_a_separate_production_account" {
  command = plan

  variables {
    events_enabled      = true
    drift_endpoint_name = "churn-production"
  }
  override_data {
    target = data.aws_caller_identity.production
    values = { account_id = "777788889999" }
  }

  expect_failures = [aws_cloudwatch_event_rule.drift]
}

run "approval_events_with_a_separate_production_account" {
  command = plan

  variables {
    events_enabled = true
  }
  override_data {
    target = data.aws_caller_identity.production
    values = { account_id = "777788889999" }
  }

  assert {
    condition     = length(aws_cloudwatch_event_rule.model_approved) == 1 && length(aws_cloudwatch_event_rule.drift) == 0
    error_message = "Registry approvals work across accounts; only drift is refused."
  }
}
