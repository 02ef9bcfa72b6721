"""The warm runner: local steps forked from a worker that imported the heavy modules once,
with the semantics of the fresh interpreter they replace (warm.py, warm_worker.py,
warm_step.py). Each semantic is checked against the same step run fresh.

One worker serves the module (its imports cost 5 s of CPU); its state folder is outside the
session's temporary folder, so the per-test clean-up (conftest) leaves it to this module,
which stops it at the end.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import sys
import tarfile
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smgha import cli
from smgha.backends.local import jobs, state, warm, warm_step
from smgha.backends.local.registry import LocalRegistry
from smgha.backends.local.s3 import LocalS3

WORKER_READY_SECONDS = 90.0


def wait_until_serving(root: Path) -> int:
    """The worker's pid once it has imported everything (its log says so)."""
    deadline = time.monotonic() + WORKER_READY_SECONDS
    log = warm.folder(root) / warm.WORKER_OUT
    while time.monotonic() < deadline:
        pid = warm.running_pid(root)
        if pid and log.exists() and "imported" in log.read_text():
            return pid
        time.sleep(0.05)
    raise AssertionError(f"no warm worker served under {root}: {log.read_text()}")


@pytest.fixture(scope="module")
def worker_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="smgha-warm-"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(warm.SWITCH_ENV, "1")
        warm.start(root)
        try:
            wait_until_serving(root)
            yield root
        finally:
            warm.stop(root)
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def warm_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(warm.SWITCH_ENV, "1")


class Ran:
    def __init__(self, code: str, lines: list[str], output: str) -> None:
        self.failure = code  # "" when the step succeeded, else JobFailed's message
        self.lines = lines  # what the job logged, in order
        self.output = output  # the step's output.log

    @property
    def fell_back(self) -> bool:
        """Whether the step asked the worker and ran fresh (the log says why)."""
        return any(line.startswith("warm worker:") for line in self.lines)


def run_step(
    root: Path,
    job_dir: Path,
    source: str,
    env: dict[str, str] | None = None,
    timeout: float = 60.0,
    arguments: tuple[str, ...] = (),
) -> Ran:
    """`source` as a step through jobs.run_logged, the job's environment being what the
    executor gives it (its own, as spawned, plus `env`)."""
    job_dir.mkdir(parents=True, exist_ok=True)
    script = job_dir / "step.py"
    script.write_text(textwrap.dedent(source))
    layout = state.Layout(root)
    lines: list[str] = []
    job = jobs.JobContext(
        job_dir, "job", "us-east-1", LocalS3(layout.s3), LocalRegistry(layout, "us-east-1"),
        lines.append,
    )  # fmt: skip
    command = [sys.executable, str(jobs.BOOT_SCRIPT), str(job_dir / "container"), str(script)]
    environment = {**state.spawn_environment(), **(env or {})}
    try:
        jobs.run_logged([*command, *arguments], job, environment, timeout)
        failure = ""
    except jobs.JobFailed as error:
        failure = str(error)
    output = (job_dir / state.JOB_OUTPUT_LOG).read_text()
    return Ran(failure, lines, output)


def fresh_and_warm(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str, **kwargs: Any
) -> tuple[Ran, Ran]:
    monkeypatch.setenv(warm.SWITCH_ENV, "0")
    fresh = run_step(root, tmp_path / "side-fresh", source, **kwargs)
    monkeypatch.setenv(warm.SWITCH_ENV, "1")
    forked = run_step(root, tmp_path / "side-warm", source, **kwargs)
    assert not fresh.fell_back and not forked.fell_back, forked.lines
    return fresh, forked


# ---- what the step sees --------------------------------------------------------------------

REPORT_ITSELF = """
    import gc, json, os, sys
    preloaded = "pandas" in sys.modules  # True only in a forked step: nothing imported it
    print(json.dumps({
        # The worker imports with the collector paused (smgha/import_pause.py): a step gets
        # it back on, with the same thresholds as a fresh interpreter.
        "gc": [gc.isenabled(), gc.get_threshold()],
        "env": dict(os.environ), "cwd": os.getcwd(), "argv": sys.argv, "path": sys.path,
        "fds": sorted(os.listdir("/proc/self/fd")), "preloaded": preloaded,
        "remapped": open("/opt/ml/probe.txt").read(),
    }))
"""


