# Registry and drift events to GitHub (issue 19; docs/setup.md, "Registry and drift events").
# Off by default (events_enabled = false): nothing below is created and the single-account
# setup stays as it is.
#
# EventBridge rules -> one Lambda function (smgha/dispatch/, pure standard library) -> GitHub's
# repository_dispatch with a GitHub App installation token:
#   * a version of the model package group turned Approved -> `model-approved` (model-deploy);
#   * a drift alarm of drift_endpoint_name went to ALARM, or the hourly drift check ->
#     `drift-detected` (model-build), after retrain_debounce_runs violating monitoring runs in a
#     row and while fewer than retrain_budget_per_week retrains ran in the last 7 days.
# The App's id, installation id and private key live in one Secrets Manager secret whose value
# you put yourself (never in Terraform's state); the function may read that secret alone.

locals {
  events       = var.events_enabled ? 1 : 0
  drift_events = var.events_enabled && var.drift_endpoint_name != null ? 1 : 0
  # enable-monitor's names (smgha/resources/monitoring.py): the schedule <endpoint>-data-quality
  # and one alarm per feature, <endpoint>-baseline-drift-<feature>.
  drift_endpoint   = coalesce(var.drift_endpoint_name, "none")
  drift_schedule   = "${local.drift_endpoint}-data-quality"
  dispatcher_name  = "${var.name_prefix}-events-dispatcher"
  dispatcher_files = ["__init__.py", "app_token.py", "dispatcher.py", "events.py", "handler.py"]
  library_root     = "${path.module}/../.."
}

# ---- the GitHub App's secret ----------------------------------------------------------------------

resource "aws_kms_key" "github_app" {
  count                   = local.events
  description             = "Encrypts the ${var.name_prefix} GitHub App secret (the events dispatcher's)."
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.github_app_key.json
  tags                    = var.tags
}

data "aws_iam_policy_document" "github_app_key" {
  #checkov:skip=CKV_AWS_109:A KMS key policy: its "*" resource is this key alone, and the root statement is AWS's default key policy, which hands the key's administration to the account's IAM policies.
  #checkov:skip=CKV_AWS_111:A KMS key policy: its "*" resource is this key alone; only the account's IAM policies (the dispatcher's role, through Secrets Manager) decide who uses it.
  #checkov:skip=CKV_AWS_356:A KMS key policy: "*" is the only resource a key policy statement can name, and it means this key.
  statement {
    sid       = "AccountAdministersThroughIam"
    actions   = ["kms:*"]
    resources = ["*"] # in a key policy, "*" is this key
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }
}

resource "aws_secretsmanager_secret" "github_app" {
  #checkov:skip=CKV2_AWS_57:The value is a GitHub App's private key: it is rotated in the App's settings on GitHub (generate a key, put it here, delete the old one; docs/setup.md), which no rotation Lambda can do.
  count       = local.events
  name        = "${var.name_prefix}-github-app"
  description = "The GitHub App the events dispatcher dispatches with: JSON {app_id, installation_id, private_key}. Put its value yourself (docs/setup.md)."
  kms_key_id  = aws_kms_key.github_app[0].arn
  tags        = var.tags
}

# ---- the dispatcher ---------------------------------------------------------------------------------

data "archive_file" "dispatcher" {
  count       = local.events
  type        = "zip"
  output_path = "${path.module}/.terraform/${local.dispatcher_name}.zip"

  # smgha/__init__.py is left empty: the function needs the dispatch package and the GitHub
  # client, not the library.
  source {
    content  = ""
    filename = "smgha/__init__.py"
  }
  source {
    content  = file("${local.library_root}/smgha/github_api.py")
    filename = "smgha/github_api.py"
  }
  dynamic "source" {
    for_each = toset(local.dispatcher_files)
    content {
      content  = file("${local.library_root}/smgha/dispatch/${source.value}")
      filename = "smgha/dispatch/${source.value}"
    }
  }
}

resource "aws_cloudwatch_log_group" "dispatcher" {
  #checkov:skip=CKV_AWS_158:The dispatcher logs what it did with each event (ARNs, feature names, outcomes), never the token or the key; the account's default encryption of CloudWatch Logs is enough for that.
  count             = local.events
  name              = "/aws/lambda/${local.dispatcher_name}"
  retention_in_days = 365
  tags              = var.tags
}

