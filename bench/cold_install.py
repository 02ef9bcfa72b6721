"""Benchmark: a cold job's toolkit install on a GitHub-hosted-like runner, pip versus uv.

What a job pays on a cache miss, measured with scripts/install-toolkit.sh itself. As on a
GitHub-hosted runner: no uv on PATH, empty pip and uv caches (fresh PIP_CACHE_DIR and
UV_CACHE_DIR), a fresh RUNNER_TEMP (the venv and the bootstrapped uv live there), and
packages from PyPI alone (PIP_CONFIG_FILE=/dev/null and UV_NO_CONFIG=1: this machine's pip
configuration, which adds local indexes, is ignored). For the core toolkit (extras '') and
with the SDK (`sdk`), two installers:

  * pip: SMGHA_INSTALLER=pip, what the script does when it has no uv (the old path);
  * uv:  the default, which first installs uv from PyPI with the base python's pip into
         RUNNER_TEMP/smgha-uv and then installs the toolkit with it (the new path);
  * uv-compile: the same with UV_COMPILE_BYTECODE=1, so the venv (and what the cache keeps
         of it) has the bytecode pip would have compiled (a possible next step).

Reported: the script's wall time (the time to a ready toolkit), of which the uv bootstrap
(whole seconds, from the script's log), the venv's size as actions/cache would archive it
(`du -sk`, right after the install), and the first import of what a stage loads (boto3,
PyYAML and the stage module; with `sdk`, also the SDK's pipeline module), since pip
byte-compiles at install time and uv, by default, leaves that to the first import. Each
round runs the installers back to back, reversing their order every other round; medians of
--repeat rounds. Every install is bounded by --timeout; temp folders are removed.

    .venv/bin/python bench/cold_install.py [--repeat 2] [--timeout 600] [--extras core,sdk]
        [--installers pip,uv,uv-compile]
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

SCRIPT = c.REPO_ROOT / "scripts" / "install-toolkit.sh"
EXTRAS = {"core": "", "sdk": "sdk"}
INSTALLERS = ("pip", "uv", "uv-compile")
STAGE_IMPORTS = "import boto3, yaml, smgha.stages.build_pipeline"
SDK_IMPORT = "import sagemaker.mlops.workflow.pipeline"
BOOTSTRAP_LOG = re.compile(r"installed (uv [^ ]+) .* into .* in (\d+)s")


def path_without_uv() -> str:
    """This PATH minus every folder holding a uv (the project's .venv/bin among them)."""
    folders = os.environ.get("PATH", "").split(os.pathsep)
    return os.pathsep.join(f for f in folders if f and not os.access(Path(f) / "uv", os.X_OK))


def job_env(folder: Path, installer: str) -> dict[str, str]:
    """A hosted runner's step environment: nothing of this machine's pip, uv or job."""
    dropped = ("PIP_", "UV_", "GITHUB_", "RUNNER_", "SMGHA_", "VIRTUAL_ENV", "PYTHONPATH")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    (folder / "runner-temp").mkdir()
    env.update(
        PATH=path_without_uv(),
        PIP_CONFIG_FILE=os.devnull,
        PIP_CACHE_DIR=str(folder / "pip-cache"),
        UV_CACHE_DIR=str(folder / "uv-cache"),
        UV_NO_CONFIG="1",
        RUNNER_TEMP=str(folder / "runner-temp"),
        SMGHA_INSTALLER="pip" if installer == "pip" else "auto",
        **({"UV_COMPILE_BYTECODE": "1"} if installer == "uv-compile" else {}),
        AWS_DEFAULT_REGION="us-east-1",  # importing the SDK creates a boto3 client
    )
    return env


def kib(path: Path) -> int:
    completed = subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True, check=True)
    return int(completed.stdout.split()[0])


