"""Hostile inputs through the runner protocol, for all six stages (issue 13).

Each case sets one input of an otherwise valid step (INPUT_* variables, GITHUB_OUTPUT,
GITHUB_ENV and GITHUB_STEP_SUMMARY files, the local backend's state folder) to a value a
workflow author, a pull request or a compromised upstream step could pass, and asserts what
the runner would see (tests/job_log.py reads stdout as actions/runner does):

- exit code 1 and exactly one `::error`, naming that input;
- no other workflow command than the stage's own (no stop-commands, no extra error or
  mask, nothing from the legacy `##[` form), and no plain line that starts one;
- the GITHUB_OUTPUT and GITHUB_ENV files parse as the runner reads them, and hold nothing;
- nothing created or changed: the state folder holds the same files, no token is requested,
  and no shell ran (`touch` payloads leave no file).

Every case is refused while the inputs are read, before any backend call, so the matrix runs
in seconds on the local backend.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from smgha import stages
from smgha.runner import Runner
from smgha.stages import (
    batch_transform,
    build_pipeline,
    deploy_endpoint,
    enable_monitor,
    oidc_auth,
    register_and_gate,
    shadow_test,
    smoke_test,
)
from smgha.workflow_commands import plain_text
from tests.job_log import STAGE_COMMANDS, file_commands, job_log
from tests.stage_helpers import GITHUB_CONTEXT, run_main
from tests.token_issuer import running

MARK = "INJECTED"
PWNED = "smgha-pwned"  # the file a shell payload would create

# Text that would start a workflow command, or run a shell, if it reached a log line or a
# shell unescaped. Each follows a value that is otherwise valid for a name.
INJECTIONS = {
    "newline-stop-commands": f"churn\n::stop-commands::{MARK}",
    "newline-error": f"churn\n::error::{MARK}",
    "cr-add-mask": f"churn\r::add-mask::{MARK}",
    "crlf-legacy-group": f"churn\r\n##[group]{MARK}",
    "legacy-error-inline": f"churn##[error]{MARK}",
    "escaped-newline": f"churn%0A::error::{MARK}",
    "u2028-error": f"churn\u2028::error::{MARK}",
    "u0085-warning": f"churn\u0085::warning::{MARK}",
    "shell-substitution": f"churn$(touch {PWNED})",
    "backticks": f"churn`touch {PWNED}`",
    "semicolon": f"churn; touch {PWNED}",
    "path-traversal": "../../../../etc/passwd",
    "slash": "churn/prod",
    "full-width": "ｃｈｕｒｎ",
    "huge": "c" * 100_000,
}
# Numbers that Python reads and no author means (or that are not finite).
BAD_NUMBERS = {
    "inf": "inf",
    "minus-inf": "-inf",
    "infinity": "Infinity",
    "nan": "nan",
    "NaN": "NaN",
    "overflow": "1e999",
    "full-width": "１０",
    "arabic-indic": "١٠",
    "underscore": "1_0",
    "hex": "0x10",
    "newline-error": f"10\n::error::{MARK}",
    "huge": "9" * 100_000,
}
WHOLE_ONLY = {"fraction": "2.5", "exponent": "1e3"}

# Audiences that are printable ASCII, so a token may be requested for them (IAM documents
# only a length for client IDs): they run the stage, and must reach the log as plain text.
ACCEPTED_AUDIENCES = ("legacy-error-inline", "escaped-newline", "path-traversal", "slash")

# IAM's patterns are Java's, whose \d and \w are ASCII only.
ROLE_ARNS = {
    "non-ascii-name": "arn:aws:iam::000000000000:role/ｘ",
    "full-width-account": "arn:aws:iam::０００000000000:role/x",
    "newline": f"arn:aws:iam::000000000000:role/x\n::error::{MARK}",
}

PACKAGE_ARN = "arn:aws:sagemaker:us-east-1:000000000000:model-package/churn-models/1"
EXECUTION_ARN = "arn:aws:sagemaker:us-east-1:000000000000:pipeline/churn/execution/abc123"


def cases(inputs: list[str], values: dict[str, str]) -> list[tuple[str, str, str]]:
    """(input, case name, value) for each input and value."""
    return [(name, label, value) for name in inputs for label, value in values.items()]


STAGES: dict[str, tuple[Callable[[Runner], int], dict[str, str], list[tuple[str, str, str]]]] = {
    "oidc-auth": (
        oidc_auth.main,
        {
            "role-to-assume": "arn:aws:iam::111122223333:role/github-deploy",
            "aws-region": "us-east-1",
        },
        cases(["role-to-assume", "role-session-name", "aws-region"], INJECTIONS)
        + cases(["audience"], {k: v for k, v in INJECTIONS.items() if k not in ACCEPTED_AUDIENCES})
        + cases(["role-duration-seconds", "retry-max-attempts"], {**BAD_NUMBERS, **WHOLE_ONLY})
        + cases(["allowed-account-ids"], {"full-width": "１１１１２２２２３３３３"})
        + [
            ("role-to-assume", "non-ascii-role", "arn:aws:iam::111122223333:role/gíthub"),
            (
                "chain-role-to-assume",
                "newline",
                f"arn:aws:iam::444455556666:role/x\n::error::{MARK}",
            ),
        ],
    ),
    "build-pipeline": (
        build_pipeline.main,
        {"backend": "local", "pipeline-name": "churn", "definition": "pipeline.json"},
        cases(["pipeline-name", "definition", "execution-arn", "default-bucket"], INJECTIONS)
        + cases(["timeout-minutes"], BAD_NUMBERS)
        + cases(["role-arn"], ROLE_ARNS)
        + [
            ("parameters", "yaml-nan", "{Threshold: .nan}"),
            ("parameters", "yaml-inf", "{Threshold: .inf}"),
            ("parameters", "json-nan-text", '{"Threshold": "NaN"}'),
            ("parameters", "json-infinity-text", '{"Threshold": "-Infinity"}'),
            ("parameters", "full-width-number", '{"Threshold": "０.５"}'),
            ("parameters", "bad-name", f'{{"a\\n::error::{MARK}": 1}}'),
            ("parameters", "huge-value", '{"Threshold": "' + "1" * 2000 + '"}'),
            ("metrics-property-file", "newline", f"Evaluation\n::error::{MARK}"),
        ],
    ),
    "register-and-gate": (
        register_and_gate.main,
        {
            "backend": "local",
            "model-package-group": "churn-models",
            "model-package-arn": PACKAGE_ARN,
        },
        cases(["model-package-group", "model-package-arn", "execution-arn"], INJECTIONS)
        + cases(["image-uri"], {k: INJECTIONS[k] for k in ("newline-error", "huge", "u2028-error")})
        + [
            ("model-data-url", "newline", f"s3://b/model.tar.gz\n::error::{MARK}"),
            ("training-data-uri", "newline", f"s3://b/train.csv\n::error::{MARK}"),
            ("approval", "newline", f"auto\n::error::{MARK}"),
            ("force", "yes", "yes"),
        ],
    ),
    "deploy-endpoint": (
        deploy_endpoint.main,
        {"backend": "local", "endpoint-name": "churn-staging", "model-package-arn": PACKAGE_ARN},
        cases(["endpoint-name", "variant-name", "model-package-arn"], INJECTIONS)
        + cases(["instance-count", "wait-seconds"], {**BAD_NUMBERS, **WHOLE_ONLY})
        + cases(["max-latency-ms", "target-invocations-per-instance"], BAD_NUMBERS)
        + cases(["role-arn"], ROLE_ARNS)
        + [
            ("instance-type", "newline", f"ml.m5.large\n::error::{MARK}"),
            ("alarms", "u2028", f"churn-latency\u2028::error::{MARK}"),
            ("alarms", "huge", "a" * 300),
            ("data-capture-s3-uri", "newline", f"s3://b/capture\n::error::{MARK}"),
            ("strategy", "newline", f"canary\n::error::{MARK}"),
        ],
    ),
    "smoke-test": (
        smoke_test.main,
        {"backend": "local", "endpoint-name": "churn-staging", "payloads": "payloads.csv"},
        cases(["endpoint-name", "rollback-endpoint-config"], INJECTIONS)
        + cases(["requests", "concurrency"], {**BAD_NUMBERS, **WHOLE_ONLY})
        + cases(["max-p99-ms", "timeout-minutes", "tolerance", "max-error-rate"], BAD_NUMBERS)
        + cases(["min-accuracy", "max-rmse", "max-mae"], BAD_NUMBERS)
        + cases(["prediction-range"], {"nan": "nan,1", "inf": "0,inf", "full-width": "０,１"})
        + [
            ("content-type", "newline", f"text/csv\n::error::{MARK}"),
            # Where a file input leads is checked elsewhere (workspace_file); here only
            # that it is one line that can name a file.
            ("report-path", "newline", f"report.json\n::error::{MARK}"),
            ("report-path", "huge-name", "r" * 300 + ".json"),
            ("payloads", "u2028", f"payloads.csv\u2028::error::{MARK}"),
            ("label-column", "newline", f"none\n::error::{MARK}"),
            ("task", "newline", f"regression\n::error::{MARK}"),
        ],
    ),
    "enable-monitor": (
        enable_monitor.main,
        {"backend": "local", "endpoint-name": "churn-staging", "baseline-data-uri": "train.csv"},
        cases(["endpoint-name"], INJECTIONS)
        + cases(["data-capture-percent"], {**BAD_NUMBERS, **WHOLE_ONLY})
        + cases(["drift-threshold", "timeout-minutes"], BAD_NUMBERS)
        + cases(["role-arn"], ROLE_ARNS)
        + [
            ("schedule-expression", "newline", f"cron(0 * ? * * *)\n::error::{MARK}"),
            ("schedule-expression", "full-width-hour", "cron(0 １２ ? * * *)"),
            ("sns-topic-arn", "full-width-account", "arn:aws:sns:us-east-1:０００000000000:t"),
            ("sns-topic-arn", "newline", f"arn:aws:sns:us-east-1:000000000000:t\n::error::{MARK}"),
            ("output-s3-uri", "newline", f"s3://b/monitoring\n::error::{MARK}"),
            ("capture-s3-uri", "newline", f"s3://b/capture\n::error::{MARK}"),
            ("instance-type", "huge", "m" * 100_000),
            ("label-column", "newline", f"first\n::error::{MARK}"),
        ],
    ),
    "batch-transform": (
        batch_transform.main,
        {
            "backend": "local",
            "model-package-arn": PACKAGE_ARN,
            "input-s3-uri": "s3://smgha-local/batch/input/",
            "output-s3-uri": "s3://smgha-local/batch/output",
        },
        cases(["model-package-arn", "split-type", "batch-strategy", "join-source"], INJECTIONS)
        + cases(
            ["instance-count", "max-payload-mb", "max-concurrent-transforms"],
            {**BAD_NUMBERS, **WHOLE_ONLY},
        )
        + cases(["timeout-minutes", "min-accuracy"], BAD_NUMBERS)
        + cases(["role-arn"], ROLE_ARNS)
        + [
            ("input-s3-uri", "newline", f"s3://b/input\n::error::{MARK}"),
            ("input-s3-uri", "traversal", "s3://b/../../etc"),
            ("output-s3-uri", "newline", f"s3://b/output\n::error::{MARK}"),
            ("content-type", "newline", f"text/csv\n::error::{MARK}"),
            ("accept", "u2028", f"text/csv\u2028::error::{MARK}"),
            ("input-filter", "newline", f"$[1:]\n::error::{MARK}"),
            ("output-filter", "huge", "$" + "[0]" * 100),
            ("instance-type", "newline", f"ml.m5.large\n::error::{MARK}"),
            ("label-column", "newline", f"first\n::error::{MARK}"),
            ("prediction-range", "nan", "nan,1"),
        ],
    ),
    "shadow-test": (
        shadow_test.main,
        {
            "backend": "local",
            "endpoint-name": "churn-staging",
            "rules": "shadow.errors <= 0",
            "payloads": "payloads.csv",
        },
        cases(["endpoint-name"], INJECTIONS)
        + cases(["min-samples", "wait-seconds"], {**BAD_NUMBERS, **WHOLE_ONLY})
        + cases(["timeout-minutes", "max-latency-ms"], BAD_NUMBERS)
        + [
            ("rules", "newline", f"shadow.errors <= 0\n::error::{MARK}"),
            ("rules", "shell", f"shadow.errors <= $(touch {PWNED})"),
            ("content-type", "newline", f"text/csv\n::error::{MARK}"),
            ("report-path", "newline", f"report.json\n::error::{MARK}"),
            ("report-path", "huge-name", "r" * 300 + ".json"),
            ("payloads", "u2028", f"payloads.csv\u2028::error::{MARK}"),
            ("label-column", "newline", f"none\n::error::{MARK}"),
            ("task", "newline", f"regression\n::error::{MARK}"),
            ("promote", "newline", f"true\n::error::{MARK}"),
        ],
    ),
}

# Every stage but oidc-auth reads `backend` and `region` (backend_and_region).
REGIONS = {
    "newline": f"us-east-1\n::error::{MARK}",
    "full-width-digit": "us-east-１",
    "path": "../us-east-1",
    "huge": "u" * 100_000,
}
for _stage, _entry in STAGES.items():
    if _stage != "oidc-auth":
        _entry[2].extend(cases(["region"], REGIONS))
        _entry[2].append(("backend", "newline", f"local\n::error::{MARK}"))

MATRIX = [
    pytest.param(stage, name, value, id=f"{stage}-{name}-{label}")
    for stage, (_, _, stage_cases) in STAGES.items()
    for name, label, value in stage_cases
]


def state_files(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(path.relative_to(folder)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in folder.rglob("*")
        if path.is_file()
    }


@pytest.fixture
def step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A step's runner files, workspace and local state folder; the shell's cwd."""
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "payloads.csv").write_text("0.5,1.0\n0.1,2.0\n")
    (workspace / "train.csv").write_text("1,0.5,1.0\n0,0.1,2.0\n")
    state = tmp_path / "state"
    state.mkdir()
    (state / "keep.json").write_text("{}")
    monkeypatch.setenv("SMGHA_STATE_DIR", str(state))
    monkeypatch.chdir(workspace)
    files = {"GITHUB_WORKSPACE": str(workspace)}
    for name in ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_STEP_SUMMARY"):
        path = tmp_path / name.lower()
        path.write_text("")
        files[name] = str(path)
    return files


