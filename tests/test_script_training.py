"""Script-mode training on the local backend: a real scikit-learn train.py under the toolkit's
contract (SDK v2 hyperparameters and SDK v3 ModelTrainer request shapes), and each bad input."""

from __future__ import annotations

import json
import os
import tarfile
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from smgha import definition as defn
from smgha.backends.local import LocalBackend, script_training, training
from smgha.errors import StageError
from tests.test_endpoint_server import tarball
from tests.test_pipeline_definition import FakeAws, offline  # noqa: F401 (a fixture)

REGION = "us-east-1"
SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
CODE_ARCHIVE = "s3://smgha-local/code/sourcedir.tar.gz"

TRAIN_PY = """
    import argparse, glob, json, os, sys

    import joblib
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    parser = argparse.ArgumentParser()
    # One letter: the toolkit passes -C (to_cmd_args), the SDK v3 driver --C.
    parser.add_argument("-C", "--C", type=float)
    parser.add_argument("--max_iter", type=int)
    parser.add_argument("--solver")
    args = parser.parse_args()

    def frame(channel):
        files = sorted(glob.glob(os.path.join(os.environ["SM_CHANNEL_" + channel], "*.csv")))
        data = pd.concat([pd.read_csv(f, header=None) for f in files])
        return data.iloc[:, 1:].to_numpy(), data.iloc[:, 0].to_numpy()

    x, y = frame("TRAIN")
    model = LogisticRegression(C=args.C, max_iter=args.max_iter, solver=args.solver).fit(x, y)
    print(f"train_accuracy={model.score(x, y):.4f}")
    vx, vy = frame("VALIDATION")
    print(f"validation_accuracy={model.score(vx, vy):.4f}")
    joblib.dump(model, os.path.join(os.environ["SM_MODEL_DIR"], "model.joblib"))
    seen = {
        "argv": sys.argv[1:],
        "cwd": os.getcwd(),
        "env": {k: v for k, v in os.environ.items() if k.startswith("SM_") or k == "TRAINING_JOB_NAME"},
        # Hard-coded container paths, as training scripts also read them.
        "config": {
            name: json.load(open("/opt/ml/input/config/" + name))
            for name in ("hyperparameters.json", "inputdataconfig.json", "resourceconfig.json")
        },
        "neighbour": __import__("helper").VALUE,
    }
    with open("/opt/ml/model/seen.json", "w") as f:
        json.dump(seen, f)
    with open(os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], "notes.txt"), "w") as f:
        f.write("done")
"""

METRICS = [
    {"Name": "train:accuracy", "Regex": r"train_accuracy=([0-9.]+)"},
    {"Name": "validation:accuracy", "Regex": r"validation_accuracy=([0-9.]+)"},
    {"Name": "never:printed", "Regex": r"loss=([0-9.]+)"},
]


@pytest.fixture
def backend(tmp_path: Path) -> LocalBackend:
    local = LocalBackend(region=REGION, root=tmp_path / "state")
    rows = [f"{i % 2},{(i % 2) * 2 + i / 100:.3f},{i / 50:.3f}" for i in range(40)]
    local.objects.put_object("s3://smgha-local/data/train/train.csv", "\n".join(rows).encode())
    local.objects.put_object("s3://smgha-local/data/validation/v.csv", "\n".join(rows).encode())
    return local


def code_archive(files: dict[str, str]) -> bytes:
    return tarball({name: textwrap.dedent(text).encode() for name, text in files.items()})


def channel(name: str, uri: str) -> dict[str, Any]:
    return {
        "ChannelName": name,
        "DataSource": {"S3DataSource": {"S3Uri": uri, "S3DataType": "S3Prefix"}},
        "ContentType": "text/csv",
    }


def v2_training_step(
    program: str = "train.py", channels: tuple[str, ...] = ("train", "validation")
) -> dict[str, Any]:
    """As SDK v2's SKLearn estimator writes it: JSON-encoded hyperparameter values."""
    return {
        "Name": "Train",
        "Type": "Training",
        "Arguments": {
            "AlgorithmSpecification": {
                "TrainingImage": SKLEARN_IMAGE,
                "TrainingInputMode": "File",
                "MetricDefinitions": METRICS,
            },
            "HyperParameters": {
                "C": "0.5",
                "max_iter": "200",
                "solver": '"lbfgs"',
                "sagemaker_program": json.dumps(program),
                "sagemaker_submit_directory": json.dumps(CODE_ARCHIVE),
                "sagemaker_region": json.dumps(REGION),
            },
            "InputDataConfig": [channel(c, f"s3://smgha-local/data/{c}") for c in channels],
            "OutputDataConfig": {"S3OutputPath": "s3://smgha-local/models"},
            "ResourceConfig": {
                "InstanceType": "ml.m5.large",
                "InstanceCount": 1,
                "VolumeSizeInGB": 5,
            },
            "StoppingCondition": {"MaxRuntimeInSeconds": 600},
        },
    }


