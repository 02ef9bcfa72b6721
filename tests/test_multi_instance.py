"""Jobs with InstanceCount N on the local backend (issue 16, "Scaling out beyond one
instance"): N processing containers with their share of the inputs and their resource
config, and the built-in XGBoost algorithm as real distributed xgboost over N workers.
The rules and their sources are in smgha/backends/local/cluster.py and
distributed_xgboost.py."""

from __future__ import annotations

import io
import json
import tarfile
import textwrap
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from smgha.backends.local import jobs, state, training, xgboost_algorithm
from smgha.backends.local.registry import LocalRegistry
from smgha.backends.local.s3 import LocalS3

BUCKET = "s3://smgha-local"
XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


def context(tmp_path: Path, name: str = "job") -> tuple[jobs.JobContext, list[str]]:
    lines: list[str] = []
    layout = state.Layout(tmp_path / "state")
    job_dir = tmp_path / "jobs" / name
    job_dir.mkdir(parents=True)
    job = jobs.JobContext(
        job_dir=job_dir,
        job_name=name,
        region="us-east-1",
        s3=LocalS3(tmp_path / "state" / "s3"),
        registry=LocalRegistry(layout, "us-east-1"),
        log=lines.append,
    )
    return job, lines


# ---- processing -------------------------------------------------------------------------

# Each host reports what it saw: its resource config and the files of its input.
REPORTER = """
    import json, os, pathlib
    config = json.load(open("/opt/ml/config/resourceconfig.json"))
    files = sorted(os.listdir("/opt/ml/processing/input/data"))
    out = pathlib.Path("/opt/ml/processing/out")
    (out / f"{config['current_host']}.json").write_text(json.dumps({"config": config, "files": files}))
"""


def processing_request(
    instance_count: int, distribution: str, script: str = "report.py"
) -> dict[str, Any]:
    return {
        "AppSpecification": {
            "ImageUri": "local",
            "ContainerEntrypoint": ["python3", f"/opt/ml/processing/input/code/{script}"],
        },
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": instance_count,
                "InstanceType": "ml.m5.xlarge",
                "VolumeSizeInGB": 30,
            }
        },
        "ProcessingInputs": [
            {
                "InputName": "data",
                "S3Input": {
                    "S3Uri": f"{BUCKET}/data",
                    "LocalPath": "/opt/ml/processing/input/data",
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                    "S3DataDistributionType": distribution,
                },
            },
            {
                "InputName": "code",
                "S3Input": {
                    "S3Uri": f"{BUCKET}/code/{script}",
                    "LocalPath": "/opt/ml/processing/input/code",
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                },
            },
        ],
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": "out",
                    "S3Output": {
                        "S3Uri": f"{BUCKET}/out",
                        "LocalPath": "/opt/ml/processing/out",
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ]
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 120},
    }


def put_processing(job: jobs.JobContext, objects: int, script: str = REPORTER) -> None:
    for index in range(objects):
        job.s3.put_bytes(f"{BUCKET}/data/part-{index}.csv", f"{index}\n".encode())
    job.s3.put_bytes(f"{BUCKET}/code/report.py", textwrap.dedent(script).encode())


def host_reports(job: jobs.JobContext) -> dict[str, Any]:
    out = job.s3.path(f"{BUCKET}/out")
    return {p.stem: json.loads(p.read_text()) for p in sorted(out.glob("*.json"))}


def test_processing_runs_one_container_per_instance_each_with_its_resource_config(
    tmp_path: Path,
) -> None:
    job, _ = context(tmp_path)
    put_processing(job, 5)
    jobs.run_processing(processing_request(3, "FullyReplicated"), job)
    reports = host_reports(job)
    assert sorted(reports) == ["algo-1", "algo-2", "algo-3"]
    for host, report in reports.items():
        assert report["config"] == {"current_host": host, "hosts": ["algo-1", "algo-2", "algo-3"]}
        # FullyReplicated: every container gets every object.
        assert report["files"] == [f"part-{i}.csv" for i in range(5)]


