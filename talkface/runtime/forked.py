"""One job in a forked process, its result collected over a pipe.

Used where work that does not need this process's state can run beside it: the prefetch
of ``generate`` (reading the audio, finding the face) and the pieces of long audio for the
phone recogniser, which the prefetch's audio process starts in turn. Plain ``os.fork``,
not ``multiprocessing``: a multiprocessing helper may not start processes of its own (it
is a daemon), and nothing here needs its machinery. The child's signal handling is the
default one (``signals`` resets it after a fork), it writes nothing but its result and
leaves with ``os._exit``; :meth:`ForkedJob.close` ends it, an interrupted run ends it
with the rest of its processes (it is recorded with ``signals.track_proc``), and it is
killed when the process that started it ends in any other way (SIGKILL, out of memory).
"""
from __future__ import annotations

import os
import pickle
import signal
import sys
import time

from . import signals
from .errors import TalkfaceError


def usable_cores() -> int:
    """The cores this process may run on (what taskset / Slurm gave it, not the machine's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # no sched_getaffinity (macOS)
        return os.cpu_count() or 1


def fork_is_safe() -> bool:
    """Forking helps and is safe here: Linux, more than one core, and torch not imported
    (forking a process with torch's thread pools is unsafe)."""
    return sys.platform == "linux" and "torch" not in sys.modules and (os.cpu_count() or 1) >= 2


def _die_with(parent: int):
    """In a forked child: be killed when ``parent`` ends, however it ends (Linux's parent-
    death signal), so a run killed outright leaves no job behind, nor their own jobs."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - no prctl: the job ends when its result cannot be sent
        pass
    if os.getppid() != parent:  # it ended before the line above
        os._exit(1)


def _run(fn, args) -> tuple:
    try:
        return ("ok", fn(*args))
    except TalkfaceError as e:  # a user error: raised again, as it was, where the result is asked for
        return ("error", (type(e).__name__, e.message, e.exit_code))
    except BaseException as e:  # noqa: BLE001 - the parent redoes the job itself
        return ("crash", f"{type(e).__name__}: {e}")


class ForkedJob:
    """``fn(*args)`` in a forked process, started at once. :meth:`result` waits for it:
    ("ok", value), ("error", (error class name, message, exit code)) for a
    :class:`~talkface.runtime.errors.TalkfaceError`, or ("crash", None or text) when it failed
    otherwise or died (killed, out of memory); the caller then does the job itself."""

    def __init__(self, fn, args=()):
        self._got: tuple | None = None
        self._fd: int | None = None  # the read end of the result pipe, until closed
        with signals.held():  # forked and recorded, or neither
            r, w = os.pipe()
            parent = os.getpid()
            pid = os.fork()
            if pid == 0:  # the child
                code = 0
                try:
                    _die_with(parent)
                    os.close(r)
                    try:
                        data = pickle.dumps(_run(fn, tuple(args)), protocol=pickle.HIGHEST_PROTOCOL)
                    except Exception as e:  # noqa: BLE001 - a result that does not pickle
                        data = pickle.dumps(("crash", f"{type(e).__name__}: {e}"))
                    with os.fdopen(w, "wb") as f:
                        f.write(data)
                except BaseException:  # noqa: BLE001 - the parent sees a crash and redoes it
                    code = 1
                finally:
                    os._exit(code)
            os.close(w)
            self._fd, self.pid = r, pid
            self._done = False
            signals.track_proc(self)

    def result(self) -> tuple:
        if self._got is None:
            data = b""
            if self._fd is not None:
                try:
                    with os.fdopen(self._fd, "rb", closefd=False) as f:
                        data = f.read()
                except OSError:
                    data = b""
            try:
                self._got = pickle.loads(data) if data else ("crash", None)
            except Exception:  # noqa: BLE001 - cut short: the child died while writing
                self._got = ("crash", None)
            self.close()
        return self._got

    # what signals' cleanup calls on a recorded process (as on subprocess.Popen)
    def kill(self):
        if not self._done:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except OSError:
                pass

    def wait(self, timeout: float | None = None):
        end = None if timeout is None else time.monotonic() + timeout
        while not self._done:
            try:
                pid, _ = os.waitpid(self.pid, 0 if end is None else os.WNOHANG)
            except ChildProcessError:  # reaped already
                pid = self.pid
            if pid:
                self._done = True
            elif end is not None and time.monotonic() >= end:
                raise TimeoutError(f"process {self.pid} still running")
            else:
                time.sleep(0.005)

    def close(self):
        """End the process (if it still runs) and wait for it; the result, if taken, is kept."""
        if self._fd is None:
            return
        # no signal hold needed: once reaped (_done) the process is never signalled again,
        # and until then it stays recorded for signals' cleanup
        if self._got is None and not self._done:
            try:
                os.kill(self.pid, signal.SIGTERM)
            except OSError:
                pass
        try:
            self.wait(2.0)
        except TimeoutError:
            self.kill()
            self.wait()
        os.close(self._fd)
        self._fd = None
        signals.untrack_proc(self)
