"""``talkface evaluate``: generate from real clips and compare with their frames.

For each clip (any container ffmpeg reads, searched recursively): the first frame is the
portrait, talkface generates a video from the clip's own audio, and generated and real
frames are compared in the paper's aligned 128 px crop (docs/paper_facts.md#evaluation), with the paper's
bugs fixed:

* PSNR in float (the paper's wrapped modulo 256 on uint8), on greyscale as the paper
  and on RGB, after resizing both crops to 256 px (INTER_AREA) as the paper did;
* SSIM (skimage defaults: 7x7 uniform window, data range 255, over the colour
  channels) on the same 256 px crops;
* LMD: mouth points 48-67 found by dlib on the real and on the generated 128 px crop,
  each set centred on its own centroid, **mean** per-point distance in pixels (the
  paper's code summed over the 20 points); frames where either has no face are left out.

And a landmark-only check of AT-net's lip sync, independent of the renderer: the mouth
AT-net predicts for every frame against the mouth tracked on the real frames (full
resolution, head motion removed by a similarity on nose and eye corners, then mapped into
the same 128 px crop), next to two baselines from the same reference: a static mouth,
and a mouth that opens with the audio loudness (the least-squares coefficients fitted on
the training clips by the ``train atnet`` command and stored with the weights).

And articulation, on the rendered video itself (``talkface.motion.articulation``): dlib's 68 points
are tracked on every real and every generated frame, and the inner-lip opening (over the
inter-ocular distance) of the two is compared: correlation at the best lag within +-2
frames (``open_corr``), spread ratio std(generated)/std(real) (``open_ratio``), the same
two for the mouth's width, corners 48-54 (``width_corr``, ``width_ratio``: rounding and
spreading), and the loudness envelope's correlation with the real opening as the baseline
(``loud_corr``);
and the clip's apparent audio/video offset (``av_offset``, frames, searched within +-1 s,
with ``offset_corr``): a clip whose sound is out of step with its picture is flagged under
the table, its ``open_corr`` being no lip-sync figure; the mean row's ``open_corr_in_sync``
leaves such clips out.

The generated videos are encoded losslessly (``crf`` 0) by default: the figures measure
the frames as the models made them, like the still-frame baseline (the clip's first
frame, which is not encoded again); H.264 at talkface's default quality (crf 20) costs a
still frame about 0.15 dB of PSNR on GRID, a loss of the codec, not of the models.

The first frame is the reference, so it is left out of every figure. The crop is the
similarity alignment of the first frame's landmarks (the cameras of GRID/LRW-style clips
are static); the generated video is full-frame, so both are cropped alike.
"""
from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..speech import audio as A
from ..motion.articulation import (OFFSET_WARN, articulation, inner_lip_opening, loudness_envelope, mouth_width,
                                   out_of_sync)
from ..constants import FPS
from ..runtime.errors import InputError, NoFaceError, TalkfaceError
from ..options import GenerateOptions
from ..runtime.progress import Reporter

from .evaluate_metrics import _grey, _metrics, _resized, crop_landmarks, mouth_distance, psnr, reference_face

if TYPE_CHECKING:
    from ..api import TalkingFace

EVAL_SIZE = 128        # the paper's aligned crop
EVAL_ZOOM = 1.0        # the paper's template, unzoomed
KEYS = ("frames", "psnr", "psnr_rgb", "ssim", "lmd", "still_psnr", "still_lmd", "sync_error", "baseline_static",
        "baseline_loudness", "open_corr", "open_ratio", "width_corr", "width_ratio", "loud_corr", "av_offset",
        "offset_corr")
SIGNED = ("open_corr", "loud_corr", "width_corr")  # correlations: shown with their sign
PER_CLIP = ("av_offset", "offset_corr")  # no mean: offsets of different clips do not add up


# ----------------------------------------------------------------------------- clips
def find_clips(clips_dir) -> list[tuple[str, Path]]:
    """(name, path) of every clip under ``clips_dir`` (recursively), sorted."""
    from ..face.clips import find_clips as _find

    d = Path(clips_dir)
    if not d.is_dir():
        raise InputError(f"{d}: not a folder; give the folder holding the clips (mp4, mpg, mov, avi, mkv)")
    clips = [(p.relative_to(d).as_posix(), p) for p in _find(d)]
    if not clips:
        raise InputError(f"{d}: no clips found (mp4, mpg, mpeg, mov, avi, mkv, webm, m4v); check the folder")
    return clips


def _first_frame(path, max_size):
    from ..face.image import fit_image
    from ..video.writer import read_frames

    try:
        gen = read_frames(path)
        frame = next(gen, None)
        gen.close()
    except (OSError, RuntimeError) as e:
        raise InputError(f"{path}: not readable as video ({str(e).splitlines()[0] if str(e) else e})")
    if frame is None:
        raise InputError(f"{path}: has no video frames")
    return fit_image(frame, max_size)


