"""Containment and corrupt state (issue 13, defects 4 and 6).

- Local S3 keeps S3's naming rules and never leaves its folder: `s3://../../../../x` as a
  data-capture URI is refused, naming the input that carried it.
- File inputs stay in the workspace (or the local backend's state folder): an input naming
  /etc/hostname, /proc/self/environ, `../x` or a symbolic link out of the workspace is one
  `::error` naming the input, exit 1, nothing read or written, the file never quoted.
- Every state file is written atomically (a failed rename leaves the old file whole), and
  a state file that does not parse is one error naming it and what to do, from every CLI
  command and every stage: never a traceback, never "This is a bug".
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smgha import cli
from smgha.backends.local import LocalBackend, state
from smgha.backends.local.s3 import LocalS3, S3UriError
from smgha.errors import StageError, StateFileError
from smgha.stages import (
    build_pipeline,
    deploy_endpoint,
    enable_monitor,
    register_and_gate,
    smoke_test,
)
from tests.stage_helpers import GITHUB_CONTEXT, XGBOOST_IMAGE, StageRun, run_main
from tests.test_build_pipeline import JSON_DEFINITION

REGION = "us-east-1"
GROUP = "churn-models"
ENDPOINT = "churn-staging"
# Stands for what a file outside the workspace holds (a token in /proc/self/environ): it
# must never reach the log.
SECRET = "ghs_outside_secret_0123456789"


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalBackend]:
    monkeypatch.setenv("SMGHA_STATE_DIR", str(tmp_path / "state"))
    backend = LocalBackend(region=REGION)
    yield backend
    for folder in (backend.root / "endpoints").glob("*"):
        if (folder / "server.json").exists() or (folder / "deployer.json").exists():
            backend.hosting.delete_endpoint(folder.name)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A workspace, and beside it (outside) a file holding SECRET."""
    folder = tmp_path / "workspace"
    folder.mkdir()
    (folder / "payloads.csv").write_text("0.1,0.2\n0.3,0.4\n")
    (tmp_path / "outside.csv").write_text(f"1,2,3\n{SECRET}\n")
    return folder


def files_under(folder: Path) -> dict[str, bytes]:
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def assert_refused(run: StageRun, input_name: str, problem: str) -> None:
    assert run.code == 1, run.log
    assert len(run.errors) == 1, run.log
    assert f"input '{input_name}'" in run.errors[0], run.errors[0]
    assert problem in run.errors[0], run.errors[0]
    assert SECRET not in run.log
    assert "This is a bug" not in run.log


