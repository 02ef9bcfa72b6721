# Inputs of the module. Every SageMaker name below follows SageMaker's own rule for names
# (^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$); the *_prefix ones scope the IAM policies, so a
# resource a workflow creates must start with them.

# ---- GitHub: who may assume the job roles ------------------------------------------------------

variable "github_repository" {
  description = "The GitHub repository whose workflows assume the job roles, as owner/name (e.g. my-org/churn-model). No wildcards: the trust policies match it exactly."
  type        = string

  validation {
    # Owner: letters, digits and hyphens (GitHub's rule); name: letters, digits, ., _ and -.
    condition     = can(regex("^[A-Za-z0-9](-?[A-Za-z0-9]){0,38}/[A-Za-z0-9._-]{1,100}$", var.github_repository))
    error_message = "github_repository must be owner/name, e.g. my-org/churn-model (no wildcards, no https://github.com/ prefix)."
  }
}

variable "main_branch" {
  description = "The branch whose pushes run model-build with the build role (its OIDC sub is repo:<owner>/<name>:ref:refs/heads/<main_branch>)."
  type        = string
  default     = "main"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9._][A-Za-z0-9._/-]{0,254}$", var.main_branch)) && !startswith(var.main_branch, "refs/")
    error_message = "main_branch is a branch name such as main (no refs/heads/ prefix, no wildcards)."
  }
}

variable "build_trust_pull_requests" {
  description = "Whether pull_request workflows (OIDC sub repo:<owner>/<name>:pull_request) may also assume the build role. Off by default: the build role creates pipelines that run code as the execution role, and workflows-templates/model-validate-pr.yml validates pull requests on the local backend without AWS."
  type        = bool
  default     = false
  nullable    = false
}

variable "staging_environment" {
  description = "The GitHub environment of model-deploy's staging job (its OIDC sub is repo:<owner>/<name>:environment:<staging_environment>)."
  type        = string
  default     = "staging"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]{1,255}$", var.staging_environment))
    error_message = "staging_environment is a GitHub environment name: letters, digits, '.', '_' and '-' (no wildcards)."
  }
}

variable "production_environment" {
  description = "The GitHub environment of model-deploy's production job (its OIDC sub is repo:<owner>/<name>:environment:<production_environment>). Give it required reviewers in GitHub."
  type        = string
  default     = "production"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]{1,255}$", var.production_environment))
    error_message = "production_environment is a GitHub environment name: letters, digits, '.', '_' and '-' (no wildcards)."
  }
}

variable "production_workflow_refs" {
  description = "The reusable workflows (with the refs they are called at) allowed to deploy to production: StringLike patterns of the token's job_workflow_ref claim, <lib-owner>/<lib-repo>/.github/workflows/model-deploy.yml@<ref>, where <lib-owner>/<lib-repo> is the repository your caller's uses: names (the upstream or your fork) and <ref> is refs/tags/<tag> for a tag (refs/tags/v1.* for every v1.x.y tag, refs/tags/v1 for the moving major tag), refs/heads/<branch> for a branch, or the bare 40-character commit sha. The production role requires the claim to match one of them. Empty: no job_workflow_ref condition (any workflow of the repository running in the production environment)."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    # Owner, repository and file are literal (a reusable workflow lives directly in
    # .github/workflows); only a tag or branch name may hold * or ?, after a literal first
    # character (so not refs/tags/*). No $, { or }: IAM would read ${...} as a policy variable.
    condition     = alltrue([for ref in var.production_workflow_refs : can(regex("^[A-Za-z0-9](-?[A-Za-z0-9]){0,38}/[A-Za-z0-9._-]{1,100}/\\.github/workflows/[A-Za-z0-9._-]+\\.ya?ml@(refs/(tags|heads)/[A-Za-z0-9_][A-Za-z0-9._/*?+-]*|[0-9a-f]{40})$", ref))])
    error_message = "Each of production_workflow_refs is <lib-owner>/<lib-repo>/.github/workflows/<file>.yml@<ref>, with <ref> refs/tags/<tag> (uses: ...@v1 gives refs/tags/v1; refs/tags/v1.* allows every v1.x.y tag), refs/heads/<branch>, or a bare 40-character lower-case commit sha (uses: ...@<sha> gives @<sha>, no refs/ prefix). Wildcards (* and ?) only in the tag or branch name, after its first character; none in the owner, repository or file."
  }
}