def _to_crop(al_from, al_to, seq_norm, crop_size):
    """Landmarks in the weights' crop space -> pixels of the evaluation crop."""
    from ..face.shape import from_norm

    img = al_from.to_image(from_norm(seq_norm, crop_size).reshape(-1, 2))
    return al_to.to_crop(img).reshape(-1, 68, 2)


def evaluate_clip(path: Path, video_out: Path, tf: TalkingFace, options: GenerateOptions, tmp: Path) -> dict:
    """Metrics of one clip (see the module doc), generated by ``tf`` with ``options`` (the
    renderer, ``max_size``); raises TalkfaceError subclasses."""
    import cv2

    from ..face.align import align
    from ..face.image import fit_image
    from ..face.shape import stabilise, to_norm
    from ..face.clips import LandmarkTracker
    from ..motion.baseline import loudness_baseline  # numpy: evaluate runs without torch
    from ..video.writer import read_frames

    kind = tf.atnet_kind
    wts, device, max_size = tf.weights, tf.device_for(kind.needs_torch), options.max_size  # MouthNet: numpy

    first = _first_frame(path, max_size)
    face = reference_face(first)
    if face is None:
        raise NoFaceError(f"{path}: no face found in the first frame (it is the reference portrait)")
    portrait = tmp / "portrait.png"
    cv2.imwrite(str(portrait), cv2.cvtColor(first, cv2.COLOR_RGB2BGR))
    lm_json = tmp / "face.json"
    lm_json.write_text(json.dumps({"faces": [face.to_json()]}))
    # generation from the clip's own audio, with exactly these landmarks
    tf.generate(portrait, path, video_out, options.replace(landmarks=lm_json), force=True)

    al = align(face.points, EVAL_SIZE, EVAL_ZOOM)
    # AT-net and the baselines, in the evaluation crop
    pred: Any = None
    static: Any = None
    loud: Any = None
    wav = A.load_audio(path, max_seconds=None)  # AT-net's input and the loudness baseline
    if not kind.renders_itself:  # landmarks in the weights' crop (not the authors' pipeline)
        n = A.n_frames_for(wav.size)
        cs = int(wts.pipeline.get("crop_size", 128))
        al_w = align(face.points, cs, float(wts.pipeline.get("zoom", 1.0)))
        ref_norm = to_norm(al_w.to_crop(face.points), cs).reshape(-1)
        feats = kind.features_of(wts, wav)[:n]
        pred = _to_crop(al_w, al, kind.predict_sequence(wts, ref_norm, feats, device), cs)
        static = al.to_crop(face.points)[None]
        coef = wts.pipeline.get("extra", {}).get("loudness_coef")
        if coef is not None:
            loud = _to_crop(al_w, al, loudness_baseline(np.asarray(coef, np.float64), ref_norm,
                                                        A.loudness(wav, n)), cs)

    track, track_gen = LandmarkTracker(face.box), LandmarkTracker(face.box)
    ref_pts: Any = None
    open_real, open_gen, width_real, width_gen = [], [], [], []
    img, lmd = [], []
    sync: dict[str, list] = {"sync_error": [], "baseline_static": [], "baseline_loudness": []}
    # the still-frame baseline: the reference frame itself shown for every frame
    still = al.warp(first)  # _first_frame has fitted it to max_size already
    still_lm, still_grey = crop_landmarks(still), _grey(_resized(still))
    still_psnr, still_lmd = [], []
    frames = 0
    # closed when the loop ends or fails: zip leaves the longer reader (an ffmpeg process) running
    with contextlib.closing(read_frames(path)) as reals, contextlib.closing(read_frames(video_out)) as fakes:
        for i, (real, fake) in enumerate(zip(reals, fakes)):
            real = fit_image(real, max_size)
            pts = track(real)
            if i == 0:
                ref_pts = pts
                continue  # the reference frame itself
            if fake.shape != real.shape:
                fake = cv2.resize(fake, (real.shape[1], real.shape[0]), interpolation=cv2.INTER_AREA)
            frames += 1
            gen_pts = track_gen(fake)
            open_real.append(inner_lip_opening(pts))
            open_gen.append(inner_lip_opening(gen_pts))
            width_real.append(mouth_width(pts))
            width_gen.append(mouth_width(gen_pts))
            rc, fc = al.warp(real), al.warp(fake)
            r = _resized(rc)
            r_grey = _grey(r)
            img.append(_metrics(r, _resized(fc), r_grey))
            still_psnr.append(psnr(r_grey, still_grey))  # image_metrics' grey PSNR
            lr, lf = crop_landmarks(rc), crop_landmarks(fc)
            if lr is not None and lf is not None:
                lmd.append(mouth_distance(lf, lr))
            if lr is not None and still_lm is not None:
                still_lmd.append(mouth_distance(still_lm, lr))
            if pred is not None and i < len(pred):
                true = al.to_crop(stabilise(np.stack([ref_pts, pts]), target=ref_pts)[1])
                sync["sync_error"].append(mouth_distance(pred[i], true))
                sync["baseline_static"].append(mouth_distance(static[0], true))
                if loud is not None:
                    sync["baseline_loudness"].append(mouth_distance(loud[i], true))
    if frames == 0:
        raise InputError(f"{path}: fewer than 2 frames to compare; give clips of at least 2 frames")
    a = np.asarray(img, np.float64)
    mean = lambda v: float(np.mean(v)) if len(v) else None
    envelope = loudness_envelope(wav, frames + 1)[1:]
    return {"frames": frames, "psnr": float(a[:, 0].mean()), "psnr_rgb": float(a[:, 1].mean()),
            "ssim": float(a[:, 2].mean()), "lmd": mean(lmd), "still_psnr": mean(still_psnr),
            "still_lmd": mean(still_lmd), **{k: mean(v) for k, v in sync.items()},
            **articulation(open_gen, open_real, envelope, width_gen, width_real)}


