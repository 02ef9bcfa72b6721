"""The container images the local endpoint stands in for, and what each does with a model.

The local endpoint runs no container: it serves what a few SageMaker images do and refuses
every other image, in deploy-endpoint before anything is created (LocalHosting.
serving_refusal) and in the server (model.py Model.load), so that a model created by other
means is never served as something its image is not. Real SageMaker runs any image: the
sagemaker backend refuses none.

An image is recognised by its ECR repository, the URI's last path segment before the tag or
digest, as the SageMaker SDK builds the URIs (`<account>.dkr.ecr.<region>.amazonaws.com/
<repository>:<tag>`; sagemaker-core's image_uri_config/xgboost.json, sklearn.json,
pytorch.json). The account is not checked, so a copy of an AWS image in one's own registry
keeps working; a custom image that reuses one of these repository names is served as that
image.

What each image does when the container's Environment has no SAGEMAKER_PROGRAM:

* `sagemaker-xgboost` (the built-in algorithm and the XGBoost framework are one image):
  serves the built-in algorithm; with SAGEMAKER_PROGRAM, script mode (the sources are in
  smgha/serving_container.py).
* `sagemaker-scikit-learn`: script mode only. aws/sagemaker-scikit-learn-container eae7b6b,
  src/sagemaker_sklearn_container/serving.py `main` imports `serving_env.module_name` on the
  first request (/ping included); without the variable it is None and
  importlib.import_module(None) raises, so the container never passes its health check.
* `pytorch-inference` (the PyTorch inference images since 1.2; aws/sagemaker-pytorch-
  inference-toolkit v2.0.25, f7dd61e, on aws/sagemaker-inference-toolkit v1.10.1, d05801f):
  the toolkit's environment.py defaults the module to DEFAULT_MODULE_NAME = "inference.py",
  imported from code_dir = /opt/ml/model/code (torchserve.py `_set_python_path`;
  SAGEMAKER_SUBMIT_DIRECTORY is not read). When no such module exists, transformer.py
  `_validate_user_module_and_set_functions` (find_spec is None) uses the container's default
  handlers for all four, which load a TorchScript model.pt (default_pytorch_inference_handler.
  py `default_model_fn`).

Not recognised, the stricter reading where the container's source was not read here: the
legacy `sagemaker-pytorch` images (PyTorch 0.4 to 1.1), the Graviton, Neuron and Elastic
Inference PyTorch images, and every other framework (TensorFlow Serving, MXNet, Hugging
Face: contracts of their own).
"""

from __future__ import annotations

from collections.abc import Mapping

from smgha.serving_container import PROGRAM

SKLEARN, XGBOOST, PYTORCH = "scikit-learn", "xgboost", "pytorch"
# The built-in XGBoost algorithm's repository; with a script, the XGBoost framework's too.
XGBOOST_REPOSITORY = "sagemaker-xgboost"
FRAMEWORK_REPOSITORIES = {
    "sagemaker-scikit-learn": SKLEARN,
    XGBOOST_REPOSITORY: XGBOOST,
    "pytorch-inference": PYTORCH,
}
# sagemaker_inference/environment.py DEFAULT_MODULE_NAME: the script these images import when
# SAGEMAKER_PROGRAM is unset (model.tar.gz's code/ folder).
TOOLKIT_DEFAULT_PROGRAM = {PYTORCH: "inference.py"}

# Messages users act on.
NO_CONTAINER_ENGINE = (
    "its image {image!r} is not one the local endpoint can stand in for: the local backend "
    "has no container engine to run an image, and serves only the built-in XGBoost algorithm "
    "(sagemaker-xgboost) and inference scripts (SAGEMAKER_PROGRAM) in the scikit-learn, "
    "XGBoost and PyTorch framework images ({repositories})"
)
SCRIPT_REQUIRED = (
    "its image {image!r} is the scikit-learn framework container, which serves only in script "
    "mode and has no {program} in its Environment: it imports no module and fails its health "
    "check, on SageMaker too"
)
LOCAL_FIX = (
    "Deploy it with backend: sagemaker, or register the model to serve in script mode from a "
    f"framework image: {PROGRAM}=inference.py with the script in model.tar.gz's code/ folder "
    "and SAGEMAKER_SUBMIT_DIRECTORY=/opt/ml/model/code."
)


def repository_of(image: str) -> str:
    """The ECR repository an image URI names: `.../sagemaker-xgboost:1.7-1` -> sagemaker-xgboost."""
    return image.rsplit("/", 1)[-1].split("@", 1)[0].split(":", 1)[0]


def framework_of(image: str) -> str:
    """The framework whose container `image` is; '' for an image the local endpoint cannot run."""
    return FRAMEWORK_REPOSITORIES.get(repository_of(image), "")


def refusal(image: str, environment: Mapping[str, object]) -> str:
    """'' when the local endpoint can serve a container with this image and Environment;
    else why it cannot (the fix for either reason is LOCAL_FIX)."""
    framework = framework_of(image)
    if not framework:
        repositories = ", ".join(sorted(FRAMEWORK_REPOSITORIES))
        return NO_CONTAINER_ENGINE.format(image=image, repositories=repositories)
    if framework == SKLEARN and PROGRAM not in environment:
        return SCRIPT_REQUIRED.format(image=image, program=PROGRAM)
    return ""