variable "oidc_provider_arn" {
  description = "ARN of an existing IAM OIDC provider for https://token.actions.githubusercontent.com in the tooling account (an account has at most one per URL). null: the module creates it."
  type        = string
  default     = null

  validation {
    condition     = var.oidc_provider_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/token\\.actions\\.githubusercontent\\.com$", var.oidc_provider_arn))
    error_message = "oidc_provider_arn is arn:aws:iam::<account>:oidc-provider/token.actions.githubusercontent.com."
  }
}

variable "staging_oidc_provider_arn" {
  description = "Only with a separate staging account (the aws.staging provider's): ARN of the GitHub OIDC provider that account already has. null: the module creates it there. The tooling account's is oidc_provider_arn."
  type        = string
  default     = null

  validation {
    condition     = var.staging_oidc_provider_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/token\\.actions\\.githubusercontent\\.com$", var.staging_oidc_provider_arn))
    error_message = "staging_oidc_provider_arn is arn:aws:iam::<staging account>:oidc-provider/token.actions.githubusercontent.com."
  }
}

variable "production_oidc_provider_arn" {
  description = "Only with a separate production account (the aws.production provider's): ARN of the GitHub OIDC provider that account already has. null: the module creates it there. The tooling account's is oidc_provider_arn."
  type        = string
  default     = null

  validation {
    condition     = var.production_oidc_provider_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/token\\.actions\\.githubusercontent\\.com$", var.production_oidc_provider_arn))
    error_message = "production_oidc_provider_arn is arn:aws:iam::<production account>:oidc-provider/token.actions.githubusercontent.com."
  }
}

# ---- names ------------------------------------------------------------------------------------

