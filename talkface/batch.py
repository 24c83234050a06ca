"""``talkface batch``: many ``generate`` runs from one manifest (CSV or JSONL).

Each row (CSV) or JSON object (JSONL) names ``portrait``, ``audio`` and ``output`` and may
set per-item options (``size``, ``crop``, ``max_size``, ``detector``, ``landmarks``,
``face_index``, ``renderer``, ``weights``, ``max_seconds``, ``blink``, ``head_motion``) and
an ``id`` that is copied into the report. Relative paths are relative to the manifest's folder.

* Items run in this process (``jobs=1``) or in ``jobs`` worker processes; either way the
  models are loaded once per process (``weights.use_cache``).
* A failing item is reported and the batch goes on; the result says which failed.
* ``resume`` skips items whose output exists and is a readable video.
* ``shard=(K, N)`` keeps the items at positions K, K+N, K+2N ... (1-based, counting every
  data row of the manifest, bad ones too), so N machines split one manifest with no overlap.
"""
from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import signals
from .errors import EXIT_INPUT, EXIT_UNEXPECTED, InputError, TalkfaceError, WeightsError
from .errors import describe as _describe

MANIFEST_EXTS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
REPORT_EXTS = (".json", ".csv")
REQUIRED = ("portrait", "audio", "output")


def _bool(v):
    if isinstance(v, bool):
        return v
    s = str(v).strip().lower()
    if s in ("1", "true", "yes", "y", "on"):
        return True
    if s in ("0", "false", "no", "n", "off"):
        return False
    raise ValueError("is not true or false")


def _int(v):
    if isinstance(v, bool) or (isinstance(v, float) and not v.is_integer()):
        raise ValueError("is not a whole number")
    if isinstance(v, float):  # JSON 256.0
        return int(v)
    try:
        return int(str(v).strip())
    except ValueError:
        raise ValueError("is not a whole number") from None


def _float(v):
    if isinstance(v, bool):
        raise ValueError("is not a number")
    try:
        return float(str(v).strip())
    except ValueError:
        raise ValueError("is not a number") from None


# column -> converter of the cell (None: keep the text; "path": relative to the manifest)
OPTIONS = {"size": _int, "crop": _bool, "max_size": _int, "detector": None, "landmarks": "path",
           "face_index": _int, "renderer": None, "weights": None, "max_seconds": _float, "blink": _bool,
           "head_motion": _bool}
COLUMNS = REQUIRED + ("id",) + tuple(OPTIONS)
STATUSES = ("ok", "skipped", "failed", "not run")
REPORT_FIELDS = ("index", "line", "id", "status", "exit_code", "seconds", "output", "portrait", "audio", "frames",
                 "error")


@dataclass
class Item:
    index: int  # 1-based position among the manifest's data rows
    line: int  # line of the manifest where the row ends
    id: str | None = None
    portrait: str | None = None
    audio: str | None = None
    output: str | None = None
    options: dict = field(default_factory=dict)
    error: str | None = None  # what is wrong with the row itself


def _column(name) -> str:
    return str(name).strip().lower().lstrip("-").replace("-", "_")


def parse_shard(spec: str | None) -> tuple[int, int] | None:
    """``"K/N"`` (1 <= K <= N) -> (K, N); None -> None."""
    if spec is None:
        return None
    try:
        k, n = (int(v) for v in str(spec).split("/"))
        if not 1 <= k <= n:
            raise ValueError
    except ValueError:
        raise InputError(f"--shard {spec}: use K/N with 1 <= K <= N (e.g. --shard 1/4 for the first of 4 shares)")
    return k, n


def in_shard(item: Item, shard: tuple[int, int] | None) -> bool:
    return shard is None or (item.index - 1) % shard[1] == shard[0] - 1


