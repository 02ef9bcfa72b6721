# The caller configures the aws providers (region, credentials): this module declares none.
# Three configurations of the one aws provider: the default `aws` is the tooling account (build,
# registry, bucket), `aws.staging` and `aws.production` the accounts the deploy stages deploy
# to. One account: pass the same provider for all three,
#   providers = { aws = aws, aws.staging = aws, aws.production = aws }
# (README.md, "Separate accounts", for three).
terraform {
  # 1.3: optional() and startswith(); validation blocks that read only their own variable.
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 5.81 made the OIDC provider's thumbprint_list optional (AWS validates GitHub's
      # certificate against its own CA library since July 2023); 6.x is a major change.
      version = "~> 5.81"
      # accounts.tf reads each account (and its region) from these.
      configuration_aliases = [aws.staging, aws.production]
    }
    # events.tf zips the events dispatcher (only with events_enabled; the source blocks
    # arrived in 2.x).
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.4"
    }
  }
}
