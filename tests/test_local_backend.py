"""The local backend: SageMaker pipeline semantics on this machine, with tiny real scripts."""

from __future__ import annotations

import json
import os
import signal
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from smgha import definition as defn
from smgha.backends.local import LocalBackend
from smgha.backends.local.expressions import Evaluator, ExpressionError
from smgha.backends.local.s3 import LocalS3
from smgha.errors import InputError, StageError

REGION = "us-east-1"


@pytest.fixture
def backend(tmp_path: Path) -> LocalBackend:
    return LocalBackend(region=REGION, root=tmp_path / "state")


def wait_for(backend: LocalBackend, arn: str, seconds: float = 60.0) -> str:
    """Poll until the execution ends (bounded); return its status."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        record = backend.pipelines.describe_execution(arn)
        if record.finished:
            return record.status
        time.sleep(0.05)
    backend.pipelines.stop_execution(arn)
    raise AssertionError(f"{arn} did not finish within {seconds}s")


def processing_step(
    name: str,
    script: str,
    outputs: Sequence[str] = (),
    inputs: Sequence[dict[str, Any]] = (),
    arguments: Sequence[Any] = (),
    **extra: Any,
) -> dict[str, Any]:
    """A Processing step running s3://smgha-local/code/<script> like the SDK writes one."""
    return {
        "Name": name,
        "Type": "Processing",
        "Arguments": {
            "AppSpecification": {
                "ImageUri": "local",
                "ContainerEntrypoint": ["python3", f"/opt/ml/processing/input/code/{script}"],
                "ContainerArguments": list(arguments),
            },
            "ProcessingInputs": [
                *inputs,
                {
                    "InputName": "code",
                    "S3Input": {
                        "S3Uri": f"s3://smgha-local/code/{script}",
                        "LocalPath": "/opt/ml/processing/input/code",
                    },
                },
            ],
            "ProcessingOutputConfig": {
                "Outputs": [
                    {
                        "OutputName": o,
                        "S3Output": {
                            "S3Uri": {
                                "Std:Join": {
                                    "On": "/",
                                    "Values": [
                                        "s3://smgha-local/runs",
                                        {"Get": "Execution.PipelineExecutionId"},
                                        name,
                                        o,
                                    ],
                                }
                            },
                            "LocalPath": f"/opt/ml/processing/{o}",
                        },
                    }
                    for o in outputs
                ]
            },
        },
        **extra,
    }


def put_script(backend: LocalBackend, name: str, source: str) -> None:
    backend.objects.put_object(f"s3://smgha-local/code/{name}", textwrap.dedent(source).encode())


def start(
    backend: LocalBackend,
    steps: list[dict[str, Any]],
    parameters: dict[str, str] | None = None,
    declared: Sequence[dict[str, Any]] = (),
) -> str:
    definition = {"Version": "2020-12-01", "Parameters": list(declared), "Steps": steps}
    defn.check_wiring(definition)
    backend.pipelines.upsert_pipeline("p", definition, "", {})
    return backend.pipelines.start_execution("p", parameters or {}, os.urandom(16).hex())


# ---- processing jobs ----------------------------------------------------------------------

WRITER = """
    import json, os, pathlib, sys, tarfile, io
    # Hard-coded container paths, as processing scripts are usually written.
    text = open("/opt/ml/processing/input/data/numbers.txt").read()
    numbers = [float(x) for x in text.split()]
    assert sorted(os.listdir("/opt/ml/processing/input/data")) == ["numbers.txt"]
    out = pathlib.Path("/opt/ml/processing/report")
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps({"metrics": {"mean": {"value": sum(numbers) / len(numbers)}}}))
    with tarfile.open("/opt/ml/processing/report/archive.tar.gz", "w:gz") as archive:
        archive.addfile(tarfile.TarInfo("empty"), io.BytesIO(b""))
    # An argument path arrives remapped to a real host path, usable by native code too.
    assert not sys.argv[2].startswith("/opt/ml") and os.path.isdir(sys.argv[2]), sys.argv
    print("mean written")
"""