def run(backend: LocalBackend, step: dict[str, Any]) -> tuple[str, Any]:
    definition = {"Version": "2020-12-01", "Parameters": [], "Steps": [step]}
    defn.check_wiring(definition)
    backend.pipelines.upsert_pipeline("p", definition, "", {})
    arn = backend.pipelines.start_execution("p", {}, os.urandom(16).hex())
    deadline = time.monotonic() + 120
    while not backend.pipelines.describe_execution(arn).finished:
        assert time.monotonic() < deadline, "the execution did not finish"
        time.sleep(0.1)
    return backend.pipelines.describe_execution(arn).status, backend.pipelines.list_steps(arn)[0]


def described(backend: LocalBackend, step_name: str = "Train") -> dict[str, Any]:
    found = list(backend.layout.root.rglob(f"{step_name}/described.json"))
    assert len(found) == 1, found
    return json.loads(found[0].read_text())


def unpacked(backend: LocalBackend, uri: str, tmp_path: Path) -> Path:
    target = tmp_path / "unpacked" / Path(uri).name
    with tarfile.open(backend.objects.path(uri)) as t:
        t.extractall(target, filter="data")
    return target


def test_a_v2_script_mode_job_trains_under_the_toolkit_contract(
    backend: LocalBackend, tmp_path: Path
) -> None:
    backend.objects.put_object(
        CODE_ARCHIVE, code_archive({"train.py": TRAIN_PY, "helper.py": "VALUE = 7\n"})
    )
    status, step = run(backend, v2_training_step())
    assert status == "Succeeded", step.failure_reason

    job = described(backend)
    metrics = {m["MetricName"]: m["Value"] for m in job["FinalMetricDataList"]}
    assert set(metrics) == {"train:accuracy", "validation:accuracy"}  # no match, no metric
    assert 0.5 < metrics["validation:accuracy"] <= 1.0
    model_uri = job["ModelArtifacts"]["S3ModelArtifacts"]
    assert model_uri == f"s3://smgha-local/models/{job['TrainingJobName']}/output/model.tar.gz"

    model_dir = unpacked(backend, model_uri, tmp_path)
    assert sorted(p.name for p in model_dir.iterdir()) == ["model.joblib", "seen.json"]
    import joblib

    model = joblib.load(model_dir / "model.joblib")
    assert model.C == 0.5 and model.max_iter == 200
    output = unpacked(backend, model_uri.replace("model.tar.gz", "output.tar.gz"), tmp_path)
    assert (output / "notes.txt").read_text() == "done"

    seen = json.loads((model_dir / "seen.json").read_text())
    # mapping.py:to_cmd_args: sorted names, values decoded from JSON, sagemaker_* left out.
    assert seen["argv"] == ["-C", "0.5", "--max_iter", "200", "--solver", "lbfgs"]
    assert seen["cwd"].endswith("/container/opt/ml/code")
    assert seen["neighbour"] == 7
    env = seen["env"]
    assert json.loads(env["SM_HPS"]) == {"C": 0.5, "max_iter": 200, "solver": "lbfgs"}
    assert env["SM_HP_C"] == "0.5" and env["SM_HP_MAX_ITER"] == "200"
    assert env["SM_HP_SOLVER"] == "lbfgs"
    assert json.loads(env["SM_CHANNELS"]) == ["train", "validation"]
    assert env["SM_CHANNEL_TRAIN"].endswith("/container/opt/ml/input/data/train")
    assert env["SM_MODEL_DIR"].endswith("/container/opt/ml/model")
    assert env["SM_OUTPUT_DATA_DIR"].endswith("/container/opt/ml/output/data")
    assert json.loads(env["SM_HOSTS"]) == ["algo-1"] and env["SM_CURRENT_HOST"] == "algo-1"
    assert int(env["SM_NUM_CPUS"]) >= 1 and env["SM_NUM_GPUS"] == "0"
    assert env["TRAINING_JOB_NAME"] == job["TrainingJobName"]
    config = seen["config"]
    assert config["hyperparameters.json"]["sagemaker_program"] == '"train.py"'
    assert config["inputdataconfig.json"]["train"]["ContentType"] == "text/csv"
    assert config["resourceconfig.json"]["current_host"] == "algo-1"
    assert config["resourceconfig.json"]["current_instance_type"] == "ml.m5.large"


