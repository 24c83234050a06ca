"""``talkface train vgnet --video``: a renderer for one person, from a video of them.

:func:`train_person` runs these stages in a run folder (default
``<talkface home>/runs/<name>``, never the source tree); each is resumable:

1. **track**: every source (one video, or every clip of a folder) is decoded once at
   25 fps, at most 1920 px a side, streamed. dlib's face detector runs once a second on a
   copy of at most 640 px and counts the faces; the 68 points are followed in every frame
   (``clips.LandmarkTracker``), the tracker restarted on each detection.
2. **check**: no face at all is :class:`NoFaceError` (exit 3); two or more faces in at
   least 20 % of the checked frames, or less than ``min_seconds`` of usable footage, is
   :class:`InputError` (exit 2). Usable: a 3 s segment whose checks (and the next one)
   found exactly one face and whose points move plausibly from frame to frame. Nothing
   is written before the checks pass.
3. **items** (``data/train``, ``data/val``): the sources are decoded again and each usable
   segment becomes a prepared item (the ``train.data`` format: 128 px crops at zoom 0.85,
   points, audio). The alignment is per frame, smoothed over time, so a moving head is
   fine. The last 10 % of the segments (in time) are held out for validation.
4. **fine-tune** (``vgnet/``): :func:`talkface.train.vgnet.train` from the base weights'
   VG-net, ``mouth`` recipe, for ``minutes`` of training time; a rerun continues from the
   last checkpoint (every 200 steps and every 10 minutes).
5. **gain** (MouthNet AT-nets): the gain that makes the predicted inner-lip opening
   spread as the person's own on the training segments, kept only when it brings the
   held-out spread ratio closer to 1.
6. **register**: weights ``name`` in the user's weights folder: the base AT-net (with the
   fitted gain), the fine-tuned VG-net (best held-out PSNR), and a pipeline that names
   the ``identity``, so ``--renderer auto`` uses VG-net for photos.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import math
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import signals
from ..clips import CLIP_EXTS, LandmarkTracker, find_clips
from ..constants import FPS, SAMPLE_RATE
from ..errors import InputError, NoFaceError
from ..inputs import check_input_file
from .data import DATA_SIZE, DATA_ZOOM, list_items, write_item

SEGMENT_SECONDS = 3           # one training item per 3 s of footage (GRID's clip length)
CHECK_EVERY = FPS             # frames between face detections: one a second
DETECT_SIDE = 640             # detection runs on a copy at most this many pixels a side
DECODE_SIDE = 1920            # frames are decoded at most this many pixels a side
MULTI_SHARE = 0.2             # two or more faces in this share of the checks: not one person
SECOND_FACE = 0.5             # a face counts as another person's at this share of the largest's width
HOLDOUT_SHARE = 0.1           # the last 10 % of the segments are held out
MIN_SECONDS = 60.0            # usable footage needed unless told otherwise
MAX_SECONDS = 1200.0          # longer footage: only the first 20 minutes are read
SMOOTH_SIGMA = 2.0            # frames: the per-frame alignment is smoothed over time
VIDEO_FORMATS = "MP4, MOV, MKV, AVI, WebM"
RUN_FILE = "run.json"
TRACK_FILE = "track.npz"
RECIPES = ("original", "mouth")

Progress = Callable[[str, float, str], None]  # (stage, fraction done 0..1, text)


def run_dir_for(name: str) -> Path:
    """The default run folder of ``talkface train vgnet --video ... --name NAME``."""
    from .. import weights as W

    return W.home() / "runs" / name


# ----------------------------------------------------------------------------- sources
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
            self._gen = imageio_ffmpeg.read_frames(str(path), output_params=["-r", str(FPS), "-vf", scale])
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
    checks: np.ndarray             # (K, 3) int: global frame, faces found, faces of a person's size
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
    import cv2

    from ..face.detect import _detect_dlib

    h, w = frame.shape[:2]
    s = min(1.0, DETECT_SIDE / max(h, w))
    small = cv2.resize(frame, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA) \
        if s < 1 else frame
    faces = sorted(_detect_dlib(small), key=lambda f: f.box[2] * f.box[3], reverse=True)
    for f in faces:
        f.box = tuple(v / s for v in f.box)
    return faces


def _overlap(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    return inter / max(aw * ah + bw * bh - inter, 1e-9)


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
    pts, ok, checks, bounds = [], [], [], []
    done, cut = 0, False
    for k, path in enumerate(paths):
        if done >= budget:  # sources left over
            cut = True
            break
        v = _Video(path)
        est = max(1, int(v.seconds * FPS))
        first = done
        tracker, prev = None, None
        for i, frame in enumerate(v.frames(limit=budget - done)):
            if i % CHECK_EVERY == 0:
                faces = _detect(frame)
                big = [f for f in faces if f.box[2] >= SECOND_FACE * faces[0].box[2]] if faces else []
                checks.append((done, len(faces), len(big)))
                if not faces:
                    tracker = None
                else:
                    pick = faces[0]
                    if tracker is not None:  # the face it was following
                        last = tracker.box
                        pick = max(faces, key=lambda f: _overlap(f.box, last))
                    tracker = LandmarkTracker(pick.box)
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
def _smoothed_matrices(pts: np.ndarray, size: int, zoom: float) -> np.ndarray:
    """(T, 2, 3) image -> crop alignments of a segment's points, smoothed over time."""
    from scipy.ndimage import gaussian_filter1d

    from ..face.align import align

    m = np.stack([align(p, size, zoom).matrix for p in pts])
    return gaussian_filter1d(m, SMOOTH_SIGMA, axis=0, mode="nearest") if len(m) > 1 else m


