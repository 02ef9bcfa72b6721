# What each role may do: exactly the IAM actions its stages call, on the resources they call
# them on. tests/test_iam_least_privilege.py compares, per role, the set of `actions` below
# with the actions the stages really call, and has an IAM policy evaluator judge every call
# of the end-to-end runs (its resource ARNs and condition keys) against these documents as
# Terraform renders them (tests/iam/e2e.tfvars); so keep every action a literal string (no
# wildcards, no variables), one statement per resource scope, each with a sid. To change a
# role's permissions, edit the action lists here; the resources are scoped by account,
# region and the name prefixes in variables.tf.
#
#   build_permissions              model-build's build job: build-pipeline, register-and-gate
#                                  (its registry reads also serve a job on the main branch
#                                  that finds the version to deploy, e.g. a deploy's resolve),
#                                  and the idle endpoints report's reads (idle-endpoints.yml)
#   deploy_staging_permissions     model-deploy's staging job: deploy-endpoint, smoke-test
#   deploy_production_permissions  model-deploy's production job: the above and enable-monitor
#   execution_permissions          the SageMaker execution role of the tooling account, as
#                                  the pipeline: its jobs (processing, training, tuning and
#                                  its trials), RegisterModel
#   hosting_execution_permissions  (iam_hosting_policies.tf) an execution role as the models
#                                  (endpoints), data capture, batch and monitoring jobs of an
#                                  account's endpoints, and reading an update's auto-rollback
#                                  alarms; in one account the tooling execution role has both
#
# With separate accounts (accounts.tf) a deploy role names its own account's resources through
# the local.staging_* / local.production_* ARN bases, and the tooling account's registry and
# bucket through local.sagemaker_arn and the bucket's ARN.

# "*" appears only where the service has no resource-level permission for an action; each
# such statement says so.

# ---- build ------------------------------------------------------------------------------------

