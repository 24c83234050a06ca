"""Manifest rows -> batch items: CSV/TSV (a header line) or JSONL (one object a line).

Each row names ``portrait``, ``audio`` and ``output`` and may set the per-item options
(:data:`OPTIONS`) and an ``id`` copied into the report. Relative paths are relative to the
manifest's folder. A row with a problem becomes an :class:`Item` with ``error`` set: the
batch reports it and goes on. ``parse_shard`` / ``in_shard``: ``--shard K/N``.
"""
from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..options import GenerateOptions
from ..runtime.errors import InputError

MANIFEST_EXTS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
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


CELLS = {"int": _int, "float": _float, "bool": _bool, "text": None, "path": "path"}


def _options() -> dict:
    """column -> converter of the cell (None: keep the text; "path": relative to the
    manifest): the options of ``GenerateOptions`` a row may set (their kinds of cell are in
    its definition, ``talkface.options``), and ``weights`` (the row's set of weights, which
    the ``TalkingFace`` holds, not the video's options) after ``renderer``."""
    out = {}
    for name, kind in GenerateOptions.columns().items():
        out[name] = CELLS[kind]
        if name == "renderer":
            out["weights"] = None
    return out


OPTIONS = _options()
COLUMNS = REQUIRED + ("id",) + tuple(OPTIONS)


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
    items: list[Item] = []
    seen: dict = {}  # what identifies each output so far -> (line, output)
    for i, (line, row, err) in enumerate(rows, 1):
        it = Item(i, line, error=err)
        if err is None:
            _fill(it, row, p, base)
        if it.error is None:
            keys = file_keys(it.output)
            hit = next((seen[k] for k in keys if k in seen), None)
            if hit is not None:
                also = "" if hit[1] == it.output else f" ({hit[1]}, the same file)"
                it.error = (f"{p} line {line}: output {it.output} is also the output of line {hit[0]}{also}; "
                            "give every row its own output")
            else:
                seen.update(dict.fromkeys(keys, (line, it.output)))
        items.append(it)
    return items


def file_keys(path) -> set:
    """What identifies the file ``path`` names, existing or not: its real path (symbolic
    links resolved before ``..``, so ``l/o.mp4`` with ``l -> real`` is ``real/o.mp4``, and
    ``l/../o.mp4`` is beside ``real``) and, when it exists, its device and inode (a hard
    link). Two paths name one file when their keys meet."""
    try:
        keys: set = {os.path.normcase(os.path.realpath(path))}
    except (OSError, ValueError):  # a NUL in the name: nothing on disk can match it but the same text
        return {os.path.normcase(os.path.abspath(path))}
    try:
        st = os.stat(path)
        keys.add((st.st_dev, st.st_ino))
    except (OSError, ValueError):
        pass
    return keys


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
    rows: list[tuple[int, dict | None, str | None]] = []
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
    rows: list[tuple[int, dict | None, str | None]] = []
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
