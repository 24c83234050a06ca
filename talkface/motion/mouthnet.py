"""MouthNet: talkface's speaker-independent AT-net (docs/lipsync.md).

Input per 25 fps frame: phone occupancy from a many-voice phone recogniser, loudness and
its slope, utterance-normalised mel bands (:mod:`talkface.speech.phones`). A stack of dilated,
non-causal 1-D convolutions (about +-1.2 s of context: the mouth moves ahead of the sound
it makes) maps them to landmark-motion PCA coefficients relative to a closed, neutral
mouth; a calibrated gain keeps the spread of the motion at a real mouth's.

Prediction lives here: :func:`predict_motion` gives the (T, 136) motion in the weights'
normalised crop space, and :func:`predict_chunks` the landmarks, a chunk at a time. They
run :class:`NumpyMouthNet` (what ``talkface.weights.load`` builds: numpy, no torch) or the
torch module ``MouthNet`` that training uses (``talkface.train.networks.mouthnet``;
importing this module does not import torch).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np


@dataclass
class MouthNetConfig:
    n_in: int = 50
    n_pca: int = 10
    hidden: int = 128
    kernel: int = 5
    dilations: tuple = (1, 2, 4, 8, 1)
    dropout: float = 0.1
    norm: str = "layer"  # "layer": per frame; "group": over the whole utterance (one pass)
    # frames the output may look ahead, all blocks together (None: symmetric, +-context);
    # a live model (talkface.live) has full past context and a short look-ahead
    lookahead: int | None = None
    # networks of this layout, trained alike with other seeds, whose outputs are averaged
    # (NumpyMouthNet; their state-dict names prefixed "members.<i>.")
    members: int = 1

    @property
    def context(self) -> int:
        """Frames of context on the wider side (each side for the symmetric model)."""
        return max(self.past, self.future)

    def pads(self) -> list[tuple[int, int]]:
        """(left, right) zero padding of each block's convolution: symmetric, or with
        ``lookahead`` frames of right padding given to the first blocks (each at most its
        half span), the rest of each block's span on the left."""
        half = [d * (self.kernel - 1) // 2 for d in self.dilations]
        if self.lookahead is None:
            return [(h, h) for h in half]
        if not 0 <= self.lookahead <= sum(half):
            raise ValueError(f"lookahead {self.lookahead}: give 0..{sum(half)} frames")
        out, left = [], int(self.lookahead)
        for h in half:
            r = min(left, h)
            left -= r
            out.append((2 * h - r, r))
        return out

    @property
    def past(self) -> int:
        """Frames of past context an output frame reads."""
        return sum(a for a, _ in self.pads())

    @property
    def future(self) -> int:
        """Frames of look-ahead an output frame reads."""
        return sum(b for _, b in self.pads())

    def to_dict(self):
        from dataclasses import asdict

        return asdict(self)

    @classmethod
    def from_dict(cls, d):
        d = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**d)


# ----------------------------------------------------------------------------- numpy inference
EPS = 1e-5  # LayerNorm's and GroupNorm's


def _phi_table(lo: int = -8, per_unit: int = 32) -> tuple[int, int, list[np.ndarray]]:
    """The normal CDF Phi(x) = (1 + erf(x / sqrt 2)) / 2 on [lo, -lo] as one cubic per
    1/``per_unit`` step (Hermite: exact values and slopes at the knots, from ``math.erf``;
    interpolation error below 1e-8): its four coefficient columns, float32. Numpy has no
    erf, and scipy.special takes 0.3 s to import."""
    x = lo + np.arange(-2 * lo * per_unit + 1, dtype=np.float64) / per_unit
    v = np.array([0.5 * (1.0 + math.erf(t / math.sqrt(2.0))) for t in x])
    d = np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi) / per_unit  # slope per step
    v0, v1, d0, d1 = v[:-1], v[1:], d[:-1], d[1:]
    cols = [v0, d0, 3 * (v1 - v0) - 2 * d0 - d1, 2 * (v0 - v1) + d0 + d1]
    return lo, per_unit, [np.ascontiguousarray(c, np.float32) for c in cols]


