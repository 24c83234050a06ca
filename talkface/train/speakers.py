"""``talkface data prepare --footage``: talking footage of many speakers -> MouthNet training items.

GRID's clips are a still head before a still camera; real footage is not. Per clip:

1. **Tracking on every frame**: dlib's 68 points followed from frame to frame, the face
   detected again wherever the track fails (a cut, a fast turn).
2. **Head pose removed**: every frame's points frontalised (:mod:`talkface.face.pose`), so a
   nod or a turn does not read as mouth motion.
3. **Bad frames rejected**: a frame is marked invalid (``valid`` in ``meta.npz``; training
   ignores it) when the head is turned past :data:`MAX_YAW` / :data:`MAX_PITCH`, the stable
   points do not fit a face (:data:`MAX_RESIDUAL`), the face is under :data:`MIN_IOD` px
   between the eyes, or the shape jumps from one frame to the next.
4. **Audio/video offset**: the opening a speech-to-mouth model predicts from the clip's sound
   (the shipped MouthNet) is correlated with the clip's real opening at every lag within
   +-:data:`SYNC_SEARCH` frames; the sound is shifted by the best lag when that lag is clearly
   better, and the clip is dropped when no lag matches (docs/lipsync.md measures the method).
5. **Per-speaker normalisation** (``speakers.json``, after all clips): each speaker's closed
   mouth (the mean frontal shape of their least open 10 % of valid frames, over all their
   clips) and the spread of their opening, from which training scales each speaker's motion
   towards the common spread.

The speaker of a clip: the ``speaker`` column of a ``manifest.tsv`` in the source folder
(with a ``file`` column relative to it), else the clip's folder name, else its file name.
Items are written like ``talkface data prepare``'s (``frames.npy`` aligned crops, ``meta.npz``),
with ``meta.npz`` adding ``speaker``, ``valid``, ``av_offset``, ``sync_r`` and ``frontal``.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from ..constants import FPS, SAMPLE_RATE
from ..face.pose import TEMPLATE_3D, fit_pose, frontalise
from ..motion.articulation import best_lag, inner_lip_opening

MAX_YAW = 35.0       # degrees
MAX_PITCH = 30.0
MAX_RESIDUAL = 0.08  # inter-ocular distances, rms over the stable points
MIN_IOD = 14.0       # pixels between the outer eye corners
MAX_JUMP = 0.06      # inter-ocular distances: mean frontal change of the still points in one frame (a slip)
SYNC_SEARCH = 15     # frames searched for a clip's audio/video offset
SYNC_MIN_R = 0.25    # no lag correlates this well: the clip is dropped
SYNC_MARGIN = 0.05   # a lag must beat lag 0 by this much to shift the sound
SYNC_BIAS = 0        # the sync model's own lag on clips known to be in sync (docs/lipsync.md)
MIN_VALID = 0.6      # share of valid frames below which a clip is dropped
STILL = np.r_[17:48]  # brows, nose, eyes: what speech does not move


def speaker_table(src: Path) -> dict[str, str]:
    """clip path (resolved) -> speaker id, from ``src/manifest.tsv`` when there is one."""
    table: dict[str, str] = {}
    man = src / "manifest.tsv"
    if man.exists():
        with open(man, newline="") as f:
            for row in csv.DictReader(f, delimiter="\t"):
                if row.get("file") and row.get("speaker"):
                    table[str((src / row["file"]).resolve())] = row["speaker"].strip()
    return table


def speaker_of(clip: Path, src: Path, table: dict[str, str]) -> str:
    hit = table.get(str(clip.resolve()))
    if hit:
        return hit
    rel = clip.relative_to(src)
    return rel.parts[-2] if len(rel.parts) > 1 else clip.stem


def track(frames, box) -> tuple[np.ndarray, np.ndarray]:
    """(T, 68, 2) points and (T,) bool ok of a stream of frames, starting from a face box;
    where the pose fit fails the face is detected again and the track restarted there."""
    from ..face.clips import LandmarkTracker
    from ..face.detect import detect_faces

    tracker = LandmarkTracker(box)
    pts, ok = [], []
    for frame in frames:
        p = tracker(frame)
        good = frame_ok(p)
        if not good:  # lost: look for the face again, nearest to where it was
            faces = detect_faces(frame, "dlib", retries=False)
            if faces:
                c = p.mean(0)
                f = min(faces, key=lambda fc: np.hypot(*(np.add(fc.box[:2], np.divide(fc.box[2:], 2)) - c)))
                tracker = LandmarkTracker(f.box)
                p = tracker(frame)
                good = frame_ok(p)
        pts.append(p)
        ok.append(good)
    return np.asarray(pts, np.float32), np.asarray(ok, bool)


def frame_ok(points: np.ndarray) -> bool:
    """Whether one frame's points are a face seen well enough: size, pose and fit."""
    p = np.asarray(points, np.float64)
    if np.linalg.norm(p[45] - p[36]) < MIN_IOD:
        return False
    pose = fit_pose(p)
    yaw, pitch, _ = pose.angles
    return pose.residual <= MAX_RESIDUAL and abs(yaw) <= MAX_YAW and abs(pitch) <= MAX_PITCH


