"""``--jobs N``: items in N spawned worker processes, each loading the models once.

A worker that dies fails only its own item; Ctrl-C / SIGTERM stop the pool without a hang
and without leftovers (see :func:`run_pool` and :func:`_close_pool`). A worker is killed
when the batch process ends in any way (Linux's parent-death signal, as for forked jobs),
kill -9 included; multiprocessing's resource tracker then sees its last user gone and ends
too. The pool's queues unlink their named semaphores when the pool closes, not at exit
(the CLI leaves with ``os._exit``, which would leave them to the tracker, reported as leaked).
"""
from __future__ import annotations

import os
from pathlib import Path

from ..runtime import signals
from ..runtime.errors import EXIT_UNEXPECTED
from .items import Common, Models, describe, run_item
from .manifest import Item
from .report import result

_WORKER: dict = {}


def _worker_term(signum, frame):
    """SIGTERM in a worker (its parent stopping the batch): while an item runs, the item is
    aborted as in ``generate`` (its temp file removed); between items the worker just ends."""
    if not _WORKER.get("busy"):
        os._exit(130)
    if signals.stopping():  # sent again (the pool stops every worker once it breaks): already on it
        return
    signals.handler(signum, frame)


def _worker_init(parent: int, threads: int, debug: bool):
    from ..runtime.forked import _die_with

    _die_with(parent)  # killed when the batch process ends, however it ends (kill -9 too)
    # SIGINT ignored: the parent decides, and stops us with SIGTERM
    signals.install_for_worker(_worker_term)
    try:
        import torch

        torch.set_num_threads(max(1, threads))
    except Exception:  # noqa: BLE001
        pass
    _WORKER["debug"] = debug


def _worker_run(it: Item, common: Common, resume: bool, force: bool) -> dict:
    try:
        _WORKER["busy"] = True
        if "models" not in _WORKER:  # loaded once per worker, kept for its later items
            _WORKER["models"] = Models(common.device)
        res = run_item(it, common, resume, force, _WORKER.get("debug", False), _WORKER["models"])
        _WORKER["busy"] = False  # from here a SIGTERM ends the worker at once (_worker_term)
        if signals.pending() is not None:  # it came during the item's commit: the item is done
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        signals.acknowledge()
        signals.cleanup()
        os._exit(130)
    return res


def run_pool(todo: list[Item], common: Common, jobs: int, resume: bool, force: bool, debug: bool, done):
    """Run ``todo`` in ``jobs`` spawned worker processes, at most ``jobs`` items in flight.
    A worker that dies (out of memory, killed) fails only the item it was running: a dead
    worker breaks the whole pool, so every item in flight then is run again alone in a
    fresh pool, and only one that kills its worker alone is failed.

    Signals are held back here except at one point, after each short wait for results: an
    interrupt never lands inside the executor's locks, so stopping the pool cannot hang."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    from ..runtime.forked import usable_cores

    threads = max(1, usable_cores() // jobs)
    queue = list(todo)
    suspects: list[Item] = []  # in flight when a worker died: run again, one at a time
    ctx = multiprocessing.get_context("spawn")  # no fork: torch / CUDA state is not fork-safe
    with signals.held():
        while queue or suspects:
            ex = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_worker_init,
                                     initargs=(os.getpid(), threads, debug))
            running: dict = {}
            broken = False
            try:
                while queue or suspects or running:
                    while not broken:
                        if suspects:  # alone: nothing else in flight
                            if running:
                                break
                            it, alone = suspects.pop(0), True
                        elif queue and len(running) < jobs:
                            it, alone = queue.pop(0), False
                        else:
                            break
                        try:
                            running[ex.submit(_worker_run, it, common, resume, force)] = (it, alone)
                        except BrokenProcessPool:  # a worker died since the last wait: this item never ran
                            (suspects if alone else queue).insert(0, it)
                            broken = True
                    if not running:
                        break
                    finished, _ = wait(list(running), timeout=0.2, return_when=FIRST_COMPLETED)
                    signals.raise_pending()  # the one place a held-back Ctrl-C / SIGTERM stops the pool
                    for f in finished:
                        it, alone = running.pop(f)
                        try:
                            res = f.result()
                        except BrokenProcessPool:
                            broken = True
                            if not alone:
                                suspects.append(it)
                                continue
                            res = result(it, "failed", EXIT_UNEXPECTED, 0.0,
                                          f"{it.output}: the worker process died (killed, or out of memory); "
                                          "run again with --resume, perhaps with fewer --jobs")
                        except Exception as e:  # noqa: BLE001 - e.g. a result that could not be sent back
                            code, msg = describe(e)
                            res = result(it, "failed", code, 0.0, msg)
                        done(res)
                    if broken and not running:
                        break
            except BaseException:
                _close_pool(ex, stop=True, items=[it for it, _ in running.values()])
                raise
            _close_pool(ex, stop=False)


def _close_pool(ex, stop: bool, items=()):
    """End the pool's worker processes, bounded in time. ``stop``: SIGTERM first, which makes
    a worker abort its item (its temp file removed) and leave. A worker still there after the
    wait is killed, and the temp files of ``items`` left by killed workers are removed."""
    from ..video.outputs import remove_stale_temps

    procs = list((getattr(ex, "_processes", None) or {}).values())
    queues = [getattr(ex, "_call_queue", None), getattr(ex, "_result_queue", None)]  # shutdown() drops them
    if stop:
        signals.terminate(procs)
    ex.shutdown(wait=False, cancel_futures=True)
    signals.reap(procs, 15.0 if stop else 120.0, kill_wait=5.0)
    if stop:  # the workers are gone: let the queue feeding them end too (it holds system-wide semaphores)
        q = getattr(ex, "_call_queue", None)
        try:
            q.cancel_join_thread()  # type: ignore[union-attr]  # None: caught below
            q.close()  # type: ignore[union-attr]
        except Exception:  # noqa: BLE001 - not there (another Python), or closed already
            pass
    manager = getattr(ex, "_executor_manager_thread", None)
    if manager is not None:
        manager.join(5.0)
    _release_semaphores(queues)
    for it in items:
        if it.output:
            remove_stale_temps(Path(it.output))


def _release_semaphores(queues):
    """Unlink the named semaphores of a closed pool's queues now (its workers are gone).
    multiprocessing unlinks one when it is garbage collected or at exit; a pool's queues
    sit in reference cycles, and the CLI leaves with ``os._exit`` (after torch), so whether
    they were collected was chance, and the resource tracker reported the others as leaked.
    Running each one's finaliser unlinks it and tells the tracker, once."""
    from multiprocessing import util

    locks = {id(lock) for q in queues if q is not None
             for lock in (getattr(q, "_rlock", None), getattr(q, "_wlock", None), getattr(q, "_sem", None))
             if lock is not None}
    try:
        for fin in list(util._finalizer_registry.values()):  # type: ignore[attr-defined]
            ref = getattr(fin, "_weakref", None)
            if ref is not None and id(ref()) in locks:
                fin()  # SemLock._cleanup: sem_unlink and unregister; removed from the registry
    except Exception:  # noqa: BLE001 - another Python: left to garbage collection, as before
        pass
