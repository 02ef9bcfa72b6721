# Which account each stage runs in. The default aws provider is the tooling account: the build
# role, the pipeline and its execution role, the model registry, the artifact bucket. The
# aws.staging and aws.production providers are the accounts the two deploy stages deploy to:
# their deploy role, the endpoints, and (when the account is not the tooling account) an
# execution role of their own and GitHub's OIDC provider. One account: the caller passes the
# same provider three times and every `separate_*` below is false (README.md, "Separate
# accounts").

data "aws_caller_identity" "staging" {
  provider = aws.staging
}

data "aws_caller_identity" "production" {
  provider = aws.production
}

data "aws_region" "staging" {
  provider = aws.staging
}

data "aws_region" "production" {
  provider = aws.production
}

locals {
  staging_account_id    = data.aws_caller_identity.staging.account_id
  production_account_id = data.aws_caller_identity.production.account_id
  separate_staging      = local.staging_account_id != local.account_id
  separate_production   = local.production_account_id != local.account_id
  separate_accounts     = local.separate_staging || local.separate_production

  # The deploy accounts' own resources: endpoints, configs, models, jobs, alarms. Everything is
  # in the tooling region (the deploy roles' preconditions, roles.tf), so only the account differs.
  staging_sagemaker_arn           = "arn:${local.partition}:sagemaker:${local.region}:${local.staging_account_id}"
  production_sagemaker_arn        = "arn:${local.partition}:sagemaker:${local.region}:${local.production_account_id}"
  staging_cloudwatch_alarm_arn    = "arn:${local.partition}:cloudwatch:${local.region}:${local.staging_account_id}:alarm"
  production_cloudwatch_alarm_arn = "arn:${local.partition}:cloudwatch:${local.region}:${local.production_account_id}:alarm"

  # The execution role a deploy stage passes to its models and jobs: the tooling account's in one
  # account, else its own account's (iam:PassRole only reaches roles of the caller's account,
  # IAM User Guide, id_roles_use_passrole.html).
  staging_execution_role_arn    = local.separate_staging ? aws_iam_role.staging_execution[0].arn : aws_iam_role.execution.arn
  production_execution_role_arn = local.separate_production ? aws_iam_role.production_execution[0].arn : aws_iam_role.execution.arn

  # The OIDC provider each deploy role trusts: the one of the role's own account (an IAM OIDC
  # provider is an entity of the account that created it, which a role of that account names in
  # its trust policy: IAM User Guide, id_roles_providers_create_oidc.html).
  staging_oidc_provider_arn = (
    !local.separate_staging ? local.oidc_provider_arn :
    var.staging_oidc_provider_arn != null ? var.staging_oidc_provider_arn :
    aws_iam_openid_connect_provider.github_staging[0].arn
  )
  production_oidc_provider_arn = (
    !local.separate_production ? local.oidc_provider_arn :
    var.production_oidc_provider_arn != null ? var.production_oidc_provider_arn :
    aws_iam_openid_connect_provider.github_production[0].arn
  )

  # The accounts whose endpoints, batch and monitoring jobs run as an execution role, by the
  # key of its hosting_execution_permissions document: "tooling" while a stage deploys to the
  # tooling account (always in one account), "staging" and "production" for separate ones.
  hosting_accounts = merge(
    local.separate_staging && local.separate_production ? {} : { tooling = local.account_id },
    local.separate_staging ? { staging = local.staging_account_id } : {},
    local.separate_production ? { production = local.production_account_id } : {},
  )

  # The roles of the separate accounts that reach into the tooling account: the principals of
  # the model package group's, the bucket's and the bucket key's policies (cross_account.tf).
  separate_deploy_role_arns = concat(
    local.separate_staging ? [aws_iam_role.deploy_staging.arn] : [],
    local.separate_production ? [aws_iam_role.deploy_production.arn] : [],
  )
  separate_account_role_arns = concat(
    local.separate_deploy_role_arns,
    local.separate_staging ? [aws_iam_role.staging_execution[0].arn] : [],
    local.separate_production ? [aws_iam_role.production_execution[0].arn] : [],
  )

  # A customer managed permissions boundary lives in one account: a separate account's roles get
  # the policy of the same path and name in their own account.
  staging_permissions_boundary_arn    = var.permissions_boundary_arn == null ? null : replace(var.permissions_boundary_arn, ":iam::${local.account_id}:", ":iam::${local.staging_account_id}:")
  production_permissions_boundary_arn = var.permissions_boundary_arn == null ? null : replace(var.permissions_boundary_arn, ":iam::${local.account_id}:", ":iam::${local.production_account_id}:")

  # The bucket's key: kms_key_arn, or with a separate account the key cross_account.tf creates
  # (the AWS managed aws/s3 cannot be used from another account), or null for aws/s3.
  create_artifact_key           = local.separate_accounts && var.kms_key_arn == null
  customer_managed_artifact_key = var.kms_key_arn != null || local.create_artifact_key
  artifact_key_arn              = var.kms_key_arn != null ? var.kms_key_arn : one(aws_kms_key.artifacts[*].arn)
}
