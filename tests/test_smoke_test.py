"""smoke-test: a fake endpoint serving a real tiny xgboost model, each check failing on its
own, the load generator, rollback, and every kind of bad input (nothing sent)."""

from __future__ import annotations

import ast
import contextlib
import io
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest import mock

import numpy as np
import pytest
import xgboost

from smgha.backends import Invocation
from smgha.backends.local import LocalBackend
from smgha.errors import InputError
from smgha.resources import rollout
from smgha.runner import Runner
from smgha.smoke.functional import parse_predictions
from smgha.smoke.load import load_test, percentile
from smgha.smoke.payloads import Row, encode, parse_payloads
from smgha.stages import smoke_test
from tests import test_deploy_endpoint as deployed
from tests.stage_helpers import GITHUB_CONTEXT, StageRun, run_main

ENDPOINT = "churn"
ROWS = 10  # payload rows of the default files
REQUESTS = 40  # load-test calls of a default run
local = deployed.local  # the fixture (a local backend that stops its endpoints), by name


@pytest.fixture(scope="module")
def model() -> xgboost.Booster:
    """A real binary:logistic booster on four features, trained in a few milliseconds."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(300, 4))
    y = (x[:, 0] + 0.5 * x[:, 1] - 0.25 * x[:, 3] > 0).astype(int)
    params = {"objective": "binary:logistic", "max_depth": 2, "eta": 0.5, "nthread": 1}
    return xgboost.train(params, xgboost.DMatrix(x, label=y), num_boost_round=8)


def predict(model: xgboost.Booster, features: Sequence[float | None]) -> float:
    row = np.array([[np.nan if v is None else v for v in features]], dtype=float)
    return float(model.inplace_predict(row)[0])


Fault = Callable[[int, Invocation], Invocation]


class FakeEndpoints:
    """An in-memory Hosting area: invoke_endpoint serves the booster's predictions.

    `fault(index, answer)` rewrites the answer of call `index` (0-based, in call order: the
    functional pass's rows come first); `latency(index)` is the reported wall time of a
    call; `sleep` really sleeps in each call (to observe concurrency). After update_endpoint
    the endpoint stays Updating for `updating_polls` describes, then is InService on the
    new config.
    """

    poll_seconds = 1.0

    def __init__(
        self,
        model: xgboost.Booster,
        status: str = "InService",
        config: str = "churn-v2",
        configs: tuple[str, ...] = ("churn-v1", "churn-v2"),
    ) -> None:
        self.model = model
        self.record: dict[str, Any] = {
            "EndpointName": ENDPOINT,
            "EndpointStatus": status,
            "EndpointConfigName": config,
        }
        self.configs = set(configs)
        self.calls: list[tuple[str, bytes, str, str]] = []
        self.updates: list[tuple[str, str, dict[str, Any] | None]] = []
        self.fault: Fault | None = None
        self.latency: Callable[[int], float] = lambda index: 0.004
        self.variant: Callable[[int], str] = lambda index: "AllTraffic"
        self.sleep = 0.0
        self.raise_on: set[int] = set()
        self.updating_polls = 0
        self.updated = False
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()

    def describe_endpoint(self, name: str) -> dict[str, Any] | None:
        if name != ENDPOINT:
            return None
        if self.updated and self.record["EndpointStatus"] == "Updating":
            if self.updating_polls > 0:
                self.updating_polls -= 1
            else:
                self.record["EndpointStatus"] = "InService"
        return dict(self.record)

    def describe_endpoint_config(self, name: str) -> dict[str, Any] | None:
        return {"EndpointConfigName": name} if name in self.configs else None

    def delete_endpoint(self, name: str) -> None:
        raise AssertionError(f"smoke-test deleted endpoint {name}")

    def update_endpoint(
        self, name: str, config_name: str, deployment_config: dict[str, Any] | None
    ) -> None:
        self.updates.append((name, config_name, deployment_config))
        self.updated = True
        self.record.update(EndpointStatus="Updating", EndpointConfigName=config_name)

    def variant_statistics(self, endpoint: str, *args: Any) -> Any:
        raise AssertionError(f"smoke-test reads no variant metrics of {endpoint}")

    def invoke_endpoint(
        self, name: str, body: bytes, content_type: str, accept: str = "text/csv"
    ) -> Invocation:
        with self.lock:
            index = len(self.calls)
            self.calls.append((name, body, content_type, accept))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.sleep:
                time.sleep(self.sleep)
            if index in self.raise_on:
                raise ConnectionError("connection reset by peer")
            if content_type == "text/csv":
                cells = body.decode().split(",")
                features = [float(c) if c else None for c in cells]
            else:
                features = json.loads(body)["instances"][0]
            with self.lock:
                score = predict(self.model, features)
            payload = (
                str(score)
                if accept == "text/csv"
                else json.dumps({"predictions": [{"score": score}]})
            )
            answer = Invocation(
                200, payload.encode(), accept, self.variant(index), self.latency(index)
            )
            return self.fault(index, answer) if self.fault else answer
        finally:
            with self.lock:
                self.in_flight -= 1

    # The rest of Hosting: smoke-test never creates, alarms or scales; a call fails.

    def serving_refusal(self, package: dict[str, Any]) -> tuple[str, str] | None:
        raise AssertionError("smoke-test does not deploy packages")

    def describe_model(self, name: str) -> dict[str, Any] | None:
        raise AssertionError("smoke-test does not describe models")

    def create_model(self, request: dict[str, Any]) -> None:
        raise AssertionError("smoke-test does not create models")

    def create_endpoint_config(self, request: dict[str, Any]) -> None:
        raise AssertionError("smoke-test does not create endpoint configs")

    def create_endpoint(self, name: str, config_name: str, tags: dict[str, str]) -> None:
        raise AssertionError("smoke-test does not create endpoints")

    def put_metric_alarm(self, request: dict[str, Any]) -> None:
        raise AssertionError("smoke-test does not put alarms")

    def describe_alarms(self, names: list[str]) -> list[dict[str, Any]]:
        raise AssertionError("smoke-test does not describe alarms")

    def register_scalable_target(self, request: dict[str, Any]) -> None:
        raise AssertionError("smoke-test does not register scalable targets")

    def put_scaling_policy(self, request: dict[str, Any]) -> str:
        raise AssertionError("smoke-test does not put scaling policies")

    def invoke_endpoint_async(
        self, name: str, input_location: str, content_type: str, accept: str = "text/csv"
    ) -> dict[str, Any]:
        raise AssertionError("these endpoints are real-time: InvokeEndpointAsync is refused")

    def async_result(self, name: str, submitted: dict[str, Any]) -> Invocation | None:
        raise AssertionError("these endpoints are real-time: nothing is submitted")

    def describe_scalable_target(
        self, resource_id: str, dimension: str = "sagemaker:variant:DesiredInstanceCount"
    ) -> dict[str, Any] | None:
        raise AssertionError("smoke-test does not describe scalable targets")

    def delete_scaling_policy(self, policy_name: str, resource_id: str) -> None:
        raise AssertionError("smoke-test does not delete scaling policies")

    def deregister_scalable_target(self, resource_id: str) -> None:
        raise AssertionError("smoke-test does not deregister scalable targets")


# ---- payload files ----------------------------------------------------------------------------


def feature_rows(count: int = ROWS) -> list[list[float]]:
    rng = np.random.default_rng(11)
    return [[round(float(v), 3) for v in rng.normal(size=4)] for _ in range(count)]


def classes(model: xgboost.Booster, rows: list[list[float]]) -> list[int]:
    return [1 if predict(model, row) >= 0.5 else 0 for row in rows]


def write_csv(path: Path, rows: list[list[float]], labels: list[int] | None = None) -> Path:
    lines = []
    for number, row in enumerate(rows):
        cells = [repr(v) for v in row]
        lines.append(",".join(([str(labels[number])] if labels else []) + cells))
    path.write_text("\n".join(lines) + "\n")
    return path


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


@contextlib.contextmanager
def serving(fake: FakeEndpoints) -> Iterator[None]:
    """smoke_test.main's stage_backend() answers with `fake` as its hosting area."""
    with mock.patch.object(
        smoke_test,
        "stage_backend",
        lambda runner, name, region: SimpleNamespace(hosting=fake, objects=None),
    ):
        yield


def smoke(fake: FakeEndpoints, workspace: Path, **inputs: str) -> StageRun:
    """main() against the fake, with a default CSV of ROWS rows and REQUESTS load calls."""
    if not (workspace / "payloads.csv").exists():
        write_csv(workspace / "payloads.csv", feature_rows())
    given = {
        "backend": "local",
        "endpoint-name": ENDPOINT,
        "payloads": "payloads.csv",
        "requests": str(REQUESTS),
    }
    given.update({key.replace("_", "-"): value for key, value in inputs.items()})
    with serving(fake):
        return run_main(smoke_test.main, given, GITHUB_WORKSPACE=str(workspace))


def report(workspace: Path, name: str = "smoke-test-report.json") -> dict[str, Any]:
    return json.loads((workspace / name).read_text())


def failed_checks(run: StageRun, workspace: Path) -> list[str]:
    return [c["name"] for c in report(workspace)["checks"] if not c["passed"]]


# ---- passing runs ------------------------------------------------------------------------------


def test_a_healthy_endpoint_passes_every_check(model: xgboost.Booster, tmp_path: Path) -> None:
    rows = feature_rows()
    labels = classes(model, rows)
    write_csv(tmp_path / "payloads.csv", rows, labels)
    # Within tolerance, though not equal: the check is a tolerance, not an equality.
    (tmp_path / "expected.txt").write_text(
        "".join(f"{predict(model, row) + 5e-5!r}\n" for row in rows)
    )
    fake = FakeEndpoints(model)
    fake.variant = lambda index: "Blue" if index % 2 else "Green"

    run = smoke(
        fake,
        tmp_path,
        label_column="first",
        expected="expected.txt",
        min_accuracy="0.9",
        concurrency="3",
    )

    assert run.code == 0, run.log
    assert run.errors == [] and run.warnings == []
    assert run.outputs == {
        "passed": "true",
        "report-path": str(tmp_path / "smoke-test-report.json"),
        "p50-ms": "4",
        "p99-ms": "4",
        "first-request-ms": "4",
        "error-rate": "0",
        "accuracy": "1",
        "rmse": "",
        "mae": "",
        "rolled-back": "false",
        "invocation": "real-time",
    }
    # The label is not sent: the first call is the row's features as written.
    assert fake.calls[0] == (
        ENDPOINT,
        ",".join(repr(v) for v in rows[0]).encode(),
        "text/csv",
        "text/csv",
    )
    assert len(fake.calls) == ROWS + REQUESTS
    # Round-robin: each row is sent REQUESTS / ROWS times by the load test.
    load_bodies = [body for _, body, _, _ in fake.calls[ROWS:]]
    assert {load_bodies.count(body) for body in load_bodies} == {REQUESTS // ROWS}

    document = report(tmp_path)
    assert [(c["name"], c["passed"]) for c in document["checks"]] == [
        ("status", True),
        ("content-type", True),
        ("shape", True),
        ("prediction-range", True),
        ("expected", True),
        ("accuracy", True),
        ("p99-latency", True),
        ("error-rate", True),
        ("completed", True),
    ]
    assert document["endpoint"] == ENDPOINT and document["backend"] == "local"
    assert document["endpoint_config"] == "churn-v2"
    assert document["started"] <= document["ended"]
    assert document["functional"] == {
        "rows": ROWS,
        "sent": ROWS,
        "failed": 0,
        "seconds": document["functional"]["seconds"],
        "first_request_ms": 4.0,
        "warm_median_ms": 4.0,
        "failures": [],
    }
    load = document["load"]
    assert (load["requests"], load["completed"], load["concurrency"]) == (REQUESTS, REQUESTS, 3)
    assert load["p50_ms"] == load["p95_ms"] == load["p99_ms"] == load["max_ms"] == 4.0
    assert (load["errors"], load["error_rate"], load["timed_out"]) == (0, 0.0, False)
    assert load["by_variant"] == {"Blue": REQUESTS // 2, "Green": REQUESTS // 2}
    assert document["task"] == "binary-classification"
    assert (document["accuracy"], document["rmse"], document["mae"]) == (1.0, None, None)
    assert document["passed"] is True and document["rolled_back"] is False

    assert "### smoke-test: churn ✅ passed" in run.summary
    assert "| status | ✅ | 10 of 10 responses answered HTTP 200 |" in run.summary
    assert (
        "| Calls | Concurrency | p50 | p95 | p99 | max | Error rate | Throughput |" in run.summary
    )
    assert (
        f"| {REQUESTS}/{REQUESTS} | 3 | 4.0 ms | 4.0 ms | 4.0 ms | 4.0 ms | 0.00% |" in run.summary
    )
    assert "| Blue | 20 |" in run.summary and "| Green | 20 |" in run.summary
    assert "pass  p99-latency: p99 4.0 ms <= 500 ms" in run.log


def test_json_lines_are_sent_as_instances_with_their_labels_and_expected_values(
    model: xgboost.Booster, tmp_path: Path
) -> None:
    rows = feature_rows()
    rows[4][2] = None  # type: ignore[call-overload]  # a missing value: null, sent as null
    records = [
        {"features": row, "label": label, "expected": predict(model, row), "id": f"c{n}"}
        for n, (row, label) in enumerate(zip(rows, classes(model, rows), strict=True))
    ]
    write_jsonl(tmp_path / "payloads.jsonl", records)
    fake = FakeEndpoints(model)

    run = smoke(fake, tmp_path, payloads="payloads.jsonl", min_accuracy="1", requests="0")

    assert run.code == 0, run.log
    assert len(fake.calls) == ROWS  # requests: 0, no load test
    name, body, content_type, accept = fake.calls[4]
    assert (content_type, accept) == ("application/json", "application/json")
    assert json.loads(body) == {"instances": [rows[4]]}
    assert json.loads(body)["instances"][0][2] is None
    assert run.outputs["accuracy"] == "1"
    assert run.outputs["p50-ms"] == run.outputs["p99-ms"] == run.outputs["error-rate"] == ""
    document = report(tmp_path)
    assert document["load"]["skipped"] == "requests: 0"
    assert document["load"]["completed"] == 0 and document["load"]["p99_ms"] is None
    assert [c["name"] for c in document["checks"]] == [
        "status",
        "content-type",
        "shape",
        "prediction-range",
        "expected",
        "accuracy",
        "completed",
    ]
    assert "Load test skipped: requests: 0." in run.summary


def test_a_csv_file_can_be_sent_as_json(model: xgboost.Booster, tmp_path: Path) -> None:
    rows = feature_rows()
    fake = FakeEndpoints(model)
    write_csv(tmp_path / "payloads.csv", rows, classes(model, rows))
    run = smoke(fake, tmp_path, label_column="first", content_type="application/json", requests="0")
    assert run.code == 0, run.log
    assert json.loads(fake.calls[0][1]) == {"instances": [rows[0]]}
    assert run.outputs["accuracy"] == "1"


# ---- each check failing on its own ------------------------------------------------------------


def on_row(row: int, change: Callable[[Invocation], Invocation]) -> Fault:
    """A fault on one functional-pass call (row 1 is call 0)."""
    return lambda index, answer: change(answer) if index == row - 1 else answer


def answering(**changes: Any) -> Callable[[Invocation], Invocation]:
    return lambda answer: Invocation(
        changes.get("status", answer.status),
        changes.get("body", answer.body),
        changes.get("content_type", answer.content_type),
        answer.variant,
        answer.seconds,
    )


@pytest.mark.parametrize(
    ("check", "fault", "reason"),
    [
        ("status", on_row(3, answering(status=500, body=b"ModelError")), "row 3: HTTP 500"),
        (
            "content-type",
            on_row(3, answering(content_type="application/json")),
            "row 3: answered 'application/json'",
        ),
        ("shape", on_row(3, answering(body=b"0.25,0.75")), "row 3: 2 predictions for one row"),
        ("shape", on_row(3, answering(body=b"")), "row 3: 0 predictions for one row"),
        ("shape", on_row(3, answering(body=b"oops")), "row 3: unreadable text/csv response"),
        ("prediction-range", on_row(3, answering(body=b"1.5")), "row 3: 1.5 is outside [0, 1]"),
        ("prediction-range", on_row(3, answering(body=b"nan")), "row 3: nan is not a finite"),
    ],
)
def test_a_bad_response_fails_its_own_check(
    model: xgboost.Booster, tmp_path: Path, check: str, fault: Fault, reason: str
) -> None:
    fake = FakeEndpoints(model)
    fake.fault = fault

    run = smoke(fake, tmp_path)

    assert run.code == 1
    assert failed_checks(run, tmp_path) == [check]
    assert len(run.errors) == 1
    assert run.errors[0].startswith("::error title=smoke-test%3A 1 check(s) failed::")
    assert f"{check}: 9 of 10 responses" in run.errors[0] and reason in run.errors[0]
    assert run.outputs["passed"] == "false" and run.outputs["rolled-back"] == "false"
    document = report(tmp_path)
    assert document["passed"] is False
    [failure] = document["functional"]["failures"]
    assert (failure["row"], failure["line"], failure["check"]) == (3, 3, check)
    assert failure["payload"] == ",".join(repr(v) for v in feature_rows()[2])
    # No load on an endpoint that answers wrongly.
    assert len(fake.calls) == ROWS
    assert document["load"]["skipped"] == "the functional pass failed"
    assert f"| {check} | ❌ |" in run.summary and "Failed rows (1, first 1 shown)" in run.summary


def test_a_prediction_off_its_expected_value_fails_the_expected_check(
    model: xgboost.Booster, tmp_path: Path
) -> None:
    rows = feature_rows()
    expected = [predict(model, row) for row in rows]
    expected[6] += 0.01
    (tmp_path / "expected.txt").write_text("".join(f"{value!r}\n" for value in expected))

    run = smoke(FakeEndpoints(model), tmp_path, expected="expected.txt")

    assert run.code == 1
    assert failed_checks(run, tmp_path) == ["expected"]
    assert "row 7:" in run.errors[0] and "by 0.01 (tolerance 0.0001)" in run.errors[0]
    # A wider tolerance lets it through.
    assert (
        smoke(FakeEndpoints(model), tmp_path, expected="expected.txt", tolerance="0.02").code == 0
    )


def test_accuracy_below_the_minimum_fails_the_accuracy_check(
    model: xgboost.Booster, tmp_path: Path
) -> None:
    rows = feature_rows()
    labels = classes(model, rows)
    for row in (0, 1, 2):
        labels[row] = 1 - labels[row]
    write_csv(tmp_path / "payloads.csv", rows, labels)

    run = smoke(FakeEndpoints(model), tmp_path, label_column="first", min_accuracy="0.9")

    assert run.code == 1
    assert failed_checks(run, tmp_path) == ["accuracy"]
    assert "accuracy: 0.7000 < 0.9 on 10 labelled rows. Report" in run.errors[0]
    assert run.outputs["accuracy"] == "0.7"
    assert report(tmp_path)["accuracy"] == 0.7
    # Without min-accuracy the accuracy is reported, not checked.
    again = smoke(FakeEndpoints(model), tmp_path, label_column="first")
    assert again.code == 0 and again.outputs["accuracy"] == "0.7"


def test_a_row_without_a_usable_prediction_counts_as_wrong(
    model: xgboost.Booster, tmp_path: Path
) -> None:
    rows = feature_rows()
    write_csv(tmp_path / "payloads.csv", rows, classes(model, rows))
    fake = FakeEndpoints(model)
    fake.fault = on_row(2, answering(status=500))
    run = smoke(fake, tmp_path, label_column="first", min_accuracy="0.95")
    assert failed_checks(run, tmp_path) == ["status", "accuracy"]
    assert (
        "accuracy: 0.9000 < 0.95 on 10 labelled rows, 1 without a usable prediction counted wrong"
        in run.errors[0]
    )


@pytest.fixture(scope="module")
def regressor() -> xgboost.Booster:
    """A real reg:squarederror booster on four features: it predicts numbers around 5-40."""
    rng = np.random.default_rng(8)
    x = rng.normal(size=(300, 4))
    y = 20 + 8 * x[:, 0] - 3 * x[:, 2]
    params = {"objective": "reg:squarederror", "max_depth": 3, "eta": 0.5, "nthread": 1}
    return xgboost.train(params, xgboost.DMatrix(x, label=y), num_boost_round=20)


def test_a_regression_model_is_held_to_rmse_and_mae_bounds(
    regressor: xgboost.Booster, tmp_path: Path
) -> None:
    rows = feature_rows()
    truth = [round(20 + 8 * row[0] - 3 * row[2] + 0.5 * (-1) ** n, 3) for n, row in enumerate(rows)]
    lines = [",".join([repr(t), *map(repr, row)]) for t, row in zip(truth, rows, strict=True)]
    (tmp_path / "payloads.csv").write_text("\n".join(lines) + "\n")
    errors = np.array([predict(regressor, row) for row in rows]) - np.array(truth)
    rmse, mae = float(np.sqrt(np.mean(errors**2))), float(np.mean(np.abs(errors)))
    assert max(predict(regressor, row) for row in rows) > 1  # outside a probability's range

    run = smoke(
        FakeEndpoints(regressor), tmp_path, task="regression", label_column="first",
        max_rmse=f"{rmse * 1.01:.6g}", max_mae=f"{mae * 1.01:.6g}",
    )  # fmt: skip

    assert run.code == 0, run.log
    assert float(run.outputs["rmse"]) == pytest.approx(rmse, abs=1e-6)
    assert float(run.outputs["mae"]) == pytest.approx(mae, abs=1e-6)
    assert run.outputs["accuracy"] == ""
    document = report(tmp_path)
    assert (document["task"], document["accuracy"]) == ("regression", None)
    assert document["rmse"] == pytest.approx(rmse, abs=1e-6)
    names = [c["name"] for c in document["checks"]]
    assert names[4:6] == ["rmse", "mae"] and "accuracy" not in names
    assert f"pass  rmse: {rmse:.6g} <= {rmse * 1.01:.6g} on 10 labelled rows" in run.log

    # A bound the model misses fails its own check, and says by how much.
    tight = smoke(
        FakeEndpoints(regressor), tmp_path, task="regression", label_column="first",
        max_mae=f"{mae * 0.9:.6g}",
    )  # fmt: skip
    assert tight.code == 1
    assert failed_checks(tight, tmp_path) == ["mae"]
    assert f"mae: {mae:.6g} > {mae * 0.9:.6g} on 10 labelled rows" in tight.errors[0]
    # Without a bound the errors are reported, not checked.
    reported = smoke(FakeEndpoints(regressor), tmp_path, task="regression", label_column="first")
    assert reported.code == 0 and float(reported.outputs["mae"]) == pytest.approx(mae, abs=1e-6)
    # As a binary classifier, the same file is refused: its labels are not classes.
    refused = smoke(FakeEndpoints(regressor), tmp_path, label_column="first")
    assert refused.code == 1 and "is not 0 or 1" in refused.errors[0]


def test_a_labelled_row_without_a_usable_prediction_fails_the_rmse_check(
    regressor: xgboost.Booster, tmp_path: Path
) -> None:
    rows = feature_rows()
    truth = [predict(regressor, row) for row in rows]  # a perfect model: every error is 0
    lines = [",".join([repr(t), *map(repr, row)]) for t, row in zip(truth, rows, strict=True)]
    (tmp_path / "payloads.csv").write_text("\n".join(lines) + "\n")
    fake = FakeEndpoints(regressor)
    fake.fault = on_row(2, answering(status=500))

    run = smoke(fake, tmp_path, task="regression", label_column="first", max_rmse="1")

    assert failed_checks(run, tmp_path) == ["status", "rmse"]
    assert (
        "rmse: 0 <= 1 on 9 labelled rows, 1 more without a usable prediction fail it"
        in run.errors[0]
    )


@pytest.mark.slow
def test_a_real_regression_endpoint_on_the_local_backend_is_held_to_its_bounds(
    local: LocalBackend, tmp_path: Path
) -> None:
    """A reg:squarederror model served by the local endpoint server (the built-in XGBoost
    container's stand-in): RMSE and MAE are those of the booster's own predictions."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(400, deployed.FEATURES))
    y = 50 + 10 * x[:, 0] - 4 * x[:, 1]
    trained = xgboost.train(
        {"objective": "reg:squarederror", "max_depth": 3, "nthread": 1},
        xgboost.DMatrix(x, label=y),
        30,
    )
    package = deployed.register(local, deployed.tarball(bytes(trained.save_raw("ubj"))))
    assert deployed.deploy(package, strategy="all-at-once").code == 0
    rows = deployed.ROWS[:20].round(4)
    truth = (50 + 10 * rows[:, 0] - 4 * rows[:, 1]).round(3)
    (tmp_path / "payloads.csv").write_text(
        "".join(
            f"{t!r}," + ",".join(map(repr, row)) + "\n"
            for t, row in zip(truth.tolist(), rows.tolist(), strict=True)
        )
    )
    errors = trained.inplace_predict(rows.astype(np.float32)).astype(float) - truth
    rmse, mae = float(np.sqrt(np.mean(errors**2))), float(np.mean(np.abs(errors)))
    inputs = {
        "backend": "local", "endpoint-name": "churn-staging", "payloads": "payloads.csv",
        "task": "regression", "label-column": "first", "requests": "20",
        "max-rmse": f"{rmse * 1.01:.6g}", "max-mae": f"{mae * 1.01:.6g}",
        "max-p99-ms": "60000",  # latency is bench/'s to measure, not a shared machine's test
    }  # fmt: skip
    workspace = {**GITHUB_CONTEXT, "GITHUB_WORKSPACE": str(tmp_path)}

    passing = run_main(smoke_test.main, inputs, **workspace)
    assert passing.code == 0, passing.log
    assert float(passing.outputs["rmse"]) == pytest.approx(rmse, rel=1e-5)
    assert float(passing.outputs["mae"]) == pytest.approx(mae, rel=1e-5)
    failing = run_main(smoke_test.main, {**inputs, "max-rmse": f"{rmse * 0.5:.6g}"}, **workspace)
    assert failing.code == 1 and failed_checks(failing, tmp_path) == ["rmse"]


def test_slow_answers_fail_the_p99_check(model: xgboost.Booster, tmp_path: Path) -> None:
    fake = FakeEndpoints(model)
    fake.latency = lambda index: 0.8 if index >= ROWS else 0.004  # the load test is slow

    run = smoke(fake, tmp_path)

    assert run.code == 1
    assert failed_checks(run, tmp_path) == ["p99-latency"]
    assert "p99-latency: p99 800.0 ms > 500 ms" in run.errors[0]
    assert (run.outputs["p50-ms"], run.outputs["p99-ms"]) == ("800", "800")
    assert smoke(fake, tmp_path, max_p99_ms="900").code == 0


def test_server_errors_under_load_fail_the_error_rate_check(
    model: xgboost.Booster, tmp_path: Path
) -> None:
    def overloaded() -> FakeEndpoints:
        fake = FakeEndpoints(model)
        fake.fault = lambda index, answer: (
            answering(status=500, body=b"overloaded")(answer)
            if index >= ROWS and (index - ROWS) % 10 == 0
            else answer
        )
        return fake

    run = smoke(overloaded(), tmp_path)

    assert run.code == 1
    assert failed_checks(run, tmp_path) == ["error-rate"]
    detail = "error rate 10.00% > 0.00% (4 of 40 calls failed: HTTP 500 ×4)"
    assert f"error-rate: {detail}".replace("%", "%25") in run.errors[0]
    assert report(tmp_path)["checks"][-2] == {
        "name": "error-rate",
        "passed": False,
        "detail": detail,
    }
    assert run.outputs["error-rate"] == "0.1"
    assert report(tmp_path)["load"]["errors_by_status"] == {"500": 4}
    assert smoke(overloaded(), tmp_path, max_error_rate="0.1").code == 0


def test_several_failed_checks_make_one_error_listing_them(
    model: xgboost.Booster, tmp_path: Path
) -> None:
    fake = FakeEndpoints(model)
    fake.latency = lambda index: 0.9
    fake.fault = lambda index, answer: (
        answering(status=503)(answer) if index >= ROWS and index % 2 else answer
    )
    run = smoke(fake, tmp_path)
    assert run.code == 1
    assert failed_checks(run, tmp_path) == ["p99-latency", "error-rate"]
    assert len(run.errors) == 1
    assert "smoke-test%3A 2 check(s) failed::p99-latency: " in run.errors[0]
    assert "; error-rate: error rate 50.00%25 > 0.00%25 (20 of 40 calls failed" in run.errors[0]


# ---- rollback ----------------------------------------------------------------------------------


def test_a_failure_rolls_the_endpoint_back_to_the_previous_config(
    model: xgboost.Booster, tmp_path: Path
) -> None:
    fake = FakeEndpoints(model)
    fake.fault = on_row(1, answering(status=500))

    run = smoke(fake, tmp_path, rollback_endpoint_config="churn-v1")

    assert run.code == 1
    assert fake.updates == [(ENDPOINT, "churn-v1", None)]
    assert fake.record["EndpointConfigName"] == "churn-v1"
    assert fake.record["EndpointStatus"] == "InService"
    assert run.outputs["rolled-back"] == "true" and run.outputs["passed"] == "false"
    assert len(run.warnings) == 1
    assert "Rolled endpoint churn back to endpoint config churn-v1" in run.warnings[0]
    assert len(run.errors) == 1 and ". Rolled back to churn-v1. Report: " in run.errors[0]
    document = report(tmp_path)
    assert document["rolled_back"] is True
    assert document["rollback"]["endpoint_config"] == "churn-v1"
    assert "↩️ Rolled back to `churn-v1`" in run.summary


def test_a_passing_run_does_not_roll_back(model: xgboost.Booster, tmp_path: Path) -> None:
    fake = FakeEndpoints(model)
    run = smoke(fake, tmp_path, rollback_endpoint_config="churn-v1")
    assert run.code == 0 and fake.updates == []
    assert run.outputs["rolled-back"] == "false"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self.lock = threading.Lock()

    def __call__(self) -> float:
        with self.lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds


def revert(
    endpoints: FakeEndpoints, endpoint: str, config: str, timeout: float, clock: FakeClock
) -> rollout.Reverted:
    """The smoke stage's rollback: rollout.revert at its pace, on the fake clock."""
    return rollout.revert(
        endpoints, endpoint, config, timeout, smoke_test.ROLLBACK_POLLING, lambda line: None,
        sleep=clock.sleep, clock=clock,
    )  # fmt: skip


def test_rollback_waits_with_backoff_until_in_service(model: xgboost.Booster) -> None:
    fake = FakeEndpoints(model)
    fake.updating_polls = 5
    clock = FakeClock()
    result = revert(fake, ENDPOINT, "churn-v1", 600, clock)
    assert result.done and result.detail == "InService on churn-v1 after 30 s"
    assert clock.sleeps == [1, 2, 4, 8, 15]


def test_rollback_reports_a_timeout_a_failed_update_and_a_refused_call(
    model: xgboost.Booster,
) -> None:
    fake = FakeEndpoints(model)
    fake.updating_polls = 10**6
    clock = FakeClock()
    late = revert(fake, ENDPOINT, "churn-v1", 60, clock)
    assert not late.done and "still Updating 1 min after the update to churn-v1" in late.detail
    assert sum(clock.sleeps) == 60

    failed = FakeEndpoints(model)
    failed.update_endpoint = lambda *args: failed.record.update(  # type: ignore[method-assign]
        EndpointStatus="Failed", FailureReason="image pull failed"
    )
    result = revert(failed, ENDPOINT, "churn-v1", 60, clock)
    assert not result.done and result.detail == "the update to churn-v1 failed: image pull failed"

    refused = FakeEndpoints(model)

    def refuse(name: str, config_name: str, deployment_config: dict[str, Any] | None) -> None:
        raise RuntimeError("ValidationException: Cannot update in-progress endpoint")

    refused.update_endpoint = refuse  # type: ignore[method-assign]
    result = revert(refused, ENDPOINT, "churn-v1", 60, clock)
    assert not result.done and "UpdateEndpoint failed: RuntimeError" in result.detail

    same = revert(FakeEndpoints(model), ENDPOINT, "churn-v2", 60, clock)
    assert not same.done and "already on churn-v2" in same.detail


def test_a_failed_rollback_is_part_of_the_one_error(model: xgboost.Booster, tmp_path: Path) -> None:
    fake = FakeEndpoints(model)
    fake.fault = on_row(2, answering(status=500))

    def refuse(name: str, config_name: str, deployment_config: dict[str, Any] | None) -> None:
        raise RuntimeError("throttled")

    fake.update_endpoint = refuse  # type: ignore[method-assign]
    run = smoke(fake, tmp_path, rollback_endpoint_config="churn-v1")
    assert run.code == 1 and run.warnings == [] and len(run.errors) == 1
    assert "Rollback to churn-v1 did not happen: UpdateEndpoint failed" in run.errors[0]
    assert run.outputs["rolled-back"] == "false"


def test_the_functional_pass_stops_at_the_deadline(model: xgboost.Booster, tmp_path: Path) -> None:
    write_csv(tmp_path / "payloads.csv", feature_rows())
    runner = Runner(
        env={
            "GITHUB_WORKSPACE": str(tmp_path),
            "INPUT_BACKEND": "local",
            "INPUT_ENDPOINT_NAME": ENDPOINT,
            "INPUT_PAYLOADS": "payloads.csv",
            "INPUT_TIMEOUT_MINUTES": "0.1",  # 6 s; each call takes 1 s on the fake clock
        }
    )
    inputs = smoke_test.load_inputs(runner)
    fake, clock = FakeEndpoints(model), FakeClock()
    original = fake.invoke_endpoint

    def one_second(
        name: str, body: bytes, content_type: str, accept: str = "text/csv"
    ) -> Invocation:
        clock.advance(1.0)
        return original(name, body, content_type, accept)

    fake.invoke_endpoint = one_second  # type: ignore[method-assign]
    result = smoke_test.run(inputs, fake, lambda line: None, clock.sleep, clock)
    assert len(fake.calls) == 6 and result.functional.timed_out
    assert (
        result.load is None and result.load_skipped == "the functional pass did not finish in time"
    )
    assert [c.name for c in result.failed_checks] == ["completed"]
    assert result.checks[-1].detail == "stopped at the 0.1 min bound after 6 of 10 rows"


# ---- the load generator ------------------------------------------------------------------------


def rows_of(model: xgboost.Booster, tmp_path: Path) -> tuple[Row, ...]:
    path = write_csv(tmp_path / "p.csv", feature_rows())
    return parse_payloads(path, path.read_text()).rows


def test_the_load_test_runs_at_the_asked_concurrency(
    model: xgboost.Booster, tmp_path: Path
) -> None:
    fake = FakeEndpoints(model)
    fake.sleep = 0.02
    result = load_test(
        fake, ENDPOINT, rows_of(model, tmp_path), "text/csv", 40, 4, time.monotonic() + 60
    )
    # Concurrency is proven by the calls in flight at once, not by a wall-clock bound (the
    # machine may be loaded); bench/smoke_load.py measures the load test's throughput.
    assert (result.completed, result.concurrency, result.errors) == (40, 4, 0)
    assert fake.max_in_flight == 4
    assert result.throughput_rps is not None and result.throughput_rps > 0
    assert not result.timed_out


def test_the_load_test_stops_at_the_deadline(model: xgboost.Booster, tmp_path: Path) -> None:
    fake = FakeEndpoints(model)
    clock = FakeClock()
    fake.latency = lambda index: 1.0
    original = fake.invoke_endpoint

    def one_second(
        name: str, body: bytes, content_type: str, accept: str = "text/csv"
    ) -> Invocation:
        clock.advance(1.0)
        return original(name, body, content_type, accept)

    fake.invoke_endpoint = one_second  # type: ignore[method-assign]
    result = load_test(fake, ENDPOINT, rows_of(model, tmp_path), "text/csv", 1000, 1, 5.0, clock)
    assert (result.completed, result.timed_out) == (5, True)
    assert result.p99_ms == 1000.0 and result.throughput_rps == 1.0


def test_a_call_that_raises_counts_as_an_error(model: xgboost.Booster, tmp_path: Path) -> None:
    fake = FakeEndpoints(model)
    fake.raise_on = {3, 7}
    result = load_test(
        fake, ENDPOINT, rows_of(model, tmp_path), "text/csv", 20, 2, time.monotonic() + 60
    )
    assert (result.completed, result.errors, result.error_rate) == (20, 2, 0.1)
    assert result.errors_by_status == {"no response": 2}
    assert result.first_error == "ConnectionError: connection reset by peer"


class _Raw(io.BytesIO):
    """An HTTP body as botocore's parser reads it."""

    def stream(self, **_: Any) -> Any:
        yield self.read()


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, "ThrottlingException"), (503, "ServiceUnavailable"), (500, "InternalFailure")],
)
def test_sagemaker_throttling_and_5xx_are_errors_of_the_load_test_sent_once(
    aws_env: str, tmp_path: Path, status: int, code: str
) -> None:
    """On the wire, through botocore's retry handler (the Stubber answers before it): every
    first attempt is refused, a retry would succeed. Each call is made once and counts as
    an error, instead of being retried into a success the load test never sees."""
    from botocore.awsrequest import AWSResponse

    from smgha.backends.aws import SageMakerBackend

    backend = SageMakerBackend(region="us-east-1")
    attempts: list[str] = []
    lock = threading.Lock()

    def answer(request: Any, **_: Any) -> AWSResponse:
        attempt = request.headers.get("amz-sdk-request", b"")
        attempt = attempt.decode() if isinstance(attempt, bytes) else attempt
        with lock:
            attempts.append(attempt)
        if attempt.startswith("attempt=1;") or attempt == "attempt=1":
            headers = {"x-amzn-ErrorType": code, "Content-Type": "application/json"}
            body = json.dumps({"message": f"{code} from the stand-in"}).encode()
            return AWSResponse(request.url, status, headers, _Raw(body))
        headers = {"Content-Type": "text/csv", "x-Amzn-Invoked-Production-Variant": "AllTraffic"}
        return AWSResponse(request.url, 200, headers, _Raw(b"0.5"))

    path = write_csv(tmp_path / "p.csv", feature_rows())
    rows = parse_payloads(path, path.read_text()).rows
    runtime = backend.clients.runtime
    runtime.meta.events.register("before-send.sagemaker-runtime.InvokeEndpoint", answer)
    try:
        result = load_test(backend.hosting, ENDPOINT, rows, "text/csv", 6, 2, time.monotonic() + 60)
    finally:
        runtime.meta.events.unregister("before-send.sagemaker-runtime.InvokeEndpoint", answer)

    assert len(attempts) == 6 and all(a.startswith("attempt=1") for a in attempts), attempts
    assert (result.completed, result.errors, result.error_rate) == (6, 6, 1.0)
    assert result.errors_by_status == {"no response": 6}
    assert code in result.first_error
    # Only the runtime gives up retrying: the control-plane clients keep 1 call + 10 retries.
    assert runtime.meta.config.retries == {"mode": "standard", "total_max_attempts": 1}
    assert backend.clients.sagemaker.meta.config.retries["total_max_attempts"] == 11


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 50) is None


