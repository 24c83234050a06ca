"""MediaPipe Face Mesh (``mediapipe`` 0.10.14, optional) as a 68-point detector.

The wheel of ``mediapipe`` 0.10.14 ships the face detection and face landmark models
(``mediapipe/modules/face_detection``, ``face_landmark``), so this works offline. Its
468-point mesh is mapped onto the 68 iBUG points by :data:`MESH_TO_68`: per iBUG point, a
convex combination of a few mesh vertices, fitted by least squares against dlib's points
on photos (``bench/mesh_map.py`` derives it and reports how close it lands).

Not installed: :func:`mesh_available` is False and the detector chain goes without it.
"""
from __future__ import annotations

import contextlib
import functools
import os

import numpy as np

from ...runtime.errors import InputError
from ..groups import EYE_L, EYE_R, MOUTH
from .base import Detector, Face, package_has

# iBUG point -> ((mesh vertex, weight), ...); weights sum to 1. Derived by bench/mesh_map.py.
MESH_TO_68: tuple[tuple[tuple[int, float], ...], ...] = (
    ((127, 0.796), (34, 0.204)),  # 0
    ((227, 0.707), (137, 0.293)),  # 1
    ((177, 0.474), (132, 0.087), (137, 0.44)),  # 2
    ((215, 0.702), (58, 0.091), (132, 0.208)),  # 3
    ((172, 0.69), (58, 0.31)),  # 4
    ((136, 0.955), (150, 0.045)),  # 5
    ((149, 0.657), (150, 0.343)),  # 6
    ((176, 0.555), (148, 0.445)),  # 7
    ((152, 0.986), (148, 0.014)),  # 8
    ((400, 0.487), (377, 0.513)),  # 9
    ((378, 0.716), (379, 0.284)),  # 10
    ((365, 0.939), (379, 0.061)),  # 11
    ((367, 0.4), (397, 0.414), (288, 0.185)),  # 12
    ((435, 0.727), (361, 0.273)),  # 13
    ((323, 0.489), (376, 0.131), (366, 0.049), (401, 0.33)),  # 14
    ((454, 0.514), (447, 0.263), (345, 0.051), (366, 0.172)),  # 15
    ((356, 0.808), (264, 0.181), (265, 0.011)),  # 16
    ((70, 0.764), (71, 0.039), (156, 0.198)),  # 17
    ((63, 0.837), (68, 0.092), (105, 0.071)),  # 18
    ((105, 0.4), (52, 0.187), (66, 0.246), (104, 0.167)),  # 19
    ((66, 0.732), (107, 0.237), (222, 0.031)),  # 20
    ((107, 0.604), (221, 0.224), (9, 0.172)),  # 21
    ((336, 0.583), (9, 0.26), (441, 0.157)),  # 22
    ((296, 0.661), (336, 0.339)),  # 23
    ((282, 0.31), (296, 0.366), (333, 0.323)),  # 24
    ((293, 0.576), (283, 0.075), (298, 0.19), (334, 0.159)),  # 25
    ((300, 0.743), (276, 0.044), (383, 0.214)),  # 26
    ((168, 0.18), (417, 0.414), (193, 0.405)),  # 27
    ((197, 0.512), (351, 0.244), (122, 0.243)),  # 28
    ((248, 0.409), (5, 0.178), (3, 0.413)),  # 29
    ((275, 0.408), (45, 0.387), (5, 0.205)),  # 30
    ((240, 0.517), (59, 0.403), (75, 0.081)),  # 31
    ((60, 0.377), (97, 0.405), (20, 0.218)),  # 32
    ((2, 0.971), (141, 0.029)),  # 33
    ((328, 0.323), (326, 0.383), (250, 0.294)),  # 34
    ((305, 0.714), (327, 0.286)),  # 35
    ((33, 0.535), (246, 0.212), (7, 0.253)),  # 36
    ((160, 0.4), (159, 0.393), (161, 0.207)),  # 37
    ((157, 0.523), (159, 0.477)),  # 38
    ((133, 0.502), (173, 0.166), (154, 0.331)),  # 39
    ((145, 0.591), (154, 0.409)),  # 40
    ((144, 0.17), (163, 0.513), (145, 0.317)),  # 41
    ((362, 0.597), (382, 0.403)),  # 42
    ((385, 0.69), (384, 0.31)),  # 43
    ((387, 0.5), (386, 0.5)),  # 44
    ((249, 0.457), (263, 0.288), (388, 0.255)),  # 45
    ((374, 0.509), (390, 0.488), (254, 0.003)),  # 46
    ((381, 0.513), (374, 0.487)),  # 47
    ((61, 0.24), (76, 0.268), (185, 0.107), (57, 0.385)),  # 48
    ((39, 0.512), (40, 0.488)),  # 49
    ((37, 1.0),),  # 50
    ((0, 0.902), (13, 0.098)),  # 51
    ((267, 0.929), (0, 0.064), (268, 0.006)),  # 52
    ((270, 0.516), (269, 0.31), (303, 0.174)),  # 53
    ((291, 0.97), (375, 0.03)),  # 54
    ((405, 0.275), (404, 0.347), (335, 0.378)),  # 55
    ((315, 0.603), (313, 0.397)),  # 56
    ((16, 0.144), (18, 0.525), (15, 0.331)),  # 57
    ((85, 0.62), (83, 0.341), (181, 0.038)),  # 58
    ((91, 0.624), (181, 0.376)),  # 59
    ((62, 0.479), (78, 0.254), (184, 0.131), (76, 0.137)),  # 60
    ((72, 0.448), (82, 0.323), (81, 0.229)),  # 61
    ((13, 0.615), (11, 0.328), (82, 0.057)),  # 62
    ((268, 0.191), (312, 0.294), (302, 0.295), (311, 0.22)),  # 63
    ((292, 0.171), (307, 0.456), (308, 0.373)),  # 64
    ((317, 0.722), (316, 0.126), (402, 0.152)),  # 65
    ((14, 0.039), (15, 0.62), (13, 0.288), (87, 0.053)),  # 66
    ((86, 0.513), (178, 0.214), (82, 0.273)),  # 67
)


