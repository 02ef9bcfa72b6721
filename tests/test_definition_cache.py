"""The definition cache (smgha.definition_cache): a hit reuses the JSON and the uploads without
the SDK; every cause of a change rebuilds, and says which.

Most tests build a tiny definition module that does what the SDK does while it builds (imports
a helper from the workspace, reads the script it uploads, lists a source_dir, uploads through
a new botocore session), in this process, so each build takes milliseconds. Two tests build
the reference pipeline with the real SDK: in fresh processes (a hit imports no SDK), and
through build-pipeline on the sagemaker backend (a hit still uploads the code).
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from smgha import definition as defn
from smgha import definition_cache
from smgha.backends.local.state import Layout
from smgha.errors import InputError
from smgha.stages import build_pipeline
from tests.stage_helpers import GITHUB_CONTEXT, run_main

REPO = Path(__file__).resolve().parents[1]
SOURCE = "tinydefs.pipeline:get_pipeline"
ARGUMENTS = {
    "region": "us-east-1",
    "role": "arn:aws:iam::123456789012:role/pipeline-role",
    "pipeline_name": "tiny",
    "default_bucket": "tiny-bucket",
}

PIPELINE_MODULE = """
import hashlib
import os

import boto3

from tinydefs.helper import STEP_NAME

WORKSPACE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def get_pipeline(region, role, pipeline_name, default_bucket, **extra):
    with open(os.path.join(WORKSPACE, "scripts", "evaluate.py"), "rb") as file:
        script = file.read()
    if extra.get("saved_meanwhile"):  # the script is saved again while the build runs
        with open(os.path.join(WORKSPACE, "scripts", "evaluate.py"), "a") as file:
            file.write("# saved while the definition was built\\n")
    key = f"{pipeline_name}/code/{hashlib.sha256(script).hexdigest()}/evaluate.py"
    # As the SDK uploads: a new session, whose PutObject smgha captures while it builds.
    s3 = boto3.session.Session(region_name=region).client("s3")
    s3.put_object(Bucket=default_bucket, Key=key, Body=script)
    model_files = sorted(os.listdir(os.path.join(WORKSPACE, "model")))
    # What a build writes is its output: a log it appends to, a scratch file it reads back.
    with open(os.path.join(WORKSPACE, "logs", "build.log"), "a") as log:
        log.write("built\\n")
    with open(os.path.join(WORKSPACE, "logs", "scratch.txt"), "w") as scratch:
        scratch.write(region)
    with open(os.path.join(WORKSPACE, "logs", "scratch.txt")) as scratch:
        scratch.read()
    arguments = {"Region": region, "Role": role, "Code": f"s3://{default_bucket}/{key}"}
    arguments.update(Model=model_files, Extra=sorted(extra.items()))
    return {"Version": "2020-12-01", "Steps": [{"Name": STEP_NAME, "Arguments": arguments}]}


def get_other_pipeline(region, role, pipeline_name, default_bucket):
    return {"Version": "2020-12-01", "Steps": [{"Name": "Other", "Arguments": {}}]}
