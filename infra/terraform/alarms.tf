# The SNS topic the drift alarms of enable-monitor notify (model-deploy's sns-topic-arn
# input, the ALARM_TOPIC_ARN repository variable). Everything here is in the production
# account (aws.production), with the production endpoint and its alarms: CloudWatch alarms
# notify topics of their own account.
#
# Encrypted with a customer managed key of its own: CloudWatch cannot publish to a topic
# encrypted with the AWS managed key aws/sns, whose key policy cannot grant it.
resource "aws_kms_key" "alarms" {
  provider                = aws.production
  description             = "Encrypts the ${var.name_prefix} alarm topic; CloudWatch alarms may use it to publish."
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.alarms_key.json
  tags                    = var.tags
}

resource "aws_kms_alias" "alarms" {
  provider      = aws.production
  name          = "alias/${var.name_prefix}-alarms"
  target_key_id = aws_kms_key.alarms.key_id
}

data "aws_iam_policy_document" "alarms_key" {
  #checkov:skip=CKV_AWS_109:This is a KMS key policy, not an IAM policy: its "*" resource is this key alone, and the root statement is AWS's default key policy, which hands the key's administration to the account's IAM policies.
  #checkov:skip=CKV_AWS_111:A KMS key policy: its "*" resource is this key alone; CloudWatch may only encrypt and decrypt with it, to publish to the alarm topic.
  #checkov:skip=CKV_AWS_356:A KMS key policy: "*" is the only resource a key policy statement can name, and it means this key.
  # The production account administers the key through IAM, as with a default key policy; without
  # this statement nobody could ever change or delete the key.
  statement {
    sid       = "AccountAdministersThroughIam"
    actions   = ["kms:*"]
    resources = ["*"] # in a key policy, "*" is this key
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.production_account_id}:root"]
    }
  }

  statement {
    sid = "CloudWatchAlarmsPublish"
    actions = [
      "kms:Decrypt",
      "kms:GenerateDataKey*",
    ]
    resources = ["*"] # in a key policy, "*" is this key
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
  }
}

resource "aws_sns_topic" "alarms" {
  provider          = aws.production
  name              = "${var.name_prefix}-alarms"
  kms_master_key_id = aws_kms_key.alarms.arn
  tags              = var.tags
}

data "aws_iam_policy_document" "alarms_topic" {
  # CloudWatch alarms of the production account may publish.
  statement {
    sid       = "CloudWatchAlarmsPublish"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alarms.arn]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.production_account_id]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alarms.arn]
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

resource "aws_sns_topic_policy" "alarms" {
  provider = aws.production
  arn      = aws_sns_topic.alarms.arn
  policy   = data.aws_iam_policy_document.alarms_topic.json
}

resource "aws_sns_topic_subscription" "alarm_email" {
  provider = aws.production
  count    = var.alarm_email == null ? 0 : 1

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}
