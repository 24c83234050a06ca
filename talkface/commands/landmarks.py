"""``talkface landmarks``: 68 points of an image, a template face for a box, the points
fixed by hand in a local page (``--edit``, talkface.editor), or the landmark sequence
predicted from audio."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..constants import CROP_SIZE, DEFAULT_MAX_SECONDS, FPS
from ..face.detectors.base import Face
from ..runtime.errors import InputError, NoFaceError
from ..video.outputs import AtomicFile, write_error

if TYPE_CHECKING:
    from ..runtime.progress import Reporter

AUDIO_EXTS = {".wav", ".mp3", ".flac", ".m4a", ".ogg", ".aac", ".opus", ".wma", ".aiff", ".aif"}


def _check_out(p: Path | None, exts: set, force: bool, inputs=()):
    from ..video.outputs import check_target, refuse_same_file

    if p is None:
        return
    p = check_target(Path(p), exts, f"output must end in {' or '.join(sorted(exts))}")
    refuse_same_file(p, inputs)
    if os.path.lexists(p) and not force:
        raise InputError(f"{p}: already exists; pass --force to overwrite it")


def _png(rgb: np.ndarray) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise InputError("could not encode the overlay as PNG")
    return buf.tobytes()


class Outputs:
    """A command's output files, all or nothing: each is written to its temp file (and
    synced) by :meth:`prepare`; :meth:`commit` renames them all into place. Where writing
    one fails (a full disk), none is placed and every temp file is removed, and the error
    names the file that failed. A signal before the first rename stops before any (the
    renames after it are quick and go ahead)."""

    def __init__(self):
        self._files: list[tuple[AtomicFile, bool]] = []  # (temp file, its target existed before)

    def prepare(self, path, data: bytes):
        path = Path(path)
        existed = os.path.lexists(path)
        a = AtomicFile(path)
        self._files.append((a, existed))
        try:
            a.tmp.write_bytes(data)
            with open(a.tmp, "rb+") as f:  # on disks that allocate late, a full disk shows here
                os.fsync(f.fileno())
        except OSError as e:
            raise write_error(path, e) from None

    def commit(self):
        placed = []
        try:
            for i, (a, existed) in enumerate(self._files):
                a.commit(stop_on_signal=i == 0)
                placed.append((a, existed))
        except BaseException:
            for a, existed in placed:  # a later one failed: take back the new files placed before it
                if not existed:
                    try:
                        a.target.unlink()
                    except OSError:
                        pass
            self.discard()
            raise
        self._files = []

    def discard(self):
        for a, _ in self._files:
            a.discard()
        self._files = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.discard()  # nothing to do after commit()
        return False


def template_face(box) -> Face:
    """The mean 68-point face fitted into a user box (x, y, w, h)."""
    from ..face.template import TEMPLATE_128

    x, y, w, h = box
    t = TEMPLATE_128
    lo, hi = t.min(0), t.max(0)
    pts = (t - lo) / (hi - lo) * [w, h] + [x, y]
    return Face((x, y, w, h), 0.0, pts.astype(np.float32), "template", "template")


MIN_BOX = 8  # px: the smallest --box side (68 points in less are a smudge)
MIN_BOX_INSIDE = 0.5  # of the --box's area that must lie on the image


def parse_box(box: str | None, width: int | None = None, height: int | None = None) -> list[float]:
    """``--box x,y,w,h``: four finite numbers, ``w`` and ``h`` at least MIN_BOX px and, for a
    ``width`` x ``height`` image, at least half the box on it; InputError (exit 2) otherwise."""
    if not box:
        raise InputError("--template needs --box x,y,w,h (the face's box in image pixels)")
    on = f" on the {width}x{height} image" if width and height else ""
    try:
        v = [float(s) for s in box.split(",")]
    except ValueError:
        v = []
    if len(v) != 4 or not all(math.isfinite(x) for x in v):
        raise InputError(f"--box {box}: give four finite numbers x,y,w,h (the face's box in pixels{on})")
    x, y, w, h = v
    if w < MIN_BOX or h < MIN_BOX:
        raise InputError(f"--box {box}: w and h must be at least {MIN_BOX} pixels (the face's box{on})")
    if width and height:
        iw = max(0.0, min(x + w, width) - max(x, 0.0))
        ih = max(0.0, min(y + h, height) - max(y, 0.0))
        if iw * ih < MIN_BOX_INSIDE * w * h:
            raise InputError(f"--box {box}: the box must lie (mostly) on the {width}x{height} image "
                             f"({iw * ih / (w * h):.0%} of it does); give the face's box in image pixels")
    return v


def draw_overlay(image: np.ndarray, faces: list[Face]) -> np.ndarray:
    """``image`` with each face's box and its 68 numbered points (``--overlay``)."""
    import cv2

    out = image.copy()
    s = max(1.0, max(image.shape[:2]) / 600)
    for f in faces:
        x, y, w, h = [int(round(v)) for v in f.box]
        cv2.rectangle(out, (x, y), (x + w, y + h), (255, 200, 0), max(1, int(s)))
        for i, (px, py) in enumerate(f.points):
            c = (int(round(px)), int(round(py)))
            cv2.circle(out, c, max(1, int(2 * s)), (0, 255, 0), -1)
            cv2.putText(out, str(i), (c[0] + int(2 * s), c[1] - int(2 * s)), cv2.FONT_HERSHEY_SIMPLEX,
                        0.25 * s, (255, 0, 0), max(1, int(s / 2)), cv2.LINE_AA)
    return out