variable "name_prefix" {
  description = "Prefix of the IAM roles (<prefix>-build, <prefix>-deploy-staging, <prefix>-deploy-production, <prefix>-sagemaker-execution), the alarm topic and the default bucket name."
  type        = string
  default     = "smgha"
  nullable    = false

  validation {
    # Short enough for the longest role name and the default bucket name (63 characters).
    condition     = can(regex("^[a-z][a-z0-9-]{0,22}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix is 2 to 24 lower-case letters, digits and hyphens, starting with a letter."
  }
}

variable "artifact_bucket_name" {
  description = "Name of the S3 bucket for code, data, models, baselines and captured data (the MODEL_ARTIFACT_BUCKET repository variable). null: <name_prefix>-artifacts-<account id>-<region>."
  type        = string
  default     = null

  validation {
    condition     = var.artifact_bucket_name == null || can(regex("^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$", var.artifact_bucket_name))
    error_message = "artifact_bucket_name is 3 to 63 lower-case letters, digits and hyphens (no dots: TLS to virtual-hosted bucket names with dots fails)."
  }
}

variable "pipeline_name_prefix" {
  description = "The build role may create, update and start SageMaker pipelines whose names start with this (model-build's pipeline-name input, e.g. churn)."
  type        = string
  default     = "churn"
  nullable    = false

  validation {
    condition     = can(regex("^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$", var.pipeline_name_prefix))
    error_message = "pipeline_name_prefix must match SageMaker's name rule ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$."
  }
}

variable "model_package_group_name" {
  description = "The model package group the module creates and the roles may register in and read (model-build's model-package-group input). The deploy roles create models named <group>-v<version>."
  type        = string
  default     = "churn-models"
  nullable    = false

  validation {
    condition     = can(regex("^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$", var.model_package_group_name))
    error_message = "model_package_group_name must match SageMaker's name rule ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$."
  }
}

variable "staging_endpoint_name_prefix" {
  description = "The staging role may deploy to endpoints (and their configs, alarms) whose names start with this (model-deploy's staging-endpoint-name input, e.g. churn-staging). Must not be a prefix of production_endpoint_name_prefix, nor the other way round."
  type        = string
  default     = "churn-staging"
  nullable    = false

  validation {
    condition     = can(regex("^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$", var.staging_endpoint_name_prefix))
    error_message = "staging_endpoint_name_prefix must match SageMaker's name rule ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$."
  }
}

variable "production_endpoint_name_prefix" {
  description = "The production role may deploy to and monitor endpoints (and their configs, alarms, monitoring schedules, job definitions, baselining jobs) whose names start with this (model-deploy's production-endpoint-name input, e.g. churn-production)."
  type        = string
  default     = "churn-production"
  nullable    = false

  validation {
    condition     = can(regex("^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$", var.production_endpoint_name_prefix))
    error_message = "production_endpoint_name_prefix must match SageMaker's name rule ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$."
  }
}

variable "batch_prefix" {
  description = "The staging role's batch transform (model-deploy's batch-* inputs) lists, reads and writes only keys of the artifact bucket under this prefix: batch-input-s3-uri and batch-output-s3-uri must be s3://<artifact bucket>/<batch_prefix>..."
  type        = string
  default     = "batch/"
  nullable    = false

  validation {
    condition     = can(regex("^[a-zA-Z0-9!_.*'()-]+(/[a-zA-Z0-9!_.*'()-]+)*/$", var.batch_prefix))
    error_message = "batch_prefix must be a key prefix that ends with '/' and does not start with one, e.g. batch/."
  }
}

# ---- bucket -----------------------------------------------------------------------------------

variable "kms_key_arn" {
  description = "ARN of a customer managed KMS key for the bucket's default encryption; the roles that read and write the bucket get kms:Decrypt and kms:GenerateDataKey on it through S3, and its key policy must let the account's IAM policies grant that. One account only: with a separate staging or production account leave it null and the module creates the key (its policy grants the other accounts' roles). null: SSE-KMS with the AWS managed key aws/s3 in one account, the module's key with separate accounts."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z]{2}(-[a-z]+)+-[0-9]:[0-9]{12}:key/(mrk-)?[0-9a-f-]{32,36}$", var.kms_key_arn))
    error_message = "kms_key_arn is a key ARN, arn:aws:kms:<region>:<account>:key/<key id> (not an alias: IAM policies need the key ARN)."
  }
}

variable "data_capture_prefix" {
  description = "Key prefix of the endpoints' captured requests in the bucket (model-deploy's data-capture-s3-uri must be s3://<bucket>/<data_capture_prefix>...); objects under it expire after data_capture_expiration_days."
  type        = string
  default     = "data-capture/"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9!_.*'()-][A-Za-z0-9!_.*'()/-]*/$", var.data_capture_prefix))
    error_message = "data_capture_prefix is an S3 key prefix ending in '/', with no leading '/', e.g. data-capture/."
  }
}

variable "data_capture_expiration_days" {
  description = "Days after which captured data (under data_capture_prefix) expires."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = var.data_capture_expiration_days > 0 && floor(var.data_capture_expiration_days) == var.data_capture_expiration_days
    error_message = "data_capture_expiration_days is a whole number of days greater than 0."
  }
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which a replaced or deleted object version (the bucket is versioned) is removed for good."
  type        = number
  default     = 90
  nullable    = false

  validation {
    condition     = var.noncurrent_version_expiration_days > 0 && floor(var.noncurrent_version_expiration_days) == var.noncurrent_version_expiration_days
    error_message = "noncurrent_version_expiration_days is a whole number of days greater than 0."
  }
}

variable "abort_incomplete_multipart_upload_days" {
  description = "Days after which the parts of an unfinished multipart upload are removed."
  type        = number
  default     = 7
  nullable    = false

  validation {
    condition     = var.abort_incomplete_multipart_upload_days > 0 && floor(var.abort_incomplete_multipart_upload_days) == var.abort_incomplete_multipart_upload_days
    error_message = "abort_incomplete_multipart_upload_days is a whole number of days greater than 0."
  }
}

# ---- execution role ---------------------------------------------------------------------------

