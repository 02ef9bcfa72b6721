# GitHub's OIDC identity provider: created here, or an existing one used by ARN (an account
# has at most one provider per URL).
resource "aws_iam_openid_connect_provider" "github" {
  count = var.oidc_provider_arn == null ? 1 : 0

  url            = "https://token.actions.githubusercontent.com"
  client_id_list = ["sts.amazonaws.com"]
  # No thumbprint_list: IAM validates GitHub's certificate against its own library of
  # trusted CAs (since July 2023), and provider 5.81 made the argument optional.

  tags = var.tags
}

# A separate staging or production account needs GitHub's provider of its own, for its deploy
# role to trust: created there unless staging_oidc_provider_arn / production_oidc_provider_arn
# names the one it has.
resource "aws_iam_openid_connect_provider" "github_staging" {
  provider = aws.staging
  count    = local.separate_staging && var.staging_oidc_provider_arn == null ? 1 : 0

  url            = "https://token.actions.githubusercontent.com"
  client_id_list = ["sts.amazonaws.com"]

  tags = var.tags
}

resource "aws_iam_openid_connect_provider" "github_production" {
  provider = aws.production
  count    = local.separate_production && var.production_oidc_provider_arn == null ? 1 : 0

  url            = "https://token.actions.githubusercontent.com"
  client_id_list = ["sts.amazonaws.com"]

  tags = var.tags
}