@pytest.mark.parametrize(
    ("body", "content_type", "predictions"),
    [
        (b"0.25\n", "text/csv", [0.25]),
        (b"0.25,0.5\n0.75", "text/csv", [0.25, 0.5, 0.75]),
        (b"0.25", "application/json", [0.25]),
        (b"[0.25, [0.5]]", "application/json", [0.25, 0.5]),
        (b'{"predictions": [{"score": 0.25}, 0.5]}', "application/json", [0.25, 0.5]),
        (b'{"predictions": [{"probability": 0.25}]}', "application/json", [0.25]),
    ],
)
def test_predictions_are_read_from_csv_and_json_responses(
    body: bytes, content_type: str, predictions: list[float]
) -> None:
    assert parse_predictions(body, content_type) == predictions


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"high", "text/csv"),
        (b"{", "application/json"),
        (b'{"predictions": ["a"]}', "application/json"),
        (b"[true]", "application/json"),
        (b"\xff", "text/csv"),
    ],
)
def test_unreadable_responses_raise_value_error(body: bytes, content_type: str) -> None:
    with pytest.raises(ValueError):
        parse_predictions(body, content_type)


# ---- bad input: one error naming the input, nothing sent ---------------------------------------

GOOD_CSV = "0.1,0.2,0.3,0.4\n0.5,0.6,0.7,0.8\n"