variable "ecr_repository_arns" {
  description = "ECR repositories the execution role may pull images from. null: any repository in the region (SageMaker's own images live in AWS-owned accounts that differ by region and framework; a repository in another account must also allow the pull in its own policy). Use your own repositories' ARNs to narrow it when you bring all images."
  type        = list(string)
  default     = null

  validation {
    condition     = var.ecr_repository_arns == null ? true : alltrue([for arn in var.ecr_repository_arns : can(regex("^arn:aws[a-z-]*:ecr:[a-z0-9-]+:([0-9]{12}|\\*):repository/.+$", arn))])
    error_message = "Each of ecr_repository_arns is arn:aws:ecr:<region>:<account>:repository/<name> (a trailing * is allowed in the name)."
  }
}

# ---- alarms -----------------------------------------------------------------------------------

variable "alarm_email" {
  description = "E-mail address subscribed to the alarm topic (AWS sends a confirmation message first). null: no subscription."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_email == null || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email is an e-mail address such as ml-oncall@example.com."
  }
}

# ---- everything -------------------------------------------------------------------------------

variable "permissions_boundary_arn" {
  description = "ARN of an IAM managed policy set as the permissions boundary of the module's roles (organizations that require one); with separate accounts, the roles of the staging and production accounts get the policy of the same path and name in their account (the account in the ARN replaced; an AWS managed policy, arn:aws:iam::aws:policy/..., is the same everywhere). null: none."
  type        = string
  default     = null

  validation {
    condition     = var.permissions_boundary_arn == null || can(regex("^arn:aws[a-z-]*:iam::([0-9]{12}|aws):policy/.+$", var.permissions_boundary_arn))
    error_message = "permissions_boundary_arn is an IAM policy ARN, arn:aws:iam::<account>:policy/<name>."
  }
}

variable "tags" {
  description = "Tags put on every resource the module creates that takes tags."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "production_approval" {
  description = "How production deploys are approved, output as the repository variable PRODUCTION_APPROVAL: environment (the production environment's required reviewers: public repositories or GitHub Enterprise) or manual (plans without required reviewers: the automatic deploy stops after staging; a person promotes by running model-deploy by hand)."
  type        = string
  default     = "environment"
  nullable    = false

  validation {
    condition     = contains(["environment", "manual"], var.production_approval)
    error_message = "production_approval must be environment (required reviewers on the production environment) or manual (promote by running model-deploy by hand, for plans without required reviewers)."
  }
}

variable "remove_staging_after_promotion" {
  description = "Output as the repository variable REMOVE_STAGING_AFTER_PROMOTION (workflows-templates/model-deploy.yml): true deletes the staging endpoint once production succeeded, keeping its endpoint config (the next deploy creates it again), so staging costs nothing between deploys. The staging role may delete staging endpoints either way (iam_policies.tf, RemoveStagingEndpoint)."
  type        = bool
  default     = false
  nullable    = false
}

# ---- registry and drift events to GitHub (events.tf; docs/setup.md) ---------------------------

variable "events_enabled" {
  description = "Whether approvals in the model registry start model-deploy (and drift on drift_endpoint_name starts model-build) through GitHub's repository_dispatch, with a GitHub App whose key you put in the <name_prefix>-github-app secret. Off by default: the workflows run on pushes and by hand only."
  type        = bool
  default     = false
  nullable    = false
}

variable "drift_endpoint_name" {
  description = "The endpoint whose drift alarms (enable-monitor's <endpoint>-baseline-drift-<feature>) start a retrain, when events_enabled. null: drift starts nothing."
  type        = string
  default     = null

  validation {
    # SageMaker's endpoint names; short enough for enable-monitor's schedule name <endpoint>-data-quality (63).
    condition     = var.drift_endpoint_name == null || can(regex("^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,49}$", var.drift_endpoint_name))
    error_message = "drift_endpoint_name is an endpoint name of at most 50 characters (letters, digits, hyphens), e.g. churn-production."
  }
}

variable "retrain_debounce_runs" {
  description = "N: retrain only when the last N monitoring runs of drift_endpoint_name all found violations."
  type        = number
  default     = 3
  nullable    = false

  validation {
    condition     = var.retrain_debounce_runs >= 1 && var.retrain_debounce_runs <= 100 && floor(var.retrain_debounce_runs) == var.retrain_debounce_runs
    error_message = "retrain_debounce_runs is a whole number from 1 to 100."
  }
}

variable "retrain_budget_per_week" {
  description = "K: at most K retrains started by drift in any 7 days; past it, a notice on the alarm topic instead of a retrain."
  type        = number
  default     = 2
  nullable    = false

  validation {
    condition     = var.retrain_budget_per_week >= 1 && var.retrain_budget_per_week <= 100 && floor(var.retrain_budget_per_week) == var.retrain_budget_per_week
    error_message = "retrain_budget_per_week is a whole number from 1 to 100."
  }
}

variable "retrain_workflow_file" {
  description = "The file name of the workflow drift-detected starts (workflows-templates/model-build.yml as copied): the retrain budget counts its runs started by repository_dispatch."
  type        = string
  default     = "model-build.yml"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]+\\.ya?ml$", var.retrain_workflow_file))
    error_message = "retrain_workflow_file is a workflow file name such as model-build.yml (no folder)."
  }
}