def test_every_stage_has_at_least_25_hostile_inputs() -> None:
    for stage, (_, _, stage_cases) in STAGES.items():
        assert len(stage_cases) >= 25, stage
    assert sorted(STAGES) == sorted(stages.STAGES)  # every stage, the new ones too


@pytest.mark.parametrize(("stage", "name", "value"), MATRIX)
def test_a_hostile_input_is_refused_and_changes_nothing(
    step: dict[str, str], stage: str, name: str, value: str
) -> None:
    main, valid, _ = STAGES[stage]
    state = Path(os.environ["SMGHA_STATE_DIR"])
    before = state_files(state)

    result = run_main(main, {**valid, name: value}, **{**GITHUB_CONTEXT, **step})

    log = job_log(result.log)
    assert result.code == 1, result.log[-2000:]
    assert [command.name for command in log.commands] == ["error"], result.log[-2000:]
    error = log.commands[0].data
    assert f"input '{name}'" in error, error[:500]
    assert len(error) < 2000, "the error quotes a long value whole"
    assert log.ignored == []  # commands were never stopped
    assert {command.name for command in log.commands} <= STAGE_COMMANDS
    # The value may be quoted in a plain line (escaped), never obeyed: every command is
    # the one error above, and no shown line starts one (job_log read them as plain).
    assert file_commands(step["GITHUB_OUTPUT"]) == {}
    assert file_commands(step["GITHUB_ENV"]) == {}
    assert state_files(state) == before
    assert not (Path(step["GITHUB_WORKSPACE"]) / PWNED).exists()


