"""`smgha registry list|describe|find`: read a model package group the way the gate sees it."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any, TextIO

from smgha.backends import BACKENDS, backend
from smgha.resources.customer_metadata import read_lineage
from smgha.runner import Runner

# Metrics shown in the list, in this order when present; others follow.
PREFERRED_METRICS = ("accuracy", "auc", "f1", "precision", "recall", "rmse", "mse", "r2")


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "registry", help="List a model package group's versions, or describe one."
    )
    commands = parser.add_subparsers(dest="registry_command", required=True, metavar="COMMAND")
    listing = commands.add_parser(
        "list", help="Versions with status, metrics and lineage, newest first."
    )
    listing.add_argument("--group", required=True, help="Model package group name.")
    listing.add_argument("--limit", type=int, default=20, help="How many versions (default: 20).")
    listing.add_argument(
        "--json",
        action="store_true",
        help="Print the versions as a JSON array (each with its decoded lineage) for scripts.",
    )
    describe = commands.add_parser(
        "describe", help="One version: status, approval description, metrics, lineage."
    )
    describe.add_argument("--model-package-arn", required=True, help="The package's ARN.")
    describe.add_argument("--json", action="store_true", help="Print the whole record as JSON.")
    # The deploy template's check of a dispatched ARN (model-approved), before any change.
    describe.add_argument("--require-group", default="", help="Fail unless it is of this group.")
    describe.add_argument(
        "--require-status", default="", choices=["", "Approved"], help="Fail unless it has it."
    )
    find = commands.add_parser(
        "find",
        help="Print the ARN of the newest version built from a commit (nothing when none is).",
        description=(
            "Print the ARN of the newest version of GROUP that register-and-gate recorded as "
            "built from --git-sha (its smgha:git-sha lineage), optionally only with --status. "
            "Prints nothing (exit 0) when no version matches: the deploy template's resolve "
            "job after a build."
        ),
    )
    find.add_argument("--group", required=True, help="Model package group name.")
    find.add_argument("--git-sha", required=True, help="The full commit sha of the build.")
    find.add_argument(
        "--status",
        default="",
        choices=["", "Approved", "PendingManualApproval", "Rejected"],
        help="Only versions with this approval status (default: any).",
    )
    find.add_argument(
        "--limit", type=int, default=20, help="How many of the newest versions to look at."
    )
    find.add_argument(
        "--output-file",
        default="",
        help=(
            "Also write the ARN (or nothing) to this file. In a workflow step, read it from "
            "there rather than capturing stdout: the toolkit writes runner commands (masks of "
            "refreshed credentials) to stdout."
        ),
    )
    for command in (listing, describe, find):
        command.add_argument(
            "--backend", choices=BACKENDS, default="sagemaker", help="default: sagemaker"
        )
        command.add_argument(
            "--region", default="", help="AWS region (default: AWS_REGION, else us-east-1)."
        )


def run(arguments: argparse.Namespace, stdout: TextIO) -> int:
    import os

    region = (
        arguments.region
        or os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or "us-east-1"
    )
    # Credentials renewed while it reads (smgha/aws_session.py) are logged and masked the
    # way a stage does it: on this process's stdout, where the runner reads commands.
    runner = Runner(env={})
    chosen = backend(arguments.backend, region, log=runner.info, mask=runner.set_secret)
    registry = chosen.registry
    if arguments.registry_command == "list":
        if registry.describe_model_package_group(arguments.group) is None:
            stdout.write(
                f"error: there is no model package group {arguments.group!r} "
                f"({_where(arguments.backend, region, chosen)})\n"
            )
            return 1
        records = registry.list_model_packages(arguments.group, limit=arguments.limit)
        stdout.write(
            json.dumps([{**r, "Lineage": _metadata(r)} for r in records], indent=2, default=str)
            + "\n"
            if arguments.json
            else render_list(arguments.group, records)
        )
        return 0
    if arguments.registry_command == "find":
        return _find(chosen, arguments, region, stdout)
    record = registry.describe_model_package(arguments.model_package_arn)
    if record is None:
        stdout.write(f"error: there is no model package {arguments.model_package_arn}\n")
        return 1
    refused = required_problem(record, arguments.require_group, arguments.require_status)
    if refused:
        stdout.write(f"error: {refused}\n")
        return 1
    stdout.write(
        json.dumps(record, indent=2, sort_keys=True, default=str) + "\n"
        if arguments.json
        else render_record(record)
    )
    return 0


def required_problem(record: dict[str, Any], group: str, status: str) -> str:
    """Why `record` is not a version of `group` with approval `status` (either empty: not
    asked), or "" when it is."""
    arn = record.get("ModelPackageArn", "?")
    if group and record.get("ModelPackageGroupName") != group:
        return (f"model package {arn} is of group {record.get('ModelPackageGroupName')!r}, "
                f"not {group!r}: nothing of another group is deployed here")  # fmt: skip
    if status and record.get("ModelApprovalStatus") != status:
        return (f"model package {arn} is {record.get('ModelApprovalStatus')}, not {status} "
                "(its approval changed since the event was sent): approve it again to deploy it")  # fmt: skip
    return ""


GIT_SHA = re.compile(r"[0-9a-f]{40}")


def _find(chosen: Any, arguments: argparse.Namespace, region: str, stdout: TextIO) -> int:
    registry = chosen.registry
    if not GIT_SHA.fullmatch(arguments.git_sha):
        stdout.write(
            f"error: --git-sha {arguments.git_sha!r} is not a full commit sha (40 lowercase hex "
            "characters); pass e.g. github.event.workflow_run.head_sha\n"
        )
        return 1
    if registry.describe_model_package_group(arguments.group) is None:
        stdout.write(
            f"error: there is no model package group {arguments.group!r} "
            f"({_where(arguments.backend, region, chosen)})\n"
        )
        return 1
    records = registry.list_model_packages(
        arguments.group, approval_status=arguments.status or None, limit=arguments.limit
    )
    found = next(
        (r["ModelPackageArn"] for r in records if _metadata(r).get("git-sha") == arguments.git_sha),
        "",
    )  # records are newest first
    if arguments.output_file:
        Path(arguments.output_file).write_text(found)
    if found:
        stdout.write(f"{found}\n")
    return 0


def _where(backend_name: str, region: str, chosen: Any) -> str:
    """Where the registry was looked up: the local backend's state folder is named, since
    the CLI and the demo may use different ones ($SMGHA_STATE_DIR)."""
    if backend_name == "local":
        return (
            f"local backend, state folder {chosen.root}; set SMGHA_STATE_DIR to the folder "
            "the pipeline ran with, e.g. SMGHA_STATE_DIR=.smgha after `smgha demo`"
        )
    return f"{backend_name}, {region}"


def _metadata(record: dict[str, Any]) -> dict[str, str]:
    """The lineage register-and-gate recorded on the package, decoded (it is stored encoded
    to fit SageMaker's rule for metadata: see customer_metadata.storable_lineage)."""
    return read_lineage(record.get("CustomerMetadataProperties"))


def _metric_names(records: list[dict[str, Any]]) -> list[str]:
    names = {
        k.removeprefix("metric:") for r in records for k in _metadata(r) if k.startswith("metric:")
    }
    ordered = [m for m in PREFERRED_METRICS if m in names]
    return ordered + sorted(names - set(ordered))


def render_list(group: str, records: list[dict[str, Any]]) -> str:
    if not records:
        return f"{group}: no versions yet\n"
    metrics = _metric_names(records)[:4]
    header = ["version", "status", "created", *metrics, "gate", "commit"]
    rows = []
    for record in records:
        meta = _metadata(record)
        rows.append([
            str(record.get("ModelPackageVersion", "")),
            str(record.get("ModelApprovalStatus", "")),
            str(record.get("CreationTime", ""))[:19].replace("T", " "),
            *[meta.get(f"metric:{m}", "–") for m in metrics],
            meta.get("gate", "–"),
            meta.get("git-sha", "")[:8] or "–",
        ])  # fmt: skip
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [header, *rows]
    ]
    return f"{group}: {len(records)} version(s), newest first\n" + "\n".join(lines) + "\n"


def render_record(record: dict[str, Any]) -> str:
    meta = _metadata(record)
    container = ((record.get("InferenceSpecification") or {}).get("Containers") or [{}])[0]
    lines = [
        f"{record.get('ModelPackageArn')}",
        f"  group:       {record.get('ModelPackageGroupName')} (version {record.get('ModelPackageVersion')})",
        f"  status:      {record.get('ModelApprovalStatus')}",
        f"  description: {record.get('ApprovalDescription', '–')}",
        f"  created:     {record.get('CreationTime')}",
        f"  image:       {container.get('Image', '–')}",
        f"  model data:  {container.get('ModelDataUrl', '–')}",
        "  metrics:     "
        + (
            ", ".join(
                f"{k.removeprefix('metric:')}={v}"
                for k, v in meta.items()
                if k.startswith("metric:")
            )
            or "–"
        ),
        "  lineage:",
    ]
    lines += [
        f"    {key}: {value}" for key, value in meta.items() if not key.startswith("metric:")
    ] or ["    –"]
    return "\n".join(lines) + "\n"