def _video_names(clips: list[str]) -> dict[str, str]:
    """File name for each clip's generated video in ``--save-videos``: its path with ``/`` as
    ``__`` and ``.mp4`` for its extension; where two clips would share a name (``a.mp4`` and
    ``a.mpg``), their extensions are kept (``a_mp4.mp4``, ``a_mpg.mp4``) so none overwrites another."""
    plain = {c: c.replace("/", "__").rsplit(".", 1)[0] + ".mp4" for c in clips}
    count: dict[str, int] = {}
    for v in plain.values():
        count[v.lower()] = count.get(v.lower(), 0) + 1
    out, used = {}, set()
    for c in clips:
        v = plain[c] if count[plain[c].lower()] == 1 else c.replace("/", "__").replace(".", "_") + ".mp4"
        while v.lower() in used:  # still taken (a clip really named a_mp4.mp4): number it
            v = v[:-4] + "_.mp4"
        used.add(v.lower())
        out[c] = v
    return out


def _mean_row(rows: list[dict]) -> dict:
    out = {}
    for k in KEYS:
        v = [r[k] for r in rows if r.get(k) is not None]
        out[k] = _round(float(np.mean(v))) if v and k not in PER_CLIP else None
    v = [r["open_corr"] for r in rows if r.get("open_corr") is not None and not out_of_sync(r)]
    out["open_corr_in_sync"] = _round(float(np.mean(v))) if v else None
    return out


def _round(v):
    return None if v is None else round(float(v), 4)


# ----------------------------------------------------------------------------- entry point
def evaluate(clips_dir, *, weights: str = "default", renderer: str = "auto", device: str = "auto",
             limit: int | None = None, save_videos=None, max_size: int = 1024,
             reporter: Reporter | None = None, crf: int = 0) -> dict:
    """Evaluate talkface on every clip under ``clips_dir``; returns
    ``{"clips": [row, ...], "mean": row, "failed": [{"clip", "error"}, ...]}`` where a row
    holds ``clip, frames, psnr, psnr_rgb, ssim, lmd, still_psnr, still_lmd, sync_error,
    baseline_static, baseline_loudness, open_corr, open_ratio, loud_corr, av_offset,
    offset_corr`` (see the module doc); the mean row has no ``av_offset`` / ``offset_corr``
    but ``open_corr_in_sync``. Clips that fail are listed, not fatal."""
    from ..api import load

    rep = reporter or Reporter(show=False)
    # the whole clip; crf 0: lossless, the frames as rendered (the module doc)
    options = GenerateOptions(renderer=renderer, max_size=max_size, max_seconds=None, crf=crf)
    if limit is not None and limit < 1:
        raise InputError(f"--limit {limit}: must be at least 1")
    clips = find_clips(clips_dir)[:limit] if limit else find_clips(clips_dir)
    tf = load(weights, device)  # once, for every clip
    if renderer == "neural" and "vgnet" not in tf.weights.entry.get("files", {}):
        raise InputError(f"--renderer neural: weights {tf.weights.name!r} have no VG-net; use --renderer warp")
    if renderer == "neural":  # said once, before any clip, not as every clip's failure
        from ..runtime.torch_needed import require_torch

        require_torch("the neural renderer (VG-net, --renderer neural)")
    save = None
    if save_videos is not None:
        save = Path(save_videos)
        if save.exists() and not save.is_dir():
            raise InputError(f"{save}: exists and is not a folder; give a folder for --save-videos")
        save.mkdir(parents=True, exist_ok=True)
    rows, failed = [], []
    names = _video_names([name for name, _ in clips])
    with tempfile.TemporaryDirectory(prefix="talkface-eval-") as td, rep.bar("evaluating", len(clips)) as advance:
        tmp = Path(td)
        for name, path in clips:
            out = (save / names[name]) if save else tmp / "generated.mp4"
            try:
                r = evaluate_clip(path, out, tf, options, tmp)
                rows.append({"clip": name, "frames": r["frames"], **{k: _round(r[k]) for k in KEYS[1:]},
                             "av_offset": r["av_offset"]})
            except (KeyboardInterrupt, MemoryError):
                raise
            except TalkfaceError as e:
                failed.append({"clip": name, "error": e.message})
            except Exception as e:  # never fatal for the other clips
                msg = str(e).splitlines()[0] if str(e) else ""
                failed.append({"clip": name, "error": f"{type(e).__name__}: {msg}".rstrip(": ")})
            advance()
    return {"clips": rows, "mean": _mean_row(rows), "failed": failed}