def read_manifest(path) -> list[Item]:
    """All items of a manifest; rows with problems carry ``error`` (the batch reports them)."""
    p = Path(path)
    kind = MANIFEST_EXTS.get(p.suffix.lower())
    if not p.exists():
        raise InputError(f"{p}: no such manifest; check the path")
    if p.is_dir():
        raise InputError(f"{p}: is a directory; give a CSV or JSONL manifest file")
    if kind is None:
        raise InputError(f"{p}: manifest must be .csv, .tsv or .jsonl (one item per line); rename or convert it")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{p}: manifest is not UTF-8 text; save it as UTF-8 CSV or JSONL")
    except OSError as e:
        raise InputError(f"{p}: cannot read the manifest ({e.strerror or e}); check that it is a readable file")
    if not text.strip():
        raise InputError(f"{p}: manifest is empty; add a header line and one row per video")
    base = p.parent
    rows = _read_jsonl(p, text) if kind == "jsonl" else _read_csv(p, text, "\t" if kind == "tsv" else ",")
    if not rows:
        raise InputError(f"{p}: manifest has no items; add one row per video")
    items, seen = [], {}
    for i, (line, row, err) in enumerate(rows, 1):
        it = Item(i, line, error=err)
        if err is None:
            _fill(it, row, p, base)
        if it.error is None:
            key = os.path.normcase(os.path.abspath(it.output))
            if key in seen:
                it.error = (f"{p} line {line}: output {it.output} is also the output of line {seen[key]}; "
                            "give every row its own output")
            else:
                seen[key] = line
        items.append(it)
    return items


def _read_csv(p: Path, text: str, delimiter: str):
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = next(reader)
        while not any(c.strip() for c in header):
            header = next(reader)
    except StopIteration:
        raise InputError(f"{p}: manifest is empty; add a header line and one row per video")
    cols = [_column(c) for c in header]
    missing = [c for c in REQUIRED if c not in cols]
    if missing:
        raise InputError(f"{p}: header has no {', '.join(missing)} column; the first line must name the columns "
                         f"(portrait,audio,output and optional {', '.join(COLUMNS[3:])})")
    # a header cell left empty (a trailing delimiter, as spreadsheets write) names no column: its
    # cells must be empty too
    unknown = [h for h, c in zip(header, cols) if c and c not in COLUMNS]
    if unknown:
        raise InputError(f"{p}: unknown column {unknown[0]!r}; use only {', '.join(COLUMNS)}")
    dup = sorted({c for c in cols if c and cols.count(c) > 1})
    if dup:
        raise InputError(f"{p}: column {dup[0]!r} appears twice in the header; keep one")
    rows = []
    try:
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            line = reader.line_num
            if len(cells) > len(cols):
                rows.append((line, None, f"{p} line {line}: {len(cells)} values but {len(cols)} columns; "
                                         "quote values that contain the delimiter"))
                continue
            stray = [v for c, v in zip(cols, cells) if not c and v.strip()]
            if stray:
                rows.append((line, None, f"{p} line {line}: value {stray[0].strip()!r} under a header cell with no "
                                         "name; name that column in the header or remove the value"))
                continue
            rows.append((line, {c: v for c, v in zip(cols, cells) if c}, None))
    except csv.Error as e:
        raise InputError(f"{p} line {reader.line_num}: not valid CSV ({e}); fix the quoting")
    return rows


def _read_jsonl(p: Path, text: str):
    rows = []
    # only "\n" ends a line (read_text already turned CRLF into it): str.splitlines() would also
    # split inside JSON strings at U+2028, U+0085 ... (valid unescaped JSON, e.g. in a path)
    for line, s in enumerate(text.split("\n"), 1):
        if not s.strip():
            continue
        try:
            obj = json.loads(s)
        except ValueError as e:
            rows.append((line, None, f"{p} line {line}: not valid JSON ({str(e).split(':')[0]}); "
                                     "write one JSON object per line"))
            continue
        if not isinstance(obj, dict):
            rows.append((line, None, f"{p} line {line}: not a JSON object; write one object per line "
                                     '({"portrait": ..., "audio": ..., "output": ...})'))
            continue
        unknown = [k for k in obj if _column(k) not in COLUMNS]
        row = {_column(k): v for k, v in obj.items()}
        if unknown:
            rows.append((line, None, f"{p} line {line}: unknown key {unknown[0]!r}; use only {', '.join(COLUMNS)}"))
            continue
        rows.append((line, row, None))
    return rows


def _fill(it: Item, row: dict, manifest: Path, base: Path):
    where = f"{manifest} line {it.line}"

    def cell(name):
        v = row.get(name)
        if v is None:
            return None
        if isinstance(v, (dict, list)):
            raise ValueError(f"{name} must be a single value")
        s = v if isinstance(v, (bool, int, float)) else str(v).strip()
        return None if s == "" else s

    try:
        for name in REQUIRED:
            v = cell(name)
            if v is None:
                it.error = f"{where}: no {name}; fill in the {name} column"
                return
            setattr(it, name, str(base / Path(str(v)).expanduser()))
        v = cell("id")
        it.id = None if v is None else str(v)
        for name, conv in OPTIONS.items():
            v = cell(name)
            if v is None:
                continue
            if conv == "path":
                it.options[name] = str(base / Path(str(v)).expanduser())
            elif conv is None:
                it.options[name] = str(v)
            else:
                try:
                    it.options[name] = conv(v)
                except ValueError as e:
                    it.error = f"{where}: {name} {v!r} {e}; fix the row"
                    return
    except ValueError as e:
        it.error = f"{where}: {e}; fix the row"


