"""Errors a user can cause, each with a documented exit code.

Exit codes (also in the README):
  0  success
  1  unexpected internal error (a bug: run again with --debug and report it)
  2  bad usage or bad input (file missing, unreadable, wrong format, output exists ...)
  3  no face found in the portrait (or in the video of train vgnet --video)
  4  weights missing or corrupt
  5  talkface batch: some items failed (the others were written; see the report)
  6  talkface doctor: a check failed (ffmpeg, face detectors, phone recogniser); the
     weights' check failing is 4
  130 interrupted: Ctrl-C (SIGINT) or SIGTERM, for every command; the unfinished output
      is removed (see talkface.runtime.signals)
"""
from __future__ import annotations

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_INPUT = 2
EXIT_NO_FACE = 3
EXIT_WEIGHTS = 4
EXIT_BATCH_FAILED = 5
EXIT_CHECK_FAILED = 6  # talkface doctor: a check other than the weights' failed
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


INSTALL = "pip install torch (CPU: pip install torch --index-url https://download.pytorch.org/whl/cpu)"


class TorchMissing(InputError):
    """Something asked for needs PyTorch, which is not installed (exit 2)."""


def missing(what: str) -> TorchMissing:
    """The one-line error: ``WHAT needs PyTorch: pip install torch (CPU: ...)``."""
    return TorchMissing(f"{what} needs PyTorch: {INSTALL}")


def describe(e: BaseException, out_of_memory: str = "try a smaller --max-size or shorter audio") -> tuple[int, str]:
    """(exit code, one-line message) for an exception, as the command line reports it;
    ``out_of_memory`` finishes the ``MemoryError`` line with what to try."""
    if isinstance(e, TalkfaceError):
        return e.exit_code, e.message
    if isinstance(e, MemoryError):
        return EXIT_UNEXPECTED, f"out of memory; {out_of_memory}"
    if is_missing_torch(e):  # a path without its own require_torch: still one line
        return describe(missing("this"))
    if isinstance(e, OSError):
        where = f"{e.filename}: " if getattr(e, "filename", None) else ""
        if e.errno == 28:
            return EXIT_INPUT, f"{where}no space left on the device; free some disk space or write elsewhere"
        if e.errno == 13:
            return EXIT_INPUT, f"{where}permission denied; choose a writable location"
        return EXIT_INPUT, f"{where}{e.strerror or e}; check the path"
    text = str(e).splitlines()[0] if str(e) else ""
    return EXIT_UNEXPECTED, f"unexpected {type(e).__name__}: {text} (run again with --debug and report it)"


def is_missing_torch(e: BaseException) -> bool:
    """``e`` is the ImportError of a torch that is not installed (also from a package that
    imports it, such as face_alignment)."""
    return isinstance(e, ModuleNotFoundError) and (e.name or "").split(".")[0] == "torch"