def test_an_sdk_v3_model_trainer_job_runs_its_entry_script(
    backend: LocalBackend, tmp_path: Path
) -> None:
    """The request shape ModelTrainer(source_code=SourceCode(...)) produces (model_trainer.py)."""
    for name, text in {"train.py": TRAIN_PY, "helper.py": "VALUE = 3\n"}.items():
        backend.objects.put_object(
            f"s3://smgha-local/v3/code/{name}", textwrap.dedent(text).encode()
        )
    source = {"source_dir": "/src", "entry_script": "train.py", "command": None}
    backend.objects.put_object(
        "s3://smgha-local/v3/drivers/sourcecode.json", json.dumps(source).encode()
    )
    backend.objects.put_object("s3://smgha-local/v3/drivers/distributed.json", b"{}")
    step = v2_training_step()
    arguments = step["Arguments"]
    arguments["AlgorithmSpecification"] |= {
        "ContainerEntrypoint": ["/bin/bash"],
        "ContainerArguments": [
            "-c",
            "chmod +x /opt/ml/input/data/sm_drivers/sm_train.sh && /opt/ml/input/data/sm_drivers/sm_train.sh",
        ],
    }
    arguments["HyperParameters"] = {"C": "0.25", "max_iter": "100", "solver": "lbfgs"}
    arguments["InputDataConfig"] += [
        channel("code", "s3://smgha-local/v3/code"),
        channel("sm_drivers", "s3://smgha-local/v3/drivers"),
    ]
    status, record = run(backend, step)
    assert status == "Succeeded", record.failure_reason

    job = described(backend)
    seen = json.loads(
        (
            unpacked(backend, job["ModelArtifacts"]["S3ModelArtifacts"], tmp_path) / "seen.json"
        ).read_text()
    )
    # common/utils.py:hyperparameters_to_cli_args: request order, `--name value` always.
    assert seen["argv"] == ["--C", "0.25", "--max_iter", "100", "--solver", "lbfgs"]
    assert seen["cwd"].endswith("/container/opt/ml/input/data/code")
    assert seen["neighbour"] == 3
    # environment.py:set_env lists channels in the request's order, not sorted.
    assert json.loads(seen["env"]["SM_CHANNELS"]) == ["train", "validation", "code", "sm_drivers"]


def test_a_missing_entry_script_is_refused_at_upsert_when_the_code_is_there(
    backend: LocalBackend,
) -> None:
    backend.objects.put_object(CODE_ARCHIVE, code_archive({"train.py": TRAIN_PY}))
    definition = {
        "Version": "2020-12-01",
        "Parameters": [],
        "Steps": [v2_training_step("trian.py")],
    }
    with pytest.raises(StageError) as raised:
        backend.pipelines.upsert_pipeline("p", definition, "", {})
    assert raised.value.title == "The local backend cannot run step 'Train'"
    assert "the entry script 'trian.py' is not in the code at" in str(raised.value)
    assert "it holds: train.py" in str(raised.value)


def test_a_missing_entry_script_fails_the_job_when_the_code_arrives_later(
    backend: LocalBackend,
) -> None:
    definition = {
        "Version": "2020-12-01",
        "Parameters": [],
        "Steps": [v2_training_step("trian.py")],
    }
    backend.pipelines.upsert_pipeline("p", definition, "", {})  # no code yet: cannot be known
    backend.objects.put_object(CODE_ARCHIVE, code_archive({"train.py": TRAIN_PY}))
    arn = backend.pipelines.start_execution("p", {}, os.urandom(16).hex())
    deadline = time.monotonic() + 60
    while not backend.pipelines.describe_execution(arn).finished:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    step = backend.pipelines.list_steps(arn)[0]
    assert step.name == "Train" and step.status == "Failed"
    assert step.failure_reason.startswith("ClientError: the entry script 'trian.py' is not in")
    assert "it holds: train.py" in step.failure_reason


