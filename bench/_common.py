"""Helpers shared by the benchmark scripts: statistics, Markdown, machine info, results.

Not a benchmark itself. Every script in bench/ imports it as `_common` (the script's own
folder is first on sys.path when it runs as `.venv/bin/python bench/<name>.py`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO_ROOT / "bench" / "results"
# The interpreter running the benchmark: the project's virtualenv when run as documented.
PYTHON = sys.executable
# The console script of the package, next to the interpreter.
SMGHA = str(Path(PYTHON).with_name("smgha"))

# The reference data set and where the pipeline reads it (its default InputDataUrl).
DATA_URI = "s3://smgha-local/churn/data/churn.csv"
DATA_ROWS = 5000
DATA_SEED = 7
# The built-in XGBoost algorithm's image: serving.json names it for the algorithm to be served.
XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"

# `ml` is not an installed package: make the repository importable for `ml.data`.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


# ---- data ---------------------------------------------------------------------------------


def churn_csv(rows: int = DATA_ROWS, seed: int = DATA_SEED) -> bytes:
    """The reference churn data set as CSV bytes, exactly as `smgha demo` writes it.

    Generated in a child process so this process never imports pandas: a benchmark stays
    small, and the children it starts do not inherit a large RSS (see local_build.py).
    """
    code = (
        "import sys\n"
        "from ml import data\n"
        f"frame = data.generate({rows}, {seed})\n"
        "text = frame.to_csv(index=False, float_format='%.2f', lineterminator='\\n')\n"
        "sys.stdout.buffer.write(text.encode())\n"
    )
    completed = subprocess.run([PYTHON, "-c", code], cwd=REPO_ROOT, capture_output=True, check=True)
    return completed.stdout


# ---- statistics -----------------------------------------------------------------------------


def summary(values: Sequence[float]) -> dict[str, Any]:
    """Median and spread (min, max) of repeated measurements, with the raw values."""
    values = [float(v) for v in values]
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
        "values": values,
    }


def fmt_seconds(stats: dict[str, Any] | float, digits: int = 2) -> str:
    """`1.23 s (1.20–1.31)` for a summary, `1.23 s` for a single number."""
    if isinstance(stats, dict):
        if stats["n"] == 1:
            return f"{stats['median']:.{digits}f} s"
        return (
            f"{stats['median']:.{digits}f} s ({stats['min']:.{digits}f}–{stats['max']:.{digits}f})"
        )
    return f"{stats:.{digits}f} s"


def fmt_ms(stats: dict[str, Any] | float) -> str:
    """Like fmt_seconds, in milliseconds."""
    if isinstance(stats, dict):
        if stats["n"] == 1:
            return f"{stats['median'] * 1000:.0f} ms"
        return (
            f"{stats['median'] * 1000:.0f} ms ({stats['min'] * 1000:.0f}–{stats['max'] * 1000:.0f})"
        )
    return f"{stats * 1000:.0f} ms"


def fmt_percent(stats: dict[str, Any]) -> str:
    """`+12.3 % (+8.0–+15.1)` for a summary of fractions."""
    return f"{stats['median'] * 100:+.1f} % ({stats['min'] * 100:+.1f}–{stats['max'] * 100:+.1f})"


# ---- running things -------------------------------------------------------------------------


def timed_run(
    command: Sequence[str],
    *,
    cwd: Path | str | None = None,
    env: dict[str, str] | None = None,
    check: bool = True,
    timeout: float | None = None,
) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Run `command`, capturing its output; return (wall seconds, completed process)."""
    started = time.perf_counter()
    completed = subprocess.run(
        list(command),
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    elapsed = time.perf_counter() - started
    if check and completed.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} exited with {completed.returncode}:\n"
            f"{completed.stdout[-2000:]}\n{completed.stderr[-2000:]}"
        )
    return elapsed, completed


def find_uv() -> str | None:
    """The uv executable: the virtualenv's, the base interpreter's, or the one on PATH."""
    for folder in (Path(PYTHON).parent, Path(sys.base_prefix) / "bin"):
        candidate = folder / "uv"
        if candidate.is_file():
            return str(candidate)
    return shutil.which("uv")


# ---- reporting ------------------------------------------------------------------------------


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(str(cell) for cell in row) + " |")
    return "\n".join(lines)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(distribution: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on (the machine is shared: note its load too)."""
    return {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": _cpu_model(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": {name: _version(name) for name in ("sagemaker", "xgboost", "pandas", "boto3")},
    }


def machine_line(info: dict[str, Any]) -> str:
    load = ", ".join(f"{x:g}" for x in info["load_average"])
    return (
        f"{info['date']} · {info['nproc']} CPUs ({info['cpu']}) · Python {info['python']} · "
        f"load average at start {load}"
    )


def write_result(name: str, data: dict[str, Any], markdown: str) -> Path:
    """Save `data` (plus the Markdown and machine info) as bench/results/<name>.json and
    print the Markdown."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    record = {"benchmark": name, "machine": machine_info(), "markdown": markdown, **data}
    path.write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")
    print(markdown)
    print(f"\n(wrote {path.relative_to(REPO_ROOT)})")
    return path


def progress(message: str) -> None:
    """A progress line on stderr, so stdout stays clean Markdown."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