def writer_step(backend: LocalBackend, numbers: bytes) -> dict[str, Any]:
    """Step `Write`: WRITER over `numbers`, with the property file `Report`."""
    put_script(backend, "writer.py", WRITER)
    backend.objects.put_object("s3://smgha-local/data/numbers.txt", numbers)
    data_input = {
        "InputName": "data",
        "S3Input": {"S3Uri": "s3://smgha-local/data", "LocalPath": "/opt/ml/processing/input/data"},
    }
    step = processing_step(
        "Write",
        "writer.py",
        outputs=["report"],
        inputs=[data_input],
        arguments=["--out", "/opt/ml/processing/report"],
    )
    step["PropertyFiles"] = [
        {"PropertyFileName": "Report", "OutputName": "report", "FilePath": "report.json"}
    ]
    return step


def test_a_processing_script_reads_and_writes_container_paths(backend: LocalBackend) -> None:
    step = writer_step(backend, b"1 2 3 6")

    arn = start(backend, [step])

    assert wait_for(backend, arn) == "Succeeded"
    [record] = backend.pipelines.list_steps(arn)
    assert record.status == "Succeeded"
    assert record.metadata["ProcessingJob"]["Arn"].startswith(
        f"arn:aws:sagemaker:{REGION}:000000000000:processing-job/pipelines-"
    )
    report = backend.pipelines.read_property_file(arn, "Write", "report", "report.json")
    assert report == {"metrics": {"mean": {"value": 3.0}}}
    execution_id = arn.rsplit("/", 1)[-1]
    assert backend.objects.path(
        f"s3://smgha-local/runs/{execution_id}/Write/report/archive.tar.gz"
    ).is_file()


def test_a_failing_script_fails_its_step_with_the_output_tail_and_stops_the_pipeline(
    backend: LocalBackend,
) -> None:
    put_script(backend, "boom.py", "print('loading'); raise SystemExit('bad column: churned')")
    put_script(backend, "after.py", "print('never')")
    arn = start(
        backend,
        [
            processing_step("Boom", "boom.py"),
            processing_step("After", "after.py", DependsOn=["Boom"]),
        ],
    )

    assert wait_for(backend, arn) == "Failed"
    steps = backend.pipelines.list_steps(arn)
    assert [(s.name, s.status) for s in steps] == [("Boom", "Failed")]
    assert steps[0].failure_reason.startswith("AlgorithmError: the script exited with code 1")
    assert "bad column: churned" in steps[0].failure_reason
    assert (
        backend.pipelines.describe_execution(arn).failure_reason
        == "Step failure: One or multiple steps failed."
    )


def test_a_missing_input_object_fails_the_step_naming_the_uri(backend: LocalBackend) -> None:
    put_script(backend, "noop.py", "pass")
    missing = {
        "InputName": "data",
        "S3Input": {
            "S3Uri": "s3://smgha-local/nothing-here",
            "LocalPath": "/opt/ml/processing/input/data",
        },
    }
    arn = start(backend, [processing_step("Read", "noop.py", inputs=[missing])])

    assert wait_for(backend, arn) == "Failed"
    assert (
        backend.pipelines.list_steps(arn)[0].failure_reason
        == "ClientError: input 'data': no object at s3://smgha-local/nothing-here"
    )


# ---- conditions, parameters, fail steps ---------------------------------------------------


def test_a_condition_takes_the_else_branch_and_a_fail_step_reports_its_message(
    backend: LocalBackend,
) -> None:
    write = writer_step(backend, b"1 2")
    mean = {
        "Std:JsonGet": {
            "PropertyFile": {"Get": "Steps.Write.PropertyFiles.Report"},
            "Path": "metrics.mean.value",
        }
    }
    check = {
        "Name": "Check",
        "Type": "Condition",
        "Arguments": {
            "Conditions": [
                {
                    "Type": "GreaterThanOrEqualTo",
                    "LeftValue": mean,
                    "RightValue": {"Get": "Parameters.Minimum"},
                }
            ],
            "IfSteps": [processing_step("Publish", "writer.py")],
            "ElseSteps": [
                {
                    "Name": "TooLow",
                    "Type": "Fail",
                    "Arguments": {
                        "ErrorMessage": {
                            "Std:Join": {
                                "On": " ",
                                "Values": ["mean", mean, "below", {"Get": "Parameters.Minimum"}],
                            }
                        }
                    },
                }
            ],
        },
    }
    declared = [{"Name": "Minimum", "Type": "Float", "DefaultValue": 1.0}]

    passing = start(backend, [write, check], declared=declared)
    failing = start(backend, [write, check], {"Minimum": "2"}, declared=declared)

    assert wait_for(backend, failing) == "Failed"
    steps = {s.name: s for s in backend.pipelines.list_steps(failing)}
    assert steps["Check"].metadata == {"Condition": {"Outcome": "False"}}
    assert steps["TooLow"].failure_reason == "mean 1.5 below 2.0"
    assert "Publish" not in steps
    assert (
        wait_for(backend, passing) == "Failed"
    )  # Publish needs data it does not get: still ran the If branch
    assert {s.name for s in backend.pipelines.list_steps(passing)} == {"Write", "Check", "Publish"}


