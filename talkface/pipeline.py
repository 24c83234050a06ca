"""The Python API behind the CLI: ``generate`` (portrait + speech -> MP4) and the
landmark sequence of ``talkface landmarks``. Each stage lives in its own module: face
(detect, align, paste back; ``face/find.py``: which face), audio (decode, features),
AT-net (``predict.py``), models, render, video (streaming writer, mux), weights
(registry); ``prefetch.py`` reads the audio and finds the face while torch starts."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from . import audio as A
from .device import resolve_device
from .errors import InputError
from .face.align import Paster, align, face_mask
from .face.find import candidate_faces, choose_face, find_face
from .face.image import fit_image, fit_scale, load_image
from .face.shape import from_norm, to_norm
from .memory import fixed_mmap_threshold
from .predict import audio_features, predict_chunks, predict_sequence, speech_input
from .prefetch import Prefetch
from .progress import Reporter
from .render.choose import RENDERERS

__all__ = ["generate", "audio_landmarks", "default_output", "Prefetch", "candidate_faces", "choose_face",
           "find_face", "resolve_device", "speech_input", "audio_features", "predict_chunks", "predict_sequence"]


def default_output(portrait, audio) -> Path:
    """``PORTRAIT_AUDIO.mp4`` next to the audio."""
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
    fixed_mmap_threshold()
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
        img, scale = fit_image(full, max_size), fit_scale(full.shape, max_size)
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
