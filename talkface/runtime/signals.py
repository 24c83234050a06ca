"""Ctrl-C and SIGTERM: stop at any moment, leave nothing half-written, never hang.

The CLI installs :func:`installed` handlers for SIGINT and SIGTERM (``timeout``, ``docker
stop``, ``kill``, systemd, Slurm send SIGTERM) that raise :class:`Interrupted`, a
``KeyboardInterrupt``, in the main thread; the command then exits 130 for either signal.

Correct by construction rather than by luck:

* Code that must not be cut in two (creating a temp file and recording it, starting
  ffmpeg and recording it, a ``queue.Queue`` operation whose lock an exception would
  leave taken, the final rename) runs inside :func:`held`: a signal that arrives there is
  held back and raised when the section ends (or at an explicit :func:`check`).
* Every temp file that is not committed yet and every encoder process is recorded
  (:func:`track_file`, :func:`track_proc`); :func:`cleanup` kills the processes and then
  removes the files, so whatever window the signal hit, nothing is left beside the output.
* The rename of the finished temp file is the single commit point: a signal that arrives
  before it stops the run (nothing at the output path); once it is done the run has
  finished, and for ``generate`` later signals are ignored until the process exits 0.
* A second signal while the first one is being cleaned up stops at once (the same
  cleanup, done right there, then exit 130).

``talkface.batch.run_batch`` installs the handlers itself. ``talkface.generate`` through the
Python API does not: there Python's own ``KeyboardInterrupt`` reaches the writers, which
clean up as before (the CLI is the hardened path).
"""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from typing import Any

