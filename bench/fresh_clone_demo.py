"""Benchmark: `make demo` on a fresh clone, with an empty package cache and with a warm one.

What a newcomer pays, from `git clone` to the demo's last line. The repository's HEAD is
cloned into a temp folder twice:

  * cold: empty uv and pip caches (fresh UV_CACHE_DIR and PIP_CACHE_DIR): every package is
    downloaded from the index;
  * warm: a second fresh clone, reusing the cache the cold clone filled (as on a machine
    that installed it once before).

In each clone: `make .venv/.demo-installed` (the install: a venv, uv, the package with its
`local` and `sdk` extras), then `make demo` twice (the first run trains the champion; the
second, with nothing left to install, trains a challenger against it). Reported: the wall
time of each, the venv's size (`du -sk`) and the demo's own "Done in" figure. Each clone's
endpoints and warm worker are stopped (`smgha endpoints stop --all`, `smgha warm-worker stop`)
and the temp folders removed, even on
failure. Every command is bounded by --timeout.

    .venv/bin/python bench/fresh_clone_demo.py [--timeout 900]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import _common as c

DONE_LINE = re.compile(r"Done in (\d+)s")


def du_mib(path: Path) -> float:
    completed = subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True)
    return int(completed.stdout.split()[0]) / 1024


def one_clone(root: Path, env: dict[str, str], timeout: float) -> dict[str, Any]:
    """Clone, install, run the demo twice; the timings."""
    clone = root / "clone"
    subprocess.run(
        ["git", "clone", "--quiet", str(c.REPO_ROOT), str(clone)], check=True, timeout=timeout
    )
    result: dict[str, Any] = {}
    try:
        install, _ = c.timed_run(
            ["make", ".venv/.demo-installed"], cwd=clone, env=env, timeout=timeout
        )
        result["install_seconds"] = install
        result["venv_mib"] = du_mib(clone / ".venv")
        for run in ("first", "second"):
            elapsed, completed = c.timed_run(["make", "demo"], cwd=clone, env=env, timeout=timeout)
            done = DONE_LINE.findall(completed.stdout)
            result[f"{run}_demo_seconds"] = elapsed
            result[f"{run}_demo_reported"] = int(done[-1]) if done else None
            result[f"{run}_demo_lines"] = len(completed.stdout.splitlines())
    finally:
        smgha = clone / ".venv" / "bin" / "smgha"
        for stop in (["endpoints", "stop", "--all"], ["warm-worker", "stop"]):
            if smgha.exists():
                subprocess.run(
                    [str(smgha), *stop],
                    cwd=clone,
                    env={**env, "SMGHA_STATE_DIR": str(clone / ".smgha")},
                    capture_output=True,
                    timeout=120,
                )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()

    runs: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="smgha-bench-fresh-demo-") as tmp:
        caches = Path(tmp) / "caches"
        env = {
            **os.environ,
            "UV_CACHE_DIR": str(caches / "uv"),
            "PIP_CACHE_DIR": str(caches / "pip"),
        }
        env.pop("VIRTUAL_ENV", None)
        env.pop("SMGHA_STATE_DIR", None)  # the demo's default: the clone's .smgha
        for mode in ("cold", "warm"):
            c.progress(f"{mode} package cache: clone, install, demo twice")
            clone_root = Path(tmp) / mode
            clone_root.mkdir()
            runs[mode] = one_clone(clone_root, env, args.timeout)

    rows = [
        [
            mode,
            c.fmt_seconds(run["install_seconds"], 1),
            f"{run['venv_mib']:.0f} MiB",
            c.fmt_seconds(run["first_demo_seconds"], 1),
            c.fmt_seconds(run["second_demo_seconds"], 1),
            run["second_demo_lines"],
            c.fmt_seconds(run["install_seconds"] + run["first_demo_seconds"], 1),
        ]
        for mode, run in runs.items()
    ]
    markdown = "\n\n".join(
        [
            "### `make demo` on a fresh clone",
            c.markdown_table(
                [
                    "Package cache",
                    "Install",
                    "Venv",
                    "First demo",
                    "Second demo",
                    "Lines (second)",
                    "Clone to first result",
                ],
                rows,
            ),
            "A fresh `git clone` of HEAD; install: `make .venv/.demo-installed` (venv, uv, the "
            "package with its local and sdk extras); then `make demo` twice (the second run "
            "trains a challenger against the first run's champion). Cold: empty uv and pip "
            "caches, every package downloaded; warm: a second clone reusing that cache.",
        ]
    )
    c.write_result("fresh_clone_demo", {"runs": runs}, markdown)


if __name__ == "__main__":
    main()