# ---- local S3: S3's names, inside its folder ------------------------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        "s3://../../../../x",  # the data-capture URI: ".." as the bucket
        "s3://bucket/../../../x",  # ".." segments in the key
        "s3://bucket/a/../../../x",
        "s3://bucket/./x",
        "s3://b/x",  # 1 character: S3 wants 3-63
        "s3://Bucket/x",  # upper case
        "s3://my_bucket/x",  # underscore
        "s3://my..bucket/x",  # two adjacent periods
        "s3://192.168.5.4/x",  # formatted as an IP address
        "s3://xn--bucket/x",  # reserved prefix
        "s3://bucket-s3alias/x",  # reserved suffix
        "s3:///x",  # no bucket
        "file://{tmp}/outside/x",  # another scheme (once passed through as a path)
        "{tmp}/outside/x",  # a plain path (likewise)
        "s3://bucket/" + "k" * 1025,  # a key of more than 1,024 bytes
    ],
)
def test_local_s3_refuses_what_s3_would_and_anything_leaving_its_folder(
    tmp_path: Path, uri: str
) -> None:
    # Deep enough that even a climb of four folders stays in tmp_path, where it is seen.
    s3 = LocalS3(tmp_path / "a" / "b" / "state" / "s3")

    with pytest.raises(S3UriError):
        s3.put_bytes(uri.format(tmp=tmp_path), b"captured request")

    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_local_s3_does_not_follow_a_symbolic_link_out_of_its_folder(tmp_path: Path) -> None:
    s3 = LocalS3(tmp_path / "state" / "s3")
    (tmp_path / "state" / "s3" / "bucket").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "state" / "s3" / "bucket" / "link").symlink_to(tmp_path / "elsewhere")

    with pytest.raises(S3UriError, match="leads outside the local S3 folder"):
        s3.put_bytes("s3://bucket/link/x", b"captured request")

    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_a_job_reads_local_files_from_the_workspace_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The model-validate-pr template trains on $GITHUB_WORKSPACE/data/churn.csv: a job input
    # may be a local file there (or in the state folder), but nowhere else, and never written.
    workspace, outside = tmp_path / "workspace", tmp_path / "outside"
    (workspace / "data").mkdir(parents=True)
    (workspace / "data" / "churn.csv").write_text("1,2\n")
    outside.mkdir()
    (outside / "secret.csv").write_text("secret\n")
    (workspace / "data" / "link.csv").symlink_to(outside / "secret.csv")
    monkeypatch.setenv("GITHUB_WORKSPACE", str(workspace))
    s3 = LocalS3(tmp_path / "state" / "s3")

    assert s3.download(str(workspace / "data" / "churn.csv"), tmp_path / "in") == 1
    assert s3.download(f"file://{workspace}/data/churn.csv", tmp_path / "in2") == 1
    for uri in (str(outside / "secret.csv"), str(workspace / "data" / "link.csv"), "/etc/hostname"):
        with pytest.raises(S3UriError, match="outside the workspace"):
            s3.download(uri, tmp_path / "in3")
    with pytest.raises(S3UriError):
        s3.put_bytes(str(workspace / "data" / "new.csv"), b"x")
    assert not (tmp_path / "in3").exists() or list((tmp_path / "in3").iterdir()) == []


def test_local_s3_keeps_names_s3_accepts(tmp_path: Path) -> None:
    s3 = LocalS3(tmp_path / "s3")
    s3.put_bytes("s3://my-bucket.data/capture/a b/2026/x.jsonl", b"1")
    assert (tmp_path / "s3" / "my-bucket.data" / "capture" / "a b" / "2026" / "x.jsonl").is_file()


def test_the_local_backend_reports_a_refused_s3_uri_as_a_failed_request(
    local: LocalBackend, tmp_path: Path
) -> None:
    """What a stage does not check itself (a URI recorded on a package, an SDK upload)
    fails as the S3 request would, not as a bug of smgha."""
    # (A climb that, unchecked, stays in tmp_path, where the assertion below sees it.)
    with pytest.raises(StageError, match='PutObject failed.*no "." or ".." path segment'):
        local.objects.put_object("s3://smgha-local/../../x", b"captured request")
    local.root.mkdir(parents=True, exist_ok=True)
    (local.root / "x").write_text('{"secret": 1}')
    with pytest.raises(StageError, match='Reading S3 failed.*no "." or ".." path segment'):
        local.objects.read_json("s3://smgha-local/../../x")
    (local.root / "x").unlink()
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def _package(local: LocalBackend) -> str:
    return local.registry.create_model_package(
        {
            "ModelPackageGroupName": GROUP,
            "ModelApprovalStatus": "Approved",
            "InferenceSpecification": {
                "Containers": [
                    {"Image": XGBOOST_IMAGE, "ModelDataUrl": "s3://smgha-local/m.tar.gz"}
                ]
            },
        }
    )


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("s3://../../../../x", "a bucket name has 3-63 lower-case letters"),
        ("s3://smgha-local/../../../../x", 'no "." or ".." path segment'),
        ("s3://Capture/x", "a bucket name has 3-63 lower-case letters"),
    ],
)
def test_deploy_endpoint_refuses_a_capture_uri_that_leaves_local_s3(
    local: LocalBackend, tmp_path: Path, uri: str, problem: str
) -> None:
    package = _package(local)
    before = files_under(tmp_path)

    run = run_main(
        deploy_endpoint.main,
        {
            "backend": "local",
            "model-package-arn": package,
            "endpoint-name": ENDPOINT,
            "data-capture-percent": "100",
            "data-capture-s3-uri": uri,
        },
        **GITHUB_CONTEXT,
    )

    assert_refused(run, "data-capture-s3-uri", problem)
    assert files_under(tmp_path) == before  # no endpoint, config or model; nothing outside


