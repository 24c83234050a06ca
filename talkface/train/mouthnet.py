"""``talkface train atnet``: the speaker-independent AT-net (MouthNet, docs/lipsync.md).

Targets: landmark motion of the mouth (48-67) and jaw (2-14) relative to the clip's own
closed, neutral mouth (mean of its 10 % least open frames), head motion removed
(``stabilise``), in the weights' normalised crop space, reduced by PCA. Inputs: phone
occupancy from pocketsphinx (cached per item as ``phones.npy``), loudness and mel bands
(:func:`talkface.speech.phones.speech_features`).

Loss: MSE on the PCA coefficients plus a sequence-level term on the inner-lip opening,
1 - concordance correlation, which punishes a motion that is right on average but too
small (MSE alone regresses to the mean). After training a single gain is calibrated on the
held-out clips so that the predicted opening spreads as much as the real one.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from ..face.shape import stabilise, to_norm
from ..motion.articulation import amplitude_ratio, inner_lip_opening, lag_correlation, mouth_width
from ..motion.mouthnet import MouthNetConfig, close_mouth, predict_motion
from ..speech import phones as P
from ..speech.audio import n_frames_for
from .common import Log, load_checkpoint, save_checkpoint
from .data import heldout, list_items, tier
from .networks.mouthnet import MouthNet
from .speakers import fill

MOVING = np.r_[2:15, 48:68]  # jaw and mouth points: the only ones the audio moves
SEQ = 75


def clip_speech(item: Path, wav: np.ndarray) -> np.ndarray:
    """(frames, N) speech features of a prepared clip from its int16 waveform (meta.npz's
    ``wav``); the recogniser's phones are cached in the item's ``phones.npy``."""
    wav = np.asarray(wav).astype(np.float32) / 32767.0
    nf = n_frames_for(wav.size)
    cache = item / "phones.npy"
    if cache.exists():
        ph = np.load(cache)
    else:
        ph = P.recognizer().frames(wav, nf)
        try:
            np.save(cache, ph)
        except OSError:
            pass
    return P.speech_features(wav, nf, ph)


MIN_NORM_SECONDS = 8.0  # a speaker's spread is trusted for normalisation from this much footage on


class Item:
    """One prepared clip: speech features, normalised landmarks, target motion. ``speaker``:
    the clip's speaker (``meta.npz``'s when it records one); ``norms``: the data folder's
    ``speakers.json`` (per-speaker closed mouth); ``scale``: the factor on this speaker's
    motion (per-speaker range normalisation, :func:`speaker_scales`)."""

    def __init__(self, item: Path, speaker: str = "", norms: dict | None = None):
        m = np.load(item / "meta.npz")
        self.name = item.name
        self.folder = item.parent.name
        self.footage = "speaker" in m  # prepared with --footage (talkface.train.speakers)
        self.speaker = str(m["speaker"]) if self.footage else speaker
        self.size = int(m["size"])
        self.zoom = float(m["zoom"])
        norm = to_norm(stabilise(m["points"]), self.size)
        x = clip_speech(item, m["wav"])
        self.n = n = min(len(norm), len(x))
        self.x = x[:n]
        self.valid = (m["valid"].astype(bool) if "valid" in m else np.ones(len(norm), bool))[:n]
        # other voices of the same clip (pitch and formant shifts, noise), when prepared:
        # their phones come from the recogniser too, with the confusions unseen voices bring
        self.voices = [self.x] + [np.load(f)[:n] for f in sorted(item.glob("feats_aug*.npy"))]
        self.norm = fill(norm[:n], self.valid).astype(np.float32)
        self.opening = inner_lip_opening(self.norm.reshape(-1, 68, 2))
        spk = (norms or {}).get(self.speaker)
        if spk is not None:  # the speaker's own closed mouth, over all their clips
            self.neutral = np.asarray(spk["neutral"], np.float32)
        else:
            closed = self.opening <= np.percentile(self.opening[self.valid], 10) + 1e-9
            self.neutral = self.norm[closed & self.valid].mean(0)
        self.scale = 1.0
        self._target()

    def _target(self):
        n = self.n
        y = (self.norm - self.neutral).reshape(n, 68, 2) * self.scale
        keep = np.zeros(68, bool)
        keep[MOVING] = True
        y[:, ~keep] = 0.0
        self.y = y.reshape(n, 136).astype(np.float32)

    def rescale(self, scale: float):
        self.scale = float(scale)
        self._target()


def load_items(dirs, echo=print) -> list[Item]:
    """Every prepared item of ``dirs``; a folder's items without a recorded speaker are its
    folder name's (GRID: ``s1``)."""
    out = []
    for d in dirs:
        d = Path(d)
        sp = d / "speakers.json"
        norms = json.loads(sp.read_text()) if sp.exists() else None
        for it in list_items(d):
            try:
                out.append(Item(it, d.name, norms))
            except Exception as e:  # a broken item never stops training
                echo(f"skipped {it.name}: {e}")
    return out