def _faces(source: Path, img: np.ndarray, landmarks, template, box, device, detector,
           check: str = "refuse") -> tuple[list[Face], str]:
    """The faces to start from and where they came from: a ``--landmarks`` file ("file";
    ``check``: what a file made for another image gets, see ``read_landmarks_json``),
    ``--template --box`` ("template") or the detector chain (the detector's name; "none")."""
    if landmarks is not None and template:
        raise InputError("--landmarks and --template both give the points; use one of them")
    h, w = img.shape[:2]
    if landmarks is not None:
        from ..face.landmarks_file import read_landmarks_json

        return read_landmarks_json(landmarks, source, (w, h), check=check), "file"
    if template:
        return [template_face(parse_box(box, w, h))], "template"
    from ..face.detect import detect_faces
    from ..runtime.device import detector_device

    faces = detect_faces(img, detector, detector_device(device, detector))
    return faces, faces[0].detector if faces else "none"


def run(source, output, overlay, portrait, video, template, box, weights, device, detector, face_index, force,
        landmarks=None):
    from ..face.image import load_image
    from ..face.landmarks_file import landmarks_json

    source = Path(source)
    if portrait is not None or source.suffix.lower() in AUDIO_EXTS:
        if landmarks is not None:
            raise InputError(f"--landmarks {landmarks}: gives the points of an image, not of audio; drop it")
        return _audio(source, output, portrait, video, weights, device, detector, face_index, force)
    if video is not None:
        raise InputError(f"--video {video}: draws the landmarks predicted from audio (talkface landmarks SPEECH "
                         "--portrait IMAGE --video FILE.mp4); for an image's points use --overlay FILE.png")
    _check_out(output, {".json"}, force, (source,))
    _check_out(overlay, {".png"}, force, (source,))
    img = load_image(source)
    faces, start = _faces(source, img, landmarks, template, box, device, detector)
    if not faces:
        raise NoFaceError(f"{source}: no face found; fix the points by hand with talkface landmarks {source} "
                          f"--edit -o face.json, or write a starting point with talkface landmarks {source} "
                          "--template --box x,y,w,h -o face.json")
    if face_index is not None:
        from ..face.find import choose_face

        faces = [choose_face(faces, source, face_index)]
    res = landmarks_json(source, img, faces)
    if start not in ("template", "file"):
        res["detector"] = faces[0].detector
        res["attempt"] = faces[0].attempt
    with Outputs() as outs:  # both or neither
        if output:
            outs.prepare(output, (json.dumps(res, indent=1) + "\n").encode())
        if overlay:
            outs.prepare(overlay, _png(draw_overlay(img, faces)))
        outs.commit()
    return _wrote(res, output=output, overlay=overlay)