@pytest.mark.parametrize("input_name", ["capture-s3-uri", "output-s3-uri"])
def test_enable_monitor_refuses_an_s3_uri_that_leaves_local_s3(
    local: LocalBackend, workspace: Path, input_name: str
) -> None:
    (workspace / "train.csv").write_text("1,2\n0,3\n")
    before = files_under(workspace.parent)

    run = run_main(
        enable_monitor.main,
        {
            "backend": "local",
            "endpoint-name": ENDPOINT,
            "baseline-data-uri": "train.csv",
            input_name: "s3://../../../../x",
        },
        **GITHUB_CONTEXT,
        GITHUB_WORKSPACE=str(workspace),
    )

    assert_refused(run, input_name, "a bucket name has 3-63 lower-case letters")
    assert files_under(workspace.parent) == before


# ---- file inputs: inside the workspace -------------------------------------------------------


def _escapes(workspace: Path, outside: str = "outside.csv") -> dict[str, str]:
    """Ways out of the workspace, each to the file `outside` beside it (holding SECRET)."""
    suffix = Path(outside).suffix
    (workspace / f"link{suffix}").symlink_to(workspace.parent / outside)
    (workspace / "data").mkdir()
    (workspace / "data" / "up").symlink_to(workspace.parent)
    return {
        "dot-dot": f"../{outside}",
        "absolute": str(workspace.parent / outside),
        "inner-dot-dot": f"data/../../{outside}",
        "symlinked file": f"link{suffix}",
        "symlinked folder": f"data/up/{outside}",
    }


ESCAPES = ["dot-dot", "absolute", "inner-dot-dot", "symlinked file", "symlinked folder"]


def _smoke(workspace: Path, **inputs: str) -> StageRun:
    given = {"backend": "local", "endpoint-name": ENDPOINT, "payloads": "payloads.csv"}
    return run_main(smoke_test.main, {**given, **inputs}, GITHUB_WORKSPACE=str(workspace))


@pytest.mark.parametrize("escape", ESCAPES)
@pytest.mark.parametrize("input_name", ["payloads", "expected", "report-path"])
def test_smoke_test_file_inputs_stay_in_the_workspace(
    local: LocalBackend, workspace: Path, input_name: str, escape: str
) -> None:
    path = _escapes(workspace)[escape]
    before = files_under(workspace.parent)

    run = _smoke(workspace, **{input_name: path})

    assert_refused(run, input_name, "leads outside the workspace")
    assert files_under(workspace.parent) == before  # the report was not written anywhere


@pytest.mark.parametrize("path", ["/etc/hostname", "/proc/self/environ"])
@pytest.mark.parametrize("input_name", ["payloads", "expected"])
def test_smoke_test_does_not_read_system_files(
    local: LocalBackend, workspace: Path, input_name: str, path: str
) -> None:
    run = _smoke(workspace, **{input_name: path})

    assert_refused(run, input_name, f"{path!r} leads outside the workspace")