def free_onset(items, speakers) -> int:
    """The frames before each clip's first sound (the recogniser's first non-silent frame)
    not scored for ``speakers``' clips: GRID s1 keeps his lips shut before a sentence (parted
    by half his speaking spread in 25 % of his clips), where most speakers part them to
    breathe in (GRID s2, s3 and s4 in 32 of 34 clips, 3 of av_train's 5 other speakers whose
    clips start in silence: docs/lipsync.md, "The breath before a sentence"), and with 60 %
    of the draws he would teach every voice his habit. Returns how many clips were changed."""
    k = 0
    for it in items:
        if it.speaker in speakers:
            first = int(np.argmax(it.x[:, 0] < 0.5)) if (it.x[:, 0] < 0.5).any() else it.n
            it.valid = it.valid.copy()
            it.valid[:first] = False
            k += 1
    return k


def speaker_scales(items, lo: float = 0.6, hi: float = 1.6) -> dict[str, float]:
    """Per-speaker range normalisation: each speaker's motion scaled so that the spread of
    their opening (5th to 95th percentile over valid frames) becomes the median spread of
    the footage speakers (``--footage`` items), clipped to ``lo``-``hi``. GRID s1, a narrow
    articulator, is scaled too; speakers with under MIN_NORM_SECONDS keep 1."""
    by: dict[str, list] = {}
    for it in items:
        by.setdefault(it.speaker, []).append(it)
    spread, footage = {}, set()
    for spk, its in by.items():
        if sum(int(i.valid.sum()) for i in its) / 25.0 >= MIN_NORM_SECONDS:
            op = np.concatenate([i.opening[i.valid] for i in its])
            spread[spk] = float(np.percentile(op, 95) - np.percentile(op, 5))
            if any(i.footage for i in its):
                footage.add(spk)
    ref = [v for k, v in spread.items() if k in footage and v > 0]
    if not ref:
        return {}
    r = float(np.median(ref))
    return {k: float(np.clip(r / v, lo, hi)) for k, v in spread.items() if v > 0}


def sampling_weights(items) -> np.ndarray:
    """Speaker-balanced sampling: a speaker is drawn with weight sqrt(their frames), then one
    of their clips by its length. GRID s1's 50 minutes weigh as much as about 50 seconds of
    each of 53 others, not as all of them together."""
    frames: dict[str, int] = {}
    for it in items:
        frames[it.speaker] = frames.get(it.speaker, 0) + it.n
    w = np.array([np.sqrt(frames[it.speaker]) * it.n / frames[it.speaker] for it in items], np.float64)
    return w / w.sum()


def fit_pca(items, k):
    y = np.concatenate([i.y for i in items])
    _, s, vt = np.linalg.svd(y, full_matrices=False)
    var = s ** 2 / (s ** 2).sum()
    return vt[:k].T.astype(np.float32), var[:k]


def _opening_t(lm):
    """Torch inner-lip opening of (B, T, 136) landmarks (inter-ocular units)."""
    p = lm.reshape(*lm.shape[:2], 68, 2)
    gap = sum(torch.linalg.norm(p[..., a, :] - p[..., b, :], dim=-1) for a, b in ((61, 67), (62, 66), (63, 65))) / 3
    return gap / torch.linalg.norm(p[..., 36, :] - p[..., 45, :], dim=-1).clamp_min(1e-6)


