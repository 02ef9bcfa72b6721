"""What a SageMaker serving container does with its container definition's `Environment`.

The XGBoost image the reference pipeline registers (aws/sagemaker-xgboost-container) serves
through the sagemaker-containers toolkit, and it chooses between two ways of serving by one
variable. Sources, aws/sagemaker-xgboost-container at cb8df91 (branch 1.7-1 the same) and
aws/sagemaker-containers at tag v2.8.6.post2 (the version the image's requirements.txt pins):

* `sagemaker_containers/_env.py` `_Env.__init__`: `module_name =
  os.environ.get("SAGEMAKER_PROGRAM", None)`, and `module_name` returns it as given ("" stays
  ""). Whether the variable is *set* decides, not whether it holds a name.
* `sagemaker_xgboost_container/serving.py` `main`, the WSGI app behind every request (/ping
  included): `if serving_env.module_name is None:` serve the built-in algorithm
  (`ScoringService.csdk_start()`), else `importlib.import_module(serving_env.module_name)`:
  script mode. For "" that raises `ValueError: Empty module name` on every request; gunicorn
  answers an exception raised by the app with 500 (gunicorn/workers/base.py `handle_error`).
* SageMaker needs 200 from GET /ping within minutes of the container's start, else the
  endpoint is Failed with "The primary container for production variant <variant> did not
  pass the ping health check" (developer guide, your-algorithms-inference-code.html#your-
  algorithms-inference-algo-ping-requests; repost.aws knowledge-center
  sagemaker-endpoint-creation-fail).

The SageMaker Python SDK writes exactly that: `ModelBuilder.register()` with its default
`dependencies={"auto": True}` adds `SAGEMAKER_PROGRAM=""` and `SAGEMAKER_SUBMIT_DIRECTORY=""`
to the package's container (sagemaker/serve/model_builder.py `_script_mode_env_vars`).

Only an empty (or blank) SAGEMAKER_PROGRAM is refused everywhere: it names no script in any
SageMaker toolkit. A named script is the user's choice and not judged here (an image may
ship it in /opt/ml/code without SAGEMAKER_SUBMIT_DIRECTORY). The local endpoint serves a named
script through the inference toolkit's handlers (smgha/backends/local/serving/script_model.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from smgha.errors import InputError

PROGRAM = "SAGEMAKER_PROGRAM"
SUBMIT_DIRECTORY = "SAGEMAKER_SUBMIT_DIRECTORY"

# What happens to such a container, for error messages.
EMPTY_PROGRAM_CONSEQUENCE = (
    f"the container serves in script mode whenever {PROGRAM} is set, even empty: it imports "
    "the module '' on every request (ValueError: Empty module name) and answers /ping with "
    "500, so the endpoint fails its health check"
)
EMPTY_PROGRAM_FIX = (
    f"Register the model again without {PROGRAM} and {SUBMIT_DIRECTORY} in its container's "
    "Environment (with the SageMaker SDK: ModelBuilder(..., dependencies=None), as "
    f"ml/pipeline.py does), or with {PROGRAM} naming your inference script and "
    f"{SUBMIT_DIRECTORY} the s3:// URI of its source archive."
)


def serves_a_user_script(environment: Mapping[str, Any]) -> bool:
    """The container's own test for script mode: SAGEMAKER_PROGRAM is set at all."""
    return PROGRAM in environment


def script_mode_without_script(environment: Mapping[str, Any]) -> str:
    """'' unless `environment` puts the container in script mode with no script to run;
    then the variables that do so, as they are set (e.g. "SAGEMAKER_PROGRAM=''")."""
    if not serves_a_user_script(environment) or str(environment[PROGRAM]).strip():
        return ""
    names = [PROGRAM]
    if SUBMIT_DIRECTORY in environment:
        names.append(SUBMIT_DIRECTORY)
    return " and ".join(f"{name}={str(environment[name])!r}" for name in names)


def refuse_without_script(input_name: str, package_arn: str, package: dict[str, Any]) -> None:
    """A package whose container cannot pass its health check is refused before any create:
    script mode with no script (the module docstring has the container's sources)."""
    containers = (package.get("InferenceSpecification") or {}).get("Containers") or []
    for number, container in enumerate(containers, 1):
        variables = script_mode_without_script(container.get("Environment") or {})
        if variables:
            raise InputError(
                input_name,
                f"{package_arn} would serve in script mode with no script: its "
                f"container {number} ({container.get('Image', 'no image')}) sets {variables}, "
                f"and {EMPTY_PROGRAM_CONSEQUENCE}",
                EMPTY_PROGRAM_FIX,
            )
