"""``--jobs N``: items in N spawned worker processes, each loading the models once.

A worker that dies fails only its own item; Ctrl-C / SIGTERM stop the pool without a hang
and without leftovers (see :func:`run_pool` and :func:`_close_pool`).
"""
from __future__ import annotations

import os
from pathlib import Path

from .. import signals
from ..errors import EXIT_UNEXPECTED
from .items import Common, Models, describe, run_item
from .manifest import Item
from .report import result

_WORKER = {}


def _worker_term(signum, frame):
    """SIGTERM in a worker (its parent stopping the batch): while an item runs, the item is
    aborted as in ``generate`` (its temp file removed); between items the worker just ends."""
    if not _WORKER.get("busy"):
        os._exit(130)
    if signals.stopping():  # sent again (the pool stops every worker once it breaks): already on it
        return
    signals.handler(signum, frame)


def _worker_init(threads: int, debug: bool):
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

    from ..forked import usable_cores

    threads = max(1, usable_cores() // jobs)
    queue = list(todo)
    suspects: list[Item] = []  # in flight when a worker died: run again, one at a time
    ctx = multiprocessing.get_context("spawn")  # no fork: torch / CUDA state is not fork-safe
    with signals.held():
        while queue or suspects:
            ex = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_worker_init,
                                     initargs=(threads, debug))
            running = {}
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
    from ..outputs import remove_stale_temps

    procs = list((getattr(ex, "_processes", None) or {}).values())
    if stop:
        signals.terminate(procs)
    ex.shutdown(wait=False, cancel_futures=True)
    signals.reap(procs, 15.0 if stop else 120.0, kill_wait=5.0)
    if stop:  # the workers are gone: let the queue feeding them end too (it holds system-wide semaphores)
        q = getattr(ex, "_call_queue", None)
        try:
            q.cancel_join_thread()
            q.close()
        except Exception:  # noqa: BLE001 - not there (another Python), or closed already
            pass
    manager = getattr(ex, "_executor_manager_thread", None)
    if manager is not None:
        manager.join(5.0)
    for it in items:
        if it.output:
            remove_stale_temps(Path(it.output))