def _wrote(res: dict, **paths) -> dict:
    """``res`` with the path of each file written (``output``, ``overlay``, ``video``)."""
    res.update({k: str(v) for k, v in paths.items() if v})
    return res


def edit(source, output, landmarks, template, box, device, detector, face_index, force, port=0,
         open_browser=False, on_ready=None):
    """``talkface landmarks IMAGE --edit``: serve the point editor (talkface.editor) on
    127.0.0.1 until its page says "Save and finish"; the saved landmarks file's object.

    The points start from ``landmarks`` (a file), ``template`` with ``box``, or detection;
    where nothing is found, from the template in the middle of the image. ``on_ready(url)``
    is called once the page can be opened."""
    from ..editor import LandmarkEditor
    from ..face.image import load_image
    from ..runtime.log import logger

    source = Path(source)
    if source.suffix.lower() in AUDIO_EXTS:
        raise InputError(f"{source}: --edit fixes the 68 points of an image; give the portrait, not audio")
    if output is None:
        raise InputError("--edit needs -o FILE.json: where the edited points are saved")
    _check_out(output, {".json"}, force, (source,))
    img = load_image(source)
    faces, start = _faces(source, img, landmarks, template, box, device, detector, check="warn")  # fixed here
    h, w = img.shape[:2]
    if faces:
        from ..face.find import choose_face

        face = choose_face(faces, source, face_index)
        if face_index is None and len(faces) > 1:
            logger.warning(f"{source}: {len(faces)} faces; editing the largest (pick another with --face-index)")
    else:
        side = 0.45 * min(w, h)
        face = template_face(((w - side) / 2, (h - side) / 2, side, side))
        start = "template"
        logger.warning(f"{source}: no face found; starting from the template in the middle of the image "
                       "(Alt+drag moves the whole face)")
    editor = LandmarkEditor(source, img, face.points, output, start=start, score=face.score, force=force,
                            port=port)

    def ready(url):
        if on_ready is not None:
            on_ready(url)
        if open_browser:
            import webbrowser

            try:
                webbrowser.open(url)
            except Exception:  # noqa: BLE001 - no browser here: the printed address is enough
                pass

    return editor.serve(ready)


def audio_landmarks(audio, portrait, *, weights: str = "default", device: str = "auto", detector: str = "auto",
                    landmarks=None, face_index=None, max_seconds: float | None = DEFAULT_MAX_SECONDS,
                    reporter: Reporter | None = None):
    """Predicted 68-point sequence (T, 68, 2) in portrait pixels, 25 fps, the portrait and its face."""
    from ..api import TalkingFace
    from ..face.align import align
    from ..face.detectors import detection_needs_torch
    from ..face.find import find_face
    from ..face.image import load_image
    from ..face.shape import from_norm, to_norm
    from ..runtime.progress import Reporter
    from ..speech import audio as A

    rep = reporter or Reporter(show=False)
    tf = TalkingFace(weights, device)
    kind = tf.atnet_kind
    dev = tf.device_for(kind.needs_torch or detection_needs_torch(detector, landmarks))  # MouthNet: no torch
    wts = tf.weights
    if kind.renders_itself:  # the authors' pipeline: no landmarks in the weights' crop
        raise InputError(f"--weights {weights}: landmark sequences in portrait pixels need talkface weights; "
                         "use --weights default")
    img = load_image(portrait)
    face = find_face(img, portrait, detector, landmarks, face_index, dev, rep)
    wav = A.load_audio(audio, max_seconds=max_seconds)
    feats = kind.features_of(wts, wav)
    crop_size = int(wts.pipeline.get("crop_size", CROP_SIZE))
    al = align(face.points, crop_size, float(wts.pipeline.get("zoom", 1.0)))
    ref_norm = to_norm(al.to_crop(face.points), crop_size).reshape(-1)
    seq = kind.predict_sequence(wts, ref_norm, feats, dev)
    pts = al.to_image(from_norm(seq, crop_size).reshape(-1, 2)).reshape(-1, 68, 2).astype(np.float32)
    return pts, img, face


