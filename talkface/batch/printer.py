"""The lines a batch prints on stderr: plain in scripts and pipes, colour and a bar on a terminal."""
from __future__ import annotations

import sys
from typing import Any


class Printer:
    """Per-item lines on stderr: plain text in scripts and pipes; colour and a progress bar on a terminal."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        self.tty = sys.stderr.isatty() and not quiet
        self._progress: Any = None  # a rich Progress, made on start
        self._task: Any = None

    def start(self, n: int):
        if self.tty and n:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(TextColumn("batch"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                                      console=Console(stderr=True), transient=True)
            self._progress.start()
            self._task = self._progress.add_task("batch", total=n)

    def item(self, r: dict, done: int, n: int):
        if self.quiet:
            return
        width = len(str(n))
        head = f"[{done:>{width}}/{n}]"
        if r["status"] == "ok":
            text = f"{head} ok      {r['output']} ({r['seconds']:.1f} s)"
        elif r["status"] == "skipped":
            text = f"{head} skipped {r['output']} (a valid video is there)"
        else:
            what = r["output"] or f"line {r['line']}"
            err = r["error"] or ""
            text = f"{head} FAILED  {err}" if err.startswith(f"{what}:") else f"{head} FAILED  {what}: {err}"
        if self._progress is not None:
            from rich.markup import escape

            colour = {"ok": "green", "skipped": "cyan"}.get(r["status"], "red")
            self._progress.console.print(f"[{colour}]{escape(text)}[/{colour}]", highlight=False, soft_wrap=True)
            self._progress.advance(self._task)
        else:
            print(text, file=sys.stderr, flush=True)

    def stop(self):
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def summary(self, s: dict):
        if self.quiet:
            return
        where = f"; report: {s['report']}" if s.get("report") else ""
        shard = f" (shard {s['shard']})" if s.get("shard") else ""
        print(f"batch{shard}: {s['total']} items, {s['ok']} ok, {s['skipped']} skipped, {s['failed']} failed "
              f"in {s['seconds']:.1f} s{where}", file=sys.stderr, flush=True)
