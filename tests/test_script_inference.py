"""Script-mode inference on the local endpoint: a real scikit-learn model and inference.py,
served through the inference toolkit's handler contract in a worker process.

The model and data are generated here; nothing is downloaded. The handler contract and the
framework containers' defaults are cited in smgha/backends/local/serving/script_handlers.py.
"""

from __future__ import annotations

import io
import json
import os
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from smgha.backends.local import state
from smgha.backends.local.serving import script_model
from smgha.backends.local.serving.inference import answer
from smgha.backends.local.serving.model import FAILED, IN_SERVICE, Model
from smgha.backends.local.state import SERVING_FILE
from tests.stage_helpers import XGBOOST_IMAGE, local_backend_in
from tests.test_endpoint_server import Server, tarball

SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
ROWS = [[0.5, -1.0, 0.2, 1.5, -0.3], [-2.0, 0.4, 1.1, -0.7, 0.9], [1.7, 0.1, -0.5, 0.3, 0.0]]
CSV = "\n".join(",".join(str(v) for v in row) for row in ROWS).encode()

MODEL_FN = """
import os
import joblib

def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))
"""

CUSTOM = (
    MODEL_FN
    + """
import json
import numpy as np

def input_fn(body, content_type):
    if content_type == "application/json":
        return np.array(json.loads(body)["instances"], dtype=float)
    if content_type == "text/csv":
        return np.array([[float(v) for v in line.split(",")] for line in body.splitlines()])
    raise ValueError("unsupported content type " + content_type)

def predict_fn(data, model):
    return model.predict_proba(data)[:, 1]

def output_fn(prediction, accept):
    if accept == "text/csv":
        return ",".join("%.6f" % p for p in prediction), "text/csv"
    document = {"predictions": [float(p) for p in prediction], "pid": os.getpid()}
    return json.dumps(document), "application/json"
"""
)


def script(text: str) -> bytes:
    return textwrap.dedent(text).encode()


