"""``talkface batch --ray``: the items of a batch on the actors of a Ray cluster.

Ray is imported only when ``--ray`` is given (``ray_cluster``: settings, connecting):
``talkface batch`` without it and ``generate`` never import it. Each actor
(:class:`~talkface.batch.ray_worker.RayWorker`, ``--ray-cpus`` / ``--ray-gpus`` each) loads
the models once and makes one item at a time with the local batch's
:func:`~talkface.batch.items.run_item`; this process (the driver) hands them out, at most
one in flight per actor, and reports each as the local batch does.

* Files: an actor that sees the driver's probe file in every output folder writes each
  video in place (atomically, as ``generate`` does) and reads the inputs there, unless an
  item's inputs differ there (size, time): then they are shipped. One that does not, or
  every one with ``--ray-ship-inputs``, gets the inputs from the driver and sends the video
  back; the driver writes it (atomically).
* Faults: an actor that dies mid-item (killed, out of memory, node lost) is replaced and its
  item made again, at most ``retries`` more times, after its temp file is removed; an output
  it committed before dying counts as made. Ctrl-C / SIGTERM: every actor is told to stop
  (each aborts its item and removes its temp file), those still there after 15 s are killed
  and their temp files removed.
"""
from __future__ import annotations

import os
import secrets
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..runtime import signals
from ..runtime.errors import EXIT_UNEXPECTED, InputError, TalkfaceError
from .items import Common, describe
from .manifest import Item
from .ray_cluster import ENV_PASSED, RaySettings, how_many
from .ray_worker import ROLES, RayWorker, StopFlag, input_stamp, unmap
from .report import result

STOP_WAIT = 15.0  # seconds the actors have to abort their items after Ctrl-C before they are killed
MAX_PROBES = 64  # output folders probed for a shared file system (the rest count as those)


@dataclass
class _Slot:
    """One actor: its handle, what it said when ready, the call in flight."""
    handle: Any
    ref: Any = None  # the call in flight
    item: Item | None = None  # None with a ref: the ready() call
    info: dict | None = None  # host, pid, device, sees
    ship: bool = False  # inputs shipped (the node lacks them)
    give_back: bool = False  # the video comes back (the node does not share the output folders)
    before: tuple | None = None  # the output's identity when the item was sent


def run_ray(ray, todo: list[Item], common: Common, settings: RaySettings, resume: bool, force: bool,
            debug: bool, done) -> dict:
    """Make ``todo`` on Ray actors; ``done(result row)`` for each. Returns {"actors": how many
    were started at first, "devices": theirs}."""
    n = how_many(ray, settings, len(todo))
    env = {k: os.environ[k] for k in ENV_PASSED if k in os.environ}
    worker = ray.remote(RayWorker).options(num_cpus=settings.cpus, num_gpus=settings.gpus, max_restarts=0,
                                           max_task_retries=0, runtime_env={"env_vars": env} if env else None)
    run = _Run(ray, worker, common, settings, resume, force, debug, done)
    with signals.held():  # a Ctrl-C lands only after a wait (raise_pending), never inside Ray's calls
        try:
            run.probes = _make_probes(todo)
            run.flag = ray.remote(num_cpus=0)(StopFlag).remote()
            for _ in range(n):
                run.start()
            run.loop(deque(todo))
        except BaseException:
            run.stop()
            raise
        finally:
            run.close()
    return {"actors": n, "devices": sorted(run.devices)}


def _make_probes(todo: list[Item]) -> dict:
    """{probe file: its text}, one in each output folder (the first MAX_PROBES): an actor that
    reads them shares the driver's output folders. Temp files beside the outputs, removed at
    the end (and by the next write there when this process is killed)."""
    from ..video.outputs import AtomicFile

    folders = list(dict.fromkeys(str(Path(it.output).absolute().parent) for it in todo if it.output))
    probes = {}
    for folder in folders[:MAX_PROBES]:
        try:
            a = AtomicFile(Path(folder) / ".talkface-ray-probe")
        except (InputError, OSError):  # no such folder, not writable: its items fail anyway
            continue
        token = secrets.token_hex(16)
        a.tmp.write_text(token)
        probes[a] = token
    return probes