def evaluator(document: Any = None, **parameters: Any) -> Evaluator:
    properties = {
        "Prep": {
            "ProcessingOutputConfig": {
                "Outputs": [{"OutputName": "train", "S3Output": {"S3Uri": "s3://b/train"}}]
            }
        }
    }
    return Evaluator(
        parameters, {"PipelineExecutionId": "abc"}, properties, lambda step, name: document
    )


def test_expressions_resolve_like_sagemaker() -> None:
    e = evaluator({"a": {"b": [{"c": 0.91}]}}, Threshold=0.9, Name="x")
    assert (
        e.resolve({"Get": "Steps.Prep.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri"})
        == "s3://b/train"
    )
    assert (
        e.resolve(
            {
                "Std:Join": {
                    "On": "/",
                    "Values": ["s3://b", {"Get": "Execution.PipelineExecutionId"}, 3],
                }
            }
        )
        == "s3://b/abc/3"
    )
    score = {
        "Std:JsonGet": {"PropertyFile": {"Get": "Steps.Prep.PropertyFiles.R"}, "Path": "a.b[0].c"}
    }
    threshold = {"Get": "Parameters.Threshold"}
    assert e.resolve(score) == 0.91
    assert e.condition({"Type": "GreaterThan", "LeftValue": score, "RightValue": threshold})
    assert not e.condition(
        {"Type": "LessThanOrEqualTo", "LeftValue": score, "RightValue": threshold}
    )
    assert e.condition(
        {
            "Type": "Not",
            "Expression": {"Type": "Equals", "LeftValue": score, "RightValue": threshold},
        }
    )
    assert e.condition(
        {
            "Type": "Or",
            "Conditions": [
                {"Type": "LessThan", "LeftValue": score, "RightValue": 0},
                {"Type": "Equals", "LeftValue": {"Get": "Parameters.Name"}, "RightValue": "x"},
            ],
        }
    )
    assert e.condition(
        {"Type": "In", "QueryValue": {"Get": "Parameters.Name"}, "Values": ["y", "x"]}
    )


