"""Faults of the local backend's processes, each with the outcome it must have.

Real processes, killed by pid with os.kill: an endpoint's server (while idle, during a
deploy, during a smoke test), a deployer, a pipeline executor; two deploys of one endpoint at
once. Whatever dies, what the backend says afterwards is true (a dead server is a Failed
endpoint, a dead executor a Failed execution and step), what the dead process started is
stopped, and a redeploy with the same inputs really serves again. Every process a test starts
is stopped by the fixtures; every wait is bounded.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from smgha import cli
from smgha.backends.local import LocalBackend, state
from smgha.backends.local.endpoints import SERVER_MODULE
from smgha.errors import StageError
from smgha.stages import deploy_endpoint, smoke_test
from tests.stage_helpers import GITHUB_CONTEXT, run_main
from tests.test_deploy_endpoint import PAYLOAD, ROWS, deploy, register, train
from tests.test_local_backend import processing_step, put_script, start

REGION = "us-east-1"
ENDPOINT = "churn-staging"  # the endpoint test_deploy_endpoint.deploy() deploys to


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalBackend]:
    """The local backend of a fresh state folder (the stages find it through the variable).
    Afterwards every process that works in it is stopped: the endpoints' deployers and
    servers as `smgha endpoints stop` does, then anything else (an executor, a job, a
    server a failing test left behind), found by its command line."""
    monkeypatch.setenv(state.STATE_DIR_ENV, str(tmp_path / "state"))
    backend = LocalBackend(region=REGION)
    yield backend
    for folder in (backend.root / "endpoints").glob("*"):
        backend.hosting.delete_endpoint(folder.name)
    for pid in processes_in(backend.root):
        os.kill(pid, signal.SIGKILL)
    for child in backend.pipelines._children.values():
        child.wait(timeout=10)


def processes_in(root: Path) -> list[int]:
    """The live processes whose command line names a path inside `root`."""
    inside = str(root.resolve()).encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or not running(int(entry.name)):
            continue
        try:
            arguments = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # it ended meanwhile
        if any(a.startswith(inside) for a in arguments):
            pids.append(int(entry.name))
    return pids


def wait_until(condition: Callable[[], Any], what: str, seconds: float = 60.0) -> Any:
    """Poll `condition` until it returns something true (returned), at most `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"not within {seconds:g}s: {what}")


def described(local: LocalBackend) -> dict[str, Any]:
    """DescribeEndpoint of ENDPOINT, which exists."""
    record = local.hosting.describe_endpoint(ENDPOINT)
    assert record is not None
    return record


def server_pid(local: LocalBackend) -> int:
    return int(state.read_json(local.hosting.folder(ENDPOINT) / "server.json")["pid"])


def servers_of(local: LocalBackend) -> list[int]:
    """The pids of every live endpoint server of ENDPOINT, found from /proc, not from a file."""
    folder = local.hosting.folder(ENDPOINT)
    return [
        int(entry.name)
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit() and state.runs(int(entry.name), SERVER_MODULE, folder)
    ]


def running(pid: int) -> bool:
    """A live process has `pid` (a zombie, dead but not yet reaped by its parent, is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def kill(pid: int) -> None:
    """kill -9 one process (not its group), and wait until it no longer runs (bounded)."""
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not running(pid), f"pid {pid} to end", 10)


def server_metrics(local: LocalBackend) -> Any:
    info = state.read_json(local.hosting.folder(ENDPOINT) / "server.json")
    connection = http.client.HTTPConnection("127.0.0.1", int(info["port"]), timeout=10)
    try:
        connection.request("GET", "/_smgha/metrics")
        return json.loads(connection.getresponse().read())
    finally:
        connection.close()


def answers(local: LocalBackend) -> int:
    return local.hosting.invoke_endpoint(ENDPOINT, PAYLOAD.encode(), "text/csv").status


def cli_output(*arguments: str) -> tuple[int, str]:
    out = io.StringIO()
    code = cli.main(list(arguments), stdout=out)
    return code, out.getvalue()


# ---- an endpoint's server killed while idle --------------------------------------------------


def test_a_server_killed_while_idle_is_failed_with_the_reason_until_a_redeploy_restarts_it(
    local: LocalBackend,
) -> None:
    package = register(local, train(10, 3, seed=1))
    assert deploy(package, strategy="all-at-once").code == 0
    dead = server_pid(local)

    kill(dead)

    record = described(local)
    assert record["EndpointStatus"] == "Failed"
    assert f"its server (pid {dead}) is gone" in record["FailureReason"]
    assert "deploy-endpoint with the same inputs starts it again" in record["FailureReason"]
    code, listing = cli_output("endpoints", "list")
    assert code == 0
    row = next(line for line in listing.splitlines() if line.startswith(ENDPOINT + " "))
    assert row.split()[1] == "Failed"
    assert f"{ENDPOINT}: its server (pid {dead}) is gone" in listing
    with pytest.raises(StageError, match=rf"did not answer.*its server \(pid {dead}\) is gone"):
        answers(local)

    # The same inputs again: not "nothing to do", but the endpoint served again.
    again = deploy(package, strategy="all-at-once")

    assert again.code == 0, again.log
    assert "nothing to do" not in again.log
    restarted = server_pid(local)
    assert restarted != dead and servers_of(local) == [restarted]
    assert described(local)["EndpointStatus"] == "InService"
    assert answers(local) == 200


def test_an_endpoint_its_deployer_failed_takes_no_update_until_deleted_as_in_sagemaker(
    local: LocalBackend,
) -> None:
    """SageMaker API reference, DescribeEndpoint, EndpointStatus: "DeleteEndpoint is the only
    operation that can be performed on a failed endpoint". A lost process (above) is no such
    failure; a create that failed its health check is."""
    broken = register(local, b"not a model.tar.gz")
    failed = deploy(broken, strategy="all-at-once")
    assert failed.code == 1 and "failed its health check" in failed.errors[0]
    before = (local.hosting.folder(ENDPOINT) / "endpoint.json").read_bytes()

    again = deploy(broken, strategy="all-at-once")

    assert again.code == 1 and len(again.errors) == 1
    assert "is Failed (the new fleet failed its health check" in again.errors[0]
    assert (
        "DeleteEndpoint is the only operation that can be performed on a failed endpoint"
        in (again.errors[0])
    )
    assert f"smgha endpoints stop {ENDPOINT}" in again.errors[0]
    assert (local.hosting.folder(ENDPOINT) / "endpoint.json").read_bytes() == before
    # Deleted, the endpoint can be created again.
    assert cli_output("endpoints", "stop", ENDPOINT)[0] == 0
    assert deploy(register(local, train(10, 3, seed=1)), strategy="all-at-once").code == 0
    assert answers(local) == 200


# ---- killed during a deploy: the server during a canary, the deployer -----------------------


def start_canary(local: LocalBackend) -> tuple[str, threading.Thread, dict[str, Any]]:
    """v1 live on two instances, then a canary of v2 (waiting 30 s at its first share)
    running in a thread; returns v2's package, the thread and where its result lands, once
    the canary's share is on the new fleet."""
    v1 = register(local, train(10, 3, seed=1))
    v2 = register(local, train(10, 3, seed=2))
    assert deploy(v1, **{"instance-count": "2", "strategy": "all-at-once"}).code == 0
    result: dict[str, Any] = {}
    canary = {"instance-count": "2", "wait-seconds": "30", "canary-percent": "50"}
    thread = threading.Thread(target=lambda: result.update(run=deploy(v2, **canary)))
    thread.start()

    def canary_live() -> bool:
        record = state.read_json(local.hosting.folder(ENDPOINT) / "endpoint.json")
        return bool(record.get("PendingDeploymentSummary"))

    wait_until(canary_live, "the canary's first traffic shift")
    return v2, thread, result


def test_a_server_killed_during_a_canary_rolls_back_onto_a_new_server_and_a_redeploy_serves(
    local: LocalBackend,
) -> None:
    v2, thread, result = start_canary(local)
    blue_config = described(local)["EndpointConfigName"]
    dead = server_pid(local)

    kill(dead)
    thread.join(timeout=120)

    assert not thread.is_alive()
    rolled_back = result["run"]
    assert rolled_back.code == 1 and rolled_back.outputs["status"] == "rolled-back"
    assert len(rolled_back.errors) == 1
    assert "did not answer GET /_smgha/metrics" in rolled_back.errors[0]
    assert f"its server (pid {dead}) is gone" in rolled_back.errors[0]
    # The old fleet really serves, on a server started for it; no canary is left pending.
    record = described(local)
    assert record["EndpointStatus"] == "InService"
    assert record["EndpointConfigName"] == blue_config
    assert not record.get("PendingDeploymentSummary")
    assert servers_of(local) == [server_pid(local)] and server_pid(local) != dead
    assert answers(local) == 200

    # The same inputs again deploy the new fleet, on a server that answers.
    again = deploy(v2, **{"instance-count": "2", "wait-seconds": "0", "canary-percent": "50"})

    assert again.code == 0, again.log
    record = described(local)
    assert record["EndpointStatus"] == "InService"
    assert record["EndpointConfigName"] != blue_config
    assert not record.get("PendingDeploymentSummary")
    assert len(servers_of(local)) == 1 and answers(local) == 200


def test_a_deployer_killed_during_a_canary_fails_the_deploy_and_a_redeploy_finishes_it(
    local: LocalBackend,
) -> None:
    v2, thread, result = start_canary(local)
    deployer = int(state.read_json(local.hosting.folder(ENDPOINT) / "deployer.json")["pid"])

    kill(deployer)
    thread.join(timeout=120)

    assert not thread.is_alive()
    failed = result["run"]
    assert failed.code == 1 and len(failed.errors) == 1
    assert f"the local deployer (pid {deployer}) is gone" in failed.errors[0]
    assert described(local)["EndpointStatus"] == "Failed"

    again = deploy(v2, **{"instance-count": "2", "wait-seconds": "0", "canary-percent": "50"})

    assert again.code == 0, again.log
    assert described(local)["EndpointStatus"] == "InService"
    assert len(servers_of(local)) == 1 and answers(local) == 200


# ---- killed during a smoke test ----------------------------------------------------------------


def test_a_server_killed_during_a_smoke_test_fails_it_naming_the_dead_server(
    local: LocalBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = register(local, train(10, 3, seed=1))
    assert deploy(package, strategy="all-at-once").code == 0
    dead = server_pid(local)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "payloads.csv").write_text(
        "".join(",".join(f"{x:.4f}" for x in row) + "\n" for row in ROWS)
    )
    inputs = {
        "backend": "local",
        "endpoint-name": ENDPOINT,
        "payloads": "payloads.csv",
        "requests": "3000",  # more than it sends before the kill, at any speed
        "concurrency": "2",
        "timeout-minutes": "2",
    }
    result: dict[str, Any] = {}
    thread = threading.Thread(
        target=lambda: result.update(
            run=run_main(smoke_test.main, inputs, GITHUB_WORKSPACE=str(tmp_path), **GITHUB_CONTEXT)
        )
    )
    thread.start()

    def load_test_running() -> bool:
        metrics = server_metrics(local)
        return sum(v["Invocations"] for v in metrics["Variants"].values()) > len(ROWS) + 20

    wait_until(load_test_running, "the load test's first calls")
    kill(dead)
    thread.join(timeout=120)

    assert not thread.is_alive()
    run = result["run"]
    assert run.code == 1 and len(run.errors) == 1, run.log
    report = json.loads((tmp_path / "smoke-test-report.json").read_text())
    assert f"its server (pid {dead}) is gone" in json.dumps(report)
    record = described(local)
    assert record["EndpointStatus"] == "Failed"
    assert f"(pid {dead}) is gone" in record["FailureReason"]


# ---- a pipeline executor killed ------------------------------------------------------------


def test_a_killed_executor_fails_its_execution_and_running_step_and_its_job_is_stopped(
    local: LocalBackend, tmp_path: Path
) -> None:
    job_pid_file = tmp_path / "job.pid"
    put_script(
        local,
        "slow.py",
        f"""
        import os, pathlib, time
        pathlib.Path({str(job_pid_file)!r}).write_text(str(os.getpid()))
        time.sleep(120)
        """,
    )
    arn = start(local, [processing_step("Slow", "slow.py")])
    folder = local.root / "executions" / arn.rsplit("/", 1)[-1]
    executor = int(state.read_json(folder / "execution.json")["ExecutorPid"])
    job = int(wait_until(lambda: job_pid_file.exists() and job_pid_file.read_text(), "the job"))

    kill(executor)  # the executor only: its job runs on in its process group

    assert running(job)
    # Another process reads it (a later job): it sees only the files and the pids.
    reader = LocalBackend(region=REGION, root=local.root)
    execution = reader.pipelines.describe_execution(arn)
    assert execution.status == "Failed"
    assert f"the local executor (pid {executor}) is gone" in execution.failure_reason
    [step] = reader.pipelines.list_steps(arn)
    assert step.status == "Failed" and step.failure_reason == execution.failure_reason
    assert step.ended is not None
    wait_until(lambda: not running(job), "the dead executor's job to be stopped", 15)
    # Written down, not only reported: the file says the same to every later reader.
    on_disk = state.read_json(folder / "execution.json")
    assert on_disk["PipelineExecutionStatus"] == "Failed"
    assert on_disk["Steps"][0]["StepStatus"] == "Failed"


# ---- two deploys of one endpoint at once ------------------------------------------------------


def test_concurrent_creates_of_one_endpoint_create_it_once_and_start_one_server(
    local: LocalBackend,
) -> None:
    """Four CreateEndpoint calls at the same moment: one creates it, three get SageMaker's
    error, and one deployer starts one server (never two servers, nor a record overwritten
    under a running deployer)."""
    package = register(local, train(10, 3, seed=1))
    local.hosting.create_model(
        {"ModelName": "m", "PrimaryContainer": {"ModelPackageName": package}}
    )
    local.hosting.create_endpoint_config({
        "EndpointConfigName": "c",
        "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": "m", "InitialInstanceCount": 1}],
    })  # fmt: skip
    callers = 4
    barrier = threading.Barrier(callers)
    outcomes: list[str] = []

    def create() -> None:
        backend = LocalBackend(region=REGION, root=local.root)  # one per job, as in CI
        barrier.wait(timeout=30)
        try:
            backend.hosting.create_endpoint(ENDPOINT, "c", {})
            outcomes.append("created")
        except StageError as error:
            outcomes.append(str(error))

    threads = [threading.Thread(target=create) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert outcomes.count("created") == 1, outcomes
    assert all("Cannot create already existing endpoint" in o for o in outcomes if o != "created")
    wait_until(lambda: described(local)["EndpointStatus"] != "Creating", "the create")
    assert described(local)["EndpointStatus"] == "InService"
    assert servers_of(local) == [server_pid(local)]


def test_a_deploy_while_another_creates_the_endpoint_fails_clearly_and_changes_nothing(
    local: LocalBackend,
) -> None:
    package = register(local, train(10, 3, seed=1))
    result: dict[str, Any] = {}
    first = threading.Thread(
        target=lambda: result.update(run=deploy(package, strategy="all-at-once"))
    )
    first.start()
    wait_until(
        lambda: (local.hosting.folder(ENDPOINT) / "deployer.json").exists(), "the first create"
    )

    second = deploy(package, strategy="all-at-once")
    first.join(timeout=120)

    assert second.code == 1 and len(second.errors) == 1
    assert f"endpoint '{ENDPOINT}' is Creating; wait until it is InService" in second.errors[0]
    assert result["run"].code == 0, result["run"].log
    assert described(local)["EndpointStatus"] == "InService"
    assert servers_of(local) == [server_pid(local)] and answers(local) == 200


def test_a_second_server_for_an_endpoint_refuses_to_start(local: LocalBackend) -> None:
    package = register(local, train(10, 3, seed=1))
    assert deploy(package, strategy="all-at-once").code == 0
    serving = server_pid(local)

    second = state.spawn(SERVER_MODULE, local.hosting.folder(ENDPOINT), "server.out")

    assert second.wait(timeout=60) == 3
    assert (
        f"another server (pid {serving}) serves"
        in (local.hosting.folder(ENDPOINT) / "server.out").read_text()
    )
    assert servers_of(local) == [serving] and server_pid(local) == serving


# ---- the command line and the runner's files ---------------------------------------------------


def test_stopping_all_endpoints_when_none_runs_succeeds_every_time(local: LocalBackend) -> None:
    for _ in range(2):
        code, text = cli_output("endpoints", "stop", "--all")
        assert code == 0, text
        assert text == f"no local endpoints under {local.root}: nothing to stop\n"


def test_a_github_output_that_names_no_file_is_one_error_naming_the_variable(
    local: LocalBackend, tmp_path: Path
) -> None:
    package = register(local, train(5, 2, seed=1))
    missing = tmp_path / "no-such-dir" / "output"

    run = run_main(
        deploy_endpoint.main,
        {"backend": "local", "model-package-arn": package, "endpoint-name": ENDPOINT, "dry-run": "true"},
        **{**GITHUB_CONTEXT, "GITHUB_OUTPUT": str(missing)},
    )  # fmt: skip

    assert run.code == 1
    assert len(run.errors) == 1
    assert "GITHUB_OUTPUT names no file" in run.errors[0]
    assert f"GITHUB_OUTPUT is '{missing}', and there is no such file" in run.errors[0]
    assert "unexpected error" not in run.log and "Traceback" not in run.log
    assert not missing.exists()
    # Refused before the stage ran: it printed nothing but the error.
    assert run.log.splitlines() == run.errors
