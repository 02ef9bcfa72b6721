# The artifact bucket: pipeline code and data, models, evaluation reports, Model Monitor
# baselines and reports, and the production endpoint's captured requests.
resource "aws_s3_bucket" "artifacts" {
  #checkov:skip=CKV_AWS_18:Server access logs need a log bucket the organization owns and are no part of this module; CloudTrail data events are the usual audit trail. Add aws_s3_bucket_logging in the calling configuration where required.
  #checkov:skip=CKV_AWS_144:Cross-region replication is each organization's disaster-recovery choice (a second bucket and region, twice the storage); every artifact here can be rebuilt from git by running the pipeline again.
  #checkov:skip=CKV2_AWS_62:Nothing consumes bucket events: the workflows follow SageMaker, not S3.
  bucket = local.bucket_name
  tags   = var.tags
}

resource "aws_s3_bucket_ownership_controls" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  rule {
    # ACLs off: access is decided by IAM and the bucket policy only.
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "artifacts" {
  bucket                  = aws_s3_bucket.artifacts.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  versioning_configuration {
    status = "Enabled"
  }
}

# SSE-KMS always: with kms_key_arn, that customer managed key; with a separate staging or
# production account, the key cross_account.tf creates; else the AWS managed key aws/s3, whose
# key policy lets the account's principals use it through S3, so the roles need no KMS
# permissions of their own. Bucket keys cut the KMS requests (and their cost).
resource "aws_s3_bucket_server_side_encryption_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = local.artifact_key_arn
    }
    bucket_key_enabled = true
  }

  lifecycle {
    # The module cannot read or change the policy of a key it was given, and without a grant
    # there the separate accounts' roles could not read a single model artifact: refused, and
    # the module's own key (cross_account.tf) is the way.
    precondition {
      condition     = var.kms_key_arn == null || !local.separate_accounts
      error_message = "kms_key_arn cannot be used with a separate staging or production account: leave kms_key_arn unset, and the module creates the bucket's key with a key policy that lets those accounts' deploy and execution roles use it through S3."
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  # Captured requests grow with traffic and are only needed for the next monitoring runs.
  rule {
    id     = "expire-data-capture"
    status = "Enabled"
    filter {
      prefix = var.data_capture_prefix
    }
    expiration {
      days = var.data_capture_expiration_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 1
    }
  }

  rule {
    id     = "clean-up"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = var.abort_incomplete_multipart_upload_days
    }
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }
  }

  # Lifecycle rules on a versioned bucket act on versions: versioning first.
  depends_on = [aws_s3_bucket_versioning.artifacts]
}

data "aws_iam_policy_document" "artifacts_bucket" {
  # With separate accounts, their roles' grants (cross_account.tf).
  source_policy_documents = data.aws_iam_policy_document.artifacts_bucket_cross_account[*].json

  # Every request over TLS: plain HTTP is refused for everyone, whatever their permissions.
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.artifacts.arn,
      "${aws_s3_bucket.artifacts.arn}/*",
    ]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  policy = data.aws_iam_policy_document.artifacts_bucket.json

  # A bucket policy cannot be put while the public access block is being changed.
  depends_on = [aws_s3_bucket_public_access_block.artifacts]
}
