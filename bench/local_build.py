"""Benchmark: the local build of the reference churn pipeline, end to end.

Runs `smgha build-pipeline --backend local ...` as a subprocess (cwd = repository root) with
a fresh SMGHA_STATE_DIR per repetition, after writing the 5000-row seed-7 data set there,
and breaks the wall time down with the timestamps the local backend records:

    process start ─ CreationTime ─ step 1 ... step N ─ LastModifiedTime ─ process exit
     (start-up, SDK,   (executor     (steps and the       (wait overhead: polling,
      definition,       start-up)     executor's           metrics, job summary,
      upsert)                         bookkeeping)         interpreter shutdown)

The SDK import and the definition build are also timed on their own, in a separate process
per repetition (same calls as the stage makes), to split the "before the execution" phase.

The same probe also times the interpreter's shutdown with the SDK loaded (from its last
statement to its exit as this process sees it), which the stage pays after the execution.

Peak RSS comes from os.wait4: the stage process (which builds the definition with the SDK)
and the detached executor (which trains in-process and runs the processing scripts as its
children). The executor may outlive the stage, so this process makes itself a "child
subreaper" (Linux prctl) to inherit and reap it. Linux counts the memory a child maps
before it calls exec() (its parent's, after fork or vfork) into the child's ru_maxrss, so a
child's figure is never below its parent's RSS at spawn time: the executor's own figure is
only an upper bound, but the maximum over the tree (stage, executor, jobs) is exact.

Each round also runs the three scripts directly (runner_overhead.direct_once: the floor)
and the build three ways (MODES): every step fresh (SMGHA_LOCAL_WARM=0, the breakdown
above is of these builds); a first build, which starts the warm worker in a new state
folder (docs/local-state.md); and a repeated build with a worker already running in a state
folder kept across rounds. Every build must write the same evaluation report.

    .venv/bin/python bench/local_build.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import ctypes
import datetime as dt
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import _common as c
import runner_overhead

from smgha.backends.local import warm as warm_runner

PIPELINE_NAME = "bench-churn"
BUILD_COMMAND = [
    c.SMGHA,
    "build-pipeline",
    "--backend",
    "local",
    "--definition",
    "ml.pipeline:get_pipeline",
    "--pipeline-name",
    PIPELINE_NAME,
    "--parameters",
    json.dumps({"InputDataUrl": c.DATA_URI}),
]

# Times the SDK import and the definition build as the stage does them: the same
# environment, and the SDK's logging silenced (smgha.definition._quiet_sdk disables it).
DEFINITION_PROBE = """
import json, logging, os, sys, time
from pathlib import Path
t0 = time.perf_counter()
from smgha import definition as defn
t1 = time.perf_counter()
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("SAGEMAKER_VALIDATE_ROLE", "false")
logging.disable(logging.WARNING)
sys.path.insert(0, os.getcwd())
import ml.pipeline  # imports the SageMaker SDK
t2 = time.perf_counter()
logging.disable(logging.NOTSET)
definition, uploads = defn.load_definition(
    "ml.pipeline:get_pipeline",
    Path.cwd(),
    {"region": "us-east-1", "role": "arn:aws:iam::000000000000:role/x",
     "pipeline_name": "bench-churn", "default_bucket": "smgha-local"},
)
t3 = time.perf_counter()
print("BENCH_RESULT " + json.dumps(
    {"smgha_import": t1 - t0, "sdk_import": t2 - t1, "definition_build": t3 - t2,
     "last_statement_epoch": time.time()}), flush=True)
