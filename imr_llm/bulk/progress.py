"""The live progress bar of a bulk run, on stderr: done, failed, rate, ETA, tokens, cost."""

from __future__ import annotations

import sys
import time
from datetime import timedelta
from types import TracebackType
from typing import Self

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    ProgressColumn,
    Task,
    TextColumn,
)
from rich.progress import Progress as RichProgress
from rich.text import Text

from imr_llm.bulk.summary import Summary, money, speed


class _Rate(ProgressColumn):
    """Letters per second, counting only letters whose LLM call was made in this run.

    Rows that cost no call (cached, unreadable, not a letter) arrive at once; counted, they
    would show thousands of letters a second and an ETA of nothing.
    """

    def render(self, task: Task) -> Text:
        rate = task.fields["rate"]
        text = "  -.- /s" if rate is None else speed(rate)
        return Text(text, style="progress.data.speed")


class _Eta(ProgressColumn):
    """Letters left at the rate above."""

    def render(self, task: Task) -> Text:
        rate, left = task.fields["rate"], (task.total or 0) - task.completed
        if not left:
            return Text("0:00:00", style="progress.remaining")
        if not rate:
            return Text("-:--:--", style="progress.remaining")
        return Text(str(timedelta(seconds=round(left / rate))), style="progress.remaining")


def human(n: float) -> str:
    """1234567 -> "1.2M"."""
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= limit:
            return f"{n / limit:.1f}{suffix}"
    return f"{n:.0f}"


class Progress:
    """A rich progress bar fed with each row as it is written."""

    def __init__(self, total: int, *, enabled: bool) -> None:
        self.enabled = enabled
        self.console = Console(stderr=True)
        self.bar = RichProgress(
            BarColumn(bar_width=30),
            MofNCompleteColumn(),
            TextColumn("failed [red]{task.fields[failed]}[/]"),
            _Rate(),
            TextColumn("ETA"),
            _Eta(),
            TextColumn("{task.fields[tokens]} tokens  {task.fields[cost]}"),
            console=self.console,
            disable=not enabled,
            refresh_per_second=4,
        )
        self.task = self.bar.add_task(
            "bulk", total=total, failed=0, tokens="0", cost="$0.00", rate=None
        )
        self.started = time.monotonic()

    def skip(self) -> None:
        """A letter already in the output: it leaves the total instead of counting as done."""
        total = self.bar.tasks[0].total or 0
        self.bar.update(self.task, total=max(0, total - 1))

    def advance(self, summary: Summary) -> None:
        """One more row written; ``summary`` holds the running counts."""
        elapsed = time.monotonic() - self.started
        self.bar.update(
            self.task,
            completed=summary.letters,
            rate=summary.called / elapsed if summary.called and elapsed > 0 else None,
            failed=summary.statuses["failed"],
            tokens=human(summary.prompt_tokens + summary.completion_tokens),
            cost=money(summary.estimated_cost),
        )

    def note(self, message: str) -> None:
        """One line on stderr, above the bar when there is one."""
        if self.enabled:
            self.console.print(message, markup=False, highlight=False, soft_wrap=True)
        else:
            print(message, file=sys.stderr)

    def __enter__(self) -> Self:
        self.bar.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.bar.stop()
