"""CreateTrainingJob's rules on managed spot training that no botocore shape expresses.

Held by tests/aws_contract.py to a CreateTrainingJob request and to each training step of a
pipeline definition (the request the pipeline service makes when the step starts), and to each
training job definition of a CreateHyperParameterTuningJob request or tuning step
(`tuning_spot_problems`).

Sources:
- botocore's sagemaker model (service-2.json), StoppingCondition.MaxWaitTimeInSeconds: "The
  maximum length of time, in seconds, that a managed Spot training job has to complete. It is
  the amount of time spent waiting for Spot capacity plus the amount of time the job can run.
  It must be equal to or greater than MaxRuntimeInSeconds." MaxRuntimeInSeconds: "The default
  value is 1 day." CheckpointConfig's S3Uri is a required member (the shape holds that one).
- SageMaker Developer Guide, "Managed Spot Training in Amazon SageMaker AI"
  (docs.aws.amazon.com/sagemaker/latest/dg/model-managed-spot-training.html): with spot,
  set EnableManagedSpotTraining and MaxWaitTimeInSeconds (the SDK's use_spot_instances and
  max_wait, which the SDK v2 Estimator refuses to leave out together).

- A tuning job's trials: botocore's HyperParameterTrainingJobDefinition (the shape of
  CreateHyperParameterTuningJob's TrainingJobDefinition and of each of its
  TrainingJobDefinitions) has the same EnableManagedSpotTraining, StoppingCondition ("It also
  specifies how long a managed spot training job has to complete") and CheckpointConfig
  members as CreateTrainingJob, and each trial is a training job made from it, so the same
  rules hold for each definition.

Not confirmed: whether SageMaker refuses MaxWaitTimeInSeconds on a job without spot. The
documentation defines it only for spot jobs; the stricter reading refuses it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# StoppingCondition.MaxRuntimeInSeconds when a request leaves it out (botocore's docs: 1 day).
DEFAULT_MAX_RUNTIME_SECONDS = 86400


def spot_training_problems(params: Mapping[str, Any]) -> list[str]:
    """Every spot rule this CreateTrainingJob request (or training step's Arguments) breaks.

    A value known only at run time (a pipeline expression) is not judged; its neighbours are."""
    spot = params.get("EnableManagedSpotTraining")
    stopping = params.get("StoppingCondition") or {}
    if not isinstance(stopping, Mapping):
        return []
    wait = stopping.get("MaxWaitTimeInSeconds")
    runtime = stopping.get("MaxRuntimeInSeconds", DEFAULT_MAX_RUNTIME_SECONDS)
    if spot is True:
        if wait is None:
            return [
                "EnableManagedSpotTraining is true and StoppingCondition.MaxWaitTimeInSeconds "
                "is missing (a managed spot training job needs a maximum wait)"
            ]
        if isinstance(wait, int) and isinstance(runtime, int) and wait < runtime:
            return [
                f"StoppingCondition.MaxWaitTimeInSeconds {wait} is less than "
                f"MaxRuntimeInSeconds {runtime}; it must be equal to or greater"
            ]
        return []
    if wait is not None and spot is not None and not isinstance(spot, bool):
        return []  # spot decided at run time: the wait may be right
    if wait is not None:
        return [
            "StoppingCondition.MaxWaitTimeInSeconds is set and EnableManagedSpotTraining is "
            "not true (the maximum wait is for managed spot training jobs)"
        ]
    return []


def tuning_spot_problems(params: Mapping[str, Any]) -> list[str]:
    """Every spot rule a CreateHyperParameterTuningJob request (or tuning step's Arguments)
    breaks: spot_training_problems of its TrainingJobDefinition and of each of its
    TrainingJobDefinitions, each named by where it is."""
    definitions: list[tuple[str, Any]] = []
    if "TrainingJobDefinition" in params:
        definitions.append(("TrainingJobDefinition", params["TrainingJobDefinition"]))
    listed = params.get("TrainingJobDefinitions")
    if isinstance(listed, list):
        definitions += [(f"TrainingJobDefinitions[{n}]", d) for n, d in enumerate(listed)]
    return [
        f"{where}: {problem}"
        for where, definition in definitions
        if isinstance(definition, Mapping)
        for problem in spot_training_problems(definition)
    ]


# The spot rules by the operation a request (or a pipeline step's Arguments) is for.
SPOT_RULES = {
    "CreateTrainingJob": spot_training_problems,
    "CreateHyperParameterTuningJob": tuning_spot_problems,
}
