"""The progress bar's rate and ETA count only letters whose LLM call this run made."""

from __future__ import annotations

from imr_llm.bulk.progress import Progress, _Eta, _Rate
from imr_llm.bulk.summary import Summary, speed


def _shown(progress: Progress) -> tuple[str, str]:
    task = progress.bar.tasks[0]
    return str(_Rate().render(task)).strip(), str(_Eta().render(task))


def test_rows_that_cost_no_call_give_no_rate_and_no_eta() -> None:
    progress = Progress(10, enabled=False)
    summary = Summary()
    summary.statuses["failed"] += 2  # unreadable files: rows at once
    summary.statuses["ok"] += 1
    summary.cached += 1
    progress.advance(summary)
    assert _shown(progress) == ("-.- /s", "-:--:--")


def test_rate_and_eta_come_from_the_letters_that_were_asked() -> None:
    progress = Progress(10, enabled=False)
    summary = Summary()
    summary.statuses["failed"] += 3
    summary.statuses["ok"] += 2
    summary.called = 2
    progress.started -= 4.0  # two called letters in 4 s: 0.5 a second, 5 letters left
    progress.advance(summary)
    assert _shown(progress) == ("0.5 /s", "0:00:10")
    summary.statuses["ok"] += 5
    summary.called += 5
    progress.advance(summary)
    assert _shown(progress)[1] == "0:00:00"


def test_a_slow_model_shows_letters_a_minute() -> None:
    assert speed(0.05).strip() == "3.0 /min"
    assert speed(2.5).strip() == "2.5 /s"
