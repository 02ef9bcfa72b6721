"""`smgha review bundle|compare`: a model's review bundle, and the review of a candidate
against a champion (docs/review.md, "Command line").

    smgha review bundle --backend local --model-package-arn ARN --out champion/
    smgha review compare --backend local --execution-arn ARN --champion champion/ \\
        --gate-rules 'auc >= champion - 0.01' --out review/

Exit codes: 0 = the bundle or the review is written (whatever the verdict, also when the
champion is missing or unusable, or the build failed); 2 = bad input (one error naming it).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any, TextIO

from smgha import gates
from smgha.backends import BACKENDS, Backend, backend, registered_model_package
from smgha.errors import InputError, StageError
from smgha.review import github_cli, markdown
from smgha.review.bundle import (
    BUNDLE_FILE,
    Bundle,
    BundleError,
    build_bundle,
    pipeline_of,
    read_bundle,
    write_bundle,
)
from smgha.review.compare import compare
from smgha.runner import Runner

BAD_INPUT = 2
NOT_FINISHED = (
    "execution {arn} is {status}: there is nothing to review yet",
    "Pass the execution once build-pipeline has waited for it (its execution-arn output).",
)
NOTHING_REGISTERED = (
    "execution {arn} succeeded but registered no model package",
    "Pass --candidate with the package to review.",
)
NO_CANDIDATE = ("is needed (or --execution-arn)", "Pass the model package to review.")


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "review", help="Review a candidate model against the champion (a PR comment, a report)."
    )
    commands = parser.add_subparsers(dest="review_command", required=True, metavar="COMMAND")
    github_cli.add_subcommands(commands)  # fetch-champion, post-comment: the GitHub side
    bundle = commands.add_parser(
        "bundle",
        help="Write a registered model's review bundle (what main publishes as the champion).",
    )
    bundle.add_argument("--model-package-arn", required=True, help="The registered model package.")
    bundle.add_argument(
        "--execution-arn",
        default="",
        help="The build that registered it (default: the one register-and-gate recorded on it).",
    )
    review = commands.add_parser(
        "compare",
        help="Compare the candidate with the champion bundle; write review.json, comment.md, "
        "summary.md and report.html.",
    )
    review.add_argument("--candidate", default="", help="The candidate model package's ARN.")
    review.add_argument(
        "--execution-arn",
        default="",
        help="The build's pipeline execution: its registered package is the candidate; when "
        "it failed, the review says which step failed and why, and nothing else.",
    )
    build = commands.add_parser(
        "run",
        help="Build the candidate from this checkout on the local backend (build-pipeline), "
        "then compare it as `compare` does: a pull request's review, on your machine.",
    )
    build.add_argument(
        "--definition", default="ml.pipeline:get_pipeline", help="build-pipeline's definition."
    )
    build.add_argument("--pipeline-name", required=True, help="main's pipeline name.")
    build.add_argument("--parameters", default="", help="build-pipeline's parameters (JSON).")
    build.set_defaults(backend="local", region="", candidate="", execution_arn="")
    for command in (review, build):
        _compare_flags(command)
    for command in (bundle, review):
        command.add_argument("--backend", choices=BACKENDS, default="local", help="default: local")
        command.add_argument(
            "--region", default="", help="AWS region (default: AWS_REGION, else us-east-1)."
        )
    for command in (bundle, review, build):
        command.add_argument(
            "--data-parameter",
            default="InputDataUrl",
            help="The pipeline parameter naming the input data (a CSV with a header) to profile.",
        )
        command.add_argument(
            "--git-ref", default="", help="The git ref built (default: GITHUB_REF)."
        )
        command.add_argument("--out", required=True, help="The folder to write into.")


def _compare_flags(parser: argparse.ArgumentParser) -> None:
    """The flags `compare` and `run` share: the champion, the gate's rules and approval."""
    parser.add_argument(
        "--champion", default="", help="The champion's bundle folder (missing: not compared)."
    )
    parser.add_argument(
        "--gate-rules",
        default="",
        help="register-and-gate's rules, one per line (the same grammar): the verdict predicted.",
    )
    parser.add_argument(
        "--approval",
        choices=["auto", "manual"],
        default="auto",
        help="register-and-gate's approval input (manual: a passing model is pending).",
    )
    parser.add_argument(
        "--max-champion-age-days",
        type=int,
        default=90,
        help="An older champion is stale: not compared (default: 90).",
    )


def run(arguments: argparse.Namespace, stdout: TextIO) -> int:
    if arguments.review_command in github_cli.COMMANDS:
        return github_cli.run(arguments, stdout)
    region = (
        arguments.region
        or os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or "us-east-1"
    )
    runner = Runner(env={})  # credentials renewed while it reads are masked on stdout
    chosen = backend(arguments.backend, region, log=runner.info, mask=runner.set_secret)
    try:
        if arguments.review_command == "run":
            return _build_and_compare(chosen, arguments, stdout)
        if arguments.review_command == "bundle":
            bundle = _bundle(
                chosen, arguments.model_package_arn, arguments.execution_arn, arguments
            )
            write_bundle(bundle, Path(arguments.out))
            stdout.write(
                f"review bundle of {bundle.model_package_arn} written to {arguments.out}\n"
            )
            return 0
        return _compare(chosen, arguments, stdout)
    except InputError as error:
        stdout.write(f"error: {error.message}\n")
        return BAD_INPUT


