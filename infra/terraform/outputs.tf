# What the workflows need, each named after the repository variable (Settings > Secrets and
# variables > Actions > Variables) or workflow input it feeds. `repository_variables` has
# them all, ready for `gh variable set` (docs/setup.md).

output "aws_region" {
  description = "The region everything is in (every account's): repository variable AWS_REGION (the region input of model-build and model-deploy, aws-region of oidc-auth)."
  value       = local.region
}

output "build_role_arn" {
  description = "The build role: repository variable AWS_BUILD_ROLE_ARN (model-build's role-to-assume input). Its registry reads also suit a job on the main branch outside any environment, such as the resolve job of workflows-templates/model-deploy.yml."
  value       = aws_iam_role.build.arn
}

output "deploy_staging_role_arn" {
  description = "The staging deploy role: repository variable AWS_DEPLOY_STAGING_ROLE_ARN (model-deploy's role-to-assume-staging input)."
  value       = aws_iam_role.deploy_staging.arn
}

output "deploy_production_role_arn" {
  description = "The production deploy role: repository variable AWS_DEPLOY_PRODUCTION_ROLE_ARN (model-deploy's role-to-assume-production input)."
  value       = aws_iam_role.deploy_production.arn
}

output "execution_role_arn" {
  description = "The SageMaker execution role of the tooling account: repository variable SAGEMAKER_EXECUTION_ROLE_ARN (the execution-role-arn input of model-build and model-deploy)."
  value       = aws_iam_role.execution.arn
}

output "staging_execution_role_arn" {
  description = "The execution role the staging endpoints' models and batch jobs run as: repository variable SAGEMAKER_STAGING_EXECUTION_ROLE_ARN. The staging account's own with a separate staging account, else execution_role_arn."
  value       = local.staging_execution_role_arn
}

output "production_execution_role_arn" {
  description = "The execution role the production endpoints' models and monitoring jobs run as: repository variable SAGEMAKER_PRODUCTION_EXECUTION_ROLE_ARN. The production account's own with a separate production account, else execution_role_arn."
  value       = local.production_execution_role_arn
}

output "artifact_key_arn" {
  description = "The customer managed KMS key of the artifact bucket: kms_key_arn, or the key the module creates for separate accounts. null when the bucket uses the AWS managed key aws/s3. No workflow input takes it."
  value       = local.artifact_key_arn
}

output "artifact_bucket_name" {
  description = "The artifact bucket, the only one the roles may use: repository variable MODEL_ARTIFACT_BUCKET (model-build's default-bucket input; model-deploy's data-capture-s3-uri, baseline-data-uri and monitoring-output-s3-uri are s3:// URIs in it). The sagemaker backend requires default-bucket and monitoring-output-s3-uri: no stage falls back to sagemaker-<region>-<account>."
  value       = aws_s3_bucket.artifacts.bucket
}

output "data_capture_s3_uri" {
  description = "Where captured requests expire on schedule: model-deploy's data-capture-s3-uri input should be this followed by the endpoint name."
  value       = "s3://${aws_s3_bucket.artifacts.bucket}/${var.data_capture_prefix}"
}

output "model_package_group_arn" {
  description = "The model package group's ARN, in the tooling account: separate deploy accounts read its versions through the group's resource policy. No workflow input takes it."
  value       = aws_sagemaker_model_package_group.models.arn
}

output "model_package_group_name" {
  description = "The model package group: model-build's model-package-group input (and MODEL_PACKAGE_GROUP in the resolve job of workflows-templates/model-deploy.yml)."
  value       = aws_sagemaker_model_package_group.models.model_package_group_name
}

output "alarm_topic_arn" {
  description = "The SNS topic of the drift alarms: repository variable ALARM_TOPIC_ARN (model-deploy's sns-topic-arn input)."
  value       = aws_sns_topic.alarms.arn
}

output "oidc_provider_arn" {
  description = "The tooling account's IAM OIDC provider for token.actions.githubusercontent.com, which the build role trusts (and the deploy roles in one account): created here, or the oidc_provider_arn given. No workflow input takes it."
  value       = local.oidc_provider_arn
}

output "repository_variables" {
  description = "Every repository variable the workflows-templates read, by name: set each with gh variable set NAME --body VALUE (docs/setup.md)."
  value = {
    AWS_REGION                     = local.region
    AWS_BUILD_ROLE_ARN             = aws_iam_role.build.arn
    AWS_DEPLOY_STAGING_ROLE_ARN    = aws_iam_role.deploy_staging.arn
    AWS_DEPLOY_PRODUCTION_ROLE_ARN = aws_iam_role.deploy_production.arn
    SAGEMAKER_EXECUTION_ROLE_ARN   = aws_iam_role.execution.arn
    # One account: both equal SAGEMAKER_EXECUTION_ROLE_ARN.
    SAGEMAKER_STAGING_EXECUTION_ROLE_ARN    = local.staging_execution_role_arn
    SAGEMAKER_PRODUCTION_EXECUTION_ROLE_ARN = local.production_execution_role_arn
    MODEL_ARTIFACT_BUCKET                   = aws_s3_bucket.artifacts.bucket
    ALARM_TOPIC_ARN                         = aws_sns_topic.alarms.arn
    PRODUCTION_APPROVAL                     = var.production_approval
    REMOVE_STAGING_AFTER_PROMOTION          = tostring(var.remove_staging_after_promotion)
    # workflows-templates/idle-endpoints.yml: the idle window, and what its schedule deletes.
    IDLE_ENDPOINT_DAYS              = tostring(var.idle_endpoint_days)
    IDLE_ENDPOINT_DELETION_PREFIXES = join(" ", var.idle_endpoint_deletion_prefixes)
    DEPLOY_TRIGGER                          = var.events_enabled ? "registry-event" : "build"
  }
}

output "github_app_secret_arn" {
  description = "The Secrets Manager secret the events dispatcher reads the GitHub App from (events_enabled): put its value with aws secretsmanager put-secret-value (docs/setup.md, \"Registry and drift events\"). null when events are off."
  value       = var.events_enabled ? aws_secretsmanager_secret.github_app[0].arn : null
}

output "events_dead_letter_queue_url" {
  description = "The SQS queue of the events the dispatcher could not handle after its retries (events_enabled): look here when an approval deployed nothing. null when events are off."
  value       = var.events_enabled ? aws_sqs_queue.events_dlq[0].id : null
}