def test_sharded_by_s3_key_splits_the_objects_by_key_across_the_instances(
    tmp_path: Path,
) -> None:
    job, lines = context(tmp_path)
    put_processing(job, 5)
    jobs.run_processing(processing_request(2, "ShardedByS3Key"), job)
    reports = host_reports(job)
    # Keys sorted, object i to host i mod 2: each gets about half, none twice, none lost.
    assert reports["algo-1"]["files"] == ["part-0.csv", "part-2.csv", "part-4.csv"]
    assert reports["algo-2"]["files"] == ["part-1.csv", "part-3.csv"]
    assert any(line.startswith("[algo-2] ") for line in lines) or any(
        "on algo-2" in line for line in lines
    )


def test_each_host_starts_empty_when_a_job_runs_again(tmp_path: Path) -> None:
    job, _ = context(tmp_path)
    put_processing(job, 5)
    jobs.run_processing(processing_request(2, "ShardedByS3Key"), job)
    job.s3.path(f"{BUCKET}/data/part-4.csv").unlink()
    jobs.run_processing(processing_request(2, "ShardedByS3Key"), job)
    # algo-1 had part-4 the first time; a new instance holds only what it is given now.
    assert host_reports(job)["algo-1"]["files"] == ["part-0.csv", "part-2.csv"]


def test_fewer_objects_than_sharded_instances_fails_naming_the_idle_host(
    tmp_path: Path,
) -> None:
    job, _ = context(tmp_path)
    put_processing(job, 1)
    with pytest.raises(jobs.JobFailed, match=r"'data' is ShardedByS3Key over 2 instances.*algo-2"):
        jobs.run_processing(processing_request(2, "ShardedByS3Key"), job)
    assert not job.s3.path(f"{BUCKET}/out").exists()  # nothing ran, nothing uploaded


def test_two_hosts_writing_one_key_with_different_content_fail_the_job(tmp_path: Path) -> None:
    job, _ = context(tmp_path)
    put_processing(
        job,
        2,
        """
        import json, pathlib
        host = json.load(open("/opt/ml/config/resourceconfig.json"))["current_host"]
        pathlib.Path("/opt/ml/processing/out/same.txt").write_text("same")
        pathlib.Path("/opt/ml/processing/out/clash.txt").write_text(host)
        """,
    )
    with pytest.raises(jobs.JobFailed, match=r"algo-1 and algo-2 each wrote 'clash.txt'"):
        jobs.run_processing(processing_request(2, "ShardedByS3Key"), job)
    assert not job.s3.path(f"{BUCKET}/out").exists()


def test_more_processing_instances_than_sagemaker_allows_are_refused(tmp_path: Path) -> None:
    job, _ = context(tmp_path)
    put_processing(job, 2)
    with pytest.raises(jobs.JobFailed, match=r"InstanceCount 101 is above .* maximum of 100"):
        jobs.run_processing(processing_request(101, "FullyReplicated"), job)
    assert list(job.job_dir.iterdir()) == []  # no container was staged


def test_a_failing_host_fails_the_job_with_that_hosts_reason(tmp_path: Path) -> None:
    job, _ = context(tmp_path)
    put_processing(
        job,
        2,
        """
        import json, sys
        host = json.load(open("/opt/ml/config/resourceconfig.json"))["current_host"]
        if host == "algo-2":
            sys.exit("algo-2 cannot read its shard")
        """,
    )
    with pytest.raises(jobs.JobFailed, match=r"(?s)^algo-2: AlgorithmError.*cannot read its shard"):
        jobs.run_processing(processing_request(2, "ShardedByS3Key"), job)


# ---- built-in XGBoost training ----------------------------------------------------------


def put_churn_like(job: jobs.JobContext, rows: int, files: int) -> None:
    """A separable, noisy binary problem as label-first headerless CSV files."""
    rng = np.random.default_rng(7)
    features = rng.normal(size=(rows, 6))
    logits = features[:, 0] * 1.5 - features[:, 1] + 0.5 * features[:, 2] * features[:, 3]
    labels = (logits + rng.normal(scale=0.8, size=rows) > 0).astype(int)
    data = np.column_stack([labels, features])
    split = int(rows * 0.8)
    for name, block in (("train", data[:split]), ("validation", data[split:])):
        for index, part in enumerate(np.array_split(block, files)):
            buffer = io.StringIO()
            np.savetxt(buffer, part, delimiter=",", fmt="%.6g")
            job.s3.put_bytes(f"{BUCKET}/{name}/part-{index}.csv", buffer.getvalue().encode())


