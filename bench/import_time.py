"""Benchmark: how fast a stage entrypoint starts without the SageMaker SDK.

Measured, each in fresh interpreters (interleaved, median of --repeat):

  * `python -c pass`                               the interpreter alone (baseline);
  * `python -c "import smgha.stages.build_pipeline"` the stage module; minus the baseline
                                                   it is the stage's import time;
  * `python -m smgha.stages.build_pipeline` with bad inputs (INPUT_BACKEND=bogus): the time
    to the first error, i.e. what a misconfigured workflow step costs before it fails;
  * `python -c "import sagemaker.mlops.workflow.pipeline"` the SDK, for comparison
    (median of --sdk-repeat; it takes seconds).

`python -X importtime` lists the stage's top-level imports over 10 ms, and the self time
per root package of both imports; a separate run checks sys.modules for boto3, botocore,
sagemaker and yaml after importing the stage. Goal: under 0.5 s.

    .venv/bin/python bench/import_time.py [--repeat 10] [--sdk-repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
from collections import defaultdict
from typing import Any

import _common as c

STAGE_MODULE = "smgha.stages.build_pipeline"
SDK_MODULE = "sagemaker.mlops.workflow.pipeline"
HEAVY_PACKAGES = ("boto3", "botocore", "sagemaker", "yaml")
GOAL = 0.5  # seconds
TOP_LEVEL_THRESHOLD = 0.010  # seconds: list top-level imports slower than this


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without GitHub Actions or INPUT_* variables, plus `extra`.

    AWS_DEFAULT_REGION is set because importing the SDK creates a boto3 client."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "RUNNER_"))
    }
    env["AWS_DEFAULT_REGION"] = "us-east-1"
    env.update(extra)
    return env


def parse_importtime(stderr: str) -> list[dict[str, Any]]:
    """Rows of `-X importtime` output: module, depth, self and cumulative seconds.

    A row reads `import time: <self us> | <cumulative us> | <2 spaces per depth><name>`."""
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "imported package" in line:
            continue
        self_us, cumulative_us, name_field = line.removeprefix("import time:").split("|")
        name_field = name_field[1:]  # the one space after the bar
        depth = (len(name_field) - len(name_field.lstrip(" "))) // 2
        rows.append(
            {
                "module": name_field.strip(),
                "depth": depth,
                "self": int(self_us) / 1e6,
                "cumulative": int(cumulative_us) / 1e6,
            }
        )
    return rows


def self_time_by_package(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Summed self time per root package (`sagemaker.core.shapes` -> `sagemaker`)."""
    totals: dict[str, float] = defaultdict(float)
    for row in rows:
        totals[row["module"].split(".")[0]] += row["self"]
    return dict(sorted(totals.items(), key=lambda item: -item[1]))


def importtime_profile(code: str) -> list[dict[str, Any]]:
    """The -X importtime rows of running `code` (one warm run; start-up imports included)."""
    _elapsed, completed = c.timed_run(
        [c.PYTHON, "-X", "importtime", "-c", code], cwd="/", env=clean_env()
    )
    return parse_importtime(completed.stderr)