_PHI = _phi_table()


def gelu(x: np.ndarray) -> np.ndarray:
    """Exact GELU, x * Phi(x) (torch's ``nn.GELU()``, not the tanh form), in float32 to
    within float32 rounding (5e-7 on [-12, 12]; torch's own is 4e-7 from the exact value)."""
    lo, per_unit, (c0, c1, c2, c3) = _PHI
    x = np.asarray(x, np.float32)
    v = np.clip(x, lo, -lo) * np.float32(per_unit)  # exact: a power of two
    f = np.floor(v)
    t = v - f  # exact too: the position within the step
    i = f.astype(np.intp)
    i -= lo * per_unit
    np.clip(i, 0, len(c0) - 1, out=i)  # x = -lo: the last cubic at t = 1 (NaN stays NaN: phi * x)
    phi = np.take(c3, i)
    for c in (c2, c1, c0):  # Horner
        phi *= t
        phi += np.take(c, i)
    phi *= x
    return phi


class NumpyMouthNet:
    """MouthNet's forward pass in numpy (float32): what :func:`predict_motion` runs for
    ``talkface generate``, so MouthNet weights need no torch. Built from the torch
    module's state dict (:meth:`from_state_dict`, :meth:`from_torch`); ``basis``, ``gain``
    and ``extra`` are set by ``talkface.weights`` as on the torch module."""

    def __init__(self, cfg: MouthNetConfig, inp, blocks, out, members: list | None = None):
        self.cfg = cfg
        self.inp, self.blocks, self.out = inp, blocks, out  # (W.T, b); per block (taps, b, gamma, beta)
        self.members = members or []  # an ensemble (cfg.members > 1): its networks, averaged
        self.basis: np.ndarray | None = None
        self.gain = 1.0
        self.extra: dict = {}

    @property
    def context(self) -> int:
        """Frames of context on each side."""
        return self.cfg.context

    @classmethod
    def keys(cls, cfg: MouthNetConfig) -> dict[str, tuple]:
        """State-dict names and shapes of ``cfg``'s MouthNet (an ensemble's: each member's,
        prefixed ``members.<i>.``)."""
        if cfg.members > 1:
            one = cls.keys(replace(cfg, members=1))
            return {f"members.{m}.{k}": v for m in range(cfg.members) for k, v in one.items()}
        h = cfg.hidden
        k = {"inp.weight": (h, cfg.n_in, 1), "inp.bias": (h,),
             "out.weight": (cfg.n_pca, h, 1), "out.bias": (cfg.n_pca,)}
        for i in range(len(cfg.dilations)):
            k.update({f"blocks.{i}.conv.weight": (h, h, cfg.kernel), f"blocks.{i}.conv.bias": (h,),
                      f"blocks.{i}.norm.weight": (h,), f"blocks.{i}.norm.bias": (h,)})
        return k

    @classmethod
    def from_state_dict(cls, sd: dict, cfg: MouthNetConfig | None = None) -> NumpyMouthNet:
        """From MouthNet's state dict (numpy arrays or torch tensors); ValueError naming the
        missing, unexpected or misshapen names when it is not ``cfg``'s."""
        cfg = cfg or MouthNetConfig()
        want = cls.keys(cfg)
        if cfg.members > 1:
            unexpected = [k for k in sd if k not in want]
            if unexpected:
                raise ValueError(f"unexpected {unexpected[:3]}")
            one = replace(cfg, members=1)
            nets = [cls.from_state_dict({k[len(f"members.{m}."):]: v for k, v in sd.items()
                                         if k.startswith(f"members.{m}.")}, one) for m in range(cfg.members)]
            return cls(cfg, None, None, None, nets)
        missing = [k for k in want if k not in sd]
        unexpected = [k for k in sd if k not in want]
        if missing or unexpected:
            raise ValueError(f"missing {missing[:3]}, unexpected {unexpected[:3]}")
        a = {k: np.asarray(v, np.float32) for k, v in sd.items()}
        bad = [f"{k} {a[k].shape} != {want[k]}" for k in want if a[k].shape != want[k]]
        if bad:
            raise ValueError(f"wrong shapes: {bad[:3]}")

        def tap_major(w):  # (out, in, k) -> (k * in, out): one matmul over the stacked taps
            return np.ascontiguousarray(w.transpose(2, 1, 0).reshape(-1, w.shape[0]))

        blocks = [(tap_major(a[f"blocks.{i}.conv.weight"]), a[f"blocks.{i}.conv.bias"], a[f"blocks.{i}.norm.weight"],
                   a[f"blocks.{i}.norm.bias"]) for i in range(len(cfg.dilations))]
        return cls(cfg, (tap_major(a["inp.weight"]), a["inp.bias"]), blocks,
                   (tap_major(a["out.weight"]), a["out.bias"]))

    @classmethod
    def from_torch(cls, model) -> NumpyMouthNet:
        """The numpy twin of a torch :class:`MouthNet` (its basis, gain and extra too)."""
        net = cls.from_state_dict({k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}, model.cfg)
        for name in ("basis", "gain", "extra"):
            if hasattr(model, name):
                setattr(net, name, getattr(model, name))
        return net

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """(T, n_in) -> (T, n_pca), as the torch module in eval mode (no dropout); an
        ensemble's: the mean of its members'."""
        x = np.asarray(x, np.float32)
        if self.members:
            return (sum(m(x) for m in self.members) / len(self.members)).astype(np.float32)
        w, b = self.inp
        h = x @ w + b
        k, group = self.cfg.kernel, self.cfg.norm == "group"
        for (taps, bias, gamma, beta), dil, pad in zip(self.blocks, self.cfg.dilations, self.cfg.pads()):
            hp = np.pad(h, (pad, (0, 0)))
            n = len(hp) - dil * (k - 1)  # Conv1d's output length (= T for an odd kernel)
            c = np.concatenate([hp[j * dil: j * dil + n] for j in range(k)], axis=1) @ taps + bias
            # LayerNorm: over the channels of each frame; GroupNorm(1): over the whole utterance
            mu = c.mean(dtype=np.float64) if group else c.mean(1, keepdims=True)
            c = c - np.float32(mu)
            var = np.float32((c * c).mean(dtype=np.float64)) if group else (c * c).mean(1, keepdims=True)
            c = c / np.sqrt(var + EPS) * gamma + beta
            h = h + gelu(c)
        w, b = self.out
        return (h @ w + b).astype(np.float32)


