# The configuration docs/setup.md applies (infra/terraform is a module: it takes the aws
# provider three times, for the tooling, staging and production accounts, and declares none).
#
#   cd infra/apply && cp terraform.tfvars.example terraform.tfvars   # then edit it
#   terraform init && terraform plan -out tfplan && terraform apply tfplan
#
# One account (the default): every provider below uses the credentials terraform runs with.
# Separate accounts: staging_account_role_arn and production_account_role_arn name a role in
# each account for terraform to assume there (e.g. OrganizationAccountAccessRole), and the
# module puts the deploy roles and endpoints' execution roles there (docs/setup.md, "Separate
# accounts").

terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.81"
    }
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.4"
    }
  }
}

variable "region" {
  description = "The region of every account (null: the AWS_REGION of the environment terraform runs in)."
  type        = string
  default     = null
}

variable "staging_account_role_arn" {
  description = "A role in the staging account for terraform to assume there. null: staging is the tooling account (the credentials terraform runs with)."
  type        = string
  default     = null
}

variable "production_account_role_arn" {
  description = "A role in the production account for terraform to assume there. null: production is the tooling account."
  type        = string
  default     = null
}

# The tooling account: the build, the registry, the artifact bucket.
provider "aws" {
  region = var.region
}

provider "aws" {
  alias  = "staging"
  region = var.region
  dynamic "assume_role" {
    for_each = var.staging_account_role_arn == null ? [] : [var.staging_account_role_arn]
    content {
      role_arn = assume_role.value
    }
  }
}

provider "aws" {
  alias  = "production"
  region = var.region
  dynamic "assume_role" {
    for_each = var.production_account_role_arn == null ? [] : [var.production_account_role_arn]
    content {
      role_arn = assume_role.value
    }
  }
}

module "sagemaker_mlops" {
  source = "../terraform"

  providers = {
    aws            = aws
    aws.staging    = aws.staging
    aws.production = aws.production
  }

  github_repository                      = var.github_repository
  main_branch                            = var.main_branch
  build_trust_pull_requests              = var.build_trust_pull_requests
  staging_environment                    = var.staging_environment
  production_environment                 = var.production_environment
  production_workflow_refs               = var.production_workflow_refs
  oidc_provider_arn                      = var.oidc_provider_arn
  staging_oidc_provider_arn              = var.staging_oidc_provider_arn
  production_oidc_provider_arn           = var.production_oidc_provider_arn
  name_prefix                            = var.name_prefix
  artifact_bucket_name                   = var.artifact_bucket_name
  pipeline_name_prefix                   = var.pipeline_name_prefix
  model_package_group_name               = var.model_package_group_name
  staging_endpoint_name_prefix           = var.staging_endpoint_name_prefix
  production_endpoint_name_prefix        = var.production_endpoint_name_prefix
  idle_endpoint_deletion_prefixes        = var.idle_endpoint_deletion_prefixes
  price_list_api                         = var.price_list_api
  batch_prefix                           = var.batch_prefix
  kms_key_arn                            = var.kms_key_arn
  data_capture_prefix                    = var.data_capture_prefix
  data_capture_expiration_days           = var.data_capture_expiration_days
  noncurrent_version_expiration_days     = var.noncurrent_version_expiration_days
  abort_incomplete_multipart_upload_days = var.abort_incomplete_multipart_upload_days
  ecr_repository_arns                    = var.ecr_repository_arns
  alarm_email                            = var.alarm_email
  permissions_boundary_arn               = var.permissions_boundary_arn
  tags                                   = var.tags
  production_approval                    = var.production_approval
  remove_staging_after_promotion         = var.remove_staging_after_promotion
  idle_endpoint_days                     = var.idle_endpoint_days
  events_enabled                         = var.events_enabled
  drift_endpoint_name                    = var.drift_endpoint_name
  retrain_debounce_runs                  = var.retrain_debounce_runs
  retrain_budget_per_week                = var.retrain_budget_per_week
  retrain_workflow_file                  = var.retrain_workflow_file
  monitoring_reports_prefix              = var.monitoring_reports_prefix
  deploy_workflow_file                   = var.deploy_workflow_file
}
