# The four roles: one per kind of GitHub job, each assumable only with that job's OIDC token,
# and the SageMaker execution role the pipeline, the models and the monitoring jobs run as.
# Their permissions are in iam_policies.tf and iam_hosting_policies.tf.
#
# Each deploy role lives in the account it deploys to (aws.staging, aws.production) and trusts
# that account's OIDC provider; a separate staging or production account also gets an
# execution role of its own for its models and jobs (accounts.tf). In one account the three
# providers are the same and nothing moves.
#
# The aud and sub conditions use StringEquals: every subject is known exactly, so no
# wildcard owner, repository, branch or environment. The one StringLike condition is
# production's optional job_workflow_ref, whose patterns may hold wildcards only in the
# library's tag or branch name (variables.tf validates them).

# ---- trust policies ---------------------------------------------------------------------------

data "aws_iam_policy_document" "build_trust" {
  statement {
    sid     = "GitHubBuildJob"
    effect  = "Allow"
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }

    # Pushes to the main branch (and pull requests only with build_trust_pull_requests).
    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:sub"
      values   = local.build_subjects
    }
  }
}

data "aws_iam_policy_document" "deploy_staging_trust" {
  statement {
    sid     = "GitHubStagingEnvironment"
    effect  = "Allow"
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.staging_oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:sub"
      values   = [local.deploy_staging_subject]
    }
  }
}

data "aws_iam_policy_document" "deploy_production_trust" {
  statement {
    sid     = "GitHubProductionEnvironment"
    effect  = "Allow"
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.production_oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }

    # Only jobs in the production environment, i.e. after its required reviewers approved.
    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:sub"
      values   = [local.deploy_production_subject]
    }

    # And, with production_workflow_refs, only from a job of the library's reusable workflow
    # called at a ref one of the patterns matches (several values: any one may match). The
    # claim names the called workflow and the ref exactly as the caller's uses: gave it
    # (refs/tags/v1, refs/tags/v1.2.3 or a bare sha); the default sub does not include it.
    dynamic "condition" {
      for_each = length(var.production_workflow_refs) == 0 ? [] : [var.production_workflow_refs]
      content {
        test     = "StringLike"
        variable = "token.actions.githubusercontent.com:job_workflow_ref"
        values   = condition.value
      }
    }
  }
}

