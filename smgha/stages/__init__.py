"""What every stage shares: the declaration of its inputs and the edge that runs it.

A stage module declares `INPUTS` (the same names, defaults and descriptions as its
action.yml; a test keeps the two equal and the CLI builds its flags from them), loads a
frozen `Inputs` from a Runner in one function, and has a pure `run()`. `run_stage` is the
edge: it turns InputError and StageError into one `::error` annotation and exit code 1.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass

from smgha.errors import InputError, StageError
from smgha.runner import Runner


@dataclass(frozen=True)
class InputSpec:
    name: str  # kebab-case, as in action.yml
    description: str
    default: str = ""
    required: bool = False
    is_bool: bool = False


@dataclass(frozen=True)
class OutputSpec:
    name: str
    description: str


def run_stage(stage: str, body: Callable[[Runner], None], runner: Runner) -> int:
    """Run `body`, reporting any failure as one annotation; return the exit code."""
    try:
        body(runner)
    except InputError as error:
        runner.error(error.message, title=f"{stage}: invalid input")
        return 1
    except StageError as error:
        runner.error(error.detail, title=f"{stage}: {error.title}")
        return 1
    except Exception as error:  # a bug of ours: say so, with the trace in the log
        runner.info(traceback.format_exc())
        runner.error(
            f"{type(error).__name__}: {error}. This is a bug in smgha; please report it with the log above.",
            title=f"{stage}: unexpected error",
        )
        return 1
    return 0


def positive_number(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise InputError(name, f"must be a positive number, got {text!r}", f"E.g. {name}: 60")
    return value


def choice(name: str, text: str, allowed: tuple[str, ...]) -> str:
    if text not in allowed:
        raise InputError(
            name, f"{text!r} is not one of {', '.join(allowed)}", f"Set {name} to one of them."
        )
    return text