resource "aws_lambda_function" "dispatcher" {
  #checkov:skip=CKV_AWS_117:The function calls GitHub's API on the internet and SageMaker, CloudWatch, SNS and Secrets Manager: a VPC would need a NAT gateway and endpoints for no gain, it reaches nothing private.
  #checkov:skip=CKV_AWS_272:Code signing needs an AWS Signer profile the module would have to create and the caller to trust; the code is the library's own source, zipped by Terraform from the release the module is used at.
  #checkov:skip=CKV_AWS_50:X-Ray tracing would add xray:PutTraceSegments on "*" to the role for a function that makes four calls per event; its log line says what it did.
  #checkov:skip=CKV_AWS_173:Its environment holds names and numbers (repository, group, endpoint, the secret's ARN), no secret: Lambda's default encryption at rest is enough.
  count                          = local.events
  function_name                  = local.dispatcher_name
  description                    = "smgha: registry approvals and drift alarms to GitHub repository_dispatch of ${var.github_repository}."
  role                           = aws_iam_role.dispatcher[0].arn
  runtime                        = "python3.12"
  handler                        = "smgha.dispatch.handler.lambda_handler"
  filename                       = data.archive_file.dispatcher[0].output_path
  source_code_hash               = data.archive_file.dispatcher[0].output_base64sha256
  timeout                        = 60
  memory_size                    = 256
  reserved_concurrent_executions = 1 # one event at a time: the budget's count sees the last dispatch
  tags                           = var.tags

  environment {
    variables = {
      GITHUB_REPOSITORY       = var.github_repository
      GITHUB_APP_SECRET_ARN   = aws_secretsmanager_secret.github_app[0].arn
      MODEL_PACKAGE_GROUP     = var.model_package_group_name
      DRIFT_ENDPOINT          = var.drift_endpoint_name == null ? "" : var.drift_endpoint_name
      DRIFT_SCHEDULE          = var.drift_endpoint_name == null ? "" : local.drift_schedule
      DEBOUNCE_RUNS           = tostring(var.retrain_debounce_runs)
      RETRAIN_BUDGET_PER_WEEK = tostring(var.retrain_budget_per_week)
      BUILD_WORKFLOW          = var.retrain_workflow_file
      DEPLOY_WORKFLOW         = var.deploy_workflow_file
      NOTICE_TOPIC_ARN        = aws_sns_topic.alarms.arn
    }
  }

  # A failed invocation (GitHub down, a bad secret) is retried twice by Lambda's asynchronous
  # invocation, then kept in the dead-letter queue.
  dead_letter_config {
    target_arn = aws_sqs_queue.events_dlq[0].arn
  }

  depends_on = [aws_cloudwatch_log_group.dispatcher]
}

resource "aws_sqs_queue" "events_dlq" {
  count                     = local.events
  name                      = "${var.name_prefix}-events-dlq"
  message_retention_seconds = 1209600 # 14 days, SQS's longest
  sqs_managed_sse_enabled   = true
  tags                      = var.tags
}

data "aws_iam_policy_document" "events_dlq" {
  count = local.events
  # EventBridge (events it could not deliver) and the function (events it failed) may send.
  statement {
    sid       = "EventBridgeSendsUndelivered"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.events_dlq[0].arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = concat([aws_cloudwatch_event_rule.model_approved[0].arn], aws_cloudwatch_event_rule.drift[*].arn, aws_cloudwatch_event_rule.drift_check[*].arn)
    }
  }
}

resource "aws_sqs_queue_policy" "events_dlq" {
  count     = local.events
  queue_url = aws_sqs_queue.events_dlq[0].id
  policy    = data.aws_iam_policy_document.events_dlq[0].json
}

# ---- the rules ----------------------------------------------------------------------------------------

