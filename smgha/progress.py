"""A long wait's sign of life: one line at least every 30 seconds.

Every wait of a stage (a pipeline execution, an endpoint update, a canary, a baselining job,
a rollback, a load test) calls `Waiting.tick(state)` on each round of its loop; the wait
prints its own lines when something changes and calls `Waiting.printed()` then. So a person
watching a terminal or a job log never sees more than PROGRESS_SECONDS of silence (a local
canary with the README's defaults waits 420 s).
"""

from __future__ import annotations

from collections.abc import Callable

# The longest silence a wait allows itself.
PROGRESS_SECONDS = 30.0


def elapsed(seconds: float) -> str:
    """`42s`, `5m00s`, `1h02m`: how long a wait has taken, for its lines."""
    whole = int(round(seconds))
    if whole < 60:
        return f"{whole}s"
    minutes, whole = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{whole:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class Waiting:
    """Prints "waiting for <what>: <state> (<elapsed> elapsed)" when the wait has printed
    nothing for `every` seconds. `clock` is the wait's own (tests pass a fake one)."""

    def __init__(
        self,
        what: str,
        log: Callable[[str], None],
        clock: Callable[[], float],
        every: float = PROGRESS_SECONDS,
    ) -> None:
        self.what = what
        self.log = log
        self.clock = clock
        self.every = every
        self.started = clock()
        self.last_line = self.started

    def printed(self) -> None:
        """The wait printed a line of its own: the silence starts again."""
        self.last_line = self.clock()

    def tick(self, state: str) -> None:
        now = self.clock()
        if now - self.last_line >= self.every:
            self.log(f"waiting for {self.what}: {state} ({elapsed(now - self.started)} elapsed)")
            self.last_line = now

    def pause(self, poll: float) -> float:
        """How long the wait may sleep before its next round (at most `poll`), so that the
        round that is due to print comes in time even when polls are long (SageMaker: 20 s)."""
        return max(0.0, min(poll, self.last_line + self.every - self.clock()))