# ----------------------------------------------------------------------------- one item
def describe(e: BaseException) -> tuple[int, str]:
    """(exit code, one-line message) for an item's exception, as the CLI reports it."""
    return _describe(e, "try a smaller --max-size, shorter audio or fewer --jobs")


def _isobmff_complete(path) -> bool | None:
    """MP4/MOV: True when the top-level boxes cover the file exactly and include ftyp, mdat
    and a moov with a video track (a file cut short fails); None when not ISO BMFF."""
    import re
    import struct

    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            if f.read(8)[4:8] != b"ftyp":
                return None
            seen, pos, video = set(), 0, False
            while pos < size:
                f.seek(pos)
                h = f.read(16)
                if len(h) < 8:
                    return False
                n, kind = struct.unpack(">I4s", h[:8])
                if n == 1 and len(h) == 16:
                    n = struct.unpack(">Q", h[8:16])[0]
                elif n == 0:
                    n = size - pos
                if n < 8:
                    return False
                if kind == b"moov":  # the tracks' hdlr boxes come early: 64 MB is plenty even for a huge moov
                    f.seek(pos)
                    video = re.search(rb"hdlr.{8}vide", f.read(min(n, 64 << 20)), re.DOTALL) is not None
                seen.add(kind)
                pos += n
    except OSError:
        return False
    return pos == size and video and {b"ftyp", b"moov", b"mdat"} <= seen


def valid_video(path) -> bool:
    """True when ``path`` is a complete video: for MP4/MOV a structural check of the boxes
    (microseconds, so --resume of a large batch is quick), else ffmpeg decodes its first frame."""
    from .audio import ffmpeg_exe

    quick = _isobmff_complete(path)
    if quick is not None:
        return quick
    try:
        r = subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-i", str(path), "-map", "0:v:0",
                            "-frames:v", "1", "-f", "null", "-"], capture_output=True, timeout=120)
    except (OSError, subprocess.SubprocessError):
        return False
    return r.returncode == 0


def _result(it: Item, status: str, code: int, seconds: float = 0.0, error: str | None = None,
            frames: int | None = None) -> dict:
    return {"index": it.index, "line": it.line, "id": it.id, "status": status, "exit_code": code,
            "seconds": round(seconds, 3), "output": it.output, "portrait": it.portrait, "audio": it.audio,
            "frames": frames, "error": error}


def precheck(it: Item, resume: bool = False, force: bool = False) -> dict | None:
    """The result of an item that needs no work (bad row, finished, output in the way), else None."""
    t0 = time.perf_counter()
    if it.error:
        return _result(it, "failed", EXIT_INPUT, 0.0, it.error)
    from .video import refuse_same_file

    out = Path(it.output)
    try:  # never written over an input of the row, --force or not
        refuse_same_file(out, (it.portrait, it.audio, it.options.get("landmarks")))
    except InputError as e:
        return _result(it, "failed", EXIT_INPUT, time.perf_counter() - t0, e.message)
    for name in (it.portrait, it.audio, it.options.get("landmarks")):
        if name and os.path.isfile(name) and not os.access(name, os.R_OK):
            return _result(it, "failed", EXIT_INPUT, time.perf_counter() - t0,
                           f"{name}: not readable (permission denied); check its permissions (chmod u+r) "
                           "or give another file")
    if out.exists() and not out.is_dir():
        if resume and valid_video(out):
            return _result(it, "skipped", 0, time.perf_counter() - t0)
        if resume and not force:
            return _result(it, "failed", EXIT_INPUT, time.perf_counter() - t0,
                           f"{out}: exists but is not a readable video; delete it or pass --force to replace it")
        if not force:
            return _result(it, "failed", EXIT_INPUT, time.perf_counter() - t0,
                           f"{out}: already exists; pass --resume to skip finished items or --force to overwrite")
    return None


