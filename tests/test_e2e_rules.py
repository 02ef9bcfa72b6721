"""The harness's GitHub runner rules (tests/e2e/harness.py), on act JSON logs made here.

act passes on a job output that contains a masked value; GitHub's runner drops it ("Skip
output '<name>' since it may contain secret", actions/runner JobExtension.cs), which once
silently skipped the automatic deploy. These tests show the check catches that, and a secret
written unmasked, so the e2e runs that apply it can fail.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.e2e import harness

ACCOUNT = "123456789012"
ARN = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:model-package/churn-models/1"
JOB = "build/model-build/Build, register and gate"


def _run(tmp_path: Path, events: list[dict[str, Any]]) -> harness.ActRun:
    log = tmp_path / "run.log"
    log.write_text("".join(json.dumps(e) + "\n" for e in events) + "not json\n")
    return harness.ActRun(0, log, 1.0)


def _mask(value: str, job: str = JOB) -> dict[str, Any]:
    return {"job": job, "command": "add-mask", "arg": value, "msg": "  ⚙  ***"}


def _output(name: str, value: str, job: str = JOB) -> dict[str, Any]:
    shown = value.replace(ACCOUNT, "***")
    return {
        "job": job,
        "command": "set-output",
        "name": name,
        "arg": value,
        "msg": f"  ⚙  ::set-output:: {name}={shown}",
    }


def test_a_job_output_holding_a_masked_account_id_is_what_github_drops(tmp_path: Path) -> None:
    run = _run(tmp_path, [_mask(ACCOUNT), _output("model-package-arn", ARN)])
    problems = harness.runner_rule_violations(run, {"model-package-arn"})
    assert problems == [
        f"[{JOB}] Skip output 'model-package-arn' since it may contain secret "
        "(GitHub drops a job output containing a masked value)",
        f"[{JOB}] output 'model-package-arn' holds a secret (1234…)",
    ]


def test_the_same_output_unmasked_passes(tmp_path: Path) -> None:
    run = _run(tmp_path, [_mask("ASIAEXAMPLEKEY0001"), _output("model-package-arn", ARN)])
    assert harness.runner_rule_violations(run, {"model-package-arn"}) == []


def test_masks_are_per_job_and_only_job_outputs_are_dropped(tmp_path: Path) -> None:
    other = "deploy/model-deploy/Staging"
    run = _run(
        tmp_path,
        [_mask(ACCOUNT, job=other), _output("model-package-arn", ARN), _output("status", ARN)],
    )
    problems = harness.runner_rule_violations(run, {"model-package-arn"})
    # Not dropped (masked in another job), but the value is still a secret somewhere.
    assert problems == [f"[{JOB}] output 'model-package-arn' holds a secret (1234…)"]


def test_a_secret_unmasked_in_a_log_line_or_a_summary_is_reported(tmp_path: Path) -> None:
    token = "eyJhbGciOiJSUzI1NiJ9.payload.signature"
    run = _run(
        tmp_path,
        [
            {"job": JOB, "msg": f"token was {token}\n", "raw_output": True},
            {
                "job": JOB,
                "command": "summary",
                "content": f"| key | {token} |",
                "msg": "  ⚙  Summary - ***",
            },
            {"job": JOB, "msg": "nothing to see"},
        ],
    )
    problems = harness.runner_rule_violations(run, set(), secrets=[token, "abc"])
    assert len(problems) == 2
    assert "appears unmasked in a log line: token was eyJ" in problems[0]
    assert "appears unmasked in a job summary" in problems[1]
    assert harness.runner_rule_violations(run, set(), secrets=["abc"]) == []  # too short to mask


def test_job_output_names_come_from_the_jobs_outputs() -> None:
    text = """
jobs:
  build:
    outputs:
      arn: ${{ steps.gate.outputs.model-package-arn }}
      both: ${{ steps.a.outputs.x }}-${{ steps.b.outputs.y }}
    steps: []
  other:
    steps:
      - run: echo ${{ steps.c.outputs.not-a-job-output }}
"""
    assert harness.job_output_names([text]) == {"model-package-arn", "x", "y"}


def test_the_rendered_log_keeps_acts_text_layout(tmp_path: Path) -> None:
    run = _run(
        tmp_path,
        [
            {"job": JOB, "msg": "⭐ Run Main build"},
            {"job": JOB, "msg": "1 passed in 0.1s\n", "raw_output": True},
            {"job": JOB, "jobResult": "success", "msg": "🏁  Job succeeded"},
        ],
    )
    assert run.text.splitlines() == [
        f"[{JOB}] ⭐ Run Main build",
        f"[{JOB}]   | 1 passed in 0.1s",
        f"[{JOB}] 🏁  Job succeeded",
        "not json",
    ]
    assert run.job_result("Build, register and gate") == "success"
    assert run.job_result("/Staging") == ""
