"""The churn pipeline with a scikit-learn model trained and served in script mode.

    PreprocessData -> TrainModel -> EvaluateModel -> CheckAccuracy -> RegisterModel
                      (train.py)                                      (inference.py)

The same data, preprocessing, evaluation, accuracy check and registry as ml/pipeline.py; only
the algorithm differs. It is a script of your own, ml/sklearn_model/train.py, run in
SageMaker's scikit-learn framework container, and the registered model is served by the
same container through ml/sklearn_model/inference.py. Use it as a template for any framework
model: a `train.py` and an `inference.py` in a source folder, a framework image for each.

    definition: ml.sklearn_pipeline:get_pipeline          # build-pipeline's input
    definition: ml.sklearn_pipeline:get_tuning_pipeline   # the same, with a tuning step
    definition: ml.sklearn_pipeline:get_spot_tuning_pipeline   # its trials on managed spot

`get_tuning_pipeline` replaces TrainModel by TuneModel, a hyperparameter tuning job over
learning rate and tree depth that maximises the validation AUC train.py prints; the best
trial's model is evaluated and registered.

ml/pipeline.py's docstring says what building a definition costs and where the code lands.
"""

from __future__ import annotations

import functools

from sagemaker.core.parameter import ContinuousParameter, IntegerParameter
from sagemaker.core.shapes import MetricDefinition
from sagemaker.core.training.configs import Compute, OutputDataConfig, SourceCode
from sagemaker.core.workflow.parameters import ParameterFloat, ParameterInteger
from sagemaker.mlops.workflow.pipeline import Pipeline
from sagemaker.mlops.workflow.steps import TrainingStep, TuningStep
from sagemaker.train.model_trainer import ModelTrainer
from sagemaker.train.tuner import HyperparameterTuner

from ml.pipeline import Algorithm, Churn, Training, csv_channels

# The source folder SageMaker unpacks into the container (relative to the repository root:
# see ml/pipeline.py's docstring), and the scripts in it.
SOURCE_DIR = "ml/sklearn_model"
TRAIN_SCRIPT = "train.py"
INFERENCE_SCRIPT = "inference.py"
# train.py copies inference.py into the model's code/ folder, which the serving container
# reads from /opt/ml/model/code: the model archive serves itself, no repack job is needed.
SERVING_ENVIRONMENT = {
    "SAGEMAKER_PROGRAM": INFERENCE_SCRIPT,
    "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
}
# The training job's metrics, read from train.py's log.
METRIC_DEFINITIONS = [
    {"Name": f"{split}:{metric}", "Regex": f"{split}:{metric}=([0-9.]+)"}
    for split in ("train", "validation")
    for metric in ("auc", "accuracy")
]
OBJECTIVE_METRIC = "validation:auc"
# What a tuning job may run: SageMaker bills each trial as a training job.
MAX_TRIALS = 6
MAX_PARALLEL_TRIALS = 2


def get_pipeline(
    region: str,
    role: str,
    default_bucket: str,
    pipeline_name: str = "churn-sklearn",
    model_package_group_name: str = "churn-models",
    base_job_prefix: str = "churn",
    sagemaker_session=None,
    spot: bool = False,
) -> Pipeline:
    """Return the churn pipeline with the scikit-learn model (ml/pipeline.py's arguments,
    `spot` too: managed spot training, ml.pipeline.SPOT_MAX_RUN_SECONDS)."""
    churn = Churn.create(region, role, default_bucket, base_job_prefix, sagemaker_session)
    churn.spot = spot
    return churn.pipeline(pipeline_name, model_package_group_name, sklearn_algorithm(churn))


# get_pipeline with managed spot training (definition: ml.sklearn_pipeline:get_spot_pipeline).
# build-pipeline passes only its own arguments (smgha/definition.py reads the signature, which
# a partial keeps), so spot is set here.
get_spot_pipeline = functools.partial(get_pipeline, spot=True)


def get_tuning_pipeline(
    region: str,
    role: str,
    default_bucket: str,
    pipeline_name: str = "churn-sklearn-tuning",
    model_package_group_name: str = "churn-models",
    base_job_prefix: str = "churn",
    sagemaker_session=None,
    spot: bool = False,
) -> Pipeline:
    """Return the scikit-learn churn pipeline whose model is the best of a tuning job (with
    `spot`, every trial is a managed spot training job: get_spot_tuning_pipeline)."""
    churn = Churn.create(region, role, default_bucket, base_job_prefix, sagemaker_session)
    churn.spot = spot
    return churn.pipeline(
        pipeline_name, model_package_group_name, sklearn_algorithm(churn, tune=True)
    )


