"""A cache of the pipeline definitions a 'module:function' builds (issue 16).

Building from SDK code costs the SDK's import (~5 s) and the build (~0.9 s). While nothing
that shapes the definition changes, the JSON and the S3 objects the build uploaded (the same
keys, the same bytes) are reused without importing the SDK.

What shapes a definition, and how each is checked:

- the call (the entry's key): the definition source, the workspace, the arguments, the
  working directory, the interpreter, the installed distributions (names and versions read
  from the *.dist-info / *.egg-info folder names on sys.path: the SDK's version among them,
  without importing it) and the environment variables the SDK, botocore or Python read
  (ENVIRONMENT_PREFIXES / ENVIRONMENT_NAMES; values are hashed, never stored);
- what the build read (smgha.definition_reads): the files (by content) and the workspace
  folders (by names) it opened or listed, the files of the modules loaded, config files.

A lookup recomputes all of it (milliseconds, no SDK import) and names the first difference.
Not seen, so not covered: a file outside definition_reads.config_files tested with os.stat
or os.path.exists and never opened (no audit event), a file read through os.open (its path
may be relative to a directory descriptor the event does not name), an environment variable
outside the listed ones that the consumer's own code reads, and a module that changed on
disk after a long-running process imported it. SMGHA_DEFINITION_CACHE=false builds every
time.

Entries live in the state folder (cache_folder: <state>/definition-cache/<key>.json), the
newest MAX_ENTRIES kept.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from smgha.definition_reads import BuildReads, file_state, folder_state, recorded_reads
from smgha.errors import InputError

SWITCH_ENV = "SMGHA_DEFINITION_CACHE"
FORMAT = 1  # bump when an entry's layout or what the key covers changes
MAX_ENTRIES = 16

# Environment variables that shape a build. botocore reads AWS_* and BOTO* (region, profile,
# config and credentials files, endpoints: botocore/configprovider.py, 1.44.8); the SDK reads
# SAGEMAKER_* (its config overrides, SAGEMAKER_VALIDATE_ROLE), SM_*, CONDA_*, RFT_*,
# TRAINING_* and the names below (together, every os.environ/os.getenv name in sagemaker
# 3.27.0's sagemaker/ package); Python reads PYTHON* (PYTHONPATH changes what imports); HOME
# and XDG_CONFIG_* place the config files. Not a recording of every read: botocore's proxy
# look-up reads the whole environment (SHLVL, OLDPWD...), and every shell would miss.
_PREFIXES = "AWS_ BOTO SAGEMAKER_ SM_ PYTHON XDG_CONFIG_ CONDA_ RFT_ TRAINING_"
ENVIRONMENT_PREFIXES = tuple(_PREFIXES.split())
_SDK_NAMES = (
    "LOCAL_PYTHON MODEL_CLASS_NAME MLFLOW_MODEL_FLAVOR TRITON_MODEL_DIR SPARK_HOME DOCKER_HOST "
    "JPY_PARENT_PID LOG_LEVEL USE_SHORT_LIVED_CREDENTIALS REMOTE_FUNCTION_SECRET_KEY"
)
ENVIRONMENT_NAMES = ("HOME", *_SDK_NAMES.split())

Build = Callable[[], tuple[dict[str, Any], dict[str, bytes]]]


def definition_or_cached(
    source: str,
    workspace: Path,
    arguments: Mapping[str, Any],
    build: Build,
    log: Callable[[str], None],
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The definition and uploads `build()` gives, from the cache when nothing that shapes
    them changed since a build with the same key; logs which it was, and why."""
    if not cache_enabled():
        started = time.perf_counter()
        built = build()
        log(
            f"Definition: built in {time.perf_counter() - started:.1f} s (cache off: {SWITCH_ENV}=false)"
        )
        return built
    call = call_inputs(source, workspace, arguments)
    key = key_of(call)
    folder = cache_folder()
    cached, why = lookup(folder, key, call, workspace)
    if cached is not None:
        log(f"Definition: cached (key {key[:12]})")
        return cached
    started = time.perf_counter()
    with recorded_reads(workspace) as reads:
        definition, uploads = build()
    seconds = time.perf_counter() - started
    reads.add_module_files()
    changed = reads.changed_while_built()
    if changed:
        log(f"Definition cache: not saved ({changed} changed while the definition was built)")
    else:
        try:
            store(folder, key, call, reads, definition, uploads)
        except (OSError, TypeError, ValueError) as error:  # a full disk; a value JSON cannot hold
            log(f"Definition cache: not saved ({error}); the next build builds it again")
    log(f"Definition: built in {seconds:.1f} s (cache miss: {why})")
    return definition, uploads


