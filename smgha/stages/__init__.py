"""What every stage shares: the edge that runs it, and the declaration of its outputs.

A stage module declares `INPUTS` (smgha.inputs.InputSpec: action.yml and the action's README
are generated from them) and `OUTPUTS`, loads a frozen `Inputs` from a Runner in one function
(smgha.inputs.InputValues gives each input or its default), and has a pure `run()`.
`run_stage` is the edge: it turns InputError and StageError into one `::error` annotation and
exit code 1.
"""

from __future__ import annotations

import importlib
import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

from smgha.backends import Backend, backend
from smgha.errors import InputError, StageError, StateFileError
from smgha.runner import Runner
from smgha.workflow_commands import missing_runner_file

# Every stage: the name of its action (actions/<name>/, and its `smgha <name>` command) and
# its module in this package. The CLI (smgha/cli.py) and scripts/generate_actions.py read
# it; a module is imported only when asked for (stage_module).
STAGES = {
    "oidc-auth": "oidc_auth",
    "build-pipeline": "build_pipeline",
    "register-and-gate": "register_and_gate",
    "deploy-endpoint": "deploy_endpoint",
    "smoke-test": "smoke_test",
    "enable-monitor": "enable_monitor",
    "batch-transform": "batch_transform",
    "shadow-test": "shadow_test",
}


def stage_module(action: str) -> ModuleType:
    """The module of the stage behind `action` (a key of STAGES)."""
    return importlib.import_module(f"smgha.stages.{STAGES[action]}")


# The files the runner gives every step (GitHub docs, "Workflow commands": environment files).
RUNNER_FILES = ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH", "GITHUB_STEP_SUMMARY")


@dataclass(frozen=True)
class OutputSpec:
    name: str
    description: str


def stage_backend(runner: Runner, name: str, region: str) -> Backend:
    """The backend a stage runs on. The sagemaker one renews oidc-auth's credentials while the
    stage waits (smgha/aws_session.py), logging and masking through the stage's runner."""
    return backend(name, region, log=runner.info, mask=runner.set_secret)


def run_stage(stage: str, body: Callable[[Runner], None], runner: Runner) -> int:
    """Run `body`, reporting any failure as one annotation; return the exit code.

    A GITHUB_* file variable that names no file is refused before `body` runs, so a stage
    never creates something it then cannot report."""
    try:
        for variable in RUNNER_FILES:
            path = runner.env.get(variable)
            if path and not os.path.isfile(path):
                raise missing_runner_file(variable, path)
        body(runner)
    except InputError as error:
        runner.error(error.message, title=f"{stage}: invalid input")
        return 1
    except StageError as error:
        runner.error(error.detail, title=f"{stage}: {error.title}")
        return 1
    except StateFileError as error:  # not a bug: the message names the file to fix
        runner.error(error.message, title=f"{stage}: unreadable local state")
        return 1
    except Exception as error:  # a bug of ours: say so, with the trace in the log
        runner.info(traceback.format_exc())
        runner.error(
            f"{type(error).__name__}: {error}. This is a bug in smgha; please report it with the log above.",
            title=f"{stage}: unexpected error",
        )
        return 1
    return 0


# The bucket of the local backend when none is given (it is a folder of its state).
LOCAL_BUCKET = "smgha-local"

# On the sagemaker backend the artifact bucket is always an input, never a default. The SDK's
# default, sagemaker-<region>-<account>, is created by the SDK on first use (ListBuckets,
# HeadBucket, then CreateBucket: sagemaker.core.helper.session_helper.Session.default_bucket,
# SageMaker Python SDK 3.27), but a definition is built with those calls answered locally
# (smgha/uploads.py), so it would never exist; and creating it here would need
# s3:CreateBucket, s3:ListAllMyBuckets and s3:ListBucket on a bucket the Terraform module
# does not manage, without its encryption, versioning, public access block, TLS-only policy
# and data capture expiry. (Checking it with HeadBucket instead would need s3:ListBucket for
# the build role, S3 API reference API_HeadBucket.html, and still name a bucket no role may
# write.) The Terraform roles allow objects in the module's artifact bucket only
# (infra/terraform/iam_policies.tf), so the fix of a missing bucket input names that bucket.
ARTIFACT_BUCKET_HINT = (
    "the artifact bucket the Terraform module created (terraform output -raw "
    "artifact_bucket_name; repository variable MODEL_ARTIFACT_BUCKET)"
)