@pytest.mark.parametrize(
    ("name", "files", "inputs", "problem"),
    [
        ("payloads", {}, {"payloads": ""}, "is required"),
        ("payloads", {}, {"payloads": "missing.csv"}, "does not exist"),
        ("payloads", {"p.csv": "\n \n"}, {"payloads": "p.csv"}, "holds no request"),
        ("payloads", {"p.txt": GOOD_CSV}, {"payloads": "p.txt"}, "neither .csv nor .jsonl"),
        ("payloads", {"p.csv": b"\xff\xfe1,2\n"}, {"payloads": "p.csv"}, "cannot read"),
        (
            "payloads",
            {"p.csv": "age,tenure,a,b\n" + GOOD_CSV},
            {"payloads": "p.csv"},
            "line 1: 'age' is not a finite number (a header row",
        ),
        ("payloads", {"p.csv": GOOD_CSV + "1,x,3,4\n"}, {"payloads": "p.csv"}, "line 3: 'x'"),
        ("payloads", {"p.csv": GOOD_CSV + "1,inf,3,4\n"}, {"payloads": "p.csv"}, "line 3: 'inf'"),
        (
            "payloads",
            {"p.csv": GOOD_CSV + '1,"2,3,4\n'},
            {"payloads": "p.csv"},
            "line 3 is not a CSV row",
        ),
        (
            "payloads",
            {"p.csv": GOOD_CSV + "\n1,2,3\n"},
            {"payloads": "p.csv"},
            "line 4 has 3 features, line 1 has 4",
        ),
        (
            "payloads",
            {"p.jsonl": '{"features": [1, 2]}\n{"features": [1,\n'},
            {"payloads": "p.jsonl"},
            "line 2 is not JSON",
        ),
        (
            "payloads",
            {"p.jsonl": '{"label": 1}\n'},
            {"payloads": "p.jsonl"},
            'line 1 has no "features"',
        ),
        (
            "payloads",
            {"p.json": '[{"features": [1]}]\n'},
            {"payloads": "p.json"},
            "line 1 is a list",
        ),
        (
            "payloads",
            {"p.jsonl": '{"features": [1, "a"]}\n'},
            {"payloads": "p.jsonl"},
            "feature 'a'",
        ),
        (
            "payloads",
            {"p.jsonl": '{"features": [1], "label": 3}\n'},
            {"payloads": "p.jsonl"},
            "label 3 is not 0 or 1",
        ),
        (
            "payloads",
            {"p.jsonl": '{"features": [1], "label": 1}\n{"features": [2]}\n'},
            {"payloads": "p.jsonl"},
            "line 2 lacks a label",
        ),
        (
            "payloads",
            {"p.jsonl": '{"features": [1], "expected": "high"}\n'},
            {"payloads": "p.jsonl"},
            '"expected"',
        ),
        (
            "label-column",
            {"p.csv": "1,0.1,0.2\n2,0.3,0.4\n"},
            {"payloads": "p.csv", "label-column": "first"},
            "line 2: label '2' is not 0 or 1",
        ),
        ("label-column", {}, {"label-column": "last"}, "'last' is not one of none, first"),
        (
            "label-column",
            {"p.jsonl": '{"features": [1]}\n'},
            {"payloads": "p.jsonl", "label-column": "first"},
            "CSV payloads only",
        ),
        ("min-accuracy", {}, {"min-accuracy": "0.8"}, "needs labels"),
        ("min-accuracy", {}, {"min-accuracy": "80"}, "from 0 to 1"),
        ("task", {}, {"task": "multiclass"}, "is not one of binary-classification, regression"),
        ("max-rmse", {}, {"max-rmse": "1"}, "applies to task: regression, not binary-classif"),
        (
            "min-accuracy",
            {"p.csv": "1.5,0.1\n2.5,0.2\n"},
            {
                "payloads": "p.csv",
                "label-column": "first",
                "task": "regression",
                "min-accuracy": "0.8",
            },
            "applies to task: binary-classification, not regression",
        ),
        ("max-mae", {}, {"task": "regression", "max-mae": "-1"}, "must be a number >= 0"),
        ("max-rmse", {}, {"task": "regression", "max-rmse": "1"}, "needs labels"),
        (
            "label-column",
            {"p.csv": "1.5,0.1\nx,0.2\n"},
            {"payloads": "p.csv", "label-column": "first", "task": "regression"},
            "line 2: label 'x' is not a finite number",
        ),
        ("expected", {"e.txt": "0.5\n"}, {"expected": "e.txt"}, "1 values for 2 payload rows"),
        ("expected", {"e.txt": "0.5\nhigh\n"}, {"expected": "e.txt"}, "line 2 of e.txt"),
        ("expected", {}, {"expected": "e.txt"}, "does not exist"),
        (
            "expected",
            {"p.jsonl": '{"features": [1], "expected": 0.5}\n', "e.txt": "0.5\n"},
            {"payloads": "p.jsonl", "expected": "e.txt"},
            "already give expected values",
        ),
        ("content-type", {}, {"content-type": "text/plain"}, "'text/plain' is not one of"),
        ("tolerance", {}, {"tolerance": "-1"}, "must be a number >= 0"),
        ("prediction-range", {}, {"prediction-range": "1,0"}, "low <= high"),
        ("prediction-range", {}, {"prediction-range": "0;1"}, "'low,high'"),
        ("prediction-range", {}, {"prediction-range": "0,1,2"}, "'low,high'"),
        ("prediction-range", {}, {"prediction-range": "nan,1"}, "'low,high'"),
        ("requests", {}, {"requests": "-1"}, "whole number from 0"),
        ("requests", {}, {"requests": "ten"}, "whole number from 0"),
        ("concurrency", {}, {"concurrency": "0"}, "whole number from 1 to 64"),
        ("concurrency", {}, {"concurrency": "65"}, "whole number from 1 to 64"),
        ("max-p99-ms", {}, {"max-p99-ms": "0"}, "positive number"),
        ("max-error-rate", {}, {"max-error-rate": "1.5"}, "from 0 to 1"),
        ("timeout-minutes", {}, {"timeout-minutes": "0"}, "positive number"),
        ("endpoint-name", {}, {"endpoint-name": ""}, "is required"),
        ("endpoint-name", {}, {"endpoint-name": "churn_model"}, "breaks SageMaker's naming rule"),
        ("endpoint-name", {}, {"endpoint-name": "c" * 64}, "breaks SageMaker's naming rule"),
        ("endpoint-name", {}, {"endpoint-name": "other"}, "there is no endpoint 'other'"),
        ("backend", {}, {"backend": "azure"}, "'azure' is not one of sagemaker, local"),
        ("region", {}, {"backend": "sagemaker"}, "is required with backend: sagemaker"),
        (
            "rollback-endpoint-config",
            {},
            {"rollback-endpoint-config": "churn_v1"},
            "breaks SageMaker's naming rule",
        ),
        (
            "rollback-endpoint-config",
            {},
            {"rollback-endpoint-config": "churn-v0"},
            "no endpoint config 'churn-v0'",
        ),
        ("report-path", {"out/keep": ""}, {"report-path": "out"}, "is a directory"),
    ],
)
def test_bad_input_names_the_input_and_sends_nothing(
    model: xgboost.Booster,
    tmp_path: Path,
    name: str,
    files: dict[str, str | bytes],
    inputs: dict[str, str],
    problem: str,
) -> None:
    (tmp_path / "payloads.csv").write_text(GOOD_CSV)
    for relative, content in files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    fake = FakeEndpoints(model)
    given = {"backend": "local", "endpoint-name": ENDPOINT, "payloads": "payloads.csv"}
    given.update(inputs)
    with serving(fake):
        run = run_main(
            smoke_test.main,
            given,
            GITHUB_WORKSPACE=str(tmp_path),
            AWS_REGION="",
            AWS_DEFAULT_REGION="",
        )
    assert run.code == 1
    assert len(run.errors) == 1, run.log
    assert run.errors[0].startswith("::error title=smoke-test%3A invalid input::")
    assert f"input '{name}': " in run.errors[0] and problem in run.errors[0], run.errors[0]
    assert fake.calls == [] and fake.updates == []
    assert run.outputs == {} and not (tmp_path / "smoke-test-report.json").exists()