def smooth(x: np.ndarray) -> np.ndarray:
    """[1 2 1]/4 along time: removes frame-to-frame jitter, keeps a 3-frame closure."""
    if len(x) < 3:
        return x
    p = np.concatenate([x[:1], x, x[-1:]])
    return (p[:-2] + 2 * p[1:-1] + p[2:]) / 4.0


LOUD, SIL = 40, 0  # columns of the normalised loudness and of silence in talkface.speech.phones' features
LEAD, LAG = 12, 5  # frames the mouth may move before the sound starts and after it ends


def speech_gate(feats: np.ndarray, lead: int = LEAD, lag: int = LAG) -> np.ndarray:
    """(T,) 0..1: 0 in pauses, 1 near speech. A frame is silent when the recogniser hears
    silence there and it is quiet (loudness more than about 2.2 spreads below the speech
    level); the gate opens LEAD frames (0.48 s) before speech and closes LAG frames (0.2 s)
    after it, with soft edges. The motion is multiplied by it, so the lips rest closed in
    pauses whatever the model makes of them. Most speakers part their lips to breathe in
    before a sentence, and the network predicts it: a lead of 0.32 s cut it off (measured on
    av_train's open speakers and held-out GRID s1, docs/lipsync.md, "The breath before a
    sentence"). ``lead``, ``lag``: other reaches (talkface.live: a lead within its short
    look-ahead)."""
    f = np.asarray(feats, np.float32)
    act = np.maximum(np.clip((f[:, LOUD] + 2.2) / 0.6, 0.0, 1.0), np.clip((0.8 - f[:, SIL]) / 0.5, 0.0, 1.0))
    n = len(act)
    pad = np.concatenate([np.zeros(lag, np.float32), act, np.zeros(lead, np.float32)])
    held = np.max(np.stack([pad[i:i + n] for i in range(lag + lead + 1)]), 0)
    k = np.array([1, 2, 3, 2, 1], np.float32) / 9
    return np.convolve(np.pad(held, 2, mode="edge"), k, mode="valid")


