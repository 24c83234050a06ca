"""The Python API behind the CLI: ``generate`` (portrait + speech -> MP4) and the landmark
functions. Each stage lives in its own module: face (detect, align, paste back), audio
(decode, features), models (AT-net, VG-net), render, video (streaming writer, mux),
weights (registry)."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from . import audio as A
from .errors import InputError, NoFaceError, TalkfaceError, WeightsError
from .face.align import Paster, align, face_mask
from .face.detect import Face, detect_faces
from .face.image import load_image
from .face.shape import from_norm, to_norm
from .progress import Reporter
from .render.choose import RENDERERS


def _fixed_mmap_threshold():
    """Frame-sized buffers (0.2-3 MB) come and go every frame. glibc's adaptive thresholds
    then keep ever more freed heap (the process grew ~15 % over a 600 s video); fixed ones
    keep frames on the heap (no page faults per frame) and give free heap above 16 MB back,
    so memory stays flat however long the audio."""
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 4 << 20)  # M_MMAP_THRESHOLD: frames stay on the heap (no page faults per frame)
        libc.mallopt(-1, 16 << 20)  # M_TRIM_THRESHOLD: free heap above 16 MB goes back to the system
    except (OSError, AttributeError):  # not glibc (musl ...): nothing to tune
        pass


def resolve_device(device: str = "auto") -> str:
    import torch

    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InputError(f"--device {device}: CUDA is not available on this machine; use --device cpu or auto")
        idx = device.split(":", 1)[1] if ":" in device else "0"
        if not idx.isdigit() or int(idx) >= torch.cuda.device_count():
            raise InputError(f"--device {device}: no such GPU (found {torch.cuda.device_count()}); use cuda:0")
        return f"cuda:{idx}"
    raise InputError(f"--device {device}: unknown device; use auto, cpu, cuda or cuda:N")


# ----------------------------------------------------------------------------- landmarks I/O
def read_landmarks_json(path) -> list[Face]:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such landmarks file; give a JSON written by talkface landmarks")
    try:
        d = json.loads(p.read_text())
        faces = []
        for f in d["faces"]:
            pts = np.asarray(f["points"], np.float32)
            if pts.shape != (68, 2) or not np.isfinite(pts).all():
                raise ValueError("points must be 68 [x, y] pairs")
            box = f.get("box") or [*pts.min(0), *(pts.max(0) - pts.min(0))]
            faces.append(Face(tuple(float(v) for v in box), float(f.get("score", 1.0)), pts, "file", "file"))
    except (ValueError, KeyError, TypeError) as e:
        raise InputError(f"{p}: not a talkface landmarks JSON ({e}); see talkface landmarks --help for the schema")
    if not faces:
        raise InputError(f"{p}: holds no faces; add one face with 68 points")
    return faces


def landmarks_json(image_path, image: np.ndarray, faces: list[Face]) -> dict:
    h, w = image.shape[:2]
    return {"image": str(image_path), "width": int(w), "height": int(h), "faces": [f.to_json() for f in faces]}


def draw_overlay(image: np.ndarray, faces: list[Face]) -> np.ndarray:
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


def candidate_faces(image: np.ndarray, image_path, detector="auto", landmarks=None, device="cpu",
                    scale: tuple[float, float] = (1.0, 1.0)) -> list[Face]:
    """Every face of the portrait, best first: from the ``--landmarks`` file (points in the
    portrait's own pixels, multiplied by ``scale`` when the portrait was shrunk to
    ``--max-size``) or the detector chain."""
    if landmarks:
        faces = read_landmarks_json(landmarks)
        if scale != (1.0, 1.0):
            kx, ky = float(scale[0]), float(scale[1])
            faces = [Face((f.box[0] * kx, f.box[1] * ky, f.box[2] * kx, f.box[3] * ky), f.score,
                          (f.points * np.array([kx, ky], np.float32)).astype(np.float32), f.detector, f.attempt)
                     for f in faces]
    else:
        faces = detect_faces(image, detector, device)
    if not faces:
        raise NoFaceError(
            f"{image_path}: no face found; give 68 points with --landmarks FILE (write a starting point with "
            f"talkface landmarks {image_path} --template --box x,y,w,h -o face.json)")
    return faces


def choose_face(faces: list[Face], image_path, face_index=None, reporter: Reporter | None = None) -> Face:
    if face_index is not None:
        if not 0 <= face_index < len(faces):
            raise InputError(f"{image_path}: --face-index {face_index} but {len(faces)} face(s) found; "
                             f"use 0..{len(faces) - 1}")
        return faces[face_index]
    if len(faces) > 1 and reporter:
        reporter.warn(f"{image_path}: {len(faces)} faces found; using the largest (pick another with --face-index)")
    return faces[0]


def find_face(image: np.ndarray, image_path, detector="auto", landmarks=None, face_index=None, device="cpu",
              reporter: Reporter | None = None) -> Face:
    return choose_face(candidate_faces(image, image_path, detector, landmarks, device), image_path, face_index,
                       reporter)


def _prefetch_child(conn, face_args, audio_args, audio_fn=A.audio_rows):
    def job(kind, fn, *args):
        try:
            conn.send((kind, "ok", fn(*args)))
        except TalkfaceError as e:
            conn.send((kind, "error", (type(e).__name__, e.message, e.exit_code)))
        except BaseException as e:  # noqa: BLE001 - the parent redoes the job itself
            conn.send((kind, "crash", f"{type(e).__name__}: {e}"))

    try:
        if audio_args is not None:
            job("audio", audio_fn, *audio_args)
        if face_args is not None:
            job("faces", candidate_faces, *face_args)
    finally:
        conn.close()


class Prefetch:
    """Reads the audio and finds the portrait's faces, in a forked process when that saves
    time: decoding + MFCC and loading dlib's 68-point model (~0.8 s) then run on a second
    core while this process imports torch (~1 s) and loads the weights. Inline when torch is
    already imported (forking a process with torch's thread pools is unsafe), when the
    detector is already loaded (batch workers, repeated API calls) or on one core.

    ``audio()`` gives (samples, raw MFCC rows); ``faces(device)`` the faces, best first;
    errors are raised where these are asked for, so they come in the same order as inline.
    """

    def __init__(self, image, image_path, detector="auto", landmarks=None, audio=None,
                 max_seconds: float | None = A.DEFAULT_MAX_SECONDS, scale: tuple[float, float] = (1.0, 1.0),
                 speech: bool = False):
        self.face_args = (image, image_path, detector, landmarks)
        self.audio_fn = speech_input if speech else A.audio_rows  # phones + energy, or MFCC rows
        self.scale = scale  # of --landmarks points: the portrait was shrunk to --max-size
        self.audio_args = (audio, A.SAMPLE_RATE, max_seconds) if audio is not None else None
        self.proc = self.conn = None
        self._got: dict = {}
        if not landmarks and self._fork_pays(detector):
            import multiprocessing as mp

            ctx = mp.get_context("fork")
            self.conn, child = ctx.Pipe(duplex=False)
            self.proc = ctx.Process(target=_prefetch_child, args=(child, self.face_args + ("cpu",), self.audio_args, self.audio_fn),
                                    daemon=True)
            self.proc.start()
            child.close()

    @staticmethod
    def _fork_pays(detector) -> bool:
        import sys

        from .face import detect as D

        if sys.platform != "linux" or "torch" in sys.modules or detector == "fan" or (os.cpu_count() or 1) < 2:
            return False
        # face-alignment (which wants the GPU) runs here, never in the child
        return D._dlib_models.cache_info().currsize == 0 and not (detector == "auto" and D.fan_weights_present())

    def _result(self, kind):
        """The child's (status, value) for ``kind``; ("crash", None) when it is gone."""
        while kind not in self._got and self.proc is not None:
            try:
                k, status, value = self.conn.recv()
                self._got[k] = (status, value)
            except (EOFError, OSError):  # the child died (killed, out of memory)
                self.close()
        return self._got.get(kind, ("crash", None))

    @staticmethod
    def _raise(value):
        name, message, code = value
        raise {"NoFaceError": NoFaceError, "WeightsError": WeightsError}.get(name, InputError)(message, code)

    def audio(self):
        if self.proc is None and "audio" not in self._got:
            return self.audio_fn(*self.audio_args)
        status, value = self._result("audio")
        if status == "ok":
            return value
        if status == "error":
            self._raise(value)
        return self.audio_fn(*self.audio_args)  # the child failed unexpectedly: redo it here

    def faces(self, device="cpu") -> list[Face]:
        """The faces, best first; ``device`` is for face-alignment when it runs here."""
        if self.proc is None and "faces" not in self._got:
            return candidate_faces(*self.face_args, device, self.scale)
        status, value = self._result("faces")
        self.close()
        if status == "ok":
            return value
        if status == "error":
            self._raise(value)
        return candidate_faces(*self.face_args, device, self.scale)

    def close(self):
        if self.proc is not None:
            if self.proc.is_alive():
                self.proc.terminate()
            self.proc.join()
            self.conn.close()
            self.proc = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _fit_size(shape, max_size: int) -> tuple[int, int]:
    """(width, height) of the portrait shrunk so its longest side is at most ``max_size``."""
    h, w = shape[:2]
    if max(h, w) <= max_size:
        return w, h
    s = max_size / max(h, w)
    return max(2, int(round(w * s))), max(2, int(round(h * s)))


def _fit_scale(shape, max_size: int) -> tuple[float, float]:
    """(x, y) factors from the portrait's pixels to those of ``fit_image``'s result."""
    w2, h2 = _fit_size(shape, max_size)
    return w2 / shape[1], h2 / shape[0]


def fit_image(img: np.ndarray, max_size: int) -> np.ndarray:
    import cv2

    w2, h2 = _fit_size(img.shape, max_size)
    if (w2, h2) != (img.shape[1], img.shape[0]):
        img = cv2.resize(img, (w2, h2), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(img[: h2 - h2 % 2, : w2 - w2 % 2])


def default_output(portrait, audio) -> Path:
    a = Path(audio)
    return a.with_name(f"{Path(portrait).stem}_{a.stem}.mp4")


# ----------------------------------------------------------------------------- generate
def generate(portrait, audio, output=None, *, weights: str = "default", device: str = "auto", size: int = 256,
             crop: bool = False, max_size: int = 1024, detector: str = "auto", landmarks=None,
             face_index: int | None = None, renderer: str = "auto", force: bool = False,
             max_seconds: float = A.DEFAULT_MAX_SECONDS, batch: int = 32, quiet: bool = True,
             reporter: Reporter | None = None, blink: bool = True, head_motion: bool = False) -> dict:
    """Make a talking-face MP4 from a portrait and speech; returns a summary dict.

    Raises ``TalkfaceError`` subclasses (with exit codes) for anything the user can fix.
    """
    from . import weights as W
    from .video import VideoWriter, check_output_path

    t_start = time.perf_counter()
    _fixed_mmap_threshold()
    rep = reporter or Reporter(show=not quiet)
    out = Path(output) if output else default_output(portrait, audio)
    check_output_path(out, force, inputs=(portrait, audio, landmarks))  # never over an input
    if renderer not in RENDERERS:
        raise InputError(f"--renderer {renderer}: unknown; use one of {', '.join(RENDERERS)}")
    if size < 32 or size > 2048 or size % 2:
        raise InputError(f"--size {size}: must be an even number between 32 and 2048")
    if max_size < 64:
        raise InputError(f"--max-size {max_size}: must be at least 64")
    if max_seconds is not None and not max_seconds > 0:
        raise InputError(f"--max-seconds {max_seconds}: must be a positive number of seconds")
    with rep.stage("image", "reading portrait"):
        full = load_image(portrait)
        img, scale = fit_image(full, max_size), _fit_scale(full.shape, max_size)
        del full
    speech = W.atnet_arch(weights) == "mouthnet"  # which audio features the weights read
    with Prefetch(img, portrait, detector, landmarks, audio, max_seconds, scale, speech) as search:
        with rep.stage("setup", "starting torch"):
            dev = resolve_device(device)
        with rep.stage("audio", "reading audio"):
            n_samples, rows = search.audio()
            n = A.n_frames_for(n_samples)
        with rep.stage("weights", "loading weights"):
            wts = W.load(weights, dev, need_vgnet=True)
        kind = wts.pipeline.get("kind", "talkface")
        with rep.stage("audio"):
            feats = rows if speech else \
                A.Features(None, norm=bool(wts.pipeline.get("feature_norm", True)), n_frames=n, rows=rows)
        with rep.stage("face", "finding the face"):
            face = choose_face(search.faces(dev), portrait, face_index, rep)
    half = dev.startswith("cuda")
    if kind == "atvgnet-original":
        from .authors_pipeline import original_crop, render_original

        crop_size = 128
        ref_crop, al = original_crop(img, face.points, wts.pipeline["extra"]["template"])
        with rep.stage("atnet", "predicting landmarks"):
            frames = render_original(wts, ref_crop, feats.window(), dev, batch=batch)
        used = "neural"
    else:
        crop_size = int(wts.pipeline.get("crop_size", 128))
        zoom = float(wts.pipeline.get("zoom", 1.0))
        al = align(face.points, crop_size, zoom)
        ref_crop = al.warp(img)
        ref_norm = to_norm(al.to_crop(face.points), crop_size).reshape(-1)
        # AT-net runs a chunk at a time as the renderer asks for frames (timed as "atnet")
        chunks = _timed(predict_chunks(wts, ref_norm, feats, dev), rep, "atnet")
        from .render.choose import choose_renderer

        used = "warp" if wts.vgnet is None else choose_renderer(renderer, wts.pipeline, face)
        if used == "warp":
            from .motion import stream as add_motion
            from .render.warp import render_warp

            if crop:  # warp the aligned crop at the output size: no full-resolution work per frame
                al_out = align(face.points, size, zoom)
                base, to_px = al_out.warp(img), (lambda p: al_out.to_crop(al.to_image(p)))
            else:
                base, to_px = img, al.to_image
            pts = (to_px(from_norm(c, crop_size).reshape(-1, 2)).reshape(-1, 68, 2) for c in chunks)
            rest = to_px(al.to_crop(face.points))
            pts = add_motion(_frames_of(pts), n, blink=blink, head=head_motion, rest=rest)  # --blink, --head-motion
            frames = ((f, None) for f in render_warp(base, rest, pts, device=dev))
        else:
            from .render.neural import render_neural

            frames = render_neural(wts.vgnet, ref_crop, ref_norm, chunks, dev, batch=batch, half=half)
    width, height = (size, size) if crop else (img.shape[1], img.shape[0])
    # neural frames are crops: blended over the reference (--crop) or pasted into the portrait
    neural_crop = used != "warp" and crop
    paster = None if crop or used == "warp" else \
        Paster(img, al, face_mask(al.to_crop(face.points), crop_size), color_match=True)
    ref_f = ref_crop.astype(np.float32) if neural_crop else None  # converted once
    import cv2

    rep.seconds.setdefault("render", 0.0)
    rep.seconds.setdefault("encode", 0.0)
    first_frame = None
    with VideoWriter(out, width, height, audio=audio, audio_seconds=n_samples / A.SAMPLE_RATE, overwrite=force) as vw:
        with rep.bar("rendering", n) as advance:
            it = iter(frames)
            for _ in range(n):
                t0 = time.perf_counter()
                a0 = rep.seconds.get("atnet", 0.0)
                color, alpha = next(it)
                if alpha is None:  # the warp renderer gives whole frames
                    frame = color
                elif neural_crop:
                    f = ref_f + (color.astype(np.float32) - ref_f) * alpha[:, :, None]
                    frame = cv2.resize(np.clip(f + 0.5, 0, 255).astype(np.uint8), (size, size),
                                       interpolation=cv2.INTER_CUBIC if size > crop_size else cv2.INTER_AREA)
                else:
                    frame = paster.paste(color, alpha)
                t1 = time.perf_counter()
                vw.write(frame)
                t2 = time.perf_counter()
                rep.add("render", t1 - t0 - (rep.seconds.get("atnet", 0.0) - a0))
                rep.add("encode", t2 - t1)
                if first_frame is None:
                    first_frame = t2 - t_start
                advance()
    rep.seconds["total"] = round(time.perf_counter() - t_start, 3)
    return {
        "output": str(out), "frames": n, "fps": A.FPS, "duration": round(n / A.FPS, 3),
        "audio_duration": round(n_samples / A.SAMPLE_RATE, 3), "size": [width, height], "device": dev,
        "detector": face.detector, "detector_attempt": face.attempt, "face_box": [round(v, 1) for v in face.box],
        "weights": wts.name, "renderer": used, "first_frame_seconds": round(first_frame or 0.0, 3),
        "seconds": dict(rep.seconds),
    }


def speech_input(path, sr: int = A.SAMPLE_RATE, max_seconds: float | None = A.DEFAULT_MAX_SECONDS):
    """(samples, (frames, N) speech features) of an audio file, for MouthNet weights."""
    from .phones import speech_features

    wav = A.load_audio_int16(path, sr, max_seconds)
    return wav.size, speech_features(wav.astype(np.float32) / 32768.0)


def audio_features(wts, wav: np.ndarray):
    """What the weights' AT-net reads, from a decoded waveform: speech features (MouthNet)
    or MFCC windows (the authors' layout)."""
    if wts.pca is None:
        from .phones import speech_features

        return speech_features(wav)
    return A.features(wav, norm=bool(wts.pipeline.get("feature_norm", True)))


def predict_chunks(wts, ref_norm: np.ndarray, feats, device):
    """AT-net, streamed: (k, 136) landmark chunks in the weights' landmark space."""
    if wts.pca is None:
        from .models.mouthnet import predict_chunks as mouth_chunks

        return mouth_chunks(wts.atnet, wts.atnet.basis, ref_norm, feats, wts.atnet.gain, device)
    from .models.atnet import predict_iter

    return predict_iter(wts.atnet, wts.pca, ref_norm, feats, device)


def predict_sequence(wts, ref_norm: np.ndarray, feats, device) -> np.ndarray:
    """AT-net: (T, 136) landmark sequence in the weights' landmark space."""
    return np.concatenate(list(predict_chunks(wts, ref_norm, feats, device)))


def _frames_of(chunks):
    for c in chunks:
        yield from c


def _timed(it, rep: Reporter, name: str):
    """Yield from ``it``, adding the time spent producing each item to stage ``name``."""
    it = iter(it)
    rep.seconds.setdefault(name, 0.0)
    while True:
        t0 = time.perf_counter()
        try:
            x = next(it)
        except StopIteration:
            return
        finally:
            rep.add(name, time.perf_counter() - t0)
        yield x


def audio_landmarks(audio, portrait, *, weights: str = "default", device: str = "auto", detector: str = "auto",
                    landmarks=None, face_index=None, max_seconds: float = A.DEFAULT_MAX_SECONDS,
                    reporter: Reporter | None = None):
    """Predicted 68-point sequence (T, 68, 2) in portrait pixels, 25 fps, and the portrait."""
    from . import weights as W

    rep = reporter or Reporter(show=False)
    dev = resolve_device(device)
    wts = W.load(weights, dev, need_vgnet=False)
    if wts.pipeline.get("kind", "talkface") != "talkface":
        raise InputError(f"--weights {weights}: landmark sequences in portrait pixels need talkface weights; "
                         "use --weights default")
    img = load_image(portrait)
    face = find_face(img, portrait, detector, landmarks, face_index, dev, rep)
    wav = A.load_audio(audio, max_seconds=max_seconds)
    feats = audio_features(wts, wav)
    crop_size = int(wts.pipeline.get("crop_size", 128))
    al = align(face.points, crop_size, float(wts.pipeline.get("zoom", 1.0)))
    ref_norm = to_norm(al.to_crop(face.points), crop_size).reshape(-1)
    seq = predict_sequence(wts, ref_norm, feats, dev)
    pts = al.to_image(from_norm(seq, crop_size).reshape(-1, 2)).reshape(-1, 68, 2).astype(np.float32)
    return pts, img, face