def test_a_channel_the_job_does_not_provide_is_named_with_the_fix(backend: LocalBackend) -> None:
    backend.objects.put_object(
        CODE_ARCHIVE, code_archive({"train.py": TRAIN_PY, "helper.py": "VALUE = 7\n"})
    )
    status, step = run(backend, v2_training_step(channels=("train",)))
    assert status == "Failed"
    assert step.failure_reason == training.MISSING_CHANNEL.format(
        channel="validation", variable="SM_CHANNEL_VALIDATION", provided=["train"]
    )


def test_a_framework_the_host_lacks_names_the_package_and_the_requirements_file(
    backend: LocalBackend,
) -> None:
    backend.objects.put_object(
        CODE_ARCHIVE, code_archive({"train.py": "import smgha_absent_framework.nn\n"})
    )
    status, step = run(backend, v2_training_step())
    assert status == "Failed"
    assert "'smgha_absent_framework'" in step.failure_reason
    assert "requirements-file input" in step.failure_reason
    # The import name is mapped to what a requirements file lists.
    explained = training.explain_failure(
        "ModuleNotFoundError: No module named 'sklearn.linear_model'", []
    )
    assert explained is not None and "Add 'scikit-learn'" in explained


def test_a_failure_file_the_script_writes_becomes_the_failure_reason(backend: LocalBackend) -> None:
    script = """
        with open("/opt/ml/output/failure", "w") as f:
            f.write("label column has NaN")
        raise SystemExit(2)
    """
    backend.objects.put_object(CODE_ARCHIVE, code_archive({"train.py": script}))
    status, step = run(backend, v2_training_step())
    assert status == "Failed"
    assert step.failure_reason == "AlgorithmError: label column has NaN"


def test_a_custom_image_without_script_mode_is_refused_at_upsert_but_wires(
    backend: LocalBackend,
) -> None:
    step = v2_training_step()
    step["Arguments"]["AlgorithmSpecification"]["TrainingImage"] = (
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/mine:1"
    )
    step["Arguments"]["HyperParameters"] = {"epochs": "3"}
    definition = {"Version": "2020-12-01", "Parameters": [], "Steps": [step]}
    defn.check_wiring(definition)  # the wiring checks (and dry-run) do not need to run it
    with pytest.raises(StageError) as raised:
        backend.pipelines.upsert_pipeline("p", definition, "", {})
    assert raised.value.title == "The local backend cannot run step 'Train'"
    assert "mine:1" in str(raised.value) and "backend: sagemaker" in str(raised.value)
    assert backend.pipelines.get_pipeline_definition("p") is None


def test_a_custom_entrypoint_is_refused_and_the_builtin_xgboost_image_is_not() -> None:
    request = {
        "AlgorithmSpecification": {
            "TrainingImage": SKLEARN_IMAGE,
            "ContainerEntrypoint": ["python", "x.py"],
        }
    }
    assert "ContainerEntrypoint" in (script_training.refusal(request) or "")
    xgboost = {"AlgorithmSpecification": {"TrainingImage": "x/sagemaker-xgboost:1.7-1"}}
    assert script_training.refusal(xgboost) is None
    # An image of your own is not the built-in algorithm because its name holds "xgboost".
    own = {"AlgorithmSpecification": {"TrainingImage": "1.dkr.ecr.x/my-xgboost:2"}}
    assert "my-xgboost:2" in (script_training.refusal(own) or "")
    expression = {"AlgorithmSpecification": {"TrainingImage": {"Get": "Parameters.Image"}}}
    assert script_training.refusal(expression) is None


# ---- a definition the SDK v3 builds, run as built --------------------------------------------


