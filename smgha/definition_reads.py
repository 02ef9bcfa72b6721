"""What a pipeline definition's build read: recorded while it runs, checked later.

The definition cache (smgha.definition_cache) reuses a definition while nothing its build
read has changed. An audit hook (PEP 578; events "open", "os.listdir", "os.scandir") records
while a build runs:

- every file opened for reading outside the Python installation (the definition module and
  the workspace modules it imports, the scripts the SDK uploads, config files), kept as its
  content hash or as absent; a file the build itself wrote is its output, not an input;
- every folder under the workspace listed (the import system's search of a package, a
  source_dir the SDK packs; the workspace's import roots on sys.path, always), kept as its
  names;

and, after the build, the file of every module loaded from outside the installation, and the
config files the SDK and botocore test with os.path.exists/isfile before opening (no event
when absent). The installation's own files are covered by the cache's key (the Python
version, the distributions' versions), not hashed one by one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import site
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# What a build reads there (/proc/stat) is the machine's state, not an input of it.
PSEUDO_FILE_SYSTEMS = ("/proc/", "/sys/", "/dev/")


class BuildReads:
    """The files and directories a build read (the audit hook fills it while it runs)."""

    def __init__(self, workspace: Path) -> None:
        self.workspace = str(workspace.resolve()) + os.sep
        self.installation = installation_folders()
        self.files: dict[str, None] = dict.fromkeys(config_files())  # an ordered set
        self.directories: dict[str, None] = {}
        self.written: set[str] = set()
        # (modification time, size) of each file when the build opened it: a file saved
        # while the build ran may hold what the build did not read.
        self.opened: dict[str, tuple[int, int] | None] = {}
        # The import system lists a sys.path folder once per process and keeps the names,
        # so whether the build's imports list it depends on what was imported before: the
        # workspace's import roots are recorded always (a new module there may shadow one).
        for entry in sys.path:
            self.saw("os.listdir", (entry or ".",))

    def saw(self, event: str, args: tuple[Any, ...]) -> None:
        target = args[0]
        if isinstance(target, int):  # a file descriptor: the event names no path
            return
        path = os.path.abspath(os.fsdecode(target if target is not None else "."))
        if event == "open":
            mode = args[1]
            if mode is None:  # os.open: `path` may be relative to a dir_fd it does not name
                return
            if any(letter in mode for letter in "wax+"):
                self.written.add(path)  # what the build writes is its output, not an input
            elif path not in self.written and self._is_input(path):
                self.files.setdefault(path)
                self.opened.setdefault(path, _stat(path))
        elif (path + os.sep).startswith(self.workspace) and not self._is_installed(path):
            self.directories.setdefault(path)

    def add_module_files(self) -> None:
        """The file of every module loaded from outside the installation: one imported
        before the build (a long-running process) opened nothing while it ran."""
        for module in list(sys.modules.values()):
            path = getattr(module, "__file__", None)
            if isinstance(path, str) and self._is_input(os.path.abspath(path)):
                self.files.setdefault(os.path.abspath(path))

    def changed_while_built(self) -> str:
        """A file the build read that has changed since it opened it ('' when none)."""
        return next((path for path, opened in self.opened.items() if _stat(path) != opened), "")

    def _is_input(self, path: str) -> bool:
        # A .pyc is a cache of its .py (recorded), rewritten whenever Python likes.
        return (
            not path.endswith(".pyc")
            and not path.startswith(PSEUDO_FILE_SYSTEMS)
            and not self._is_installed(path)
        )

    def _is_installed(self, path: str) -> bool:
        return path.startswith(self.installation)


def installation_folders() -> tuple[str, ...]:
    """Where the interpreter and the installed distributions live: their files are covered by
    the key (the Python version, the distributions' versions), not hashed one by one. A venv
    inside the workspace is installation too; an editable install's source folder is not."""
    folders = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    folders.update(site.getsitepackages() if hasattr(site, "getsitepackages") else [])
    folders.add(site.getusersitepackages())
    return tuple(os.path.join(os.path.abspath(folder), "") for folder in folders)


def config_files() -> list[str]:
    """Config files read only when they exist, so the audit hook cannot see one appear.
    The SDK's: platformdirs' site and user config folders, sagemaker/config.yaml
    (sagemaker/core/config/config.py, sagemaker-core 2.27.0, _load_config_from_file checks
    os.path.exists first); botocore's: AWS_CONFIG_FILE or ~/.aws/config, and
    AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials (botocore/configprovider.py;
    configloader.raw_config_parse checks os.path.isfile first)."""
    paths = [
        os.environ.get("AWS_CONFIG_FILE", "~/.aws/config"),
        os.environ.get("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials"),
    ]
    try:
        from platformdirs import site_config_dir, user_config_dir
    except ImportError:  # no platformdirs, no SDK: nothing reads its config
        pass
    else:
        paths += [
            os.path.join(site_config_dir("sagemaker"), "config.yaml"),
            os.path.join(user_config_dir("sagemaker"), "config.yaml"),
        ]
    return [os.path.abspath(os.path.expanduser(path)) for path in paths]


# The build being recorded. An audit hook cannot be removed (PEP 578), so the one hook this
# module installs does nothing while no build is recorded.
_recording: BuildReads | None = None
_hook_installed = False
_EVENTS = ("open", "os.listdir", "os.scandir")


def _audit(event: str, args: tuple[Any, ...]) -> None:
    reads = _recording
    if reads is not None and event in _EVENTS:
        reads.saw(event, args)


@contextlib.contextmanager
def recorded_reads(workspace: Path) -> Iterator[BuildReads]:
    """Within the block, what the process opens and lists is recorded in the yielded reads."""
    global _recording, _hook_installed
    if not _hook_installed:
        sys.addaudithook(_audit)
        _hook_installed = True
    _recording = reads = BuildReads(workspace)
    try:
        yield reads
    finally:
        _recording = None


def _stat(path: str) -> tuple[int, int] | None:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_mtime_ns, status.st_size


def file_state(path: str) -> str | None:
    """The content hash of the file at `path`; None when there is none."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as error:  # a folder, a file it may not read: compared as a state too
        return f"unreadable ({error.strerror})"


def folder_state(path: str) -> list[str] | None:
    """The sorted names in the folder at `path`; None when there is none."""
    try:
        return sorted(os.listdir(path))
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as error:
        return [f"unreadable ({error.strerror})"]