data "aws_iam_policy_document" "build_permissions" {
  #checkov:skip=CKV_AWS_356:ModelRegistryList grants sagemaker:ListModelPackages on "*" on purpose: List calls have no resource-level restriction in SageMaker and its resource type is optional, so a scoped statement could never match (see the statement); every other "*" is held to tests/test_terraform.py STAR_RESOURCE_ACTIONS.
  # build-pipeline: upsert the pipeline (tagged), start it, follow the execution's steps.
  # pipeline/<prefix>* also covers its executions (pipeline/<name>/execution/<id>).
  statement {
    sid = "Pipelines"
    actions = [
      "sagemaker:DescribePipeline",
      "sagemaker:CreatePipeline",
      "sagemaker:UpdatePipeline",
      "sagemaker:AddTags",
      "sagemaker:StartPipelineExecution",
      "sagemaker:DescribePipelineExecution",
      "sagemaker:ListPipelineExecutionSteps",
      # from-step without source-execution-arn looks up the latest Succeeded execution.
      # Resource type pipeline* (Service Authorization Reference, Amazon SageMaker,
      # ListPipelineExecutions).
      "sagemaker:ListPipelineExecutions",
    ]
    resources = ["${local.sagemaker_arn}:pipeline/${local.pipeline_prefix}*"]
  }

  # build-pipeline reports a failed step's reason; register-and-gate reads the training job
  # behind a package. SageMaker Pipelines names its jobs pipelines-<execution id>-...
  statement {
    sid = "PipelineJobs"
    actions = [
      "sagemaker:DescribeProcessingJob",
      "sagemaker:DescribeTrainingJob",
    ]
    resources = [
      "${local.sagemaker_arn}:processing-job/pipelines-*",
      "${local.sagemaker_arn}:training-job/pipelines-*",
    ]
  }

  # build-pipeline's time and cost per step: a tuning step's trials, their instances
  # (DescribeHyperParameterTuningJob's training job definitions) and their billed times
  # (ListTrainingJobsForHyperParameterTuningJob's TrainingStartTime and TrainingEndTime), rather
  # than DescribeTrainingJob of each trial: a trial is named <tuning job>-<n>-<hash>, which no
  # training-job/pipelines-* matches, and training-job/* would let this role read every
  # training job of the account. hyper-parameter-tuning-job/*: Pipelines names a tuning job
  # <execution id>-<step name, 8 characters>-<token>, with no fixed prefix to scope it by (the
  # execution role's PipelineTuningJobs statement says why). Read-only.
  statement {
    sid = "PipelineTuningJobsRead"
    actions = [
      "sagemaker:DescribeHyperParameterTuningJob",
      "sagemaker:ListTrainingJobsForHyperParameterTuningJob",
    ]
    resources = ["${local.sagemaker_arn}:hyper-parameter-tuning-job/*"]
  }

  # register-and-gate: find or register the candidate, compare it with the champion, set
  # its approval status and lineage.
  statement {
    sid = "ModelRegistry"
    actions = [
      "sagemaker:DescribeModelPackageGroup",
      "sagemaker:DescribeModelPackage",
      "sagemaker:CreateModelPackage",
      "sagemaker:UpdateModelPackage",
      "sagemaker:AddTags",
    ]
    resources = [
      "${local.sagemaker_arn}:model-package-group/${local.model_package_group}",
      "${local.sagemaker_arn}:model-package/${local.model_package_group}/*",
    ]
  }

  # "*": which resource SageMaker authorizes ListModelPackages against is not documented
  # one way. The Service Authorization Reference gives it the resource type model-package as
  # optional, not required (so some requests are authorized against "*"); the SageMaker API
  # permissions reference says "Except for the ListTags API, resource-level restrictions are
  # not available on List- calls" (awsdocs/amazon-sagemaker-developer-guide,
  # doc_source/api-permissions-reference.md); AWS's own managed policy
  # AmazonSageMakerModelRegistryFullAccess grants it on "*"
  # (https://docs.aws.amazon.com/sagemaker/latest/dg/security-iam-awsmanpol-model-registry.html).
  # A statement scoped to model-package/* would never match a request authorized against "*",
  # and register-and-gate's champion lookup would be AccessDenied. Read-only: it lists the
  # region's package versions (names, status), not their artifacts. docs/aws-fidelity.md.
  statement {
    sid       = "ModelRegistryList"
    actions   = ["sagemaker:ListModelPackages"]
    resources = ["*"]
  }

  # build-pipeline uploads the processing scripts; register-and-gate reads the evaluation
  # report. Objects of the artifact bucket only, and no s3:CreateBucket or
  # s3:ListAllMyBuckets: on the sagemaker backend build-pipeline requires default-bucket
  # (this bucket) instead of the SDK's sagemaker-<region>-<account>, which nothing creates
  # (smgha/stages/__init__.py, ARTIFACT_BUCKET_HINT).
  statement {
    sid = "ArtifactObjects"
    actions = [
      "s3:PutObject",
      "s3:GetObject",
    ]
    resources = ["${aws_s3_bucket.artifacts.arn}/*"]
  }

  # CreatePipeline / UpdatePipeline pass the execution role the pipeline runs as.
  statement {
    sid       = "PassExecutionRole"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.execution.arn]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["sagemaker.amazonaws.com"]
    }
  }

  # smgha endpoints idle-report (workflows-templates/idle-endpoints.yml, a scheduled job on
  # the main branch outside any environment: the subject this role trusts) reads every
  # endpoint of the account and its config: the report is about all of them. Reads only;
  # deleting is iam_idle_report.tf's opt-in policy.
  statement {
    sid = "IdleReportEndpoints"
    actions = [
      "sagemaker:DescribeEndpoint",
      "sagemaker:DescribeEndpointConfig",
    ]
    resources = [
      "${local.sagemaker_arn}:endpoint/*",
      "${local.sagemaker_arn}:endpoint-config/*",
    ]
  }

  # "*": ListEndpoints is a List call, which has no resource-level restriction (SageMaker
  # API permissions reference: "Except for the ListTags API, resource-level restrictions are
  # not available on List- calls"; the Service Authorization Reference gives it no resource
  # type), and GetMetricData has no resource types and no condition keys (Service
  # Authorization Reference, Amazon CloudWatch: GetMetricData): the report's Invocations.
  statement {
    sid = "IdleReportList"
    actions = [
      "sagemaker:ListEndpoints",
      "cloudwatch:GetMetricData",
    ]
    resources = ["*"]
  }
}