def test_an_expression_that_reads_nothing_fails_clearly() -> None:
    e = evaluator({"a": 1})
    with pytest.raises(ExpressionError, match="nothing named 'test' in the list"):
        e.resolve({"Get": "Steps.Prep.ProcessingOutputConfig.Outputs['test'].S3Output.S3Uri"})
    with pytest.raises(ExpressionError, match="step 'Train' has not run"):
        e.resolve({"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"})
    with pytest.raises(ExpressionError, match="no 'b' in"):
        e.resolve(
            {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Prep.PropertyFiles.R"}, "Path": "a.b"}}
        )
    with pytest.raises(ExpressionError, match="not numbers"):
        e.condition({"Type": "GreaterThan", "LeftValue": "high", "RightValue": 1})


# ---- wiring, parameters and unsupported steps ----------------------------------------------


@pytest.mark.parametrize(
    ("mistake", "message"),
    [
        (lambda d: d["Steps"].append(dict(d["Steps"][0])), "step name 'A' is used more than once"),
        (lambda d: d["Steps"][1].update(DependsOn=["Z"]), "depends on 'Z', which is not a step"),
        (
            lambda d: d["Steps"][1]["Arguments"].update(X={"Get": "Parameters.Nope"}),
            "no such parameter is declared",
        ),
        (
            lambda d: d["Steps"][1]["Arguments"].update(X={"Get": "Steps.A.PropertyFiles.Nope"}),
            "declares no such property file",
        ),
        (
            lambda d: d["Steps"][1]["Arguments"].update(X={"Get": "Execution.Tomorrow"}),
            "is not an execution variable",
        ),
    ],
)
def test_wiring_mistakes_are_named(mistake: Any, message: str) -> None:
    definition = {
        "Parameters": [],
        "Steps": [processing_step("A", "a.py"), processing_step("B", "b.py")],
    }
    mistake(definition)
    with pytest.raises(InputError, match=message) as raised:
        defn.check_wiring(definition)
    assert raised.value.name == "definition"


def test_parameters_are_typed_against_the_declaration() -> None:
    definition = {
        "Parameters": [
            {"Name": "N", "Type": "Integer"},
            {"Name": "F", "Type": "Float"},
            {"Name": "B", "Type": "Boolean"},
            {"Name": "S", "Type": "String"},
        ],
        "Steps": [],
    }
    assert defn.typed_parameters(definition, {"N": 5, "F": "0.5", "B": True, "S": 7}) == {
        "N": "5",
        "F": "0.5",
        "B": "true",
        "S": "7",
    }
    for bad in ({"N": 1.5}, {"F": "high"}, {"B": "yes"}):
        with pytest.raises(InputError, match="but was given"):
            defn.typed_parameters(definition, bad)


def test_a_step_type_the_local_backend_does_not_emulate_is_refused_at_upsert(
    backend: LocalBackend,
) -> None:
    definition = {"Steps": [{"Name": "Score", "Type": "Transform", "Arguments": {}}]}
    with pytest.raises(StageError, match=r"step types \['Transform'\] are not emulated"):
        backend.pipelines.upsert_pipeline("p", definition, "", {})
    assert backend.pipelines.get_pipeline_definition("p") is None


def test_training_rejects_hyperparameters_the_builtin_algorithm_does_not_know(
    backend: LocalBackend,
) -> None:
    backend.objects.put_object("s3://smgha-local/train/train.csv", b"1,0.5\n0,0.1\n")
    training = {
        "Name": "Train",
        "Type": "Training",
        "Arguments": {
            "AlgorithmSpecification": {
                "TrainingImage": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
                "TrainingInputMode": "File",
            },
            "HyperParameters": {"num_round": "5", "max_dept": "3"},
            "InputDataConfig": [
                {
                    "ChannelName": "train",
                    "ContentType": "text/csv",
                    "DataSource": {
                        "S3DataSource": {
                            "S3Uri": "s3://smgha-local/train",
                            "S3DataType": "S3Prefix",
                        }
                    },
                }
            ],
            "OutputDataConfig": {"S3OutputPath": "s3://smgha-local/models"},
        },
    }
    arn = start(backend, [training])

    assert wait_for(backend, arn) == "Failed"
    assert (
        backend.pipelines.list_steps(arn)[0].failure_reason
        == "ClientError: hyperparameters not supported by XGBoost: ['max_dept']"
    )


# ---- executions: idempotency, stop, a lost executor ------------------------------------------


def test_the_same_token_returns_the_same_execution(backend: LocalBackend) -> None:
    put_script(backend, "noop.py", "pass")
    backend.pipelines.upsert_pipeline("p", {"Steps": [processing_step("A", "noop.py")]}, "", {})
    first = backend.pipelines.start_execution("p", {}, "t" * 40)
    assert backend.pipelines.start_execution("p", {}, "t" * 40) == first
    second = backend.pipelines.start_execution("p", {}, "u" * 40)
    assert second != first
    assert wait_for(backend, first) == wait_for(backend, second) == "Succeeded"


def test_an_execution_is_found_by_its_whole_arn(backend: LocalBackend) -> None:
    """SageMaker's DescribePipelineExecution: the same id under another pipeline's name is
    ResourceNotFound, not that execution."""
    put_script(backend, "noop.py", "pass")
    arn = start(backend, [processing_step("A", "noop.py")])
    assert wait_for(backend, arn) == "Succeeded"
    elsewhere = arn.replace("/p/execution/", "/other/execution/")
    assert elsewhere != arn
    with pytest.raises(StageError, match="ResourceNotFound"):
        backend.pipelines.describe_execution(elsewhere)


def test_stop_ends_the_executor_and_marks_the_execution_stopped(backend: LocalBackend) -> None:
    put_script(backend, "slow.py", "import time; time.sleep(60)")
    arn = start(backend, [processing_step("Slow", "slow.py")])
    deadline = time.monotonic() + 20
    while not backend.pipelines.list_steps(arn) and time.monotonic() < deadline:
        time.sleep(0.05)

    backend.pipelines.stop_execution(arn)

    assert backend.pipelines.describe_execution(arn).status == "Stopped"
    # The step it was running stopped with it (StopPipelineExecution stops the running step).
    assert [step.status for step in backend.pipelines.list_steps(arn)] == ["Stopped"]


def test_an_executor_that_dies_is_reported_as_failed(backend: LocalBackend, tmp_path: Path) -> None:
    put_script(backend, "slow.py", "import time; time.sleep(60)")
    arn = start(backend, [processing_step("Slow", "slow.py")])
    pid = json.loads(
        (backend.root / "executions" / arn.rsplit("/", 1)[-1] / "execution.json").read_text()
    )["ExecutorPid"]
    os.killpg(pid, signal.SIGKILL)  # the executor and its job: nothing can write a status

    other_process_view = LocalBackend(
        region=REGION, root=backend.root
    )  # not the parent: sees only the pid
    backend.pipelines._children[arn].wait(timeout=10)  # reap our child so the pid is really gone
    record = other_process_view.pipelines.describe_execution(arn)

    assert record.status == "Failed"
    assert "stopped without finishing" in record.failure_reason


# ---- S3 on disk ---------------------------------------------------------------------------------


def test_s3_uris_are_key_prefixes(tmp_path: Path) -> None:
    s3 = LocalS3(tmp_path)
    s3.put_bytes("s3://bucket/data/churn.csv", b"1")
    s3.put_bytes("s3://bucket/data/extra/more.csv", b"2")
    s3.put_bytes("s3://bucket/database.csv", b"3")
    assert [key for _, key in s3.objects("s3://bucket/data")] == [
        "churn.csv",
        "extra/more.csv",
        "database.csv",
    ]
    assert [key for _, key in s3.objects("s3://bucket/data/churn.csv")] == ["churn.csv"]
    assert s3.download("s3://bucket/data/", tmp_path / "out") == 2
    with pytest.raises(ValueError, match="names no bucket"):
        s3.path("s3:///key")


def test_spawned_processes_never_import_an_smgha_of_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A consumer's workspace (a fork of this repository) has an smgha/ of its own: the
    executor, deployer and endpoint servers the local backend starts must run the toolkit's
    copy, as `python -m` from that directory would not."""
    import subprocess
    import sys

    from smgha.backends.local import state

    workspace = tmp_path / "fork"
    fake = workspace / "smgha" / "backends" / "local"
    fake.mkdir(parents=True)
    for package in (workspace / "smgha", workspace / "smgha" / "backends", fake):
        (package / "__init__.py").write_text("print('WORKSPACE COPY RAN', flush=True)\n")
    (fake / "deployer.py").write_text("print('WORKSPACE COPY RAN', flush=True)\n")
    monkeypatch.chdir(workspace)
    # The control: plain `python -m` from the workspace runs the workspace's copy.
    plain = subprocess.run(
        [sys.executable, "-m", "smgha.backends.local.deployer", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "WORKSPACE COPY RAN" in plain.stdout
    folder = tmp_path / "deployment"
    folder.mkdir()
    child = state.spawn("smgha.backends.local.deployer", folder, "deployer.log")
    child.wait(timeout=60)
    log = (folder / "deployer.log").read_text()
    assert "WORKSPACE COPY RAN" not in log
    # The toolkit's deployer ran (and stopped: the folder holds no deployment.json).
    assert child.returncode == 1
    assert f"{state.__file__.rsplit('/', 1)[0]}/deployer.py" in log
    assert "deployment.json" in log


def test_the_local_deployer_shifts_an_instance_count_canary_as_a_share_of_the_fleet() -> None:
    """deploy-endpoint sends a canary as INSTANCE_COUNT when a percentage of the fleet is not a
    whole number of instances: 1 instance of a 2-instance fleet is half the traffic."""
    from smgha.backends.local.deployer import traffic_schedule

    canary = {"Type": "CANARY", "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1}}
    assert traffic_schedule(canary, 2) == [50.0, 100.0]
    assert traffic_schedule(canary, 4) == [25.0, 100.0]
    percent = {"Type": "CANARY", "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 20}}
    assert traffic_schedule(percent, 2) == [20.0, 100.0]
    linear = {"Type": "LINEAR", "LinearStepSize": {"Type": "INSTANCE_COUNT", "Value": 1}}
    assert traffic_schedule(linear, 3) == [100 / 3, 200 / 3, 100.0]
    assert traffic_schedule({"Type": "ALL_AT_ONCE"}, 2) == [100.0]
