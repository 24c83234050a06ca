"""``run_batch``: a manifest's items, in this process or in worker processes, reported."""
from __future__ import annotations

import contextlib
import os
import time
from typing import TYPE_CHECKING

from ..options import GenerateOptions
from ..runtime import signals
from ..runtime.errors import InputError, TalkfaceError, WeightsError
from .items import Common, Models, precheck, run_item
from .manifest import in_shard, parse_shard, read_manifest
from .mp4 import valid_video
from .pool import run_pool
from .report import check_report_clash, check_report_path, count, result, write_report
from .report import summary as make_summary

if TYPE_CHECKING:
    from .ray_cluster import RaySettings


def run_batch(manifest, *, jobs: int = 1, shard: str | None = None, report=None, resume: bool = False,
              force: bool = False, device: str = "auto", weights: str = "default",
              options: GenerateOptions | None = None, debug: bool = False, on_start=None, on_item=None,
              ray: RaySettings | None = None) -> dict:
    """Run a manifest; returns the summary (also written to ``report``).

    ``weights`` are those of rows without a ``weights`` column; ``options`` those of every
    item, a row's own columns changing them. The models are loaded once per process.
    ``on_start(n)`` and ``on_item(result, done, n)`` report progress. ``ray``: the items on
    the actors of a Ray cluster (``batch.ray_backend``) instead of this machine's processes.
    Raises ``InputError`` / ``WeightsError`` for problems of the whole batch (bad manifest,
    shard, report path, device or weights) before any item runs.
    """
    from .. import weights as W
    from ..runtime.device import resolve_device

    t0 = time.perf_counter()
    if jobs < 1:
        raise InputError(f"--jobs {jobs}: must be at least 1")
    if ray is not None:
        ray.check(device, jobs)
    sh = parse_shard(shard)
    rep = check_report_path(report)
    items = read_manifest(manifest)
    check_report_clash(rep, manifest, items)  # the manifest, an input or output of any row
    todo = [it for it in items if in_shard(it, sh)]
    # with --ray each actor resolves the device where it runs (the name was checked above)
    common = Common(resolve_device(device) if ray is None else device, weights, options or GenerateOptions())
    if any(it.error is None and "weights" not in it.options for it in todo):
        bad = [r for r in W.verify(common.weights) if not r["ok"]]
        if bad:
            raise WeightsError(bad[0]["error"])
    results: dict[int, dict] = {}
    if on_start:
        on_start(len(todo))

    def done(res):
        results[res["index"]] = res
        if on_item:
            on_item(res, len(results), len(todo))

    interrupted = False
    before: dict[int, tuple | None] = {}  # output file of each item to run, before it ran
    cluster: list = [None, False]  # with --ray: [ray, whether this run connected]
    used: dict = {"actors": jobs, "devices": [common.device]}
    with signals.installed(), _disconnecting(cluster):  # SIGINT and SIGTERM (scancel, kubectl delete) stop cleanly
        try:
            if ray is not None:  # before any item: a cluster that is not there stops the batch (exit 2)
                from .ray_cluster import connect

                cluster[:] = connect(ray, debug)
            runnable = []
            for it in todo:  # bad rows, finished items and outputs in the way need no worker
                signals.check()
                pre = precheck(it, resume, force)
                if pre is None:
                    runnable.append(it)
                    before[it.index] = _identity(it.output)
                else:
                    done(pre)
            n_jobs = min(jobs, len(runnable))
            if ray is not None:
                used["actors"] = 0
                if runnable:
                    from .ray_backend import run_ray

                    used.update(run_ray(cluster[0], runnable, common, ray, resume, force, debug, done))
            elif n_jobs <= 1:
                models = Models(common.device)  # each weights set loaded once, for every item
                for it in runnable:
                    signals.check()  # one that came while the last item was committed
                    done(run_item(it, common, resume, force, debug, models))
            else:
                run_pool(runnable, common, n_jobs, resume, force, debug, done)
            signals.check()
        except KeyboardInterrupt:
            interrupted = True
            signals.acknowledge()
            signals.cleanup()  # the item being made: encoder killed, temp file removed
        if interrupted:  # an item whose video was renamed into place just before the signal is done
            with signals.held(deliver=False):
                for it in todo:
                    if (it.index not in results and it.index in before and _identity(it.output) != before[it.index]
                            and valid_video(it.output)):
                        done(result(it, "ok", 0))
        # every item is accounted for from here: a signal now neither stops the report nor
        # changes the result (another one during the report waits for it)
        with signals.held(deliver=False):
            summary = make_summary(manifest, sh, used["actors"], ",".join(used["devices"]) or common.device, todo,
                                   results, interrupted, rep, t0)
            if rep is not None:
                write_report(rep, summary)
    if interrupted:
        n = count(summary["items"])
        raise TalkfaceError(f"{manifest}: interrupted after {n['ok'] + n['skipped'] + n['failed']} of "
                            f"{len(summary['items'])} items; finished videos are kept, run again with --resume", 130)
    return summary


def _identity(path) -> tuple | None:
    """(inode, size, mtime) of ``path``; None when absent: a new video renamed into place changes it."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


@contextlib.contextmanager
def _disconnecting(cluster: list):
    """Disconnect from Ray at the end when this run connected (``cluster``: [ray, connected])."""
    try:
        yield
    finally:
        if cluster[1]:
            with signals.held(deliver=False):
                cluster[0].shutdown()