def mesh_available() -> bool:
    """True when ``mediapipe`` imports and has the Face Mesh solution."""
    try:
        _solution()
    except Exception:
        return False
    return bool(MESH_TO_68)


@contextlib.contextmanager
def _quiet():
    """mediapipe's C++ and TFLite logging write straight to file descriptor 2, and its
    protobuf use warns: none of it is for our users (every error is one line).

    Ctrl-C / SIGTERM are held back inside (and raised when it ends): mediapipe hands a
    frame to its graph's threads and then waits for them in two Python calls, and an
    interrupt between the two would leave those threads running, and logging, after
    file descriptor 2 is restored; one during ``import mediapipe`` can be swallowed by it.
    The longest such section (the import) takes about a second."""
    import sys
    import warnings

    from ...runtime import signals

    with signals.held(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError):
            yield
            return
        try:
            with open(os.devnull, "w") as null:
                os.dup2(null.fileno(), 2)
                yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def mesh_installed() -> bool:
    """True when ``mediapipe`` is installed with its Face Mesh solution (nothing is
    imported: the detector chain loads it only when it runs)."""
    return package_has("mediapipe", "python", "solutions", "face_mesh.py")


@functools.lru_cache(maxsize=1)
def _solution():
    os.environ.setdefault("GLOG_minloglevel", "2")  # mediapipe's C++ logging: errors only
    with _quiet(), _lazy_pyplot():
        from mediapipe.python.solutions import face_mesh

    return face_mesh


@contextlib.contextmanager
def _lazy_pyplot():
    """``import mediapipe`` imports ``matplotlib.pyplot`` (for its drawing helpers, which
    talkface never calls): about 1.3 s, most of what importing mediapipe costs. While it
    imports, ``matplotlib`` and ``matplotlib.pyplot`` (those not imported yet) are stand-in
    modules that import the real one on first use of any of their names; afterwards the
    real modules are importable as ever."""
    import importlib
    import sys
    import types

    def stand_in(name):
        def real(attr):
            if sys.modules.get(name) is mod:
                del sys.modules[name]
            return getattr(importlib.import_module(name), attr)

        mod = types.ModuleType(name, f"imports {name} on first use")
        mod.__getattr__ = real  # type: ignore[method-assign]
        return mod

    made = {}
    for name in ("matplotlib", "matplotlib.pyplot"):
        if name not in sys.modules:
            made[name] = sys.modules[name] = stand_in(name)
    if "matplotlib" in made and "matplotlib.pyplot" in made:
        made["matplotlib"].pyplot = made["matplotlib.pyplot"]  # what `import matplotlib.pyplot as plt` reads
    try:
        yield
    finally:
        for name, mod in made.items():
            if sys.modules.get(name) is mod:
                del sys.modules[name]


@functools.lru_cache(maxsize=1)
def _mesh_model():
    with _quiet():
        model = _solution().FaceMesh(static_image_mode=True, max_num_faces=4, refine_landmarks=False,
                                     min_detection_confidence=0.5)
        # the graph opens its models in its own threads, which log as they do: a blank frame
        # waits for that here, inside the quiet section
        model.process(np.zeros((32, 32, 3), np.uint8))
        return model


@functools.lru_cache(maxsize=1)
def _detector_model():
    """mediapipe's full-range face detector (BlazeFace, faces up to ~5 m away; its model is in
    the wheel too): Face Mesh's own detector is the short-range one, which misses a face
    that is small in the picture beside a large one."""
    with _quiet():
        with _lazy_pyplot():
            from mediapipe.python.solutions import face_detection

        model = face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.5)
        model.process(np.zeros((32, 32, 3), np.uint8))  # as in _mesh_model: the graph starts here
        return model


def face_boxes(image: np.ndarray) -> list[tuple[tuple[float, float, float, float], float]]:
    """Every face mediapipe's full-range detector finds: ((x, y, w, h) in image pixels, score)."""
    img = _rgb(image)
    model = _detector_model()
    with _quiet():
        res = model.process(img)
    h, w = img.shape[:2]
    out = []
    for d in res.detections or []:
        b = d.location_data.relative_bounding_box
        out.append(((b.xmin * w, b.ymin * h, b.width * w, b.height * h), float(d.score[0]) if d.score else 0.0))
    return out