def _ccc(x, y, mask):
    """Concordance correlation per sequence (masked), mean over the batch."""
    n = mask.sum(1).clamp_min(1)
    mx, my = (x * mask).sum(1) / n, (y * mask).sum(1) / n
    dx, dy = (x - mx[:, None]) * mask, (y - my[:, None]) * mask
    vx, vy, cov = (dx ** 2).sum(1) / n, (dy ** 2).sum(1) / n, (dx * dy).sum(1) / n
    return (2 * cov / (vx + vy + (mx - my) ** 2 + 1e-8)).mean()


def _rate_window(it, rng, stretch: float, voices: bool):
    """A training window of ``it`` at another speaking rate: up to SEQ frames read at a step
    of exp(U(-stretch, stretch)) source frames, features and target motion interpolated
    together (the loudness slope, per frame, scaled with them). Returns x, y and the loss
    mask (a frame counts where both source frames it mixes are good)."""
    f = float(np.exp(rng.uniform(-stretch, stretch)))
    m = min(it.n, int(SEQ * f))
    n = min(SEQ, int((m - 1) / f) + 1)
    s = int(rng.integers(0, it.n - m + 1)) if it.n > m else 0
    pos = np.minimum(s + np.arange(n) * f, it.n - 1)
    i0 = pos.astype(int)
    i1 = np.minimum(i0 + 1, it.n - 1)
    w = (pos - i0).astype(np.float32)[:, None]
    src = it.voices[int(rng.integers(len(it.voices))) if voices else 0]
    x = src[i0] * (1 - w) + src[i1] * w
    x[:, len(P.PHONES) + 1] *= f
    y = it.y[i0] * (1 - w) + it.y[i1] * w
    ok = np.asarray(it.valid, np.float32)
    return x, y, np.minimum(ok[i0], ok[i1])


def _batch(items, idx, rng, aug: bool, voices: bool = True, past: int = 0, future: int = 0,
           stretch: float = 0.0):
    """Training windows of SEQ frames, each with up to ``past`` / ``future`` frames of its
    clip's real features around it (what the network reads at inference inside a longer
    utterance; outside the clip: ``valid`` 0, as the utterance's ends at inference).
    Returns x (b, past + SEQ + future, n_in), valid (same frames), y (b, SEQ, 136), the
    neutral mouths and the loss mask (b, SEQ)."""
    b = len(idx)
    x = np.zeros((b, past + SEQ + future, items[0].x.shape[1]), np.float32)
    valid = np.zeros((b, past + SEQ + future), np.float32)
    y = np.zeros((b, SEQ, 136), np.float32)
    neu = np.zeros((b, 136), np.float32)
    mask = np.zeros((b, SEQ), np.float32)
    for j, i in enumerate(idx):
        it = items[i]
        if stretch and aug:  # another speaking rate (tried, not the shipped recipe; train: no window context)
            xi, yi, mi = _rate_window(it, rng, stretch, voices)
            n = len(yi)
            x[j, :n], valid[j, :n], y[j, :n], mask[j, :n], neu[j] = _augment(xi, rng), 1.0, yi, mi, it.neutral
            continue
        n = min(it.n, SEQ)
        s = int(rng.integers(0, it.n - n + 1)) if it.n > n else 0
        v = int(rng.integers(len(it.voices))) if aug and voices else 0
        a, e = max(0, s - past), min(it.n, s + n + future)
        xi = it.voices[v][a:e].copy()
        if aug:
            xi = _augment(xi, rng)
        o = past - (s - a)
        x[j, o:o + e - a], valid[j, o:o + e - a] = xi, 1.0
        y[j, :n], mask[j, :n] = it.y[s:s + n], it.valid[s:s + n]
        neu[j] = it.neutral
    return tuple(torch.from_numpy(t) for t in (x, valid, y, neu, mask))


