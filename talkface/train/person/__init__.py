"""``talkface train vgnet --video``: a renderer for one person, from a video of them.

:func:`train_person` runs these stages in a run folder (default
``<talkface home>/runs/<name>``, never the source tree); each is resumable:

1. **track**: every source (one video, or every clip of a folder) is decoded once at
   25 fps, at most 1920 px a side, streamed. dlib's face detector runs once a second on a
   copy of at most 640 px and counts the faces; the 68 points are followed in every frame
   (``clips.LandmarkTracker``), the tracker restarted on each detection. A face whose
   pixels never change from one check to the next is a picture (a poster, a print on
   clothing), not a person: it is not counted (``footage._Chain``).
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
import json
import shutil
from pathlib import Path

from ...constants import FPS
from ...runtime import signals
from ...runtime.errors import InputError
from .common import MAX_SECONDS, MIN_SECONDS, RECIPES, RUN_FILE, TRACK_FILE, Progress
from .footage import Segment, Track, _fingerprint, _same_sources, check, segments, sources, split, track
from .items import _write_json, write_items
from .tune import Base, _fine_tune, base_weights, fit_gain, register

__all__ = ["train_person", "run_dir_for", "Track", "Segment", "track", "segments", "check", "split", "sources",
           "write_items", "base_weights", "fit_gain", "register", "Base"]


def run_dir_for(name: str) -> Path:
    """The default run folder of ``talkface train vgnet --video ... --name NAME``."""
    from ... import weights as W

    return W.home() / "runs" / name


# ----------------------------------------------------------------------------- sources


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
    from ... import weights as W

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
