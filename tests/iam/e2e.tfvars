# The deployment the sagemaker e2e runs play (tests/e2e/sagemaker_run.py): infra/terraform
# applied with these values in account 123456789012, us-east-1. tests/iam_policies.py
# renders the module's IAM policies with them (the rest are variables.tf's defaults).
github_repository    = "acme/churn-model"
name_prefix          = "churn"
artifact_bucket_name = "acme-churn-mlops"

pipeline_name_prefix            = "churn"
model_package_group_name        = "churn-models"
staging_endpoint_name_prefix    = "churn-staging"
production_endpoint_name_prefix = "churn-production"