def frontal_track(points: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frontal points (T, 68, 2) in template units and the final valid mask: ``ok`` less the
    frames whose still points jump (a tracking slip) and their neighbours."""
    front = np.stack([frontalise(p) for p in points])
    valid = ok.copy()
    if len(front) > 1:
        jump = np.linalg.norm(np.diff(front[:, STILL], axis=0), axis=-1).mean(1)
        bad = np.r_[False, jump > MAX_JUMP] | np.r_[jump > MAX_JUMP, False]
        valid &= ~bad
    return front, valid


def fill(x: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``x`` with its invalid frames linearly interpolated from the valid ones (for the sync
    search and the crops; training ignores them)."""
    x = np.asarray(x, np.float64)
    if valid.all() or not valid.any():
        return x
    t = np.arange(len(x))
    flat = x.reshape(len(x), -1)
    out = np.stack([np.interp(t, t[valid], flat[valid, j]) for j in range(flat.shape[1])], 1)
    return out.reshape(x.shape)


def sync_offset(pred_opening: np.ndarray, real_opening: np.ndarray, valid: np.ndarray,
                search: int = SYNC_SEARCH) -> dict:
    """The clip's audio/video offset: the lag (frames; positive: the sound comes later than
    the picture) where the opening predicted from the sound matches the real one best, the
    correlation there and at lag 0, and the decision: ``shift`` (by ``offset``), ``keep``
    (in sync as it is) or ``drop`` (no lag matches)."""
    real = fill(real_opening, valid)
    n = min(len(pred_opening), len(real))
    reach = max(0, min(search, n // 3))
    best = best_lag(pred_opening[:n], real[:n], reach)
    at0 = best_lag(pred_opening[:n], real[:n], 0)
    r0 = None if at0 is None else at0[1]
    if best is None or best[1] < SYNC_MIN_R:
        return {"decision": "drop", "offset": 0, "r": None if best is None else best[1], "r0": r0}
    off = best[0] - SYNC_BIAS
    if off == 0 or r0 is None or best[1] - r0 < SYNC_MARGIN:
        return {"decision": "keep", "offset": 0, "r": best[1], "r0": r0}
    return {"decision": "shift", "offset": int(off), "r": best[1], "r0": r0}


def shift_audio(wav: np.ndarray, offset: int) -> np.ndarray:
    """The sound moved ``offset`` frames earlier (positive) or later (negative), same length."""
    return shift_rows(wav, int(offset) * (SAMPLE_RATE // FPS), 0)


def shift_rows(x: np.ndarray, offset: int, fill_row) -> np.ndarray:
    """Rows ``x`` (frames, or samples) moved ``offset`` rows earlier (positive) or later
    (negative), same length; ``fill_row`` where nothing is left."""
    if offset == 0:
        return x
    out = np.empty_like(x)
    out[:] = fill_row
    n = len(x)
    if offset > 0:
        out[: max(0, n - offset)] = x[offset:]
    else:
        out[-offset:] = x[: n + offset]
    return out


class SyncModel:
    """The shipped MouthNet, as the judge of each clip's audio/video offset."""

    def __init__(self):
        from .. import weights as W

        wts = W.load("default")
        self.net, self.basis = wts.atnet, wts.atnet.basis

    def opening(self, feats: np.ndarray) -> np.ndarray:
        from ..motion.mouthnet import close_mouth, predict_motion

        m = predict_motion(self.net, self.basis, feats, 1.0)
        ref = close_mouth(np.zeros(136, np.float32) + _template_norm(), self.basis)
        return inner_lip_opening((ref + m).reshape(-1, 68, 2))


def _template_norm() -> np.ndarray:
    """The template's frontal points in the normalised crop space (flat 136)."""
    from ..face.shape import to_norm
    from .data import DATA_SIZE, DATA_ZOOM

    return to_norm(template_crop(TEMPLATE_3D[:, :2], DATA_SIZE, DATA_ZOOM), DATA_SIZE).reshape(-1)


def template_crop(front: np.ndarray, size: int, zoom: float) -> np.ndarray:
    """Frontal points (template units) in a ``size`` px crop, placed as ``talkface data
    prepare`` places a head-on face (the alignment of the template itself)."""
    from ..face.align import align

    a = align(TEMPLATE_3D[:, :2] * 100.0, size, zoom)
    return a.to_crop(np.asarray(front, np.float64) * 100.0)


def prepare_footage_clip(clip: Path, out_item: Path, speaker: str, sync: SyncModel | None = None,
                         size: int | None = None, zoom: float | None = None) -> dict:
    """Prepare one clip of footage (module docstring); returns its summary. Raises
    ValueError on a clip that cannot be used (no face, too few good frames, no sync)."""
    from ..face.align import align
    from ..face.detect import detect_faces
    from ..speech import phones as P
    from ..speech.audio import load_audio, n_frames_for
    from ..video.writer import read_frames
    from .data import DATA_SIZE, DATA_ZOOM, write_item

    size, zoom = size or DATA_SIZE, zoom or DATA_ZOOM
    wav = np.clip(load_audio(clip, max_seconds=None), -1, 1).astype(np.float32)
    first = next(iter(read_frames(clip)), None)
    faces = detect_faces(first, "dlib", retries=True) if first is not None else []
    if not faces:
        raise ValueError("no face in the first frame")
    points, ok = track(read_frames(clip), faces[0].box)
    if len(points) < 8:
        raise ValueError(f"only {len(points)} frames")
    front, valid = frontal_track(points, ok)
    if valid.mean() < MIN_VALID:
        raise ValueError(f"only {valid.mean():.0%} of the frames show the face well enough")
    n = min(len(points), n_frames_for(wav.size))
    points, front, valid = points[:n], front[:n], valid[:n]
    phones = P.recognizer().frames(wav, n)
    feats = P.speech_features(wav, n, phones)
    real = inner_lip_opening(front)
    s = sync_offset((sync or SyncModel()).opening(feats), real, valid)
    if s["decision"] == "drop":
        raise ValueError(f"sound and mouth do not match at any lag within +-{SYNC_SEARCH} frames "
                         f"(best r {s['r'] if s['r'] is None else round(s['r'], 2)})")
    off = s["offset"]
    wav = shift_audio(wav, off)
    phones = shift_rows(phones, off, np.eye(len(P.PHONES), dtype=np.float32)[0])  # silence where no sound is left
    aligns = [align(p, size, zoom) for p in fill(points, valid)]  # bad frames: their neighbours' place
    crops = np.stack([a.warp(f) for a, f in zip(aligns, read_frames(clip))])[:n]
    crop_pts = template_crop(front.reshape(-1, 2), size, zoom).reshape(n, 68, 2).astype(np.float32)
    mats = np.stack([a.matrix for a in aligns])
    write_item(out_item, crops, crop_pts, (wav * 32767).astype(np.int16), mats, size, zoom, str(clip), False,
               extra={"speaker": speaker, "valid": valid, "av_offset": off, "sync_r": s["r"] or 0.0,
                      "sync_r0": s["r0"] or 0.0, "frontal": True})
    np.save(out_item / "phones.npy", phones)
    yaw = [abs(fit_pose(p).angles[0]) for p in points[valid][::5]]
    return {"clip": str(clip), "speaker": speaker, "frames": int(n), "valid": round(float(valid.mean()), 3),
            "av_offset": off, "sync": s["decision"], "sync_r": round(float(s["r"]), 3),
            "yaw_p90": round(float(np.percentile(yaw, 90)), 1) if yaw else None}


def speaker_norms(items: list[Path]) -> dict:
    """Per speaker, over all their prepared clips: the closed mouth (mean frontal shape of the
    least open 10 % of valid frames, normalised crop space, flat 136), and the spread of the
    opening (5th to 95th percentile over valid frames) with the seconds it comes from."""
    from ..face.shape import to_norm

    by: dict[str, list] = {}
    for it in items:
        m = np.load(it / "meta.npz")
        if "speaker" not in m:
            continue
        norm = to_norm(m["points"], int(m["size"]))
        by.setdefault(str(m["speaker"]), []).append(norm[m["valid"].astype(bool)])
    out = {}
    for spk, parts in sorted(by.items()):
        norm = np.concatenate(parts)
        op = inner_lip_opening(norm.reshape(-1, 68, 2))
        closed = op <= np.percentile(op, 10) + 1e-9
        out[spk] = {"neutral": norm[closed].mean(0).round(6).tolist(),
                    "spread": float(np.percentile(op, 95) - np.percentile(op, 5)),
                    "seconds": round(len(norm) / FPS, 1), "clips": len(parts)}
    return out


def _worker(args):
    clip, item, speaker = args
    try:
        import cv2
        cv2.setNumThreads(1)
        return "ok", prepare_footage_clip(Path(clip), Path(item), speaker, _sync_model())
    except Exception as e:  # never fatal: reported
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        return "skipped", {"clip": str(clip), "speaker": speaker, "error": msg}


_SYNC: list = []


def _sync_model() -> SyncModel:
    if not _SYNC:
        _SYNC.append(SyncModel())
    return _SYNC[0]


def prepare_footage(src, out, jobs: int = 1, limit: int | None = None, progress=None) -> dict:
    """Prepare every clip under ``src`` into ``out`` (resumable), then write
    ``out/speakers.json``. Returns the report (also ``out/report.json``)."""
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from ..face.clips import find_clips
    from .data import clip_id, list_items

    src, out = Path(src), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table = speaker_table(src)
    clips = find_clips(src)[:limit] if limit else find_clips(src)
    todo = [(str(c), str(out / clip_id(src, c)), speaker_of(c, src, table)) for c in clips
            if not (out / clip_id(src, c) / "meta.npz").exists()]
    report = {"source": str(src), "clips": len(clips), "already_done": len(clips) - len(todo), "prepared": 0,
              "kept": [], "skipped": []}
    rp = out / "report.json"
    if rp.exists():
        old = json.loads(rp.read_text())
        retry = {t[0] for t in todo}
        report["kept"] = [k for k in old.get("kept", []) if k["clip"] not in retry]
        report["skipped"] = [s for s in old.get("skipped", []) if s["clip"] not in retry]
    if progress:
        progress.start(len(todo))

    def tally(status, info):
        report["prepared"] += status == "ok"
        (report["kept"] if status == "ok" else report["skipped"]).append(info)
        if progress:
            progress.advance()

    if jobs <= 1:
        for t in todo:
            tally(*_worker(t))
    else:
        with ProcessPoolExecutor(jobs) as ex:
            for f in as_completed([ex.submit(_worker, t) for t in todo]):
                tally(*f.result())
    listed = {k["clip"] for k in report["kept"]}
    for it in list_items(out):  # items an earlier, interrupted run made: their summary from meta.npz
        m = np.load(it / "meta.npz")
        if "speaker" in m and str(m["source"]) not in listed:
            report["kept"].append({"clip": str(m["source"]), "speaker": str(m["speaker"]), "frames": len(m["points"]),
                                   "valid": round(float(m["valid"].mean()), 3), "av_offset": int(m["av_offset"]),
                                   "sync": "shift" if int(m["av_offset"]) else "keep",
                                   "sync_r": round(float(m["sync_r"]), 3)})
    norms = speaker_norms(list_items(out))
    (out / "speakers.json").write_text(json.dumps(norms))
    report["speakers"] = len(norms)
    rp.write_text(json.dumps(report, indent=2))
    return report
