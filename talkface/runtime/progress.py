"""Per-stage timing and (optional) rich progress on stderr."""
from __future__ import annotations

import contextlib
import sys
import time

from .log import logger


class Reporter:
    """Times named stages; shows a rich status/progress bar when ``show`` is true.

    Bars are only drawn on a terminal: in pipes and scripts stderr stays clean.
    """

    def __init__(self, show: bool = True, console=None):
        self.seconds: dict[str, float] = {}
        self.show = show and sys.stderr.isatty()
        self._console = console
        self._bar = None

    @property
    def console(self):
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=True)
        return self._console

    @contextlib.contextmanager
    def stage(self, name: str, text: str | None = None):
        t = time.perf_counter()
        if self.show:
            with self.console.status(text or name):
                yield
        else:
            yield
        self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - t, 3)

    def add(self, name: str, seconds: float):
        self.seconds[name] = round(self.seconds.get(name, 0.0) + seconds, 3)

    @contextlib.contextmanager
    def bar(self, text: str, total: int):
        if not self.show:
            yield lambda n=1: None
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      console=self.console, transient=True) as p:
            task = p.add_task(text, total=total)
            yield lambda n=1: p.advance(task, n)

    def warn(self, msg: str):
        """A warning through the ``talkface`` logger (stderr on the command line)."""
        logger.warning(msg)
