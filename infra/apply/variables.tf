# The root configuration docs/setup.md applies: infra/terraform's every input, passed through.
# null (the default of each below) gives the module's own default: those of its inputs that have
# one are declared nullable = false (tests/test_terraform_apply.py keeps both lists equal).
# Values: terraform.tfvars (copy terraform.tfvars.example); the accounts: main.tf.

variable "github_repository" {
  description = "infra/terraform's github_repository (README.md, \"Inputs\")."
  type        = any
}

variable "main_branch" {
  description = "infra/terraform's main_branch (README.md, \"Inputs\"); null: its default."
  type        = any
  default     = null
}

variable "build_trust_pull_requests" {
  description = "infra/terraform's build_trust_pull_requests (README.md, \"Inputs\"); null: its default."
  type        = any
  default     = null
}

variable "staging_environment" {
  description = "infra/terraform's staging_environment (README.md, \"Inputs\"); null: its default."
  type        = any
  default     = null
}

variable "production_environment" {
  description = "infra/terraform's production_environment (README.md, \"Inputs\"); null: its default."
  type        = any
  default     = null
}

variable "production_workflow_refs" {
  description = "infra/terraform's production_workflow_refs (README.md, \"Inputs\"); null: its default."
  type        = any
  default     = null
}

variable "oidc_provider_arn" {
  description = "infra/terraform's oidc_provider_arn (README.md, \"Inputs\"); null: its default."
  type        = any
  default     = null
}

variable "staging_oidc_provider_arn" {
  description = "infra/terraform's staging_oidc_provider_arn (README.md, \"Inputs\"); null: its default."
  type        = any
  default     = null
}

variable "production_oidc_provider_arn" {
  description = "infra/terraform's production_oidc_provider_arn (README.md, \"Inputs\"); null: its default."
  type        = any
  default     = null
}

variable "name_prefix" {
  description = "infra/terraform's name_prefix (README.md, \"Inputs\"); null: its default."
  type        = any
  default     = null
}

variable "artifact_bucket_name" {
  description = "infra/terraform's artifact_bucket_name (README.md, \"Inputs\"); null: its default."
  type        = any
  default     = null
}

variable "pipeline_name_prefix" {
  description = "infra/terraform's pipeline_name_prefix (README.md, \"Inputs\"); null: its default."
  type        = any
  default     = null
}

variable "model_package_group_name" {
  description = "infra/terraform's model_package_group_name (README.md, \"Inputs\"); null: its default."
  type        = any
  default     = null
}

variable "staging_endpoint_name_prefix" {
  description = "infra/terraform's staging_endpoint_name_prefix (README.md, \"Inputs\"); null: its default."
  type        = any
  default     = null
}

variable "production_endpoint_name_prefix" {
  description = "infra/terraform's production_endpoint_name_prefix (README.md, \"Inputs\"); null: its default."
  type        = any
  default     = null
}

variable "idle_endpoint_deletion_prefixes" {
  description = "infra/terraform's idle_endpoint_deletion_prefixes (README.md, \"Inputs\"); null: its default."
  type        = any
  default     = null
}

variable "price_list_api" {
  description = "infra/terraform's price_list_api (README.md, \"Inputs\"); null: its default."
  type        = any
  default     = null
}

variable "batch_prefix" {
  description = "infra/terraform's batch_prefix (README.md, \"Inputs\"); null: its default."
  type        = any
  default     = null
}

variable "kms_key_arn" {
  description = "infra/terraform's kms_key_arn (README.md, \"Inputs\"); null: its default."
  type        = any
  default     = null
}

variable "data_capture_prefix" {
  description = "infra/terraform's data_capture_prefix (README.md, \"Inputs\"); null: its default."
  type        = any
  default     = null
}

variable "data_capture_expiration_days" {
  description = "infra/terraform's data_capture_expiration_days (README.md, \"Inputs\"); null: its default."
  type        = any
  default     = null
}

variable "noncurrent_version_expiration_days" {
  description = "infra/terraform's noncurrent_version_expiration_days (README.md, \"Inputs\"); null: its default."
  type        = any
  default     = null
}

variable "abort_incomplete_multipart_upload_days" {
  description = "infra/terraform's abort_incomplete_multipart_upload_days (README.md, \"Inputs\"); null: its default."
  type        = any
  default     = null
}

variable "ecr_repository_arns" {
  description = "infra/terraform's ecr_repository_arns (README.md, \"Inputs\"); null: its default."
  type        = any
  default     = null
}

variable "alarm_email" {
  description = "infra/terraform's alarm_email (README.md, \"Inputs\"); null: its default."
  type        = any
  default     = null
}

variable "permissions_boundary_arn" {
  description = "infra/terraform's permissions_boundary_arn (README.md, \"Inputs\"); null: its default."
  type        = any
  default     = null
}

variable "tags" {
  description = "infra/terraform's tags (README.md, \"Inputs\"); null: its default."
  type        = any
  default     = null
}

variable "production_approval" {
  description = "infra/terraform's production_approval (README.md, \"Inputs\"); null: its default."
  type        = any
  default     = null
}

variable "idle_endpoint_days" {
  description = "infra/terraform's idle_endpoint_days (README.md, \"Inputs\"); null: its default."
  type        = any
  default     = null
}

variable "remove_staging_after_promotion" {
  description = "infra/terraform's remove_staging_after_promotion (README.md, \"Inputs\"); null: its default."
  type        = any
  default     = null
}

variable "events_enabled" {
  description = "infra/terraform's events_enabled (README.md, \"Inputs\"); null: its default."
  type        = any
  default     = null
}

variable "drift_endpoint_name" {
  description = "infra/terraform's drift_endpoint_name (README.md, \"Inputs\"); null: its default."
  type        = any
  default     = null
}

variable "retrain_debounce_runs" {
  description = "infra/terraform's retrain_debounce_runs (README.md, \"Inputs\"); null: its default."
  type        = any
  default     = null
}

variable "retrain_budget_per_week" {
  description = "infra/terraform's retrain_budget_per_week (README.md, \"Inputs\"); null: its default."
  type        = any
  default     = null
}

variable "retrain_workflow_file" {
  description = "infra/terraform's retrain_workflow_file (README.md, \"Inputs\"); null: its default."
  type        = any
  default     = null
}

variable "monitoring_reports_prefix" {
  description = "infra/terraform's monitoring_reports_prefix (README.md, \"Inputs\"); null: its default."
  type        = any
  default     = null
}

variable "deploy_workflow_file" {
  description = "infra/terraform's deploy_workflow_file (README.md, \"Inputs\"); null: its default."
  type        = any
  default     = null
}
