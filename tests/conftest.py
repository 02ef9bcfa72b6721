"""Fixtures shared by the whole test suite.

AWS is never reachable from the tests: code that calls AWS runs against a real moto server
(a subprocess, one per test session) through the standard `AWS_ENDPOINT_URL` variable.
A test that talks to it asks for `aws_env`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Bounds on waiting for the moto server: to answer after start, and to exit after terminate.
MOTO_START_TIMEOUT = 20.0
MOTO_POLL_INTERVAL = 0.1
MOTO_STOP_TIMEOUT = 10.0

# urllib without proxies: requests to the local moto server must never go through one.
_direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _free_port() -> int:
    """A TCP port nothing listens on right now (the OS picks it when binding port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _moto_answers(url: str) -> bool:
    """Whether the moto server at `url` answers HTTP yet."""
    try:
        with _direct.open(f"{url}/moto-api/", timeout=1) as response:
            return response.status == 200
    except OSError:  # connection refused, reset, timeout; URLError is an OSError
        return False


def _tail(path: Path, lines: int = 30) -> str:
    """The last lines of a log file, for failure messages."""
    text = path.read_text(errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a moto server (`http://127.0.0.1:<port>`) running for the whole session.

    Started as a subprocess on a free port; its log goes to a file (a pipe nobody reads
    would fill up and block the server) and is shown if it fails to start. The server is
    terminated, or killed if it does not exit in time, when the session ends.
    """
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path_factory.mktemp("moto") / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + MOTO_START_TIMEOUT
        while not _moto_answers(url):
            if process.poll() is not None:
                pytest.fail(
                    f"moto server exited with code {process.returncode}:\n{_tail(log_path)}"
                )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"moto server did not answer at {url} within {MOTO_START_TIMEOUT:.0f} s:\n"
                    f"{_tail(log_path)}"
                )
            time.sleep(MOTO_POLL_INTERVAL)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=MOTO_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=MOTO_STOP_TIMEOUT)


@pytest.fixture
def moto_reset(moto_server: str) -> None:
    """Empty the moto server (every service, account and region) before the test."""
    request = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")
    with _direct.open(request, timeout=10) as response:
        assert response.status == 200, f"moto reset answered {response.status}"


@pytest.fixture
def aws_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, moto_server: str, moto_reset: None
) -> str:
    """Point boto3 at an empty moto server with fake credentials; return the server's URL.

    Sets AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (`testing`), AWS_DEFAULT_REGION
    (`us-east-1`) and AWS_ENDPOINT_URL, and removes what could send a call elsewhere: a
    profile, a session token, the shared config files, per-service endpoint variables.
    """
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    # AWS_ENDPOINT_URL_<SERVICE> would win over AWS_ENDPOINT_URL; this one would disable both.
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL_") or name == "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS":
            monkeypatch.delenv(name)
    # ~/.aws/config and credentials must not add a profile, region or endpoint.
    missing = str(tmp_path / "no-aws-config")
    monkeypatch.setenv("AWS_CONFIG_FILE", missing)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", missing)
    # botocore honours proxy variables: the local server must be reached directly.
    for name in ("NO_PROXY", "no_proxy"):
        current = os.environ.get(name, "")
        monkeypatch.setenv(name, f"{current},127.0.0.1" if current else "127.0.0.1")
    return moto_server


@pytest.fixture(scope="session")
def churn_csv() -> bytes:
    """The reference churn data set (5000 rows, seed 7) as CSV bytes, made once per session."""
    from ml import data

    frame = data.generate(rows=5000, seed=7)
    return frame.to_csv(index=False, float_format="%.2f", lineterminator="\n").encode()


def _is_loopback(host: object) -> bool:
    if not isinstance(host, str):
        return True  # bytes hosts and unix sockets: nothing here uses them for the network
    return host in ("localhost", "::1", "") or host.startswith("127.")


@pytest.fixture(autouse=True, scope="session")
def loopback_only() -> Iterator[None]:
    """Every test reaches servers on this machine only.

    The SageMaker SDK sends telemetry from background threads while it builds a pipeline
    (an HTTPS GET to an AWS bucket); name look-ups and connections to anything but loopback
    are refused, so no test can send a packet off the machine, whatever a library does.
    """
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: object) -> None:
        host = address[0] if isinstance(address, tuple) else ""
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(host):
            raise ConnectionRefusedError(f"tests reach loopback only, not {address!r}")
        return real_connect(self, address)  # type: ignore[arg-type]

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
        if not _is_loopback(host):
            raise socket.gaierror(f"tests resolve loopback names only, not {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]

    # Session-wide, so a library's background thread that outlives its test stays guarded.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", connect)
        patch.setattr(socket, "getaddrinfo", getaddrinfo)
        yield


@pytest.fixture(autouse=True, scope="session")
def a_state_folder_of_the_test_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A test that names no state folder (SMGHA_STATE_DIR) gets one of this test run, never
    the user's (~/.local/state/smgha): the local records and the definition cache a test
    writes stay in the run."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SMGHA_STATE_DIR", str(tmp_path_factory.mktemp("state")))
        yield


@pytest.fixture(autouse=True, scope="session")
def hold_clients_to_the_contract() -> Iterator[None]:
    """Every call a botocore client makes in a test is held to what AWS accepts.

    moto and botocore's Stubber check little more than botocore's own client-side validation
    (types, required members, minimum lengths). Before a call goes to either, it is checked
    against tests/aws_contract.py (the full service model: patterns, maximum lengths, list
    and map sizes, ranges; and SageMaker's documented rules), and a request AWS would refuse
    raises the ValidationException AWS would answer. What botocore itself refuses is left to
    botocore (ParamValidationError, nothing sent).
    """
    from botocore.client import BaseClient

    from tests.aws_contract import client_side_valid, contract_problems, validation_error

    original = BaseClient._make_api_call

    def checked(client: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
        service = client.meta.service_model.service_name
        problems = contract_problems(service, operation_name, api_params)
        # botocore validates every call itself; it is asked here only for a refused one.
        if problems and client_side_valid(service, operation_name, api_params):
            raise validation_error(operation_name, problems)
        return original(client, operation_name, api_params)

    checked.__wrapped__ = original  # type: ignore[attr-defined]  # a test of the double's own check
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BaseClient, "_make_api_call", checked)
        yield


@pytest.fixture(autouse=True, scope="session")
def steps_run_fresh_unless_a_test_warms_them() -> Iterator[None]:
    """SMGHA_LOCAL_WARM=0 for the session (processes the tests start inherit it): each test
    has a state folder of its own, so a warm worker per test would spend 5 s of CPU
    importing pandas, scikit-learn and xgboost for one or two steps. tests/test_warm_runner.py
    turns it on for the workers it starts and stops; `SMGHA_LOCAL_WARM=1 pytest ...` runs
    every local step warm (the per-test clean-up below stops the workers)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SMGHA_LOCAL_WARM", os.environ.get("SMGHA_LOCAL_WARM", "0"))
        yield


@pytest.fixture(autouse=True)
def no_warm_worker_outlives_its_test(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """After each test, stop any warm worker of a state folder under this session's
    temporary folder (started by the test, a stage it ran, or an executor), as
    `smgha warm-worker stop` would."""
    yield
    from smgha.backends.local import warm
    from smgha.backends.local.warm import WORKER_MODULE

    base = str(tmp_path_factory.getbasetemp())
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            arguments = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # it ended while we looked
        folders = [os.fsdecode(a) for a in arguments if os.fsdecode(a).startswith(base)]
        if WORKER_MODULE.encode() in arguments and folders:
            warm.stop(Path(folders[-1]).parent)


# ---- the suite on two workers (`make test`: pytest-xdist, --dist loadfile) -----------------

# Test files that share a session fixture too costly to make twice run as one group, on one
# worker: each xdist worker is a pytest session of its own, so a fixture is made once per
# worker that needs it. Every other file is a group of its own (its module fixtures are made
# once). The moto server, started in a few seconds, is started once per worker.
SHARED_GROUPS = {
    "tests/test_e2e_act_sagemaker.py": "sagemaker_e2e",
    "tests/test_iam_least_privilege.py": "sagemaker_e2e",
    "tests/test_e2e_three_accounts.py": "three_account_e2e",
    "tests/test_iam_three_accounts.py": "three_account_e2e",
}
ONCE_PER_RUN_FIXTURES = ("sagemaker_e2e", "three_account_e2e")

# The slowest groups (named by one of their files), slowest first, measured with
# --durations=0 on this 2-core machine. `make test` hands the groups out in collection order
# (--no-loadscope-reorder), so the long ones start at once and the short ones fill in around
# them; a long one handed out last would keep one worker busy while the other idles.
SLOWEST_FIRST = (
    "tests/test_e2e_act_sagemaker.py",  # with the IAM least-privilege file: over 20 minutes
    "tests/test_e2e_three_accounts.py",  # with its IAM file: a build and a deploy by act
    "tests/test_e2e_review.py",
    "tests/test_e2e_act.py",
    "tests/test_deploy_endpoint.py",
    "tests/test_register_and_gate.py",
    "tests/test_review_core_local.py",
    "tests/test_script_inference.py",
    "tests/test_sklearn_local.py",
    "tests/test_ml_scripts.py",
    "tests/test_ml_review_files.py",
    "tests/test_build_pipeline.py",
    "tests/test_local_tuning.py",
    "tests/test_spot_tuning_local.py",  # six spot trials of the scikit-learn model: a minute
)


def group_of(nodeid: str) -> str:
    """The group (of SHARED_GROUPS, else the file) of the test `nodeid`."""
    file = nodeid.split("::", 1)[0]
    return SHARED_GROUPS.get(file, file)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The groups of SLOWEST_FIRST first, in that order, then the others in collection order.
    A file that uses a ONCE_PER_RUN_FIXTURES fixture outside SHARED_GROUPS is refused: on
    two workers the fixture would be made twice."""
    for item in items:
        file = item.nodeid.split("::", 1)[0]
        fixtures = getattr(item, "fixturenames", ())  # a test function's; not every item's
        for name in ONCE_PER_RUN_FIXTURES:
            if name in fixtures and SHARED_GROUPS.get(file) != name:
                raise pytest.UsageError(
                    f"{file} uses the session fixture {name}, made once per run: add "
                    f'"{file}": "{name}" to SHARED_GROUPS in tests/conftest.py'
                )
    rank: dict[str, int] = {}
    for file in SLOWEST_FIRST:
        rank.setdefault(group_of(file), len(rank))
    # A stable sort: within a rank, collection order.
    items.sort(key=lambda item: rank.get(group_of(item.nodeid), len(rank)))


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: no error where it is not installed
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """--dist loadfile with the files of SHARED_GROUPS as one group. (pytest-xdist's own
    --dist loadgroup and xdist_group marks would say it, but with pytest 9.2 they silently stop
    grouping: xdist renames the tests' node ids, which pytest 9.2 no longer lets it do;
    https://github.com/pytest-dev/pytest-xdist/issues/1386.)"""
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class LoadFileGroupScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    return LoadFileGroupScheduling(config, log)


# Clients and a backend on the moto server, for the sagemaker backend's tests (a test module
# may define its own `backend`, e.g. a LocalBackend, which then takes precedence).


@pytest.fixture
def backend(aws_env: str) -> Any:
    """A SageMakerBackend talking to an empty moto server."""
    from smgha.backends.aws import SageMakerBackend

    return SageMakerBackend(region="us-east-1")


@pytest.fixture
def sagemaker(aws_env: str) -> Any:
    """A plain boto3 SageMaker client on the same moto server, to set up and check state."""
    import boto3

    return boto3.client("sagemaker", region_name="us-east-1")


@pytest.fixture
def s3(aws_env: str) -> Any:
    """A plain boto3 S3 client on the same moto server."""
    import boto3

    return boto3.client("s3", region_name="us-east-1")


@pytest.fixture(scope="session")
def sagemaker_e2e(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The starter templates run by act on the sagemaker backend against the AWS double, once
    per session (tests/e2e/sagemaker_run.py): the e2e tests and the IAM least-privilege test
    both read what it recorded."""
    from tests.e2e import sagemaker_run

    return sagemaker_run.run(tmp_path_factory.mktemp("e2e-sagemaker"))


@pytest.fixture(scope="session")
def three_account_e2e(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The starter templates run by act with staging and production in accounts of their own
    (tests/e2e/three_accounts_run.py), once per session: a build, then a deploy of its package
    across the account boundary. The model package group's resource policy is the one
    infra/terraform renders for that deployment (tests/iam_accounts.py), which the double
    holds every cross-account read to."""
    from tests.e2e import three_accounts_run
    from tests.iam_accounts import GROUP_POLICY, policies

    return three_accounts_run.run(
        tmp_path_factory.mktemp("e2e-three-accounts"), group_policy=policies()[GROUP_POLICY]
    )
