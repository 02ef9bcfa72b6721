"""The two ways a stage fails, each carrying what the user needs to fix it."""

from __future__ import annotations


class InputError(Exception):
    """An action input is wrong. Raised before anything is created or changed.

    `name` is the input's kebab-case name as written in the workflow (`role-arn`),
    `hint` says what to do about it.
    """

    def __init__(self, name: str, problem: str, hint: str = "") -> None:
        self.name = name
        self.problem = problem
        self.hint = hint
        super().__init__(self.message)

    @property
    def message(self) -> str:
        text = f"input '{self.name}': {self.problem.rstrip('.')}"
        return f"{text}. {self.hint}" if self.hint else text


class StageError(Exception):
    """The stage ran and what it drove failed (a pipeline step, an AWS call).

    `title` is a short headline for the annotation; the message is the detail.
    """

    def __init__(self, title: str, detail: str) -> None:
        self.title = title
        self.detail = detail
        super().__init__(f"{title}: {detail}")
