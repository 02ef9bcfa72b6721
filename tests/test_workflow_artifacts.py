"""The workflow artifacts of the reusable workflows (issue 20): which job uploads what, named
`smgha-<what>-<job id>`, kept `artifact-retention-days` (1-90, default 30), uploaded also
after a failure where the failure's evidence is in it; and the status badges of the starter
workflows' README. What the act e2e run finds in the artifacts: tests/test_e2e_act.py."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from smgha.run_artifacts import EVALUATION, MONITORING, PIPELINE_LOG, SMOKE_TEST, STAGE_FOLDERS
from smgha.summary import SUMMARY_ARTIFACT
from tests.test_workflows import (
    REUSABLE,
    TEMPLATES,
    WORKFLOWS,
    job_steps,
    jobs,
    load,
    rel,
    run_bash,
    step_named,
    triggers,
)

UPLOAD = "actions/upload-artifact@"
RETENTION = "${{ inputs.artifact-retention-days }}"
# The champion review bundle keeps the repository's retention (build-and-review/action.yml
# says why); every other upload keeps artifact-retention-days.
CHAMPION_BUNDLE = "smgha-review-bundle-${{ inputs.pipeline-name }}"
# What each job uploads besides its full summaries, by artifact name (without -<job id>)
# and the stage step (its id) whose folder it is.
STAGE_UPLOADS = {
    ("model-build.yml", "build"): {PIPELINE_LOG: "build", EVALUATION: "gate"},
    ("model-validate.yml", "build"): {PIPELINE_LOG: "build", EVALUATION: "gate"},
    ("model-deploy.yml", "staging"): {SMOKE_TEST: "smoke"},
    ("model-deploy.yml", "production"): {SMOKE_TEST: "smoke", MONITORING: "monitor"},
}


def uploads(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in job_steps(job) if str(s.get("uses", "")).startswith(UPLOAD)]


def every_upload() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (rel(path), name, step)
        for path in REUSABLE
        for name, job in jobs(path).items()
        for step in uploads(job)
    ]


@pytest.mark.parametrize("path", REUSABLE, ids=[p.name for p in REUSABLE])
def test_the_retention_input(path: Path) -> None:
    spec = triggers(load(path))["workflow_call"]["inputs"]["artifact-retention-days"]
    assert spec["type"] == "number" and spec["default"] == 30 and spec["required"] is False
    assert "1-90" in spec["description"]


@pytest.mark.parametrize(
    ("where", "job", "step"), every_upload(), ids=[f"{p}:{j}" for p, j, _ in every_upload()]
)
def test_every_upload_is_pinned_and_kept_as_long_as_the_input_says(
    where: str, job: str, step: dict[str, Any]
) -> None:
    assert re.fullmatch(r"actions/upload-artifact@[0-9a-f]{40}", step["uses"]), step["uses"]
    options = step["with"]
    assert options["if-no-files-found"] in ("error", "ignore") or re.fullmatch(
        r"\$\{\{ steps\.[a-z]+\.outcome == 'success' && 'error' \|\| 'ignore' \}\}",
        options["if-no-files-found"],
    ), options
    if options["name"] == CHAMPION_BUNDLE:
        assert "retention-days" not in options
    else:
        assert options["retention-days"] == RETENTION, (where, job, options["name"])


@pytest.mark.parametrize("path", REUSABLE, ids=[p.name for p in REUSABLE])
def test_artifact_names_are_unique_in_a_run(path: Path) -> None:
    """GitHub refuses a second artifact of one name in a run (upload-artifact v4+): in one job
    no name repeats, and every name of a job with more than one such job names the job."""
    for name, job in jobs(path).items():
        names = [step["with"]["name"] for step in uploads(job)]
        assert len(names) == len(set(names)), (path.name, name, names)
        for artifact in names:
            assert artifact.endswith("-${{ github.job }}") or artifact in (
                "smgha-review",
                CHAMPION_BUNDLE,
            ), artifact


@pytest.mark.parametrize(
    ("workflow", "job"), sorted(STAGE_UPLOADS), ids=[f"{w}:{j}" for w, j in sorted(STAGE_UPLOADS)]
)
def test_each_stage_job_uploads_its_evidence_also_after_a_failure(workflow: str, job: str) -> None:
    """Each stage's folder (smgha/run_artifacts.py) right after the stage: whenever the stage
    ran, also when it failed; a stage that succeeded must have left files (error), one that
    failed may have failed before writing them (ignore: its own error says why)."""
    steps = job_steps(jobs(WORKFLOWS / workflow)[job])
    expected = STAGE_UPLOADS[(workflow, job)]
    found = {}
    for index, step in enumerate(steps):
        if not str(step.get("uses", "")).startswith(UPLOAD):
            continue
        name = step["with"]["name"].removesuffix("-${{ github.job }}")
        if name not in STAGE_FOLDERS:
            continue
        found[name] = step
        stage = expected[name]
        assert steps[index - 1].get("id") == stage, (name, "does not follow", stage)
        assert step["if"] == f"always() && steps.{stage}.outcome != 'skipped'"
        assert step["with"]["path"] == "${{ runner.temp }}/" + name
        assert step["with"]["if-no-files-found"] == (
            f"${{{{ steps.{stage}.outcome == 'success' && 'error' || 'ignore' }}}}"
        )
    assert set(found) == set(expected)


def test_the_summaries_of_every_job_keep_the_input_retention() -> None:
    for path in REUSABLE:
        for name, job in jobs(path).items():
            for step in uploads(job):
                if step["with"]["name"].startswith(SUMMARY_ARTIFACT):
                    assert step["with"]["retention-days"] == RETENTION, (path.name, name)


RETENTION_CHECKS = [
    (WORKFLOWS / "model-build.yml", "build", "model-build"),
    (WORKFLOWS / "model-deploy.yml", "staging", "model-deploy"),
]


@pytest.mark.parametrize(("path", "job", "title"), RETENTION_CHECKS, ids=["build", "deploy"])
@pytest.mark.parametrize(
    ("days", "refused"),
    [
        ("1", False),
        ("30", False),
        ("90", False),
        ("0", True),
        ("91", True),
        ("400", True),
        ("-1", True),
        ("1.5", True),
        ("030", True),
        ("18446744073709551646", True),  # would wrap to 30 in bash arithmetic
        ("", True),
    ],
)
def test_the_retention_is_refused_outside_1_to_90_before_anything_runs(
    path: Path, job: str, title: str, days: str, refused: bool
) -> None:
    step = step_named(path, job, "Refuse an artifact-retention-days outside 1-90")
    steps = job_steps(jobs(path)[job])
    first_effect = next(
        i for i, s in enumerate(steps) if "checkout" in str(s.get("uses", ""))
    )  # nothing is checked out, installed, built or deployed before it
    assert steps.index(step) < first_effect
    assert step["env"] == {"RETENTION_DAYS": RETENTION}
    done = run_bash(step["run"], {"RETENTION_DAYS": days})
    assert (done.returncode != 0) is refused, done.stdout + done.stderr
    if refused:
        assert done.stdout.startswith(
            f"::error title={title}%3A invalid input::input 'artifact-retention-days': "
        ), done.stdout


# ---- the badges ----------------------------------------------------------------------------

BADGE = re.compile(
    r"\[!\[([^\]]+)\]\(https://github\.com/OWNER/REPO/actions/workflows/([\w.-]+\.yml)/badge\.svg\?branch=main\)\]"
    r"\(https://github\.com/OWNER/REPO/actions/workflows/([\w.-]+\.yml)\)"
)


def test_the_starter_readme_has_badges_for_the_build_and_deploy_workflows() -> None:
    """GitHub's status badge URL: https://github.com/OWNER/REPOSITORY/actions/workflows/
    WORKFLOW-FILE/badge.svg, `?branch=` for a branch (GitHub docs, "Adding a workflow status
    badge"); each links to the workflow's runs, and names a template that exists."""
    text = (TEMPLATES / "README.md").read_text()
    badges = BADGE.findall(text)
    files = {image for _, image, _ in badges}
    assert files == {"model-build.yml", "model-deploy.yml"}, badges
    for _, image, link in badges:
        assert image == link and (TEMPLATES / image).is_file()
    assert "OWNER/REPO" in text and "replace" in text.lower()