@pytest.mark.parametrize("label", ACCEPTED_AUDIENCES)
def test_an_accepted_hostile_audience_runs_with_no_injected_command(
    aws_env: str, step: dict[str, str], monkeypatch: pytest.MonkeyPatch, label: str
) -> None:
    # The audience is logged ("Got a GitHub OIDC token for the audience ..."):
    # `churn##[error]INJECTED` in that line is a legacy command to the runner unless the
    # runner module guards it.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    for issuer in running():
        result = run_main(
            oidc_auth.main,
            {**STAGES["oidc-auth"][1], "audience": INJECTIONS[label]},
            **{**GITHUB_CONTEXT, **step, **issuer.env()},
        )
        assert result.code == 0, result.log
        assert issuer.requests == [(INJECTIONS[label], 200)]
        log = job_log(result.log)
        assert {command.name for command in log.commands} == {"add-mask"}, result.log
        assert log.ignored == []
        # Quoted (with the runner module's guard), not obeyed.
        assert any(plain_text(INJECTIONS[label]) in line for line in log.shown)
        exported = file_commands(step["GITHUB_ENV"])
        assert exported["SMGHA_OIDC_AUDIENCE"] == INJECTIONS[label]
        assert set(file_commands(step["GITHUB_OUTPUT"])) == {
            "aws-account-id",
            "authenticated-arn",
            "expiration",
        }
        shown = "\n".join(log.shown)
        for secret in (exported["AWS_SECRET_ACCESS_KEY"], exported["AWS_SESSION_TOKEN"]):
            assert secret in log.masks and secret not in shown
