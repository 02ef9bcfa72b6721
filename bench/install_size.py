"""Benchmark: install time and size of the stages' runtime versus the SageMaker SDK.

Dependency sets, read from pyproject.toml:

  * base: [project] dependencies (boto3, PyYAML): all a non-SDK stage needs;
  * sdk:  the `sdk` extra (sagemaker>=3.20): needed only to build a definition from SDK code;
  * local: the `local` extra (the local backend's ML: xgboost-cpu, pandas, scikit-learn);
  * local-full-xgboost: the same with the full `xgboost` package instead of `xgboost-cpu`
    (what the extra asked for before: its CUDA build and NVIDIA's NCCL), for comparison;
  * demo: what `make demo` installs besides the package itself (the base dependencies and the
    `local` and `sdk` extras).

For each set, into a fresh virtualenv in a temp folder, with no cache:

  * `uv venv` + `uv pip install --python <venv>/bin/python --no-cache <deps>` (median of
    --uv-repeat, a fresh venv each time);
  * `python -m venv` + `pip install --no-cache-dir <deps>` (once: pip is slow on the SDK).

Reported: install wall time, size of site-packages (`du -sk`, after; and what the install
added), and how many distributions the install added (`*.dist-info` folders). Both
installers download from their configured indexes (uv: PyPI; pip: this machine's pip
configuration, recorded in the JSON). uv does not byte-compile by default and pip does,
which accounts for part of the size difference. Temp folders are removed.

    .venv/bin/python bench/install_size.py [--uv-repeat 2] [--pip-timeout 300]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import _common as c
import tomllib

PY_VERSION = f"python{sys.version_info.major}.{sys.version_info.minor}"


def dependency_sets() -> dict[str, list[str]]:
    """The requirement lists, as pyproject.toml declares them (see the module docstring)."""
    project = tomllib.loads((c.REPO_ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    full = [
        "xgboost>=2" if r.startswith("xgboost-cpu") else r
        for r in extras["local"]
        if not r.startswith("xgboost>=")
    ]
    return {
        "base": project["dependencies"],
        "sdk": extras["sdk"],
        "local": extras["local"],
        "local-full-xgboost": full,
        "demo": [*project["dependencies"], *extras["local"], *extras["sdk"]],
    }


def install_env() -> dict[str, str]:
    """This environment without the virtualenv's own markers (the target is explicit)."""
    return {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}


def site_packages(venv: Path) -> Path:
    return venv / "lib" / PY_VERSION / "site-packages"


def measure(venv: Path) -> tuple[int, int]:
    """(KiB on disk, number of distributions) of the venv's site-packages."""
    folder = site_packages(venv)
    kib = int(subprocess.run(["du", "-sk", str(folder)], capture_output=True, text=True,
                             check=True).stdout.split()[0])  # fmt: skip
    return kib, len(list(folder.glob("*.dist-info")))


def one_install(installer: str, deps: list[str], uv: str | None, timeout: float) -> dict[str, Any]:
    """Create a venv and install `deps` into it with `installer` ('uv' or 'pip')."""
    with tempfile.TemporaryDirectory(prefix="smgha-bench-install-") as tmp:
        venv = Path(tmp) / "venv"
        python = str(venv / "bin" / "python")
        if installer == "uv":
            assert uv is not None
            create = [uv, "venv", "--quiet", "--python", c.PYTHON, str(venv)]
            # As make demo and install-toolkit.sh install with uv: without what the SDK declares
            # but a definition build never imports (sdk-excludes.txt). pip has no such option.
            excludes = ["--excludes", str(c.REPO_ROOT / "sdk-excludes.txt")]
            install = [uv, "pip", "install", "--python", python, "--no-cache", *excludes, *deps]
        else:
            create = [c.PYTHON, "-m", "venv", str(venv)]
            install = [python, "-m", "pip", "install", "--quiet", "--no-cache-dir", *deps]
        create_seconds, _completed = c.timed_run(create, env=install_env())
        before_kib, before_dists = measure(venv)
        version_command = [uv, "--version"] if installer == "uv" else [python, "-m", "pip", "-V"]
        version = c.timed_run(version_command, env=install_env())[1].stdout.split(" from ")[0]
        try:
            install_seconds, _completed = c.timed_run(install, env=install_env(), timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"installer": installer, "timed_out": True, "timeout": timeout}
        after_kib, after_dists = measure(venv)
    return {
        "installer": installer,
        "version": version.strip(),
        "timed_out": False,
        "create_seconds": create_seconds,
        "install_seconds": install_seconds,
        "site_packages_mib": after_kib / 1024,
        "added_mib": (after_kib - before_kib) / 1024,
        "distributions_added": after_dists - before_dists,
        "distributions_before": before_dists,
    }


