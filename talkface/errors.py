"""Errors a user can cause, each with a documented exit code.

Exit codes (also in the README):
  0  success
  1  unexpected internal error (a bug: run again with --debug and report it)
  2  bad usage or bad input (file missing, unreadable, wrong format, output exists ...)
  3  no face found in the portrait
  4  weights missing or corrupt
  5  talkface batch: some items failed (the others were written; see the report)
  130 interrupted: Ctrl-C (SIGINT) or SIGTERM, for every command; the unfinished output
      is removed (see talkface.signals)
"""
from __future__ import annotations

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_INPUT = 2
EXIT_NO_FACE = 3
EXIT_WEIGHTS = 4
EXIT_BATCH_FAILED = 5
EXIT_INTERRUPTED = 130  # SIGINT and SIGTERM alike (not 143 for SIGTERM)


class TalkfaceError(Exception):
    """An error with a one-line, user-facing message and an exit code."""

    exit_code = EXIT_INPUT

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code

    @property
    def message(self) -> str:
        return str(self.args[0]).replace("\n", " ")


class InputError(TalkfaceError):
    exit_code = EXIT_INPUT


class NoFaceError(TalkfaceError):
    exit_code = EXIT_NO_FACE


class WeightsError(TalkfaceError):
    exit_code = EXIT_WEIGHTS
