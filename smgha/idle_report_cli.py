"""`smgha endpoints idle-report` (and `idle-issue`): the account's endpoints with no invocation for N days and
what they cost, as Markdown on stdout and in the job summary; optionally one GitHub issue;
deletion of the idle ones only with `--delete --yes` (docs/cost.md).

Exit codes: 0 with a report (idle endpoints are information, not a failure), 1 when an AWS or
GitHub call failed, 2 on bad input (one `error:` line naming the flag; nothing is read,
changed or posted).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
from collections.abc import Callable
from typing import TextIO

from smgha.errors import InputError, StageError
from smgha.inputs import known_sagemaker_region

Clock = Callable[[], dt.datetime]


def add_parser(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser(
        "idle-report",
        help="Endpoints in service with no invocation for N days, with their hourly cost "
        "(sagemaker backend); never deletes unless told to.",
        description="List the region's InService endpoints, their instances and hourly cost "
        "(price table), and their invocations over the last --days days (CloudWatch); an "
        "endpoint older than that with none is idle. Prints a Markdown table and appends it "
        "to the job summary. Deletes the idle endpoints (keeping their endpoint configs) only "
        "with both --delete and --yes.",
    )
    report.add_argument(
        "--region", default="", help="AWS region (default: AWS_REGION, else AWS_DEFAULT_REGION)."
    )
    report.add_argument(
        "--days",
        default="14",
        help="Idle means no invocation in this many days, 1 to 455 (default: 14).",
    )
    report.add_argument(
        "--price-table",
        default="",
        help="A team's JSON price table over the shipped one (smgha/resources/prices.py); "
        "aws-price-list (or aws-price-list,TABLE): the AWS Price List API first (docs/cost.md).",
    )
    report.add_argument(
        "--summary",
        default=os.environ.get("GITHUB_STEP_SUMMARY", ""),
        help="Append the report to this existing file (default: GITHUB_STEP_SUMMARY; none "
        "when unset).",
    )
    report.add_argument(
        "--open-issue",
        action="store_true",
        help="Create or update the repository's one 'Idle SageMaker endpoints' issue "
        "(GITHUB_TOKEN with issues: write, GITHUB_REPOSITORY); closed when none is idle.",
    )
    report.add_argument(
        "--delete",
        action="store_true",
        help="Delete the idle endpoints (their endpoint configs stay). Needs --yes too.",
    )
    report.add_argument("--yes", action="store_true", help="Confirm --delete.")
    report.add_argument(
        "--delete-prefix",
        action="append",
        default=[],
        metavar="PREFIX",
        help="With --delete: delete only the idle endpoints whose names start with PREFIX "
        "(repeatable; e.g. churn-staging, the prefixes infra/terraform lets the build role "
        "delete). Default: every idle endpoint.",
    )
    issue = commands.add_parser(
        "idle-issue",
        help="Create, update or close the 'Idle SageMaker endpoints' issue from a saved report.",
        description="What idle-report --open-issue does, from the report an earlier job wrote "
        "(its outputs `report` and `idle-count`): so the job holding AWS credentials needs no "
        "issues: write, and the job with issues: write holds no AWS credentials.",
    )
    issue.add_argument("--report", required=True, help="The report's Markdown file.")
    issue.add_argument(
        "--idle-count", required=True, help="How many endpoints it found idle (0 closes it)."
    )


def checked_days(text: str) -> int:
    from smgha.idle_report import MAX_DAYS

    if not text.strip().isdigit() or not 1 <= int(text) <= MAX_DAYS:
        raise InputError(
            "days",
            f"{text[:40]!r} is not a whole number of days from 1 to {MAX_DAYS}",
            f"CloudWatch keeps hourly data points for {MAX_DAYS} days.",
        )
    return int(text)


def check_flags(arguments: argparse.Namespace) -> None:
    if arguments.delete and not arguments.yes:
        raise InputError(
            "delete",
            "--delete deletes endpoints and needs --yes as well",
            "Fix: --delete --yes (or leave both out for a report only).",
        )
    if arguments.yes and not arguments.delete:
        raise InputError("yes", "--yes confirms --delete, which is not given")
    if arguments.delete_prefix and not arguments.delete:
        raise InputError("delete-prefix", "--delete-prefix narrows --delete, which is not given")
    from smgha.resources.names import sagemaker_name

    for prefix in arguments.delete_prefix:
        sagemaker_name("delete-prefix", prefix)
    if arguments.open_issue:
        from smgha.github_api import is_repository

        if not is_repository(os.environ.get("GITHUB_REPOSITORY", "")):
            raise InputError("open-issue", "GITHUB_REPOSITORY is not owner/name")
        if not os.environ.get("GITHUB_TOKEN"):
            raise InputError(
                "open-issue",
                "GITHUB_TOKEN is empty",
                "Fix: give the step env: GITHUB_TOKEN: ${{ github.token }} and the job "
                "permissions: issues: write.",
            )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def run(arguments: argparse.Namespace, stdout: TextIO, clock: Clock = _now) -> int:
    if arguments.endpoints_command == "idle-issue":
        return run_issue(arguments, stdout)
    try:
        days = checked_days(arguments.days)
        region = known_sagemaker_region(
            arguments.region
            or os.environ.get("AWS_REGION", "")
            or os.environ.get("AWS_DEFAULT_REGION", "")
        )
        check_flags(arguments)
    except InputError as error:
        stdout.write(f"error: {error.message}\n")
        return 2
    from smgha.aws_session import aws_session
    from smgha.backends.aws.client import AwsClients
    from smgha.backends.aws.hosting import SageMakerHosting
    from smgha.backends.aws.price_list import GetProducts
    from smgha.idle_report import gather, render
    from smgha.resources.price_list import prices_for
    from smgha.runner import Runner

    # Credentials renewed while it reads are logged and masked on this process's stdout,
    # where the runner reads commands (as `smgha registry` does).
    runner = Runner(env={}, stdout=stdout)
    session = aws_session(log=runner.info, mask=runner.set_secret)
    clients = AwsClients(region, session)
    prices = prices_for(arguments.price_table, lambda: GetProducts(lambda: session, region))
    try:
        report = gather(clients, region, days, prices, clock())
    except StageError as error:
        stdout.write(f"error: {error}\n")
        return 1
    deleted: list[str] = []
    failure: StageError | None = None
    if arguments.delete and arguments.yes:
        # SageMaker endpoint names are case-insensitive (alarmed_endpoint_name's docstring).
        prefixes = tuple(p.lower() for p in arguments.delete_prefix)
        # DeleteEndpoint: the endpoint configs and models stay, so the next deploy (or
        # CreateEndpoint with the same config) brings an endpoint back.
        hosting = SageMakerHosting(clients)
        try:  # one by one: the report then says which were deleted before a failure
            for usage in report.idle:
                if prefixes and not usage.name.lower().startswith(prefixes):
                    continue
                hosting.delete_endpoint(usage.name)
                deleted.append(usage.name)
        except StageError as error:
            failure = error
    markdown = render(report, deleted)
    stdout.write(markdown)
    if arguments.summary:
        try:
            Runner(env={"GITHUB_STEP_SUMMARY": arguments.summary}).summary.raw(markdown).write()
        except StageError as error:  # no such file: the runner always creates it
            failure = failure or error
    if failure is not None:
        stdout.write(f"error: {failure}\n")
        return 1
    if os.environ.get("GITHUB_OUTPUT"):  # for a later job's idle-issue (the template's)
        outputs = Runner(env={"GITHUB_OUTPUT": os.environ["GITHUB_OUTPUT"]})
        outputs.set_output("report", markdown)
        outputs.set_output("idle-count", len(report.idle))
    if arguments.open_issue:
        return _open_issue(markdown, len(report.idle), stdout)
    return 0


def run_issue(arguments: argparse.Namespace, stdout: TextIO) -> int:
    from pathlib import Path

    try:
        check_flags(argparse.Namespace(delete=False, yes=False, delete_prefix=[], open_issue=True))
        if not arguments.idle_count.isdigit():
            raise InputError("idle-count", f"{arguments.idle_count[:40]!r} is not a count")
        try:
            markdown = Path(arguments.report).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise InputError("report", f"cannot be read ({error})") from None
    except InputError as error:
        stdout.write(f"error: {error.message}\n")
        return 2
    return _open_issue(markdown, int(arguments.idle_count), stdout)


def _open_issue(markdown: str, idle: int, stdout: TextIO) -> int:
    from smgha.github_api import GitHubClient, GitHubError
    from smgha.idle_issue import publish

    repository = os.environ["GITHUB_REPOSITORY"]
    run_url = ""
    if os.environ.get("GITHUB_RUN_ID", "").isdigit():
        server = os.environ.get("GITHUB_SERVER_URL", "https://github.com")
        run_url = f"{server}/{repository}/actions/runs/{os.environ['GITHUB_RUN_ID']}"
    try:
        client = GitHubClient(os.environ["GITHUB_TOKEN"])
        done = publish(client, repository, markdown, idle, run_url)
    except (GitHubError, ValueError) as error:
        stdout.write(f"error: the issue: {error}\n")
        return 1
    if done.action == "none":
        stdout.write("issue: none open and nothing idle: none opened\n")
    else:
        stdout.write(f"issue #{done.number} {done.action}\n")
    return 0
