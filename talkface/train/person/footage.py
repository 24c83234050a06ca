"""Person runs, stages 1-2: find the sources, track the face, cut and check segments."""
from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...constants import FPS
from ...face.clips import CLIP_EXTS, LandmarkTracker, find_clips
from ...face.detectors.base import box_iou, shrink
from ...face.detectors.dlib import _detect_dlib
from ...runtime.errors import InputError, NoFaceError
from ...runtime.inputs import check_input_file
from ...video.writer import DECODE_FLAGS
from .common import (
    CHECK_EVERY,
    DECODE_SIDE,
    DETECT_SIDE,
    HOLDOUT_SHARE,
    MAX_SECONDS,
    MULTI_SHARE,
    SECOND_FACE,
    SEGMENT_SECONDS,
    VIDEO_FORMATS,
    Progress,
)


def sources(video) -> list[Path]:
    """The clips ``video`` names: the file itself, or every clip under a folder (sorted)."""
    p = Path(video)
    if p.is_dir():
        clips = find_clips(p)
        if not clips:
            raise InputError(f"{p}: no video files in this folder ({', '.join(CLIP_EXTS)}); give a video of "
                             "one person or a folder of their clips")
        return clips
    return [check_input_file(p, "video", "video file", VIDEO_FORMATS)]


def _fingerprint(p: Path) -> dict:
    """Size + sha256 of the first and last MiB: the same file after a move or a copy."""
    n = p.stat().st_size
    h = hashlib.sha256()
    with open(p, "rb") as f:
        h.update(f.read(1 << 20))
        if n > 2 << 20:
            f.seek(-(1 << 20), 2)
            h.update(f.read())
    return {"file": str(p), "bytes": n, "sha256_ends": h.hexdigest()}


def _same_sources(a: list[dict], b: list[dict]) -> bool:
    key = lambda s: (s["bytes"], s["sha256_ends"])
    return [key(s) for s in a] == [key(s) for s in b]


class _Video:
    """The frames of one clip at 25 fps, at most DECODE_SIDE a side, streamed from ffmpeg."""

    def __init__(self, path: Path):
        import imageio_ffmpeg

        self.path = path
        scale = (f"scale=w='min({DECODE_SIDE},iw)':h='min({DECODE_SIDE},ih)'"
                 ":force_original_aspect_ratio=decrease")
        try:
            self._gen = imageio_ffmpeg.read_frames(str(path),
                                                   output_params=["-r", str(FPS), "-vf", scale, *DECODE_FLAGS])
            meta = next(self._gen)
        except (OSError, RuntimeError, StopIteration):
            raise InputError(f"{path}: not readable as video (ffmpeg cannot decode it, or it has no video "
                             f"stream); give a video file ({VIDEO_FORMATS})") from None
        self.width, self.height = meta["size"]
        self.seconds = float(meta.get("duration") or 0.0)

    def frames(self, limit: int | None = None) -> Iterator[np.ndarray]:
        try:
            for i, raw in enumerate(self._gen):
                if limit is not None and i >= limit:
                    return
                yield np.frombuffer(raw, np.uint8).reshape(self.height, self.width, 3)
        except (OSError, RuntimeError) as e:
            why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise InputError(f"{self.path}: ffmpeg stopped reading it ({why}); give a complete video file") from None
        finally:
            self._gen.close()  # stops ffmpeg


# ----------------------------------------------------------------------------- 1. track
@dataclass
class Track:
    """What the tracking pass found, for every frame of every source."""
    points: np.ndarray             # (N, 68, 2) float32, source pixels; NaN where untracked
    ok: np.ndarray                 # (N,) bool: tracked and moving plausibly
    checks: np.ndarray             # (K, 3) int: global frame, faces found, people (faces of a person's
                                   # size that are tracked or not still: see _people)
    bounds: list                   # per source: (first global frame, frames)
    cut: bool = False              # the footage was longer than MAX_SECONDS

    def save(self, path: Path):
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, points=self.points, ok=self.ok, checks=self.checks,
                 bounds=np.asarray(self.bounds, np.int64).reshape(-1, 2), cut=self.cut)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> Track:
        z = np.load(path)
        return cls(z["points"], z["ok"], z["checks"], [tuple(int(v) for v in b) for b in z["bounds"]],
                   bool(z["cut"]))


