# The model registry group model-build registers candidates in and model-deploy deploys from.
resource "aws_sagemaker_model_package_group" "models" {
  model_package_group_name        = var.model_package_group_name
  model_package_group_description = "Candidates of ${var.github_repository}, gated by register-and-gate (smgha)."
  tags                            = var.tags
}
