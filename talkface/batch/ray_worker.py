"""The worker side of ``talkface batch --ray``: a Ray actor (a process on some node of the
cluster) that makes items one at a time with :func:`talkface.batch.items.run_item`, the
models loaded once per actor (:class:`~talkface.batch.items.Models`).

Nothing here imports Ray at module level: the driver (``ray_backend``) wraps
:class:`RayWorker` and :class:`StopFlag` with ``ray.remote``, and only a Ray worker calls
into Ray from here.

* Files: the item's paths are read and written in place when this node shares the driver's
  file system (the driver checks: probe files in the output folders, and each item's inputs
  by size and time); otherwise the inputs come from the driver and are put in a private
  folder here, the video is made there and its bytes go back to the driver, which writes it.
* Stopping: SIGTERM (the driver stopping the batch through :class:`StopFlag`, or Ray itself:
  ``ray stop``, a node drained) aborts the item being made as ``generate`` does (encoder
  killed, temp file removed); between items the actor just ends. SIGINT is ignored: the
  driver decides.
"""
from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
from dataclasses import replace
from pathlib import Path

from ..runtime import signals
from .items import Common, Models, run_item
from .manifest import Item

TEMP_PREFIX = "talkface-ray-"  # the private folders of shipped items: talkface-ray-HOST-PID-RANDOM
ROLES = ("portrait", "audio", "landmarks")
_STATE = {"busy": False}


def host() -> str:
    """This machine's name as the temp files of its outputs carry it."""
    from ..video.outputs import _host

    return _host()


def _term(signum, frame):
    """SIGTERM: while an item runs, abort it as ``generate`` would; between items, end."""
    if not _STATE["busy"]:
        os._exit(130)
    if signals.stopping():  # sent again: already on it
        return
    signals.handler(signum, frame)


def input_stamp(path) -> tuple[int, int] | None:
    """(size, whole seconds of mtime) of an input file; None when it is not a file here."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_size, int(st.st_mtime)) if os.path.isfile(path) else None


def _remove_stale_dirs():
    """The private folders of actors on this machine that were killed mid-item."""
    from ..video.outputs import _pid_alive

    prefix = f"{TEMP_PREFIX}{host()}-"
    try:
        entries = list(Path(tempfile.gettempdir()).iterdir())
    except OSError:
        return
    for p in entries:
        pid = p.name[len(prefix):].split("-", 1)[0] if p.name.startswith(prefix) else ""
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(p, ignore_errors=True)


class StopFlag:
    """Set once by the driver to stop the batch; every worker waits on it in a thread.
    An async actor: its ``wait`` calls all return when ``set`` is called."""

    def __init__(self):
        import asyncio

        self._event = asyncio.Event()

    async def wait(self) -> bool:
        await self._event.wait()
        return True

    async def set(self) -> bool:
        self._event.set()
        return True


class RayWorker:
    """One actor: :meth:`ready` once (resolves the device, says where it runs), then
    :meth:`run` per item, one at a time."""

    def __init__(self, device: str, debug: bool = False, stop_flag=None):
        signals.install_for_worker(_term)  # the task runs in this (the main) thread
        self.device, self.debug = device, debug
        self.models: Models | None = None
        self.stopped = False
        _remove_stale_dirs()
        if stop_flag is not None:
            threading.Thread(target=self._watch, args=(stop_flag,), name="talkface-ray-stop", daemon=True).start()

    def _watch(self, flag):
        import ray

        try:
            ray.get(flag.wait.remote())
        except Exception:  # noqa: BLE001 - the driver is gone: stop too
            pass
        self.stopped = True
        if _STATE["busy"]:
            os.kill(os.getpid(), signal.SIGTERM)

    def ready(self, probes: dict[str, str] | None = None) -> dict:
        """Where this actor runs, its device, and whether it sees the driver's ``probes``
        ({file: its text}: one in each output folder) as the driver wrote them."""
        from ..runtime.device import resolve_device

        dev = resolve_device(self.device)
        self.models = Models(dev)
        sees = True
        for path, token in (probes or {}).items():
            try:
                sees = sees and Path(path).read_text() == token
            except (OSError, UnicodeDecodeError):
                sees = False
        return {"host": host(), "pid": os.getpid(), "device": dev, "sees": sees}

    def run(self, it: Item, common: Common, resume: bool, force: bool, expect: dict | None = None,
            files: dict | None = None, give_back: bool = False) -> dict:
        """Make ``it``. ``expect``: {input path: :func:`input_stamp` on the driver}; when one
        differs here the answer is {"need_inputs": True} (nothing done). ``files``: the inputs
        shipped, {role: (file name, object ref, or None: absent there, or "dir")}; ``give_back``:
        the video is made in a private folder and its bytes returned. Returns {"row": the
        report's row, "data": the bytes or None} or {"stopped": True}."""
        if self.stopped:
            return {"stopped": True}
        if expect and any(input_stamp(p) != tuple(s) for p, s in expect.items()):
            return {"need_inputs": True}
        work: str | None = None
        _STATE["busy"] = True
        try:
            local = it
            if files is not None or give_back:
                work = tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{host()}-{os.getpid()}-")
                local = _localise(it, Path(work), files, give_back)
            row = run_item(local, common, resume, force, self.debug, self.models)
            data = Path(local.output).read_bytes() if give_back and row["status"] == "ok" else None  # type: ignore[arg-type]
        except KeyboardInterrupt:
            signals.acknowledge()
            signals.cleanup()  # the encoder killed, the temp file removed
            self.stopped = True
            return {"stopped": True}
        finally:
            _STATE["busy"] = False
            if work is not None:
                shutil.rmtree(work, ignore_errors=True)
        if signals.pending() is not None:  # a stop that came while the video was committed: it is done
            self.stopped = True
        if local is not it and row.get("error"):
            row["error"] = unmap(row["error"], _paths(local, it))
        return {"row": row, "data": data}


def _paths(a: Item, b: Item) -> dict[str, str]:
    """{path of ``a``: the same role's path of ``b``} where they differ."""
    pairs = [(a.output, b.output)] + [(_get(a, r), _get(b, r)) for r in ROLES]
    return {x: y for x, y in pairs if x and y and x != y}


def unmap(text: str, paths: dict[str, str]) -> str:
    """``text`` with each path of ``paths`` written as its value instead (longest first)."""
    for k in sorted(paths, key=len, reverse=True):
        text = text.replace(k, paths[k])
    return text


def _get(it: Item, role: str) -> str | None:
    return it.options.get(role) if role == "landmarks" else getattr(it, role)


def _localise(it: Item, work: Path, files: dict | None, give_back: bool) -> Item:
    """``it`` with its shipped inputs written under ``work`` (in a folder per role, under
    their own names) and, with ``give_back``, its output there too."""
    import ray

    changes: dict = {}
    options = dict(it.options)
    for role, (name, ref) in (files or {}).items():
        path = work / role / name
        path.parent.mkdir()
        if ref == "dir":
            path.mkdir()
        elif ref is not None:
            path.write_bytes(ray.get(ref))
        if role == "landmarks":
            options[role] = str(path)
        else:
            changes[role] = str(path)
    if give_back:
        out = work / "output" / Path(it.output).name  # type: ignore[arg-type]  # a row without error has it
        out.parent.mkdir()
        changes["output"] = str(out)
    return replace(it, options=options, **changes)