class _Run:
    """The driver's loop: actors started and replaced, items handed out, results reported."""

    def __init__(self, ray, worker, common: Common, settings: RaySettings, resume: bool, force: bool,
                 debug: bool, done):
        self.ray, self.worker, self.common, self.settings = ray, worker, common, settings
        self.resume, self.force, self.debug, self.done = resume, force, debug, done
        self.slots: list[_Slot] = []
        self.flag: Any = None
        self.probes: dict = {}
        self.devices: set[str] = set()
        self.attempts: dict[int, int] = {}  # item index -> times its worker died
        self.started = self.failed_starts = 0
        self.shipped: dict[str, Any] = {}  # input path -> its object ref (the last few)

    def start(self):
        h = self.worker.remote(self.common.device, self.debug, self.flag)
        slot = _Slot(h)
        slot.ref = h.ready.remote({str(a.tmp.absolute()): t for a, t in self.probes.items()})
        self.slots.append(slot)

    def loop(self, queue: deque):
        ray = self.ray
        while queue or any(s.item is not None for s in self.slots):  # not actors still starting once all is sent
            for s in self.slots:
                if s.ref is None and s.info is not None and queue:
                    self.send(s, queue.popleft())
            refs = {s.ref: s for s in self.slots if s.ref is not None}
            if not refs:  # every actor failed to start
                raise TalkfaceError("--ray: no Ray actor could start; see 'ray status' and the logs of the "
                                    "cluster (is talkface installed on every node?)", EXIT_UNEXPECTED)
            ready, _ = ray.wait(list(refs), num_returns=1, timeout=0.2)
            signals.raise_pending()  # the one place a held-back Ctrl-C / SIGTERM stops the batch
            for ref in ready:
                self.answer(refs[ref], queue)

    def send(self, s: _Slot, it: Item):
        sent = _absolute(it)
        inputs = [p for p in (_role(sent, r) for r in ROLES) if p]
        expect, files = None, None
        if s.ship:
            files = {r: self._ship(p) for r in ROLES if (p := _role(sent, r))}
        else:  # read where they are, unless the actor finds other files there
            expect = {p: st for p in inputs if (st := input_stamp(p)) is not None}
        s.item, s.before = it, (None if s.give_back else _identity(it.output))
        s.ref = s.handle.run.remote(sent, self.common, self.resume, self.force, expect, files, s.give_back)

    def _ship(self, path: str) -> tuple:
        name = Path(path).name
        if os.path.isdir(path):
            return name, "dir"
        if input_stamp(path) is None:
            return name, None
        key = f"{path}\0{input_stamp(path)}"
        if key not in self.shipped:
            if len(self.shipped) >= 16:
                self.shipped.pop(next(iter(self.shipped)))
            self.shipped[key] = self.ray.put(Path(path).read_bytes())
        return name, self.shipped[key]

    def answer(self, s: _Slot, queue: deque):
        ref, it = s.ref, s.item
        s.ref, s.item = None, None
        try:
            got = self.ray.get(ref)
        except self.ray.exceptions.RayTaskError as e:  # the call itself failed (not the item: run_item reports it)
            if it is None:
                return self.lost(s, e)
            self.replace(s)  # its state is unknown
            code, msg = describe(e.cause if isinstance(e.cause, Exception) else e)
            return self.done(result(it, "failed", code, 0.0, msg))
        except self.ray.exceptions.RayError as e:  # the actor died: killed, out of memory, node lost
            return self.died(s, it, queue, e) if it is not None else self.lost(s, e)
        if it is None:  # ready
            s.info = got
            s.give_back = self.settings.ship_inputs or not got["sees"]
            s.ship = s.give_back
            self.devices.add(got["device"])
            self.started += 1
        elif got.get("need_inputs"):  # this node has other files at those paths: ship them
            s.ship = True
            queue.appendleft(it)
        elif got.get("stopped"):  # SIGTERM from Ray itself (ray stop, a node drained): as if it died
            self.died(s, it, queue, RuntimeError("stopped by Ray with SIGTERM"))
        else:
            self.done(self.report(it, s, got))

    def report(self, it: Item, s: _Slot, got: dict) -> dict:
        r = got["row"]
        err = unmap(r["error"], _sent_paths(it)) if r.get("error") else r.get("error")
        if r["status"] == "ok" and got.get("data") is not None:
            from ..video.outputs import write_atomic

            try:  # the driver writes what a worker without our file system made
                write_atomic(it.output, got["data"], stop_on_signal=False, overwrite=self.force)
            except Exception as e:  # noqa: BLE001 - reported for the item
                code, msg = describe(e)
                return result(it, "failed", code, r["seconds"], msg)
        return result(it, r["status"], r["exit_code"], r["seconds"], err, r.get("frames"))

    def died(self, s: _Slot, it: Item, queue: deque, e: Exception):
        from .mp4 import valid_video

        info = s.info or {}
        self.kill(s)
        if not s.give_back and info:
            _remove_temps(it.output, info["host"], info["pid"])
            if _identity(it.output) != s.before and valid_video(it.output):  # committed just before it died
                self.replace(s)
                return self.done(result(it, "ok", 0))
        n = self.attempts[it.index] = self.attempts.get(it.index, 0) + 1
        self.replace(s)
        if n <= self.settings.retries:
            queue.appendleft(it)
            return
        why = " ".join(str(e).split())[:200]
        self.done(result(it, "failed", EXIT_UNEXPECTED, 0.0,
                         f"{it.output}: the Ray worker making it died {n} times (killed, out of memory or its node "
                         f"lost: {why}); run again with --resume, perhaps with more memory per actor"))

    def lost(self, s: _Slot, e: Exception):
        """An actor that did not start: another one tried (the batch stops after three
        failures before any actor started)."""
        self.kill(s)
        self.slots.remove(s)
        cause = getattr(e, "cause", None)
        if isinstance(cause, TalkfaceError):  # e.g. --device on the actor: as the local batch says it
            raise cause
        self.failed_starts += 1
        if self.started == 0 and self.failed_starts >= 3:
            first = " ".join(str(e).split())[:300]
            raise TalkfaceError(f"--ray: the Ray actors do not start ({first}); is talkface installed on every "
                                "node (pip install 'talkface[ray]')?", EXIT_UNEXPECTED)
        if self.started == 0 or not self.slots:
            self.start()

    def replace(self, s: _Slot):
        self.kill(s)
        self.slots.remove(s)
        self.start()

    def kill(self, s: _Slot):
        try:
            self.ray.kill(s.handle, no_restart=True)
        except Exception:  # noqa: BLE001 - already gone
            pass

    def stop(self):
        """Ctrl-C / SIGTERM: every actor aborts its item (temp file removed); those still
        busy after STOP_WAIT are killed and their temp files removed here."""
        ray = self.ray
        try:
            if self.flag is not None:
                self.flag.set.remote()
            busy = {s.ref: s for s in self.slots if s.ref is not None and s.item is not None}
            left = list(busy)
            if left:
                _, left = ray.wait(left, num_returns=len(left), timeout=STOP_WAIT)
            for s in self.slots:
                self.kill(s)
            if left:
                ray.wait(left, num_returns=len(left), timeout=5.0)  # until the killed ones are gone
            for ref in left:
                s = busy[ref]
                if s.info and not s.give_back and s.item is not None:
                    _remove_temps(s.item.output, s.info["host"], s.info["pid"])
        except Exception:  # noqa: BLE001 - Ray itself going away: the cluster ends the actors with us
            pass

    def close(self):
        for s in self.slots:
            self.kill(s)
        if self.flag is not None:
            try:
                self.ray.kill(self.flag)
            except Exception:  # noqa: BLE001
                pass
        for a in self.probes:
            a.discard()


