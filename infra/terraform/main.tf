# The tooling account, the partition and the region come from the caller's default aws
# provider (the deploy accounts from aws.staging and aws.production: accounts.tf).
data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  # SageMaker ARNs carry resource names in lower case (an endpoint "Churn-Staging" is
  # .../endpoint/churn-staging), and IAM compares ARNs case-sensitively: every name or prefix
  # below is lowered before it goes into an ARN.
  sagemaker_arn       = "arn:${local.partition}:sagemaker:${local.region}:${local.account_id}"
  pipeline_prefix     = lower(var.pipeline_name_prefix)
  model_package_group = lower(var.model_package_group_name)
  staging_endpoint    = lower(var.staging_endpoint_name_prefix)
  production_endpoint = lower(var.production_endpoint_name_prefix)
  # Asynchronous endpoints' results, failures and smoke-test payloads: s3://<bucket>/async-inference/...
  async_prefix = "async-inference"

  bucket_name = coalesce(var.artifact_bucket_name, "${var.name_prefix}-artifacts-${local.account_id}-${local.region}")

  oidc_provider_arn = var.oidc_provider_arn != null ? var.oidc_provider_arn : aws_iam_openid_connect_provider.github[0].arn

  # The OIDC subjects of the three kinds of job (GitHub's default sub claim format). Inside
  # a GitHub environment the sub names the environment, not the branch.
  build_subjects = concat(
    ["repo:${var.github_repository}:ref:refs/heads/${var.main_branch}"],
    var.build_trust_pull_requests ? ["repo:${var.github_repository}:pull_request"] : [],
  )
  deploy_staging_subject    = "repo:${var.github_repository}:environment:${var.staging_environment}"
  deploy_production_subject = "repo:${var.github_repository}:environment:${var.production_environment}"

  ecr_repository_arns = var.ecr_repository_arns != null ? var.ecr_repository_arns : ["arn:${local.partition}:ecr:${local.region}:*:repository/*"]
}
