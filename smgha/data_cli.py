"""`smgha data put FILE s3://bucket/key`: put a file into the local backend's S3.

The local backend keeps S3 as files under its state folder (`<state>/s3/<bucket>/<key>`,
docs/local-state.md); a pipeline reads its data from there. This is how data gets in, as
`aws s3 cp FILE s3://...` does on AWS.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TextIO

from smgha.s3_names import s3_uri_problem

EXAMPLE_URI = "s3://smgha-local/churn/data/churn.csv"


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "data", help="Put files into the local backend's S3 (files under its state folder)."
    )
    commands = parser.add_subparsers(dest="data_command", required=True, metavar="COMMAND")
    put = commands.add_parser(
        "put",
        help="Copy a file to an s3:// URI of the local backend.",
        description=(
            "Copy FILE to URI in the local backend's S3, under the state folder "
            "($SMGHA_STATE_DIR, default ~/.local/state/smgha). A URI ending in / is a prefix: "
            f"the file keeps its name under it. E.g. smgha data put churn.csv {EXAMPLE_URI}"
        ),
    )
    put.add_argument("file", metavar="FILE", help="The file to copy.")
    put.add_argument("uri", metavar="URI", help=f"Where it goes, e.g. {EXAMPLE_URI}.")


def run(arguments: argparse.Namespace, stdout: TextIO) -> int:
    from smgha.backends.local import LocalBackend

    source = Path(arguments.file)
    if not source.is_file():
        kind = "a folder" if source.is_dir() else "not a file"
        stdout.write(f"error: FILE {str(source)!r} is {kind}; give the path of one file\n")
        return 1
    uri = arguments.uri + source.name if arguments.uri.endswith("/") else arguments.uri
    problem = s3_uri_problem(uri)
    if not problem and not uri.removeprefix("s3://").partition("/")[2]:
        problem = "it names no object key"
    if problem:
        stdout.write(f"error: URI {uri!r}: {problem}. Give s3://bucket/key, e.g. {EXAMPLE_URI}\n")
        return 1
    local = LocalBackend(region=os.environ.get("AWS_REGION", "us-east-1"))
    body = source.read_bytes()
    try:
        local.objects.put_object(uri, body)
    except OSError as error:  # e.g. the key is a prefix of other keys: a folder on disk
        stdout.write(f"error: cannot write {uri} under {local.objects.root}: {error.strerror}\n")
        return 1
    stdout.write(f"wrote {len(body):,} bytes to {uri} ({local.objects.path(uri)})\n")
    return 0