def one_install(extras: str, installer: str, timeout: float) -> dict[str, Any]:
    """install-toolkit.sh into a fresh RUNNER_TEMP, then the first import of a stage."""
    with tempfile.TemporaryDirectory(prefix="smgha-bench-cold-") as tmp:
        folder = Path(tmp)
        env = job_env(folder, installer)
        command = ["bash", str(SCRIPT), str(c.REPO_ROOT), extras]
        try:
            seconds, completed = c.timed_run(command, env=env, cwd=folder, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"installer": installer, "timed_out": True, "timeout": timeout}
        python = completed.stdout.strip()
        used = re.search(r"installed in \d+s with (\w+)", completed.stderr)
        expected = installer.split("-")[0]
        assert used and used.group(1) == expected, completed.stderr  # no silent fallback
        bootstrap = BOOTSTRAP_LOG.search(completed.stderr)
        venv = Path(python).parent.parent
        size_kib = kib(venv)
        code = STAGE_IMPORTS + (f"; {SDK_IMPORT}" if extras == "sdk" else "")
        first_import, _ = c.timed_run([python, "-I", "-c", code], env=env, cwd=folder)
        return {
            "installer": installer,
            "timed_out": False,
            "install_seconds": seconds,
            "uv": bootstrap.group(1) if bootstrap else None,
            "bootstrap_seconds": float(bootstrap.group(2)) if bootstrap else 0.0,
            "first_import_seconds": first_import,
            "venv_mib": size_kib / 1024,
            "log": completed.stderr[-2000:],
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds, per install")
    parser.add_argument("--extras", default="core,sdk", help="comma separated: core, sdk")
    parser.add_argument("--installers", default=",".join(INSTALLERS), help="comma separated")
    args = parser.parse_args()
    names = [name for name in args.extras.split(",") if name]
    installers = tuple(name for name in INSTALLERS if name in args.installers.split(","))
    unknown = sorted(set(names) - set(EXTRAS)) + sorted(
        set(args.installers.split(",")) - set(INSTALLERS)
    )
    if unknown:
        parser.error(f"unknown {unknown}; extras: core, sdk; installers: {', '.join(INSTALLERS)}")

    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        name: {installer: [] for installer in installers} for name in names
    }
    for number in range(args.repeat):
        order = installers if number % 2 == 0 else installers[::-1]
        for name in names:
            for installer in order:
                c.progress(f"round {number + 1} of {args.repeat}: {name} with {installer}")
                run = one_install(EXTRAS[name], installer, args.timeout)
                c.progress(
                    "  timed out"
                    if run["timed_out"]
                    else f"  {run['install_seconds']:.1f} s, {run['venv_mib']:.0f} MiB"
                )
                runs[name][installer].append(run)

    rows, stats_out = [], {}
    for name in names:
        ready: dict[str, float] = {}  # install + first import, medians
        for installer in installers:
            label = f"`{EXTRAS[name] or 'none'}`"
            done = [r for r in runs[name][installer] if not r["timed_out"]]
            if not done:
                rows.append([label, installer, f"timed out ({args.timeout:.0f} s)", "", "", "", ""])
                continue
            stats = {
                key: c.summary([r[key] for r in done])
                for key in ("install_seconds", "bootstrap_seconds", "first_import_seconds")
            }
            stats["venv_mib"] = c.summary([r["venv_mib"] for r in done])
            stats_out[f"{name}/{installer}"] = stats
            ready[installer] = (
                stats["install_seconds"]["median"] + stats["first_import_seconds"]["median"]
            )
            is_uv = installer != "pip"
            name_shown = {
                "pip": "pip",
                "uv": f"{done[0]['uv']}, bootstrapped",
                "uv-compile": f"{done[0]['uv']}, bootstrapped, UV_COMPILE_BYTECODE=1",
            }[installer]
            rows.append(
                [
                    label,
                    name_shown,
                    c.fmt_seconds(stats["install_seconds"], 1),
                    f"{stats['bootstrap_seconds']['median']:.0f} s" if is_uv else "–",
                    c.fmt_seconds(stats["first_import_seconds"], 1),
                    f"{stats['venv_mib']['median']:.0f} MiB",
                    f"{ready['pip'] / ready[installer]:.1f}× faster"
                    if is_uv and "pip" in ready
                    else "",
                ]
            )
    result: dict[str, Any] = {"runs": runs, "stats": stats_out, "repeat": args.repeat}
    headers = [
        "Extras",
        "Installer",
        "Ready toolkit (install)",
        "of which uv bootstrap",
        "First import",
        "Venv",
        "Install + import, vs pip",
    ]
    markdown = "\n".join(
        [
            "### A cold job's toolkit install: pip versus uv bootstrapped by the script",
            "",
            c.markdown_table(headers, rows),
            "",
            "scripts/install-toolkit.sh as on a GitHub-hosted runner on a cache miss: no uv on "
            "PATH, empty pip and uv caches, a fresh RUNNER_TEMP, PyPI only. pip: "
            "SMGHA_INSTALLER=pip; uv: the default, uv installed first with pip into "
            "RUNNER_TEMP (UV_COMPILE_BYTECODE=1: uv also byte-compiles). First import: boto3, "
            "PyYAML and the stage module (with `sdk`, the SDK's pipeline module too); without "
            "bytecode in the venv it includes compiling it.",
        ]
    )
    c.write_result("cold_install", result, markdown)


if __name__ == "__main__":
    main()