def training_request(instance_count: int, distribution: str) -> dict[str, Any]:
    def channel(name: str) -> dict[str, Any]:
        return {
            "ChannelName": name,
            "ContentType": "text/csv",
            "DataSource": {
                "S3DataSource": {
                    "S3Uri": f"{BUCKET}/{name}",
                    "S3DataType": "S3Prefix",
                    "S3DataDistributionType": distribution,
                }
            },
        }

    return {
        "AlgorithmSpecification": {"TrainingImage": XGBOOST_IMAGE, "TrainingInputMode": "File"},
        "HyperParameters": {
            "objective": "binary:logistic",
            "eval_metric": "auc",
            "num_round": "30",
            "max_depth": "4",
            "eta": "0.3",
            "tree_method": "hist",
        },
        "InputDataConfig": [channel("train"), channel("validation")],
        "OutputDataConfig": {"S3OutputPath": f"{BUCKET}/models"},
        "ResourceConfig": {
            "InstanceCount": instance_count,
            "InstanceType": "ml.m5.xlarge",
            "VolumeSizeInGB": 10,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 120},
    }


def metrics(described: dict[str, Any]) -> dict[str, float]:
    return {m["MetricName"]: m["Value"] for m in described["FinalMetricDataList"]}


def booster_of(job: jobs.JobContext, described: dict[str, Any]) -> Any:
    import xgboost

    archive = job.s3.path(described["ModelArtifacts"]["S3ModelArtifacts"]).read_bytes()
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as bundle:
        assert bundle.getnames() == [
            xgboost_algorithm.XGBOOST_MODEL_FILE
        ]  # written once, by the master
        member = bundle.extractfile(xgboost_algorithm.XGBOOST_MODEL_FILE)
        assert member is not None
        model = bytearray(member.read())
    booster = xgboost.Booster()
    booster.load_model(model)
    return booster


# Two workers do not grow exactly the trees one does: hist training merges the workers'
# quantile sketches into the feature bins, which differ slightly from one sketch of all the
# rows. The model is otherwise the same (same rows, same gradients, allreduced), so the
# validation AUC moves by far less than 0.01 (0.93117 and 0.93113 measured on this data);
# 0.01 allows for that; that the two workers each trained on their half, in one collective,
# is checked from their logs.
AUC_TOLERANCE = 0.01


def test_two_instances_train_real_distributed_xgboost_within_tolerance_of_one(
    tmp_path: Path,
) -> None:
    job_one, _ = context(tmp_path, "one")
    put_churn_like(job_one, 5000, 4)
    one = training.run_training(training_request(1, "ShardedByS3Key"), job_one)

    job_two, lines = context(tmp_path, "two")
    two = training.run_training(training_request(2, "ShardedByS3Key"), job_two)

    assert abs(metrics(two)["validation:auc"] - metrics(one)["validation:auc"]) <= AUC_TOLERANCE
    assert metrics(two)["validation:auc"] > 0.85
    # Each worker trained on its own shard, in one collective of two.
    assert "[algo-1] algo-1: 2000 training rows" in lines
    assert "[algo-2] algo-2: 2000 training rows" in lines
    # xgboost's tracker ranked them (dmlc_task_id = the host's index, as the container).
    assert any(line.startswith("[algo-2]") and "got rank 1" in line for line in lines)
    for host in ("algo-1", "algo-2"):
        config_file = job_two.job_dir / host / "container/opt/ml/input/config/resourceconfig.json"
        config = json.loads(config_file.read_text())
        assert (config["current_host"], config["hosts"]) == (host, ["algo-1", "algo-2"])
    import xgboost

    booster = booster_of(job_two, two)
    predictions = booster.predict(xgboost.DMatrix(np.zeros((3, 6))))
    assert predictions.shape == (3,) and ((predictions > 0) & (predictions < 1)).all()


