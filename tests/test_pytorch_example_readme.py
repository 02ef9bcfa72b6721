"""The SDK v3 code of examples/pytorch/README.md, run as written against an AWS double: the
definition it builds is one the local backend runs (tests/test_pytorch_example.py runs the
example's scripts for real). Its own module: the `offline` fixture blocks every socket for
the module's lifetime, which the endpoint tests beside the example could not live with.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from smgha.backends.local import script_training
from smgha.backends.local.serving import images
from tests.test_pipeline_definition import (
    BUCKET,
    ROLE,
    FakeAws,
    offline,  # noqa: F401 (a fixture: no network, no AWS)
)
from tests.test_pytorch_example import EXAMPLE, INFERENCE_IMAGE, METRICS, TRAINING_IMAGE


def test_the_readme_pipeline_builds_a_definition_the_local_backend_runs(
    offline: Any,  # noqa: F811 (the fixture)
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The README's SDK v3 code, run as written against an AWS double (no network): its
    definition carries the script-mode training request and the serving container the local
    backend accepts, with the images image_uris gives offline."""
    from sagemaker.core.workflow.pipeline_context import PipelineSession
    from sagemaker.mlops.workflow.pipeline import Pipeline

    readme = (EXAMPLE / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert len(blocks) == 1
    fake = FakeAws()
    session = PipelineSession(boto_session=fake.boto_session, default_bucket=BUCKET)
    monkeypatch.chdir(EXAMPLE.parents[1])  # SourceCode(source_dir="examples/pytorch")
    names: dict[str, Any] = {
        "role": ROLE,
        "pipeline_session": session,
        "train_uri": "s3://example-bucket/churn/train",
        "validation_uri": "s3://example-bucket/churn/validation",
        "model_package_group_name": "churn-models",
    }
    exec(blocks[0], names)  # noqa: S102 (the README's own code)
    steps = [names["step_train"], names["step_register"]]
    definition = json.loads(Pipeline(name="p", steps=steps, sagemaker_session=session).definition())

    train, register = definition["Steps"]
    arguments = train["Arguments"]
    assert arguments["AlgorithmSpecification"]["TrainingImage"] == TRAINING_IMAGE
    assert arguments["AlgorithmSpecification"]["MetricDefinitions"] == [METRICS[1]]
    assert script_training.script_source(arguments) is not None  # SDK v3 script mode
    assert script_training.refusal(arguments) is None
    sources = {uri.rsplit("/", 1)[-1] for uri in fake.uploads}
    assert {"train.py", "inference.py"} <= sources
    container = register["Arguments"]["InferenceSpecification"]["Containers"][0]
    assert container["Image"] == INFERENCE_IMAGE
    assert container["Environment"] == {
        "SAGEMAKER_PROGRAM": "inference.py",
        "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
    }
    assert images.refusal(container["Image"], container["Environment"]) == ""
