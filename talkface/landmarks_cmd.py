"""``talkface landmarks``: 68 points of an image, a template face for a box, the points
fixed by hand in a local page (``--edit``, talkface.editor), or the landmark sequence
predicted from audio."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .constants import FPS
from .errors import InputError, NoFaceError
from .face.detect import Face
from .outputs import write_atomic

AUDIO_EXTS = {".wav", ".mp3", ".flac", ".m4a", ".ogg", ".aac", ".opus", ".wma", ".aiff", ".aif"}


def _check_out(p: Path | None, exts: set, force: bool, inputs=()):
    from .outputs import refuse_same_file

    if p is None:
        return
    p = Path(p)
    if p.suffix.lower() not in exts:
        raise InputError(f"{p}: output must end in {' or '.join(sorted(exts))}; change the extension")
    if not p.parent.exists():
        raise InputError(f"{p}: folder {p.parent} does not exist; create it first")
    refuse_same_file(p, inputs)
    if p.exists() and not force:
        raise InputError(f"{p}: already exists; pass --force to overwrite it")


def _write_png(path: Path, rgb: np.ndarray):
    import cv2

    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    write_atomic(path, buf.tobytes())


def template_face(box) -> Face:
    """The mean 68-point face fitted into a user box (x, y, w, h)."""
    from .face.template import TEMPLATE_128

    x, y, w, h = box
    t = TEMPLATE_128
    lo, hi = t.min(0), t.max(0)
    pts = (t - lo) / (hi - lo) * [w, h] + [x, y]
    return Face((x, y, w, h), 0.0, pts.astype(np.float32), "template", "template")


def parse_box(box: str | None):
    if not box:
        raise InputError("--template needs --box x,y,w,h (the face's box in image pixels)")
    try:
        v = [float(s) for s in box.split(",")]
        if len(v) != 4 or v[2] <= 0 or v[3] <= 0:
            raise ValueError
    except ValueError:
        raise InputError(f"--box {box}: give four numbers x,y,w,h with positive w and h")
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


def _faces(source: Path, img: np.ndarray, landmarks, template, box, device, detector) -> tuple[list[Face], str]:
    """The faces to start from and where they came from: a ``--landmarks`` file ("file"),
    ``--template --box`` ("template") or the detector chain (the detector's name; "none")."""
    if landmarks is not None and template:
        raise InputError("--landmarks and --template both give the points; use one of them")
    if landmarks is not None:
        from .face.landmarks_file import read_landmarks_json

        return read_landmarks_json(landmarks), "file"
    if template:
        return [template_face(parse_box(box))], "template"
    from .device import detector_device
    from .face.detect import detect_faces

    faces = detect_faces(img, detector, detector_device(device, detector))
    return faces, faces[0].detector if faces else "none"


def run(source, output, overlay, portrait, video, template, box, weights, device, detector, face_index, force,
        landmarks=None):
    from .face.image import load_image
    from .face.landmarks_file import landmarks_json

    source = Path(source)
    if portrait is not None or source.suffix.lower() in AUDIO_EXTS:
        if landmarks is not None:
            raise InputError(f"--landmarks {landmarks}: gives the points of an image, not of audio; drop it")
        return _audio(source, output, portrait, video, weights, device, detector, face_index, force)
    _check_out(output, {".json"}, force, (source,))
    _check_out(overlay, {".png"}, force, (source,))
    img = load_image(source)
    faces, start = _faces(source, img, landmarks, template, box, device, detector)
    if not faces:
        raise NoFaceError(f"{source}: no face found; fix the points by hand with talkface landmarks {source} "
                          f"--edit -o face.json, or write a starting point with talkface landmarks {source} "
                          "--template --box x,y,w,h -o face.json")
    if face_index is not None:
        from .face.find import choose_face

        faces = [choose_face(faces, source, face_index)]
    res = landmarks_json(source, img, faces)
    if start not in ("template", "file"):
        res["detector"] = faces[0].detector
        res["attempt"] = faces[0].attempt
    if output:
        write_atomic(Path(output), (json.dumps(res, indent=1) + "\n").encode())
    if overlay:
        _write_png(Path(overlay), draw_overlay(img, faces))
    return res


def _recorded_size(path) -> tuple[int, int] | None:
    try:
        d = json.loads(Path(path).read_text())
        return int(d["width"]), int(d["height"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def edit(source, output, landmarks, template, box, device, detector, face_index, force, port=0,
         open_browser=False, on_ready=None):
    """``talkface landmarks IMAGE --edit``: serve the point editor (talkface.editor) on
    127.0.0.1 until its page says "Save and finish"; the saved landmarks file's object.

    The points start from ``landmarks`` (a file), ``template`` with ``box``, or detection;
    where nothing is found, from the template in the middle of the image. ``on_ready(url)``
    is called once the page can be opened."""
    from .editor import LandmarkEditor
    from .face.image import load_image
    from .log import logger

    source = Path(source)
    if source.suffix.lower() in AUDIO_EXTS:
        raise InputError(f"{source}: --edit fixes the 68 points of an image; give the portrait, not audio")
    if output is None:
        raise InputError("--edit needs -o FILE.json: where the edited points are saved")
    _check_out(output, {".json"}, force, (source,))
    img = load_image(source)
    faces, start = _faces(source, img, landmarks, template, box, device, detector)
    h, w = img.shape[:2]
    if landmarks is not None and _recorded_size(landmarks) not in (None, (w, h)):
        rw, rh = _recorded_size(landmarks) or (0, 0)
        logger.warning(f"{landmarks}: was written for a {rw}x{rh} image but {source} is {w}x{h}; "
                       "the points may be off (drag the whole face with Alt)")
    if faces:
        from .face.find import choose_face

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


def _audio(audio, output, portrait, video, weights, device, detector, face_index, force):
    from .outputs import check_output_path
    from .pipeline import audio_landmarks
    from .video import VideoWriter

    if portrait is None:
        raise InputError(f"{audio}: landmarks from audio need --portrait IMAGE")
    _check_out(output, {".npz", ".json"}, force, (audio, portrait))
    if video:
        check_output_path(Path(video), force, inputs=(audio, portrait))
    pts, img, face = audio_landmarks(audio, portrait, weights=weights, device=device, detector=detector,
                                     face_index=face_index)
    res = {"audio": str(audio), "portrait": str(portrait), "frames": int(len(pts)), "fps": FPS,
           "width": int(img.shape[1]), "height": int(img.shape[0]), "shape": [int(len(pts)), 68, 2]}
    if output:
        out = Path(output)
        if out.suffix.lower() == ".npz":
            import io

            buf = io.BytesIO()
            np.savez_compressed(buf, points=pts, fps=np.int32(FPS), width=img.shape[1], height=img.shape[0])
            write_atomic(out, buf.getvalue())
        else:
            d = dict(res, points=np.round(pts, 2).tolist())
            write_atomic(out, json.dumps(d).encode())
        res["output"] = str(out)
    if video:
        import cv2

        h, w = img.shape[:2]
        s = min(1.0, 512 / max(h, w))
        vw_, vh_ = int(w * s) // 2 * 2, int(h * s) // 2 * 2
        bg = (cv2.resize(img, (vw_, vh_), interpolation=cv2.INTER_AREA) * 0.35).astype(np.uint8)
        with VideoWriter(Path(video), vw_, vh_, audio=audio, audio_seconds=len(pts) / FPS) as vw:
            for p in pts:
                f = bg.copy()
                for x, y in p * s:
                    cv2.circle(f, (int(round(x)), int(round(y))), 2, (0, 255, 0), -1, cv2.LINE_AA)
                vw.write(f)
        res["video"] = str(video)
    return res