def run_item(it: Item, common: dict, resume: bool = False, force: bool = False, debug: bool = False) -> dict:
    """Generate one item; never raises for the item's own problems."""
    from .pipeline import generate

    t0 = time.perf_counter()
    pre = precheck(it, resume, force)
    if pre is not None:
        return pre
    try:
        res = generate(it.portrait, it.audio, it.output, **{**common, **it.options}, force=force, quiet=True)
    except Exception as e:  # noqa: BLE001 - every failure is reported per item
        signals.raise_if_lost()  # a library turned the interrupt into this error: stop the batch
        if debug:
            import traceback

            traceback.print_exc()
        code, msg = describe(e)
        return _result(it, "failed", code, time.perf_counter() - t0, msg)
    return _result(it, "ok", 0, time.perf_counter() - t0, frames=res.get("frames"))


# ----------------------------------------------------------------------------- workers
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
    from . import weights as W

    # SIGINT ignored: the parent decides, and stops us with SIGTERM
    signals.install_for_worker(_worker_term)
    try:
        import torch

        torch.set_num_threads(max(1, threads))
    except Exception:  # noqa: BLE001
        pass
    W.use_cache(True)
    _WORKER["debug"] = debug


def _worker_run(it: Item, common: dict, resume: bool, force: bool) -> dict:
    try:
        _WORKER["busy"] = True
        res = run_item(it, common, resume, force, _WORKER.get("debug", False))
        _WORKER["busy"] = False  # from here a SIGTERM ends the worker at once (_worker_term)
        if signals.pending() is not None:  # it came during the item's commit: the item is done
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        signals.acknowledge()
        signals.cleanup()
        os._exit(130)
    return res


