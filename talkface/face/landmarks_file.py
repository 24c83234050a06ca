"""The 68-point JSON of ``talkface landmarks`` and ``--landmarks FILE``: read and written here.

    {"image": ..., "width": W, "height": H, "image_sha256": ...,
     "faces": [{"box": [x, y, w, h], "score": s, "points": [[x, y] * 68], ...}]}

Points are in the image's own pixels (EXIF orientation applied). ``image``, ``width``,
``height`` and ``image_sha256`` (of the image file's bytes) record the image the points
were made for: read for another image, a file made for another size is refused and one
made for other pixels of the same size is warned about. Only ``points`` is required when
reading; a bare list of 68 [x, y] pairs, or one face's object, is one face. Points must be
on the image (a face cut by its border may reach past it by up to half its size).
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np

from ..runtime.errors import InputError
from .detectors.base import Face

FORMAT = '{"faces": [{"points": [[x, y] * 68]}]} or a bare list of 68 [x, y] pairs'
MARGIN = 0.5  # how far past the image's edges a point may lie, in image widths / heights


def file_sha256(path) -> str | None:
    """sha256 of the file's bytes (None where it cannot be read)."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError:
        return None
    return h.hexdigest()


def image_size(path) -> tuple[int, int] | None:
    """(width, height) of the image file as :func:`talkface.face.image.load_image` gives it
    (EXIF orientation applied), read from its header; None where it is not a readable image."""
    try:
        from PIL import Image

        with Image.open(path) as im:
            w, h = im.size
            orientation = im.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001 - not an image here: load_image says so where it matters
        return None
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def image_record(image_path, image: np.ndarray | None = None) -> dict:
    """What a landmarks file records of its image: name, size (of ``image`` when given, else
    read from the file) and the file's sha256 (left out where the file cannot be read)."""
    if image is not None:
        size: tuple[int, int] | None = (int(image.shape[1]), int(image.shape[0]))
    else:
        size = image_size(image_path)
    rec: dict = {"image": str(image_path)}
    if size is not None:
        rec["width"], rec["height"] = size
    digest = file_sha256(image_path)
    if digest is not None:
        rec["image_sha256"] = digest
    return rec


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def parse_points(value) -> np.ndarray | None:
    """``value`` as a (68, 2) float32 array when it is 68 pairs of finite JSON numbers, else None."""
    if not isinstance(value, list) or len(value) != 68:
        return None
    if not all(isinstance(p, list) and len(p) == 2 and _number(p[0]) and _number(p[1]) for p in value):
        return None
    return np.asarray(value, np.float64).astype(np.float32)


def check_points_on_image(pts: np.ndarray, width: int, height: int) -> str | None:
    """Why the 68 points cannot be this ``width`` x ``height`` image's (None when they can):
    each must lie on it or past its edges by at most half its size, and their centre on it."""
    x, y = pts[:, 0].astype(np.float64), pts[:, 1].astype(np.float64)
    mx, my = MARGIN * width, MARGIN * height
    bad = np.flatnonzero((x < -mx) | (x > width + mx) | (y < -my) | (y > height + my))
    if bad.size:
        i = int(bad[0])
        return f"point {i} ({x[i]:.6g}, {y[i]:.6g}) lies outside the {width}x{height} image"
    cx, cy = float(x.mean()), float(y.mean())
    if not (0 <= cx <= width and 0 <= cy <= height):
        return f"the face's centre ({cx:.0f}, {cy:.0f}) lies outside the {width}x{height} image"
    return None


def _face(f, where: str) -> Face:
    """One face of the file; ValueError saying what is wrong with it."""
    if isinstance(f, list):
        f = {"points": f}
    if not isinstance(f, dict) or "points" not in f:
        raise ValueError(f"{where} is not a face object with \"points\"")
    pts = parse_points(f["points"])
    if pts is None:
        raise ValueError(f"{where}'s points must be 68 [x, y] pairs of numbers")
    box = f.get("box")
    if box is None:
        box = [*pts.min(0), *(pts.max(0) - pts.min(0))]
    elif not (isinstance(box, list) and len(box) == 4 and all(_number(v) for v in box)):
        raise ValueError(f"{where}'s box must be four numbers [x, y, w, h]")
    score = f.get("score", 1.0)
    if not _number(score):
        raise ValueError(f"{where}'s score must be a number")
    x, y, w, h = (float(v) for v in box)
    return Face((x, y, w, h), float(score), pts, "file", "file")


