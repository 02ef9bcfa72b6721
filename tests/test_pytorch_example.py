"""The PyTorch example (examples/pytorch) for real on the local backend: train.py trains in
script mode with the PyTorch training image, and the model it writes is deployed with the
PyTorch inference image and served through inference.py and the container's default
handlers (smgha/backends/local/serving/script_handlers.py cites them).

torch is not in the project's extras (the demo install stays lean): `make .venv/.test-installed`
installs a CPU build. Without it this test fails and says so; it never skips.
"""

from __future__ import annotations

import importlib.util
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ml import data, preprocess
from tests.stage_helpers import GITHUB_CONTEXT, run_main
from tests.test_endpoint_server import tarball
from tests.test_script_inference import local  # noqa: F401 (a fixture: stops its endpoints)
from tests.test_script_training import channel, described, run, v2_training_step

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "pytorch"
REGION = "us-east-1"
# sagemaker.core.image_uris.retrieve("pytorch", "us-east-1", version="2.6", py_version="py312",
# instance_type="ml.m5.large", image_scope="training" / "inference")
TRAINING_IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.6-cpu-py312"
INFERENCE_IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.6-cpu-py312"
CODE = "s3://smgha-local/code/pytorch-example.tar.gz"
METRICS = [
    {"Name": "train:loss", "Regex": r"train:loss=([0-9.]+)"},
    {"Name": "validation:auc", "Regex": r"validation:auc=([0-9.]+)"},
]
NO_TORCH = (
    "torch is not installed in this environment, and the PyTorch example needs it: run "
    "`make .venv/.test-installed` (it installs the CPU build from /opt/wheels when the file is "
    "there, else torch==2.13.0 from PyPI)."
)