def _detect(frame: np.ndarray):
    """dlib faces of ``frame`` found on a copy at most DETECT_SIDE a side, largest first,
    boxes in frame pixels. Weak ones are kept (dlib's own threshold, -0.3): another
    person's face in the frame counts even when it is turned or in shadow."""
    small, s = shrink(frame, DETECT_SIDE)
    faces = sorted(_detect_dlib(small), key=lambda f: f.box[2] * f.box[3], reverse=True)
    for f in faces:
        f.box = tuple(v / s for v in f.box)  # type: ignore[assignment]
    return faces


STILL_LEVEL = 0.5  # grey levels (mean): a face whose thumbnail never changes this much from one check to the
                   # next is a picture (real faces: 3-38 between checks; a talkface video's mouth: 1.5-5)
THUMB = 24         # the thumbnail's side, pixels


def _thumb(frame: np.ndarray, box) -> np.ndarray | None:
    """The face in ``box``, grey, THUMB x THUMB, its mean removed (None when the box is
    outside the frame)."""
    import cv2

    h, w = frame.shape[:2]
    x, y, bw, bh = box
    x0, y0 = max(0, int(round(x))), max(0, int(round(y)))
    x1, y1 = min(w, int(round(x + bw))), min(h, int(round(y + bh)))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    g = cv2.cvtColor(np.ascontiguousarray(frame[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY).astype(np.float32)
    t = cv2.resize(g, (THUMB, THUMB), interpolation=cv2.INTER_AREA)
    return t - t.mean()


class _Chain:
    """One face followed from check to check (boxes overlapping a second apart)."""

    def __init__(self):
        self.links = 0        # checks it was followed across
        self.moved = False    # its pixels changed across one of them

    @property
    def still(self) -> bool:
        """Seen at two checks or more and never changed: a picture on the wall, a print on
        clothing, the parts of a talkface video that do not move. Not a person."""
        return self.links > 0 and not self.moved


@dataclass
class _Seen:
    """A face found at one check."""
    box: tuple
    thumb: np.ndarray | None
    tracked: bool          # the face the landmarks follow
    chain: _Chain = field(default_factory=_Chain)

    @property
    def still(self) -> bool:
        return self.chain.still


def _link(prev: list[_Seen], cur: list[_Seen]):
    """Each face of ``cur`` continues the chain of the face of ``prev`` (the check a second
    earlier) its box overlaps most (IoU 0.5 or more), each chain at most once; a chain
    moves when the face's grey thumbnail changed by STILL_LEVEL or more."""
    taken: set[int] = set()
    for f in cur:
        best = max(((box_iou(f.box, g.box), k) for k, g in enumerate(prev) if k not in taken), default=(0.0, -1))
        if best[0] < 0.5:
            continue
        g = prev[best[1]]
        taken.add(best[1])
        f.chain = g.chain
        f.chain.links += 1
        if f.thumb is None or g.thumb is None or float(np.abs(f.thumb - g.thumb).mean()) >= STILL_LEVEL:
            f.chain.moved = True


def _people(seen: list[_Seen]) -> int:
    """Faces of a person's size at one check: the tracked one and every other face that
    is not still (see :class:`_Chain`), at least SECOND_FACE of the largest one's width.
    Known once the track is done: a picture's first check counts it still too."""
    alive = [f for f in seen if f.tracked or not f.still]
    if not alive:
        return 0
    widest = max(f.box[2] for f in alive)
    return sum(1 for f in alive if f.box[2] >= SECOND_FACE * widest)


def _first_pick(faces):
    """The face to follow when nothing is followed yet: the largest; among faces nearly
    as large (80 % of its width), the one dlib is surest of."""
    near = [f for f in faces if f.box[2] >= 0.8 * faces[0].box[2]]
    return max(near, key=lambda f: f.score)


def _plausible(p: np.ndarray, prev: np.ndarray | None, shape) -> bool:
    """Points inside the frame that moved like a face from the previous frame's."""
    h, w = shape[:2]
    c = p.mean(0)
    size = float(np.ptp(p, 0).max())
    if not (0 <= c[0] < w and 0 <= c[1] < h) or size < 16:
        return False
    if prev is None or not np.isfinite(prev).all():
        return True
    ratio = size / max(float(np.ptp(prev, 0).max()), 1e-6)
    return 0.8 < ratio < 1.25 and float(np.linalg.norm(c - prev.mean(0))) < 0.3 * size


def track(paths: list[Path], progress: Progress | None = None, max_seconds: float = MAX_SECONDS) -> Track:
    """The tracking pass (stage 1) over ``paths``."""
    budget = int(max_seconds * FPS)
    pts, ok, bounds = [], [], []
    seen: list[tuple[int, list[_Seen]]] = []  # per check: its frame, the faces found
    done, cut = 0, False
    for k, path in enumerate(paths):
        if done >= budget:  # sources left over
            cut = True
            break
        v = _Video(path)
        est = max(1, int(v.seconds * FPS))
        first = done
        tracker, prev = None, None
        prev_seen: list[_Seen] = []
        for i, frame in enumerate(v.frames(limit=budget - done)):
            if i % CHECK_EVERY == 0:
                faces = _detect(frame)
                pick = None
                if not faces:
                    tracker = None
                else:
                    pick = _first_pick(faces)
                    if tracker is not None:  # the face it was following
                        last = tracker.box
                        pick = max(faces, key=lambda f: box_iou(f.box, last))
                    tracker = LandmarkTracker(pick.box)
                cur = [_Seen(f.box, _thumb(frame, f.box), f is pick) for f in faces]
                _link(prev_seen, cur)
                for g in prev_seen:
                    g.thumb = None
                prev_seen = cur
                seen.append((done, cur))
            if tracker is None:
                p = np.full((68, 2), np.nan, np.float32)
                good = False
            else:
                p = tracker(frame)
                good = _plausible(p, prev, frame.shape)
            pts.append(p.astype(np.float32))
            ok.append(good)
            prev = p if good else None
            done += 1
            if progress and i % 25 == 0:
                progress("track", min(1.0, (k + min(1.0, i / est)) / len(paths)),
                         f"{done / FPS:.0f} s read" + (f", clip {k + 1}/{len(paths)}" if len(paths) > 1 else ""))
        bounds.append((first, done - first))
        if done >= budget and est > done - first + FPS:  # this source was cut short
            cut = True
    if progress:
        progress("track", 1.0, f"{done / FPS:.0f} s read")
    checks = [(f, len(faces), _people(faces)) for f, faces in seen]
    return Track(np.asarray(pts, np.float32).reshape(-1, 68, 2), np.asarray(ok, bool),
                 np.asarray(checks, np.int64).reshape(-1, 3), bounds, cut)


# ----------------------------------------------------------------------------- 2. check
@dataclass
class Segment:
    source: int     # index into the sources
    start: int      # first global frame
    end: int        # one past the last global frame
    index: int      # segment number within its source

    @property
    def name(self) -> str:
        return f"{self.source:04d}-{self.index:04d}"


def segments(t: Track, seconds: int = SEGMENT_SECONDS) -> list[Segment]:
    """The usable segments (see the module's doc), in time order."""
    n = seconds * FPS
    faces = {int(f): (int(a), int(b)) for f, a, b in t.checks}
    out = []
    for si, (first, count) in enumerate(t.bounds):
        for j, s in enumerate(range(0, count, n)):
            e = min(s + n, count)
            if e - s < FPS:  # an end shorter than a second
                continue
            if not t.ok[first + s:first + e].all():
                continue
            seen = [faces[first + c] for c in range(s, min(e, count - 1) + 1, CHECK_EVERY) if first + c in faces]
            if seen and all(a >= 1 and b == 1 for a, b in seen):
                out.append(Segment(si, first + s, first + e, j))
    return out


def check(t: Track, segs: list[Segment], where: str, min_seconds: float):
    """Stage 2: the errors a video can cause (see the module's doc)."""
    c = t.checks
    faced = c[:, 1] >= 1 if len(c) else np.zeros(0, bool)
    if not faced.any():
        raise NoFaceError(f"{where}: no face found in the video ({len(c)} frames checked, one a second); give "
                          "a video of one person talking with the face visible, frontal, well lit and not small")
    multi = float((c[faced, 2] >= 2).mean())
    if multi >= MULTI_SHARE:
        raise InputError(f"{where}: {100 * multi:.0f} % of the checked frames show two or more faces; give a "
                         "video of one person (cut or crop the others out)")
    usable = sum(s.end - s.start for s in segs) / FPS
    if usable < min_seconds or len(segs) < 2:
        raise InputError(f"{where}: {usable:.0f} s of usable footage (one face, tracked, in "
                         f"{SEGMENT_SECONDS} s pieces), {max(min_seconds, 2 * SEGMENT_SECONDS):.0f} s needed; give a "
                         "longer video of the person talking (1-5 minutes), or lower --min-seconds")


def split(segs: list[Segment]) -> tuple[list[Segment], list[Segment]]:
    """(train, held out): the last 10 % of the segments in time, at least one."""
    k = max(1, int(round(HOLDOUT_SHARE * len(segs))))
    return segs[:-k], segs[-k:]


# ----------------------------------------------------------------------------- 3. items