"""


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A workspace holding the tiny definition module, its own state folder, and an
    environment that stays put between the builds of a test."""
    root = tmp_path / "workspace"
    (root / "tinydefs").mkdir(parents=True)
    (root / "tinydefs" / "__init__.py").write_text("")
    (root / "tinydefs" / "pipeline.py").write_text(PIPELINE_MODULE)
    (root / "tinydefs" / "helper.py").write_text('STEP_NAME = "Evaluate"\n')
    (root / "scripts").mkdir()
    (root / "scripts" / "evaluate.py").write_text("print('evaluate')\n")
    (root / "model").mkdir()
    (root / "model" / "train.py").write_text("print('train')\n")
    (root / "logs").mkdir()
    monkeypatch.setenv("SMGHA_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("SAGEMAKER_VALIDATE_ROLE", "false")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv(definition_cache.SWITCH_ENV, raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.chdir(root)
    yield root
    _forget_workspace_modules()


def _forget_workspace_modules() -> None:
    """A stage builds once per process; here each build imports the module afresh."""
    for name in [name for name in sys.modules if name.split(".")[0] == "tinydefs"]:
        del sys.modules[name]
    importlib.invalidate_caches()


class Builds:
    """load_definition as build-pipeline calls it, counting the builds that ran."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.built = 0
        self.log: list[str] = []
        real = defn._built_by_function

        def counted(*args: Any) -> tuple[dict[str, Any], dict[str, bytes]]:
            self.built += 1
            return real(*args)

        monkeypatch.setattr(defn, "_built_by_function", counted)

    def __call__(
        self, workspace: Path, source: str = SOURCE, **arguments: Any
    ) -> tuple[dict[str, Any], dict[str, bytes]]:
        try:
            return defn.load_definition(
                source, workspace, {**ARGUMENTS, **arguments}, self.log.append
            )
        finally:
            _forget_workspace_modules()

    @property
    def last(self) -> str:
        return self.log[-1]


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> Builds:
    return Builds(monkeypatch)


def test_a_hit_returns_the_same_definition_and_uploads_without_building(
    workspace: Path, builds: Builds
) -> None:
    definition, uploads = builds(workspace)
    assert builds.last.startswith("Definition: built in ")
    assert builds.last.endswith("(cache miss: no cached definition yet)")
    script = b"print('evaluate')\n"
    uri = f"s3://tiny-bucket/tiny/code/{hashlib.sha256(script).hexdigest()}/evaluate.py"
    assert uploads == {uri: script}

    again, uploads_again = builds(workspace)

    assert builds.built == 1
    assert builds.last.startswith("Definition: cached (key ")
    assert json.dumps(again, sort_keys=True) == json.dumps(definition, sort_keys=True)
    assert uploads_again == uploads


def test_the_files_a_build_writes_are_not_its_inputs(workspace: Path, builds: Builds) -> None:
    builds(workspace)
    with (workspace / "logs" / "build.log").open("a") as log:
        log.write("rotated\n")
    (workspace / "logs" / "scratch.txt").unlink()

    builds(workspace)

    assert builds.built == 1, builds.last


def test_the_definition_module_changing_rebuilds(workspace: Path, builds: Builds) -> None:
    builds(workspace)
    module = workspace / "tinydefs" / "pipeline.py"
    module.write_text(module.read_text().replace('"2020-12-01"', '"2020-12-02"'))

    definition, _ = builds(workspace)

    assert builds.built == 2
    assert builds.last.endswith("(cache miss: tinydefs/pipeline.py changed)")
    assert definition["Version"] == "2020-12-02"


def test_an_imported_workspace_helper_changing_rebuilds(workspace: Path, builds: Builds) -> None:
    builds(workspace)
    (workspace / "tinydefs" / "helper.py").write_text('STEP_NAME = "Score"\n')

    definition, _ = builds(workspace)

    assert builds.last.endswith("(cache miss: tinydefs/helper.py changed)")
    assert definition["Steps"][0]["Name"] == "Score"


def test_a_workspace_module_imported_before_the_build_is_covered_too(
    workspace: Path, builds: Builds
) -> None:
    # A long-running process (a test, `smgha demo`) may hold the module already: the build
    # opens nothing, so the module's file comes from sys.modules.
    sys.path.insert(0, str(workspace))
    importlib.import_module("tinydefs.helper")
    builds(workspace)
    (workspace / "tinydefs" / "helper.py").write_text('STEP_NAME = "Score"\n')

    definition, _ = builds(workspace)

    assert builds.last.endswith("(cache miss: tinydefs/helper.py changed)")
    assert definition["Steps"][0]["Name"] == "Score"


def test_the_uploaded_script_changing_rebuilds_with_its_new_upload(
    workspace: Path, builds: Builds
) -> None:
    _, before = builds(workspace)
    (workspace / "scripts" / "evaluate.py").write_text("print('evaluate v2')\n")

    _, uploads = builds(workspace)

    assert builds.last.endswith("(cache miss: scripts/evaluate.py changed)")
    assert list(uploads.values()) == [b"print('evaluate v2')\n"]
    assert uploads.keys() != before.keys()


def test_a_new_file_in_a_listed_source_dir_rebuilds(workspace: Path, builds: Builds) -> None:
    builds(workspace)
    (workspace / "model" / "features.py").write_text("")

    definition, _ = builds(workspace)

    assert builds.last.endswith("(cache miss: the folder model/ changed (features.py added))")
    assert definition["Steps"][0]["Arguments"]["Model"] == ["features.py", "train.py"]


def test_a_file_saved_while_the_definition_is_built_is_not_cached(
    workspace: Path, builds: Builds, tmp_path: Path
) -> None:
    # The definition holds the script as the build read it, not as it is now.
    builds(workspace, saved_meanwhile="yes")

    assert builds.log[0] == (
        f"Definition cache: not saved ({workspace / 'scripts' / 'evaluate.py'} "
        "changed while the definition was built)"
    )
    assert not list(Layout(tmp_path / "state").definition_cache.glob("*.json"))
    builds(workspace, saved_meanwhile="yes")
    assert builds.built == 2


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        ("region", "eu-west-1"),
        ("role", "arn:aws:iam::123456789012:role/other-role"),
        ("pipeline_name", "tiny-two"),
        ("default_bucket", "other-bucket"),
        ("instance_count", "2"),  # any other argument the function is given
    ],
)
def test_each_argument_rebuilds(workspace: Path, builds: Builds, argument: str, value: str) -> None:
    builds(workspace)

    builds(workspace, **{argument: value})

    assert builds.built == 2
    assert f"(cache miss: argument {argument} changed (" in builds.last


def test_the_sdk_version_rebuilds(
    workspace: Path, builds: Builds, monkeypatch: pytest.MonkeyPatch
) -> None:
    installed = definition_cache.installed_distributions()
    assert installed["sagemaker"]  # read from sys.path, without importing the SDK
    builds(workspace)
    upgraded = {**installed, "sagemaker": "99.0.0"}
    monkeypatch.setattr(definition_cache, "installed_distributions", lambda: upgraded)

    builds(workspace)

    assert builds.built == 2
    assert f"package sagemaker changed ({installed['sagemaker']!r} -> '99.0.0')" in builds.last


def test_the_python_version_rebuilds(
    workspace: Path, builds: Builds, monkeypatch: pytest.MonkeyPatch
) -> None:
    builds(workspace)
    monkeypatch.setattr(sys, "version", sys.version.replace(sys.version.split()[0], "3.99.0"))

    builds(workspace)

    assert builds.built == 2
    assert "(cache miss: the python changed (was " in builds.last


def test_the_definition_source_rebuilds(workspace: Path, builds: Builds) -> None:
    builds(workspace)

    definition, _ = builds(workspace, "tinydefs.pipeline:get_other_pipeline")

    assert builds.built == 2
    assert f"the definition source changed (was {SOURCE!r})" in builds.last
    assert definition["Steps"][0]["Name"] == "Other"


@pytest.mark.parametrize(
    "variable",
    ["AWS_SESSION_TOKEN", "BOTO_CONFIG", "SAGEMAKER_USER_CONFIG_OVERRIDE", "PYTHONPATH", "HOME"],
)
def test_an_environment_variable_the_sdk_reads_rebuilds_and_its_value_is_not_stored(
    workspace: Path,
    builds: Builds,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    variable: str,
) -> None:
    builds(workspace)
    monkeypatch.setenv(variable, f"/value/of/{variable}")

    builds(workspace)

    assert builds.built == 2
    assert f"(cache miss: environment variable {variable} changed)" in builds.last
    if variable != "HOME":  # HOME places the config files, whose paths an entry holds
        stored = [p.read_text() for p in Layout(tmp_path / "state").definition_cache.iterdir()]
        assert not [text for text in stored if f"/value/of/{variable}" in text]


def test_an_sdk_config_file_appearing_rebuilds(
    workspace: Path, builds: Builds, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The SDK reads <user config dir>/sagemaker/config.yaml only when it exists.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    builds(workspace)
    config = tmp_path / "config" / "sagemaker" / "config.yaml"
    config.parent.mkdir(parents=True)
    config.write_text("SchemaVersion: '1.0'\n")

    builds(workspace)

    assert builds.last.endswith(f"(cache miss: {config} appeared)")


def test_a_corrupt_entry_is_a_miss_said_in_the_log_and_replaced(
    workspace: Path, builds: Builds, tmp_path: Path
) -> None:
    definition, _ = builds(workspace)
    (entry,) = Layout(tmp_path / "state").definition_cache.glob("*.json")
    entry.write_text('{"call": {"format": 1}, "files": ')  # cut short, as by a full disk

    rebuilt, _ = builds(workspace)

    assert builds.built == 2
    assert f"(cache miss: the cache entry {entry} is unreadable (JSONDecodeError" in builds.last
    assert rebuilt == definition
    builds(workspace)
    assert builds.built == 2 and builds.last.startswith("Definition: cached")


def test_the_switch_builds_every_time_and_rejects_a_non_boolean(
    workspace: Path, builds: Builds, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(definition_cache.SWITCH_ENV, "false")
    builds(workspace)
    builds(workspace)
    assert builds.built == 2
    assert builds.last.endswith("(cache off: SMGHA_DEFINITION_CACHE=false)")
    assert not Layout(tmp_path / "state").definition_cache.exists()

    monkeypatch.setenv(definition_cache.SWITCH_ENV, "off")
    with pytest.raises(InputError) as raised:
        builds(workspace)
    assert raised.value.name == "SMGHA_DEFINITION_CACHE"
    assert "'off'" in str(raised.value) and "true | True | TRUE | false" in str(raised.value)
    assert builds.built == 2


def test_the_cache_keeps_the_newest_entries_in_its_own_state_folder(
    workspace: Path, builds: Builds, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(definition_cache, "MAX_ENTRIES", 2)
    for name in ("one", "two", "three"):
        builds(workspace, pipeline_name=name)
    entries = list(Layout(tmp_path / "state").definition_cache.glob("*.json"))
    assert len(entries) == 2
    builds(workspace, pipeline_name="three")
    assert builds.built == 3 and builds.last.startswith("Definition: cached")

    # Another state folder (another test, another job) has a cache of its own.
    monkeypatch.setenv("SMGHA_STATE_DIR", str(tmp_path / "other-state"))
    builds(workspace, pipeline_name="three")
    assert builds.built == 4
    assert builds.last.endswith("(cache miss: no cached definition yet)")


# ---- the reference pipeline, built by the real SDK ---------------------------------------------

PROBE = """
import base64, json, sys
from pathlib import Path
from smgha import definition as defn
log = []
definition, uploads = defn.load_definition(
    "ml.pipeline:get_pipeline", Path.cwd(), json.loads(sys.argv[1]), log.append
)
print(json.dumps({
    "log": log,
    "definition": definition,
    "uploads": {uri: base64.b64encode(body).decode() for uri, body in uploads.items()},
    "sdk imported": "sagemaker" in sys.modules,
}))
"""


def test_a_hit_in_a_fresh_process_gives_the_same_definition_and_imports_no_sdk(
    tmp_path: Path,
) -> None:
    environment = {
        **os.environ,
        "SMGHA_STATE_DIR": str(tmp_path / "state"),
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    environment.pop(definition_cache.SWITCH_ENV, None)

    def build() -> dict[str, Any]:
        completed = subprocess.run(
            [sys.executable, "-c", PROBE, json.dumps(ARGUMENTS)],
            cwd=REPO,
            env=environment,
            capture_output=True,
            text=True,
            check=True,
        )
        return dict(json.loads(completed.stdout.splitlines()[-1]))

    built, cached = build(), build()

    assert built["log"][0].startswith("Definition: built in ") and built["sdk imported"]
    assert cached["log"][0].startswith("Definition: cached (key ")
    assert not cached["sdk imported"]
    assert json.dumps(cached["definition"], sort_keys=True) == json.dumps(
        built["definition"], sort_keys=True
    )
    assert cached["uploads"] == built["uploads"]
    code = {base64.b64decode(body) for body in cached["uploads"].values()}
    assert code == {(REPO / "ml" / name).read_bytes() for name in ("preprocess.py", "evaluate.py")}


def test_a_cached_build_on_the_sagemaker_backend_still_uploads_the_code(
    aws_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMGHA_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv(definition_cache.SWITCH_ENV, raising=False)
    inputs = {
        "backend": "sagemaker",
        "definition": "ml.pipeline:get_pipeline",
        "pipeline-name": "churn",
        "role-arn": ARGUMENTS["role"],
        "region": "us-east-1",
        "default-bucket": "example-bucket",
        "wait": "false",
    }
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="example-bucket")
    first = run_main(build_pipeline.main, inputs, **GITHUB_CONTEXT)
    assert first.code == 0, first.log
    assert "(cache miss: " in first.log
    # An empty account again: only the second build's own uploads can put the code there.
    reset = urllib.request.Request(f"{aws_env}/moto-api/reset", method="POST")
    urllib.request.build_opener(urllib.request.ProxyHandler({})).open(reset, timeout=10).close()
    s3.create_bucket(Bucket="example-bucket")

    second = run_main(build_pipeline.main, inputs, **GITHUB_CONTEXT)

    assert second.code == 0, second.log
    assert "Definition: cached (key " in second.log
    objects = s3.list_objects_v2(Bucket="example-bucket")["Contents"]
    stored = {o["Key"].rsplit("/", 1)[1]: o["Key"] for o in objects}
    for name in ("preprocess.py", "evaluate.py"):
        body = s3.get_object(Bucket="example-bucket", Key=stored[name])["Body"].read()
        assert body == (REPO / "ml" / name).read_bytes()
        assert f"Uploaded s3://example-bucket/{stored[name]} " in second.log


def test_a_state_folder_the_cache_creates_inside_the_workspace_does_not_invalidate_it(
    workspace: Path, builds: Builds, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As `make demo` keeps its state in <repository>/.smgha: the workspace is on sys.path,
    # so the import system lists it while the module is imported, and that listing is kept.
    monkeypatch.setenv("SMGHA_STATE_DIR", str(workspace / ".smgha"))
    builds(workspace)
    assert (
        str(workspace)
        in json.loads(
            next(Layout(workspace / ".smgha").definition_cache.glob("*.json")).read_text()
        )["directories"]
    )

    builds(workspace)

    assert builds.built == 1, builds.last
