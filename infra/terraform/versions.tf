# The caller configures the aws provider (region, credentials): this module declares none, so
# it can be used as `module "sagemaker_mlops" { source = ".../infra/terraform" }` from any
# root configuration.
terraform {
  # 1.3: optional() and startswith(); validation blocks that read only their own variable.
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 5.81 made the OIDC provider's thumbprint_list optional (AWS validates GitHub's
      # certificate against its own CA library since July 2023); 6.x is a major change.
      version = "~> 5.81"
    }
    # events.tf zips the events dispatcher (only with events_enabled; the source blocks
    # arrived in 2.x).
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.4"
    }
  }
}