@pytest.fixture(scope="module")
def classifier() -> Any:
    """A real scikit-learn model on generated data."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(7)
    data = rng.normal(size=(300, 5))
    labels = (data[:, 0] - data[:, 1] + rng.normal(scale=0.3, size=300) > 0).astype(int)
    return LogisticRegression().fit(data, labels)


@pytest.fixture(scope="module")
def model_bytes(classifier: Any) -> bytes:
    import joblib

    buffer = io.BytesIO()
    joblib.dump(classifier, buffer)
    return buffer.getvalue()


@pytest.fixture
def models() -> Iterator[Callable[..., Model]]:
    """Load models in this process (their workers are processes); every one is closed."""
    loaded: list[Model] = []

    def load(path: Path, environment: dict[str, str], image: str = SKLEARN_IMAGE) -> Model:
        model = Model(str(path), environment, image, path.parent / "s3")
        loaded.append(model)
        model.load()
        return model

    yield load
    for model in loaded:
        model.close()


def packed(tmp_path: Path, model_bytes: bytes, code: bytes | None, name: str = "model") -> Path:
    """model.tar.gz with the model and, when given, code/inference.py (the SDK's repack)."""
    files = {"model.joblib": model_bytes}
    if code is not None:
        files["code/inference.py"] = code
    path = tmp_path / f"{name}.tar.gz"
    path.write_bytes(tarball(files))
    return path


IN_MODEL = {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}


def invoke(model: Model, body: bytes, content_type: str, accept: str = "") -> Any:
    return answer(model, body, content_type, accept)


# ---- the default handlers (the scikit-learn container's) ----------------------------------------


def test_default_handlers_answer_csv_and_json_as_the_sklearn_container(
    tmp_path: Path, model_bytes: bytes, classifier: Any, models: Callable[..., Model]
) -> None:
    model = models(packed(tmp_path, model_bytes, script(MODEL_FN)), IN_MODEL)
    assert model.status == IN_SERVICE, model.failure_reason
    expected = classifier.predict(np.array(ROWS, dtype=np.float32)).tolist()

    # No Accept: application/json (SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT's default).
    reply = invoke(model, CSV, "text/csv")
    assert (reply.status, reply.content_type) == (200, "application/json")
    assert json.loads(reply.body) == expected
    # text/csv out: one value per line, as array_to_csv writes a 1-D array.
    reply = invoke(model, json.dumps(ROWS).encode(), "application/json", "text/csv")
    assert (reply.status, reply.content_type) == (200, "text/csv; charset=utf-8")
    assert reply.body.decode() == "".join(f"{p}\n" for p in expected)

    # One CSV row is squeezed to 1-D, which scikit-learn's predict refuses: a 500, as there.
    reply = invoke(model, CSV.splitlines()[0], "text/csv")
    assert reply.status == 500 and b"2D array" in reply.body
    # The content type must be exactly one the encoders know (415); so must Accept (406).
    reply = invoke(model, CSV, "text/csv; charset=utf-8")
    assert reply.status == 415 and json.loads(reply.body)["error"] == "UnsupportedFormatError"
    reply = invoke(model, CSV, "text/csv", "application/xml")
    assert reply.status == 406 and b"application/xml" in reply.body


def test_custom_handlers_are_used_and_run_in_their_own_process(
    tmp_path: Path, model_bytes: bytes, classifier: Any, models: Callable[..., Model]
) -> None:
    model = models(packed(tmp_path, model_bytes, script(CUSTOM)), IN_MODEL)
    assert model.status == IN_SERVICE, model.failure_reason
    probabilities = classifier.predict_proba(np.array(ROWS))[:, 1]

    reply = invoke(model, CSV, "text/csv", "text/csv")
    assert (reply.status, reply.content_type) == (200, "text/csv; charset=utf-8")
    assert reply.body.decode() == ",".join(f"{p:.6f}" for p in probabilities)
    body = json.dumps({"instances": ROWS}).encode()
    document = json.loads(invoke(model, body, "application/json", "application/json").body)
    assert np.allclose(document["predictions"], probabilities)
    assert document["pid"] != os.getpid()  # the user's code never runs in the server
    reply = invoke(model, b"x", "application/x-npy")
    assert reply.status == 500 and b"unsupported content type application/x-npy" in reply.body


def test_the_xgboost_framework_container_defaults_predict_on_a_dmatrix(
    tmp_path: Path, models: Callable[..., Model]
) -> None:
    from tests.test_endpoint_server import train

    booster = train(3)
    booster.save_model(tmp_path / "model.ubj")
    code = script("""
        import os
        import xgboost

        def model_fn(model_dir):
            booster = xgboost.Booster()
            booster.load_model(os.path.join(model_dir, "xgboost-model"))
            return booster
    """)
    archive = tmp_path / "model.tar.gz"
    archive.write_bytes(
        tarball(
            {
                "xgboost-model": (tmp_path / "model.ubj").read_bytes(),
                "code/inference.py": code,
            }
        )
    )
    model = models(archive, IN_MODEL, XGBOOST_IMAGE)
    assert model.status == IN_SERVICE, model.failure_reason
    import xgboost

    expected = booster.predict(xgboost.DMatrix(np.array(ROWS, dtype=np.float32)))
    reply = invoke(model, CSV, "text/csv; charset=utf-8", "application/json")
    assert reply.status == 200 and np.allclose(json.loads(reply.body), expected)
    reply = invoke(model, json.dumps(ROWS).encode(), "application/json")
    assert reply.status == 415  # the XGBoost container decodes no JSON by default


# ---- what cannot serve: one clear reason, the variant Failed --------------------------------------


@pytest.mark.parametrize(
    ("code", "image", "reason"),
    [
        (
            "import joblib\n",
            SKLEARN_IMAGE,
            "inference.py defines no usable model_fn, and the scikit-learn container has no "
            "default for it",
        ),
        (
            MODEL_FN,
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/churn-server:1",
            "its image '123456789012.dkr.ecr.us-east-1.amazonaws.com/churn-server:1' is not one "
            "the local endpoint can stand in for: the local backend has no container engine",
        ),
        (
            MODEL_FN + "import lightgbm\n",
            SKLEARN_IMAGE,
            "inference.py imports 'lightgbm', which is not installed where smgha runs: install "
            "it there (pip install lightgbm)",
        ),
        ("def model_fn():\n    return 1\n", SKLEARN_IMAGE, "model_fn must take model_fn(model_dir)"),
        (
            MODEL_FN.replace("model.joblib", "absent.joblib"),
            SKLEARN_IMAGE,
            "in inference.py failed: FileNotFoundError",
        ),
        (
            MODEL_FN + "def transform_fn(m, b, c, a):\n    pass\ndef input_fn(b, c):\n    pass\n",
            SKLEARN_IMAGE,
            "defines transform_fn and also input_fn",
        ),
        ("raise SystemExit(3)\n", SKLEARN_IMAGE, "importing inference.py failed: SystemExit: 3"),
    ],
    ids=["no-model-fn", "custom-image", "missing-framework", "bad-signature",
         "model-fn-raises", "transform-and-input", "exits-on-import"],
)  # fmt: skip
def test_a_script_that_cannot_serve_fails_its_variant_with_the_reason(
    tmp_path: Path,
    model_bytes: bytes,
    models: Callable[..., Model],
    code: str,
    image: str,
    reason: str,
) -> None:
    model = models(packed(tmp_path, model_bytes, script(code)), IN_MODEL, image)
    assert model.status == FAILED
    assert reason in model.failure_reason
    reply = invoke(model, CSV, "text/csv")
    assert reply.status == 500 and reason.encode() in reply.body


def test_a_missing_script_or_source_is_named(
    tmp_path: Path, model_bytes: bytes, models: Callable[..., Model]
) -> None:
    other = script(MODEL_FN)
    archive = tmp_path / "model.tar.gz"
    archive.write_bytes(tarball({"model.joblib": model_bytes, "code/serve.py": other}))
    model = models(archive, IN_MODEL)
    assert model.status == FAILED
    assert "the inference script inference.py is missing" in model.failure_reason
    assert "['serve.py']" in model.failure_reason

    source = "s3://code-bucket/src.tar.gz"
    model = models(
        archive, {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": source}
    )
    assert model.status == FAILED and f"no object at {source}" in model.failure_reason
    # The scikit-learn container looks in /opt/ml/code, empty in its stock image.
    model = models(archive, {"SAGEMAKER_PROGRAM": "inference.py"})
    assert model.status == FAILED and "folder inside the container image" in model.failure_reason


def test_a_hang_or_crash_is_a_500_and_the_next_request_gets_a_new_worker(
    tmp_path: Path, model_bytes: bytes, models: Callable[..., Model], monkeypatch: Any
) -> None:
    monkeypatch.setattr(script_model, "INVOCATION_TIMEOUT_SECONDS", 2.0)
    code = script(MODEL_FN) + script("""
        import time

        def predict_fn(data, model):
            if data[0][0] == 99:
                os._exit(7)
            if data[0][0] == 98:
                time.sleep(60)
            return model.predict(data)
    """)
    model = models(packed(tmp_path, model_bytes, code), IN_MODEL)
    assert model.status == IN_SERVICE, model.failure_reason
    assert invoke(model, CSV, "text/csv").status == 200
    reply = invoke(model, b"99,0,0,0,0\n1,1,1,1,1", "text/csv")
    assert reply.status == 500 and b"ended (exit code 7) during the request" in reply.body
    assert invoke(model, CSV, "text/csv").status == 200  # a new worker, model_fn again
    reply = invoke(model, b"98,0,0,0,0\n1,1,1,1,1", "text/csv")
    assert reply.status == 500 and b"did not answer within 2 s" in reply.body
    assert invoke(model, CSV, "text/csv").status == 200

    # model_fn hangs: the variant fails after the load limit (the script imports nothing slow).
    monkeypatch.setattr(script_model, "LOAD_TIMEOUT_SECONDS", 5.0)
    hanging = script("import time\n\ndef model_fn(model_dir):\n    time.sleep(60)\n")
    model = models(packed(tmp_path, model_bytes, hanging, "hanging"), IN_MODEL)
    assert model.status == FAILED
    assert "model_fn in inference.py did not return within 5 s" in model.failure_reason


# ---- the endpoint server: variants, capture, metrics, health ---------------------------------------


@pytest.fixture
def server_folder(tmp_path: Path) -> Iterator[tuple[Path, list[Server]]]:
    folder = state.Layout(tmp_path / "state").endpoint_folder("churn-staging")
    folder.mkdir(parents=True)
    started: list[Server] = []
    yield folder, started
    for server in started:
        server.stop()


def write_serving(folder: Path, variants: list[dict[str, Any]], capture: Path) -> None:
    state.write_json_atomic(
        folder / SERVING_FILE,
        {
            "EndpointName": "churn-staging",
            "Variants": variants,
            "DataCapture": {
                "Enabled": True,
                "SamplingPercentage": 100,
                "Destination": str(capture),
                "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"]},
            },
        },
    )