def imported_heavy_packages() -> list[str]:
    """Which of HEAVY_PACKAGES are in sys.modules after importing the stage module."""
    code = (
        f"import json, sys, {STAGE_MODULE}\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY_PACKAGES)!r})))"
    )
    _elapsed, completed = c.timed_run([c.PYTHON, "-c", code], cwd="/", env=clean_env())
    return json.loads(completed.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--sdk-repeat", type=int, default=5)
    args = parser.parse_args()

    # cwd=/ everywhere: the installed package is imported, not something in the cwd.
    commands = {
        "baseline": [c.PYTHON, "-c", "pass"],
        "stage_import": [c.PYTHON, "-c", f"import {STAGE_MODULE}"],
        "first_error": [c.PYTHON, "-m", STAGE_MODULE],
    }
    bad_inputs = clean_env(INPUT_BACKEND="bogus", INPUT_DEFINITION="x", INPUT_PIPELINE_NAME="x")

    c.progress("warm-up (compiles .pyc files)")
    for command in commands.values():
        c.timed_run(command, cwd="/", env=bad_inputs, check=False)
    c.timed_run([c.PYTHON, "-c", f"import {SDK_MODULE}"], cwd="/", env=clean_env())

    times: dict[str, list[float]] = {name: [] for name in commands}
    first_error_output = ""
    for index in range(args.repeat):
        c.progress(f"round {index + 1}/{args.repeat}")
        for name, command in commands.items():
            env = bad_inputs if name == "first_error" else clean_env()
            elapsed, completed = c.timed_run(command, cwd="/", env=env, check=False)
            if name == "first_error":
                # It must fail, quickly and for the right reason.
                if completed.returncode != 1 or "backend" not in completed.stdout:
                    raise RuntimeError(f"unexpected result: {completed}")
                first_error_output = completed.stdout.strip()
            elif completed.returncode != 0:
                raise RuntimeError(f"{command} failed: {completed.stderr}")
            times[name].append(elapsed)

    sdk_times = []
    for index in range(args.sdk_repeat):
        c.progress(f"SDK import {index + 1}/{args.sdk_repeat}")
        elapsed, _completed = c.timed_run(
            [c.PYTHON, "-c", f"import {SDK_MODULE}"], cwd="/", env=clean_env()
        )
        sdk_times.append(elapsed)

    c.progress("-X importtime profiles")
    startup_modules = len(importtime_profile("pass"))  # what `site` imports at start-up
    stage_rows = importtime_profile(f"import {STAGE_MODULE}")
    sdk_rows = importtime_profile(f"import {SDK_MODULE}")
    heavy = imported_heavy_packages()
    stage_top = [
        r for r in stage_rows if r["depth"] == 0 and r["cumulative"] >= TOP_LEVEL_THRESHOLD
    ]
    stage_packages = {r["module"].split(".")[0] for r in stage_rows}
    heavy_in_importtime = sorted(stage_packages & set(HEAVY_PACKAGES))

    baseline = c.summary(times["baseline"])
    result: dict[str, Any] = {
        "repeat": args.repeat,
        "sdk_repeat": args.sdk_repeat,
        "goal_seconds": GOAL,
        "baseline": baseline,
        "stage_import_process": c.summary(times["stage_import"]),
        # Per round, so that both numbers of a difference come from the same moment.
        "stage_import": c.summary(
            [s - b for s, b in zip(times["stage_import"], times["baseline"], strict=True)]
        ),
        "first_error_process": c.summary(times["first_error"]),
        "first_error_output": first_error_output,
        "sdk_import_process": c.summary(sdk_times),
        "sdk_import": c.summary([s - baseline["median"] for s in sdk_times]),
        "stage_importtime_total": sum(r["self"] for r in stage_rows),
        "stage_top_level_over_10ms": stage_top,
        "stage_self_time_by_package": self_time_by_package(stage_rows),
        "sdk_importtime_total": sum(r["self"] for r in sdk_rows),
        "sdk_self_time_by_package": self_time_by_package(sdk_rows),
        # Modules imported beyond those of a bare interpreter's start-up.
        "sdk_modules_imported": len(sdk_rows) - startup_modules,
        "stage_modules_imported": len(stage_rows) - startup_modules,
        "heavy_packages_in_sys_modules": heavy,
        "heavy_packages_in_importtime": heavy_in_importtime,
    }

    def verdict(seconds: float) -> str:
        return "✅" if seconds < GOAL else "❌"

    stage_import = result["stage_import"]["median"]
    first_error = result["first_error_process"]["median"]
    rows = [
        ["`python -c pass` (baseline)", c.fmt_ms(baseline), "", ""],
        [
            f"`import {STAGE_MODULE}` (process)",
            c.fmt_ms(result["stage_import_process"]),
            f"+{result['stage_modules_imported']} modules",
            "",
        ],
        [
            "↳ stage import, minus baseline",
            c.fmt_ms(result["stage_import"]),
            "",
            verdict(stage_import),
        ],
        [
            f"`python -m {STAGE_MODULE}`, bad input → exit 1",
            c.fmt_ms(result["first_error_process"]),
            "time to first error",
            verdict(first_error),
        ],
        [
            f"`import {SDK_MODULE}` (SDK, process)",
            c.fmt_seconds(result["sdk_import_process"]),
            f"+{result['sdk_modules_imported']} modules",
            "",
        ],
    ]
    top_rows = [[f"`{r['module']}`", f"{r['cumulative'] * 1000:.1f} ms"] for r in stage_top]
    sdk_packages = list(result["sdk_self_time_by_package"].items())[:6]
    sdk_line = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in sdk_packages)
    heavy_line = (
        "none of boto3, botocore, sagemaker, yaml ✅"
        if not heavy and not heavy_in_importtime
        else f"**{', '.join(sorted(set(heavy) | set(heavy_in_importtime)))}** ❌"
    )
    ratio = result["sdk_import"]["median"] / stage_import if stage_import > 0 else float("inf")
    markdown = "\n".join(
        [
            f"### Stage start-up without the SDK (median of {args.repeat}; "
            f"SDK: {args.sdk_repeat}; goal < {GOAL} s)",
            "",
            c.markdown_table(["Command", "Wall time", "Notes", "Goal"], rows),
            "",
            f"Imported by the stage module: {heavy_line}. "
            f"The SDK import is ~{ratio:.0f}× the stage import; "
            f"its self time by package (-X importtime): {sdk_line}.",
            "",
            "Top-level imports of the stage over 10 ms (-X importtime, cumulative):",
            "",
            c.markdown_table(["Module", "Cumulative"], top_rows or [["(none)", ""]]),
        ]
    )
    c.write_result("import_time", result, markdown)


if __name__ == "__main__":
    main()
