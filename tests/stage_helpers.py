"""Run a stage's main() the way the runner does, and read back what it wrote."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smgha.runner import Runner

# The built-in XGBoost algorithm's image (sagemaker.image_uris.retrieve("xgboost", "us-east-1",
# "1.7-1")): the image the local endpoint serves the algorithm for (serving/images.py).
XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"

# The GitHub context of a run, as the runner sets it for every step.
GITHUB_CONTEXT = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_REPOSITORY": "acme/churn",
    "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567",
    "GITHUB_RUN_ID": "4242",
    "GITHUB_RUN_ATTEMPT": "1",
    "GITHUB_JOB": "build",
    "GITHUB_SERVER_URL": "https://github.com",
}


@dataclass
class StageRun:
    code: int
    log: str
    outputs: dict[str, str]
    summary: str

    @property
    def errors(self) -> list[str]:
        return [line for line in self.log.splitlines() if line.startswith("::error")]

    @property
    def warnings(self) -> list[str]:
        return [line for line in self.log.splitlines() if line.startswith("::warning")]


def run_main(main: Callable[[Runner], int], inputs: dict[str, str], **env: str) -> StageRun:
    """main() with `inputs` (kebab names) as INPUT_* variables over the process environment."""
    variables = {k: v for k, v in os.environ.items() if not k.startswith(("INPUT_", "GITHUB_"))}
    variables.update(env)
    for name, value in inputs.items():
        variables[f"INPUT_{name.upper().replace('-', '_')}"] = value
    out = io.StringIO()
    runner = Runner(env=variables, stdout=out, delimiter_factory=lambda: "EOF_TEST")
    code = main(runner)
    return StageRun(code, out.getvalue(), dict(runner.outputs), runner.summary_text)


def approved_package_request(group: str, environment: dict[str, str]) -> dict[str, object]:
    """CreateModelPackage's request for an approved XGBoost package whose container has
    `environment` (the variables that decide how the serving container runs it)."""
    return {
        "ModelPackageGroupName": group,
        "ModelApprovalStatus": "Approved",
        "InferenceSpecification": {
            "Containers": [
                {
                    "Image": XGBOOST_IMAGE,
                    "ModelDataUrl": "s3://models/m.tar.gz",
                    "Environment": environment,
                }
            ],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    }


def local_backend_in(tmp_path: Path, monkeypatch: Any, region: str = "us-east-1") -> Iterator[Any]:
    """For a fixture (`yield from`): the local backend of a fresh state folder under
    `tmp_path` (the stages find it through SMGHA_STATE_DIR); afterwards every endpoint server
    and deployer the test started is stopped."""
    from smgha.backends.local import LocalBackend

    monkeypatch.setenv("SMGHA_STATE_DIR", str(tmp_path / "state"))
    backend = LocalBackend(region=region)
    yield backend
    for folder in (backend.root / "endpoints").glob("*"):
        backend.hosting.delete_endpoint(folder.name)
