"""Benchmark: a job's toolkit install, from nothing versus restored from the cache.

What the root action does in a job, for the core toolkit (extras '') and with the SDK
(`sdk`), measured with scripts/install-toolkit.sh itself:

  * first job: install-toolkit.sh into an empty SMGHA_VENV, uv with no cache
    (UV_NO_CACHE=1: a fresh GitHub-hosted runner has none), then `tar -c` of the venv
    (what actions/cache/save archives);
  * later job: the venv removed, `tar -x` of the archive (what actions/cache/restore does),
    then install-toolkit.sh again, which finds the marker and installs nothing.

actions/cache also compresses (zstd) and moves the archive over the network; neither is
measured here (the archive size is reported). Medians of --repeat runs; temp folders are
removed.

    .venv/bin/python bench/toolkit_cache.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import _common as c

SCRIPT = c.REPO_ROOT / "scripts" / "install-toolkit.sh"
EXTRAS = {"core": "", "sdk": "sdk"}


def one_round(extras: str, folder: Path, uv_folder: str) -> dict[str, float]:
    venv, archive = folder / "venv", folder / "venv.tar"
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")},
        "SMGHA_VENV": str(venv),
        "UV_NO_CACHE": "1",
        "PATH": f"{uv_folder}{os.pathsep}{os.environ['PATH']}",
    }
    env.pop("GITHUB_ENV", None)
    command = ["bash", str(SCRIPT), str(c.REPO_ROOT), extras]
    install, _ = c.timed_run(command, env=env, timeout=900)
    save, _ = c.timed_run(["tar", "-cf", str(archive), "-C", str(venv), "."])
    shutil.rmtree(venv)
    venv.mkdir()
    restore, _ = c.timed_run(["tar", "-xf", str(archive), "-C", str(venv)])
    reuse, completed = c.timed_run(command, env=env)
    assert "reusing the toolkit" in completed.stderr, completed.stderr
    return {
        "install_seconds": install,
        "save_seconds": save,
        "restore_seconds": restore + reuse,
        "archive_mib": archive.stat().st_size / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    uv = c.find_uv()
    if uv is None:
        raise SystemExit("uv is needed (make test installs it into .venv)")
    runs: dict[str, list[dict[str, float]]] = {}
    rows = []
    for name, extras in EXTRAS.items():
        runs[name] = []
        for number in range(args.repeat):
            c.progress(f"{name}: round {number + 1} of {args.repeat}")
            with tempfile.TemporaryDirectory(prefix="smgha-bench-cache-") as tmp:
                runs[name].append(one_round(extras, Path(tmp), str(Path(uv).parent)))
        stats = {key: c.summary([r[key] for r in runs[name]]) for key in runs[name][0]}
        first = stats["install_seconds"]["median"] + stats["save_seconds"]["median"]
        later = stats["restore_seconds"]["median"]
        rows.append(
            [
                f"`{extras or 'none'}`",
                c.fmt_seconds(stats["install_seconds"], 1),
                c.fmt_seconds(stats["save_seconds"], 1),
                c.fmt_seconds(stats["restore_seconds"], 1),
                f"{stats['archive_mib']['median']:.0f} MiB",
                f"{first / later:.0f}×",
            ]
        )
    result: dict[str, Any] = {"runs": runs, "repeat": args.repeat}
    markdown = "\n".join(
        [
            "### The toolkit in a job: installed versus restored from the cache",
            "",
            c.markdown_table(
                [
                    "Extras",
                    "First job: install",
                    "+ archive",
                    "Later job: restore + check",
                    "Archive",
                    "Ratio",
                ],
                rows,
            ),
            "",
            "install-toolkit.sh with uv and no uv cache (a fresh runner), then tar of the venv; "
            "a later job untars it and the script finds its marker. actions/cache's compression "
            "and transfer are not included.",
        ]
    )
    c.write_result("toolkit_cache", result, markdown)


if __name__ == "__main__":
    main()