# SageMaker's model package events: detail is the package as DescribeModelPackage returns it
# (https://docs.aws.amazon.com/sagemaker/latest/dg/automating-sagemaker-with-eventbridge.html#eventbridge-model-package).
resource "aws_cloudwatch_event_rule" "model_approved" {
  count       = local.events
  name        = "${var.name_prefix}-model-approved"
  description = "A version of ${var.model_package_group_name} turned Approved: deploy it (model-deploy through repository_dispatch)."
  event_pattern = jsonencode({
    source        = ["aws.sagemaker"]
    "detail-type" = ["SageMaker Model Package State Change"]
    detail = {
      ModelPackageGroupName = [var.model_package_group_name]
      ModelApprovalStatus   = ["Approved"]
    }
  })
  tags = var.tags
}

# CloudWatch's alarm events (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-and-eventbridge.html):
# the endpoint's drift alarms going to ALARM.
resource "aws_cloudwatch_event_rule" "drift" {
  count       = local.drift_events
  name        = "${var.name_prefix}-drift-alarm"
  description = "A drift alarm of ${local.drift_endpoint} went to ALARM: retrain (model-build through repository_dispatch), debounced and budgeted."
  event_pattern = jsonencode({
    source        = ["aws.cloudwatch"]
    "detail-type" = ["CloudWatch Alarm State Change"]
    detail = {
      alarmName = [{ prefix = "${local.drift_endpoint}-baseline-drift-" }]
      state     = { value = ["ALARM"] }
    }
  })
  tags = var.tags

  lifecycle {
    # This rule and the dispatcher are in the tooling account; the drift alarms, the monitoring
    # runs and the alarm topic are in the production account, whose alarm events reach another
    # account only through a cross-account EventBridge bus, which this module does not build.
    # Approvals (model_approved) are the tooling registry's own events and work with any accounts.
    precondition {
      condition     = !local.separate_production
      error_message = "drift_endpoint_name (drift events) with a separate production account is not built yet: its alarms and monitoring runs are in the production account, this rule and the dispatcher in the tooling account. Leave drift_endpoint_name unset (registry approvals still start model-deploy)."
    }
  }
}

# An alarm sends one event when it goes to ALARM, none while it stays there: the check after
# every monitoring run is what counts consecutive violating runs (smgha/dispatch/events.py).
resource "aws_cloudwatch_event_rule" "drift_check" {
  count               = local.drift_events
  name                = "${var.name_prefix}-drift-check"
  description         = "After each hourly monitoring run of ${local.drift_endpoint}: retrain when the last runs all found violations."
  schedule_expression = "cron(30 * * * ? *)" # half past: the hourly run (cron(0 * ? * * *)) has finished
  tags                = var.tags
}

locals {
  # Rule -> the event the function receives (null: the event as EventBridge matched it).
  dispatcher_rules = merge(
    var.events_enabled ? { model_approved = { rule = aws_cloudwatch_event_rule.model_approved[0].name, input = null } } : {},
    local.drift_events == 1 ? {
      drift       = { rule = aws_cloudwatch_event_rule.drift[0].name, input = null }
      drift_check = { rule = aws_cloudwatch_event_rule.drift_check[0].name, input = jsonencode({ "detail-type" = "smgha drift check", detail = {} }) }
    } : {},
  )
}

resource "aws_cloudwatch_event_target" "dispatcher" {
  for_each = local.dispatcher_rules
  rule     = each.value.rule
  arn      = aws_lambda_function.dispatcher[0].arn
  input    = each.value.input

  retry_policy {
    maximum_event_age_in_seconds = 3600
    maximum_retry_attempts       = 8
  }
  dead_letter_config {
    arn = aws_sqs_queue.events_dlq[0].arn
  }
}

resource "aws_lambda_permission" "events" {
  for_each      = local.dispatcher_rules
  statement_id  = "AllowEventBridge-${each.key}"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.dispatcher[0].function_name
  principal     = "events.amazonaws.com"
  source_arn    = "arn:${local.partition}:events:${local.region}:${local.account_id}:rule/${each.value.rule}"
}

resource "aws_lambda_function_event_invoke_config" "dispatcher" {
  count                        = local.events
  function_name                = aws_lambda_function.dispatcher[0].function_name
  maximum_retry_attempts       = 2
  maximum_event_age_in_seconds = 3600
}

# ---- the function's role: exactly the calls smgha/dispatch makes ------------------------------------

