# `terraform test` for the root configuration docs/setup.md applies, offline: mocked aws
# providers, plans only. Run from infra/apply after `terraform init`. (The Python suite checks
# the same files without terraform: tests/test_terraform_apply.py.)

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
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
}

variables {
  github_repository = "my-org/churn-model"
}

# Every input left out is null here, which the module reads as its own default.
run "one_account_with_the_module_defaults" {
  command = plan

  assert {
    condition     = output.repository_variables["DEPLOY_TRIGGER"] == "build" && output.repository_variables["PRODUCTION_APPROVAL"] == "environment"
    error_message = "Inputs left out take the module's defaults (events off, approval by environment)."
  }
  assert {
    condition     = output.model_package_group_name == "churn-models"
    error_message = "model_package_group_name left out is the module's churn-models."
  }
  assert {
    condition     = output.artifact_key_arn == null
    error_message = "One account: the bucket keeps the AWS managed key."
  }
}

run "given_inputs_reach_the_module" {
  command = plan

  variables {
    model_package_group_name = "fraud-models"
    production_approval      = "manual"
  }

  assert {
    condition     = output.model_package_group_name == "fraud-models" && output.repository_variables["PRODUCTION_APPROVAL"] == "manual"
    error_message = "The values of terraform.tfvars are the module's inputs."
  }
}