def test_a_host_without_training_data_is_left_out_as_the_container_does(tmp_path: Path) -> None:
    job, lines = context(tmp_path)
    put_churn_like(job, 1000, 1)  # one object per channel: algo-2's shards are empty
    described = training.run_training(training_request(2, "ShardedByS3Key"), job)
    assert any("algo-2 has no train data: it is left out" in line for line in lines)
    assert "[algo-1] algo-1: 800 training rows" in lines
    assert not any(line.startswith("[algo-2]") for line in lines)  # never started
    assert metrics(described)["validation:auc"] > 0.8
    booster_of(job, described)


def worker_processes(job_dir: Path) -> list[int]:
    """Live processes whose command line names a worker config under `job_dir`."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError):
            continue
        if str(job_dir) in command and "xgboost_worker" in command:
            found.append(int(proc.name))
    return found


def failure_within(request: dict[str, Any], job: jobs.JobContext, seconds: float) -> str:
    """The job's failure reason; the test fails if the job is still running after `seconds`
    (a worker left running would keep it waiting)."""
    outcome: dict[str, str] = {}

    def run() -> None:
        try:
            training.run_training(request, job)
        except jobs.JobFailed as error:
            outcome["reason"] = str(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=seconds)
    assert not thread.is_alive(), f"the job still runs after {seconds} s"
    return outcome["reason"]


def test_a_failing_worker_fails_the_job_with_its_reason_and_every_worker_is_stopped(
    tmp_path: Path,
) -> None:
    job, _ = context(tmp_path)
    put_churn_like(job, 1000, 2)
    # algo-2's training shard (sorted keys, i mod 2: part-1) holds text xgboost cannot read:
    # it fails before joining the collective, where algo-1 then waits for it.
    job.s3.put_bytes(f"{BUCKET}/train/part-1.csv", b"1,a,b,c,d,e,f\n0,g,h,i,j,k,l\n")
    reason = failure_within(training_request(2, "ShardedByS3Key"), job, 120)
    assert reason.startswith("AlgorithmError: algo-2: the worker exited with code 1")
    assert "could not convert string to float" in reason
    assert worker_processes(job.job_dir) == []


def test_distributed_training_is_bounded_by_max_runtime(tmp_path: Path) -> None:
    job, _ = context(tmp_path)
    put_churn_like(job, 1000, 2)
    request = training_request(2, "ShardedByS3Key")
    request["HyperParameters"]["num_round"] = "10000000"  # hours of training
    request["StoppingCondition"] = {"MaxRuntimeInSeconds": 1}
    reason = failure_within(request, job, 120)
    assert reason == "the job ran past MaxRuntimeInSeconds=1 and was stopped"
    assert worker_processes(job.job_dir) == []


def test_script_mode_training_on_several_instances_is_refused_by_name(tmp_path: Path) -> None:
    job, _ = context(tmp_path)
    request = training_request(2, "FullyReplicated")
    request["HyperParameters"] = {
        "sagemaker_program": '"train.py"',
        "sagemaker_submit_directory": f'"{BUCKET}/code/source.tar.gz"',
    }
    with pytest.raises(jobs.JobFailed, match=r"script-mode training with InstanceCount 2"):
        training.run_training(request, job)
    assert list(job.job_dir.iterdir()) == []  # refused before anything was staged


def test_processing_containers_run_at_the_same_time(tmp_path: Path) -> None:
    job, _ = context(tmp_path)
    put_processing(
        job,
        2,
        """
        import json, pathlib, time
        host = json.load(open("/opt/ml/config/resourceconfig.json"))["current_host"]
        start = time.time()
        time.sleep(1.5)
        out = pathlib.Path("/opt/ml/processing/out")
        (out / f"{host}.json").write_text(json.dumps([start, time.time()]))
        """,
    )
    jobs.run_processing(processing_request(2, "ShardedByS3Key"), job)
    (start_1, end_1), (start_2, end_2) = host_reports(job).values()
    assert start_2 < end_1 and start_1 < end_2  # the two runs overlap
