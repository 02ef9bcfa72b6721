"""Selective execution on the local backend (smgha/backends/local/executor.py): the steps a
SelectiveExecutionConfig does not select take the source execution's outputs, as SageMaker
reuses them ("Selective execution of pipeline steps", SageMaker Developer Guide)."""

from __future__ import annotations

import os
from typing import Any

import pytest

from smgha.backends import SelectiveExecution
from smgha.backends.local import LocalBackend, state
from smgha.errors import InputError
from smgha.resources import selective
from tests.test_local_backend import (  # noqa: F401 (backend is a fixture)
    backend,
    processing_step,
    put_script,
    wait_for,
)

# Each step appends its letter to what the step before it wrote.
CHAIN = """
    import pathlib, sys
    before = pathlib.Path("/opt/ml/processing/input/before")
    text = (before / "chain.txt").read_text() if before.is_dir() else ""
    out = pathlib.Path("/opt/ml/processing/out")
    out.mkdir(parents=True, exist_ok=True)
    (out / "chain.txt").write_text(text + sys.argv[1])
"""


def chain_step(name: str, before: str = "") -> dict[str, Any]:
    inputs = []
    if before:
        uri = {"Get": f"Steps.{before}.ProcessingOutputConfig.Outputs['out'].S3Output.S3Uri"}
        inputs.append(
            {
                "InputName": "before",
                "S3Input": {"S3Uri": uri, "LocalPath": "/opt/ml/processing/input/before"},
            }
        )
    return processing_step(name, "chain.py", outputs=["out"], inputs=inputs, arguments=[name])


def chain() -> dict[str, Any]:
    steps = [chain_step("A"), chain_step("B", "A"), chain_step("C", "B")]
    return {"Version": "2020-12-01", "Parameters": [], "Steps": steps}


def start(backend: LocalBackend, only: SelectiveExecution | None = None) -> str:  # noqa: F811
    put_script(backend, "chain.py", CHAIN)
    backend.pipelines.upsert_pipeline("p", chain(), "", {})
    return backend.pipelines.start_execution("p", {}, os.urandom(16).hex(), only)


def chain_of(backend: LocalBackend, arn: str) -> str:  # noqa: F811
    folder = backend.pipelines._execution_folder(arn)
    described = state.read_json(state.Layout.step_job_folder(folder, "C") / state.DESCRIBED_FILE)
    [output] = described["ProcessingOutputConfig"]["Outputs"]
    return backend.objects.read_object(f"{output['S3Output']['S3Uri']}/chain.txt").decode()


def test_the_steps_not_selected_take_the_source_executions_outputs(
    backend: LocalBackend,  # noqa: F811
) -> None:
    first = start(backend)
    assert wait_for(backend, first) == "Succeeded"
    assert chain_of(backend, first) == "ABC"

    again = start(backend, SelectiveExecution(first, ("B", "C")))

    assert wait_for(backend, again) == "Succeeded"
    steps = {s.name: s for s in backend.pipelines.list_steps(again)}
    assert steps["A"].reused_from == first and steps["A"].status == "Succeeded"
    assert steps["A"].metadata == next(
        s.metadata for s in backend.pipelines.list_steps(first) if s.name == "A"
    )
    assert steps["B"].reused_from == "" and steps["C"].reused_from == ""
    # A did not run here: no job of its own; B read the first execution's output of A.
    folder = backend.pipelines._execution_folder(again)
    assert not state.Layout.step_job_folder(folder, "A").exists()
    assert chain_of(backend, again) == "ABC"
    described = state.read_json(state.Layout.step_job_folder(folder, "B") / state.DESCRIBED_FILE)
    [read] = [i for i in described["ProcessingInputs"] if i["InputName"] == "before"]
    assert f"/{first.rsplit('/', 1)[-1]}/" in read["S3Input"]["S3Uri"]


def test_a_step_after_a_selected_one_that_is_not_selected_does_not_run(
    backend: LocalBackend,  # noqa: F811
) -> None:
    first = start(backend)
    assert wait_for(backend, first) == "Succeeded"

    again = start(backend, SelectiveExecution(first, ("B",)))

    assert wait_for(backend, again) == "Succeeded"
    assert [s.name for s in backend.pipelines.list_steps(again)] == ["A", "B"]


def test_a_source_without_the_outputs_fails_the_step_that_needed_them(
    backend: LocalBackend,  # noqa: F811
) -> None:
    first = start(backend)
    assert wait_for(backend, first) == "Succeeded"
    # The source's record of A says it failed: there is nothing to reuse.
    record_file = backend.pipelines._execution_folder(first) / state.EXECUTION_FILE
    record = state.read_json(record_file)
    record["Steps"][0]["StepStatus"] = "Failed"
    state.write_json_atomic(record_file, record)

    again = start(backend, SelectiveExecution(first, ("B", "C")))

    assert wait_for(backend, again) == "Failed"
    [step] = backend.pipelines.list_steps(again)
    assert step.name == "A" and step.reused_from == first
    assert step.failure_reason == f"step A did not succeed in {first}: no outputs to reuse"


def test_from_step_selects_the_steps_after_it_and_reuses_the_latest_success(
    backend: LocalBackend,  # noqa: F811
) -> None:
    """build-pipeline's from-step (smgha/resources/selective.py) on the local backend."""
    first = start(backend)
    assert wait_for(backend, first) == "Succeeded"
    latest = start(backend)
    assert wait_for(backend, latest) == "Succeeded"
    newest = start(backend)
    assert wait_for(backend, newest) == "Succeeded"
    record_file = backend.pipelines._execution_folder(newest) / state.EXECUTION_FILE
    record = state.read_json(record_file)
    record["PipelineExecutionStatus"] = "Failed"  # the newest, but not a Succeeded one
    state.write_json_atomic(record_file, record)

    only = selective.execution_config(chain(), selective.Selection("B", "", "p"), backend.pipelines)

    assert only == SelectiveExecution(latest, ("B", "C"))


def test_from_step_refuses_a_source_without_the_outputs_it_needs(
    backend: LocalBackend,  # noqa: F811
) -> None:
    first = start(backend)
    assert wait_for(backend, first) == "Succeeded"
    record_file = backend.pipelines._execution_folder(first) / state.EXECUTION_FILE
    record = state.read_json(record_file)
    record["Steps"][0]["StepStatus"] = "Failed"  # A failed: B has nothing to read
    record["PipelineExecutionStatus"] = "Failed"
    state.write_json_atomic(record_file, record)

    with pytest.raises(InputError) as refused:
        selective.execution_config(chain(), selective.Selection("B", first, "p"), backend.pipelines)

    assert refused.value.name == "source-execution-arn"
    assert f"in {first} the step(s) A did not succeed" in str(refused.value)
    # From A on, nothing is needed from the source: the same Failed source is accepted.
    only = selective.execution_config(
        chain(), selective.Selection("A", first, "p"), backend.pipelines
    )
    assert only == SelectiveExecution(first, ("A", "B", "C"))