def pip_configuration() -> str:
    """Where pip looks for packages on this machine (`pip config list`, PIP_* included).

    The base interpreter's pip reads the same configuration as a fresh venv's."""
    completed = subprocess.run(
        [sys.base_prefix + "/bin/python3", "-m", "pip", "config", "list"],
        capture_output=True,
        text=True,
    )
    return completed.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uv-repeat", type=int, default=2)
    parser.add_argument("--pip-timeout", type=float, default=300.0)
    parser.add_argument("--sets", default="", help="comma separated set names (default: all)")
    parser.add_argument("--no-pip", action="store_true", help="measure uv only")
    args = parser.parse_args()

    uv = c.find_uv()
    sets = dependency_sets()
    if args.sets:
        sets = {name: sets[name] for name in args.sets.split(",")}
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {name: {} for name in sets}

    if uv:
        for index in range(args.uv_repeat):
            for name, deps in sets.items():
                c.progress(f"uv {index + 1}/{args.uv_repeat}: {name} {deps}")
                runs[name].setdefault("uv", []).append(one_install("uv", deps, uv, 600))
    else:
        c.progress("uv not found: skipping the uv installs")
    for name, deps in sets.items() if not args.no_pip else ():
        c.progress(f"pip: {name} {deps}")
        runs[name]["pip"] = [one_install("pip", deps, uv, args.pip_timeout)]

    def installer_version(installer: str) -> str | None:
        versions = [
            r["version"] for by in runs.values() for r in by.get(installer, []) if "version" in r
        ]
        return versions[0] if versions else None

    uv_version, pip_version = installer_version("uv"), installer_version("pip")

    summaries: dict[str, dict[str, Any]] = {}
    rows = []
    for name, by_installer in runs.items():
        summaries[name] = {}
        for installer, results in by_installer.items():
            done = [r for r in results if not r["timed_out"]]
            if not done:
                summaries[name][installer] = {"timed_out": True}
                rows.append(
                    [
                        f"{name}: `{' '.join(sets[name])}`",
                        installer,
                        f"timed out (> {args.pip_timeout:.0f} s)",
                        "",
                        "",
                        "",
                    ]
                )
                continue
            summary = {
                "install_seconds": c.summary([r["install_seconds"] for r in done]),
                "create_seconds": c.summary([r["create_seconds"] for r in done]),
                "site_packages_mib": done[-1]["site_packages_mib"],
                "added_mib": done[-1]["added_mib"],
                "distributions_added": done[-1]["distributions_added"],
            }
            summaries[name][installer] = summary
            rows.append(
                [
                    f"{name}: `{' '.join(sets[name])}`",
                    f"{installer} ({len(done)}×)",
                    c.fmt_seconds(summary["install_seconds"], 1),
                    c.fmt_seconds(summary["create_seconds"], 2),
                    f"{summary['added_mib']:.0f} MiB",
                    str(summary["distributions_added"]),
                ]
            )

    result: dict[str, Any] = {
        "dependency_sets": sets,
        "uv": uv,
        "uv_version": uv_version,
        "pip_version": pip_version,
        "pip_configuration": pip_configuration(),
        "summaries": summaries,
        "runs": runs,
    }

    notes = []
    base_uv, sdk_uv = summaries.get("base", {}).get("uv"), summaries.get("sdk", {}).get("uv")
    if base_uv and sdk_uv:
        notes.append(
            f"With uv the SDK takes {sdk_uv['install_seconds']['median'] / base_uv['install_seconds']['median']:.0f}× "
            f"as long to install and {sdk_uv['added_mib'] / base_uv['added_mib']:.0f}× the disk "
            f"({sdk_uv['distributions_added']} vs {base_uv['distributions_added']} distributions)."
        )
    cpu_uv = summaries.get("local", {}).get("uv")
    full_uv = summaries.get("local-full-xgboost", {}).get("uv")
    if cpu_uv and full_uv:
        notes.append(
            f"The local extra with xgboost-cpu adds {cpu_uv['added_mib']:.0f} MiB, with the full "
            f"xgboost {full_uv['added_mib']:.0f} MiB."
        )
    notes.append(
        f"{uv_version or 'uv: not found'}; "
        f"{pip_version or ('pip: not run' if args.no_pip else 'pip: timed out')} (pip byte-compiles, uv does not by "
        "default). Fresh venvs, no cache; downloads from the installers' configured indexes."
    )
    markdown = "\n".join(
        [
            "### Install time and size: stage runtime vs SageMaker SDK",
            "",
            c.markdown_table(
                [
                    "Dependencies",
                    "Installer",
                    "Install time",
                    "venv creation",
                    "Installed size",
                    "Distributions",
                ],
                rows,
            ),
            "",
            " ".join(notes),
        ]
    )
    c.write_result("install_size", result, markdown)


if __name__ == "__main__":
    main()