# noisy and reverberant speech: the network's motion shrinks (the recogniser hears less of
# it), by about 0.68 % per dB that the audio's level range (talkface.speech.phones.level_range)
# falls short of 37 dB; fitted on held-out GRID s1 and av_train open/ clips mixed with noise
# and reverberation, not on validation clips (docs/lipsync.md, "Noisy speech")
NOISE_KNEE_DB, NOISE_GAIN_PER_DB, NOISE_FLOOR_DB = 37.0, 0.0068, 10.0


def noise_gain(level_range: float | None) -> float:
    """The factor on the motion that makes up for the shrinking in noise: 1 for clean audio
    (a level range of NOISE_KNEE_DB or more) or an unknown range, up to 1.18 at a range of
    NOISE_FLOOR_DB (white noise at about 2 dB SNR)."""
    if level_range is None or not np.isfinite(level_range):
        return 1.0
    short = min(max(NOISE_KNEE_DB - float(level_range), 0.0), NOISE_KNEE_DB - NOISE_FLOOR_DB)
    return 1.0 + NOISE_GAIN_PER_DB * short


FADE_IN = 3  # frames over which the motion fades in at an utterance's start


def fade_in(start: int, n: int) -> np.ndarray:
    """(n,) weights of an utterance's frames ``start``.. ``start + n``: 1/4, 1/2, 3/4 for its
    first FADE_IN frames, then 1. The first frame is the portrait as it is; and where speech
    starts at once, the network's first frames read its zero padding, which a model trained
    on windows cut from long footage can read as an open mouth (0.10 inter-ocular distances
    in frame 0 of an espeak-ng sentence, its largest opening)."""
    k = np.arange(start, start + n, dtype=np.float32)
    return np.minimum(1.0, (k + 1) / (FADE_IN + 1)).astype(np.float32)


def predict_motion(model, basis: np.ndarray, feats: np.ndarray, gain: float = 1.0,
                   device="cpu", chunk: int = 3000, start: int = 0) -> np.ndarray:
    """(T, 136) landmark motion (normalised crop units) from (T, n_in) speech features,
    gated by :func:`speech_gate` and faded in at the utterance's start (:func:`fade_in`;
    ``start``: the index of ``feats[0]`` in its utterance). ``model``: a :class:`NumpyMouthNet`
    (no torch; ``device`` is then unused) or a torch :class:`MouthNet` (run on ``device``).
    Long audio runs in overlapping chunks, so memory stays flat; the result equals one pass."""
    ctx = model.context
    if model.cfg.norm == "group":  # utterance statistics: one pass (15 MB of activations per 20 min)
        chunk = max(chunk, len(feats))
    b = np.asarray(basis, np.float32)
    n = len(feats)
    if n == 0:
        return np.zeros((0, b.shape[0]), np.float32)
    run = model if isinstance(model, NumpyMouthNet) else _torch_forward(model, device)
    outs = []
    for s in range(0, n, chunk):
        a, e = max(0, s - ctx), min(n, s + chunk + ctx)
        c = run(np.ascontiguousarray(feats[a:e], np.float32))[s - a: s - a + min(chunk, n - s)]
        outs.append(c @ b.T)
    m = smooth(np.concatenate(outs)) * (speech_gate(feats) * fade_in(start, n))[:, None]
    return (m * gain).astype(np.float32)