@pytest.mark.usefixtures("offline")  # no network, no AWS, the SDK's config files empty
def test_a_model_trainer_definition_built_by_the_sdk_runs_locally(
    backend: LocalBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sagemaker.core.training.configs import Compute, InputData, OutputDataConfig, SourceCode
    from sagemaker.core.workflow.pipeline_context import PipelineSession
    from sagemaker.mlops.workflow.pipeline import Pipeline
    from sagemaker.mlops.workflow.steps import TrainingStep
    from sagemaker.train.model_trainer import ModelTrainer

    source_dir = tmp_path / "src"
    source_dir.mkdir()
    (source_dir / "train.py").write_text(textwrap.dedent(TRAIN_PY))
    (source_dir / "helper.py").write_text("VALUE = 5\n")
    monkeypatch.chdir(tmp_path)
    fake = FakeAws()
    session = PipelineSession(boto_session=fake.boto_session, default_bucket="smgha-local")
    trainer = ModelTrainer(
        training_image=SKLEARN_IMAGE,
        role="arn:aws:iam::111122223333:role/train",
        source_code=SourceCode(source_dir="src", entry_script="train.py"),
        compute=Compute(instance_type="ml.m5.large", instance_count=1),
        hyperparameters={"C": 0.5, "max_iter": 150, "solver": "lbfgs"},
        output_data_config=OutputDataConfig(s3_output_path="s3://smgha-local/models"),
        sagemaker_session=session,
        base_job_name="train",
    )
    inputs = [
        InputData(channel_name=c, data_source=f"s3://smgha-local/data/{c}", content_type="text/csv")
        for c in ("train", "validation")
    ]
    step = TrainingStep(name="Train", step_args=trainer.train(input_data_config=inputs))
    pipeline = Pipeline(name="p", steps=[step], sagemaker_session=session)
    definition = json.loads(pipeline.definition())
    for uri, body in fake.uploads.items():  # what the SDK uploaded, now in the local S3
        backend.objects.put_object(uri, body)
    arguments = definition["Steps"][0]["Arguments"]
    assert script_training.script_source(arguments) == script_training.ScriptSource(
        sdk_v3=True, entry_script="", submit_directory=""
    )
    arguments["AlgorithmSpecification"]["MetricDefinitions"] = METRICS

    status, record = run(backend, definition["Steps"][0])
    assert status == "Succeeded", record.failure_reason
    job = described(backend)
    model_dir = unpacked(backend, job["ModelArtifacts"]["S3ModelArtifacts"], tmp_path)
    seen = json.loads((model_dir / "seen.json").read_text())
    assert seen["argv"] == ["--C", "0.5", "--max_iter", "150", "--solver", "lbfgs"]
    assert seen["neighbour"] == 5
    assert {m["MetricName"] for m in job["FinalMetricDataList"]} == {
        "train:accuracy",
        "validation:accuracy",
    }


XGBOOST_TRAIN_PY = """
    import argparse, os

    import numpy as np
    import xgboost

    parser = argparse.ArgumentParser()
    parser.add_argument("--num_round", type=int)
    parser.add_argument("--max_depth", type=int)
    args = parser.parse_args()
    data = np.loadtxt(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "train.csv"), delimiter=",")
    dtrain = xgboost.DMatrix(data[:, 1:], label=data[:, 0])
    history = {}
    booster = xgboost.train(
        {"objective": "binary:logistic", "eval_metric": "auc", "max_depth": args.max_depth},
        dtrain, num_boost_round=args.num_round, evals=[(dtrain, "train")],
        evals_result=history, verbose_eval=False,
    )
    print(f"[{args.num_round - 1}]#011train-auc:{history['train']['auc'][-1]:.5f}")
    # Native code writes to the path it is given: SM_MODEL_DIR is a real folder here.
    booster.save_model(os.path.join(os.environ["SM_MODEL_DIR"], "xgboost-model.json"))
"""


def test_the_xgboost_framework_in_script_mode_runs_the_script_not_the_builtin_algorithm(
    backend: LocalBackend, tmp_path: Path
) -> None:
    backend.objects.put_object(CODE_ARCHIVE, code_archive({"train.py": XGBOOST_TRAIN_PY}))
    step = v2_training_step(channels=("train",))
    arguments = step["Arguments"]
    arguments["AlgorithmSpecification"]["TrainingImage"] = (
        "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
    )
    # The framework's own metric regex (sagemaker xgboost estimator's definitions).
    arguments["AlgorithmSpecification"]["MetricDefinitions"] = [
        {"Name": "train:auc", "Regex": r".*\[[0-9]+\].*#011train-auc:([-+]?[0-9]*\.?[0-9]+)"}
    ]
    arguments["HyperParameters"] = {
        "num_round": "12",
        "max_depth": "3",
        "sagemaker_program": '"train.py"',
        "sagemaker_submit_directory": json.dumps(CODE_ARCHIVE),
    }
    status, record = run(backend, step)
    assert status == "Succeeded", record.failure_reason
    job = described(backend)
    [metric] = job["FinalMetricDataList"]
    assert metric["MetricName"] == "train:auc" and 0.5 < metric["Value"] <= 1.0
    model_dir = unpacked(backend, job["ModelArtifacts"]["S3ModelArtifacts"], tmp_path)
    import xgboost

    booster = xgboost.Booster()
    booster.load_model(str(model_dir / "xgboost-model.json"))
    assert booster.num_boosted_rounds() == 12
