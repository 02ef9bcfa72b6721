# `terraform test` for the module, offline: a mocked aws provider, plans only, nothing is
# created. Run from infra/terraform after `terraform init`. (The Python suite checks the
# same files without terraform: tests/test_terraform.py.)

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
    condition     = length(aws_iam_role_policy.bucket_key) == 0
    error_message = "Without kms_key_arn no role gets KMS permissions."
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
    condition     = length(aws_iam_role_policy.bucket_key) == 3
    error_message = "With kms_key_arn the build, production and execution roles may use the key."
  }
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