def _role(it: Item, role: str) -> str | None:
    return it.options.get(role) if role == "landmarks" else getattr(it, role)


def _absolute(it: Item) -> Item:
    """``it`` with absolute paths (an actor's working folder is not ours)."""
    from dataclasses import replace

    options = dict(it.options)
    if options.get("landmarks"):
        options["landmarks"] = os.path.abspath(options["landmarks"])
    return replace(it, options=options, **{r: os.path.abspath(getattr(it, r)) for r in ("portrait", "audio", "output")
                                           if getattr(it, r)})


def _sent_paths(it: Item) -> dict[str, str]:
    """{absolute path sent: the manifest's} where they differ."""
    paths = [it.output] + [_role(it, r) for r in ROLES]
    return {os.path.abspath(p): p for p in paths if p and os.path.abspath(p) != p}


def _identity(path) -> tuple | None:
    try:
        st = os.stat(path)
    except (OSError, TypeError):
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def _remove_temps(target, host: str, pid: int):
    """The temp files of ``target`` that the worker ``pid`` on ``host`` left (it was killed)."""
    from ..video.outputs import _short_key

    if not target:
        return
    target = Path(target)
    heads = [f".{key}.{host}-{pid}." for key in (target.name, _short_key(target.name))]
    try:  # an encoder it left may still be writing: the name goes, and with it what it writes
        for p in target.parent.iterdir():
            if p.name.endswith(".part") and any(p.name.startswith(h) for h in heads):
                p.unlink(missing_ok=True)
    except OSError:
        pass