from .errors import EXIT_INTERRUPTED

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """Raised in the main thread for SIGINT or SIGTERM while the handlers are installed."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signum)
        self.signum = signum


class _State:
    def __init__(self):
        self.installed = 0  # nesting of installed()
        self.depth = 0  # held() sections open in the main thread
        self.pending: int | None = None  # a signal held back
        self.last: int | None = None  # the last signal received
        self.stopping = False  # an Interrupted was raised: cleanup is under way
        self.acked = False  # ... and the code that stops the run has it (acknowledge())
        self.finished = False  # the run's output is committed: later signals are only noted
        self.finish_on_commit = False  # generate: the first commit finishes the run
        self.reported = False  # the CLI printed the "interrupted" line
        self.files: dict[int, str] = {}  # temp files not committed yet
        self.procs: dict[int, Any] = {}  # child processes to kill (subprocess.Popen, forked.ForkedJob)
        self.helpers_before: set[int] = set()  # multiprocessing children that were there before
        self.prev_hook = None  # sys.unraisablehook before ours


_st = _State()


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def handler(signum, frame):
    """The SIGINT / SIGTERM handler (see the module's doc)."""
    _st.last = signum
    if _st.finished:
        _st.pending = signum
        return
    if _st.stopping:
        if _st.depth == 0:  # a second signal while cleaning up: stop now
            _emergency_exit()
        return
    if _st.depth:
        _st.pending = signum
        return
    _st.stopping = True
    raise Interrupted(signum)


def _emergency_exit():
    _cleanup(wait=0.5)
    try:
        os.write(2, b"error: interrupted again; stopped at once, the unfinished output was removed\n")
    except OSError:
        pass
    os._exit(EXIT_INTERRUPTED)


def _install(finish_on_commit: bool = False):
    """Install the handlers (main thread); what :func:`_restore` needs."""
    old = {s: signal.getsignal(s) for s in SIGNALS}
    fresh = _State()
    fresh.files, fresh.procs = _st.files, _st.procs  # writers opened before keep their records
    _st.__dict__.update(fresh.__dict__)
    _st.finish_on_commit = finish_on_commit
    _st.installed = 1
    _st.helpers_before = _helper_pids()
    mine = [s for s in SIGNALS if old[s] is not signal.SIG_IGN]  # one ignored by whoever started us
    for s in mine:  # (a script's "cmd &" ignores SIGINT) stays ignored, as Python itself leaves it
        signal.signal(s, handler)
    hook = sys.unraisablehook if sys.unraisablehook is not _unraisable else sys.__unraisablehook__
    sys.unraisablehook = _unraisable
    return old, mine, hook


def _restore(saved):
    old, mine, hook = saved
    _st.finished = True  # signal.signal() runs a handler still due: it only notes the signal
    for s in mine:
        signal.signal(s, old[s] if old[s] is not None else signal.SIG_DFL)
    sys.unraisablehook = hook
    _st.installed = 0
    _st.pending = None
    _st.depth = 0


def _unraisable(u):
    """An Interrupted raised while Python runs a weakref callback or ``__del__`` (an import's
    module-lock callback, say) is dropped by Python: send the signal again instead, so the
    code that runs next gets it."""
    if isinstance(u.exc_value, Interrupted) and _main_thread() and _st.installed:
        _st.stopping = False
        try:  # from another thread, a moment later: sent from here it would be handled in here again
            t = threading.Timer(0.005, os.kill, (os.getpid(), u.exc_value.signum))
            t.daemon = True
            t.start()
        except Exception:  # noqa: BLE001 - no thread now (the interpreter is ending)
            pass
        return
    sys.__unraisablehook__(u) if _st.prev_hook is None else _st.prev_hook(u)


@contextlib.contextmanager
def installed(finish_on_commit: bool = False):
    """SIGINT and SIGTERM raise :class:`Interrupted` inside (main thread only; elsewhere a
    no-op). Nested use keeps the outer handlers; the previous ones are restored at the end
    (a signal that comes as they are restored is only noted)."""
    if not _main_thread():
        yield
        return
    if _st.installed:
        _st.installed += 1
        try:
            yield
        finally:
            _st.installed -= 1
        return
    saved = _install(finish_on_commit)
    _st.prev_hook = saved[2]
    try:
        yield
    finally:
        _restore(saved)


def install():
    """Install the handlers for good: for the process's entry point, which ends the process
    (call :func:`finish` before it leaves)."""
    if _main_thread() and not _st.installed:
        _st.prev_hook = _install()[2]


def finish():
    """The command is over and the process is leaving: a signal from here changes nothing.
    Our handlers become SIG_IGN: Python's teardown puts a handler it installed back to the
    default (which ends the process by the signal, exit -15 / -2, after a run that had
    finished), but leaves an ignored signal ignored."""
    _st.finished = True
    if _main_thread() and _st.installed:
        for s in SIGNALS:
            if signal.getsignal(s) is handler:
                signal.signal(s, signal.SIG_IGN)


def install_for_worker(on_term=None):
    """A ``talkface batch`` worker process: SIGINT ignored (its parent decides), SIGTERM
    (the parent stopping it) handled by ``on_term`` or as :func:`installed` does."""
    _st.__dict__.update(_State().__dict__)
    _st.installed = 1
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, on_term or handler)
    _st.prev_hook = sys.unraisablehook if sys.unraisablehook is not _unraisable else sys.__unraisablehook__
    sys.unraisablehook = _unraisable


def set_finish_on_commit(value: bool = True):
    """The first commit finishes the run (``generate``: one output)."""
    _st.finish_on_commit = value


@contextlib.contextmanager
def held(deliver: bool = True):
    """Signals are held back inside (main thread); with ``deliver`` one that came is raised
    when the block ends normally, else it stays pending for :func:`check`."""
    if not _main_thread():
        yield
        return
    _st.depth += 1
    try:
        yield
    finally:
        _st.depth -= 1
    if deliver and _st.depth == 0:
        check()


def raise_pending():
    """Raise :class:`Interrupted` for a held-back signal (call only where that is safe)."""
    s = _st.pending
    if s is None or _st.finished:
        return
    _st.pending = None
    _st.stopping = True
    raise Interrupted(s)


def check():
    """Raise a held-back signal now, if there is one and no :func:`held` block is open; or
    raise again one that was lost on its way (see :func:`lost`)."""
    if _st.depth == 0:
        if _st.pending is not None:
            raise_pending()
        raise_if_lost()


def acknowledge():
    """The code that stops the run has the interrupt (it cleans up and exits 130)."""
    _st.acked = True