data "aws_iam_policy_document" "execution_trust" {
  statement {
    sid     = "SageMakerService"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["sagemaker.amazonaws.com"]
    }

    # Confused-deputy protection: when SageMaker says for which account it acts, that must be
    # this account. ...IfExists, because no source confirms that every feature used here
    # sends aws:SourceAccount when it assumes the role: SageMaker's confused-deputy page
    # (https://docs.aws.amazon.com/sagemaker/latest/dg/security-confused-deputy-prevention.html)
    # shows aws:SourceArn, not aws:SourceAccount, for inference, pipelines, processing and
    # training jobs, and nothing for Model Monitor schedules; its execution-role example
    # (sagemaker-roles.html) has no condition. With plain StringEquals a feature that omits the
    # key fails with "could not assume role"; ...IfExists treats a missing key as a match
    # (IAM User Guide, reference_policies_elements_condition_operators.html, "...IfExists
    # condition operators"). What that leaves open is small: only a principal of this account
    # can pass the role to SageMaker ("You can only use the PassRole permission to pass an IAM
    # role to a service that shares the same AWS account", id_roles_use_passrole.html).
    # docs/aws-fidelity.md.
    condition {
      test     = "StringEqualsIfExists"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

# The execution roles of separate staging and production accounts: execution_trust's statement
# (its comment says why ...IfExists) with the role's own account as aws:SourceAccount.
data "aws_iam_policy_document" "account_execution_trust" {
  for_each = { for key, account in local.hosting_accounts : key => account if key != "tooling" }

  statement {
    sid     = "SageMakerService"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["sagemaker.amazonaws.com"]
    }

    condition {
      test     = "StringEqualsIfExists"
      variable = "aws:SourceAccount"
      values   = [each.value]
    }
  }
}

# ---- roles ------------------------------------------------------------------------------------

resource "aws_iam_role" "build" {
  name                 = "${var.name_prefix}-build"
  description          = "model-build's build job (GitHub OIDC, ${var.github_repository} on ${var.main_branch}): upserts and runs the SageMaker pipeline, registers and gates the model."
  assume_role_policy   = data.aws_iam_policy_document.build_trust.json
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

resource "aws_iam_role" "deploy_staging" {
  provider             = aws.staging
  name                 = "${var.name_prefix}-deploy-staging"
  description          = "model-deploy's staging job (GitHub OIDC, ${var.github_repository} environment ${var.staging_environment}): deploys and smoke-tests the staging endpoint."
  assume_role_policy   = data.aws_iam_policy_document.deploy_staging_trust.json
  permissions_boundary = local.staging_permissions_boundary_arn
  tags                 = var.tags

  lifecycle {
    # The endpoint prefixes scope the two deploy roles apart: one must not cover the other.
    precondition {
      condition     = !startswith(local.production_endpoint, local.staging_endpoint) && !startswith(local.staging_endpoint, local.production_endpoint)
      error_message = "staging_endpoint_name_prefix and production_endpoint_name_prefix must not be prefixes of each other, or the staging role could change production endpoints."
    }
    # The package ARN a deploy stage passes to CreateModel and the artifact bucket are regional:
    # a model in another region could not be created from them.
    precondition {
      condition     = data.aws_region.staging.name == local.region
      error_message = "The aws.staging provider's region (${data.aws_region.staging.name}) must be the tooling region of the default aws provider (${local.region}): cross-region deploy is not supported (the model package and the artifact bucket are regional)."
    }
    precondition {
      condition     = var.staging_oidc_provider_arn == null || (local.separate_staging && try(split(":", var.staging_oidc_provider_arn)[4], "") == local.staging_account_id)
      error_message = "staging_oidc_provider_arn is only for a separate staging account and must be that account's (${local.staging_account_id}) provider; in the tooling account use oidc_provider_arn."
    }
  }
}

resource "aws_iam_role" "deploy_production" {
  provider             = aws.production
  name                 = "${var.name_prefix}-deploy-production"
  description          = "model-deploy's production job (GitHub OIDC, ${var.github_repository} environment ${var.production_environment}): deploys, smoke-tests and monitors the production endpoint."
  assume_role_policy   = data.aws_iam_policy_document.deploy_production_trust.json
  permissions_boundary = local.production_permissions_boundary_arn
  tags                 = var.tags

  lifecycle {
    precondition {
      condition     = data.aws_region.production.name == local.region
      error_message = "The aws.production provider's region (${data.aws_region.production.name}) must be the tooling region of the default aws provider (${local.region}): cross-region deploy is not supported (the model package and the artifact bucket are regional)."
    }
    precondition {
      condition     = var.production_oidc_provider_arn == null || (local.separate_production && try(split(":", var.production_oidc_provider_arn)[4], "") == local.production_account_id)
      error_message = "production_oidc_provider_arn is only for a separate production account and must be that account's (${local.production_account_id}) provider; in the tooling account use oidc_provider_arn."
    }
    # Two separate stages in one account would create the same execution role and OIDC
    # provider there twice.
    precondition {
      condition     = !(local.separate_staging && local.separate_production && local.staging_account_id == local.production_account_id)
      error_message = "Staging and production are one account (${local.production_account_id}) other than the tooling account: not supported. Give each its own account, or deploy one of them to the tooling account."
    }
  }
}

resource "aws_iam_role" "execution" {
  name                 = "${var.name_prefix}-sagemaker-execution"
  description          = "SageMaker execution role: the pipeline and its jobs, the endpoints' models and the monitoring jobs run as it."
  assume_role_policy   = data.aws_iam_policy_document.execution_trust.json
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

# Same name in their own account: what the staging (production) endpoints' models, batch and
# monitoring jobs run as when that stage has an account of its own.
resource "aws_iam_role" "staging_execution" {
  provider             = aws.staging
  count                = local.separate_staging ? 1 : 0
  name                 = "${var.name_prefix}-sagemaker-execution"
  description          = "SageMaker execution role of the staging account: the staging endpoints' models and batch transform jobs run as it."
  assume_role_policy   = data.aws_iam_policy_document.account_execution_trust["staging"].json
  permissions_boundary = local.staging_permissions_boundary_arn
  tags                 = var.tags
}

resource "aws_iam_role" "production_execution" {
  provider             = aws.production
  count                = local.separate_production ? 1 : 0
  name                 = "${var.name_prefix}-sagemaker-execution"
  description          = "SageMaker execution role of the production account: the production endpoints' models and monitoring jobs run as it."
  assume_role_policy   = data.aws_iam_policy_document.account_execution_trust["production"].json
  permissions_boundary = local.production_permissions_boundary_arn
  tags                 = var.tags
}

# ---- permissions ------------------------------------------------------------------------------

resource "aws_iam_role_policy" "build" {
  name   = "build-permissions"
  role   = aws_iam_role.build.id
  policy = data.aws_iam_policy_document.build_permissions.json
}

resource "aws_iam_role_policy" "deploy_staging" {
  provider = aws.staging
  name     = "deploy-staging-permissions"
  role     = aws_iam_role.deploy_staging.id
  policy   = data.aws_iam_policy_document.deploy_staging_permissions.json
}

resource "aws_iam_role_policy" "deploy_production" {
  provider = aws.production
  name     = "deploy-production-permissions"
  role     = aws_iam_role.deploy_production.id
  policy   = data.aws_iam_policy_document.deploy_production_permissions.json
}

resource "aws_iam_role_policy" "execution" {
  name   = "execution-permissions"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution_permissions.json
}

# What the endpoints' models, batch and monitoring jobs do as an execution role
# (iam_hosting_policies.tf), one resource per provider: the tooling execution role's while a
# stage deploys to the tooling account, else each separate account's own.
resource "aws_iam_role_policy" "hosting_execution" {
  count  = contains(keys(local.hosting_accounts), "tooling") ? 1 : 0
  name   = "hosting-execution-permissions"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.hosting_execution_permissions["tooling"].json
}

resource "aws_iam_role_policy" "staging_hosting_execution" {
  provider = aws.staging
  count    = local.separate_staging ? 1 : 0
  name     = "hosting-execution-permissions"
  role     = aws_iam_role.staging_execution[0].id
  policy   = data.aws_iam_policy_document.hosting_execution_permissions["staging"].json
}

resource "aws_iam_role_policy" "production_hosting_execution" {
  provider = aws.production
  count    = local.separate_production ? 1 : 0
  name     = "hosting-execution-permissions"
  role     = aws_iam_role.production_execution[0].id
  policy   = data.aws_iam_policy_document.hosting_execution_permissions["production"].json
}

# With a customer managed bucket key (kms_key_arn, or the key cross_account.tf creates for
# separate accounts), every role that reads or writes objects uses it through S3, in every
# account (one resource per provider). Kept out of the permission documents: S3 makes these
# KMS calls, the stages do not.
resource "aws_iam_role_policy" "bucket_key" {
  for_each = local.customer_managed_artifact_key ? {
    build     = aws_iam_role.build.id
    execution = aws_iam_role.execution.id
  } : {}

  name   = "artifact-bucket-key"
  role   = each.value
  policy = data.aws_iam_policy_document.bucket_key_permissions[0].json
}

resource "aws_iam_role_policy" "staging_bucket_key" {
  provider = aws.staging
  for_each = local.customer_managed_artifact_key ? merge(
    { deploy_staging = aws_iam_role.deploy_staging.id },
    local.separate_staging ? { staging_execution = aws_iam_role.staging_execution[0].id } : {},
  ) : {}

  name   = "artifact-bucket-key"
  role   = each.value
  policy = data.aws_iam_policy_document.bucket_key_permissions[0].json
}

resource "aws_iam_role_policy" "production_bucket_key" {
  provider = aws.production
  for_each = local.customer_managed_artifact_key ? merge(
    { deploy_production = aws_iam_role.deploy_production.id },
    local.separate_production ? { production_execution = aws_iam_role.production_execution[0].id } : {},
  ) : {}

  name   = "artifact-bucket-key"
  role   = each.value
  policy = data.aws_iam_policy_document.bucket_key_permissions[0].json
}

# The production role's key policy was one of bucket_key's before the accounts split.
moved {
  from = aws_iam_role_policy.bucket_key["deploy_production"]
  to   = aws_iam_role_policy.production_bucket_key["deploy_production"]
}
