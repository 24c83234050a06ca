"""What a batch reports: a result row per item, the summary (``--json``), the report file."""
from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

from ..runtime.errors import EXIT_UNEXPECTED
from .manifest import Item

REPORT_EXTS = (".json", ".csv")
STATUSES = ("ok", "skipped", "failed", "not run")
REPORT_FIELDS = ("index", "line", "id", "status", "exit_code", "seconds", "output", "portrait", "audio", "frames",
                 "error")


def result(it: Item, status: str, code: int, seconds: float = 0.0, error: str | None = None,
           frames: int | None = None) -> dict:
    """The report's row for ``it`` (the fields of :data:`REPORT_FIELDS`)."""
    return {"index": it.index, "line": it.line, "id": it.id, "status": status, "exit_code": code,
            "seconds": round(seconds, 3), "output": it.output, "portrait": it.portrait, "audio": it.audio,
            "frames": frames, "error": error}


def count(rows: list[dict]) -> dict[str, int]:
    """How many rows have each status."""
    return {s: sum(r["status"] == s for r in rows) for s in STATUSES}


def summary(manifest, shard: tuple[int, int] | None, jobs: int, device: str, todo: list[Item],
            results: dict[int, dict], interrupted: bool, report: Path | None, t0: float) -> dict:
    """The batch's result (``--json`` and the JSON report); items that never finished are
    rows of status "not run"."""
    for it in todo:
        if it.index not in results:
            results[it.index] = result(it, "not run", 130 if interrupted else EXIT_UNEXPECTED, 0.0,
                                       "interrupted before this item finished; run again with --resume")
    rows = [results[i] for i in sorted(results)]
    n = count(rows)
    return {"manifest": str(manifest), "shard": None if shard is None else f"{shard[0]}/{shard[1]}",
            "jobs": jobs, "device": device, "total": len(rows), "ok": n["ok"],
            "skipped": n["skipped"], "failed": n["failed"], "not_run": n["not run"],
            "interrupted": interrupted, "seconds": round(time.perf_counter() - t0, 3),
            "report": None if report is None else str(report), "items": rows}


def check_report_path(report) -> Path | None:
    """``--report``: a .json or .csv file that can be written (InputError otherwise)."""
    if report is None:
        return None
    from ..video.outputs import check_target

    return check_target(Path(report), REPORT_EXTS, "report must be .json or .csv", "report")


def check_report_clash(report: Path | None, manifest, items: list[Item]):
    """Refuse (exit 2) a ``--report`` that is the manifest, an input (portrait, audio,
    landmarks) or the output of any row, or a weights manifest: the same file by its real
    path (symbolic links count) or inode (hard links). Every row counts, not only this shard's."""
    if report is None:
        return
    from ..runtime.errors import InputError
    from .manifest import file_keys

    keys = file_keys(report)

    def same(path) -> bool:
        return path is not None and not keys.isdisjoint(file_keys(path))

    def refuse(what: str, path, harm: str = "writing the report there would destroy it"):
        other = "" if str(path) == str(report) else f" ({path})"  # named otherwise: through a link
        raise InputError(f"{report}: is {what}{other}; {harm}, give --report another file name")

    if same(manifest):
        refuse("the manifest", manifest)
    for it in items:
        for name, path in (("portrait", it.portrait), ("audio", it.audio), ("landmarks", it.options.get("landmarks"))):
            if same(path):
                refuse(f"the {name} of {manifest} line {it.line}", path)
        if same(it.output):
            refuse(f"the output of {manifest} line {it.line}", it.output,
                   "the video and the report would overwrite each other")
    try:
        from .. import weights as W

        manifests = [f.path / W.MANIFEST for f in W.folders()]
    except Exception:  # noqa: BLE001 - no weights folder to protect
        manifests = []
    for path in manifests:
        if same(path):
            refuse("a weights manifest", path, "writing the report there would destroy those weights")


def write_report(path: Path, summary: dict):
    """JSON (the ``--json`` object) or CSV (one row per item), written atomically."""
    from ..video.outputs import write_atomic

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