@pytest.mark.slow
def test_the_server_hosts_script_variants_with_capture_metrics_and_health(
    tmp_path: Path, model_bytes: bytes, server_folder: tuple[Path, list[Server]]
) -> None:
    folder, started = server_folder
    s3 = state.Layout(tmp_path / "state").s3
    (s3 / "code-bucket").mkdir(parents=True)
    # The worker runs in the source folder; an smgha/ there must not replace the toolkit.
    shadow = b"raise SystemExit('the source folder smgha ran')\n"
    source_files = {"inference.py": script(CUSTOM), "smgha/__init__.py": shadow}
    (s3 / "code-bucket" / "src.tar.gz").write_bytes(tarball(source_files))
    plain = packed(tmp_path, model_bytes, None, "plain")
    with_code = packed(tmp_path, model_bytes, script(MODEL_FN), "with-code")
    source = "s3://code-bucket/src.tar.gz"
    from_s3 = {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": source}
    variants = [
        {"VariantName": "blue", "ModelDataPath": str(plain), "Weight": 1.0,
         "Environment": from_s3, "Image": SKLEARN_IMAGE},
        {"VariantName": "green", "ModelDataPath": str(with_code), "Weight": 1.0,
         "Environment": IN_MODEL, "Image": SKLEARN_IMAGE},
    ]  # fmt: skip
    capture = tmp_path / "capture"
    write_serving(folder, variants, capture)
    server = Server(folder)
    started.append(server)

    assert server.request("GET", "/ping")[0] == 200
    status, headers, body = server.invoke(CSV, Accept="text/csv", **{
        "X-Amzn-SageMaker-Target-Variant": "blue"})  # fmt: skip
    assert status == 200 and headers["x-amzn-invoked-production-variant"] == "blue"
    assert len(body.decode().split(",")) == len(ROWS)
    status, _, body = server.invoke(
        json.dumps({"instances": ROWS}).encode(), "application/json",
        **{"X-Amzn-SageMaker-Target-Variant": "blue"},
    )  # fmt: skip
    assert status == 200 and json.loads(body)["pid"] not in (server.info["pid"], os.getpid())
    status, _, body = server.invoke(CSV, **{"X-Amzn-SageMaker-Target-Variant": "green"})
    assert status == 200 and len(json.loads(body)) == len(ROWS)

    metrics = server.get_json("/_smgha/metrics")["Variants"]
    assert metrics["blue"]["Invocations"] == 2 and metrics["green"]["Invocations"] == 1
    captured = sorted(capture.rglob("*.jsonl"))
    lines = [json.loads(line) for path in captured for line in path.read_text().splitlines()]
    assert len(lines) == 3
    csv_inputs = [c["captureData"]["endpointInput"] for c in lines]
    assert {"observedContentType": "text/csv", "mode": "INPUT", "data": CSV.decode(),
            "encoding": "CSV"} in csv_inputs  # fmt: skip

    # A variant whose model cannot load: Failed with the reason, /ping fails, the rest serve.
    broken = packed(tmp_path, model_bytes, script("import joblib\n"), "broken")
    variants.append({"VariantName": "broken", "ModelDataPath": str(broken), "Weight": 1.0,
                     "Environment": IN_MODEL, "Image": SKLEARN_IMAGE})  # fmt: skip
    write_serving(folder, variants, capture)
    server.wait_for(lambda: "broken" in server.variants(), "the broken variant")
    server.wait_for(lambda: server.variants()["broken"]["Status"] == FAILED, "its failure")
    assert "defines no usable model_fn" in server.variants()["broken"]["FailureReason"]
    assert server.request("GET", "/ping")[0] == 503
    status, _, _ = server.invoke(CSV, **{"X-Amzn-SageMaker-Target-Variant": "green"})
    assert status == 200


# ---- through the local backend: deploy-endpoint, the deployer's fleet, InvokeEndpoint -------------


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    yield from local_backend_in(tmp_path, monkeypatch)


def script_package(local: Any, model_bytes: bytes, code: bytes, version: int) -> str:
    model, source = (
        f"s3://smgha-local/models/v{version}/model.tar.gz",
        f"s3://smgha-local/code/v{version}.tar.gz",
    )
    local.objects.put_object(model, tarball({"model.joblib": model_bytes}))
    local.objects.put_object(source, tarball({"inference.py": code}))
    return str(local.registry.create_model_package({
        "ModelPackageGroupName": "churn-models",
        "ModelApprovalStatus": "Approved",
        "InferenceSpecification": {"Containers": [{
            "Image": SKLEARN_IMAGE,
            "ModelDataUrl": model,
            "Environment": {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": source},
        }]},
    }))  # fmt: skip


@pytest.mark.slow
def test_deploy_endpoint_serves_a_script_mode_package_on_the_local_backend(
    local: Any, model_bytes: bytes, classifier: Any
) -> None:
    from smgha.stages import deploy_endpoint
    from tests.stage_helpers import GITHUB_CONTEXT, run_main

    inputs = {
        "backend": "local",
        "endpoint-name": "churn-staging",
        "strategy": "all-at-once",
        "wait-seconds": "0",
        "termination-wait-seconds": "0",
        "timeout-minutes": "3",
    }
    package = script_package(local, model_bytes, script(CUSTOM), 1)
    result = run_main(
        deploy_endpoint.main, {**inputs, "model-package-arn": package}, **GITHUB_CONTEXT
    )
    assert result.code == 0, result.log

    reply = local.hosting.invoke_endpoint("churn-staging", CSV, "text/csv", "text/csv")
    assert reply.status == 200, reply.body
    expected = classifier.predict_proba(np.array(ROWS))[:, 1]
    assert reply.body.decode() == ",".join(f"{p:.6f}" for p in expected)

    # A script without model_fn: the new fleet fails its health check, the live one stays.
    broken = script_package(local, model_bytes, script("import joblib\n"), 2)
    result = run_main(
        deploy_endpoint.main, {**inputs, "model-package-arn": broken}, **GITHUB_CONTEXT
    )
    assert result.code == 1
    assert "defines no usable model_fn" in result.log
    assert local.hosting.invoke_endpoint("churn-staging", CSV, "text/csv", "text/csv").status == 200

    # A working script replaces it: the new fleet serves, the old one's worker is stopped.
    reply = local.hosting.invoke_endpoint("churn-staging", CSV, "text/csv", "application/json")
    old_worker = json.loads(reply.body)["pid"]
    update = script_package(local, model_bytes, script(MODEL_FN), 3)
    result = run_main(
        deploy_endpoint.main, {**inputs, "model-package-arn": update}, **GITHUB_CONTEXT
    )
    assert result.code == 0, result.log
    reply = local.hosting.invoke_endpoint("churn-staging", CSV, "text/csv", "application/json")
    assert reply.status == 200
    assert json.loads(reply.body) == classifier.predict(np.array(ROWS, dtype=np.float32)).tolist()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and Path(f"/proc/{old_worker}").exists():
        time.sleep(0.1)
    assert not Path(f"/proc/{old_worker}").exists()
