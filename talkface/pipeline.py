"""``generate`` wired together: portrait + speech -> MP4, streamed from stage to stage.

The stages are packages, in the order a video passes them: ``face/`` (find, align, paste
back), ``speech/`` (what the AT-net hears), ``motion/`` (the AT-net's landmark motion;
``motion.predict``: which AT-net the weights have), ``render/`` (landmarks -> frames),
``video/`` (the streaming writer and mux); ``weights/`` loads the networks. Here they only
meet, in three steps:

1. :func:`_inputs`: the portrait read and shrunk to ``--max-size``; the audio read and the
   face found (:class:`~talkface.runtime.prefetch.Prefetch`, in forked processes) while the weights
   of the :class:`~talkface.api.TalkingFace` load (on first use) and torch starts, when the
   video needs it (:meth:`~talkface.api.TalkingFace.needs_torch`: MouthNet weights with
   the warp renderer run without torch, on the CPU);
2. :func:`_frames`: AT-net, a chunk at a time, feeding the renderer chosen for the portrait;
3. :func:`_encode`: every frame pasted into the portrait (or blended into the crop) and
   piped to the encoder.

``talkface.generate`` and ``TalkingFace.generate`` (``talkface.api``) call :func:`make_video`.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .constants import CROP_SIZE
from .face.align import Alignment, Paster, align, face_mask
from .face.detectors import detection_needs_torch
from .face.detectors.base import Face
from .face.find import choose_face
from .face.image import fit_image, fit_scale, load_image
from .face.shape import from_norm, to_norm
from .motion.predict import ATNetKind
from .runtime.memory import fixed_mmap_threshold
from .runtime.prefetch import Prefetch
from .runtime.progress import Reporter
from .runtime.torch_needed import require_torch
from .speech import audio as A

if TYPE_CHECKING:
    from .api import TalkingFace
    from .options import GenerateOptions


def default_output(portrait, audio) -> Path:
    """``PORTRAIT_AUDIO.mp4`` next to the audio."""
    a = Path(audio)
    return a.with_name(f"{Path(portrait).stem}_{a.stem}.mp4")


def make_video(tf: TalkingFace, portrait, audio, output, options: GenerateOptions, *, force: bool = False,
               reporter: Reporter | None = None) -> dict:
    """Make a talking-face MP4 from a portrait and speech with ``tf``'s models; returns the
    summary dict (what ``--json`` prints). Raises ``TalkfaceError`` subclasses (with exit
    codes) for anything the user can fix."""
    from .video.outputs import check_output_path

    t_start = time.perf_counter()
    fixed_mmap_threshold()
    rep = reporter or Reporter(show=False)
    out = Path(output) if output else default_output(portrait, audio)
    check_output_path(out, force, inputs=(portrait, audio, options.landmarks))  # never over an input
    src = _inputs(tf, portrait, audio, options, rep)
    try:
        render = _frames(src, options, rep)
        width, height, first_frame = _encode(render, src, options, out, audio, force, rep, t_start)
    finally:
        _close_feats(src.feats)
    rep.seconds["total"] = round(time.perf_counter() - t_start, 3)
    face, n = src.face, src.n
    return {
        "output": str(out), "frames": n, "fps": A.FPS, "duration": round(n / A.FPS, 3),
        "audio_duration": round(src.n_samples / A.SAMPLE_RATE, 3), "size": [width, height], "device": src.device,
        "detector": face.detector, "detector_attempt": face.attempt, "face_box": [round(v, 1) for v in face.box],
        "weights": src.wts.name, "renderer": render.renderer, "first_frame_seconds": round(first_frame or 0.0, 3),
        "seconds": dict(rep.seconds),
    }


def _close_feats(feats):
    """End what a streamed input still runs (long audio's recognition processes)."""
    close = getattr(feats, "close", None)
    if close is not None:
        close()


# ----------------------------------------------------------------------------- 1. inputs
@dataclass
class _Inputs:
    img: np.ndarray  # the portrait, shrunk to --max-size
    face: Face
    wts: Any  # weights.LoadedWeights
    device: str  # "cpu" without torch, unless the video needs torch (then the resolved --device)
    feats: Any  # what the AT-net reads: speech features, or audio.Features (MFCC windows)
    n: int  # video frames
    n_samples: int  # audio samples
    tf: Any  # the TalkingFace: resolves the device if a renderer turns out to need torch
    kind: ATNetKind  # which AT-net the weights have


def _inputs(tf: TalkingFace, portrait, audio, o: GenerateOptions, rep: Reporter) -> _Inputs:
    with rep.stage("image", "reading portrait"):
        full = load_image(portrait)
        img, scale = fit_image(full, o.max_size), fit_scale(full.shape, o.max_size)
        del full
    kind = tf.atnet_kind  # which AT-net the weights have, and so which audio features it reads
    if o.renderer == "neural" and tf.needs_torch(o):  # say so before any work
        require_torch("the neural renderer (VG-net, --renderer neural)")
    with Prefetch(img, portrait, o.detector, o.landmarks, audio, o.max_seconds, scale, kind.read_audio) as search:
        if tf.needs_torch(o) or detection_needs_torch(o.detector, o.landmarks):
            with rep.stage("setup", "starting torch" if "torch" not in sys.modules else "setup"):
                dev = tf.device_for(True)
        else:  # MouthNet and the warp renderer: numpy and OpenCV, no torch
            dev = tf.device_for(False)
        with rep.stage("audio", "reading audio"):
            n_samples, rows = search.audio()
            n = A.n_frames_for(n_samples)
            if hasattr(rows, "start"):  # long audio: its later pieces are recognised from now on
                rows.start()
        try:
            with rep.stage("weights", "loading weights"):
                wts = tf.weights
            with rep.stage("audio"):
                feats = kind.features(wts, rows, n)
            with rep.stage("face", "finding the face"):
                face = choose_face(search.faces(dev), portrait, o.face_index, rep)
        except BaseException:
            _close_feats(rows)
            raise
    return _Inputs(img, face, wts, dev, feats, n, n_samples, tf, kind)


# ----------------------------------------------------------------------------- 2. frames
@dataclass
class _Render:
    frames: Any  # iterator of (colour, alpha): whole frames (alpha None) or crops with their attention
    renderer: str  # "warp" or "neural"
    crop_size: int
    al: Alignment  # portrait -> the weights' aligned crop
    ref_crop: np.ndarray  # the portrait's aligned crop


def _frames(src: _Inputs, o: GenerateOptions, rep: Reporter) -> _Render:
    wts, img, face, dev = src.wts, src.img, src.face, src.device
    if src.kind.renders_itself:  # the authors' pipeline: their crop, their VG-net's frames
        ref_crop, al = src.kind.crop(wts, img, face.points)
        with rep.stage("atnet", "predicting landmarks"):
            frames = src.kind.render(wts, ref_crop, src.feats, dev, o.batch)
        return _Render(frames, "neural", CROP_SIZE, al, ref_crop)
    crop_size = int(wts.pipeline.get("crop_size", CROP_SIZE))
    zoom = float(wts.pipeline.get("zoom", 1.0))
    al = align(face.points, crop_size, zoom)
    ref_crop = al.warp(img)
    ref_norm = to_norm(al.to_crop(face.points), crop_size).reshape(-1)
    # AT-net runs a chunk at a time as the renderer asks for frames (timed as "atnet")
    chunks = _timed(src.kind.predict_chunks(wts, ref_norm, src.feats, dev), rep, "atnet")
    from .render.choose import choose_renderer

    used = choose_renderer(o.renderer, wts.pipeline, face, img) if wts.has_vgnet else "warp"
    if used == "warp":
        from .motion.idle import stream as add_motion
        from .render.warp import render_warp

        if o.crop:  # warp the aligned crop at the output size: no full-resolution work per frame
            al_out = align(face.points, o.size, zoom)
            base, to_px = al_out.warp(img), (lambda p: al_out.to_crop(al.to_image(p)))
        else:
            base, to_px = img, al.to_image
        pts = (to_px(from_norm(c, crop_size).reshape(-1, 2)).reshape(-1, 68, 2) for c in chunks)
        rest = to_px(al.to_crop(face.points))
        pts = add_motion(_frames_of(pts), src.n, blink=o.blink, head=o.head_motion, rest=rest)
        frames = ((f, None) for f in render_warp(base, rest, pts, device=dev))
    else:
        from .render.neural import render_neural

        dev = src.device = src.tf.device_for(True)  # resolved already when needs_torch said so
        frames = render_neural(wts.vgnet, ref_crop, ref_norm, chunks, dev, batch=o.batch,
                               half=dev.startswith("cuda"))
    return _Render(frames, used, crop_size, al, ref_crop)


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


# ----------------------------------------------------------------------------- 3. encode
def _encode(render: _Render, src: _Inputs, o: GenerateOptions, out: Path, audio, force: bool, rep: Reporter,
            t_start: float) -> tuple[int, int, float | None]:
    """Write the frames to ``out``; (width, height, seconds from ``t_start`` to the first frame)."""
    import cv2

    from .video.writer import VideoWriter

    img, face, n, size, crop_size = src.img, src.face, src.n, o.size, render.crop_size
    width, height = (size, size) if o.crop else (img.shape[1], img.shape[0])
    # neural frames are crops: blended over the reference (--crop) or pasted into the portrait
    neural_crop = render.renderer != "warp" and o.crop
    paster = None if o.crop or render.renderer == "warp" else \
        Paster(img, render.al, face_mask(render.al.to_crop(face.points), crop_size), color_match=True)
    ref_f = render.ref_crop.astype(np.float32) if neural_crop else None  # converted once
    rep.seconds.setdefault("render", 0.0)
    rep.seconds.setdefault("encode", 0.0)
    first_frame = None
    with VideoWriter(out, width, height, audio=audio, audio_seconds=src.n_samples / A.SAMPLE_RATE,
                     overwrite=force, crf=o.crf) as vw:
        with rep.bar("rendering", n) as advance:
            it = iter(render.frames)
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
                    frame = paster.paste(color, alpha)  # type: ignore[union-attr]  # made for these frames
                t1 = time.perf_counter()
                vw.write(frame)
                t2 = time.perf_counter()
                rep.add("render", t1 - t0 - (rep.seconds.get("atnet", 0.0) - a0))
                rep.add("encode", t2 - t1)
                if first_frame is None:
                    first_frame = t2 - t_start
                advance()
    return width, height, first_frame