def _audio(path: Path) -> np.ndarray | None:
    """The clip's audio, int16 at 16 kHz, or None when it has none that ffmpeg decodes."""
    from ..audio import load_audio_int16

    try:
        return load_audio_int16(path, max_seconds=None)
    except InputError:
        return None


def write_items(paths: list[Path], t: Track, train: list[Segment], val: list[Segment], data: Path,
                progress: Progress | None = None, size: int = DATA_SIZE, zoom: float = DATA_ZOOM) -> dict:
    """Stage 3: one prepared item per segment in ``data/train`` and ``data/val``; items
    already there are kept. Returns {"audio": whether every source had audio}."""
    from ..face.align import Alignment

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
@dataclass
class Base:
    """The weights a person's set starts from."""
    name: str
    entry: dict
    dir: Path
    config: str  # the training config whose VG-net layout the base's is


def base_weights(name: str = "default") -> Base:
    """The base set ``name`` (``default``: the default weights), checked: talkface's own
    pipeline, with a VG-net of a layout ``train vgnet`` builds (``small``, ``original``,
    ``maps``)."""
    from .. import weights as W
    from ..models import CONFIGS, VGNetConfig

    x = W.locate(name)
    e = x.entry
    if e.get("pipeline", {}).get("kind", "talkface") != "talkface":
        raise InputError(f"--base {x.name}: these are the authors' original weights, which talkface cannot "
                         "fine-tune; start from talkface's own (--base default)")
    spec = e.get("files", {}).get("vgnet")
    if not spec or "atnet" not in e.get("files", {}):
        raise InputError(f"--base {x.name}: these weights have no VG-net (or no AT-net) to start from; "
                         "give --base with a full talkface set (talkface weights list)")
    cfg = VGNetConfig.from_dict(spec["config"]).to_dict()
    for cname, parts in CONFIGS.items():
        if "vgnet" in parts and parts["vgnet"].to_dict() == cfg:
            return Base(x.name, e, x.dir, cname)
    raise InputError(f"--base {x.name}: its VG-net ({cfg.get('arch')}, ngf {cfg.get('ngf')}, "
                     f"{cfg.get('n_blocks')} blocks) is not a layout talkface train vgnet builds "
                     f"({', '.join(n for n, p in CONFIGS.items() if 'vgnet' in p)}); give another --base")


