# Prices from the AWS Price List Query API (a stage's price-table: aws-price-list, docs/cost.md):
# opt-in. With price_list_api = true the roles whose stages price instances may call
# pricing:GetProducts: the build role (build-pipeline's training costs, register-and-gate's
# hourly_cost, smgha endpoints idle-report) and both deploy roles (deploy-endpoint's hourly
# cost before and after). With the default (false) there is no grant: those stages say the
# call was denied and price from the shipped table (or the team's).
#
# Its own document and role policies, not statements of the roles' permission documents:
# those hold what every deployment grants (tests/test_iam_least_privilege.py compares them
# with the calls of the runs); this one exists only where a team asked for it. The Price List
# is AWS's public list prices: the grant reads nothing of the account.

data "aws_iam_policy_document" "price_list_permissions" {
  count = var.price_list_api ? 1 : 0

  # GetProducts has no resource types and no condition keys (Service Authorization Reference,
  # AWS Price List: "pricing:GetProducts", Read): only "*" can name what it is allowed on.
  statement {
    sid       = "PriceListRead"
    actions   = ["pricing:GetProducts"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "build_price_list" {
  count  = var.price_list_api ? 1 : 0
  name   = "price-list"
  role   = aws_iam_role.build.id
  policy = data.aws_iam_policy_document.price_list_permissions[0].json
}

resource "aws_iam_role_policy" "deploy_staging_price_list" {
  count    = var.price_list_api ? 1 : 0
  provider = aws.staging
  name     = "price-list"
  role     = aws_iam_role.deploy_staging.id
  policy   = data.aws_iam_policy_document.price_list_permissions[0].json
}

resource "aws_iam_role_policy" "deploy_production_price_list" {
  count    = var.price_list_api ? 1 : 0
  provider = aws.production
  name     = "price-list"
  role     = aws_iam_role.deploy_production.id
  policy   = data.aws_iam_policy_document.price_list_permissions[0].json
}
