"""``talkface batch``: many ``generate`` runs from one manifest (CSV or JSONL).

Each row (CSV) or JSON object (JSONL) names ``portrait``, ``audio`` and ``output`` and may
set per-item options (``size``, ``crop``, ``max_size``, ``detector``, ``landmarks``,
``face_index``, ``renderer``, ``weights``, ``max_seconds``, ``blink``, ``head_motion``) and
an ``id`` that is copied into the report. Relative paths are relative to the manifest's folder.

* Items run in this process (``jobs=1``) or in ``jobs`` worker processes; either way the
  models are loaded once per process (a :class:`~talkface.TalkingFace` per weights set).
* A failing item is reported and the batch goes on; the result says which failed.
* ``resume`` skips items whose output exists and is a readable video.
* ``shard=(K, N)`` keeps the items at positions K, K+N, K+2N ... (1-based, counting every
  data row of the manifest, bad ones too), so N machines split one manifest with no overlap.
* ``ray=RaySettings(...)`` runs the items on the actors of a Ray cluster instead (Ray is
  imported only then).

Modules: ``manifest`` (rows -> items, shards), ``mp4`` (is a finished video there),
``items`` (one item), ``pool`` (worker processes), ``runner`` (``run_batch``), ``report``
(result rows, summary, report file), ``printer`` (the lines on stderr); ``--ray``: ``ray_cluster``
(settings, connecting), ``ray_backend`` (the driver's loop), ``ray_worker`` (the actors).
"""
from __future__ import annotations

from .items import Common, Models, describe, precheck, run_item
from .manifest import COLUMNS, MANIFEST_EXTS, OPTIONS, REQUIRED, Item, file_keys, in_shard, parse_shard, read_manifest
from .mp4 import isobmff_complete, valid_video
from .pool import run_pool
from .printer import Printer
from .ray_cluster import RaySettings
from .report import REPORT_EXTS, REPORT_FIELDS, STATUSES, check_report_clash, check_report_path, result, write_report
from .runner import run_batch

_isobmff_complete = isobmff_complete  # the names of the one-module batch.py (tests use them)
_result = result
_run_pool = run_pool

__all__ = ["COLUMNS", "Common", "Item", "MANIFEST_EXTS", "Models", "OPTIONS", "Printer", "RaySettings", "REPORT_EXTS",
           "REPORT_FIELDS", "REQUIRED", "STATUSES", "check_report_clash", "check_report_path", "describe", "file_keys",
           "in_shard", "isobmff_complete", "parse_shard", "precheck", "read_manifest", "result", "run_batch",
           "run_item", "run_pool", "valid_video", "write_report"]