def _fine_tune(base: Base, data: Path, run: Path, minutes: float | None, steps: int | None, batch: int,
               recipe: str, device: str, seed: int, echo, progress: Progress | None) -> dict:
    from .. import weights as W
    from .common import load_checkpoint
    from .vgnet import train

    out = run / "vgnet"
    last = load_checkpoint(out) if (out / "last.pt").exists() else None
    resume = last is not None
    # a resumed run keeps its own layout (the base weights may have changed since)
    config = str(last.get("config_name", base.config)) if last else base.config
    init = None if resume else W.load_tensors(base.dir, base.entry["files"]["vgnet"])[0]
    del last
    budget = None if minutes is None else minutes * 60.0
    cap = steps if steps is not None else 10 ** 9

    def tick(step, _steps, seconds):
        if progress:
            frac = seconds / budget if budget else step / cap
            if steps is not None and budget:
                frac = max(frac, step / cap)
            progress("train", min(1.0, frac), f"step {step}, {seconds / 60:.1f} min"
                     + (f" of {minutes:g}" if minutes is not None else ""))

    try:
        train(data / "train", out, config=config, steps=cap, batch=batch, device=device, resume=resume,
              holdout=0, val_dirs=[data / "val"], seed=seed, echo=echo, recipe=recipe, minutes=minutes,
              init=init, progress=tick, items=list_items(data / "train"))
    except ValueError as e:
        raise InputError(str(e)) from None
    except BaseException:
        for p in out.glob("*.tmp"):  # a checkpoint cut short (the last complete one stays)
            p.unlink(missing_ok=True)
        raise
    ck = load_checkpoint(out, "best.pt") or load_checkpoint(out, "last.pt")
    if ck is None:
        raise InputError(f"{out}: no checkpoint was written; give a larger --minutes or --steps")
    if progress:
        progress("train", 1.0, f"step {ck['step']}")
    return ck


# ----------------------------------------------------------------------------- 5. gain
def fit_gain(base: Base, data: Path, echo=None) -> dict | None:
    """Stage 5: the AT-net gain fitted to the person's articulation, or None (the base's
    AT-net is not MouthNet). ``used`` says whether it beat the base's gain on the held-out
    segments (spread ratio closer to 1)."""
    from .. import weights as W
    from ..weights.networks import _load_mouthnet
    from .mouthnet import Item, calibrate_gain, evaluate_items

    spec = base.entry["files"]["atnet"]
    if spec.get("arch") != "mouthnet":
        return None
    sd, _ = W.load_tensors(base.dir, spec)
    model = _load_mouthnet(sd, spec, base.dir)
    tr = [Item(p) for p in list_items(data / "train")]
    va = [Item(p) for p in list_items(data / "val")]

    def ratio(items, gain):
        r = [row["ratio"] for row in evaluate_items(model, model.basis, items, gain)["clips"] if row["ratio"]]
        return float(np.median(r)) if r else None

    fitted = calibrate_gain(model, model.basis, tr)
    rb, rf = ratio(va, model.gain), ratio(va, fitted)
    used = rb is not None and rf is not None and abs(math.log(rf)) < abs(math.log(rb))
    out = {"base": round(float(model.gain), 4), "fitted": round(float(fitted), 4),
           "heldout_ratio_base": None if rb is None else round(rb, 4),
           "heldout_ratio_fitted": None if rf is None else round(rf, 4), "used": bool(used)}
    if echo:
        echo(f"AT-net gain: base {out['base']}, fitted {out['fitted']} (held-out spread ratio "
             f"{out['heldout_ratio_base']} -> {out['heldout_ratio_fitted']}): "
             + ("used" if used else "base kept"))
    return out