def _augment(x, rng):
    """Recogniser confusions and level changes the phones and energy of unseen voices show."""
    nph = len(P.PHONES)
    ph = x[:, :nph]
    if rng.random() < 0.5:  # swap a share of the frames' phones for random ones
        k = rng.random(len(x)) < rng.uniform(0.05, 0.3)
        ph[k] = np.eye(nph, dtype=np.float32)[rng.integers(1, nph, k.sum())]
    if rng.random() < 0.3:  # blur the phone boundaries
        ph[1:-1] = 0.25 * ph[:-2] + 0.5 * ph[1:-1] + 0.25 * ph[2:]
    x[:, :nph] = ph
    x[:, nph] = x[:, nph] * rng.uniform(0.7, 1.3) + rng.normal(0, 0.15)
    x[:, nph + 2:] += rng.normal(0, 0.3, size=(1, x.shape[1] - nph - 2)).astype(np.float32)
    if rng.random() < 0.2:  # no spectral detail: energy and phones must do
        x[:, nph + 2:] = 0.0
    return x


def evaluate_items(model, basis, items, gain=1.0):
    """Per clip: opening correlation / amplitude ratio, and the loudness baseline."""
    rows = []
    for it in items:
        m = predict_motion(model, basis, it.x, gain)
        pred = close_mouth(it.norm[0], basis) + m  # the first frame as the portrait
        pts = pred.reshape(-1, 68, 2)
        po = inner_lip_opening(pts)
        rows.append({"clip": it.name, "speaker": it.speaker, "corr": lag_correlation(po, it.opening),
                     "ratio": amplitude_ratio(po, it.opening),
                     "width": lag_correlation(mouth_width(pts), mouth_width(it.norm.reshape(-1, 68, 2))),
                     "loud": lag_correlation(it.x[:, len(P.PHONES)], it.opening)})
    mean = {k: float(np.mean([r[k] for r in rows if r[k] is not None] or [np.nan]))
            for k in ("corr", "ratio", "width", "loud")}
    return {"clips": rows, "mean": mean}


def split(items, holdout: int = 50, holdout_speakers=()):
    """(train, held-out clips, held-out speakers). Of every folder prepared from GRID (items
    without a recorded speaker) ``holdout`` clips evenly spread over its sorted list are
    never trained on (GRID's 1000 clips of a speaker with 50: every 20th, the held-out rule);
    footage speakers named in ``holdout_speakers`` are left out whole (folds by speaker)."""
    held = set()
    for folder in {i.folder for i in items if not i.footage}:
        names = [i.name for i in items if not i.footage and i.folder == folder]
        held |= {(folder, n) for n in heldout(names, holdout)}
    out = set(holdout_speakers)
    tr = [i for i in items if (i.folder, i.name) not in held and i.speaker not in out]
    return tr, [i for i in items if (i.folder, i.name) in held], [i for i in items if i.speaker in out]


