"""batch-transform on the local backend with real xgboost models over a generated CSV dataset
(split Line, MultiRecord and SingleRecord, join-source Input, filters), its checks and its
publication; the rules that refuse contradictions before anything is created; the wait. The
sagemaker backend's requests, IAM and the workflow: tests/test_batch_transform_aws.py."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from smgha.backends.local import LocalBackend
from smgha.backends.local.serving.model import read_booster
from smgha.errors import StageError
from smgha.runner import Runner
from smgha.stages import batch_transform
from tests.stage_helpers import GITHUB_CONTEXT, local_backend_in, run_main
from tests.test_deploy_endpoint import FEATURES, register, train

INPUT = "s3://smgha-local/batch/input/"
OUTPUT = "s3://smgha-local/batch/output"
POINTER = f"{OUTPUT}/_LATEST.json"


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalBackend]:
    yield from local_backend_in(tmp_path, monkeypatch)


def dataset(seed: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows labelled by the rule train() learns (plus noise), as the model should score them."""
    rng = np.random.default_rng(seed)
    data = rng.normal(size=(rows, FEATURES))
    labels = (data[:, 0] + data[:, 1] * 0.5 + rng.normal(scale=0.5, size=rows) > 0).astype(int)
    return data, labels


def upload(
    local: LocalBackend, parts: int = 2, rows: int = 60
) -> list[tuple[np.ndarray, np.ndarray]]:
    """`parts` CSV objects under INPUT, each row its label then its features."""
    written = []
    for part in range(parts):
        data, labels = dataset(100 + part, rows)
        text = "".join(f"{label}," + ",".join(f"{x:.5f}" for x in row) + "\n" for row, label in zip(data, labels, strict=True))  # fmt: skip
        local.objects.put_object(f"{INPUT}part-{part}.csv", text.encode())
        written.append((np.round(data, 5), labels))
    return written


LABELLED = {  # label first, kept from the model; each output row: its label and prediction
    "label-column": "first",
    "input-filter": "$[1:]",
    "join-source": "Input",
    "output-filter": "$[0,-1]",
}


def transform(package: str, **overrides: str) -> Any:
    inputs = {
        "backend": "local",
        "model-package-arn": package,
        "input-s3-uri": INPUT,
        "output-s3-uri": OUTPUT,
        "timeout-minutes": "5",
        **LABELLED,
    }
    inputs.update(overrides)
    return run_main(batch_transform.main, inputs, **GITHUB_CONTEXT)


def output_rows(local: LocalBackend, location: str, part: int) -> list[list[float]]:
    body = local.objects.read_object(f"{location}part-{part}.csv.out").decode()
    return [[float(v) for v in line.split(",")] for line in body.splitlines()]


def expected_predictions(local: LocalBackend, data: np.ndarray) -> np.ndarray:
    booster = read_booster(str(local.objects.path("s3://smgha-local/models/v1/model.tar.gz")))
    return np.asarray(booster.inplace_predict(data.astype(np.float32)))


# ---- a real model over a real dataset --------------------------------------------------------


@pytest.mark.parametrize("strategy", ["MultiRecord", "SingleRecord"])
def test_a_real_model_transforms_the_dataset_and_the_checked_output_is_published(
    local: LocalBackend, strategy: str
) -> None:
    written = upload(local)
    package = register(local, train(rounds=20, depth=3, seed=1))

    result = transform(package, **{"batch-strategy": strategy, "min-accuracy": "0.7"})

    assert result.code == 0, result.log
    job, location = result.outputs["transform-job-name"], result.outputs["output-location"]
    assert location == f"{OUTPUT}/{job}/"
    assert result.outputs["published"] == "true" and result.outputs["status"] == "published"
    checks = {c["name"]: c for c in json.loads(result.outputs["checks"])}
    assert all(c["passed"] for c in checks.values()), checks
    assert "120 labelled rows" in checks["accuracy"]["detail"]
    for part, (data, labels) in enumerate(written):
        rows = output_rows(local, location, part)
        # join-source Input then output-filter $[0,-1]: each row's label, then its prediction,
        # the model's own on the row's features (the label never reached the model).
        assert [row[0] for row in rows] == labels.tolist()
        assert np.allclose([row[1] for row in rows], expected_predictions(local, data), atol=1e-6)
    assert local.objects.read_json(POINTER) == {
        "TransformJobName": job,
        "OutputLocation": location,
        "ModelPackageArn": package,
    }
    record = local.transforms.describe_transform_job(job)
    assert record is not None and record["TransformJobStatus"] == "Completed"
    assert record.get("BatchStrategy") == strategy
    assert "| accuracy | ✅ |" in result.summary