# ---- deploy: staging --------------------------------------------------------------------------

data "aws_iam_policy_document" "deploy_staging_permissions" {
  # deploy-endpoint reads the exact package version it deploys, in the tooling account's
  # registry, and creates its model from it. CreateModel on the package: with the package in
  # another account, the SageMaker guide (model-registry-deploy-xaccount.md) grants
  # sagemaker:CreateModel on model-package/<group>/* in the group's resource policy, so
  # SageMaker authorizes CreateModel against the package too. Whether the caller's identity
  # policy must allow it as well, AWS does not say: the stricter reading, it does (and in one
  # account only this statement can allow it). cross_account.tf has the group's policy.
  statement {
    sid = "ModelRegistryRead"
    actions = [
      "sagemaker:DescribeModelPackage",
      "sagemaker:CreateModel",
    ]
    resources = ["${local.sagemaker_arn}:model-package/${local.model_package_group}/*"]
  }

  # deploy-endpoint names a model after the package version: <group>-v<version>.
  statement {
    sid = "Models"
    actions = [
      "sagemaker:DescribeModel",
      "sagemaker:CreateModel",
      "sagemaker:AddTags",
    ]
    resources = ["${local.staging_sagemaker_arn}:model/${local.model_package_group}-v*"]
  }

  # Endpoint configs are <endpoint>-v<version>-<digest>. CreateEndpoint and UpdateEndpoint
  # are authorized on both the endpoint and the config; InvokeEndpoint is smoke-test's, and
  # InvokeEndpointAsync its on an asynchronous endpoint (async-output-s3-uri).
  statement {
    sid = "Endpoints"
    actions = [
      "sagemaker:DescribeEndpointConfig",
      "sagemaker:CreateEndpointConfig",
      "sagemaker:DescribeEndpoint",
      "sagemaker:CreateEndpoint",
      "sagemaker:UpdateEndpoint",
      "sagemaker:InvokeEndpoint",
      "sagemaker:InvokeEndpointAsync",
      "sagemaker:AddTags",
    ]
    resources = [
      "${local.staging_sagemaker_arn}:endpoint/${local.staging_endpoint}*",
      "${local.staging_sagemaker_arn}:endpoint-config/${local.staging_endpoint}*",
    ]
  }

  # model-deploy's remove-staging-after-promotion (smgha endpoints remove): staging is deleted
  # once production succeeded; its endpoint config and model stay, so the next deploy creates
  # it again. Granted with the rest of staging rather than opt-in: this role may already
  # CreateEndpoint and UpdateEndpoint these endpoints to any config, so deleting them gives it
  # no new reach, and the workflow input alone turns the removal on. DeleteEndpoint's resource
  # type is endpoint (Service Authorization Reference, Amazon SageMaker). Production endpoints
  # are never deleted: no deploy role may.
  statement {
    sid       = "RemoveStagingEndpoint"
    actions   = ["sagemaker:DeleteEndpoint"]
    resources = ["${local.staging_sagemaker_arn}:endpoint/${local.staging_endpoint}*"]
  }

  # The rollback alarms deploy-endpoint creates (<endpoint>-invocation-5xx-errors,
  # <endpoint>-model-latency). Staging does not autoscale (model-deploy passes no
  # autoscaling to it), so no target tracking alarms and no scaling permissions here, only
  # the read of ReadEndpointAutoScaling.
  statement {
    sid       = "EndpointAlarms"
    actions   = ["cloudwatch:PutMetricAlarm"]
    resources = ["${local.staging_cloudwatch_alarm_arn}:${local.staging_endpoint}*"]
  }

  # Read-only, and the alarms input may name any alarm of the account (the guardrails of an
  # update), so it is scoped to the account's alarms in the region, not to a prefix.
  statement {
    sid       = "ReadAlarms"
    actions   = ["cloudwatch:DescribeAlarms"]
    resources = ["${local.staging_cloudwatch_alarm_arn}:*"]
  }

  # An update that changes the instance type first reads whether the variant autoscales
  # (SageMaker refuses that update on a scaled variant); staging's does not, so it reads None.
  # The removal reads it too (an autoscaled endpoint is not removed: smgha/endpoint_removal.py).
  # "*": these Read actions have no resource types and no condition keys.
  statement {
    sid = "ReadEndpointAutoScaling"
    actions = [
      "application-autoscaling:DescribeScalableTargets",
      "application-autoscaling:DescribeScalingPolicies",
    ]
    resources = ["*"]
  }

  # batch-transform (model-deploy's batch-* inputs: in staging, after its smoke test). Its job
  # is <group>-v<version>-batch-<digest> (smgha/resources/transform.py) and runs as its
  # model's execution role: CreateTransformJob takes no role, so no PassRole, and no tags.
  statement {
    sid = "BatchTransformJobs"
    actions = [
      "sagemaker:CreateTransformJob",
      "sagemaker:DescribeTransformJob",
      "sagemaker:StopTransformJob",
    ]
    resources = ["${local.staging_sagemaker_arn}:transform-job/${local.model_package_group}-v*"]
  }

  # batch-transform lists the dataset and the job's output (ListObjectsV2 is s3:ListBucket on
  # the bucket, its s3:prefix the listed key prefix), reads them for its checks and writes
  # <output>/_LATEST.json when they pass: under var.batch_prefix of the artifact bucket only,
  # where the execution role the job runs as reads and writes too.
  statement {
    sid       = "BatchTransformBucket"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.artifacts.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.batch_prefix}*"]
    }
  }

  statement {
    sid = "BatchTransformObjects"
    actions = [
      "s3:GetObject",
      "s3:PutObject",
    ]
    resources = ["${aws_s3_bucket.artifacts.arn}/${var.batch_prefix}*"]
  }

  # smoke-test on an asynchronous endpoint uploads its payloads and reads the answers: under
  # the async prefix of the artifact bucket (model-deploy's async-output-s3-uri must be
  # below it; smoke-test's inputs default to <output>/smoke-test-inputs).
  statement {
    sid = "AsyncInferenceObjects"
    actions = [
      "s3:PutObject",
      "s3:GetObject",
    ]
    resources = ["${aws_s3_bucket.artifacts.arn}/${local.async_prefix}/*"]
  }

  # CreateModel passes the execution role the model runs as: the staging account's.
  statement {
    sid       = "PassExecutionRole"
    actions   = ["iam:PassRole"]
    resources = [local.staging_execution_role_arn]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["sagemaker.amazonaws.com"]
    }
  }
}