def _load(p: Path) -> tuple[dict, list[Face]]:
    """(the file's record of its image, its faces); InputError (exit 2) saying what is wrong."""
    try:
        text = p.read_bytes().decode("utf-8")
        d = json.loads(text)
    except UnicodeDecodeError:
        raise InputError(f"{p}: not a landmarks JSON (not text); give {FORMAT}")
    except json.JSONDecodeError as e:
        raise InputError(f"{p}: not valid JSON (line {e.lineno}, column {e.colno}); give {FORMAT}")
    except (OSError, RecursionError) as e:
        raise InputError(f"{p}: cannot be read ({getattr(e, 'strerror', None) or 'too deeply nested'}); "
                         f"give {FORMAT}")
    record: dict = {}
    try:
        if isinstance(d, list) and d and all(isinstance(v, dict) for v in d):
            raw = d  # a list of face objects
        elif isinstance(d, list):
            if parse_points(d) is None:
                raise ValueError(f"a bare list must hold 68 [x, y] pairs of numbers (it holds {len(d)} items)")
            raw = [d]
        elif isinstance(d, dict) and "faces" in d:
            if not isinstance(d["faces"], list):
                raise ValueError('"faces" must be a list of face objects')
            raw = d["faces"]
            record = d
        elif isinstance(d, dict) and "points" in d:
            raw = [d]
            record = d
        else:
            raise ValueError("it has no \"faces\" or \"points\"")
        faces = [_face(f, f"face {i}") for i, f in enumerate(raw)]
        if ("width" in record or "height" in record) and not (
                _number(record.get("width")) and _number(record.get("height"))):
            raise ValueError('"width" and "height" must be numbers')
    except ValueError as e:
        raise InputError(f"{p}: not a talkface landmarks JSON: {e}; give {FORMAT}")
    if not faces:
        raise InputError(f"{p}: holds no faces; add one face with 68 points ({FORMAT})")
    return record, faces


def _check_image(p: Path, record: dict, faces: list[Face], image_path, size: tuple[int, int], check: str):
    """Refuse (or with ``check="warn"`` warn about) a file made for another image than
    ``image_path`` (``size``: its width, height); refuse points off that image."""
    from ..runtime.log import logger

    w, h = size
    made_for = record.get("image") or "another image"
    fix = (f"make this image's points with talkface landmarks {image_path} -o FILE.json "
           f"(or place them by hand with --edit)")
    if "width" in record and "height" in record:
        rw, rh = int(record["width"]), int(record["height"])
        if (rw, rh) != (w, h):
            msg = f"{p}: its points were made for {made_for} ({rw}x{rh}), not {image_path} ({w}x{h})"
            if check == "warn":
                logger.warning(f"{msg}; the points may be off (Alt+drag moves the whole face)")
                return
            raise InputError(f"{msg}; {fix}")
        digest = record.get("image_sha256")
        if isinstance(digest, str) and digest != file_sha256(image_path):
            what = (f"{image_path} has changed since its points were made" if made_for == str(image_path)
                    else f"its points were made for {made_for}, not {image_path}")
            logger.warning(f"{p}: {what} (same size, other pixels); check that they fit with talkface landmarks "
                           f"{image_path} --landmarks {p} --overlay check.png")
    if check == "warn":
        return
    for i, f in enumerate(faces):
        why = check_points_on_image(f.points, w, h)
        if why is not None:
            which = f"face {i}'s " if len(faces) > 1 else ""
            raise InputError(f"{p}: {which}{why} {image_path}; give landmarks in this image's pixels ({fix})")


def read_landmarks_json(path, image_path=None, size: tuple[int, int] | None = None,
                        check: str = "refuse") -> list[Face]:
    """The faces of a landmarks file (detector "file"); InputError (exit 2) saying what is wrong.

    With ``image_path`` (the image the points are for; ``size`` its (width, height) as
    loaded, else read from the file's header): a file made for another size is refused, one
    made for other pixels of the same size warned about, points off the image refused.
    ``check="warn"`` only warns about another size (the editor, where the points are fixed)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such landmarks file; give a JSON written by talkface landmarks")
    record, faces = _load(p)
    if image_path is not None:
        size = size or image_size(image_path)
        if size is not None:
            _check_image(p, record, faces, image_path, size, check)
    return faces


def landmarks_json(image_path, image: np.ndarray, faces: list[Face]) -> dict:
    """The landmarks file's object for ``faces`` of ``image`` (read from ``image_path``)."""
    return {**image_record(image_path, image), "faces": [f.to_json() for f in faces]}
