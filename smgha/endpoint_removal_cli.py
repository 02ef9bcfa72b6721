"""`smgha endpoints remove`: delete one endpoint, keeping its endpoint config and model, and
say what that saves (smgha/endpoint_removal.py; model-deploy's remove-staging-after-promotion).

Exit codes: 0 when the endpoint is gone, or was kept on purpose (it serves another config than
--if-serving, or is not InService: the summary says why); 1 when an AWS call failed or the
deletion did not finish in --timeout-minutes; 2 on bad input (one `error:` line naming the
flag; nothing is read or changed).
"""

from __future__ import annotations

import argparse
import os
import time
from typing import TextIO

from smgha.errors import InputError, StageError

MAX_TIMEOUT_MINUTES = 180
# The step output (GITHUB_OUTPUT) model-deploy's removal job passes on: removal.outcome.
OUTCOME_OUTPUT = "outcome"


def add_parser(commands: argparse._SubParsersAction) -> None:
    remove = commands.add_parser(
        "remove",
        help="Delete an endpoint, keeping its endpoint config and model (the next deploy "
        "creates it again).",
        description="DeleteEndpoint of NAME when it is InService (on --if-serving's config, "
        "when given), then wait until it is gone. Its endpoint config and model stay. Prints "
        "what it did and the hourly cost it saves, and appends that to the job summary.",
    )
    remove.add_argument("name", help="The endpoint.")
    remove.add_argument(
        "--backend", required=True, help="sagemaker, or local (the local backend's endpoints)."
    )
    remove.add_argument(
        "--region", default="", help="AWS region (default: AWS_REGION, else AWS_DEFAULT_REGION)."
    )
    remove.add_argument(
        "--if-serving",
        default="",
        help="Remove it only while it serves this endpoint config (the one this run "
        "deployed); an endpoint a later deploy moved is kept.",
    )
    remove.add_argument(
        "--price-table",
        default="",
        help="A team's JSON price table over the shipped one (smgha/resources/prices.py); "
        "aws-price-list (or aws-price-list,TABLE): the AWS Price List API first (docs/cost.md).",
    )
    remove.add_argument(
        "--timeout-minutes",
        default="30",
        help=f"How long to wait for the deletion, 1 to {MAX_TIMEOUT_MINUTES} (default: 30).",
    )
    remove.add_argument(
        "--summary",
        default=os.environ.get("GITHUB_STEP_SUMMARY", ""),
        help="Append the result to this file (default: GITHUB_STEP_SUMMARY; none when unset).",
    )


def _checked(arguments: argparse.Namespace) -> tuple[str, str, int]:
    """backend, region, timeout in seconds; InputError names the flag."""
    from smgha.inputs import aws_region, choice, known_sagemaker_region, whole_number
    from smgha.resources.names import sagemaker_name

    backend = choice("backend", arguments.backend, ("sagemaker", "local"))
    sagemaker_name("name", arguments.name)
    if arguments.if_serving:
        sagemaker_name("if-serving", arguments.if_serving)
    env = os.environ
    region = arguments.region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION", "")
    if backend == "sagemaker":
        known_sagemaker_region(region)
    elif region:  # the local backend's ARNs carry it
        aws_region("region", region)
    minutes = whole_number("timeout-minutes", arguments.timeout_minutes, 1, MAX_TIMEOUT_MINUTES)
    return backend, region or "us-east-1", minutes * 60


def run(arguments: argparse.Namespace, stdout: TextIO) -> int:
    try:
        backend_name, region, timeout = _checked(arguments)
    except InputError as error:
        stdout.write(f"error: {error.message}\n")
        return 2
    from smgha.backends import backend, price_list_search
    from smgha.endpoint_removal import remove, render
    from smgha.resources.price_list import prices_for
    from smgha.runner import Runner

    # Credentials renewed during the wait are logged and masked on this process's stdout,
    # where the runner reads commands (as `smgha registry` does).
    runner = Runner(env={}, stdout=stdout)
    hosting = backend(backend_name, region, log=runner.info, mask=runner.set_secret).hosting
    try:
        removal = remove(
            hosting,
            arguments.name,
            arguments.if_serving,
            runner.info,
            time.sleep,
            time.monotonic,
            timeout,
        )
    except StageError as error:
        stdout.write(f"error: {error}\n")
        return 1
    prices = prices_for(
        arguments.price_table,
        lambda: price_list_search(backend_name, region, log=runner.info, mask=runner.set_secret),
    )
    markdown = render(removal, backend_name, prices, region)
    stdout.write(markdown)
    if removal.outcome == "kept":
        runner.notice(f"Endpoint {arguments.name} not removed: {removal.reason}")
    if arguments.summary:
        try:
            Runner(env={"GITHUB_STEP_SUMMARY": arguments.summary}).summary.raw(markdown).write()
        except StageError as error:
            stdout.write(f"error: {error}\n")
            return 1
    if os.environ.get("GITHUB_OUTPUT"):
        Runner(env={"GITHUB_OUTPUT": os.environ["GITHUB_OUTPUT"]}).set_output(
            OUTCOME_OUTPUT, removal.outcome
        )
    return 0
