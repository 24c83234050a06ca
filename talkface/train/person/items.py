"""Person runs, stage 3: usable segments -> prepared training items."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ...constants import FPS, SAMPLE_RATE
from ...runtime import signals
from ...runtime.errors import InputError
from ..data import DATA_SIZE, DATA_ZOOM, write_item
from .common import (
    SMOOTH_SIGMA,
    Progress,
)
from .footage import Segment, Track, _Video


def _smoothed_matrices(pts: np.ndarray, size: int, zoom: float) -> np.ndarray:
    """(T, 2, 3) image -> crop alignments of a segment's points, smoothed over time."""
    from scipy.ndimage import gaussian_filter1d

    from ...face.align import align

    m = np.stack([align(p, size, zoom).matrix for p in pts])
    return gaussian_filter1d(m, SMOOTH_SIGMA, axis=0, mode="nearest") if len(m) > 1 else m


def _audio(path: Path) -> np.ndarray | None:
    """The clip's audio, int16 at 16 kHz, or None when it has none that ffmpeg decodes."""
    from ...speech.audio import load_audio_int16

    try:
        return load_audio_int16(path, max_seconds=None)
    except InputError:
        return None


def write_items(paths: list[Path], t: Track, train: list[Segment], val: list[Segment], data: Path,
                progress: Progress | None = None, size: int = DATA_SIZE, zoom: float = DATA_ZOOM) -> dict:
    """Stage 3: one prepared item per segment in ``data/train`` and ``data/val``; items
    already there are kept. Returns {"audio": whether every source had audio}."""
    from ...face.align import Alignment

    where = {s.name: data / "train" for s in train} | {s.name: data / "val" for s in val}
    todo = [s for s in sorted(train + val, key=lambda s: s.start) if not (where[s.name] / s.name).is_dir()]
    state_file = data / "audio.json"
    audio_ok = json.loads(state_file.read_text())["audio"] if state_file.exists() else True
    total, done = len(train) + len(val), len(train) + len(val) - len(todo)
    for si in sorted({s.source for s in todo}):
        mine = [s for s in todo if s.source == si]
        first = t.bounds[si][0]
        wav = _audio(paths[si])
        audio_ok = audio_ok and wav is not None
        v = _Video(paths[si])
        k, crops = 0, []
        mats = _smoothed_matrices(t.points[mine[0].start:mine[0].end], size, zoom)
        for i, frame in enumerate(v.frames(limit=mine[-1].end - first)):
            seg = mine[k]
            g = first + i
            if g < seg.start:
                continue
            crops.append(Alignment(mats[g - seg.start], size).warp(frame))
            if g + 1 < seg.end:
                continue
            pts = t.points[seg.start:seg.end]
            crop_pts = np.einsum("tij,tkj->tki", mats[:, :, :2], pts) + mats[:, None, :, 2]
            a, b = (seg.start - first) * SAMPLE_RATE // FPS, (seg.end - first) * SAMPLE_RATE // FPS
            clip_wav = np.zeros(b - a, np.int16)
            if wav is not None:
                part = wav[a:b]
                clip_wav[:len(part)] = part
            with signals.held():  # an item is written whole or not at all
                write_item(where[seg.name] / seg.name, np.stack(crops), crop_pts, clip_wav, mats, size, zoom,
                           f"{paths[si]}#{(seg.start - first) / FPS:.2f}s", False)
            done += 1
            if progress:
                progress("items", done / total, f"{done}/{total} pieces")
            k, crops = k + 1, []
            if k == len(mine):
                break
            mats = _smoothed_matrices(t.points[mine[k].start:mine[k].end], size, zoom)
    data.mkdir(parents=True, exist_ok=True)
    _write_json(state_file, {"audio": bool(audio_ok)})
    if progress:
        progress("items", 1.0, f"{total}/{total} pieces")
    return {"audio": bool(audio_ok)}


def _write_json(path: Path, obj):
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- 4. fine-tune