def test_without_join_each_output_line_is_the_prediction_of_its_input_line(
    local: LocalBackend,
) -> None:
    ((data, _labels),) = upload(local, parts=1)
    package = register(local, train(rounds=20, depth=3, seed=1))

    result = transform(package, **{"join-source": "None", "output-filter": ""})

    assert result.code == 0, result.log
    rows = output_rows(local, result.outputs["output-location"], 0)
    assert all(len(row) == 1 for row in rows)
    assert np.allclose([row[0] for row in rows], expected_predictions(local, data), atol=1e-6)


def test_the_same_inputs_again_find_the_completed_job_and_start_no_other(
    local: LocalBackend,
) -> None:
    upload(local)
    package = register(local, train(rounds=20, depth=3, seed=1))
    first = transform(package)
    record = local.transforms.describe_transform_job(first.outputs["transform-job-name"])

    again = transform(package)

    assert again.code == 0, again.log
    assert again.outputs["transform-job-name"] == first.outputs["transform-job-name"]
    assert "exists (Completed): not starting another" in again.log
    assert local.transforms.describe_transform_job(first.outputs["transform-job-name"]) == record
    assert len(list((local.root / "transform-jobs").glob("*.json"))) == 1


def test_a_failed_check_leaves_the_earlier_output_published(local: LocalBackend) -> None:
    upload(local)
    good = register(local, train(rounds=20, depth=3, seed=1))
    published = transform(good, **{"min-accuracy": "0.7"})
    assert published.code == 0, published.log
    # A model of noise: about half its predictions are wrong.
    rng = np.random.default_rng(9)
    import xgboost

    noise = xgboost.train(
        {"objective": "binary:logistic", "max_depth": 3},
        xgboost.DMatrix(rng.normal(size=(300, FEATURES)), label=rng.integers(0, 2, 300)),
        20,
    )
    from tests.test_deploy_endpoint import tarball

    bad = register(local, tarball(bytes(noise.save_raw(raw_format="ubj"))))

    result = transform(bad, **{"min-accuracy": "0.7"})

    assert result.code == 1
    assert result.outputs["published"] == "false" and result.outputs["status"] == "not-published"
    checks = {c["name"]: c for c in json.loads(result.outputs["checks"])}
    assert not checks["accuracy"]["passed"] and "< 0.7" in checks["accuracy"]["detail"]
    assert len(result.errors) == 1 and "output checks failed" in result.errors[0]
    assert published.outputs["transform-job-name"] in result.errors[0]
    # The job ran and wrote its output, but the pointer still names the earlier job.
    assert local.objects.read_json(POINTER)["TransformJobName"] == published.outputs["transform-job-name"]  # fmt: skip
    assert local.objects.list_objects(result.outputs["output-location"])


def test_a_prediction_out_of_range_fails_the_row_check_and_publishes_nothing(
    local: LocalBackend,
) -> None:
    upload(local, parts=1)
    package = register(local, train(rounds=20, depth=3, seed=1))

    result = transform(package, **{"prediction-range": "0,0.5"})

    assert result.code == 1
    checks = {c["name"]: c for c in json.loads(result.outputs["checks"])}
    assert not checks["prediction-range"]["passed"]
    assert "is outside [0, 0.5]" in checks["prediction-range"]["detail"]
    assert local.objects.missing_objects([POINTER]) == [POINTER]


def test_a_job_the_container_fails_publishes_nothing_and_says_why(local: LocalBackend) -> None:
    upload(local, parts=1)
    package = register(local, train(rounds=20, depth=3, seed=1))

    # Without the input filter the label reaches the model: 29 columns for 28 features.
    result = transform(package, **{"label-column": "none", "input-filter": "", "join-source": "None", "output-filter": ""})  # fmt: skip

    assert result.code == 1
    assert len(result.errors) == 1 and "Failed" in result.errors[0], result.errors
    assert "the container answered 400" in result.errors[0]
    assert local.objects.missing_objects([POINTER]) == [POINTER]


# ---- contradictions: one error naming both inputs, nothing created -----------------------------