@pytest.mark.parametrize(
    ("status", "reason"), [("Updating", ""), ("Failed", "image not found"), ("Creating", "")]
)
def test_an_endpoint_not_in_service_is_refused_before_sending(
    model: xgboost.Booster, tmp_path: Path, status: str, reason: str
) -> None:
    fake = FakeEndpoints(model, status=status)
    if reason:
        fake.record["FailureReason"] = reason
    run = smoke(fake, tmp_path)
    assert run.code == 1 and len(run.errors) == 1
    assert f"input 'endpoint-name': endpoint 'churn' is {status}" in run.errors[0]
    assert reason in run.errors[0] and "not InService" in run.errors[0]
    assert fake.calls == []


def test_payload_parsing_keeps_line_numbers_labels_and_missing_values(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    text = "\ufeff1,0.5,,3\n\n0.0,1e-3,2,4\n"
    payloads = parse_payloads(path, text.lstrip("\ufeff"), "first")
    first, second = payloads.rows
    assert (first.number, first.line, first.label, first.features) == (1, 1, 1, (0.5, None, 3))
    assert (second.number, second.line, second.label) == (2, 3, 0)
    assert encode(first, "text/csv") == b"0.5,,3"
    assert encode(first, "application/json") == b'{"instances": [[0.5, null, 3]]}'
    with pytest.raises(InputError, match="more than 10000 rows"):
        parse_payloads(path, "1\n" * 10_001)


def test_json_rows_take_finite_numbers_and_null_and_refuse_booleans(tmp_path: Path) -> None:
    """The JSON row reader narrows each value itself (no cast): an int stays an int in the
    request, null is a missing value, 1.0 is label 1, and JSON true is neither a feature nor
    a label."""
    path = tmp_path / "p.jsonl"
    text = '{"features": [2, null, 0.25], "label": 1.0, "expected": 0.5}\n'
    (row,) = parse_payloads(path, text).rows
    assert (row.features, row.cells, row.label, row.expected) == (
        (2, None, 0.25),
        ("2", "", "0.25"),
        1,
        0.5,
    )
    assert encode(row, "text/csv") == b"2,,0.25"
    with pytest.raises(InputError, match="feature True is not a finite number"):
        parse_payloads(path, '{"features": [1, true]}\n')
    with pytest.raises(InputError, match="label True is not 0 or 1"):
        parse_payloads(path, '{"features": [1], "label": true}\n')


def test_the_smoke_helpers_never_import_the_runner_or_a_stage() -> None:
    """smgha/smoke/ holds the stage's parts that are pure of the runner (issue 14): what
    reaches the runner goes through smgha/stages/smoke_test.py."""
    package = Path(smoke_test.__file__).resolve().parents[1] / "smoke"
    paths = sorted(package.glob("*.py"))
    assert len(paths) >= 7
    for path in paths:
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
                imported.update(f"{node.module}.{alias.name}" for alias in node.names)
        refused = {n for n in imported if n == "smgha.runner" or n.startswith("smgha.stages")}
        assert refused == set(), path


def test_the_first_request_is_reported_beside_the_warm_median(
    model: xgboost.Booster, tmp_path: Path
) -> None:
    """A serverless endpoint that scaled to zero pays its cold start on the first request
    (issue 18): smoke-test says so in first-request-ms, the report and the summary."""
    rows = feature_rows()
    write_csv(tmp_path / "payloads.csv", rows, classes(model, rows))
    fake = FakeEndpoints(model)
    fake.latency = lambda index: 0.850 if index == 0 else 0.004  # a cold start, then warm

    run = smoke(fake, tmp_path, label_column="first")

    assert run.code == 0, run.log
    assert run.outputs["first-request-ms"] == "850"
    functional = report(tmp_path)["functional"]
    assert (functional["first_request_ms"], functional["warm_median_ms"]) == (850.0, 4.0)
    assert "First request: 850.0 ms" in run.summary
    assert "the 4.0 ms median of the functional pass after it" in run.summary
