"""What a newcomer does at a terminal with the local backend: put data in, write a definition
file and run it, list endpoints as JSON, copy the demo's next steps into a shell."""

from __future__ import annotations

import ast
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from smgha import cli, demo

ROOT = Path(__file__).resolve().parent.parent
DATA_URI = "s3://smgha-local/churn/data/churn.csv"


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh state folder, and a terminal: not inside a GitHub Actions job."""
    folder = tmp_path / "state"
    monkeypatch.setenv("SMGHA_STATE_DIR", str(folder))
    for name in ("GITHUB_ACTIONS", "GITHUB_WORKSPACE"):
        monkeypatch.delenv(name, raising=False)
    return folder


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_data_put_copies_a_file_to_the_local_s3(
    state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "churn.csv"
    source.write_bytes(b"churned,age\n0,41\n")

    assert cli.main(["data", "put", str(source), DATA_URI]) == 0
    assert (state / "s3/smgha-local/churn/data/churn.csv").read_bytes() == source.read_bytes()
    assert capsys.readouterr().out.startswith(f"wrote 17 bytes to {DATA_URI} (")

    # A URI ending in / is a prefix: the file keeps its name under it.
    assert cli.main(["data", "put", str(source), "s3://smgha-local/raw/"]) == 0
    assert (state / "s3/smgha-local/raw/churn.csv").is_file()


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("s3://Churn_Data/x.csv", "a bucket name has 3-63 lower-case letters"),
        ("s3://smgha-local/../../escape.csv", 'an object key here has no "." or ".." path'),
        ("s3://smgha-local", "it names no object key"),
        ("https://example.com/x.csv", "it is not an s3:// URI"),
    ],
)
def test_data_put_refuses_a_uri_s3_would_refuse_and_writes_nothing(
    state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], uri: str, problem: str
) -> None:
    source = tmp_path / "churn.csv"
    source.write_bytes(b"x\n")

    assert cli.main(["data", "put", str(source), uri]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"error: URI {uri!r}: {problem}") and "Give s3://bucket/key" in out
    assert not state.exists() or _files(state) == []


def test_data_put_of_a_missing_file_says_so(
    state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["data", "put", str(tmp_path / "nope.csv"), DATA_URI]) == 1
    assert "is not a file" in capsys.readouterr().out


def test_a_written_definition_runs_from_its_file_and_without_its_code_is_refused(
    state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(ROOT)  # the workspace with ml/pipeline.py
    written = tmp_path / "workspace" / "pipeline.json"
    args = ["--backend", "local", "--pipeline-name", "churn"]
    code = cli.main(
        ["definition", "write", "--definition", "ml.pipeline:get_pipeline", *args,
         "--output", str(written)]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    definition = json.loads(written.read_text())
    code_objects = sorted(
        item["S3Input"]["S3Uri"]
        for step in definition["Steps"]
        for item in step.get("Arguments", {}).get("ProcessingInputs", [])
        if item["InputName"] == "code"
    )
    assert len(code_objects) == 2  # preprocess.py and evaluate.py, uploaded
    for uri in code_objects:
        assert f"Uploaded {uri}" in out
        assert (state / "s3" / uri.removeprefix("s3://")).is_file()

    # From a terminal in another folder (the file inside it), on the same state: it runs.
    monkeypatch.chdir(written.parent)
    build = ["build-pipeline", "--definition", "pipeline.json", *args, "--dry-run"]
    assert cli.main(build) == 0, capsys.readouterr().out
    capsys.readouterr()

    # On a fresh state folder its code is not there: one error naming the objects, nothing
    # created.
    fresh = tmp_path / "fresh"
    monkeypatch.setenv("SMGHA_STATE_DIR", str(fresh))
    assert cli.main(build[:-1]) == 1
    out = capsys.readouterr().out
    assert out.count("ERROR: ") == 1
    assert "input 'definition': its code object(s) " + ", ".join(code_objects) in out
    assert "smgha definition write" in out
    assert not (fresh / "pipelines").exists() and not (fresh / "executions").exists()


def test_endpoints_list_prints_json_for_scripts(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["endpoints", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"StateFolder": str(state), "Endpoints": []}


def test_the_demo_s_next_steps_are_commands_that_run_in_a_shell(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A shell where the virtualenv is not activated: `smgha` is not on PATH.
    monkeypatch.chdir(ROOT)
    path = os.pathsep.join(
        p for p in os.environ["PATH"].split(os.pathsep) if not (Path(p) / "smgha").exists()
    )
    monkeypatch.setenv("PATH", path)

    command = demo.smgha_command(state)

    assert command.startswith(f"SMGHA_STATE_DIR={state} ")
    shell = subprocess.run(
        f"{command} registry list --backend local --group churn-models",
        shell=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PATH": path},
    )
    # It ran (no "command not found", 127): the group is not there in this fresh folder,
    # and the message names the folder the command looked in.
    assert shell.returncode == 1, shell.stderr
    assert f"state folder {state};" in shell.stdout
    assert Path(sys.executable).with_name("smgha").is_file()


@pytest.mark.parametrize("model", sorted(demo.MODELS))
@pytest.mark.parametrize("has_champion", [False, True])
def test_a_demo_run_after_the_first_trains_a_real_challenger(
    state: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    has_champion: bool,
    model: str,
) -> None:
    from smgha.backends.local import LocalBackend

    if has_champion:  # what the first run left: an approved version in the demo's group
        LocalBackend(region="us-east-1").registry.create_model_package(
            {
                "ModelPackageGroupName": demo.MODEL_GROUP,
                "ModelApprovalStatus": "Approved",
                "InferenceSpecification": {
                    "Containers": [{"Image": "xgboost", "ModelDataUrl": "s3://smgha-local/m"}]
                },
            }
        )
    started: list[dict[str, str]] = []

    def build_only(main: object, env: dict[str, str], stdout: object) -> tuple[int, object]:
        started.append(env)
        return 1, SimpleNamespace(outputs={})  # stop after build-pipeline

    monkeypatch.setattr(demo, "run_stage_command", build_only)
    monkeypatch.chdir(ROOT)
    arguments = SimpleNamespace(
        model=model, rows=200, seed=7, accuracy_threshold=0.8, state_dir=str(state), verbose=True
    )

    assert demo.run_demo(cast(Any, arguments), sys.stdout) == 1

    parameters = json.loads(started[0]["INPUT_PARAMETERS"])
    challenger = demo.MODELS[model].challenger
    assert started[0]["INPUT_DEFINITION"] == demo.MODELS[model].definition
    if has_champion:
        assert {k: parameters[k] for k in challenger} == challenger
        settings = ", ".join(f"{k} {v}" for k, v in challenger.items())
        assert f"this run trains a challenger ({settings})" in capsys.readouterr().out
    else:
        assert not set(challenger) & set(parameters)


def test_a_failing_stage_in_the_concise_demo_shows_its_errors_and_where_its_log_is(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_build(main: object, env: dict[str, str], stdout: Any) -> tuple[int, object]:
        stdout.write("step PreprocessData started\nERROR: build-pipeline: the step failed\n")
        return 1, SimpleNamespace(outputs={})

    monkeypatch.setattr(demo, "run_stage_command", failing_build)
    monkeypatch.chdir(ROOT)
    arguments = SimpleNamespace(
        model="xgboost", rows=200, seed=7, accuracy_threshold=0.8, state_dir=str(state),
        verbose=False,
    )  # fmt: skip
    out = io.StringIO()

    assert demo.run_demo(cast(Any, arguments), out) == 1

    log = state / "demo" / "logs" / "1-build-pipeline.log"
    assert "ERROR: build-pipeline: the step failed\n" in out.getvalue()
    assert f"full log: {log}\n" in out.getvalue()
    assert "step PreprocessData started" not in out.getvalue()  # only in the log
    assert (
        log.read_text() == "step PreprocessData started\nERROR: build-pipeline: the step failed\n"
    )


def test_the_demo_s_models_are_the_cli_s_choices() -> None:
    from smgha import cli

    assert sorted(demo.MODELS) == cli.DEMO_MODELS


@pytest.mark.parametrize("module", ["demo", "definition_cli", "terminal"])
def test_what_the_cli_runs_never_imports_the_cli(module: str) -> None:
    """cli imports these (some inside a function, when their command runs); none imports
    cli back, at any level, so there is no import cycle (they share smgha/terminal.py)."""
    imported: set[str] = set()  # `from a import b` gives a and a.b
    for node in ast.walk(ast.parse((ROOT / "smgha" / f"{module}.py").read_text())):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
            imported.update(f"{node.module}.{alias.name}" for alias in node.names)
    assert "smgha.terminal" in imported or module == "terminal"
    assert not {name for name in imported if name.split(".")[:2] == ["smgha", "cli"]}
