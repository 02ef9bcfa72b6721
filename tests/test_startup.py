"""What a stage's process pays before it does anything: the imports a local build needs.

A repeated local build with the definition cached and a warm worker running takes about two
seconds, so a third of a second of imports it does not use is a sixth of it
(bench/local_build.py). These tests pin the imports away; each fails if one comes back.
"""

from __future__ import annotations

import json
import subprocess
import sys

from smgha.aws_values import aws_value
from smgha.inputs import LOCAL_ROLE_ARN, execution_role_arn


def loaded_after(code: str) -> set[str]:
    """The modules a fresh interpreter has loaded after running `code`."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    completed = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    return set(json.loads(completed.stdout.splitlines()[-1]))


def test_the_local_stand_in_role_is_a_valid_role_arn() -> None:
    # execution_role_arn returns it unchecked on the local backend: it must pass the check.
    assert aws_value("role-arn", LOCAL_ROLE_ARN, "sagemaker", "RoleArn") == LOCAL_ROLE_ARN
    assert execution_role_arn("", "local") == LOCAL_ROLE_ARN


def test_a_stage_and_its_inputs_import_no_botocore_until_a_value_is_checked() -> None:
    loaded = loaded_after(
        "from smgha.stages import build_pipeline\n"
        "from smgha.inputs import execution_role_arn\n"
        "execution_role_arn('', 'local')"
    )
    assert "smgha.stages.build_pipeline" in loaded
    assert not {"botocore", "boto3"} & loaded

    checked = loaded_after(
        "from smgha.inputs import execution_role_arn\n"
        "execution_role_arn('arn:aws:iam::123456789012:role/x', 'local')"
    )
    assert "botocore" in checked  # a role given is still held to SageMaker's RoleArn


def test_the_command_line_imports_only_the_stage_it_runs() -> None:
    loaded = loaded_after("from smgha import cli\ncli.build_parser('build-pipeline')")
    stages = {name for name in loaded if name.startswith("smgha.stages.")}
    assert stages == {"smgha.stages.build_pipeline"}

    other = loaded_after("from smgha import cli\ncli.build_parser('review')")
    assert not {name for name in other if name.startswith("smgha.stages.")}

    everything = loaded_after("from smgha import cli\ncli.build_parser()")  # --help lists all
    assert "smgha.stages.deploy_endpoint" in everything


def test_collector_paused_freezes_what_was_built_and_restores_the_collector() -> None:
    """What the warm worker's imports and the definition build run under."""
    import gc

    from smgha.import_pause import collector_paused

    frozen_before = gc.get_freeze_count()
    try:
        with collector_paused():
            assert not gc.isenabled()
            built = [[index] for index in range(1000)]
        assert gc.isenabled()
        assert gc.get_freeze_count() >= frozen_before + len(built)
        gc.disable()  # a caller that had it off keeps it off
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
