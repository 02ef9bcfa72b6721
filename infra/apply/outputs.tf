# infra/terraform's every output, under the same name (docs/setup.md reads them with
# terraform -chdir=infra/apply output).

output "aws_region" {
  description = "infra/terraform's aws_region (README.md, \"Outputs\")."
  value       = module.sagemaker_mlops.aws_region
}

output "build_role_arn" {
  description = "infra/terraform's build_role_arn (README.md, \"Outputs\")."
  value       = module.sagemaker_mlops.build_role_arn
}

output "deploy_staging_role_arn" {
  description = "infra/terraform's deploy_staging_role_arn (README.md, \"Outputs\")."
  value       = module.sagemaker_mlops.deploy_staging_role_arn
}

output "deploy_production_role_arn" {
  description = "infra/terraform's deploy_production_role_arn (README.md, \"Outputs\")."
  value       = module.sagemaker_mlops.deploy_production_role_arn
}

output "execution_role_arn" {
  description = "infra/terraform's execution_role_arn (README.md, \"Outputs\")."
  value       = module.sagemaker_mlops.execution_role_arn
}

output "staging_execution_role_arn" {
  description = "infra/terraform's staging_execution_role_arn (README.md, \"Outputs\")."
  value       = module.sagemaker_mlops.staging_execution_role_arn
}

output "production_execution_role_arn" {
  description = "infra/terraform's production_execution_role_arn (README.md, \"Outputs\")."
  value       = module.sagemaker_mlops.production_execution_role_arn
}

output "artifact_key_arn" {
  description = "infra/terraform's artifact_key_arn (README.md, \"Outputs\")."
  value       = module.sagemaker_mlops.artifact_key_arn
}

output "artifact_bucket_name" {
  description = "infra/terraform's artifact_bucket_name (README.md, \"Outputs\")."
  value       = module.sagemaker_mlops.artifact_bucket_name
}

output "data_capture_s3_uri" {
  description = "infra/terraform's data_capture_s3_uri (README.md, \"Outputs\")."
  value       = module.sagemaker_mlops.data_capture_s3_uri
}

output "model_package_group_arn" {
  description = "infra/terraform's model_package_group_arn (README.md, \"Outputs\")."
  value       = module.sagemaker_mlops.model_package_group_arn
}

output "model_package_group_name" {
  description = "infra/terraform's model_package_group_name (README.md, \"Outputs\")."
  value       = module.sagemaker_mlops.model_package_group_name
}

output "alarm_topic_arn" {
  description = "infra/terraform's alarm_topic_arn (README.md, \"Outputs\")."
  value       = module.sagemaker_mlops.alarm_topic_arn
}

output "oidc_provider_arn" {
  description = "infra/terraform's oidc_provider_arn (README.md, \"Outputs\")."
  value       = module.sagemaker_mlops.oidc_provider_arn
}

output "repository_variables" {
  description = "infra/terraform's repository_variables (README.md, \"Outputs\")."
  value       = module.sagemaker_mlops.repository_variables
}

output "github_app_secret_arn" {
  description = "infra/terraform's github_app_secret_arn (README.md, \"Outputs\")."
  value       = module.sagemaker_mlops.github_app_secret_arn
}

output "events_dead_letter_queue_url" {
  description = "infra/terraform's events_dead_letter_queue_url (README.md, \"Outputs\")."
  value       = module.sagemaker_mlops.events_dead_letter_queue_url
}