variable "monitoring_reports_prefix" {
  description = "Key prefix of the artifact bucket the monitoring reports are written under (model-deploy's monitoring-output-s3-uri below it): the events dispatcher reads a run's constraint_violations.json there."
  type        = string
  default     = "monitoring/"
  nullable    = false

  validation {
    condition     = can(regex("^([A-Za-z0-9!_.()-]+/)+$", var.monitoring_reports_prefix))
    error_message = "monitoring_reports_prefix is a key prefix ending with '/', e.g. monitoring/ (no wildcards, no leading '/')."
  }
}

variable "deploy_workflow_file" {
  description = "The file name of the workflow model-approved starts (workflows-templates/model-deploy.yml as copied): the dispatcher looks there for a run of the same approval before dispatching it again."
  type        = string
  default     = "model-deploy.yml"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]+\\.ya?ml$", var.deploy_workflow_file))
    error_message = "deploy_workflow_file is a workflow file name such as model-deploy.yml (no folder)."
  }
}

variable "idle_endpoint_days" {
  description = "Output as the repository variable IDLE_ENDPOINT_DAYS: workflows-templates/idle-endpoints.yml calls an endpoint idle after this many days without an invocation (1-455: CloudWatch keeps hourly data 455 days)."
  type        = number
  default     = 14
  nullable    = false

  validation {
    condition     = var.idle_endpoint_days == floor(var.idle_endpoint_days) && var.idle_endpoint_days >= 1 && var.idle_endpoint_days <= 455
    error_message = "idle_endpoint_days must be a whole number of days from 1 to 455 (CloudWatch keeps hourly data points 455 days)."
  }
}

variable "idle_endpoint_deletion_prefixes" {
  description = "Endpoint name prefixes (e.g. [\"churn-staging\"]) whose endpoints the build role may delete, output as the repository variable IDLE_ENDPOINT_DELETION_PREFIXES: workflows-templates/idle-endpoints.yml then deletes the idle endpoints of these prefixes on its schedule too (smgha endpoints idle-report --delete --yes --delete-prefix ...), their endpoint configs kept. Empty (the default): no deletion is granted, the report only reads. Never a prefix covering production_endpoint_name_prefix (iam_idle_report.tf)."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for prefix in var.idle_endpoint_deletion_prefixes : can(regex("^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$", prefix))])
    error_message = "Each of idle_endpoint_deletion_prefixes must match SageMaker's endpoint name rule ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$."
  }
}

variable "price_list_api" {
  description = "Let the build role and both deploy roles call pricing:GetProducts (the AWS Price List Query API; Resource \"*\", it has no resource types), so that stages with price-table: aws-price-list price instances at AWS's current list prices (docs/cost.md). false (the default): no grant; those stages say the call was denied and price from the shipped table (iam_price_list.tf)."
  type        = bool
  default     = false
  nullable    = false
}