def train(data_dirs, run_dir, steps: int = 1500, batch: int = 32, lr: float = 2e-3, val_dirs=(),
          holdout: int = 50, seed: int = 0, echo=print, threads: int | None = None, resume: bool = False,
          ccc_weight: float = 0.5, eval_every: int = 500, voices: bool = True, bands: bool = True,
          norm: str = "layer", holdout_speakers=(), speaker_norm: bool = True, gain: float | None = None,
          tiers=None, lookahead: int | None = None, window_context: bool = False, stretch: float = 0.0,
          free_onsets=()):
    if stretch and window_context:
        raise ValueError("stretch and window_context cannot be combined: a stretched window has no context frames")
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    log = Log(run, 0, echo)
    t0 = time.time()
    items = load_items([Path(d) for d in ([data_dirs] if isinstance(data_dirs, (str, Path)) else data_dirs)], echo)
    if tiers is not None:  # footage of these tiers only (av_train's open/ or research/: the clip's first folder)
        items = [i for i in items if not i.footage or tier(i.name) in tiers]
    if free_onsets:
        n_free = free_onset(items, free_onsets)
        log(event="free_onsets", speakers=sorted(free_onsets), clips=n_free)
    tr, held, out = split(items, holdout, holdout_speakers)
    if not tr:
        raise ValueError(f"{data_dirs}: no prepared items; run talkface data prepare first")
    scales = speaker_scales(tr) if speaker_norm else {}
    for it in items:
        it.rescale(scales.get(it.speaker, 1.0))
    log(event="speakers", train=len({i.speaker for i in tr}), scales={k: round(v, 3) for k, v in scales.items()},
        held_out=sorted({i.speaker for i in out}))
    val = {"heldout": held, "speakers_out": out}
    for vd in val_dirs:
        val[Path(vd).name] = load_items([Path(vd)], echo)
    if not bands:  # experiment: phones and loudness only
        for it in items + [i for v in val.values() for i in v]:
            for v in it.voices:
                v[:, len(P.PHONES) + 2:] = 0.0
    log(event="data", train=len(tr), **{k: len(v) for k, v in val.items()}, seconds=round(time.time() - t0, 1))
    cfg = MouthNetConfig(n_in=tr[0].x.shape[1], norm=norm, lookahead=lookahead)  # lookahead: a live model
    ck = load_checkpoint(run) if resume else None
    if ck:
        basis = np.asarray(ck["basis"], np.float32)
    else:
        basis, var = fit_pca(tr, cfg.n_pca)
        log(event="pca", explained=[round(float(v), 4) for v in var])
    torch.manual_seed(seed)
    model = MouthNet(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    step = 0
    if ck:
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step = int(ck["step"])
        log(event="resume", step=step)
    bt = torch.from_numpy(basis)
    scale = 1.0 / float(np.concatenate([i.y for i in tr]).std())
    rng = np.random.default_rng(seed + step)
    weights = sampling_weights(tr)
    sched = lambda s: lr * (0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)) * 0.97 + 0.03)
    # window_context: each window also reads its clip's features around it (docs/lipsync.md:
    # tried, not the shipped recipe); else its edges are the network's zero padding
    past, future = (cfg.past, cfg.future) if window_context else (0, 0)
    while step < steps:
        model.train()
        x, valid, y, neu, mask = _batch(tr, rng.choice(len(tr), batch, p=weights), rng, aug=True, voices=voices,
                                        past=past, future=future, stretch=stretch)
        for g in opt.param_groups:
            g["lr"] = sched(step)
        c = model(x, valid if window_context else None)[:, past: past + SEQ]
        motion = c @ bt.T
        mse = (((motion - y) * scale) ** 2).mean(-1)
        mse = (mse * mask).sum() / mask.sum()
        o_p, o_t = _opening_t(neu[:, None] + motion), _opening_t(neu[:, None] + y)
        ccc = _ccc(o_p, o_t, mask)
        loss = mse + ccc_weight * (1 - ccc)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        step += 1
        if step % 100 == 0:
            log(step=step, mse=round(mse.item(), 4), ccc=round(ccc.item(), 4), lr=round(sched(step), 6))
        if step % eval_every == 0 or step == steps:
            res = {k: evaluate_items(model, basis, v)["mean"] for k, v in val.items() if v}
            log(step=step, event="val", **{f"{k}_{m}": round(v, 4) for k, r in res.items() for m, v in r.items()})
            save_checkpoint(run, {"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                                  "config": cfg.to_dict(), "basis": basis, "val": res})
    if gain is None:  # unseen speakers' spread when there are any, else held-out GRID clips
        gain = calibrate_gain(model, basis, out or held or tr[:50])
    log(event="gain", gain=round(gain, 4))
    res = {k: evaluate_items(model, basis, v, gain)["mean"] for k, v in val.items() if v}
    log(event="final", gain=gain, **{f"{k}_{m}": round(v, 4) for k, r in res.items() for m, v in r.items()})
    final = {"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "config": cfg.to_dict(),
             "basis": basis, "val": res, "gain": gain, "size": tr[0].size, "zoom": tr[0].zoom}
    save_checkpoint(run, final)
    save_checkpoint(run, final, "best.pt")  # what export takes: the calibrated final model
    return run


def calibrate_gain(model, basis, items) -> float:
    """The gain that makes the predicted opening spread as the real one (median over clips)."""
    r = [row["ratio"] for row in evaluate_items(model, basis, items)["clips"] if row["ratio"]]
    return float(1.0 / np.median(r)) if r else 1.0
