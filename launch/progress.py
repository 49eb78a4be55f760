"""Progress of a long command on the terminal: its phases and a bar, drawn on stderr with
``rich`` when stderr is a terminal; nothing at all otherwise, so a pipe or a log file
gets only the command's normal output and log lines.

Log records written while the bar is drawn go above it (the process's log handlers write
through rich's console for that long) instead of tearing it.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.progress import Progress as RichProgress
from rich.text import Text

from parallax.progress import QUIET, Progress


@contextmanager
def terminal_progress(stream: TextIO | None = None) -> Iterator[Progress]:
    """A Progress that draws on ``stream`` (stderr) if it is a terminal, else QUIET."""
    stream = sys.stderr if stream is None else stream
    if not stream.isatty():
        yield QUIET
        return
    columns = (
        SpinnerColumn(finished_text="[green]✓"),
        TextColumn("{task.description}"),
        BarColumn(),
        _StepsColumn(),
        TimeElapsedColumn(),
    )
    console = Console(file=stream, stderr=stream is sys.stderr)
    with RichProgress(*columns, console=console) as bar, _logs_above(bar.console, stream):
        phases = _Phases(bar)
        try:
            yield phases
        finally:
            phases.finish()


class _Phases:
    """One line a phase: the current one spins (or fills its bar), finished ones are ticked."""

    def __init__(self, bar: RichProgress) -> None:
        self._bar = bar
        self._current: TaskID | None = None

    def phase(self, name: str, total: int | None = None) -> None:
        self.finish()
        self._current = self._bar.add_task(name, total=total, counted=total is not None)

    def advance(self, steps: int = 1) -> None:
        if self._current is not None:
            self._bar.advance(self._current, steps)

    def finish(self) -> None:
        if self._current is None:
            return
        task = next(task for task in self._bar.tasks if task.id == self._current)
        total = task.total if task.total is not None else max(task.completed, 1)
        self._bar.update(self._current, total=total, completed=total)
        self._bar.stop_task(self._current)
        self._current = None


class _StepsColumn(ProgressColumn):
    """``i/n`` for a phase with counted steps (slice 3/8); blank for one without."""

    def render(self, task: Task) -> Text:
        if not task.fields.get("counted"):
            return Text("")
        return Text(f"{int(task.completed)}/{int(task.total or 0)}", style="progress.download")


@contextmanager
def _logs_above(console: Console, stream: TextIO) -> Iterator[None]:
    """Point the log handlers that write to ``stream`` at ``console`` while the bar shows."""
    handlers = [
        handler
        for handler in logging.getLogger().handlers
        if isinstance(handler, logging.StreamHandler) and handler.stream is stream
    ]
    proxy = _ConsoleWriter(console)
    for handler in handlers:
        handler.setStream(proxy)  # type: ignore[arg-type]
    try:
        yield
    finally:
        for handler in handlers:
            handler.setStream(stream)


class _ConsoleWriter:
    """A text stream whose lines rich prints above the live bar (markup off, as sent)."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._pending = ""

    def write(self, text: str) -> int:
        lines = (self._pending + text).split("\n")
        self._pending = lines.pop()
        for line in lines:
            self._console.print(line, markup=False, highlight=False, emoji=False, soft_wrap=True)
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self.write("\n")
