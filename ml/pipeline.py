"""SageMaker Pipeline for the churn model, built with the SageMaker Python SDK v3.

    PreprocessData -> TrainModel -> EvaluateModel -> CheckAccuracy
                                                       |-- accuracy >= threshold: RegisterModel
                                                       |-- otherwise: AccuracyBelowThreshold

This file is a template: teams fork the repository and edit it. It only *describes*
the pipeline; nothing runs until the definition is upserted and an execution started.

Usage::

    pipeline = get_pipeline(region="us-east-1", role=ROLE_ARN, default_bucket=BUCKET)
    pipeline.upsert(role_arn=ROLE_ARN)

Things to know before editing:

* Import needs a region: importing the SDK's ``sagemaker.mlops``/``sagemaker.serve``
  modules creates a boto3 client at import time, so set ``AWS_DEFAULT_REGION`` (or
  ``AWS_REGION``) in the environment before importing this module.
* Building the definition is not free of AWS calls. ``get_pipeline()`` itself makes
  none (except the IAM checks below), but ``pipeline.definition()`` (called by
  ``upsert()``/``create()``) uploads ``ml/preprocess.py`` and ``ml/evaluate.py`` to
  ``s3://<default_bucket>/<pipeline_name>/code/<sha256>/<file name>`` and lists the
  account's buckets to check that ``default_bucket`` exists (s3:ListAllMyBuckets,
  s3:PutObject). ``tests/test_pipeline_definition.py`` pins the exact calls.
* ``ModelTrainer`` checks the execution role with iam:SimulatePrincipalPolicy and
  iam:GetRole when it is created, unless ``SAGEMAKER_VALIDATE_ROLE=false``.
* The SDK sends usage telemetry (an HTTPS GET plus sts:GetCallerIdentity, on background
  threads) for each processor/trainer/model call, unless ``TelemetryOptOut`` is set in the
  SageMaker SDK config file.
* Script paths and the working directory: the S3 prefix of each script is a SHA-256 of the
  path *string* plus the file content. The scripts are therefore given RELATIVE to the
  repository root (``ml/preprocess.py``): an absolute path would put the checkout
  directory into the hash and the definition would differ on every machine. The relative
  paths are read when the definition is built, so the returned pipeline switches to the
  repository root while it builds its definition; ``get_pipeline`` can be called from any
  working directory. (That switch uses ``os.chdir``: do not build definitions from several
  threads at once.)
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from sagemaker.core import image_uris
from sagemaker.core.model_metrics import MetricsSource, ModelMetrics
from sagemaker.core.processing import ScriptProcessor
from sagemaker.core.shapes import (
    Channel,
    DataSource,
    ProcessingInput,
    ProcessingOutput,
    ProcessingS3Input,
    ProcessingS3Output,
    S3DataSource,
)
from sagemaker.core.training.configs import (
    CheckpointConfig,
    Compute,
    OutputDataConfig,
    StoppingCondition,
)
from sagemaker.core.workflow.conditions import ConditionGreaterThanOrEqualTo
from sagemaker.core.workflow.execution_variables import ExecutionVariables
from sagemaker.core.workflow.functions import Join, JsonGet
from sagemaker.core.workflow.parameters import (
    Parameter,
    ParameterFloat,
    ParameterInteger,
    ParameterString,
)
from sagemaker.core.workflow.pipeline_context import PipelineSession
from sagemaker.core.workflow.properties import PropertyFile
from sagemaker.mlops.workflow.condition_step import ConditionStep
from sagemaker.mlops.workflow.fail_step import FailStep
from sagemaker.mlops.workflow.model_step import ModelStep
from sagemaker.mlops.workflow.pipeline import Pipeline
from sagemaker.mlops.workflow.steps import CacheConfig, ProcessingStep, Step, TrainingStep
from sagemaker.serve.model_builder import ModelBuilder
from sagemaker.train.model_trainer import ModelTrainer

# The repository root: this file is <root>/ml/pipeline.py.
REPO_ROOT = Path(__file__).resolve().parent.parent

# Scripts run by the processing steps, relative to REPO_ROOT (see the module docstring).
PREPROCESS_SCRIPT = "ml/preprocess.py"
EVALUATE_SCRIPT = "ml/evaluate.py"

# Container image versions. The URIs are looked up offline in tables bundled with the SDK.
SKLEARN_VERSION = "1.2-1"
XGBOOST_VERSION = "1.7-1"

# Root of the processing containers' input/output directories.
PROCESSING_DIR = "/opt/ml/processing"

# Step caching for the processing and training steps: SageMaker reuses a step's previous
# successful run (within ExpireAfter, ISO 8601) when the step's cache key attributes are
# unchanged: for a processing step AppSpecification, Environment and ProcessingInputs (which
# hold the script's S3 URI); for a training step AlgorithmSpecification, Environment,
# HyperParameters and InputDataConfig, among others (SageMaker Developer Guide, "Default cache
# key attributes by pipeline step type", docs.aws.amazon.com/sagemaker/latest/dg/
# pipelines-caching.html). The scripts' S3 URIs depend on their content only (see the module
# docstring) and the arguments hold no per-run value, so a commit that changes one script
# reruns only the step that runs it and the steps that read its outputs
# (tests/test_pipeline_definition.py, test_a_changed_script_changes_only_its_steps_cache_key).
STEP_CACHE = CacheConfig(enable_caching=True, expire_after="P30D")

# Managed spot training (get_pipeline's `spot`, off by default): the training job runs on
# spare capacity, billed only for the seconds it ran, and may be interrupted and resumed. What
# CreateTrainingJob then needs (botocore's sagemaker model; SageMaker Developer Guide,
# "Managed Spot Training", docs.aws.amazon.com/sagemaker/latest/dg/model-managed-spot-training.html):
# EnableManagedSpotTraining: true; StoppingCondition.MaxWaitTimeInSeconds, "the amount of time
# spent waiting for Spot capacity plus the amount of time the job can run. It must be equal to
# or greater than MaxRuntimeInSeconds"; and CheckpointConfig.S3Uri, where SageMaker copies
# /opt/ml/checkpoints while the job runs and from where it restores it when the job resumes.
# The reference model trains in minutes: one hour of running, two hours in all.
SPOT_MAX_RUN_SECONDS = 3600
SPOT_MAX_WAIT_SECONDS = 2 * 3600


def get_pipeline(
    region: str,
    role: str,
    default_bucket: str,
    pipeline_name: str = "churn",
    model_package_group_name: str = "churn-models",
    base_job_prefix: str = "churn",
    sagemaker_session=None,
    spot: bool = False,
) -> Pipeline:
    """Return the churn training pipeline, trained by SageMaker's built-in XGBoost algorithm.

    Args:
        region: AWS region, e.g. "us-east-1" (image URIs and the session's region).
        role: ARN of the IAM role the SageMaker jobs run as.
        default_bucket: S3 bucket for the code, the data and the artifacts.
        pipeline_name: Name of the SageMaker pipeline (also the S3 prefix of the code
            and of the processing outputs).
        model_package_group_name: Model registry group the model is registered in.
        base_job_prefix: S3 prefix for the input data and the trained models.
        sagemaker_session: A PipelineSession. When None, one is created for `region`
            and `default_bucket` (the tests pass one that answers AWS calls locally).
        spot: Train with managed spot training (see SPOT_MAX_RUN_SECONDS); build-pipeline
            passes only its own arguments, so get_spot_pipeline is this with spot set.
    """
    churn = Churn.create(region, role, default_bucket, base_job_prefix, sagemaker_session)
    churn.spot = spot
    return churn.pipeline(pipeline_name, model_package_group_name, xgboost_algorithm(churn))


# get_pipeline with managed spot training (definition: ml.pipeline:get_spot_pipeline).
# build-pipeline passes only its own arguments (smgha/definition.py reads the signature, which
# a partial keeps), so spot is set here.
get_spot_pipeline = functools.partial(get_pipeline, spot=True)


def xgboost_algorithm(churn: Churn) -> Algorithm:
    """The built-in XGBoost algorithm: an image and hyperparameters, no training script."""
    # Each hyperparameter is a pipeline parameter: it can be overridden per execution.
    max_depth = ParameterInteger(name="MaxDepth", default_value=5)
    eta = ParameterFloat(name="Eta", default_value=0.2)
    num_round = ParameterInteger(name="NumRound", default_value=100)
    subsample = ParameterFloat(name="Subsample", default_value=0.8)
    min_child_weight = ParameterInteger(name="MinChildWeight", default_value=1)
    # More than one instance trains as distributed XGBoost, each instance on its share of
    # the train channel's objects (csv_channels): docs/scaling.md says when that pays.
    instance_count = ParameterInteger(name="TrainingInstanceCount", default_value=1)
    xgboost_image = image_uris.retrieve(
        framework="xgboost", region=churn.region, version=XGBOOST_VERSION
    )

    def train(train_data, validation_data) -> Training:
        trainer = ModelTrainer(
            training_image=xgboost_image,
            role=churn.role,
            base_job_name=f"{churn.base_job_prefix}-train",
            compute=Compute(
                instance_type=churn.training_instance_type,
                instance_count=instance_count,
                enable_managed_spot_training=churn.spot or None,
            ),
            output_data_config=OutputDataConfig(s3_output_path=churn.models_uri),
            **churn.spot_settings("TrainModel"),
            hyperparameters={
                "objective": "binary:logistic",
                "eval_metric": "auc",
                # The training API takes hyperparameters as strings: to_string() converts
                # the numeric parameters when the pipeline runs.
                "num_round": num_round.to_string(),
                "max_depth": max_depth.to_string(),
                "eta": eta.to_string(),
                "subsample": subsample.to_string(),
                "min_child_weight": min_child_weight.to_string(),
            },
            sagemaker_session=churn.session,
        )
        step = TrainingStep(
            name="TrainModel",
            step_args=trainer.train(input_data_config=csv_channels(train_data, validation_data)),
            cache_config=STEP_CACHE,
        )
        return Training(step, step.properties.ModelArtifacts.S3ModelArtifacts)

    return Algorithm(
        parameters=[max_depth, eta, num_round, subsample, min_child_weight, instance_count],
        train=train,
        # The XGBoost image has xgboost, pandas and scikit-learn: what ml/evaluate.py needs.
        evaluation_image=xgboost_image,
        serving_image=xgboost_image,
        # No script: the container serves the built-in algorithm (see Churn.register_step).
        serving_environment={},
    )


@dataclass
class Training:
    """An algorithm's training step and where the model archive it produces will be."""

    step: Step
    model_data: Any  # the S3 URI of model.tar.gz: a property of the step


@dataclass
class Algorithm:
    """What changes with the algorithm; the rest of the churn pipeline stays the same."""

    parameters: list[Parameter]  # its hyperparameters, as pipeline parameters
    train: Callable[[Any, Any], Training]  # (train split URI, validation split URI) -> Training
    evaluation_image: str  # the image ml/evaluate.py runs in: it must load the model
    serving_image: str  # the image the registered model is served by
    serving_environment: dict[str, str]  # the serving container's environment


@dataclass
class Churn:
    """The churn pipeline's fixed parts: its settings, its shared parameters and its steps
    around the training (preprocess before it; evaluate, check and register after it)."""

    region: str
    role: str
    default_bucket: str
    base_job_prefix: str
    session: PipelineSession
    # Each parameter can be overridden when an execution is started.
    input_data_url: ParameterString
    processing_instance_type: ParameterString
    processing_instance_count: ParameterInteger
    training_instance_type: ParameterString
    model_approval_status: ParameterString
    accuracy_threshold: ParameterFloat
    spot: bool = False  # managed spot training for the training step (SPOT_MAX_RUN_SECONDS)

    @classmethod
    def create(
        cls, region: str, role: str, default_bucket: str, base_job_prefix: str, session=None
    ) -> Churn:
        if session is None:
            session = PipelineSession(
                boto_session=boto3.Session(region_name=region), default_bucket=default_bucket
            )
        return cls(
            region=region,
            role=role,
            default_bucket=default_bucket,
            base_job_prefix=base_job_prefix,
            session=session,
            input_data_url=ParameterString(
                name="InputDataUrl",
                default_value=f"s3://{default_bucket}/{base_job_prefix}/data/churn.csv",
            ),
            processing_instance_type=ParameterString(
                name="ProcessingInstanceType", default_value="ml.m5.xlarge"
            ),
            # Each processing step runs on this many instances. ml/preprocess.py and
            # ml/evaluate.py read all of their input and write the same files on every
            # instance, so more than one only repeats their work: a script of your own that
            # reads a ShardedByS3Key input and names its outputs by host scales out.
            processing_instance_count=ParameterInteger(
                name="ProcessingInstanceCount", default_value=1
            ),
            training_instance_type=ParameterString(
                name="TrainingInstanceType", default_value="ml.m5.xlarge"
            ),
            model_approval_status=ParameterString(
                name="ModelApprovalStatus", default_value="PendingManualApproval"
            ),
            accuracy_threshold=ParameterFloat(name="AccuracyThreshold", default_value=0.8),
        )

    @property
    def models_prefix(self) -> str:
        """The key prefix, in default_bucket, under which training jobs write their models."""
        return f"{self.base_job_prefix}/models"

    @property
    def models_uri(self) -> str:
        return f"s3://{self.default_bucket}/{self.models_prefix}"

    def spot_settings(self, step_name: str) -> dict[str, Any]:
        """ModelTrainer's stopping_condition and checkpoint_config with spot on (nothing
        otherwise: the definition stays as it was without spot; the Compute carries the flag).

        The checkpoints go under the default bucket, one prefix per execution and step:
        SageMaker restores whatever is under S3Uri into /opt/ml/checkpoints when the job
        starts, and the built-in XGBoost resumes from the newest checkpoint it finds there and
        trains only the rounds left (aws/sagemaker-xgboost-container, src/
        sagemaker_xgboost_container/checkpointing.py: load_checkpoint, train), so a prefix
        shared by executions would resume a new execution from an old model. The price:
        CheckpointConfig is a cache key attribute of a training step (pipelines-caching.html),
        so with spot on the training step is never reused from an earlier execution."""
        if not self.spot:
            return {}
        checkpoints = Join(
            on="/",
            values=[
                f"s3://{self.default_bucket}/{self.base_job_prefix}/checkpoints",
                ExecutionVariables.PIPELINE_EXECUTION_ID,
                step_name,
            ],
        )
        return {
            "stopping_condition": StoppingCondition(
                max_runtime_in_seconds=SPOT_MAX_RUN_SECONDS,
                max_wait_time_in_seconds=SPOT_MAX_WAIT_SECONDS,
            ),
            "checkpoint_config": CheckpointConfig(s3_uri=checkpoints),
        }

    @property
    def sklearn_image(self) -> str:
        return image_uris.retrieve(
            framework="sklearn",
            region=self.region,
            version=SKLEARN_VERSION,
            py_version="py3",
            instance_type="ml.m5.xlarge",
        )

    def pipeline(
        self, pipeline_name: str, model_package_group_name: str, algorithm: Algorithm
    ) -> Pipeline:
        """PreprocessData -> the algorithm's training -> EvaluateModel -> CheckAccuracy."""
        step_preprocess = self.preprocess_step()
        splits = step_preprocess.properties.ProcessingOutputConfig.Outputs
        training = algorithm.train(
            splits["train"].S3Output.S3Uri, splits["validation"].S3Output.S3Uri
        )
        step_evaluate, evaluation_report = self.evaluate_step(
            algorithm.evaluation_image, training.model_data, splits["test"].S3Output.S3Uri
        )
        step_register = self.register_step(
            model_package_group_name, algorithm, training.model_data, step_evaluate
        )
        step_check = self.check_step(step_evaluate, evaluation_report, step_register)
        return _RepoRootPipeline(
            name=pipeline_name,
            parameters=[
                self.input_data_url,
                self.processing_instance_type,
                self.processing_instance_count,
                self.training_instance_type,
                self.model_approval_status,
                self.accuracy_threshold,
                *algorithm.parameters,
            ],
            # The steps inside CheckAccuracy (register/fail) must not be listed here.
            steps=[step_preprocess, training.step, step_evaluate, step_check],
            sagemaker_session=self.session,
        )

    def preprocess_step(self) -> ProcessingStep:
        """Splits the raw CSV into train/validation/test. Under a PipelineSession, run()
        starts no job: it returns the arguments of the step."""
        preprocessor = ScriptProcessor(
            role=self.role,
            image_uri=self.sklearn_image,
            command=["python3"],
            instance_type=self.processing_instance_type,
            instance_count=self.processing_instance_count,
            base_job_name=f"{self.base_job_prefix}-preprocess",
            sagemaker_session=self.session,
        )
        return ProcessingStep(
            name="PreprocessData",
            step_args=preprocessor.run(
                # Pass `code` by keyword: the SDK hashes it (for a stable S3 location) only
                # then; passed positionally it lands under a timestamped job name instead.
                code=PREPROCESS_SCRIPT,
                # The SDK also mounts the script at /opt/ml/processing/input/code/, so the
                # input directory holds a `code/` subdirectory next to the data.
                inputs=[_s3_input("input", self.input_data_url, f"{PROCESSING_DIR}/input")],
                outputs=[
                    _s3_output("train", f"{PROCESSING_DIR}/train"),
                    _s3_output("validation", f"{PROCESSING_DIR}/validation"),
                    _s3_output("test", f"{PROCESSING_DIR}/test"),
                ],
                arguments=[
                    "--input-dir",
                    f"{PROCESSING_DIR}/input",
                    "--output-dir",
                    PROCESSING_DIR,
                ],
            ),
            cache_config=STEP_CACHE,
        )

    def evaluate_step(
        self, image: str, model_data, test_data
    ) -> tuple[ProcessingStep, PropertyFile]:
        """Scores the model on the test split and writes evaluation.json, which the
        CheckAccuracy step reads through the returned property file."""
        evaluation_report = PropertyFile(
            name="EvaluationReport", output_name="evaluation", path="evaluation.json"
        )
        evaluator = ScriptProcessor(
            role=self.role,
            image_uri=image,
            command=["python3"],
            instance_type=self.processing_instance_type,
            instance_count=self.processing_instance_count,
            base_job_name=f"{self.base_job_prefix}-evaluate",
            sagemaker_session=self.session,
        )
        step = ProcessingStep(
            name="EvaluateModel",
            step_args=evaluator.run(
                code=EVALUATE_SCRIPT,
                inputs=[
                    _s3_input("model", model_data, f"{PROCESSING_DIR}/model"),
                    _s3_input("test", test_data, f"{PROCESSING_DIR}/test"),
                ],
                outputs=[_s3_output("evaluation", f"{PROCESSING_DIR}/evaluation")],
                arguments=[
                    "--model-dir",
                    f"{PROCESSING_DIR}/model",
                    "--test-dir",
                    f"{PROCESSING_DIR}/test",
                    "--output-dir",
                    f"{PROCESSING_DIR}/evaluation",
                ],
            ),
            property_files=[evaluation_report],
            cache_config=STEP_CACHE,
        )
        return step, evaluation_report

    def register_step(
        self,
        model_package_group_name: str,
        algorithm: Algorithm,
        model_data,
        step_evaluate: ProcessingStep,
    ) -> ModelStep:
        """Registers the trained model (serving image + model.tar.gz) in the model registry,
        with the evaluation report attached as its model-quality statistics."""
        evaluation_s3_uri = step_evaluate.properties.ProcessingOutputConfig.Outputs[
            "evaluation"
        ].S3Output.S3Uri
        model_metrics = ModelMetrics(
            model_statistics=MetricsSource(
                s3_uri=Join(on="/", values=[evaluation_s3_uri, "evaluation.json"]),
                content_type="application/json",
            )
        )
        model = ModelBuilder(
            image_uri=algorithm.serving_image,
            s3_model_data_url=model_data,
            role_arn=self.role,
            sagemaker_session=self.session,
            # Without this the SDK adds script-mode variables with EMPTY values
            # (SAGEMAKER_PROGRAM="", SAGEMAKER_SUBMIT_DIRECTORY="") to the container, and the
            # XGBoost container treats any SAGEMAKER_PROGRAM as a user script to import: the
            # endpoint fails its health check, and deploy-endpoint refuses such a package
            # (sources in smgha/serving_container.py). A script-mode algorithm names its
            # script in serving_environment instead.
            dependencies=None,
            env_vars=dict(algorithm.serving_environment),
        )
        return ModelStep(
            name="RegisterModel",
            step_args=model.register(
                model_package_group_name=model_package_group_name,
                approval_status=self.model_approval_status,
                content_types=["text/csv"],
                response_types=["text/csv"],
                inference_instances=["ml.m5.large", "ml.m5.xlarge"],
                transform_instances=["ml.m5.xlarge"],
                model_metrics=model_metrics,
            ),
        )

    def check_step(
        self, step_evaluate: ProcessingStep, evaluation_report: PropertyFile, step_register
    ) -> ConditionStep:
        """Registers the model when its test accuracy reaches AccuracyThreshold, else fails."""
        accuracy = JsonGet(
            step_name=step_evaluate.name,
            property_file=evaluation_report,
            json_path="binary_classification_metrics.accuracy.value",
        )
        step_fail = FailStep(
            name="AccuracyBelowThreshold",
            error_message=Join(
                on=" ",
                values=[
                    "Model accuracy",
                    accuracy,
                    "is below the threshold",
                    self.accuracy_threshold,
                ],
            ),
        )
        return ConditionStep(
            name="CheckAccuracy",
            conditions=[
                ConditionGreaterThanOrEqualTo(left=accuracy, right=self.accuracy_threshold)
            ],
            if_steps=[step_register],
            else_steps=[step_fail],
        )


def csv_channels(train_data, validation_data) -> list[Channel]:
    """The train and validation splits as a training job's two CSV channels.

    On several instances each one trains on its share of the train split's objects
    (ShardedByS3Key: "each instance gets approximately 1/n of the number of S3 objects",
    the S3DataSource API reference) and evaluates on all of the validation split
    (FullyReplicated): the built-in XGBoost container leaves an instance without validation
    data out of the training (aws/sagemaker-xgboost-container, algorithm_mode/train.py).
    On one instance both give it everything.
    """
    return [
        _csv_channel("train", train_data, "ShardedByS3Key"),
        _csv_channel("validation", validation_data, "FullyReplicated"),
    ]


def _csv_channel(name: str, s3_uri, distribution: str) -> Channel:
    return Channel(
        channel_name=name,
        data_source=DataSource(
            s3_data_source=S3DataSource(
                s3_uri=s3_uri, s3_data_type="S3Prefix", s3_data_distribution_type=distribution
            )
        ),
        content_type="text/csv",
        input_mode="File",
    )


def _s3_input(name: str, s3_uri, local_path: str) -> ProcessingInput:
    """An S3 prefix that SageMaker downloads into the container at `local_path`."""
    return ProcessingInput(
        input_name=name,
        s3_input=ProcessingS3Input(
            s3_uri=s3_uri,
            local_path=local_path,
            s3_data_type="S3Prefix",
            s3_input_mode="File",
        ),
    )


def _s3_output(name: str, local_path: str) -> ProcessingOutput:
    """A container directory that SageMaker uploads to S3 when the job ends.

    A non-S3 `s3_uri` asks the SDK to choose the location:
    s3://<bucket>/<pipeline name>/<execution id>/<step name>/output/<name>.
    """
    return ProcessingOutput(
        output_name=name,
        s3_output=ProcessingS3Output(
            s3_uri=local_path, local_path=local_path, s3_upload_mode="EndOfJob"
        ),
    )


class _RepoRootPipeline(Pipeline):
    """A Pipeline that builds its definition with REPO_ROOT as the working directory.

    The SDK reads and hashes the relative script paths only while it builds the
    definition, which upsert()/create()/update() also go through.
    """

    def definition(self) -> str:
        with _working_directory(REPO_ROOT):
            return super().definition()


@contextlib.contextmanager
def _working_directory(path: Path) -> Iterator[None]:
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)
