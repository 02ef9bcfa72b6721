# What the tooling account grants a separate staging or production account (accounts.tf): only
# with one, and only to that account's deploy and execution roles, by role ARN, never to the
# account's root. A request across accounts is allowed only when both the caller's identity
# policy and the resource's policy allow it (IAM User Guide,
# reference_policies_evaluation-logic-cross-account.html): the policies below open the
# tooling account's resources to those roles, and the roles' own documents (iam_policies.tf,
# iam_hosting_policies.tf) narrow what each may do with them.

# ---- the model package group ------------------------------------------------------------------

# A deploy stage reads the package version it deploys and creates its model from it
# (deploy-endpoint: DescribeModelPackage, then CreateModel with the package's ARN). The
# SageMaker guide's cross-account example (model-registry-deploy-xaccount.md) also grants
# DescribeModelPackageGroup, ListModelPackages and UpdateModelPackage, which the deploy stages
# do not call: left out.
# Unconfirmed: whether SageMaker reads the package again as the endpoint's execution role when
# it creates the endpoint (no source says); only the deploy roles are admitted. If a deploy
# across accounts fails with AccessDenied on the package at CreateEndpoint, add the separate
# accounts' execution roles here (docs/aws-fidelity.md, "Separate accounts").
data "aws_iam_policy_document" "model_package_group_policy" {
  count = local.separate_accounts ? 1 : 0

  statement {
    sid = "SeparateDeployAccountsDeployPackages"
    actions = [
      "sagemaker:DescribeModelPackage",
      "sagemaker:CreateModel",
    ]
    resources = ["${local.sagemaker_arn}:model-package/${local.model_package_group}/*"]
    principals {
      type        = "AWS"
      identifiers = local.separate_deploy_role_arns
    }
  }
}

resource "aws_sagemaker_model_package_group_policy" "models" {
  count                    = local.separate_accounts ? 1 : 0
  model_package_group_name = aws_sagemaker_model_package_group.models.model_package_group_name
  resource_policy          = data.aws_iam_policy_document.model_package_group_policy[0].json
}

# ---- the artifact bucket ------------------------------------------------------------------------

# The separate accounts' roles read and write objects (SageMaker fetches a model's artifact as
# the execution role; batch, capture and monitoring output are written as it; the deploy roles
# use the batch, async and baseline prefixes) and list the bucket (jobs list their input
# prefixes). Merged into the bucket's policy (s3.tf) next to DenyInsecureTransport.
data "aws_iam_policy_document" "artifacts_bucket_cross_account" {
  count = local.separate_accounts ? 1 : 0

  statement {
    sid = "SeparateAccountsObjects"
    actions = [
      "s3:GetObject",
      "s3:PutObject",
      "s3:AbortMultipartUpload",
    ]
    resources = ["${aws_s3_bucket.artifacts.arn}/*"]
    principals {
      type        = "AWS"
      identifiers = local.separate_account_role_arns
    }
  }

  statement {
    sid = "SeparateAccountsBucket"
    actions = [
      "s3:ListBucket",
      "s3:GetBucketLocation",
    ]
    resources = [aws_s3_bucket.artifacts.arn]
    principals {
      type        = "AWS"
      identifiers = local.separate_account_role_arns
    }
  }
}

# ---- the bucket's key -----------------------------------------------------------------------------

# The AWS managed key aws/s3 cannot serve another account: its key policy lets only principals
# of the owning account use it (its condition on kms:CallerAccount), and nobody can change the
# key policy of an AWS managed key (KMS Developer Guide, concepts.html#aws-managed-key). So
# with a separate account and no kms_key_arn the module creates the bucket's key, whose policy
# it controls. The bucket names it by ARN, as a cross-account reader needs (S3 API Reference,
# ServerSideEncryptionByDefault, KMSMasterKeyID: "If you are using encryption with
# cross-account or Amazon Web Services service operations, you must use a fully qualified KMS
# key ARN"). Objects written before the switch stay under aws/s3 and are readable in the
# tooling account only.
resource "aws_kms_key" "artifacts" {
  count                   = local.create_artifact_key ? 1 : 0
  description             = "Encrypts the ${var.name_prefix} artifact bucket; the separate staging and production accounts' roles may use it through S3."
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.artifacts_key_policy[0].json
  tags                    = var.tags
}

resource "aws_kms_alias" "artifacts" {
  count         = local.create_artifact_key ? 1 : 0
  name          = "alias/${var.name_prefix}-artifacts"
  target_key_id = aws_kms_key.artifacts[0].key_id
}

data "aws_iam_policy_document" "artifacts_key_policy" {
  #checkov:skip=CKV_AWS_109:A KMS key policy: its "*" resource is this key alone, and the root statement is AWS's default key policy, which hands the key's administration to the tooling account's IAM policies.
  #checkov:skip=CKV_AWS_111:A KMS key policy: its "*" resource is this key alone; the other accounts' roles may only decrypt and generate data keys with it, through S3.
  #checkov:skip=CKV_AWS_356:A KMS key policy: "*" is the only resource a key policy statement can name, and it means this key.
  count = local.create_artifact_key ? 1 : 0

  # The tooling account administers and uses the key through IAM, as with a default key
  # policy (its roles get bucket_key_permissions); without this nobody could change the key.
  statement {
    sid       = "AccountAdministersThroughIam"
    actions   = ["kms:*"]
    resources = ["*"] # in a key policy, "*" is this key
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  # The separate accounts' roles, through S3 in the bucket's region only. Their identity side
  # is bucket_key_permissions, attached in their accounts (roles.tf).
  statement {
    sid = "SeparateAccountsUseThroughS3"
    actions = [
      "kms:Decrypt",
      "kms:GenerateDataKey",
    ]
    resources = ["*"] # in a key policy, "*" is this key
    principals {
      type        = "AWS"
      identifiers = local.separate_account_role_arns
    }
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }
  }
}