# ----------------------------------------------------------------------------- 6. register
def register(name: str, base: Base, ck: dict, gain: dict | None, info: dict, make_default: bool = False) -> dict:
    """Stage 6: write the set ``name`` into the user's weights folder; its manifest entry."""
    import torch

    from .. import weights as W

    d = W.target_dir(name)
    d.mkdir(parents=True, exist_ok=True)
    names = {"atnet": f"{name}-atnet.safetensors", "vgnet": f"{name}-vgnet.safetensors"}
    try:
        with signals.held(deliver=False):  # the weights are registered whole (the commit point)
            spec = base.entry["files"]["atnet"]
            sd, meta = W.load_tensors(base.dir, spec)
            if gain and gain["used"]:
                sd["mouth.gain"] = torch.tensor(float(gain["fitted"]), dtype=torch.float32)
            at = {**W.save_tensors(sd, d / names["atnet"], meta),
                  **{k: v for k, v in spec.items() if k not in ("file", "sha256")}}
            vg = {**W.save_tensors(ck["G"], d / names["vgnet"], {"step": ck["step"]}), "config": ck["config"]}
            pipe = {**base.entry.get("pipeline", {}), "identity": name, "vgnet_identities": "one"}
            entry = {"name": name, "kind": "talkface",
                     "description": f"talkface VG-net fine-tuned on one person ({info['source']}), "
                                    f"AT-net of {base.name}",
                     "card": None, "created": datetime.date.today().isoformat(), "pipeline": pipe,
                     "person": {**info, "base": base.name, "gain": gain},
                     "validation": {"vgnet": ck.get("val"), "vgnet_step": ck["step"]},
                     "files": {"atnet": at, "vgnet": vg}}
            W.add_entry(entry, d, make_default)
            signals.committed()
    except BaseException:
        for n in names.values():
            (d / (n + ".tmp")).unlink(missing_ok=True)
        raise
    return entry


# ----------------------------------------------------------------------------- all
def _prepare_run(run: Path, name: str, fps: list[dict], force: bool, resume: bool) -> bool:
    """Decide what the run folder holds: True when it continues an earlier run of the same
    footage. Refusals are InputError."""
    info = run / RUN_FILE
    if info.exists():
        try:
            old = json.loads(info.read_text())
        except ValueError:
            old = {"sources": []}
        same = _same_sources(old.get("sources", []), fps)
        if same and not force:
            return True
        if not force:
            was = old.get("video") or (old.get("sources") or [{}])[0].get("file", "other footage")
            raise InputError(f"{run}: holds a run of {name} from {was}; rerun with that video to continue it, "
                             "or add --force to start over from this one")
        if resume:
            raise InputError("--resume and --force: choose one (continue the run, or start it over)")
        shutil.rmtree(run)
        return False
    if resume:
        raise InputError(f"{run}: no run of {name} to resume; leave out --resume to start one")
    if run.exists() and any(run.iterdir()):
        raise InputError(f"{run}: exists and is not a talkface person run; give an empty or new folder "
                         "(--out) or another --name")
    return False


