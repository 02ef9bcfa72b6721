"""S3 on disk: `s3://bucket/key` is the file `<state>/s3/bucket/key`.

Object semantics that matter to pipelines are kept: a URI is a key prefix, so
`s3://b/data` selects `data/x.csv` and `data.csv` alike, as S3Prefix inputs do in SageMaker.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from smgha.backends.local import state
from smgha.errors import StageError
from smgha.s3_names import s3_uri_problem


class S3UriError(ValueError):
    """An S3 URI the local backend refuses; the message says which rule it breaks."""


class LocalS3:
    """S3 on disk: the Objects area of the local backend, and what its jobs, executor and
    deployer read and write."""

    def __init__(self, root: Path) -> None:
        self.root = root

    # -- the Objects area -----------------------------------------------------------------

    def put_object(self, uri: str, body: bytes) -> None:
        try:
            self.put_bytes(uri, body)
        except S3UriError as error:  # a URI S3 would refuse, or one leaving local S3
            raise StageError("PutObject failed", str(error)) from None

    def missing_objects(self, uris: list[str]) -> list[str]:
        missing = []
        for uri in uris:
            try:
                present = self.path(uri).is_file()
            except S3UriError:  # a URI no object can have
                present = False
            if not present:
                missing.append(uri)
        return missing

    def read_object(self, uri: str) -> bytes:
        """The bytes of the object at an s3:// URI (on local S3)."""
        try:
            return self.path(uri).read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            raise StageError("GetObject failed", f"NoSuchKey: no object at {uri}") from None
        except ValueError as error:
            raise StageError("GetObject failed", str(error)) from None

    def read_json(self, uri: str) -> Any:
        try:
            path = self.path(uri)
        except S3UriError as error:  # a URI S3 would refuse, or one leaving local S3
            raise StageError("Reading S3 failed", str(error)) from None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise StageError("Reading S3 failed", f"NoSuchKey: no object at {uri}") from None
        except ValueError as error:
            raise StageError("Reading S3 failed", f"{uri} is not JSON: {error}") from None

    # -- files behind URIs ----------------------------------------------------------------

    def path(self, uri: str) -> Path:
        """The file or folder behind `s3://bucket/key`, always inside the root folder.

        S3UriError for anything else: another scheme, a bucket name S3 refuses, a key that
        would leave its bucket's folder (checked again on the resolved path, so a symbolic
        link inside the state folder cannot lead out of it either)."""
        problem = s3_uri_problem(uri)
        if problem:
            raise S3UriError(f"{uri!r}: {problem}")
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        target = self.root / bucket / key.lstrip("/")
        root = self.root.resolve()
        if not target.resolve().is_relative_to(root):
            raise S3UriError(f"{uri!r} leads outside the local S3 folder {root}")
        return target

    def readable(self, uri: str) -> Path:
        """The file or folder a job input names: an `s3://` URI as `path()` does, or a local
        file (a plain path or `file://`), which the local backend also reads so that a pull
        request's pipeline can train on data in the workspace (the model-validate-pr
        template's InputDataUrl). A local file must resolve, symbolic links included, inside
        the workspace (GITHUB_WORKSPACE, else the current folder) or the state folder: only
        reading is allowed outside S3, never writing."""
        if uri.startswith("s3://"):
            return self.path(uri)
        if "://" in uri and not uri.startswith("file://"):
            raise S3UriError(f"{uri!r}: the local backend reads s3://, file:// or plain paths")
        local = Path(uri.removeprefix("file://"))
        workspace = Path(os.environ.get("GITHUB_WORKSPACE") or os.getcwd()).resolve()
        state_folder = self.root.parent.resolve()
        resolved = local.resolve()
        if not (resolved.is_relative_to(workspace) or resolved.is_relative_to(state_folder)):
            raise S3UriError(
                f"{uri!r} is outside the workspace {workspace} and the state folder "
                f"{state_folder}: the local backend reads local files from those only"
            )
        return local

    def objects(self, uri: str) -> list[tuple[Path, str]]:
        """Every object whose key starts with the URI's key, as (file, key relative to it)."""
        base = self.readable(uri)
        if base.is_file():
            return [(base, base.name)]
        found: list[tuple[Path, str]] = []
        if base.is_dir():
            found += [(f, str(f.relative_to(base))) for f in sorted(base.rglob("*")) if f.is_file()]
        # Sibling files that share the prefix, e.g. prefix `data/churn` matches `churn.csv`
        # (a prefix ending in `/` names a folder and matches nothing beside it).
        parent = base.parent
        if parent.is_dir() and base.name and not uri.endswith("/"):
            for sibling in sorted(parent.glob(base.name + "?*")):
                if sibling.is_file():
                    found.append((sibling, sibling.name))
        return found

    def list_objects(self, prefix: str) -> list[str]:
        """The s3:// URIs of the objects under the folder `prefix` (ends with '/'), sorted."""
        folder = prefix if prefix.endswith("/") else prefix + "/"
        return [folder + key for _, key in self.objects(folder)]

    def download(self, uri: str, dest: Path) -> int:
        """Copy the objects under `uri` into folder `dest`; return how many."""
        dest.mkdir(parents=True, exist_ok=True)
        count = 0
        for source, relative in self.objects(uri):
            state.write_bytes_atomic(dest / relative, source.read_bytes())
            count += 1
        return count

    def upload_dir(self, source: Path, uri: str) -> int:
        """Copy every file below folder `source` to keys under `uri`; return how many."""
        dest = self.path(uri)
        count = 0
        for file in sorted(source.rglob("*")):
            if file.is_file():
                state.write_bytes_atomic(dest / file.relative_to(source), file.read_bytes())
                count += 1
        return count

    def put_bytes(self, uri: str, body: bytes) -> Path:
        target = self.path(uri)
        state.write_bytes_atomic(target, body)
        return target
