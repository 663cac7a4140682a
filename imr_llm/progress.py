"""The live progress bar of a bulk run, on stderr: done, failed, rate, ETA, tokens, cost."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Self

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichProgress
from rich.text import Text

from .summary import Summary, money


class _Rate(ProgressColumn):
    """Letters per second over rich's recent window."""

    def render(self, task: Task) -> Text:
        speed = task.speed
        return Text(
            "  -.- /s" if speed is None else f"{speed:6.1f} /s", style="progress.data.speed"
        )


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
            TimeRemainingColumn(),
            TextColumn("{task.fields[tokens]} tokens  {task.fields[cost]}"),
            console=self.console,
            disable=not enabled,
            refresh_per_second=4,
        )
        self.task = self.bar.add_task("bulk", total=total, failed=0, tokens="0", cost="$0.00")

    def skip(self) -> None:
        """A letter already in the output: it leaves the total instead of counting as done."""
        total = self.bar.tasks[0].total or 0
        self.bar.update(self.task, total=max(0, total - 1))

    def advance(self, summary: Summary) -> None:
        """One more row written; ``summary`` holds the running counts."""
        self.bar.update(
            self.task,
            completed=summary.letters,
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