def print_table(res: dict, title: str = "", console=None):
    """The per-clip rows, the mean and the failures as a rich table."""
    from rich.console import Console
    from rich.table import Table

    from rich.text import Text

    con = console or Console()
    if console is None and not con.is_terminal:
        con = Console(width=170)  # pipes and logs: do not squeeze the columns to 80
    # clip names and the title (it holds the folder) are text, never markup: "[1]" or "[/x]" in a
    # path would vanish or raise MarkupError
    t = Table(title=Text(title) if title else None)
    heads = [("clip", "clip"), ("frames", "frames"), ("psnr", "PSNR"), ("psnr_rgb", "PSNR rgb"), ("ssim", "SSIM"),
             ("lmd", "LMD"), ("still_psnr", "still PSNR"), ("still_lmd", "still LMD"),
             ("sync_error", "AT-net sync"), ("baseline_static", "static"),
             ("baseline_loudness", "loudness"), ("open_corr", "open r"), ("open_ratio", "open amp"),
             ("width_corr", "width r"), ("loud_corr", "loud r"), ("av_offset", "A/V lag")]
    for _, h in heads:
        t.add_column(h, justify="left" if h == "clip" else "right")
    fmt = lambda k, v: "-" if v is None else (f"{v:.0f}" if k == "frames" else f"{int(v):+d}" if k == "av_offset"
                                               else f"{v:.4f}" if k == "ssim"
                                               else f"{v:+.2f}" if k in SIGNED else f"{v:.2f}")
    for r in res["clips"]:
        t.add_row(*[Text(r["clip"])] + [fmt(k, r[k]) for k, _ in heads[1:]])
    if res["clips"]:
        t.add_section()
        t.add_row(*[f"mean of {len(res['clips'])}"] + [fmt(k, res["mean"][k]) for k, _ in heads[1:]],
                  style="bold")
    con.print(t)
    con.print("PSNR/SSIM on the 128 px crops resized to 256; LMD, sync and baselines: mean mouth-point distance "
              "in pixels of the 128 px crop (lower is better); still = the first frame shown throughout (grey PSNR, "
              "LMD), the baseline a renderer must beat. Articulation: open r = correlation of the generated "
              "inner-lip opening with the real one (best lag within +-2 frames), open amp = its spread over the real "
              "one's (1 is right), width r = the same correlation for the mouth's width (corners 48-54: "
              "rounding and spreading), loud r = the opening's correlation with the loudness envelope, the "
              "baseline to beat; "
              "A/V lag = frames by which the clip's sound seems to come after its picture (searched within +-1 s).")
    flagged = [r for r in res["clips"] if out_of_sync(r)]
    for r in flagged:
        con.print(f"{r['clip']}: its mouth matches the speech best with the sound {r['av_offset']:+d} frames "
                  f"({r['av_offset'] * 1000 // FPS:+d} ms) from its picture (r {r['offset_corr']:+.2f} there, "
                  f"{r['open_corr']:+.2f} within +-2 frames): the clip's sound looks out of sync, so its open r "
                  f"measures the clip, not the lip sync", style="yellow", markup=False)
    if flagged and res["mean"].get("open_corr_in_sync") is not None:
        n = len(res["clips"])
        con.print(f"open r of the clips in sync ({n - len(flagged)} of {n}; offset within +-{OFFSET_WARN} frames "
                  f"or no clearly better match): {res['mean']['open_corr_in_sync']:+.2f}", markup=False)
    for f in res["failed"]:
        con.print(f"failed: {f['clip']}: {f['error']}", style="red", markup=False)