def train_person(video, name: str, *, minutes: float | None = 30.0, steps: int | None = None,
                 min_seconds: float = MIN_SECONDS, batch: int = 4, recipe: str = "mouth", base: str = "default",
                 run_dir=None, force: bool = False, resume: bool = False, make_default: bool = False,
                 gain: bool = True, device: str = "auto", seed: int = 0, echo=None,
                 progress: Progress | None = None) -> dict:
    """Make weights ``name`` whose VG-net is fine-tuned on one person (see the module's doc).

    ``video``: a video of the person talking (1-5 minutes), or a folder of their clips.
    ``minutes``: training time (the budget of the whole run: a rerun continues until it
    is spent; raise it to train further); ``steps``: a cap on the steps as well.
    ``min_seconds``: usable footage needed. ``base``: the weights to start from (their
    AT-net is reused). ``run_dir``: default ``<talkface home>/runs/<name>``. An earlier
    run of the same footage is continued; ``force`` starts over (and replaces existing
    weights ``name``), ``resume`` requires an earlier run. ``gain``: fit the AT-net gain
    to the person (kept only when it measures better on the held-out part).
    ``echo(line)`` gets notes and training log lines; ``progress(stage, fraction, text)``
    is called as each stage goes (stages ``track``, ``items``, ``train``, ``gain``).

    Returns a summary: name, weights folder, run folder, footage used, steps, validation,
    gain. Errors: InputError (exit 2), NoFaceError (exit 3), WeightsError (exit 4).
    """
    from .. import weights as W

    if recipe not in RECIPES:
        raise InputError(f"--recipe {recipe}: use one of {', '.join(RECIPES)}")
    if minutes is None and steps is None:
        raise InputError("give --minutes or --steps: how long to train")
    if (minutes is not None and minutes <= 0) or (steps is not None and steps <= 0):
        raise InputError("--minutes and --steps must be positive")
    if min_seconds < 0:
        raise InputError("--min-seconds must be 0 or more")
    d = W.target_dir(name)  # a usable name, not a shipped one
    if any(e["name"] == name for e in W.read_manifest(d)["weights"]) and not (force or resume):
        raise InputError(f"--name {name}: weights of that name exist ({d}); add --force to replace them "
                         "(training starts over), --resume to train them further, or choose another --name")
    paths = sources(video)
    b = base_weights(base)
    run = Path(run_dir) if run_dir is not None else run_dir_for(name)
    fps = [_fingerprint(p) for p in paths]
    note = echo or (lambda s: None)
    cont = _prepare_run(run, name, fps, force, resume)
    where = str(video)
    if cont and (run / TRACK_FILE).exists():
        t = Track.load(run / TRACK_FILE)
        note(f"continuing the run in {run}")
    else:
        t = track(paths, progress)
    if t.cut:
        note(f"{where}: longer than {MAX_SECONDS / 60:.0f} minutes; using the first {MAX_SECONDS / 60:.0f}")
    segs = segments(t)
    check(t, segs, where, min_seconds)
    tr, va = split(segs)
    run.mkdir(parents=True, exist_ok=True)
    with signals.held():  # run.json first: a folder with it is a run, its track.npz is redone if missing
        if not (run / RUN_FILE).exists():
            _write_json(run / RUN_FILE, {"name": name, "video": where, "sources": fps,
                                         "created": datetime.datetime.now().isoformat(timespec="seconds")})
        if not (run / TRACK_FILE).exists():
            t.save(run / TRACK_FILE)
    data = run / "data"
    items = write_items(paths, t, tr, va, data, progress)
    ck = _fine_tune(b, data, run, minutes, steps, batch, recipe, device, seed, echo, progress)
    g = None
    if gain and items["audio"]:
        if progress:
            progress("gain", 0.0, "fitting the AT-net gain")
        try:
            g = fit_gain(b, data, echo)
        except Exception as e:  # optional: never lose the trained VG-net to it
            signals.raise_if_lost()  # unless it was an interrupt a library turned into an error
            note(f"AT-net gain not fitted ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); "
                 "the base's gain is kept")
        if progress:
            progress("gain", 1.0, "done")
    used = sum(s.end - s.start for s in segs) / FPS
    info = {"source": where, "seconds": round(used, 1), "segments": {"train": len(tr), "val": len(va)},
            "recipe": recipe, "minutes": minutes, "run": str(run)}
    entry = register(name, b, ck, g, info, make_default)
    return {"name": name, "weights_dir": str(d), "run": str(run), "seconds": round(used, 1),
            "segments": info["segments"], "step": ck["step"], "validation": ck.get("val"), "gain": g,
            "base": b.name, "pipeline": entry["pipeline"]}