def _rgb(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image[:, :, :3] if image.ndim == 3 else np.repeat(image[:, :, None], 3, 2))


def mesh_points(image: np.ndarray) -> list[np.ndarray]:
    """Every face's 468 mesh vertices (x, y in image pixels), as mediapipe finds them."""
    img = _rgb(image)
    model = _mesh_model()
    with _quiet():
        res = model.process(img)
    if not res.multi_face_landmarks:
        return []
    h, w = img.shape[:2]
    return [np.array([(p.x * w, p.y * h) for p in f.landmark[:468]], np.float64) for f in res.multi_face_landmarks]


def to_68(mesh: np.ndarray) -> np.ndarray:
    """The 68 iBUG points of one face's 468 mesh vertices."""
    if not MESH_TO_68:
        raise InputError("mediapipe's mesh-to-68 mapping is missing; reinstall talkface")
    out = np.zeros((68, 2), np.float64)
    for i, row in enumerate(MESH_TO_68):
        for v, wt in row:
            out[i] += wt * mesh[v]
    return out


def _points_face(pts: np.ndarray, score: float, attempt: str = "original") -> Face:
    """A Face Mesh face from its 68 points (the box is their extent)."""
    pts = np.asarray(pts, np.float32)
    x0, y0 = pts.min(0)
    x1, y1 = pts.max(0)
    return Face((float(x0), float(y0), float(x1 - x0), float(y1 - y0)), float(score), pts, "mesh", attempt)


def _detect_mesh(image: np.ndarray) -> list[Face]:
    """Face Mesh's faces. Its own detector is short-range: beside a face it finds, a face
    that is small in the picture goes unseen. So where it finds any, mediapipe's full-range
    detector looks too, and each face it finds that none of Face Mesh's covers is looked at
    by Face Mesh in a crop around it (:func:`_mesh_in_crop`); counted when Face Mesh confirms it."""
    faces = [_points_face(to_68(m), 1.0) for m in mesh_points(image)]
    if not faces:
        return faces
    for box, score in face_boxes(image):
        if any(_inside(f.points.mean(0), box) for f in faces):
            continue
        pts = _mesh_in_crop(image, box)
        if pts is not None and not any(_inside(pts.mean(0), f.box) for f in faces):
            faces.append(_points_face(pts, score))
    return faces


def _inside(p, box, margin: float = 0.0) -> bool:
    """Whether point ``p`` lies in the (x, y, w, h) ``box`` grown by ``margin`` of its size."""
    x, y, w, h = box
    return x - margin * w <= p[0] <= x + (1 + margin) * w and y - margin * h <= p[1] <= y + (1 + margin) * h


def _mesh_in_box(image: np.ndarray, face: Face) -> Face:
    """``face`` with Face Mesh's points when Face Mesh, run on a crop around the face's
    box, finds a face there whose eyes and mouth lie within the box (it is then the same
    face); else ``face`` unchanged."""
    if not mesh_available():
        return face
    pts = _mesh_in_crop(image, face.box, face.points.mean(0))
    if pts is None:
        return face
    return _points_face(pts, face.score, f"{face.detector} box")


def _mesh_in_crop(image: np.ndarray, box, near=None) -> np.ndarray | None:
    """The 68 points (image pixels) of the face Face Mesh finds in a crop around the
    (x, y, w, h) ``box`` whose eyes and mouth lie within the box (the one nearest ``near``,
    default the box's centre, when there are several); None where there is none."""
    import cv2

    x, y, w, h = box
    side = 2.0 * max(w, h)
    size = 384
    s = size / side
    cx, cy = x + w / 2, y + h / 2
    near = np.array([cx, cy]) if near is None else np.asarray(near, np.float64)
    m = np.array([[s, 0, size / 2 - s * cx], [0, s, size / 2 - s * cy]], np.float32)
    crop = cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
    best = None
    for mesh in mesh_points(crop):
        pts = (to_68(mesh) - m[:, 2]) / s
        parts = [pts[EYE_R].mean(0), pts[EYE_L].mean(0), pts[MOUTH].mean(0)]
        if all(_inside(p, box, 0.1) for p in parts):
            d = float(np.linalg.norm(pts.mean(0) - near))
            if best is None or d < best[0]:
                best = (d, pts)
    return None if best is None else best[1].astype(np.float32)


class MeshDetector(Detector):
    name = "mesh"

    def installed(self) -> bool:
        return mesh_installed()

    def load(self) -> bool:
        return mesh_available()  # looked up here each time: tests replace mesh_available

    def loaded(self) -> bool:
        import sys

        return "mediapipe" in sys.modules

    def check(self, usable: list[str]) -> None:
        if not ("mesh" in usable and self.load()):
            raise InputError("detector 'mesh' needs mediapipe 0.10.14 (pip install 'talkface[mesh]'); "
                             "use --detector dlib")

    def detect(self, image: np.ndarray, device: str = "cpu") -> list[Face]:
        return _detect_mesh(image) if self.load() else []