# get_tuning_pipeline with managed spot training for every trial
# (definition: ml.sklearn_pipeline:get_spot_tuning_pipeline). build-pipeline passes only its own
# arguments (smgha/definition.py reads the signature, which a partial keeps), so spot is set here.
get_spot_tuning_pipeline = functools.partial(get_tuning_pipeline, spot=True)


def sklearn_algorithm(churn: Churn, tune: bool = False) -> Algorithm:
    """train.py in the scikit-learn container; with `tune`, the best of a tuning job."""
    max_iter = ParameterInteger(name="MaxIter", default_value=200)
    learning_rate = ParameterFloat(name="LearningRate", default_value=0.1)
    max_depth = ParameterInteger(name="MaxDepth", default_value=4)
    sklearn_image = churn.sklearn_image
    hyperparameters = {"max_iter": max_iter.to_string()}
    if not tune:  # a tuning job chooses these two itself
        hyperparameters.update(
            learning_rate=learning_rate.to_string(), max_depth=max_depth.to_string()
        )

    def train(train_data, validation_data) -> Training:
        trainer = ModelTrainer(
            training_image=sklearn_image,
            source_code=SourceCode(source_dir=SOURCE_DIR, entry_script=TRAIN_SCRIPT),
            role=churn.role,
            base_job_name=f"{churn.base_job_prefix}-sklearn-train",
            compute=Compute(
                instance_type=churn.training_instance_type,
                instance_count=1,
                enable_managed_spot_training=churn.spot or None,
            ),
            output_data_config=OutputDataConfig(s3_output_path=churn.models_uri),
            hyperparameters=hyperparameters,
            **churn.spot_settings("TuneModel" if tune else "TrainModel"),
            sagemaker_session=churn.session,
        )
        trainer.with_metric_definitions(
            [MetricDefinition(name=m["Name"], regex=m["Regex"]) for m in METRIC_DEFINITIONS]
        )
        inputs = csv_channels(train_data, validation_data)
        # No step caching here (the shared steps have it: ml/pipeline.py, STEP_CACHE): the
        # SDK stages the source folder and its drivers under a new timestamped job name at
        # every build (the code and sm_drivers channels, in InputDataConfig: a cache key
        # attribute), so no earlier run could ever match (sagemaker-train 1.27,
        # model_trainer.py, _create_training_job_args; docs/aws-fidelity.md).
        if not tune:
            step = TrainingStep(
                name="TrainModel", step_args=trainer.train(input_data_config=inputs)
            )
            return Training(step, step.properties.ModelArtifacts.S3ModelArtifacts)
        tuner = HyperparameterTuner(
            model_trainer=trainer,
            objective_metric_name=OBJECTIVE_METRIC,
            objective_type="Maximize",
            metric_definitions=METRIC_DEFINITIONS,
            hyperparameter_ranges={
                "learning_rate": ContinuousParameter(0.02, 0.3, scaling_type="Logarithmic"),
                "max_depth": IntegerParameter(2, 8),
            },
            strategy="Random",
            max_jobs=MAX_TRIALS,
            max_parallel_jobs=MAX_PARALLEL_TRIALS,
            base_tuning_job_name=f"{churn.base_job_prefix}-sklearn-tune",
        )
        step = TuningStep(name="TuneModel", step_args=tuner.tune(inputs=inputs))
        # The best trial's model.tar.gz: SageMaker names it <prefix>/<trial job name>/output/.
        best = step.get_top_model_s3_uri(
            top_k=0, s3_bucket=churn.default_bucket, prefix=churn.models_prefix
        )
        return Training(step, best)

    return Algorithm(
        parameters=[max_iter] if tune else [max_iter, learning_rate, max_depth],
        train=train,
        # scikit-learn, pandas and joblib: what ml/evaluate.py needs for a joblib model.
        evaluation_image=sklearn_image,
        serving_image=sklearn_image,
        serving_environment=SERVING_ENVIRONMENT,
    )