def script_part(text: str, side: str) -> list[str]:
    """`text` with the job folder's name made neutral and the runner's traceback frames
    (container_boot.py and runpy's, or warm_step.py and runpy's) left out: they are the one
    difference a forked step shows; the script's frames and the error are compared."""
    kept: list[str] = []
    in_runner_frame = False
    for line in text.replace(f"/side-{side}/", "/JOB/").splitlines():
        if line.startswith("  File "):
            in_runner_frame = "/JOB/step.py" not in line
        elif not line.startswith("    "):
            in_runner_frame = False
        if not in_runner_frame:
            kept.append(line)
    return kept


def reported(ran: Ran) -> Any:
    return json.loads(ran.output.strip().splitlines()[-1])


def test_a_forked_step_sees_what_a_fresh_one_sees(
    worker_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for side in ("fresh", "warm"):
        probe = tmp_path / f"side-{side}" / "container" / "opt" / "ml" / "probe.txt"
        probe.parent.mkdir(parents=True)
        probe.write_text(f"the {side} container")
    extra = {"JOB_ONLY": "1", "SM_CHANNEL_TRAIN": "/somewhere"}
    fresh, forked = fresh_and_warm(
        worker_root, tmp_path, monkeypatch, REPORT_ITSELF, env=extra, arguments=("--a", "b")
    )
    assert fresh.failure == forked.failure == ""
    seen_fresh, seen_warm = reported(fresh), reported(forked)
    assert seen_warm["preloaded"] and not seen_fresh["preloaded"]
    expected_env = {**state.spawn_environment(), **extra, warm.SWITCH_ENV: "1"}
    assert seen_warm["env"] == expected_env  # exactly the job's: nothing of the worker's
    assert seen_warm["cwd"] == str(tmp_path / "side-warm")
    assert seen_warm["argv"] == [str(tmp_path / "side-warm" / "step.py"), "--a", "b"]
    assert seen_warm["path"] == [p.replace("side-fresh", "side-warm") for p in seen_fresh["path"]]
    assert seen_warm["fds"] == seen_fresh["fds"] == ["0", "1", "2", "3"]  # 3: the listing
    assert seen_warm["remapped"] == "the warm container"
    assert seen_warm["gc"] == seen_fresh["gc"] and seen_fresh["gc"][0] is True


@pytest.mark.parametrize(
    "body",
    [
        "sys.exit(3)",
        "sys.exit('a message instead of a code')",
        "sys.exit(None)",
        "raise ValueError('boom')",
        "os._exit(7)",
        "os.kill(os.getpid(), signal.SIGSEGV)",
        "os.kill(os.getpid(), signal.SIGKILL)",
        "raise KeyboardInterrupt",
        "import atexit; atexit.register(lambda: print('atexit ran')); sys.exit(2)",
    ],
)
def test_exit_codes_tracebacks_and_crashes_are_a_fresh_interpreters(
    worker_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str
) -> None:
    source = f"import os, signal, sys\nprint('started', flush=True)\n{body}\n"
    fresh, forked = fresh_and_warm(worker_root, tmp_path, monkeypatch, source)
    assert fresh.failure.startswith("AlgorithmError") or "exit(None)" in body
    # The failure's first line (the exit code) and last (the error); the whole output.
    assert forked.failure.splitlines()[:1] == fresh.failure.splitlines()[:1]
    assert forked.failure.splitlines()[-1:] == fresh.failure.splitlines()[-1:]
    assert script_part(forked.output, "warm") == script_part(fresh.output, "fresh")
    assert warm.running_pid(worker_root) is not None  # a crashing step never takes it down


def test_a_step_past_its_max_runtime_is_killed(
    worker_root: Path, tmp_path: Path, warm_on: None
) -> None:
    source = """
        import os, time
        open("pid", "w").write(str(os.getpid()))
        for _ in range(300):  # 30 s at most: the test ends even if nothing kills it
            print("working", flush=True)
            time.sleep(0.1)
    """
    started = time.monotonic()
    ran = run_step(worker_root, tmp_path / "job", source, timeout=1.0)
    assert time.monotonic() - started < 15  # killed, not left to end on its own
    assert not ran.fell_back
    assert "ran past MaxRuntimeInSeconds=1 and was stopped" in ran.failure
    pid = int((tmp_path / "job" / "pid").read_text())
    with pytest.raises(ProcessLookupError):  # killed, and reaped by its supervisor
        os.kill(pid, 0)


@pytest.mark.parametrize("switch", ["0", "1"])  # fresh, warm
def test_a_silent_step_past_its_max_runtime_is_killed(
    worker_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, switch: str
) -> None:
    """The deadline does not wait for a line of output: a step that hangs silently is
    stopped at MaxRuntimeInSeconds too (SageMaker stops the job, whatever it prints)."""
    monkeypatch.setenv(warm.SWITCH_ENV, switch)
    source = """
        import os, time
        open("pid", "w").write(str(os.getpid()))
        time.sleep(30)  # silent; the test ends even if nothing kills it
    """
    started = time.monotonic()
    ran = run_step(worker_root, tmp_path / "job", source, timeout=1.0)
    assert time.monotonic() - started < 15
    assert not ran.fell_back
    assert "ran past MaxRuntimeInSeconds=1 and was stopped" in ran.failure
    pid = int((tmp_path / "job" / "pid").read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # a fresh one is reaped by wait(); a forked one by
        try:  # its supervisor, a moment later
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_the_local_backend_starts_its_worker_before_the_definition_builds(
    tmp_path: Path, warm_on: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """build-pipeline calls prepare_to_run() before it builds the definition, so the
    worker's imports overlap the SDK's instead of delaying the first step."""
    from smgha.backends.local import LocalBackend

    root = tmp_path / "state"
    monkeypatch.setenv(state.STATE_DIR_ENV, str(root))
    LocalBackend(region="us-east-1").pipelines.prepare_to_run()
    try:
        assert warm.running_pid(root) is not None
    finally:
        warm.stop(root)


def test_the_first_step_starts_before_the_worker_has_imported_everything(
    tmp_path: Path, warm_on: None
) -> None:
    """A step already waiting when the worker has imported what preprocessing needs runs
    then, while the worker imports the rest (xgboost: warm_worker.FIRST_MODULES); a later
    step finds everything imported. Either way it imports what it lacks itself, as a fresh
    one does."""
    from smgha.backends.local import warm_worker

    assert "xgboost" in warm_worker.PRELOADED_MODULES[warm_worker.FIRST_MODULES :]
    probe = """
        import sys
        print("xgboost" in sys.modules, "pandas" in sys.modules)
    """
    root = tmp_path / "state"
    warm.start(root)  # its imports take seconds: this step waits in the backlog meanwhile
    try:
        first = run_step(root, tmp_path / "first", probe)
        wait_until_serving(root)
        later = run_step(root, tmp_path / "later", probe)
    finally:
        warm.stop(root)
    assert not first.fell_back and not later.fell_back, first.lines + later.lines
    assert first.output.split() == ["False", "True"]
    assert later.output.split() == ["True", "True"]


def test_module_state_and_random_state_never_leak_between_steps(
    worker_root: Path, tmp_path: Path, warm_on: None
) -> None:
    source = """
        import json, random, sys
        import numpy, pandas
        leaked = hasattr(pandas, "LEAKED") or "step_module" in sys.modules
        pandas.LEAKED = True
        sys.modules["step_module"] = sys
        print(json.dumps([leaked, numpy.random.random(), random.random()]))
    """
    first = run_step(worker_root, tmp_path / "one", source)
    second = run_step(worker_root, tmp_path / "two", source)
    assert not first.fell_back and not second.fell_back
    one, two = reported(first), reported(second)
    assert one[0] is False and two[0] is False
    assert one[1] != two[1] and one[2] != two[2]  # each step draws its own seeds, as fresh


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        ({"PYTHONHASHSEED": "0"}, "the job sets PYTHONHASHSEED"),
        ({"OMP_NUM_THREADS": "1"}, "the job's OMP_NUM_THREADS='1' differs"),
        ({"PYTHONPATH": "/elsewhere"}, "the job's PYTHONPATH='/elsewhere' differs"),
    ],
)
def test_a_start_up_setting_the_fork_cannot_honour_runs_the_step_fresh(
    worker_root: Path, tmp_path: Path, warm_on: None, env: dict[str, str], reason: str
) -> None:
    source = """
        import os, sys
        print(sys.flags.hash_randomization, "pandas" in sys.modules, os.environ.get("OMP_NUM_THREADS"))
    """
    ran = run_step(worker_root, tmp_path / "job", source, env=env)
    assert ran.fell_back
    (said,) = [line for line in ran.lines if line.startswith("warm worker:")]
    assert reason in said and "runs in a fresh interpreter" in said
    hash_randomization = "0" if "PYTHONHASHSEED" in env else "1"
    assert ran.output.split() == [hash_randomization, "False", env.get("OMP_NUM_THREADS", "None")]


def test_fresh_reason_lists_every_start_up_family() -> None:
    worker = {"LANG": "C.UTF-8", "PATH": "/bin"}
    assert warm_step.fresh_reason({"LANG": "C.UTF-8", "PATH": "/usr/bin"}, worker) == ""
    for name in ("LANG", "TZ", "LC_ALL", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                 "PYTHONUNBUFFERED", "LD_PRELOAD", "MALLOC_ARENA_MAX", "ARROW_DEFAULT_MEMORY_POOL"):  # fmt: skip
        assert name in warm_step.fresh_reason({**worker, name: "x"}, worker), name


# ---- the worker itself ---------------------------------------------------------------------


def threads_besides_the_main_one(pid: int) -> list[str]:
    tasks = Path(f"/proc/{pid}/task").iterdir()
    return [(t / "comm").read_text().strip() for t in tasks if t.name != str(pid)]


def test_the_worker_runs_no_thread_of_its_own_even_after_training(
    tmp_path: Path, warm_on: None
) -> None:
    root = tmp_path / "state"
    warm.start(root)
    pid = wait_until_serving(root)  # imported, and nothing forked yet
    # Besides its main thread, at most pyarrow's jemalloc thread (quiesced around fork);
    # numpy's and scipy's OpenBLAS pools were stopped after the imports.
    assert set(threads_besides_the_main_one(pid)) <= {"jemalloc_bg_thd"}
    source = """
        import numpy, xgboost
        x = numpy.random.rand(400, 5); y = (x[:, 0] > 0.5).astype(int)
        xgboost.train({"nthread": 2}, xgboost.DMatrix(x, label=y), num_boost_round=5)
        print(len(__import__("os").listdir("/proc/self/task")))
    """
    ran = run_step(root, tmp_path / "job", source)
    assert not ran.fell_back and ran.failure == ""
    assert int(ran.output.split()[-1]) > 1  # the step did start threads: OpenMP, BLAS
    assert set(threads_besides_the_main_one(pid)) <= {"jemalloc_bg_thd"}
    sockets = [
        os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir() if "socket" in os.readlink(fd)
    ]
    assert len(sockets) == 1, sockets  # its listening socket, nothing else


def test_a_stale_worker_is_refused_and_replaced(
    tmp_path: Path, warm_on: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "state"
    first = warm.start(root)
    assert first is not None and warm.start(root) == first  # one worker per state folder
    record = state.read_json(warm.folder(root) / warm.WORKER_FILE)
    state.write_json_atomic(
        warm.folder(root) / warm.WORKER_FILE, {**record, "fingerprint": "older code"}
    )
    second = warm.start(root)
    assert second not in (None, first)
    with pytest.raises(ProcessLookupError):
        os.kill(first, 0)  # stopped (and reaped: this process started it)
    # A worker that finds its client's code different refuses the step, which runs fresh.
    monkeypatch.setattr(warm_step, "code_fingerprint", lambda: "newer code")
    ran = run_step(root, tmp_path / "job", "print('ran')")
    assert ran.output == "ran\n" and ran.fell_back
    assert any("the warm worker is stale" in line for line in ran.lines), ran.lines


def test_a_worker_stopped_as_it_starts_is_gone_when_stop_returns(
    tmp_path: Path, warm_on: None
) -> None:
    """Stopped at once, a worker exits while stop() looks at it: it has lost its command
    line but is not a zombie yet. stop() must wait for it and reap it (on a loaded CI
    machine the pid still answered signal 0 after stop() returned)."""
    for attempt in range(10):
        root = tmp_path / f"state-{attempt}"
        pid = warm.start(root)
        assert pid is not None
        assert warm.stop(root) == pid
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # reaped: gone from the process table


def test_the_worker_exits_when_idle_and_on_stop(
    tmp_path: Path, warm_on: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMGHA_LOCAL_WARM_IDLE_SECONDS", "0.5")
    idle_root = tmp_path / "idle"
    pid = warm.start(idle_root)
    assert pid is not None
    deadline = time.monotonic() + WORKER_READY_SECONDS
    while warm._still_runs(pid, warm.folder(idle_root)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert warm.running_pid(idle_root) is None
    assert "idle for 0.5 s: exiting" in (warm.folder(idle_root) / warm.WORKER_OUT).read_text()
    assert not (warm.folder(idle_root) / warm.SOCKET_NAME).exists()

    monkeypatch.delenv("SMGHA_LOCAL_WARM_IDLE_SECONDS")
    stop_root = tmp_path / "stop"
    monkeypatch.setenv(state.STATE_DIR_ENV, str(stop_root))
    pid = warm.start(stop_root)
    assert pid is not None
    said = io.StringIO()
    assert cli.main(["warm-worker", "status"], said) == 0
    assert cli.main(["warm-worker", "stop"], said) == 0
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert cli.main(["warm-worker", "stop"], said) == 0  # nothing left to stop: done
    assert said.getvalue().splitlines() == [
        f"warm worker {pid} runs under {stop_root}",
        f"stopped warm worker {pid}",
        f"no warm worker under {stop_root}: nothing to stop",
    ]


def test_the_switch_forces_fresh_processes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(warm.SWITCH_ENV, "0")
    assert warm.start(tmp_path / "state") is None
    ran = run_step(tmp_path / "state", tmp_path / "job", "print('ran')")
    assert ran.output == "ran\n" and ran.lines == ["ran"]  # not even a word about a worker
    assert not warm.folder(tmp_path / "state").exists()


def test_a_missing_worker_means_fresh_steps_said_once_in_the_log(
    tmp_path: Path, warm_on: None
) -> None:
    ran = run_step(tmp_path / "state", tmp_path / "job", "print('ran')")
    assert ran.output == "ran\n"
    assert ran.lines == [
        "warm worker: this step runs in a fresh interpreter: no warm worker is running",
        "ran",
    ]


# ---- the reference pipeline: the same results, fresh or warm -------------------------------

DEFINITION_SCRIPT = """
import base64, json, sys
from pathlib import Path
from smgha.definition import load_definition
definition, uploads = load_definition(
    "ml.pipeline:get_pipeline", Path.cwd(),
    {"region": "us-east-1", "role": "arn:aws:iam::000000000000:role/x",
     "pipeline_name": "churn", "default_bucket": "smgha-local"},
)
Path(sys.argv[1]).write_text(json.dumps({
    "definition": definition,
    "uploads": {uri: base64.b64encode(body).decode() for uri, body in uploads.items()},
}))
"""
DATA_URI = "s3://smgha-local/churn/data/churn.csv"


def run_reference_pipeline(
    root: Path, built: dict[str, Any], data: bytes
) -> tuple[dict[str, bytes], str, list[str]]:
    """Run the pipeline in state folder `root`: its evaluation report and model archive
    (bytes), the execution's status, and its execution log."""
    from smgha.backends.local import LocalBackend

    backend = LocalBackend(region="us-east-1", root=root)
    backend.objects.put_object(DATA_URI, data)
    for uri, body in built["uploads"].items():
        backend.objects.put_object(uri, base64.b64decode(body))
    backend.pipelines.upsert_pipeline("churn", built["definition"], "", {})
    arn = backend.pipelines.start_execution("churn", {"InputDataUrl": DATA_URI}, "t")
    deadline = time.monotonic() + 300
    while not (execution := backend.pipelines.describe_execution(arn)).finished:
        assert time.monotonic() < deadline, "the reference pipeline did not finish in 300 s"
        time.sleep(0.1)
    folder = root / "executions" / arn.rsplit("/", 1)[-1]
    results = {
        name: next((root / "s3").rglob(name)).read_bytes()
        for name in ("evaluation.json", "model.tar.gz")
    }
    log = (folder / state.EXECUTION_LOG).read_text().splitlines()
    return results, execution.status, log


def model_bytes(archive: bytes) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as bundle:
        member = bundle.extractfile("xgboost-model")
        assert member is not None
        return member.read()


@pytest.mark.slow
def test_the_reference_pipeline_gives_the_same_bytes_fresh_and_warm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, churn_csv: bytes
) -> None:
    import subprocess

    out = tmp_path / "built.json"
    subprocess.run(
        [sys.executable, "-c", DEFINITION_SCRIPT, str(out)],
        cwd=Path(__file__).resolve().parents[1],
        check=True,
        env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1"},
    )
    built = json.loads(out.read_text())

    fresh, fresh_status, fresh_log = run_reference_pipeline(tmp_path / "fresh", built, churn_csv)
    monkeypatch.setenv(warm.SWITCH_ENV, "1")
    warm.start(tmp_path / "warm")
    wait_until_serving(tmp_path / "warm")
    forked, warm_status, warm_log = run_reference_pipeline(tmp_path / "warm", built, churn_csv)

    assert fresh_status == warm_status == "Succeeded"
    assert forked["evaluation.json"] == fresh["evaluation.json"]
    # The archive's gzip header holds the time it was written; the model in it is the same.
    assert model_bytes(forked["model.tar.gz"]) == model_bytes(fresh["model.tar.gz"])
    assert not [line for line in warm_log if "warm worker:" in line]  # every step forked
    assert "accuracy" in json.loads(fresh["evaluation.json"])["binary_classification_metrics"]
    # Built-in training ran as a step of its own (its output.log), not inside the executor.
    (train_log,) = (tmp_path / "warm" / "executions").rglob(f"TrainModel/{state.JOB_OUTPUT_LOG}")
    assert "validation-auc" in train_log.read_text()