def cache_enabled() -> bool:
    from smgha.runner import BOOLEAN_FALSE, BOOLEAN_TRUE

    value = os.environ.get(SWITCH_ENV, "")
    if value in BOOLEAN_FALSE:
        return False
    if not value or value in BOOLEAN_TRUE:
        return True
    raise InputError(
        SWITCH_ENV,
        f"(an environment variable) is {value!r}, not a boolean",
        f"Set it to false to build the definition every time, or true (the default); "
        f"supported: {' | '.join(BOOLEAN_TRUE + BOOLEAN_FALSE)}.",
    )


def cache_folder() -> Path:
    """In the state folder ($SMGHA_STATE_DIR), on either backend: a test's or a job's state
    folder holds its own cache."""
    from smgha.backends.local.state import Layout, state_dir  # not at import: local imports stages

    return Layout(state_dir()).definition_cache


# ---- the key: the call, the interpreter, the installation, the environment ------------------


def call_inputs(source: str, workspace: Path, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """Everything a lookup knows before building, as JSON values (the key is their hash)."""
    return {
        "format": FORMAT,
        "definition": source,
        "workspace": str(workspace.resolve()),
        "arguments": {name: _json_value(value) for name, value in sorted(arguments.items())},
        "installed": installed_distributions(),
        "python": f"{sys.version} ({sys.executable})",
        "environment": environment_fingerprint(),
        "working directory": os.getcwd(),
    }


def key_of(call: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(call, sort_keys=True).encode()).hexdigest()


def _json_value(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)


def installed_distributions() -> dict[str, str]:
    """{name: version} of the distributions on sys.path, from their metadata folders' names
    (PEP 427: {name}-{version}.dist-info): one listing per sys.path folder, 1-10 ms, where
    reading every distribution's metadata takes ~200 ms (measured, 181 distributions)."""
    found: dict[str, str] = {}
    for entry in sys.path:
        try:
            names = sorted(os.listdir(entry or "."))
        except OSError:  # a zip file, a folder that does not exist
            continue
        for name in names:
            stem, dot, suffix = name.rpartition(".")
            if dot and suffix in ("dist-info", "egg-info"):
                distribution, _, version = stem.partition("-")
                found.setdefault(distribution.lower().replace("-", "_"), version)
    return found


def environment_fingerprint() -> dict[str, str]:
    """{name: hash of the value} of the environment variables that shape a build."""
    return {
        name: hashlib.sha256(value.encode()).hexdigest()[:16]
        for name, value in sorted(os.environ.items())
        if name.startswith(ENVIRONMENT_PREFIXES) or name in ENVIRONMENT_NAMES
    }


# ---- entries ---------------------------------------------------------------------------------


def store(
    folder: Path,
    key: str,
    call: Mapping[str, Any],
    reads: BuildReads,
    definition: dict[str, Any],
    uploads: Mapping[str, bytes],
) -> None:
    """Write the entry for `key` atomically (a reader sees the old entry or the new one,
    never half of one), then keep the newest MAX_ENTRIES."""
    # Created first: a state folder inside the workspace is then in the listing recorded.
    folder.mkdir(parents=True, exist_ok=True)
    entry = {
        "call": call,
        "files": {path: file_state(path) for path in reads.files},
        "directories": {path: folder_state(path) for path in reads.directories},
        "definition": definition,
        "uploads": {uri: base64.b64encode(body).decode("ascii") for uri, body in uploads.items()},
    }
    handle, temporary = tempfile.mkstemp(prefix=f".{key[:12]}-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(entry, file)
        os.replace(temporary, folder / f"{key}.json")
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    for stale in _entries_newest_first(folder)[MAX_ENTRIES:]:
        with contextlib.suppress(OSError):
            stale.unlink()


def _entries_newest_first(folder: Path) -> list[Path]:
    def modified(path: Path) -> float:
        try:
            return path.stat().st_mtime
        except OSError:  # removed by another build meanwhile
            return 0.0

    return sorted(folder.glob("*.json"), key=modified, reverse=True)


def lookup(
    folder: Path, key: str, call: Mapping[str, Any], workspace: Path
) -> tuple[tuple[dict[str, Any], dict[str, bytes]] | None, str]:
    """(definition, uploads) of the entry for `key` when what its build read is unchanged,
    else None and why (the first difference, or why the entry could not be used)."""
    path = folder / f"{key}.json"
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
        files, directories = dict(entry["files"]), dict(entry["directories"])
        definition = entry["definition"]
        uploads = {
            uri: base64.b64decode(body, validate=True) for uri, body in entry["uploads"].items()
        }
        if not isinstance(definition, dict) or entry["call"] != call:
            raise ValueError("it does not hold a definition for this key")
    except FileNotFoundError:
        return None, _why_no_entry(folder, call, workspace)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        # Unreadable or corrupt (a disk full, an edit, a format of another version): a miss,
        # never a failure; the build that follows replaces it.
        return None, f"the cache entry {path} is unreadable ({type(error).__name__}: {error})"
    changed = _first_change(files, directories, workspace)
    if changed:
        return None, changed
    with contextlib.suppress(OSError):
        os.utime(path)  # a hit counts as recent: pruning drops the least recently used
    return (definition, uploads), ""


def _first_change(files: Mapping[str, Any], directories: Mapping[str, Any], workspace: Path) -> str:
    for path, recorded in files.items():
        now = file_state(path)
        if now != recorded:
            what = "was removed" if now is None else "appeared" if recorded is None else "changed"
            return f"{_shown(path, workspace)} {what}"
    for path, listed in directories.items():
        names = folder_state(path)
        if names != listed:
            added = sorted(set(names or []) - set(listed or []))
            removed = sorted(set(listed or []) - set(names or []))
            change = ", ".join(
                [f"{name} added" for name in added] + [f"{name} removed" for name in removed]
            )
            return f"the folder {_shown(path, workspace)}/ changed ({change or 'listing'})"
    return ""


def _shown(path: str, workspace: Path) -> str:
    """A path relative to the workspace when it is in it."""
    try:
        return str(Path(path).relative_to(workspace.resolve())) or "."
    except ValueError:
        return path


def _why_no_entry(folder: Path, call: Mapping[str, Any], workspace: Path) -> str:
    """What differs from the newest entry of the same definition source (else the newest)."""
    calls = []
    for path in _entries_newest_first(folder) if folder.is_dir() else []:
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            calls.append(dict(json.loads(path.read_text(encoding="utf-8"))["call"]))
    if not calls:
        return "no cached definition yet"
    same_source = [c for c in calls if c.get("definition") == call["definition"]]
    return "; ".join(_call_changes((same_source or calls)[0], call))[:500] or "a new key"


def _call_changes(before: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """The differences between two calls, the first one first (at most a few)."""
    changes: list[str] = []
    if before.get("definition") != now["definition"]:
        changes.append(f"the definition source changed (was {before.get('definition')!r})")
    for part in ("workspace", "working directory", "python", "format"):
        if before.get(part) != now[part]:
            changes.append(f"the {part} changed (was {before.get(part)!r})")
    for label, part in (("argument", "arguments"), ("package", "installed")):
        old, new = before.get(part) or {}, now[part]
        for name in sorted(set(old) | set(new)):
            if old.get(name) != new.get(name):
                changes.append(f"{label} {name} changed ({old.get(name)!r} -> {new.get(name)!r})")
    old_environment, environment = before.get("environment") or {}, now["environment"]
    for name in sorted(set(old_environment) | set(environment)):
        if old_environment.get(name) != environment.get(name):
            changes.append(f"environment variable {name} changed")
    return changes[:3]