def test_smoke_test_takes_files_inside_the_workspace_and_the_state_folder(
    local: LocalBackend, workspace: Path
) -> None:
    """The same rule lets through what it should: an absolute path inside the workspace,
    and on the local backend the state folder (where `smgha demo` keeps its payloads). The
    run then stops at the endpoint, which does not exist."""
    (local.root / "demo").mkdir(parents=True)
    (local.root / "demo" / "payloads.csv").write_text("0.1,0.2\n")
    (workspace / "expected.txt").write_text("0.5\n")

    run = _smoke(
        workspace,
        payloads=str(local.root / "demo" / "payloads.csv"),
        expected=str(workspace / "expected.txt"),
        **{"report-path": str(local.root / "demo" / "report.json")},
    )

    assert run.code == 1 and len(run.errors) == 1, run.log
    assert "input 'endpoint-name': there is no endpoint" in run.errors[0], run.errors[0]


def _enable(workspace: Path, baseline: str) -> StageRun:
    inputs = {"backend": "local", "endpoint-name": ENDPOINT, "baseline-data-uri": baseline}
    return run_main(enable_monitor.main, inputs, GITHUB_WORKSPACE=str(workspace))


@pytest.mark.parametrize("escape", ESCAPES)
def test_enable_monitor_baseline_data_stays_in_the_workspace(
    local: LocalBackend, workspace: Path, escape: str
) -> None:
    run = _enable(workspace, _escapes(workspace)[escape])

    assert_refused(run, "baseline-data-uri", "leads outside the workspace")
    assert files_under(local.root) == {}  # no baseline, schedule or alarm


def test_enable_monitor_does_not_build_a_baseline_from_proc_self_environ(
    local: LocalBackend, workspace: Path
) -> None:
    os.environ["SMGHA_TEST_SECRET"] = SECRET  # what /proc/self/environ would hand out
    try:
        run = _enable(workspace, "/proc/self/environ")
    finally:
        del os.environ["SMGHA_TEST_SECRET"]

    assert_refused(run, "baseline-data-uri", "'/proc/self/environ' leads outside the workspace")
    assert files_under(local.root) == {}


def _build(workspace: Path, definition: str) -> StageRun:
    inputs = {"backend": "local", "definition": definition, "pipeline-name": "churn"}
    return run_main(build_pipeline.main, inputs, **GITHUB_CONTEXT, GITHUB_WORKSPACE=str(workspace))


@pytest.mark.parametrize("escape", [*ESCAPES, "/etc/hostname"])
def test_build_pipeline_definition_file_stays_in_the_workspace(
    local: LocalBackend, workspace: Path, escape: str
) -> None:
    (workspace.parent / "outside.json").write_text(json.dumps({**JSON_DEFINITION, SECRET: 1}))
    paths = {**_escapes(workspace, "outside.json"), "/etc/hostname": "/etc/hostname"}

    run = _build(workspace, paths[escape])

    assert_refused(run, "definition", "leads outside the workspace")
    assert files_under(local.root) == {}  # no pipeline, no execution


def _gate(workspace: Path, package: str, metrics: str) -> StageRun:
    inputs = {
        "backend": "local",
        "model-package-group": GROUP,
        "model-package-arn": package,
        "metrics": metrics,
        "rules": "accuracy >= 0.5",
    }
    return run_main(
        register_and_gate.main, inputs, **GITHUB_CONTEXT, GITHUB_WORKSPACE=str(workspace)
    )


@pytest.mark.parametrize("escape", [*ESCAPES, "/proc/self/environ", "s3://../../x.json"])
def test_register_and_gate_metrics_stay_in_the_workspace(
    local: LocalBackend, workspace: Path, escape: str
) -> None:
    (workspace.parent / "outside.json").write_text(json.dumps({"accuracy": 0.99, SECRET: 1}))
    package = _package(local)
    registry_before = files_under(local.root)
    paths = {**_escapes(workspace, "outside.json"), "/proc/self/environ": escape}
    paths["s3://../../x.json"] = escape

    run = _gate(workspace, package, paths[escape])

    problem = "bucket name" if escape.startswith("s3://") else "leads outside the workspace"
    assert_refused(run, "metrics", problem)
    assert files_under(local.root) == registry_before  # not judged, not approved