def _run_pool(todo: list[Item], common: dict, jobs: int, resume: bool, force: bool, debug: bool, done):
    """Run ``todo`` in ``jobs`` spawned worker processes, at most ``jobs`` items in flight.
    A worker that dies (out of memory, killed) fails only the item it was running: a dead
    worker breaks the whole pool, so every item in flight then is run again alone in a
    fresh pool, and only one that kills its worker alone is failed.

    Signals are held back here except at one point, after each short wait for results: an
    interrupt never lands inside the executor's locks, so stopping the pool cannot hang."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    try:
        cpus = len(os.sched_getaffinity(0))  # what Slurm / taskset gave us, not the whole machine
    except AttributeError:
        cpus = os.cpu_count() or 1
    threads = max(1, cpus // jobs)
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
                            res = _result(it, "failed", EXIT_UNEXPECTED, 0.0,
                                          f"{it.output}: the worker process died (killed, or out of memory); "
                                          "run again with --resume, perhaps with fewer --jobs")
                        except Exception as e:  # noqa: BLE001 - e.g. a result that could not be sent back
                            code, msg = describe(e)
                            res = _result(it, "failed", code, 0.0, msg)
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
    from .video import remove_stale_temps

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


# ----------------------------------------------------------------------------- batch
def check_report_path(report) -> Path | None:
    if report is None:
        return None
    from .video import check_target

    return check_target(Path(report), REPORT_EXTS, "report must be .json or .csv", "report")


def write_report(path: Path, summary: dict):
    """JSON (the ``--json`` object) or CSV (one row per item), written atomically."""
    from .video import write_atomic

    path = Path(path)
    if path.suffix.lower() == ".csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=REPORT_FIELDS, lineterminator="\n")
        w.writeheader()
        for r in summary["items"]:
            w.writerow({k: "" if r.get(k) is None else r[k] for k in REPORT_FIELDS})
        data = buf.getvalue()
    else:
        data = json.dumps(summary, indent=1) + "\n"
    write_atomic(path, data, stop_on_signal=False)


def run_batch(manifest, *, jobs: int = 1, shard: str | None = None, report=None, resume: bool = False,
              force: bool = False, device: str = "auto", options: dict | None = None, debug: bool = False,
              on_start=None, on_item=None) -> dict:
    """Run a manifest; returns the summary (also written to ``report``).

    ``options`` are generate options for every item (a row's own columns win).
    ``on_start(n)`` and ``on_item(result, done, n)`` report progress.
    Raises ``InputError`` / ``WeightsError`` for problems of the whole batch (bad manifest,
    shard, report path, device or weights) before any item runs.
    """
    from . import weights as W
    from .device import resolve_device

    t0 = time.perf_counter()
    if jobs < 1:
        raise InputError(f"--jobs {jobs}: must be at least 1")
    sh = parse_shard(shard)
    rep = check_report_path(report)
    items = read_manifest(manifest)
    todo = [it for it in items if in_shard(it, sh)]
    common = dict(options or {})
    common["device"] = resolve_device(device)
    if any(it.error is None and "weights" not in it.options for it in todo):
        name = common.get("weights", "default")
        bad = [r for r in W.verify(name) if not r["ok"]]
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
    with signals.installed():  # SIGINT and SIGTERM (scancel, kubectl delete) stop the batch cleanly
        try:
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
            if n_jobs <= 1:
                W.use_cache(True)
                try:
                    for it in runnable:
                        signals.check()  # one that came while the last item was committed
                        done(run_item(it, common, resume, force, debug))
                finally:
                    W.use_cache(False)
            else:
                _run_pool(runnable, common, n_jobs, resume, force, debug, done)
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
                        done(_result(it, "ok", 0))
        if interrupted and jobs > 1:
            import gc

            gc.collect()  # a stopped pool's queues: their semaphores are released now, not reported as leaked
        # every item is accounted for from here: a signal now neither stops the report nor
        # changes the result (another one during the report waits for it)
        with signals.held(deliver=False):
            summary = _summary(manifest, sh, jobs, common, todo, results, interrupted, rep, t0)
            if rep is not None:
                write_report(rep, summary)
    if interrupted:
        count = {s: sum(r["status"] == s for r in summary["items"]) for s in STATUSES}
        raise TalkfaceError(f"{manifest}: interrupted after {count['ok'] + count['skipped'] + count['failed']} of "
                            f"{len(summary['items'])} items; finished videos are kept, run again with --resume", 130)
    return summary


def _identity(path) -> tuple | None:
    """(inode, size, mtime) of ``path``; None when absent: a new video renamed into place changes it."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def _summary(manifest, sh, jobs, common, todo, results, interrupted, rep, t0) -> dict:
    for it in todo:
        if it.index not in results:
            results[it.index] = _result(it, "not run", 130 if interrupted else EXIT_UNEXPECTED, 0.0,
                                        "interrupted before this item finished; run again with --resume")
    rows = [results[i] for i in sorted(results)]
    count = {s: sum(r["status"] == s for r in rows) for s in STATUSES}
    summary = {"manifest": str(manifest), "shard": None if sh is None else f"{sh[0]}/{sh[1]}",
               "jobs": jobs, "device": common["device"], "total": len(rows), "ok": count["ok"],
               "skipped": count["skipped"], "failed": count["failed"], "not_run": count["not run"],
               "interrupted": interrupted, "seconds": round(time.perf_counter() - t0, 3),
               "report": None if rep is None else str(rep), "items": rows}
    return summary


# ----------------------------------------------------------------------------- display
class Printer:
    """Per-item lines on stderr: plain text in scripts and pipes; colour and a progress bar on a terminal."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        self.tty = sys.stderr.isatty() and not quiet
        self._progress = None
        self._task = None

    def start(self, n: int):
        if self.tty and n:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(TextColumn("batch"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                                      console=Console(stderr=True), transient=True)
            self._progress.start()
            self._task = self._progress.add_task("batch", total=n)

    def item(self, r: dict, done: int, n: int):
        if self.quiet:
            return
        width = len(str(n))
        head = f"[{done:>{width}}/{n}]"
        if r["status"] == "ok":
            text = f"{head} ok      {r['output']} ({r['seconds']:.1f} s)"
        elif r["status"] == "skipped":
            text = f"{head} skipped {r['output']} (a valid video is there)"
        else:
            what = r["output"] or f"line {r['line']}"
            err = r["error"] or ""
            text = f"{head} FAILED  {err}" if err.startswith(f"{what}:") else f"{head} FAILED  {what}: {err}"
        if self._progress is not None:
            from rich.markup import escape

            colour = {"ok": "green", "skipped": "cyan"}.get(r["status"], "red")
            self._progress.console.print(f"[{colour}]{escape(text)}[/{colour}]", highlight=False, soft_wrap=True)
            self._progress.advance(self._task)
        else:
            print(text, file=sys.stderr, flush=True)

    def stop(self):
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def summary(self, s: dict):
        if self.quiet:
            return
        where = f"; report: {s['report']}" if s.get("report") else ""
        shard = f" (shard {s['shard']})" if s.get("shard") else ""
        print(f"batch{shard}: {s['total']} items, {s['ok']} ok, {s['skipped']} skipped, {s['failed']} failed "
              f"in {s['seconds']:.1f} s{where}", file=sys.stderr, flush=True)