# ---- deploy: production -----------------------------------------------------------------------

data "aws_iam_policy_document" "deploy_production_permissions" {
  # As staging's: the tooling account's package, and CreateModel from it.
  statement {
    sid = "ModelRegistryRead"
    actions = [
      "sagemaker:DescribeModelPackage",
      "sagemaker:CreateModel",
    ]
    resources = ["${local.sagemaker_arn}:model-package/${local.model_package_group}/*"]
  }

  # In one account models are shared with staging: production deploys the model staging
  # created (or creates it when deployed directly, e.g. a rollback). A separate production
  # account creates its own.
  statement {
    sid = "Models"
    actions = [
      "sagemaker:DescribeModel",
      "sagemaker:CreateModel",
      "sagemaker:AddTags",
    ]
    resources = ["${local.production_sagemaker_arn}:model/${local.model_package_group}-v*"]
  }

  # Also the configs enable-monitor derives to turn data capture on (<config>-dc-<digest>).
  statement {
    sid = "Endpoints"
    actions = [
      "sagemaker:DescribeEndpointConfig",
      "sagemaker:CreateEndpointConfig",
      "sagemaker:DescribeEndpoint",
      "sagemaker:CreateEndpoint",
      "sagemaker:UpdateEndpoint",
      "sagemaker:UpdateEndpointWeightsAndCapacities",
      "sagemaker:InvokeEndpoint",
      "sagemaker:InvokeEndpointAsync",
      "sagemaker:AddTags",
    ]
    resources = [
      "${local.production_sagemaker_arn}:endpoint/${local.production_endpoint}*",
      "${local.production_sagemaker_arn}:endpoint-config/${local.production_endpoint}*",
    ]
  }

  # Rollback alarms, target tracking alarms, enable-monitor's drift alarms
  # (<endpoint>-baseline-drift-<feature>) and an async endpoint's scale-out-from-zero alarm
  # (<endpoint>-has-backlog-without-capacity).
  statement {
    sid = "EndpointAlarms"
    actions = [
      "cloudwatch:PutMetricAlarm",
      "cloudwatch:DeleteAlarms",
    ]
    resources = [
      "${local.production_cloudwatch_alarm_arn}:${local.production_endpoint}*",
      "${local.production_cloudwatch_alarm_arn}:TargetTracking-endpoint/${local.production_endpoint}*",
    ]
  }

  statement {
    sid       = "ReadAlarms"
    actions   = ["cloudwatch:DescribeAlarms"]
    resources = ["${local.production_cloudwatch_alarm_arn}:*"]
  }

  # "*": a scalable target's ARN holds an id assigned on registration (see staging).
  # DeleteScalingPolicy and DeregisterScalableTarget: an update that changes an autoscaled
  # variant's instance type deregisters it first (SageMaker refuses the update otherwise).
  statement {
    sid = "EndpointAutoScaling"
    actions = [
      "application-autoscaling:RegisterScalableTarget",
      "application-autoscaling:PutScalingPolicy",
      "application-autoscaling:DeleteScalingPolicy",
      "application-autoscaling:DeregisterScalableTarget",
    ]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "application-autoscaling:service-namespace"
      values   = ["sagemaker"]
    }
    condition {
      test     = "StringEquals"
      variable = "application-autoscaling:scalable-dimension"
      # A serverless variant scales its Provisioned Concurrency instead of instances
      # (serverless-endpoints-autoscale.html).
      values = [
        "sagemaker:variant:DesiredInstanceCount",
        "sagemaker:variant:DesiredProvisionedConcurrency",
      ]
    }
  }

  # deploy-endpoint reads the variant's scalable target and scaling policies, so a re-run
  # applies changed autoscaling inputs and leaves unchanged ones alone. "*": these Read
  # actions have no resource types and no condition keys (Service Authorization Reference,
  # Application Auto Scaling: DescribeScalableTargets, DescribeScalingPolicies).
  statement {
    sid = "ReadEndpointAutoScaling"
    actions = [
      "application-autoscaling:DescribeScalableTargets",
      "application-autoscaling:DescribeScalingPolicies",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "AutoScalingServiceLinkedRole"
    actions   = ["iam:CreateServiceLinkedRole"]
    resources = ["arn:${local.partition}:iam::${local.production_account_id}:role/aws-service-role/sagemaker.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"]
    condition {
      test     = "StringEquals"
      variable = "iam:AWSServiceName"
      values   = ["sagemaker.application-autoscaling.amazonaws.com"]
    }
  }

  # enable-monitor: the data-quality job definition (<endpoint>-data-quality-<digest>, a
  # changed one replaces the old) and the schedule (<endpoint>-data-quality); with
  # model-quality: true also <endpoint>-model-quality-<digest> and <endpoint>-model-quality.
  statement {
    sid = "Monitoring"
    actions = [
      "sagemaker:CreateDataQualityJobDefinition",
      "sagemaker:DescribeDataQualityJobDefinition",
      "sagemaker:DeleteDataQualityJobDefinition",
      "sagemaker:CreateModelQualityJobDefinition",
      "sagemaker:DescribeModelQualityJobDefinition",
      "sagemaker:DeleteModelQualityJobDefinition",
      "sagemaker:CreateMonitoringSchedule",
      "sagemaker:DescribeMonitoringSchedule",
      "sagemaker:UpdateMonitoringSchedule",
      "sagemaker:AddTags",
    ]
    resources = [
      "${local.production_sagemaker_arn}:data-quality-job-definition/${local.production_endpoint}*",
      "${local.production_sagemaker_arn}:model-quality-job-definition/${local.production_endpoint}*",
      "${local.production_sagemaker_arn}:monitoring-schedule/${local.production_endpoint}*",
    ]
  }

  # enable-monitor's baselining job, when the baseline is computed as a job
  # (<endpoint>-baseline-<digest>).
  statement {
    sid = "BaselineJob"
    actions = [
      "sagemaker:CreateProcessingJob",
      "sagemaker:DescribeProcessingJob",
      "sagemaker:AddTags",
    ]
    resources = ["${local.production_sagemaker_arn}:processing-job/${local.production_endpoint}*"]
  }

  # enable-monitor reads the training data and writes the baseline (statistics.json,
  # constraints.json) under output-s3-uri, which the sagemaker backend requires: a prefix
  # of this bucket (no sagemaker-<region>-<account> default).
  statement {
    sid = "ArtifactObjects"
    actions = [
      "s3:PutObject",
      "s3:GetObject",
    ]
    resources = ["${aws_s3_bucket.artifacts.arn}/*"]
  }

  # shadow-test (model-deploy's production-shadow path) lists both variants' data capture
  # files: SageMaker writes them under <DestinationS3Uri>/<EndpointName>/<VariantName>/
  # (model-monitor-data-capture-endpoint.html), so only prefixes naming the production
  # endpoint are listed. The files themselves are read with ArtifactObjects' s3:GetObject.
  statement {
    sid       = "ListShadowCapture"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.artifacts.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.production_endpoint}*/*", "*/${local.production_endpoint}*/*"]
    }
  }

  # shadow-test reads each variant's invocation metrics (ModelLatency percentiles, errors).
  # "*": GetMetricData has no resource types and no condition keys (Service Authorization
  # Reference, Amazon CloudWatch: GetMetricData).
  statement {
    sid       = "ReadVariantMetrics"
    actions   = ["cloudwatch:GetMetricData"]
    resources = ["*"]
  }

  # CreateModel, CreateDataQualityJobDefinition, CreateModelQualityJobDefinition and
  # CreateProcessingJob pass the execution role: the production account's.
  statement {
    sid       = "PassExecutionRole"
    actions   = ["iam:PassRole"]
    resources = [local.production_execution_role_arn]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["sagemaker.amazonaws.com"]
    }
  }
}

# ---- SageMaker execution role -----------------------------------------------------------------

# What the pipeline does as the tooling account's execution role. The endpoints' models, batch
# and monitoring jobs are hosting_execution_permissions' (iam_hosting_policies.tf): in one
# account the role has both, and together they are what this one document held before the
# accounts split (tests/test_terraform_accounts.py checks it).
data "aws_iam_policy_document" "execution_permissions" {
  # Processing and training jobs list their S3 input prefixes.
  statement {
    sid = "ArtifactBucket"
    actions = [
      "s3:ListBucket",
      "s3:GetBucketLocation",
    ]
    resources = [aws_s3_bucket.artifacts.arn]
  }

  # Job inputs and outputs, model artifacts.
  statement {
    sid = "ArtifactObjects"
    actions = [
      "s3:GetObject",
      "s3:PutObject",
      "s3:AbortMultipartUpload",
    ]
    resources = ["${aws_s3_bucket.artifacts.arn}/*"]
  }

  # "*": GetAuthorizationToken has no resource-level permissions. Its own statement, so the
  # pulls below stay scoped.
  statement {
    sid       = "EcrAuthorization"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid = "EcrPull"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:GetDownloadUrlForLayer",
      "ecr:BatchGetImage",
    ]
    resources = local.ecr_repository_arns
  }

  # The pipeline's job logs.
  statement {
    sid = "Logs"
    actions = [
      "logs:CreateLogGroup",
      "logs:CreateLogStream",
      "logs:DescribeLogStreams",
      "logs:PutLogEvents",
    ]
    resources = [
      "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/sagemaker/*",
      "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/sagemaker/*:log-stream:*",
    ]
  }

  # "*": PutMetricData has no resource-level permissions; the condition limits it to
  # SageMaker's namespaces (training metrics, Model Monitor's aws/sagemaker/Endpoints/...).
  statement {
    sid       = "Metrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]
    condition {
      test     = "StringLike"
      variable = "cloudwatch:namespace"
      values   = ["aws/sagemaker/*", "/aws/sagemaker/*"]
    }
  }

  # The pipeline runs as this role: its steps start processing and training jobs
  # (pipelines-<execution id>-...), tagged, read them for the steps' properties, and stopping
  # an execution stops them.
  statement {
    sid = "PipelineJobs"
    actions = [
      "sagemaker:CreateProcessingJob",
      "sagemaker:DescribeProcessingJob",
      "sagemaker:StopProcessingJob",
      "sagemaker:CreateTrainingJob",
      "sagemaker:DescribeTrainingJob",
      "sagemaker:StopTrainingJob",
      "sagemaker:AddTags",
    ]
    resources = [
      "${local.sagemaker_arn}:processing-job/pipelines-*",
      "${local.sagemaker_arn}:training-job/pipelines-*",
    ]
  }

  # The pipeline's tuning steps (a TuningStep, e.g. ml.sklearn_pipeline:get_tuning_pipeline):
  # Pipelines creates the tuning job (tagged), describes it and lists its trials for the step's
  # properties (TrainingJobSummaries, which get_top_model_s3_uri reads), and stops it when the
  # execution is stopped. The trials are training jobs the tuning service starts itself, as
  # this role: they need the S3, ECR, Logs and Metrics statements above, not
  # sagemaker:CreateTrainingJob (SageMaker guide, sagemaker-roles.md, "CreateHyperParameter-
  # TuningJob API: Execution Role Permissions"). hyper-parameter-tuning-job/*: Pipelines names
  # a tuning job <execution id>-<step name, 8 characters>-<token>, not pipelines-..., because a
  # tuning job's name has at most 32 characters; no fixed prefix exists to scope it by
  # (tests/iam_arns.py, pipeline_tuning_job_name, has the sources). So the scope is the
  # account's tuning jobs in the region.
  statement {
    sid = "PipelineTuningJobs"
    actions = [
      "sagemaker:CreateHyperParameterTuningJob",
      "sagemaker:DescribeHyperParameterTuningJob",
      "sagemaker:ListTrainingJobsForHyperParameterTuningJob",
      "sagemaker:StopHyperParameterTuningJob",
      "sagemaker:AddTags",
    ]
    resources = ["${local.sagemaker_arn}:hyper-parameter-tuning-job/*"]
  }

  # The pipeline's RegisterModel step registers the candidate in the group.
  statement {
    sid = "RegisterModel"
    actions = [
      "sagemaker:CreateModelPackage",
      "sagemaker:DescribeModelPackage",
      "sagemaker:AddTags",
    ]
    resources = [
      "${local.sagemaker_arn}:model-package-group/${local.model_package_group}",
      "${local.sagemaker_arn}:model-package/${local.model_package_group}/*",
    ]
  }

  # The pipeline passes this role on to the jobs it starts.
  statement {
    sid       = "PassExecutionRole"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.execution.arn]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["sagemaker.amazonaws.com"]
    }
  }
}

# ---- bucket key (kms_key_arn, or the key made for separate accounts) ---------------------------

# Not one of the documents the least-privilege test compares: these calls are made by S3 on a
# role's behalf when it reads or writes an object, never by a stage.
data "aws_iam_policy_document" "bucket_key_permissions" {
  count = local.customer_managed_artifact_key ? 1 : 0

  statement {
    sid = "BucketKeyThroughS3"
    actions = [
      "kms:Decrypt",
      "kms:GenerateDataKey",
    ]
    resources = [local.artifact_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }
  }
}