def _audio(audio, output, portrait, video, weights, device, detector, face_index, force):
    from ..video.outputs import check_output_path

    if portrait is None:
        raise InputError(f"{audio}: landmarks from audio need --portrait IMAGE")
    _check_out(output, {".npz", ".json"}, force, (audio, portrait))
    if video:
        check_output_path(Path(video), force, inputs=(audio, portrait))
    pts, img, face = audio_landmarks(audio, portrait, weights=weights, device=device, detector=detector,
                                     face_index=face_index)
    res = {"audio": str(audio), "portrait": str(portrait), "frames": int(len(pts)), "fps": FPS,
           "width": int(img.shape[1]), "height": int(img.shape[0]), "shape": [int(len(pts)), 68, 2]}
    with Outputs() as outs:  # -o and --video: both or neither
        if output:
            out = Path(output)
            if out.suffix.lower() == ".npz":
                import io

                buf = io.BytesIO()
                np.savez_compressed(buf, points=pts, fps=np.int32(FPS), width=img.shape[1], height=img.shape[0])
                outs.prepare(out, buf.getvalue())
            else:
                outs.prepare(out, json.dumps(dict(res, points=np.round(pts, 2).tolist())).encode())
        if video:
            video_existed = os.path.lexists(video)
            _landmarks_video(Path(video), img, pts, audio)  # placed when complete
            try:
                outs.commit()
            except BaseException:
                if not video_existed:
                    Path(video).unlink(missing_ok=True)
                raise
        else:
            outs.commit()
    return _wrote(res, output=output, video=video)


def wrote_lines(res: dict) -> list[str]:
    """The "wrote FILE (...)" lines of a :func:`run` result, one per file written (as generate's)."""
    lines = []
    if "frames" in res:  # from audio
        secs = res["frames"] / res["fps"]
        if "output" in res:
            lines.append(f"wrote {res['output']} ({res['frames']} frames of 68 points, {secs:.2f} s)")
        if "video" in res:
            lines.append(f"wrote {res['video']} ({res['frames']} frames, {secs:.2f} s)")
        return lines
    n = len(res.get("faces", []))
    found = f", found by {res['detector']}" if "detector" in res else ""
    if "output" in res:
        lines.append(f"wrote {res['output']} ({n} face{'s' if n != 1 else ''} of 68 points{found})")
    if "overlay" in res:
        lines.append(f"wrote {res['overlay']} ({res['width']}x{res['height']} overlay)")
    return lines


def _landmarks_video(path: Path, img: np.ndarray, pts: np.ndarray, audio):
    """The predicted points drawn on the dimmed portrait (at most 512 px a side), with the audio."""
    import cv2

    from ..video.writer import VideoWriter

    h, w = img.shape[:2]
    s = min(1.0, 512 / max(h, w))
    vw_, vh_ = int(w * s) // 2 * 2, int(h * s) // 2 * 2
    bg = (cv2.resize(img, (vw_, vh_), interpolation=cv2.INTER_AREA) * 0.35).astype(np.uint8)
    with VideoWriter(path, vw_, vh_, audio=audio, audio_seconds=len(pts) / FPS) as vw:
        for p in pts:
            f = bg.copy()
            for x, y in p * s:
                cv2.circle(f, (int(round(x)), int(round(y))), 2, (0, 255, 0), -1, cv2.LINE_AA)
            vw.write(f)
