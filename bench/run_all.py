"""Run every benchmark in sequence and print one Markdown section for the README.

Each benchmark runs as its own process (its tables go to bench/results/<name>.json; its
progress lines pass through on stderr). At the end this prints the combined section, with
the machine it ran on, and saves it as bench/results/run_all.md.

    .venv/bin/python bench/run_all.py [name ...]     # default: all, in the order below
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time

import _common as c

# Cheapest first; install_size, cold_install and fresh_clone_demo download from the
# package index and take minutes. peer_servers installs its peers (about 3 GB) on its first
# run, untimed.
BENCHMARKS = (
    "import_time",
    "runner_overhead",
    "local_build",
    "multi_instance",
    "review_overhead",
    "endpoint_throughput",
    "peer_servers",
    "script_endpoint",
    "serverless_local",
    "batch_local",
    "async_local",
    "soak_endpoint",
    "smoke_load",
    "toolkit_cache",
    "install_size",
    "cold_install",
    "fresh_clone_demo",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", metavar="name", help=", ".join(BENCHMARKS))
    args = parser.parse_args()
    names = args.names or list(BENCHMARKS)
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {', '.join(BENCHMARKS)}")

    machine = c.machine_info()  # before the benchmarks load the machine themselves
    sections, durations = [], {}
    for name in names:
        c.progress(f"=== {name}")
        started = time.perf_counter()
        completed = subprocess.run(
            [c.PYTHON, str(c.REPO_ROOT / "bench" / f"{name}.py")],
            cwd=c.REPO_ROOT,
            stdout=subprocess.PIPE,  # the tables are printed once, below
            text=True,
        )
        durations[name] = time.perf_counter() - started
        if completed.returncode != 0:
            sections.append(f"### {name}\n\n**Failed** (exit code {completed.returncode}).")
            continue
        result = json.loads((c.RESULTS_DIR / f"{name}.json").read_text())
        sections.append(result["markdown"])

    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items())
    header = "\n".join(
        [
            "## Benchmarks",
            "",
            f"Measured {c.machine_line(machine)}; {machine['platform']}; {versions}. "
            "A shared machine: each figure is the median of repeated runs with (min–max). "
            "Reproduce with `.venv/bin/python bench/run_all.py` (see `bench/README.md`).",
        ]
    )
    text = "\n\n".join([header, *sections]) + "\n"
    (c.RESULTS_DIR / "run_all.md").write_text(text, encoding="utf-8")
    print(text)
    c.progress(
        "done: " + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in durations.items())
    )


if __name__ == "__main__":
    main()
