# What SageMaker does as an execution role for the endpoints of an account: the models read
# their artifacts and write captured requests, an asynchronous endpoint writes its results and
# notifies, batch transform and Model Monitor's jobs read and write the bucket, and a blue/green
# update reads its auto-rollback alarms. The pipeline's part is execution_permissions
# (iam_policies.tf); the same rules hold here (literal actions, a sid per statement, "*" only
# where the service has no resource-level permission).
#
# One document per account that hosts endpoints (local.hosting_accounts, accounts.tf): each.value
# is that account's id, for the resources that live there (log groups, topics, alarms). The
# artifact bucket is the tooling account's whatever the account: a separate account's role
# reaches it through the bucket policy (cross_account.tf). In one account the only key is
# "tooling" and the tooling execution role gets this document next to execution_permissions,
# the two together equal to what execution_permissions held before the accounts split. No
# iam:PassRole here: nothing in hosting passes a role (the deploy roles pass it to CreateModel,
# the monitoring job definitions and the baselining job).
data "aws_iam_policy_document" "hosting_execution_permissions" {
  for_each = local.hosting_accounts

  # Batch transform and monitoring jobs list their S3 input prefixes.
  statement {
    sid = "ArtifactBucket"
    actions = [
      "s3:ListBucket",
      "s3:GetBucketLocation",
    ]
    resources = [aws_s3_bucket.artifacts.arn]
  }

  # Model artifacts, captured requests, asynchronous results, batch output, monitoring reports.
  statement {
    sid = "ArtifactObjects"
    actions = [
      "s3:GetObject",
      "s3:PutObject",
      "s3:AbortMultipartUpload",
    ]
    resources = ["${aws_s3_bucket.artifacts.arn}/*"]
  }

  # "*": GetAuthorizationToken has no resource-level permissions. Its own statement, so the
  # pulls below stay scoped.
  statement {
    sid       = "EcrAuthorization"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  # The serving and monitoring images (a repository of another account must also allow the
  # pull in its own repository policy).
  statement {
    sid = "EcrPull"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:GetDownloadUrlForLayer",
      "ecr:BatchGetImage",
    ]
    resources = local.ecr_repository_arns
  }

  # Endpoint, batch and monitoring logs, in the account they run in.
  statement {
    sid = "Logs"
    actions = [
      "logs:CreateLogGroup",
      "logs:CreateLogStream",
      "logs:DescribeLogStreams",
      "logs:PutLogEvents",
    ]
    resources = [
      "arn:${local.partition}:logs:${local.region}:${each.value}:log-group:/aws/sagemaker/*",
      "arn:${local.partition}:logs:${local.region}:${each.value}:log-group:/aws/sagemaker/*:log-stream:*",
    ]
  }

  # An asynchronous endpoint publishes its results' notifications as this role ("your IAM
  # role must have sns:Publish permissions", async-inference-check-predictions.html): to
  # topics named after the staging or production endpoint prefix (async-*-topic-arn) in the
  # endpoint's account. Its results and failures go under the artifact bucket (ArtifactObjects).
  statement {
    sid     = "AsyncInferenceNotifications"
    actions = ["sns:Publish"]
    resources = [
      "arn:${local.partition}:sns:${local.region}:${each.value}:${local.staging_endpoint}*",
      "arn:${local.partition}:sns:${local.region}:${each.value}:${local.production_endpoint}*",
    ]
  }

  # "*": PutMetricData has no resource-level permissions; the condition limits it to
  # SageMaker's namespaces (Model Monitor's aws/sagemaker/Endpoints/...).
  statement {
    sid       = "Metrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]
    condition {
      test     = "StringLike"
      variable = "cloudwatch:namespace"
      values   = ["aws/sagemaker/*", "/aws/sagemaker/*"]
    }
  }

  # Deployment guardrails: SageMaker reads the auto-rollback alarms of a blue/green update
  # (deploy-endpoint always sends them). The SageMaker guide, deployment-guardrails-
  # configuration.md, Auto-Rollback Configuration: "Ensure that your IAM execution role has
  # permission to perform the cloudwatch:DescribeAlarms action on the auto-rollback alarms
  # you specify." DescribeAlarms takes the alarm resource type (Service Authorization
  # Reference for CloudWatch: DescribeAlarms, Read, alarm*), so no "*"; but deploy-endpoint's
  # alarms input may name any alarm of the account, so, as for the deploy roles, the scope is
  # the endpoint account's alarms in the region, not an endpoint prefix.
  statement {
    sid       = "RollbackAlarms"
    actions   = ["cloudwatch:DescribeAlarms"]
    resources = ["arn:${local.partition}:cloudwatch:${local.region}:${each.value}:alarm:*"]
  }
}