def example_inference() -> Any:
    """examples/pytorch/inference.py as a module (its model_fn rebuilds the trained network)."""
    spec = importlib.util.spec_from_file_location(
        "pytorch_example_inference", EXAMPLE / "inference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def require_torch() -> None:
    if importlib.util.find_spec("torch") is None:
        pytest.fail(NO_TORCH, pytrace=False)


def churn_splits(folder: Path) -> dict[str, Path]:
    """ml/data.py's customers through ml/preprocess.py: header-less CSVs, label first."""
    data.write_csv(data.generate(rows=1500, seed=11), folder / "raw" / "churn.csv")
    preprocess.main(["--input-dir", str(folder / "raw"), "--output-dir", str(folder)])
    return {name: folder / name / f"{name}.csv" for name in preprocess.SPLITS}


def training_step() -> dict[str, Any]:
    """The request SDK v2's PyTorch estimator writes (JSON-encoded hyperparameter values)."""
    step = v2_training_step()
    arguments = step["Arguments"]
    arguments["AlgorithmSpecification"].update(
        TrainingImage=TRAINING_IMAGE, MetricDefinitions=METRICS
    )
    arguments["HyperParameters"] = {
        "epochs": "8",
        "hidden_units": "8",
        "sagemaker_program": json.dumps("train.py"),
        "sagemaker_submit_directory": json.dumps(CODE),
        "sagemaker_region": json.dumps(REGION),
    }
    arguments["InputDataConfig"] = [
        channel(c, f"s3://smgha-local/churn/{c}") for c in ("train", "validation")
    ]
    return step


def test_the_pytorch_example_trains_and_serves_on_the_local_backend(
    local: Any,  # noqa: F811 (the fixture)
    tmp_path: Path,
) -> None:
    require_torch()
    import torch

    splits = churn_splits(tmp_path / "churn")
    for name in ("train", "validation"):
        local.objects.put_object(
            f"s3://smgha-local/churn/{name}/{name}.csv", splits[name].read_bytes()
        )
    example = {name: (EXAMPLE / name).read_bytes() for name in ("train.py", "inference.py")}
    local.objects.put_object(CODE, tarball(example))

    status, step = run(local, training_step())

    assert status == "Succeeded", step.failure_reason
    job = described(local)
    metrics = {m["MetricName"]: m["Value"] for m in job["FinalMetricDataList"]}
    assert set(metrics) == {"train:loss", "validation:auc"}
    assert 0.6 < metrics["validation:auc"] <= 1.0  # the churn signal is learnt
    artifact = job["ModelArtifacts"]["S3ModelArtifacts"]
    model_dir = tmp_path / "model"
    with tarfile.open(fileobj=io.BytesIO(local.objects.read_object(artifact))) as archive:
        archive.extractall(model_dir, filter="data")
    files = sorted(str(p.relative_to(model_dir)) for p in model_dir.rglob("*") if p.is_file())
    assert files == ["code/inference.py", "model.pth"]
    model = example_inference().model_fn(str(model_dir))

    package = local.registry.create_model_package({
        "ModelPackageGroupName": "churn-models",
        "ModelApprovalStatus": "Approved",
        "InferenceSpecification": {"Containers": [{
            "Image": INFERENCE_IMAGE,
            "ModelDataUrl": artifact,
            "Environment": {"SAGEMAKER_PROGRAM": "inference.py",
                            "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"},
        }]},
    })  # fmt: skip
    from smgha.stages import deploy_endpoint

    deployed = run_main(
        deploy_endpoint.main,
        {
            "backend": "local",
            "model-package-arn": package,
            "endpoint-name": "churn-pytorch",
            "strategy": "all-at-once",
            "wait-seconds": "0",
            "termination-wait-seconds": "0",
            "timeout-minutes": "3",
        },
        **GITHUB_CONTEXT,
    )
    assert deployed.code == 0, deployed.log

    rows = np.loadtxt(splits["test"], delimiter=",", ndmin=2, dtype=np.float32)[:20, 1:]
    body = "\n".join(",".join(f"{v:g}" for v in row) for row in rows).encode()
    reply = local.hosting.invoke_endpoint("churn-pytorch", body, "text/csv", "text/csv")

    assert reply.status == 200, reply.body
    assert reply.content_type == "text/csv"  # the toolkit answers with the Accept
    served = [float(line) for line in reply.body.decode().splitlines()]
    with torch.no_grad():
        expected = model(
            torch.from_numpy(np.loadtxt(io.StringIO(body.decode()), delimiter=",")).float()
        )
    assert len(served) == len(rows) and all(0.0 <= p <= 1.0 for p in served)
    assert np.allclose(served, expected.flatten().numpy(), atol=1e-6)
    assert len(set(served)) > 1  # a model, not a constant
    # One row: one probability (the container's CSV decoder gives a 1-D tensor).
    one = local.hosting.invoke_endpoint(
        "churn-pytorch", body.splitlines()[0], "text/csv", "text/csv"
    )
    assert one.status == 200 and float(one.body) == pytest.approx(served[0], abs=1e-6)


def test_without_inference_py_the_pytorch_container_defaults_serve_a_torchscript_model(
    tmp_path: Path,
) -> None:
    """No SAGEMAKER_PROGRAM and no code/inference.py: the toolkit's default module is absent,
    so every handler is the container's (model.pt as TorchScript, tensors in, lists out)."""
    require_torch()
    import torch

    from smgha.backends.local.serving.inference import answer
    from smgha.backends.local.serving.model import FAILED, IN_SERVICE, Model

    torch.manual_seed(0)
    linear = torch.jit.script(torch.nn.Sequential(torch.nn.Linear(3, 1), torch.nn.Sigmoid()))
    buffer = io.BytesIO()
    torch.jit.save(linear, buffer)
    path = tmp_path / "model.tar.gz"
    path.write_bytes(tarball({"model.pt": buffer.getvalue()}))
    rows = [[0.5, -1.0, 2.0], [1.5, 0.0, -0.5]]
    with torch.no_grad():
        expected = linear(torch.tensor(rows)).tolist()

    # SAGEMAKER_SUBMIT_DIRECTORY is not read by this container: no source is fetched.
    environment = {"SAGEMAKER_SUBMIT_DIRECTORY": "s3://nowhere/src.tar.gz"}
    model = Model(str(path), environment, INFERENCE_IMAGE, tmp_path / "s3")
    try:
        model.load()
        assert model.status == IN_SERVICE, model.failure_reason
        reply = answer(model, json.dumps(rows).encode(), "application/json", "")
        assert reply.status == 200 and reply.content_type == "application/json"
        assert np.allclose(json.loads(reply.body), expected)
        # The first supported type of the Accept list; a CSV line per row.
        csv_rows = b"0.5,-1.0,2.0\n1.5,0.0,-0.5"
        reply = answer(model, csv_rows, "text/csv", "application/xml, text/csv")
        assert reply.status == 200 and reply.content_type == "application/xml, text/csv"
        assert np.allclose([float(v) for v in reply.body.split()], np.ravel(expected))
        # The toolkit's UnsupportedFormatError is answered 500 (not 415 as in Flask images).
        reply = answer(model, csv_rows, "text/csv", "application/xml")
        assert reply.status == 500 and b"application/xml is not supported" in reply.body
    finally:
        model.close()

    # A script named in SAGEMAKER_PROGRAM must be there (stricter than the toolkit, which
    # would fall back to its defaults in silence).
    named = Model(str(path), {"SAGEMAKER_PROGRAM": "serve.py"}, INFERENCE_IMAGE, tmp_path / "s3")
    named.load()
    named.close()
    assert named.status == FAILED and "the inference script serve.py is missing" in (
        named.failure_reason
    )
