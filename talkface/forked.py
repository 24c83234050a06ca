"""One job in a forked process, its result collected over a pipe.

Used where work that does not need this process's state can run beside it: the prefetch
of ``generate`` (reading the audio, finding the face) and the pieces of long audio for the
phone recogniser. The child's signal handling is the default one (``signals`` resets it
after a fork) and it writes nothing but its result; :meth:`ForkedJob.close` ends it.
"""
from __future__ import annotations

import os
import sys

from .errors import TalkfaceError


def fork_is_safe() -> bool:
    """Forking helps and is safe here: Linux, more than one core, and torch not imported
    (forking a process with torch's thread pools is unsafe)."""
    return sys.platform == "linux" and "torch" not in sys.modules and (os.cpu_count() or 1) >= 2


def _child(conn, fn, args):
    try:
        conn.send(("ok", fn(*args)))
    except TalkfaceError as e:  # a user error: raised again, as it was, where the result is asked for
        conn.send(("error", (type(e).__name__, e.message, e.exit_code)))
    except BaseException as e:  # noqa: BLE001 - the parent redoes the job itself
        conn.send(("crash", f"{type(e).__name__}: {e}"))
    finally:
        conn.close()


class ForkedJob:
    """``fn(*args)`` in a forked process, started at once. :meth:`result` waits for it:
    ("ok", value), ("error", (error class name, message, exit code)) for a
    :class:`~talkface.errors.TalkfaceError`, or ("crash", None or text) when it failed
    otherwise or died (killed, out of memory); the caller then does the job itself."""

    def __init__(self, fn, args=()):
        import multiprocessing as mp

        ctx = mp.get_context("fork")
        self._conn, child = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=_child, args=(child, fn, tuple(args)), daemon=True)
        self._proc.start()
        child.close()
        self._got: tuple | None = None

    def result(self) -> tuple:
        if self._got is None:
            try:
                self._got = self._conn.recv()
            except (EOFError, OSError):  # the child died
                self._got = ("crash", None)
            self.close()
        return self._got

    def close(self):
        """End the process (if it still runs) and wait for it; the result, if taken, is kept."""
        if self._proc is None:
            return
        if self._proc.is_alive():
            self._proc.terminate()
        self._proc.join()
        self._conn.close()
        self._proc = None
