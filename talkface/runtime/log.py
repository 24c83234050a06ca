"""talkface's messages go through ``logging.getLogger("talkface")``.

A program that configures logging receives them through its own handlers (silence them
with ``logging.getLogger("talkface").setLevel(logging.ERROR)``). The command line shows
them on stderr, one line each: ``warning: <message>``. Where nothing is configured (a
script using the API, a batch worker process) warnings still appear that way on stderr.
"""
from __future__ import annotations

import logging
import sys

logger = logging.getLogger("talkface")


class StderrLines(logging.Handler):
    """``<level>: <message>`` on the current ``sys.stderr`` (looked up for every message,
    so a replaced or captured stderr gets them)."""

    def emit(self, record: logging.LogRecord):
        try:
            sys.stderr.write(f"{record.levelname.lower()}: {record.getMessage()}\n")
        except Exception:  # noqa: BLE001 - logging's own convention
            self.handleError(record)


class _Fallback(StderrLines):
    """Like logging's last resort, in the command line's format: only while no other
    handler would take the message."""

    def emit(self, record: logging.LogRecord):
        if not _configured():
            super().emit(record)


def _configured() -> bool:
    lg: logging.Logger | None = logger
    while lg is not None:
        if any(not isinstance(h, _Fallback) for h in lg.handlers):
            return True
        if not lg.propagate:
            return False
        lg = lg.parent
    return False


def log_to_stderr():
    """The command line's handler (idempotent): warnings and errors, one line each."""
    if not any(type(h) is StderrLines for h in logger.handlers):
        logger.addHandler(StderrLines(logging.WARNING))


logger.addHandler(_Fallback(logging.WARNING))
