"""Run a processing script as if it were inside a SageMaker container.

Usage: python container_boot.py <container_root> <script.py> [args...]

Processing scripts read and write container paths such as `/opt/ml/processing/input`. Here
those paths live under `<container_root>`; the job runner already rewrote the arguments it
passes, and this bootstrap redirects the Python file APIs (open, os, pathlib, glob, shutil,
tarfile) for paths a script spells out itself. Native code that opens a path given to it
directly (e.g. `xgboost.Booster.load_model("/opt/ml/...")`) is not redirected: read the bytes
in Python, or take the path from the arguments. Standard library only; it runs before the
script imports anything.
"""

from __future__ import annotations

import builtins
import io
import os
import runpy
import sys

CONTAINER_PREFIX = "/opt/ml"


def install(root: str) -> None:
    """Redirect `/opt/ml/...` to `<root>/opt/ml/...` for the os and open functions."""

    def remap(path):
        if isinstance(path, int):  # a file descriptor
            return path
        text = os.fspath(path)
        if isinstance(text, bytes):
            prefix = CONTAINER_PREFIX.encode()
            if text == prefix or text.startswith(prefix + b"/"):
                return os.fsencode(root) + text
            return text
        if text == CONTAINER_PREFIX or text.startswith(CONTAINER_PREFIX + "/"):
            return root + text
        return path

    def wrap_one(function):
        def wrapper(path, *args, **kwargs):
            return function(remap(path), *args, **kwargs)

        wrapper.__wrapped__ = function
        return wrapper

    def wrap_two(function):
        def wrapper(source, target, *args, **kwargs):
            return function(remap(source), remap(target), *args, **kwargs)

        wrapper.__wrapped__ = function
        return wrapper

    builtins.open = io.open = wrap_one(io.open)
    for name in (
        "open", "stat", "lstat", "listdir", "scandir", "mkdir", "rmdir", "remove", "unlink",
        "chdir", "access", "chmod", "utime", "readlink", "truncate",
    ):  # fmt: skip
        if hasattr(os, name):
            setattr(os, name, wrap_one(getattr(os, name)))
    for name in ("rename", "replace", "link", "symlink"):
        setattr(os, name, wrap_two(getattr(os, name)))


def remap_arguments(root: str, arguments: list[str]) -> list[str]:
    """Container paths in arguments, including `--flag=/opt/ml/...`, become host paths."""
    result = []
    for argument in arguments:
        flag, equals, value = argument.partition("=")
        if equals and value.startswith(CONTAINER_PREFIX):
            result.append(f"{flag}={root}{value}")
        elif argument.startswith(CONTAINER_PREFIX):
            result.append(root + argument)
        else:
            result.append(argument)
    return result


def main() -> None:
    root, script, *arguments = sys.argv[1:]
    install(root)
    sys.argv = [script, *arguments]
    # sys.path[0] is this file's folder; the script's own folder must take its place so the
    # script imports its neighbours (as in the container) and never ours.
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