def _bundle(
    chosen: Backend,
    arn: str,
    execution_arn: str,
    arguments: argparse.Namespace,
    known_profile: dict[str, Any] | None = None,
) -> Bundle:
    return build_bundle(
        chosen,
        arn,
        execution_arn=execution_arn,
        data_parameter=arguments.data_parameter,
        git_sha=os.environ.get("GITHUB_SHA", ""),
        git_ref=arguments.git_ref or os.environ.get("GITHUB_REF", ""),
        known_profile=known_profile,
    )


def _compare(chosen: Backend, arguments: argparse.Namespace, stdout: TextIO) -> int:
    rules = gates.parse_rules(arguments.gate_rules.splitlines())
    out = Path(arguments.out)
    candidate_arn = arguments.candidate
    if arguments.execution_arn:
        failed = failed_build(chosen, arguments.execution_arn)
        if failed is not None:
            text = markdown.failed_build_comment(failed)
            markdown.write_review(
                out, text, {"schema": "smgha-review/1", "verdict": "build-failed", **vars(failed)}
            )
            stdout.write(
                f"the build failed ({failed.failed_step or failed.status}); review written to {out}\n"
            )
            return 0
        candidate_arn = candidate_arn or registered_model_package(
            chosen.pipelines.list_steps(arguments.execution_arn)
        )
        if not candidate_arn:
            problem, fix = NOTHING_REGISTERED
            raise InputError("execution-arn", problem.format(arn=arguments.execution_arn), fix)
    if not candidate_arn:
        raise InputError("candidate", *NO_CANDIDATE)
    champion, champion_error, champion_missing = _champion(arguments.champion)
    candidate = _bundle(
        chosen,
        candidate_arn,
        arguments.execution_arn,
        arguments,
        champion.data_profile if champion else None,
    )
    comparison = compare(
        candidate,
        champion,
        rules,
        manual_approval=arguments.approval == "manual",
        champion_error=champion_error,
        champion_missing=champion_missing,
        max_champion_age_days=arguments.max_champion_age_days,
    )
    from smgha.review import pictures  # draws with the plots modules: loaded only to draw

    text = markdown.comment(comparison, pictures.charts(comparison))
    markdown.write_review(out, text, comparison.to_json())
    (out / "report.html").write_text(pictures.report_html(comparison), encoding="utf-8")
    verdict = comparison.verdict.decision if comparison.verdict else "error"
    stdout.write(f"predicted verdict: {verdict}; review written to {out}\n")
    return 0


def _build_and_compare(chosen: Backend, arguments: argparse.Namespace, stdout: TextIO) -> int:
    """build-pipeline on the local backend with this checkout's code, then `compare` of what
    it built (a failed build's review says which step failed). A build refused before it
    started (bad input) is its exit code, with no review."""
    from smgha.stages import build_pipeline
    from smgha.terminal import run_stage_command, stage_environment

    flags = argparse.Namespace(**{s.name.replace("-", "_"): None for s in build_pipeline.INPUTS})
    flags.backend, flags.definition = "local", arguments.definition
    flags.pipeline_name, flags.parameters = arguments.pipeline_name, arguments.parameters
    environment = stage_environment(build_pipeline.INPUTS, flags)
    code, runner = run_stage_command(build_pipeline.main, environment, stdout)
    arguments.execution_arn = runner.outputs.get("execution-arn", "")
    if not arguments.execution_arn:
        return code or BAD_INPUT
    return _compare(chosen, arguments, stdout)


def _champion(folder: str) -> tuple[Bundle | None, str, str]:
    """(the champion's bundle, '', '') or (None, why it is unreadable, ''); (None, '', why
    there is none) when no folder is given or it holds no bundle (main published none; the
    reason is fetch-champion's, '' when it wrote none)."""
    from smgha.review.champion import read_no_champion

    if not folder:
        return None, "", ""
    if not (Path(folder) / BUNDLE_FILE).is_file():
        return None, "", read_no_champion(Path(folder))
    try:
        return read_bundle(Path(folder)), "", ""
    except BundleError as error:
        return None, str(error), ""


def failed_build(chosen: Backend, execution_arn: str) -> markdown.FailedBuild | None:
    """What failed in the build `execution_arn`: None when it succeeded. InputError when it
    does not exist or has not finished."""
    try:
        execution = chosen.pipelines.describe_execution(execution_arn)
    except StageError as error:
        raise InputError(
            "execution-arn", error.detail, "Pass the build's execution-arn output."
        ) from None
    if execution.status == "Succeeded":
        return None
    if not execution.finished:
        problem, fix = NOT_FINISHED
        raise InputError(
            "execution-arn", problem.format(arn=execution_arn, status=execution.status), fix
        )
    # The step's FailureReason (ListPipelineExecutionSteps) says more than the execution's.
    failed = [s for s in chosen.pipelines.list_steps(execution_arn) if s.status == "Failed"]
    step = failed[0] if failed else None
    return markdown.FailedBuild(
        pipeline_name=pipeline_of(execution_arn),
        execution_arn=execution_arn,
        status=execution.status,
        failed_step=step.name if step else "",
        reason=(step.failure_reason if step else "") or execution.failure_reason,
    )