def _torch_forward(model, device):
    """(T, n_in) numpy -> (T, n_pca) numpy through a torch MouthNet in eval mode."""
    import torch

    model.eval()

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(x).to(device)[None])[0].float().cpu().numpy()

    return run


CLOSED = 0.01  # inner-lip opening of a closed mouth, inter-ocular distances


def _signed_gap(flat: np.ndarray) -> float:
    """Inner-lip gap (lower minus upper lip, negative when they would cross) over the
    inter-ocular distance."""
    p = flat.reshape(68, 2)
    gap = np.mean(p[[67, 66, 65], 1] - p[[61, 62, 63], 1])
    return float(gap / max(np.linalg.norm(p[45] - p[36]), 1e-6))


def close_mouth(ref_norm: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """The portrait's points with its mouth closed, when the portrait shows it open (a
    photo taken mid-sentence): the motion is relative to a closed mouth, so it is added to
    this, and pauses show closed lips. The mouth is closed along the motion basis' own
    jaw-and-lip direction (its first component), so the jaw rises with the lips."""
    ref = np.asarray(ref_norm, np.float32).reshape(-1)
    g0 = _signed_gap(ref)
    if g0 <= CLOSED * 2:
        return ref
    b = np.asarray(basis, np.float32)[:, 0]
    d = -b if _signed_gap(ref + 0.01 * b) > g0 else b  # the sign that closes it
    lo, hi = 0.0, 0.0
    step = 0.01
    while _signed_gap(ref + hi * d) > CLOSED and hi < 2.0:  # bracket, then bisect
        lo, hi = hi, hi + step
        step *= 2
    for _ in range(30):
        mid = (lo + hi) / 2
        if _signed_gap(ref + mid * d) > CLOSED:
            lo = mid
        else:
            hi = mid
    return (ref + hi * d).astype(np.float32)


def motion_chunks(model, basis: np.ndarray, feats, gain: float = 1.0, device="cpu", first: int = 50,
                  chunk: int = 200):
    """:func:`predict_motion`, a chunk of frames at a time (``first`` frames, then ``chunk``):
    each from a window of the features reaching far enough past it on both sides (the
    network's context, the smoothing and the speech gate's reach) that it equals one pass.
    ``feats`` may be a :class:`talkface.speech.phones.SpeechStream`, whose later frames are still
    being recognised: each chunk reads only the frames it needs."""
    n = len(feats)
    if model.cfg.norm == "group":  # utterance statistics: one pass over all of it
        m = predict_motion(model, basis, np.asarray(feats[0:n], np.float32), gain, device)
        for s in range(0, n, chunk):
            yield m[s:s + chunk]
        return
    margin = model.context + 1 + max(LEAD, LAG) + 2
    s = 0
    while s < n:
        e = min(n, s + (first if s == 0 else chunk))
        a, b = max(0, s - margin), min(n, e + margin)
        yield predict_motion(model, basis, np.asarray(feats[a:b], np.float32), gain, device, start=a)[s - a:e - a]
        s = e


def predict_chunks(model, basis: np.ndarray, ref_norm: np.ndarray, feats, gain: float = 1.0,
                   device="cpu", first: int = 50, chunk: int = 200):
    """Landmarks (k, 136) a chunk at a time: the portrait's points (mouth closed) plus the
    motion (:func:`motion_chunks`)."""
    ref = close_mouth(ref_norm, basis).reshape(1, -1)
    for m in motion_chunks(model, basis, feats, gain, device, first, chunk):
        yield ref + m
