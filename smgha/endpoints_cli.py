"""`smgha endpoints list|stop`: the local backend's endpoint servers, which outlive a stage.
`smgha endpoints idle-report`: a region's idle SageMaker endpoints (smgha/idle_report_cli.py).
`smgha endpoints remove`: one endpoint deleted, its config kept (smgha/endpoint_removal_cli.py)."""

from __future__ import annotations

import argparse
import json
import os
from typing import TextIO


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "endpoints",
        help="List or stop the local backend's endpoints (their servers run in the "
        "background); report idle SageMaker endpoints; remove one, keeping its config.",
    )
    commands = parser.add_subparsers(dest="endpoints_command", required=True, metavar="COMMAND")
    listing = commands.add_parser(
        "list",
        help="Every local endpoint: status (from its server process and /ping), config, "
        "server pid and port, and why a Failed one failed.",
    )
    listing.add_argument(
        "--json",
        action="store_true",
        help='Print {"StateFolder": ..., "Endpoints": [{EndpointName, EndpointStatus, '
        "EndpointConfigName, FailureReason, Pid, Port}]} for scripts.",
    )
    stop = commands.add_parser("stop", help="Stop endpoint servers and forget the endpoints.")
    stop.add_argument("names", nargs="*", help="Endpoint names (default: none; see --all).")
    stop.add_argument("--all", action="store_true", help="Stop every local endpoint.")
    from smgha import endpoint_removal_cli, idle_report_cli

    idle_report_cli.add_parser(commands)
    endpoint_removal_cli.add_parser(commands)


# The commands with a module of their own (each with run(arguments, stdout)).
OWN_MODULES = {
    "idle-report": "smgha.idle_report_cli",
    "idle-issue": "smgha.idle_report_cli",
    "remove": "smgha.endpoint_removal_cli",
}


def run(arguments: argparse.Namespace, stdout: TextIO) -> int:
    if arguments.endpoints_command in OWN_MODULES:
        import importlib

        module = importlib.import_module(OWN_MODULES[arguments.endpoints_command])
        return int(module.run(arguments, stdout))
    from smgha.backends.local import LocalBackend, state

    local = LocalBackend(region=os.environ.get("AWS_REGION", "us-east-1"))
    folder = local.layout.endpoints
    names = (
        sorted(p.name for p in folder.iterdir() if (p / state.ENDPOINT_FILE).exists())
        if folder.is_dir()
        else []
    )
    if arguments.endpoints_command == "list":
        if not names and not arguments.json:
            stdout.write(f"no local endpoints under {local.root}\n")
            return 0
        rows = [["endpoint", "status", "config", "pid", "port"]]
        reasons = []
        listed = []
        for name in names:
            # describe_endpoint asks the server process and its /ping, not only the file.
            record = local.hosting.describe_endpoint(name) or {}
            server = state.read_json_if_exists(local.hosting.folder(name) / state.SERVER_FILE) or {}
            listed.append(
                {
                    "EndpointName": name,
                    "EndpointStatus": record.get("EndpointStatus"),
                    "EndpointConfigName": record.get("EndpointConfigName"),
                    "FailureReason": record.get("FailureReason", ""),
                    "Pid": server.get("pid"),
                    "Port": server.get("port"),
                }
            )
            rows.append(
                [
                    name,
                    record.get("EndpointStatus", "?"),
                    record.get("EndpointConfigName", "?"),
                    str(server.get("pid", "–")),
                    str(server.get("port", "–")),
                ]
            )
            if record.get("EndpointStatus") == "Failed" or record.get("FailureReason"):
                reasons.append(f"{name}: {record.get('FailureReason') or 'no reason given'}")
        if arguments.json:
            document = {"StateFolder": str(local.root), "Endpoints": listed}
            stdout.write(json.dumps(document, indent=2) + "\n")
            return 0
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        stdout.write(
            "\n".join(
                "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                for row in rows
            )
            + "\n"
        )
        if reasons:
            stdout.write("\n" + "\n".join(reasons) + "\n")
        return 0
    if arguments.all and not names:  # stopping nothing is done, not an error: run it twice
        stdout.write(f"no local endpoints under {local.root}: nothing to stop\n")
        return 0
    targets = names if arguments.all else arguments.names
    unknown = sorted(set(targets) - set(names))
    if unknown or not targets:
        stdout.write(
            f"error: no local endpoint {', '.join(unknown)}\n"
            if unknown
            else "error: name endpoints, or pass --all\n"
        )
        return 1
    for name in targets:
        local.hosting.delete_endpoint(name)
        stdout.write(f"stopped {name}\n")
    return 0
