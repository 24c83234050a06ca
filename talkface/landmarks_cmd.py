"""``talkface landmarks``: 68 points of an image, a template face for a box, or the
landmark sequence predicted from audio."""
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


def run(source, output, overlay, portrait, video, template, box, weights, device, detector, face_index, force):
    from .face.image import load_image
    from .face.landmarks_file import landmarks_json

    source = Path(source)
    if portrait is not None or source.suffix.lower() in AUDIO_EXTS:
        return _audio(source, output, portrait, video, weights, device, detector, face_index, force)
    _check_out(output, {".json"}, force, (source,))
    _check_out(overlay, {".png"}, force, (source,))
    img = load_image(source)
    if template:
        faces = [template_face(parse_box(box))]
    else:
        from .device import resolve_device
        from .face.detect import detect_faces
        from .face.find import choose_face

        faces = detect_faces(img, detector, resolve_device(device))
        if not faces:
            raise NoFaceError(f"{source}: no face found; write an editable starting point with talkface landmarks "
                              f"{source} --template --box x,y,w,h -o face.json")
        if face_index is not None:
            faces = [choose_face(faces, source, face_index)]
    res = landmarks_json(source, img, faces)
    if len(faces) and not template:
        res["detector"] = faces[0].detector
        res["attempt"] = faces[0].attempt
    if output:
        write_atomic(Path(output), (json.dumps(res, indent=1) + "\n").encode())
    if overlay:
        _write_png(Path(overlay), draw_overlay(img, faces))
    return res


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
