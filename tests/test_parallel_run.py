"""How `make test` runs the suite on two workers (tests/conftest.py, pytest-xdist's
--dist loadfile --no-loadscope-reorder): the files that share a session fixture made once
per run go to one worker, every other file to one worker, the slowest files are handed out
first, and a new user of such a fixture cannot silently double its cost."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from tests import conftest

SAGEMAKER_E2E = "tests/test_e2e_act_sagemaker.py"
IAM_LEAST_PRIVILEGE = "tests/test_iam_least_privilege.py"
E2E_ACT = "tests/test_e2e_act.py"


class Worker:
    """What pytest-xdist's scheduler sees of a worker: the tests it is sent to run."""

    def __init__(self, name: str) -> None:
        self.gateway = SimpleNamespace(id=name)
        self.shutting_down = False
        self.pending: list[int] = []  # indexes into the collection, as xdist sends them

    def send_runtest_some(self, indexes: list[int]) -> None:
        self.pending.extend(indexes)

    def shutdown(self) -> None:
        self.shutting_down = True


def _options(dist: str) -> Any:
    """The command line options the scheduler reads (`make test`'s, on two workers)."""
    values = {"dist": dist, "tx": ["2*popen"]}
    return SimpleNamespace(
        getoption=values.__getitem__,
        getvalue=values.__getitem__,
        option=SimpleNamespace(loadscopereorder=False),
    )


def _run(collection: list[str], fast: Worker, slow: Worker) -> dict[str, str]:
    """Hand `collection` out as `make test` does and return which worker ran each test.
    `slow` is busy with its first test while `fast` runs everything it is sent: the case
    in which plain --dist loadfile sends the second file of a group to the other worker."""
    scheduler = conftest.pytest_xdist_make_scheduler(_options("loadfile"), None)
    for worker in (slow, fast):
        scheduler.add_node(worker)
    for worker in (slow, fast):
        scheduler.add_node_collection(worker, collection)
    scheduler.schedule()
    ran_on: dict[str, str] = {}
    while slow.pending or fast.pending:
        worker = fast if fast.pending else slow
        index = worker.pending.pop(0)
        ran_on[collection[index]] = worker.gateway.id
        scheduler.mark_test_complete(worker, index)
    return ran_on


def test_the_files_of_a_once_per_run_fixture_run_on_one_worker() -> None:
    collection = [
        *(f"{SAGEMAKER_E2E}::test_{n}" for n in range(3)),
        *(f"{E2E_ACT}::test_{n}" for n in range(3)),
        *(f"{IAM_LEAST_PRIVILEGE}::test_{n}" for n in range(3)),
        *(f"tests/test_progress.py::test_{n}" for n in range(3)),
    ]
    ran_on = _run(collection, fast=Worker("gw1"), slow=Worker("gw0"))

    assert sorted(ran_on) == sorted(collection)
    workers_of_file: dict[str, set[str]] = {}
    for nodeid, worker in ran_on.items():
        workers_of_file.setdefault(nodeid.split("::")[0], set()).add(worker)
    assert workers_of_file == {
        SAGEMAKER_E2E: {"gw0"},  # the first group handed out, with its second file
        IAM_LEAST_PRIVILEGE: {"gw0"},
        E2E_ACT: {"gw1"},
        "tests/test_progress.py": {"gw1"},
    }


def test_every_other_dist_mode_keeps_pytest_xdists_own_scheduler() -> None:
    for dist in ("load", "loadgroup", "worksteal", "no"):
        assert conftest.pytest_xdist_make_scheduler(_options(dist), None) is None


def _items(*specs: tuple[str, tuple[str, ...]]) -> list[Any]:
    return [SimpleNamespace(nodeid=nodeid, fixturenames=names) for nodeid, names in specs]


def test_the_slowest_files_come_first_and_the_rest_keep_their_order() -> None:
    items = _items(
        ("ml/tests/test_data.py::test_a", ()),
        ("tests/test_actions.py::test_a", ()),
        (f"{IAM_LEAST_PRIVILEGE}::test_a", ("sagemaker_e2e",)),
        (f"{E2E_ACT}::test_a", ()),
        ("tests/test_actions.py::test_b", ()),
        (f"{SAGEMAKER_E2E}::test_a", ("sagemaker_e2e",)),
    )
    conftest.pytest_collection_modifyitems(items)
    nodeids = [item.nodeid for item in items]

    # First the two slow groups, in the order of SLOWEST_FIRST, each in collection order.
    sagemaker_group = [f"{IAM_LEAST_PRIVILEGE}::test_a", f"{SAGEMAKER_E2E}::test_a"]
    slow = (
        [*sagemaker_group, f"{E2E_ACT}::test_a"]
        if conftest.SLOWEST_FIRST.index(SAGEMAKER_E2E) < conftest.SLOWEST_FIRST.index(E2E_ACT)
        else [f"{E2E_ACT}::test_a", *sagemaker_group]
    )
    assert nodeids[:3] == slow
    assert nodeids[3:] == [
        "ml/tests/test_data.py::test_a",
        "tests/test_actions.py::test_a",
        "tests/test_actions.py::test_b",
    ]


def test_a_new_user_of_a_once_per_run_fixture_must_join_its_group() -> None:
    items = _items(("tests/test_new.py::test_a", ("tmp_path", "sagemaker_e2e")))

    with pytest.raises(pytest.UsageError) as raised:
        conftest.pytest_collection_modifyitems(items)

    assert str(raised.value) == (
        "tests/test_new.py uses the session fixture sagemaker_e2e, made once per run: add "
        '"tests/test_new.py": "sagemaker_e2e" to SHARED_GROUPS in tests/conftest.py'
    )
