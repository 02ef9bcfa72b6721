"""Benchmark: what the model review adds to a pull request's build (issue 17: under 15 %).

A pull request's job builds the candidate on the local backend (`smgha build-pipeline`, a
fresh job: no cached definition, no warm worker) and then reviews it against main's
champion (`smgha review compare`). Per round, in a fresh state folder:

  1. a first build (untimed), bundled as the champion (`smgha review bundle`, untimed);
  2. the pull request's build, timed, as a new process with a new state-folder worker;
  3. `smgha review compare` of that build against the champion, timed (its own process:
     interpreter start, the candidate's bundle, the data profile, the pictures, the files).

Steps 2-3 run twice: with main's input data (the review then reuses the champion's profile
of the very same bytes) and with another sample of the same size (profiled anew). Reported:
both medians and the review's share of the build, per case and data size (a profile reads
the whole input data, so its cost grows with the rows; the build's own steps too).

    .venv/bin/python bench/review_overhead.py [--repeat 3] [--rows 5000,100000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import _common as c

PIPELINE_NAME = "bench-review"
# The pull request's input data: main's (the review reuses the champion's profile of the
# same bytes), or another sample of the same size (profiled anew).
CASES = {"same_data": "main's", "changed_data": "changed"}
GATE_RULES = "accuracy >= 0.8\nauc >= champion - 0.01"


def build(state: Path) -> tuple[float, str]:
    """One local build in `state`; its wall time and execution ARN."""
    parameters = json.dumps({"InputDataUrl": c.DATA_URI})
    command = [
        c.SMGHA, "build-pipeline", "--backend", "local", "--definition",
        "ml.pipeline:get_pipeline", "--pipeline-name", PIPELINE_NAME, "--parameters", parameters,
    ]  # fmt: skip
    seconds, _completed = c.timed_run(command, cwd=c.REPO_ROOT, env=environment(state))
    record = max(
        (state / "executions").glob("*/execution.json"), key=lambda p: p.stat().st_mtime_ns
    )
    execution = json.loads(record.read_text())
    if execution["PipelineExecutionStatus"] != "Succeeded":
        raise RuntimeError(f"the build ended {execution['PipelineExecutionStatus']}")
    return seconds, execution["PipelineExecutionArn"]


def environment(state: Path) -> dict[str, str]:
    return {**os.environ, "SMGHA_STATE_DIR": str(state), "SMGHA_LOCAL_WARM": "1"}


def one_round(data: bytes, changed: bytes, folder: Path) -> dict[str, Any]:
    state = folder / "state"
    from smgha.backends.local import LocalBackend

    os.environ["SMGHA_STATE_DIR"] = str(state)
    LocalBackend(region="us-east-1").objects.put_object(c.DATA_URI, data)
    _seconds, champion_arn = build(state)
    champion = folder / "champion"
    c.timed_run(
        [c.SMGHA, "review", "bundle", "--backend", "local", "--execution-arn", champion_arn,
         "--model-package-arn", package_of(state, champion_arn), "--out", str(champion)],
        cwd=c.REPO_ROOT, env=environment(state),
    )  # fmt: skip
    result: dict[str, Any] = {}
    for case, case_data in (("same_data", data), ("changed_data", changed)):
        stop_worker(state)
        shutil.rmtree(state / "definition-cache", ignore_errors=True)  # a fresh job's miss
        LocalBackend(region="us-east-1").objects.put_object(c.DATA_URI, case_data)
        build_seconds, candidate_arn = build(state)
        review = folder / f"review-{case}"
        review_seconds, _completed = c.timed_run(
            [c.SMGHA, "review", "compare", "--backend", "local", "--execution-arn", candidate_arn,
             "--champion", str(champion), "--gate-rules", GATE_RULES, "--out", str(review)],
            cwd=c.REPO_ROOT, env=environment(state),
        )  # fmt: skip
        compared = json.loads((review / "review.json").read_text())
        result[case] = {
            "build": build_seconds,
            "review": review_seconds,
            "verdict": compared["verdict"],
            "comment_chars": len((review / "comment.md").read_text(encoding="utf-8")),
            "report_bytes": (review / "report.html").stat().st_size,
        }
    stop_worker(state)
    return result


def package_of(state: Path, execution_arn: str) -> str:
    """The model package the execution's RegisterModel step registered."""
    from smgha.backends import registered_model_package
    from smgha.backends.local import LocalBackend

    os.environ["SMGHA_STATE_DIR"] = str(state)
    steps = LocalBackend(region="us-east-1").pipelines.list_steps(execution_arn)
    arn = registered_model_package(steps)
    if not arn:
        raise RuntimeError(f"{execution_arn} registered no model package")
    return arn


def stop_worker(state: Path) -> None:
    from smgha.backends.local import warm

    warm.stop(state)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rows", default="5000,100000")
    args = parser.parse_args()
    sizes = [int(text) for text in args.rows.split(",")]

    results: dict[str, Any] = {"repeat": args.repeat, "sizes": {}}
    rows = []
    for size in sizes:
        c.progress(f"generating {size} rows")
        data, changed = c.churn_csv(size), c.churn_csv(size, seed=c.DATA_SEED + 1)
        runs = []
        for index in range(args.repeat):
            c.progress(f"{size} rows, round {index + 1}/{args.repeat}")
            with tempfile.TemporaryDirectory(prefix="smgha-bench-review-") as tmp:
                runs.append(one_round(data, changed, Path(tmp)))
        results["sizes"][str(size)] = {"runs": runs}
        for case, label in CASES.items():
            build_stats = c.summary([r[case]["build"] for r in runs])
            review_stats = c.summary([r[case]["review"] for r in runs])
            share = c.summary([r[case]["review"] / r[case]["build"] for r in runs])
            results["sizes"][str(size)][case] = {
                "build": build_stats, "review": review_stats, "share": share
            }  # fmt: skip
            rows.append([
                f"{size:,}", label, c.fmt_seconds(build_stats), c.fmt_seconds(review_stats),
                f"{share['median'] * 100:.1f} % ({share['min'] * 100:.1f}–{share['max'] * 100:.1f})",
                "✅" if share["median"] < 0.15 else "❌",
            ])  # fmt: skip
    markdown = "\n".join([
        "### The model review's added time (`smgha review compare` after a PR's local build)",
        "",
        c.markdown_table(
            ["Rows", "Input data", "PR build (fresh job)", "Review", "Review ÷ build", "< 15 %"],
            rows,
        ),
        "",
        c.machine_line(c.machine_info()),
    ])  # fmt: skip
    c.write_result("review_overhead", results, markdown)


if __name__ == "__main__":
    main()