"""

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Adopt orphaned descendants (the detached executor) so we can reap and measure them."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def epoch(iso: str) -> float:
    return dt.datetime.fromisoformat(iso).timestamp()


def reap(pid: int) -> int | None:
    """Wait for `pid` if it is (now) our child; its peak RSS in KiB, else None."""
    try:
        _pid, _status, usage = os.wait4(pid, 0)
    except ChildProcessError:  # already reaped by the stage, which then counted it
        return None
    return usage.ru_maxrss


def one_build(data: bytes, state: Path, warm: bool, cached: bool) -> dict[str, Any]:
    """One end-to-end build in state folder `state` (its steps forked from the warm worker
    when `warm`, else fresh interpreters); the timings of its phases. `cached`: a dry run
    fills the state folder's definition cache first (untimed), and the build must say it
    used it; otherwise the build must say it built the definition."""
    os.environ["SMGHA_STATE_DIR"] = str(state)  # LocalBackend and the stage read it
    os.environ["SMGHA_LOCAL_WARM"] = "1" if warm else "0"
    os.environ.pop("SMGHA_DEFINITION_CACHE", None)
    from smgha.backends.local import LocalBackend
    from smgha.backends.local import state as layout

    LocalBackend(region="us-east-1").objects.put_object(c.DATA_URI, data)
    cache = layout.Layout(state).definition_cache
    if cached:
        c.timed_run([*BUILD_COMMAND, "--dry-run", "true"], cwd=c.REPO_ROOT, env=dict(os.environ))
    elif cache.exists():
        shutil.rmtree(cache)
    executions = state / "executions"
    before = set(executions.iterdir()) if executions.is_dir() else set()
    log_path = state.parent / f"build-{len(before)}.log"
    with open(log_path, "w") as log:
        started_epoch = time.time()
        started = time.perf_counter()
        process = subprocess.Popen(
            BUILD_COMMAND,
            cwd=c.REPO_ROOT,
            env=dict(os.environ),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        # wait4 instead of process.wait(): it also returns the resource usage.
        _pid, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
        ended_epoch = time.time()
        process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"build failed ({process.returncode}):\n{log_path.read_text()}")
    expected = "Definition: cached (key " if cached else "(cache miss: "
    if expected not in log_path.read_text():
        raise RuntimeError(f"the build's log does not say {expected!r}:\n{log_path.read_text()}")

    (folder,) = set(executions.iterdir()) - before
    record = json.loads((folder / "execution.json").read_text())
    if record["PipelineExecutionStatus"] != "Succeeded":
        raise RuntimeError(f"execution {record['PipelineExecutionStatus']}: {record}")
    executor_rss = reap(int(record["ExecutorPid"]))
    report = max(
        (state / "s3").rglob("evaluation.json"), key=lambda p: p.stat().st_mtime_ns
    ).read_text()
    forked = "warm worker:" not in (folder / "execution.log").read_text()

    created = epoch(record["CreationTime"])
    finished = epoch(record["LastModifiedTime"])
    steps = record["Steps"]
    step_seconds = {s["StepName"]: epoch(s["EndTime"]) - epoch(s["StartTime"]) for s in steps}
    # Time the executor spends between one step's end and the next one's start (and after
    # the last step, until it marks the execution finished).
    gaps = [
        epoch(b["StartTime"]) - epoch(a["EndTime"])
        for a, b in zip(steps[:-1], steps[1:], strict=True)
    ]
    gaps.append(finished - epoch(steps[-1]["EndTime"]))
    return {
        "report": report,
        "all_steps_forked": forked,
        "total": elapsed,
        "before_execution": created - started_epoch,
        "executor_startup": epoch(steps[0]["StartTime"]) - created,
        "steps": step_seconds,
        "between_steps": sum(gaps),
        "execution": finished - created,
        "wait_overhead": ended_epoch - finished,
        "stage_peak_rss_mib": usage.ru_maxrss / 1024,
        # None when the stage reaped the executor itself (then it is in the stage's figure).
        "executor_peak_rss_mib": executor_rss / 1024 if executor_rss else None,
    }


def definition_probe() -> dict[str, float]:
    """SDK import, definition build and shutdown, timed around a fresh interpreter."""
    _elapsed, completed = c.timed_run(
        [c.PYTHON, "-c", DEFINITION_PROBE],
        cwd=c.REPO_ROOT,
        # It times the build itself: never the state folder's cached definition.
        env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "SMGHA_DEFINITION_CACHE": "false"},
    )
    exited = time.time()
    line = [x for x in completed.stdout.splitlines() if x.startswith("BENCH_RESULT ")][-1]
    probe = json.loads(line.removeprefix("BENCH_RESULT "))
    probe["sdk_shutdown"] = exited - probe.pop("last_statement_epoch")
    return probe


# The ways a build runs its steps, as measured side by side (interleaved, in each round).
MODES = {
    "fresh": "every step a fresh interpreter (SMGHA_LOCAL_WARM=0), the definition built",
    "warm_first": "first build, the definition built (cache miss); the build starts the warm worker",
    "warm_first_cached": "a fresh job with the definition cached; the build starts the warm worker",
    "warm_running": "repeated build: the definition cached and a warm worker already running",
}


def build_in_mode(mode: str, data: bytes, folder: Path, kept: Path) -> dict[str, Any]:
    """One build in `mode`; the worker a first build starts is stopped after it."""
    if mode == "warm_running":
        if warm_runner.running_pid(kept) is None:  # started and ready before the timed build
            os.environ["SMGHA_LOCAL_WARM"] = "1"
            warm_runner.start(kept)
            wait_for_worker(kept)
        return one_build(data, kept, warm=True, cached=True)
    state = folder / "state"
    try:
        return one_build(data, state, warm=mode != "fresh", cached=mode == "warm_first_cached")
    finally:
        warm_runner.stop(state)


def wait_for_worker(state: Path, seconds: float = 120.0) -> None:
    log = warm_runner.folder(state) / warm_runner.WORKER_OUT
    deadline = time.monotonic() + seconds
    while not (log.exists() and "imported" in log.read_text()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the warm worker did not get ready: {log}")
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--rows", type=int, default=c.DATA_ROWS, help="rows of the data set (results file "
        "local_build.json at the default, local_build_<rows>.json otherwise)"
    )  # fmt: skip
    args = parser.parse_args()

    subreaper = become_subreaper()
    c.progress(f"generating {args.rows} rows (seed {c.DATA_SEED})")
    data = c.churn_csv(args.rows)

    runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
    direct, probes = [], []
    with tempfile.TemporaryDirectory(prefix="smgha-bench-build-") as tmp:
        kept = Path(tmp) / "kept" / "state"  # the repeated builds' state folder
        for index in range(args.repeat):
            c.progress(f"round {index + 1}/{args.repeat}: the three scripts directly")
            direct.append(runner_overhead.direct_once(data))
            for mode in MODES:
                c.progress(f"round {index + 1}/{args.repeat}: build, {MODES[mode]}")
                runs[mode].append(build_in_mode(mode, data, Path(tmp) / f"{mode}-{index}", kept))
            c.progress(f"definition probe {index + 1}/{args.repeat}")
            probes.append(definition_probe())
        warm_runner.stop(kept)
    reports = {run["report"] for mode_runs in runs.values() for run in mode_runs}
    if len(reports) != 1:
        raise RuntimeError(f"the builds wrote {len(reports)} different evaluation reports")
    builds = runs["fresh"]

    stat = c.summary
    step_names = list(builds[0]["steps"])
    result: dict[str, Any] = {
        "command": BUILD_COMMAND,
        "repeat": args.repeat,
        "total": stat([b["total"] for b in builds]),
        "before_execution": stat([b["before_execution"] for b in builds]),
        "smgha_import": stat([p["smgha_import"] for p in probes]),
        "sdk_import": stat([p["sdk_import"] for p in probes]),
        "definition_build": stat([p["definition_build"] for p in probes]),
        "sdk_shutdown": stat([p["sdk_shutdown"] for p in probes]),
        "executor_startup": stat([b["executor_startup"] for b in builds]),
        "steps": {name: stat([b["steps"][name] for b in builds]) for name in step_names},
        "between_steps": stat([b["between_steps"] for b in builds]),
        "execution": stat([b["execution"] for b in builds]),
        "wait_overhead": stat([b["wait_overhead"] for b in builds]),
        "stage_peak_rss_mib": stat([b["stage_peak_rss_mib"] for b in builds]),
        # The largest process of the build, whichever it was (see the module docstring).
        "tree_peak_rss_mib": stat(
            [max(b["stage_peak_rss_mib"], b["executor_peak_rss_mib"] or 0) for b in builds]
        ),
        "subreaper": subreaper,
        "runs": {
            mode: [{k: v for k, v in r.items() if k != "report"} for r in mode_runs]
            for mode, mode_runs in runs.items()
        },  # fmt: skip
        "probes": probes,
    }

    total = result["total"]["median"]

    def row(label: str, stats: dict[str, Any]) -> list[str]:
        return [label, c.fmt_seconds(stats), f"{stats['median'] / total * 100:.0f} %"]

    rows = [
        row("**Total** (`smgha build-pipeline`, wall)", result["total"]),
        row(
            "Before the execution starts (start-up, SDK, definition, upsert)",
            result["before_execution"],
        ),
        row("↳ SDK import (`import ml.pipeline`, separate process)", result["sdk_import"]),
        row("↳ definition build (`get_pipeline()` + `.definition()`)", result["definition_build"]),
        row("Executor start-up (spawn → first step)", result["executor_startup"]),
    ]
    rows += [row(f"Step {name}", stats) for name, stats in result["steps"].items()]
    rows += [
        row("Executor bookkeeping between steps", result["between_steps"]),
        row("Wait overhead (execution finished → stage exited)", result["wait_overhead"]),
        row(
            "↳ ≈ interpreter shutdown with the SDK loaded (separate process)",
            result["sdk_shutdown"],
        ),
    ]
    markdown = "\n".join(
        [
            f"### Local build, end to end ({args.rows:,} rows, median of {args.repeat})",
            "",
            c.markdown_table(["Phase", "Median (min–max)", "Share"], rows),
            "",
            "Peak RSS (median): largest process of the build (stage, executor, jobs) "
            f"{result['tree_peak_rss_mib']['median']:.0f} MiB; the stage process "
            "(SDK definition build, plus the children it reaped) "
            f"{result['stage_peak_rss_mib']['median']:.0f} MiB.",
            "",
            *modes_table(result, runs, direct, args.rows),
        ]
    )
    name = "local_build" if args.rows == c.DATA_ROWS else f"local_build_{args.rows}"
    c.write_result(name, result, markdown)


# Issue 16's targets, as ratios to the three scripts run directly in the same rounds: at
# 5,000 rows, and at 1,000,000 for the build the issue's own floor measured (the steps forked
# from a warm parent: the worker running). A fresh job cannot reach 0.7x there: its floor is
# the worker's one import plus the steps' own work (about 0.73x on the project machine), and
# a cache miss adds the SDK's import and the definition's build before the first step (0.79x);
# the README gives all three rows.
GOALS = {
    c.DATA_ROWS: {"warm_first": 0.6, "warm_first_cached": 0.4, "warm_running": 0.1},
    1_000_000: {"warm_running": 0.7},
}


def modes_table(
    result: dict[str, Any],
    runs: dict[str, list[dict[str, Any]]],
    direct: list[dict[str, Any]],
    data_rows: int,
) -> list[str]:
    """Fresh versus warm, each beside the three scripts run directly in the same rounds."""
    stat = c.summary
    direct_total = stat([d["total"] for d in direct])
    result["direct_total"] = direct_total
    result["modes"] = {}
    rows = [["The three scripts run directly (fresh interpreters)", c.fmt_seconds(direct_total),
             "", "1.00x", ""]]  # fmt: skip
    for mode, label in MODES.items():
        total = stat([r["total"] for r in runs[mode]])
        execution = stat([r["execution"] for r in runs[mode]])
        ratio = total["median"] / direct_total["median"]
        result["modes"][mode] = {
            "total": total,
            "execution": execution,
            "ratio_to_direct": ratio,
            "all_steps_forked": all(r["all_steps_forked"] for r in runs[mode]),
        }
        goal = GOALS.get(data_rows, {}).get(mode)
        verdict = "" if goal is None else f"≤ {goal}x {'✅' if ratio <= goal else '❌'}"
        rows.append(
            [label, c.fmt_seconds(total), c.fmt_seconds(execution), f"{ratio:.2f}x", verdict]
        )
    return [
        "#### Fresh versus warm steps (the same rounds, interleaved; the same evaluation report)",
        "",
        c.markdown_table(
            [
                "Build",
                "Total, median (min–max)",
                "Execution (created → finished)",
                "÷ direct",
                "Goal",
            ],
            rows,  # fmt: skip
        ),
    ]


if __name__ == "__main__":
    main()
