"""Progress of a long command, reported by the component doing the work.

A component takes a ``Progress`` (default ``QUIET``) and says which phase it is in and,
when a phase has countable steps (the reconciler's slices, the spans a benchmark writes),
how far along it is. What becomes of it is the caller's choice: ``parallax reconcile``
and ``parallax maintain`` draw phases and a bar on a terminal (launch.progress) and say
nothing more when stderr is not one; the server's loops pass nothing.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def phase(self, name: str, total: int | None = None) -> None:
        """A new phase begins (the previous one ends); ``total``: its steps, if counted."""

    def advance(self, steps: int = 1) -> None:
        """``steps`` more steps of the current phase are done."""


class _Quiet:
    def phase(self, name: str, total: int | None = None) -> None:
        pass

    def advance(self, steps: int = 1) -> None:
        pass


QUIET: Progress = _Quiet()
"""Progress that goes nowhere."""
