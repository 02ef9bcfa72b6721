"""S3 on disk: `s3://bucket/key` is the file `<state>/s3/bucket/key`.

Object semantics that matter to pipelines are kept: a URI is a key prefix, so
`s3://b/data` selects `data/x.csv` and `data.csv` alike, as S3Prefix inputs do in SageMaker.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import urlparse


class LocalS3:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, uri: str) -> Path:
        """The file or folder behind `s3://bucket/key` (`file://` and plain paths pass through)."""
        parsed = urlparse(uri)
        if parsed.scheme == "s3":
            if not parsed.netloc:
                raise ValueError(f"{uri!r} names no bucket")
            return self.root / parsed.netloc / parsed.path.lstrip("/")
        if parsed.scheme == "file":
            return Path(parsed.path)
        if parsed.scheme == "":
            return Path(uri)
        raise ValueError(f"{uri!r}: the local backend reads s3://, file:// or plain paths")

    def objects(self, uri: str) -> list[tuple[Path, str]]:
        """Every object whose key starts with the URI's key, as (file, key relative to it)."""
        base = self.path(uri)
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

    def download(self, uri: str, dest: Path) -> int:
        """Copy the objects under `uri` into folder `dest`; return how many."""
        dest.mkdir(parents=True, exist_ok=True)
        count = 0
        for source, relative in self.objects(uri):
            target = dest / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
            count += 1
        return count

    def upload_dir(self, source: Path, uri: str) -> int:
        """Copy every file below folder `source` to keys under `uri`; return how many."""
        dest = self.path(uri)
        count = 0
        for file in sorted(source.rglob("*")):
            if file.is_file():
                target = dest / file.relative_to(source)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(file, target)
                count += 1
        return count

    def put_bytes(self, uri: str, body: bytes) -> Path:
        target = self.path(uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)
        return target
