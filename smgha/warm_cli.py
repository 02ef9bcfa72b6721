"""`smgha warm-worker status|stop`: the local backend's warm worker, which outlives a stage
(docs/local-state.md, "Steps forked from a warm worker")."""

from __future__ import annotations

import argparse
from typing import TextIO


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "warm-worker",
        help="Show or stop the local backend's warm worker (the process local steps fork from).",
    )
    commands = parser.add_subparsers(dest="warm_command", required=True, metavar="COMMAND")
    commands.add_parser("status", help="Whether the state folder's warm worker runs, and its pid.")
    commands.add_parser("stop", help="Stop the warm worker and any step it runs.")


def run(arguments: argparse.Namespace, stdout: TextIO) -> int:
    from smgha.backends.local import state, warm

    root = state.state_dir()
    if arguments.warm_command == "status":
        pid = warm.running_pid(root)
        stdout.write(
            f"warm worker {pid} runs under {root}\n" if pid else f"no warm worker under {root}\n"
        )
        return 0
    stopped = warm.stop(root)
    stdout.write(  # stopping nothing is done, not an error: run it twice
        f"stopped warm worker {stopped}\n"
        if stopped
        else f"no warm worker under {root}: nothing to stop\n"
    )
    return 0
