# Deleting idle endpoints (smgha endpoints idle-report --delete --yes; workflows-templates/
# idle-endpoints.yml run by hand with delete): opt-in, and only endpoints whose names start
# with one of idle_endpoint_deletion_prefixes. With the default (none) the build role may not
# delete any endpoint, and the report only reads (build_permissions, IdleReport*).
#
# Its own document and role policy, not a statement of build_permissions: the build role's
# document holds what every deployment grants (tests/test_iam_least_privilege.py compares it
# with the calls of the runs), this one exists only where a team asked for it. DeleteEndpoint
# removes the endpoint only: its endpoint config and model stay, so the next deploy (or
# CreateEndpoint with the same config) brings it back.
#
# Production endpoints are never deletable this way: they change only through the production
# role, which GitHub holds for the production environment's reviewers. A prefix that covers,
# or is covered by, production_endpoint_name_prefix is refused (precondition below).

locals {
  idle_endpoint_deletion_arns = [for prefix in var.idle_endpoint_deletion_prefixes : "${local.sagemaker_arn}:endpoint/${lower(prefix)}*"]
}

data "aws_iam_policy_document" "idle_endpoint_deletion_permissions" {
  count = length(var.idle_endpoint_deletion_prefixes) > 0 ? 1 : 0

  # DeleteEndpoint's resource type is endpoint (Service Authorization Reference, Amazon
  # SageMaker: DeleteEndpoint).
  statement {
    sid       = "DeleteIdleEndpoints"
    actions   = ["sagemaker:DeleteEndpoint"]
    resources = local.idle_endpoint_deletion_arns
  }
}

resource "aws_iam_role_policy" "build_idle_endpoint_deletion" {
  count  = length(var.idle_endpoint_deletion_prefixes) > 0 ? 1 : 0
  name   = "idle-endpoint-deletion"
  role   = aws_iam_role.build.id
  policy = data.aws_iam_policy_document.idle_endpoint_deletion_permissions[0].json

  lifecycle {
    precondition {
      condition     = alltrue([for prefix in var.idle_endpoint_deletion_prefixes : !startswith(local.production_endpoint, lower(prefix)) && !startswith(lower(prefix), local.production_endpoint)])
      error_message = "idle_endpoint_deletion_prefixes must not cover production endpoints (no prefix of production_endpoint_name_prefix, nor one it is a prefix of): production endpoints change only through the gated production role."
    }
  }
}
