"""``talkface data prepare``: clips with audio -> training items.

Each item is a folder ``OUT_DIR/<clip id>/`` with
  frames.npy   (T, S, S, 3) uint8 aligned face crops
  meta.npz     points (T, 68, 2) float32 landmarks in crop pixels, wav (N,) int16 at
               16 kHz, matrix (T, 2, 3) image->crop alignments, size, fps, source
Finished items are skipped on a re-run; clips that cannot be read or have no face are
listed in ``OUT_DIR/report.json`` and never stop the run.
"""
from __future__ import annotations

import json
import os
import shutil
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..face.clips import LandmarkTracker, find_clips
from ..face.shape import stabilise, to_norm

DATA_SIZE = 128
DATA_ZOOM = 0.85


def clip_id(src: Path, clip: Path) -> str:
    rel = clip.relative_to(src).with_suffix("")
    return "__".join(rel.parts)


def tier(name: str) -> str:
    """The first folder of a prepared clip's source (its :func:`clip_id` up to the first ``__``:
    av_train's ``open`` or ``research``); "" for a clip at the top of its source."""
    return name.split("__")[0] if "__" in name else ""


def prepare_clip(clip: Path, out_item: Path, size: int = DATA_SIZE, zoom: float = DATA_ZOOM,
                 static_camera: bool | None = None) -> dict:
    """Prepare one clip; returns a summary. Raises on unusable clips."""
    from ..face.align import align
    from ..face.detect import detect_faces
    from ..speech.audio import load_audio
    from ..video.writer import read_frames

    wav = load_audio(clip, max_seconds=None)
    frames = list(read_frames(clip))
    if len(frames) < 8:
        raise ValueError(f"only {len(frames)} frames")
    faces = detect_faces(frames[0], "dlib", retries=False)
    if not faces:
        mid = len(frames) // 2
        faces = detect_faces(frames[mid], "dlib", retries=True)
        if not faces:
            raise ValueError("no face found")
    pts = LandmarkTracker(faces[0].box).track(frames)
    if static_camera is None:  # decide from how much the face moves
        c = pts[:, 27:45].mean(1)
        static_camera = float(np.abs(c - c.mean(0)).max()) < 0.08 * float(np.ptp(pts[0, :, 0]))
    if static_camera:
        a = align(np.median(pts, 0), size, zoom)
        aligns = [a] * len(frames)
    else:
        aligns = [align(p, size, zoom) for p in pts]
    crops = np.stack([al.warp(fr) for al, fr in zip(aligns, frames)])
    crop_pts = np.stack([al.to_crop(p) for al, p in zip(aligns, pts)]).astype(np.float32)
    write_item(out_item, crops, crop_pts, (np.clip(wav, -1, 1) * 32767).astype(np.int16),
               np.stack([al.matrix for al in aligns]), size, zoom, str(clip), static_camera)
    return {"clip": str(clip), "frames": len(frames), "static": bool(static_camera)}


def write_item(out_item: Path, crops: np.ndarray, crop_pts: np.ndarray, wav: np.ndarray, matrices: np.ndarray,
               size: int, zoom: float, source: str, static: bool, extra: dict | None = None):
    """One prepared item, written beside its place and renamed into it when complete:
    ``crops`` (T, S, S, 3) uint8, ``crop_pts`` (T, 68, 2) in crop pixels, ``wav`` int16
    at 16 kHz, ``matrices`` (T, 2, 3) image -> crop; ``extra``: more arrays for ``meta.npz``."""
    from ..constants import FPS, SAMPLE_RATE

    out_item = Path(out_item)
    tmp = out_item.with_name(out_item.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    np.save(tmp / "frames.npy", crops)
    np.savez(tmp / "meta.npz", points=np.asarray(crop_pts, np.float32), wav=np.asarray(wav, np.int16),
             matrix=np.asarray(matrices, np.float32), size=size, zoom=zoom, fps=FPS, sr=SAMPLE_RATE,
             source=source, static=static, **(extra or {}))
    shutil.rmtree(out_item, ignore_errors=True)
    os.replace(tmp, out_item)


def _worker(args):
    clip, item, size, zoom = args
    try:
        import cv2
        cv2.setNumThreads(1)
        return "ok", prepare_clip(Path(clip), Path(item), size, zoom)
    except Exception as e:  # never fatal: reported
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        return "skipped", {"clip": str(clip), "error": msg}


def prepare(src, out, jobs: int = 1, size: int = DATA_SIZE, zoom: float = DATA_ZOOM, limit: int | None = None,
            progress=None) -> dict:
    """Prepare every clip under ``src`` into ``out``; resumable. Returns the report."""
    src, out = Path(src), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    clips = find_clips(src)
    if limit:
        clips = clips[:limit]
    todo, done = [], 0
    for c in clips:
        item = out / clip_id(src, c)
        if (item / "meta.npz").exists() and (item / "frames.npy").exists():
            done += 1
        else:
            todo.append((str(c), str(item), size, zoom))
    report = {"source": str(src), "clips": len(clips), "already_done": done, "prepared": 0, "skipped": []}
    rp = out / "report.json"
    if rp.exists():  # keep what earlier runs skipped, unless it is being retried now
        try:
            old = json.loads(rp.read_text()).get("skipped", [])
            retry = {t[0] for t in todo}
            report["skipped"] = [s for s in old if s["clip"] not in retry]
        except Exception:
            pass
    if progress:
        progress.start(len(todo))
    if jobs <= 1:
        results = (_worker(t) for t in todo)
        for status, info in results:
            _tally(report, status, info, progress)
    else:
        with ProcessPoolExecutor(jobs) as ex:
            futs = [ex.submit(_worker, t) for t in todo]
            for f in as_completed(futs):
                _tally(report, *f.result(), progress)  # type: ignore[call-arg]
    rp.write_text(json.dumps(report, indent=2))
    return report


def _tally(report, status, info, progress):
    if status == "ok":
        report["prepared"] += 1
    else:
        report["skipped"].append(info)
    if progress:
        progress.advance()


def list_items(data_dir) -> list[Path]:
    d = Path(data_dir)
    return sorted(p for p in d.iterdir() if (p / "meta.npz").exists() and (p / "frames.npy").exists())


@dataclass
class Prepared:
    """What the trainers read of a prepared item: its name, crop size and zoom, its
    landmarks with head motion removed, normalised to the crop ((T, 136)), and its audio
    (float32 at 16 kHz)."""
    name: str
    size: int
    zoom: float
    norm: np.ndarray
    wav: np.ndarray


def read_item(item: Path) -> Prepared:
    """The item folder ``item`` (its ``meta.npz``) as a :class:`Prepared`."""
    m = np.load(item / "meta.npz")
    size = int(m["size"])
    return Prepared(item.name, size, float(m["zoom"]), to_norm(stabilise(m["points"]), size),
                    m["wav"].astype(np.float32) / 32767.0)


def heldout(names: list, holdout: int) -> list:
    """The ``holdout`` items kept out of training, evenly spread over the sorted list (GRID's
    1000 clips of a speaker with 50: every 20th). None when there are fewer than 4 items."""
    names = sorted(names)
    if holdout <= 0 or len(names) < 4:
        return []
    return names[::max(2, len(names) // holdout)][:holdout]