@pytest.mark.parametrize(
    ("overrides", "name", "problem"),
    [
        ({"input-s3-uri": ""}, "input-s3-uri", "output-s3-uri 's3://smgha-local/batch/output' was given without one"),
        ({"output-s3-uri": ""}, "output-s3-uri", "is required with input-s3-uri"),
        ({"split-type": "None", "batch-strategy": "MultiRecord"}, "batch-strategy", "does not apply with split-type None"),
        ({"join-source": "Input", "assemble-with": "None", "check-output": "false"}, "assemble-with", "does not apply with join-source Input"),
        ({"join-source": "Input", "split-type": "None", "check-output": "false"}, "split-type", "does not apply with join-source Input"),
        ({"max-payload-mb": "60", "max-concurrent-transforms": "2"}, "max-concurrent-transforms", "2 times max-payload-mb 60 is 120 MB"),
        ({"max-payload-mb": "0"}, "max-payload-mb", "from 1 to 100"),
        ({"max-payload-mb": "101"}, "max-payload-mb", "from 1 to 100"),
        ({"split-type": "Lines"}, "split-type", "is not one of None, Line, RecordIO, TFRecord"),
        ({"accept": "application/json"}, "accept", "does not apply with check-output: true"),
        ({"input-filter": ""}, "label-column", "first does not apply with an empty input-filter"),
        ({"input-filter": "[1:]"}, "input-filter", "is not a JSONPath"),
        ({"instance-type": "ml.m5.huge"}, "instance-type", ""),
        ({"min-accuracy": "0.8", "task": "regression"}, "min-accuracy", "applies to task: binary-classification"),
        ({"input-s3-uri": "s3://smgha-local/nothing/"}, "input-s3-uri", "no object has a key starting with"),
    ],
)  # fmt: skip
def test_a_contradiction_is_one_error_naming_the_inputs_and_creates_nothing(
    local: LocalBackend, overrides: dict[str, str], name: str, problem: str
) -> None:
    upload(local, parts=1)
    package = register(local, train(rounds=5, depth=2, seed=1))

    result = transform(package, **overrides)

    assert result.code == 1
    assert len(result.errors) == 1, result.log
    assert f"input '{name}'" in result.errors[0] and problem in result.errors[0], result.errors
    for kind in ("models", "transform-jobs"):
        assert not (local.root / kind).exists()
    assert local.objects.missing_objects([POINTER]) == [POINTER]


def test_an_unapproved_package_is_refused_as_deploy_endpoint_refuses_it(
    local: LocalBackend,
) -> None:
    upload(local, parts=1)
    package = register(local, train(rounds=5, depth=2, seed=1), status="PendingManualApproval")

    result = transform(package)

    assert result.code == 1
    assert "is PendingManualApproval, not Approved" in result.errors[0]
    assert not (local.root / "transform-jobs").exists()


# ---- dry run, and the wait ------------------------------------------------------------------------


def test_a_dry_run_shows_the_job_and_creates_nothing(local: LocalBackend) -> None:
    upload(local, parts=1)
    package = register(local, train(rounds=5, depth=2, seed=1))

    result = transform(package, **{"dry-run": "true"})

    assert result.code == 0, result.log
    assert result.outputs["status"] == "dry-run" and result.outputs["published"] == "false"
    assert '"TransformJobName": "' + result.outputs["transform-job-name"] in result.log
    for kind in ("models", "transform-jobs"):
        assert not (local.root / kind).exists()


class StillRunning:
    """A transform job that never ends: what the stage's wait sees of a slow SageMaker job."""

    poll_seconds = 20.0

    def __init__(self) -> None:
        self.calls: list[str] = []

    def create_transform_job(self, request: dict[str, Any]) -> None:
        self.calls.append(f"create {request['TransformJobName']}")

    def describe_transform_job(self, name: str) -> dict[str, Any] | None:
        return {"TransformJobName": name, "TransformJobStatus": "InProgress"}

    def stop_transform_job(self, name: str) -> None:
        self.calls.append(f"stop {name}")


def test_a_job_still_running_at_the_timeout_is_stopped_and_nothing_is_published(
    local: LocalBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    upload(local, parts=1)
    package = register(local, train(rounds=5, depth=2, seed=1))
    env = {f"INPUT_{k.upper().replace('-', '_')}": v for k, v in {"backend": "local", "model-package-arn": package, "input-s3-uri": INPUT, "output-s3-uri": OUTPUT, "timeout-minutes": "2", **LABELLED}.items()}  # fmt: skip
    inputs = batch_transform.load_inputs(Runner(env=env, stdout=io.StringIO()))
    planned = batch_transform.plan(inputs, local)
    job = StillRunning()
    monkeypatch.setattr(local, "transforms", job)
    now = [0.0]
    lines: list[str] = []

    with pytest.raises(StageError, match="timed out") as raised:
        batch_transform.run(planned, local, lines.append, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))  # fmt: skip

    assert job.calls == [f"create {planned.job}", f"stop {planned.job}"]
    assert "still InProgress after 2 min: stopped (StopTransformJob)" in raised.value.detail
    assert any(line.startswith(f"waiting for transform job {planned.job}: InProgress") for line in lines)  # fmt: skip
    assert local.objects.missing_objects([POINTER]) == [POINTER]


def test_smgha_batch_transform_runs_from_a_terminal(local: LocalBackend) -> None:
    from smgha import cli

    upload(local, parts=1)
    package = register(local, train(rounds=20, depth=3, seed=1))
    flags = [f"--{name}={value}" for name, value in LABELLED.items()]
    out = io.StringIO()

    code = cli.main(["batch-transform", "--backend=local", f"--model-package-arn={package}", f"--input-s3-uri={INPUT}", f"--output-s3-uri={OUTPUT}", *flags], out)  # fmt: skip

    assert code == 0, out.getvalue()
    assert local.objects.read_json(POINTER)["ModelPackageArn"] == package