# ---- state files: written atomically ---------------------------------------------------------


def test_a_failed_rename_leaves_the_previous_state_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "registry" / GROUP / "1.json"
    state.write_json_atomic(path, {"ModelApprovalStatus": "Approved"})

    def crash(source: Any, target: Any) -> None:  # the process dies between write and rename
        raise OSError("simulated crash before the rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        state.write_json_atomic(path, {"ModelApprovalStatus": "Rejected", "padding": "x" * 9999})

    assert state.read_json(path) == {"ModelApprovalStatus": "Approved"}
    assert sorted(p.name for p in path.parent.iterdir()) == ["1.json"]  # no temp file left


def test_a_state_file_is_on_disk_before_it_replaces_the_old_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fsync of the new file, then the rename, then fsync of the folder: after a power loss
    the file is the old one or the whole new one, never an empty or partial file."""
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("fsync folder" if os.path.isdir(f"/proc/self/fd/{fd}") else "fsync file")
        real_fsync(fd)

    def replace(source: Any, target: Any) -> None:
        events.append("rename")
        real_replace(source, target)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)

    state.write_json_atomic(tmp_path / "endpoint.json", {"EndpointStatus": "InService"})

    assert events == ["fsync file", "rename", "fsync folder"]
    assert state.read_json(tmp_path / "endpoint.json") == {"EndpointStatus": "InService"}


def test_the_local_backend_writes_state_and_objects_only_through_the_atomic_writer() -> None:
    """Every JSON record and every S3 object of the local backend goes through
    state.write_bytes_atomic: no other module writes a file of the state folder itself."""
    folder = Path(__file__).resolve().parents[1] / "smgha" / "backends" / "local"
    writers = (".write_text(", ".write_bytes(", "json.dump(", "shutil.copy")
    offenders = [
        f"{source.name}: {marker}"
        for source in sorted(folder.glob("*.py"))
        if source.name != "state.py"
        for marker in writers
        if marker in source.read_text(encoding="utf-8")
    ]
    assert offenders == []


# ---- state files that do not parse: one error naming the file --------------------------------

CORRUPTIONS = {
    "empty": b"",
    "truncated": b'{"ModelPackageGroupName": "churn-models", "ModelAppr',
    "not UTF-8": b'{"a": "\xff\xfe"}',
    "an array": b"[]",
    "null": b"null",
}


def _corrupt(path: Path, kind: str) -> None:
    path.write_bytes(CORRUPTIONS[kind])


def _cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = cli.main(list(argv), stdout=out)
    return code, out.getvalue()


def assert_names_the_file(code: int, text: str, path: Path) -> None:
    assert code == 1, text
    assert f"the local state file {path} " in text, text
    assert "Delete it" in text and "restore it" in text, text
    assert "Traceback" not in text and "This is a bug" not in text, text


@pytest.mark.parametrize("kind", list(CORRUPTIONS))
@pytest.mark.parametrize("file", ["group.json", "1.json"])
def test_registry_list_names_a_corrupt_registry_file(
    local: LocalBackend, kind: str, file: str
) -> None:
    _package(local)
    path = local.root / "registry" / GROUP / file
    _corrupt(path, kind)

    code, text = _cli("registry", "list", "--backend", "local", "--group", GROUP)

    assert_names_the_file(code, text, path)
    assert text.count("error:") == 1


@pytest.mark.parametrize("kind", list(CORRUPTIONS))
def test_registry_describe_names_a_corrupt_version(local: LocalBackend, kind: str) -> None:
    arn = _package(local)
    path = local.root / "registry" / GROUP / "1.json"
    _corrupt(path, kind)

    code, text = _cli("registry", "describe", "--backend", "local", "--model-package-arn", arn)

    assert_names_the_file(code, text, path)


@pytest.mark.parametrize("kind", ["empty", "truncated", "an array"])
def test_endpoints_list_names_a_corrupt_endpoint_record(local: LocalBackend, kind: str) -> None:
    path = local.hosting.folder(ENDPOINT) / "endpoint.json"
    path.parent.mkdir(parents=True)
    _corrupt(path, kind)

    code, text = _cli("endpoints", "list")

    assert_names_the_file(code, text, path)


def assert_stage_names_the_file(run: StageRun, path: Path) -> None:
    assert run.code == 1, run.log
    assert len(run.errors) == 1, run.log
    assert "unreadable local state" in run.errors[0], run.errors[0]
    assert_names_the_file(run.code, run.errors[0], path)
    assert "Traceback" not in run.log and "This is a bug" not in run.log, run.log


@pytest.mark.parametrize("kind", ["empty", "truncated", "an array"])
def test_register_and_gate_names_a_corrupt_candidate_version(
    local: LocalBackend, workspace: Path, kind: str
) -> None:
    package = _package(local)
    (workspace / "evaluation.json").write_text(json.dumps({"accuracy": 0.9}))
    path = local.root / "registry" / GROUP / "1.json"
    _corrupt(path, kind)

    assert_stage_names_the_file(_gate(workspace, package, "evaluation.json"), path)


@pytest.mark.parametrize("kind", ["empty", "truncated"])
def test_deploy_endpoint_names_a_corrupt_package_version(local: LocalBackend, kind: str) -> None:
    package = _package(local)
    path = local.root / "registry" / GROUP / "1.json"
    _corrupt(path, kind)

    run = run_main(
        deploy_endpoint.main,
        {"backend": "local", "model-package-arn": package, "endpoint-name": ENDPOINT},
        **GITHUB_CONTEXT,
    )

    assert_stage_names_the_file(run, path)
    assert not (local.root / "endpoints").exists()


@pytest.mark.parametrize("kind", ["empty", "truncated"])
@pytest.mark.parametrize("stage", ["deploy-endpoint", "smoke-test", "enable-monitor"])
def test_stages_name_a_corrupt_endpoint_record(
    local: LocalBackend, workspace: Path, kind: str, stage: str
) -> None:
    package = _package(local)
    path = local.hosting.folder(ENDPOINT) / "endpoint.json"
    path.parent.mkdir(parents=True)
    _corrupt(path, kind)
    (workspace / "train.csv").write_text("1,2\n0,3\n")

    if stage == "deploy-endpoint":
        run = run_main(
            deploy_endpoint.main,
            {"backend": "local", "model-package-arn": package, "endpoint-name": ENDPOINT},
            **GITHUB_CONTEXT,
        )
    elif stage == "smoke-test":
        run = _smoke(workspace)
    else:
        run = _enable(workspace, "train.csv")

    assert_stage_names_the_file(run, path)


@pytest.mark.parametrize("kind", ["empty", "truncated", "null"])
def test_build_pipeline_names_a_corrupt_pipeline_record(
    local: LocalBackend, workspace: Path, kind: str
) -> None:
    (workspace / "definition.json").write_text(json.dumps(JSON_DEFINITION))
    local.objects.put_object("s3://smgha-local/code/score.py", b"print('score')\n")  # its code
    path = local.root / "pipelines" / "churn" / "pipeline.json"
    path.parent.mkdir(parents=True)
    _corrupt(path, kind)

    assert_stage_names_the_file(_build(workspace, "definition.json"), path)


def test_a_state_file_error_says_what_is_wrong(tmp_path: Path) -> None:
    path = tmp_path / "group.json"
    for kind, problem in [
        ("empty", "is empty"),
        ("truncated", "is not valid JSON"),
        ("not UTF-8", "is not UTF-8 text"),
        ("an array", "holds an array where a JSON object belongs"),
        ("null", "holds null where a JSON object belongs"),
    ]:
        _corrupt(path, kind)
        with pytest.raises(StateFileError, match=problem):
            state.read_json(path)