def lost() -> bool:
    """An Interrupted was raised but never reached the code that stops the run: a library
    turned it into another exception (a C or Rust extension's ValueError, say) or swallowed
    it. Such an error is the interrupt, and the run still stops at the next check."""
    return _st.stopping and not _st.acked and not _st.finished


def raise_if_lost():
    if lost():
        raise Interrupted(_st.last or signal.SIGINT)


def pending() -> int | None:
    return _st.pending


def last_signal() -> int | None:
    """The last SIGINT / SIGTERM received since the handlers were installed."""
    return _st.last


def stop_requested() -> bool:
    """A held-back signal that :func:`raise_pending` would raise, or a lost one."""
    return (_st.pending is not None and not _st.finished) or lost()


def stopping() -> bool:
    """An Interrupted was raised in this process: its cleanup is under way."""
    return _st.stopping


def committed():
    """An output was renamed into place (its commit point)."""
    if _st.finish_on_commit and _st.installed:
        _st.finished = True


def delivered() -> bool:
    """A signal was raised (or held back) in this run."""
    return _st.stopping or _st.pending is not None


def mark_reported() -> bool:
    """True the first time: the caller prints the one "interrupted" line."""
    first = not _st.reported
    _st.reported = True
    return first


def track_file(path) -> None:
    _st.files[id(path)] = str(path)


def untrack_file(path) -> None:
    _st.files.pop(id(path), None)


def track_proc(proc) -> None:
    _st.procs[id(proc)] = proc


def untrack_proc(proc) -> None:
    _st.procs.pop(id(proc), None)


def cleanup():
    """Kill the recorded child processes (encoders, forked jobs), then remove the recorded
    temp files (nothing recorded is committed), then stop multiprocessing children. Bounded
    in time."""
    with held(deliver=False):
        _cleanup(wait=5.0)


def _cleanup(wait: float):
    import time

    for p in list(_st.procs.values()):
        try:
            p.kill()
        except (OSError, AttributeError):
            pass
    end = time.monotonic() + wait
    for p in list(_st.procs.values()):
        try:
            p.wait(timeout=max(0.01, end - time.monotonic()))
        except Exception:  # noqa: BLE001 - still exiting; it writes nothing once its temp file is gone
            pass
    _st.procs.clear()
    for f in list(_st.files.values()):
        try:
            os.unlink(f)
        except OSError:
            pass
    _st.files.clear()
    _stop_helpers(min(wait, 2.0))


def _stop_helpers(wait: float):
    """``multiprocessing`` children this run started (``batch --jobs`` workers, when the
    pool itself could not stop them): end them with the run. talkface's forked jobs
    (``talkface.runtime.forked``) are recorded processes, ended with the others above."""
    import multiprocessing

    try:
        kids = [k for k in multiprocessing.active_children() if k.pid not in _st.helpers_before]
    except Exception:  # noqa: BLE001
        return
    terminate(kids)
    reap(kids, wait)


def terminate(procs):
    """SIGTERM to each ``multiprocessing`` process of ``procs`` (those already gone are passed over)."""
    for p in procs:
        try:
            p.terminate()
        except Exception:  # noqa: BLE001 - already gone
            pass


def reap(procs, wait: float, kill_wait: float = 0.5):
    """Wait for ``procs`` to end, ``wait`` seconds for all of them together; kill those
    still there after that (and wait ``kill_wait`` more for each)."""
    import time

    end = time.monotonic() + wait
    for p in procs:
        try:
            p.join(max(0.01, end - time.monotonic()))
            if p.is_alive():
                p.kill()
                p.join(kill_wait)
        except Exception:  # noqa: BLE001
            pass


def _helper_pids() -> set[int]:
    if "multiprocessing" not in sys.modules:  # then it started no process yet
        return set()
    import multiprocessing

    try:
        return {k.pid for k in multiprocessing.active_children() if k.pid is not None}
    except Exception:  # noqa: BLE001
        return set()


def _after_fork_in_child():
    """A forked child (multiprocessing "fork") owns none of the parent's temp files or
    processes and is stopped by its parent: default signal handling, empty records."""
    if _st.installed:
        for s in SIGNALS:
            try:
                signal.signal(s, signal.SIG_DFL)
            except (OSError, ValueError):
                pass
    _st.__dict__.update(_State().__dict__)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
