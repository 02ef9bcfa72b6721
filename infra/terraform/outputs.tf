# What the workflows need, each named after the repository variable (Settings > Secrets and
# variables > Actions > Variables) or workflow input it feeds. `repository_variables` has
# them all, ready for `gh variable set` (docs/setup.md).

output "aws_region" {
  description = "The region everything is in: repository variable AWS_REGION (the region input of model-build and model-deploy, aws-region of oidc-auth)."
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
  description = "The SageMaker execution role: repository variable SAGEMAKER_EXECUTION_ROLE_ARN (the execution-role-arn input of model-build and model-deploy)."
  value       = aws_iam_role.execution.arn
}

output "artifact_bucket_name" {
  description = "The artifact bucket, the only one the roles may use: repository variable MODEL_ARTIFACT_BUCKET (model-build's default-bucket input; model-deploy's data-capture-s3-uri, baseline-data-uri and monitoring-output-s3-uri are s3:// URIs in it). The sagemaker backend requires default-bucket and monitoring-output-s3-uri: no stage falls back to sagemaker-<region>-<account>."
  value       = aws_s3_bucket.artifacts.bucket
}

output "data_capture_s3_uri" {
  description = "Where captured requests expire on schedule: model-deploy's data-capture-s3-uri input should be this followed by the endpoint name."
  value       = "s3://${aws_s3_bucket.artifacts.bucket}/${var.data_capture_prefix}"
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
  description = "The IAM OIDC provider for token.actions.githubusercontent.com the job roles trust (created here, or the oidc_provider_arn given). No workflow input takes it."
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
    MODEL_ARTIFACT_BUCKET          = aws_s3_bucket.artifacts.bucket
    ALARM_TOPIC_ARN                = aws_sns_topic.alarms.arn
    PRODUCTION_APPROVAL            = var.production_approval
    DEPLOY_TRIGGER                 = var.events_enabled ? "registry-event" : "build"
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
