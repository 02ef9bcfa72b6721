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


class StateFileError(Exception):
    """A file of the local backend's state folder cannot be used: it does not parse, or
    holds something else than the record it should (a truncated write of an older
    version, an edit by hand, a full disk).

    Neither the input nor the AWS call is wrong, and it is not a bug: the file names what
    to delete or restore. Every stage (run_stage) and the CLI (cli.main) print `message`
    and exit 1, without a traceback.
    """

    def __init__(self, path: object, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return (
            f"the local state file {self.path} {self.problem.rstrip('.')}. "
            "Delete it (the record it held is lost) or restore it from a copy, then run again."
        )


# How much of a bad value an error message quotes: a 100,000-character input must give a
# readable one-line error, not a 100,000-character annotation.
SHOWN_CHARACTERS = 80


def shown(text: str) -> str:
    """`text` quoted for an error message: repr (a newline or an escape character shows as
    `\\n`, `\\x1b`), cut after SHOWN_CHARACTERS with the full length said when longer."""
    if len(text) <= SHOWN_CHARACTERS:
        return repr(text)
    return f"{text[:SHOWN_CHARACTERS]!r}... ({len(text):,} characters)"