data "aws_iam_policy_document" "dispatcher_trust" {
  statement {
    sid     = "LambdaAssumes"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "dispatcher" {
  count                = local.events
  name                 = "${var.name_prefix}-events-dispatcher"
  description          = "The events dispatcher (Lambda): reads the GitHub App secret, SageMaker's monitoring runs, the drift alarms; announces a spent retrain budget."
  assume_role_policy   = data.aws_iam_policy_document.dispatcher_trust.json
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

resource "aws_iam_role_policy" "dispatcher" {
  count  = local.events
  name   = "events-dispatcher"
  role   = aws_iam_role.dispatcher[0].id
  policy = data.aws_iam_policy_document.dispatcher_permissions[0].json
}

data "aws_iam_policy_document" "dispatcher_permissions" {
  count = local.events

  statement {
    sid       = "WriteItsLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${local.dispatcher_log_group_arn}:*"]
  }

  # handler.py: the App's id, installation id and key; the key's KMS key only through
  # Secrets Manager.
  statement {
    sid       = "ReadTheGitHubAppSecret"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = ["${local.github_app_secret_arn}"]
  }
  statement {
    sid       = "DecryptTheGitHubAppSecret"
    actions   = ["kms:Decrypt"]
    resources = ["${local.github_app_key_arn}"]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${local.region}.amazonaws.com"]
    }
  }

  # Lambda's own dead-letter queue is written with the function's role.
  statement {
    sid       = "SendFailedEventsToTheDeadLetterQueue"
    actions   = ["sqs:SendMessage"]
    resources = ["${local.events_dlq_arn}"]
  }
}

# dispatcher.py, drift only: the debounce (ListMonitoringExecutions has no resource type in
# the Service Authorization Reference: "*" is the only resource it takes), the run's output
# folder (DescribeProcessingJob; monitoring runs' job names are SageMaker's, so any processing
# job of the account), its violations report (s3:GetObject under monitoring_reports_prefix)
# and the budget notice on the alarm topic (encrypted with its customer managed key).
data "aws_iam_policy_document" "dispatcher_drift_permissions" {
  count = local.drift_events

  statement {
    sid       = "ListTheMonitoringRuns"
    actions   = ["sagemaker:ListMonitoringExecutions"]
    resources = ["*"]
  }
  statement {
    sid       = "FindTheMonitoringRunsReport"
    actions   = ["sagemaker:DescribeProcessingJob"]
    resources = ["${local.sagemaker_arn}:processing-job/*"]
  }
  statement {
    sid       = "ReadTheViolationsReport"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.artifacts.arn}/${var.monitoring_reports_prefix}*"]
  }
  statement {
    sid       = "AnnounceASpentBudget"
    actions   = ["sns:Publish"]
    resources = ["${aws_sns_topic.alarms.arn}"]
  }
  statement {
    sid       = "EncryptForTheAlarmTopic"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = ["${aws_kms_key.alarms.arn}"]
  }
}

resource "aws_iam_role_policy" "dispatcher_drift" {
  count  = local.drift_events
  name   = "events-dispatcher-drift"
  role   = aws_iam_role.dispatcher[0].id
  policy = data.aws_iam_policy_document.dispatcher_drift_permissions[0].json
}

# The violations report is an object of the artifact bucket: with a customer managed bucket
# key, S3 decrypts it with the key on the function's behalf (iam_policies.tf's document).
resource "aws_iam_role_policy" "dispatcher_bucket_key" {
  count  = local.drift_events == 1 && local.customer_managed_artifact_key ? 1 : 0
  name   = "artifact-bucket-key"
  role   = aws_iam_role.dispatcher[0].id
  policy = data.aws_iam_policy_document.bucket_key_permissions[0].json
}

locals {
  # The ARNs the dispatcher's policy names (one() of a resource that exists only with events_enabled).
  dispatcher_log_group_arn = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/lambda/${local.dispatcher_name}"
  github_app_secret_arn    = one(aws_secretsmanager_secret.github_app[*].arn)
  github_app_key_arn       = one(aws_kms_key.github_app[*].arn)
  events_dlq_arn           = one(aws_sqs_queue.events_dlq[*].arn)
}
