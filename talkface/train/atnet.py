"""``talkface train atnet``: AT-net on prepared clips (docs/paper_facts.md#training).

Objective: MSE on landmark PCA coefficients. talkface's AT-net predicts the motion of
each frame relative to a reference frame of the same clip (``(n_t - n_ref) @ U``), given
the reference's coefficients, so at inference the motion is added to the portrait's own
landmarks. Head motion is removed from the targets (``stabilise``). The audio is made
voice-independent by per-utterance feature normalisation and on-the-fly augmentation:
vocal-tract-length warps, tempo changes and additive noise at random SNR.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch

from ..face.shape import MOUTH, mouth_error
from ..motion.atnet import ATNet, predict
from ..motion.baseline import loudness_baseline
from ..motion.pca import LandmarkPCA
from ..speech import audio as A
from ..weights.configs import get_config
from .common import Log, init_weights, load_checkpoint, save_checkpoint, setup_distributed, unwrap, wrap_ddp
from .data import heldout, list_items, read_item

T_WIN = 16


class Clip:
    """One prepared item, reduced to what AT-net needs."""

    def __init__(self, item: Path):
        it = read_item(item)
        self.name, self.size, self.zoom = it.name, it.size, it.zoom
        self.n = min(len(it.norm), A.n_frames_for(it.wav.size))
        self.norm = it.norm[: self.n]  # (n, 136)
        self.pspec = A.power_spectrum(A.pad(it.wav)).astype(np.float32)
        self.loud = A.loudness(it.wav, self.n)

    def feats(self, rng=None, aug: bool = False):
        """(n, 28, 12) windows and the (n, 136) landmarks, optionally augmented."""
        pspec, norm, n = self.pspec, self.norm, self.n
        warp = 1.0
        if aug:
            tempo = rng.uniform(0.88, 1.12)
            if abs(tempo - 1) > 0.01:
                rows = np.clip(np.round(np.arange(0, len(pspec) / tempo) * tempo).astype(int), 0, len(pspec) - 1)
                pspec = pspec[rows]
                n = max(T_WIN + 1, int(self.n / tempo))
                src = np.clip(np.arange(n) * tempo, 0, self.n - 1)
                lo = np.floor(src).astype(int)
                hi = np.minimum(lo + 1, self.n - 1)
                w = (src - lo)[:, None]
                norm = (self.norm[lo] * (1 - w) + self.norm[hi] * w).astype(np.float32)
            warp = rng.uniform(0.82, 1.22)
            if rng.random() < 0.6:  # additive noise in the power domain
                snr = rng.uniform(5, 35)
                level = float(np.mean(pspec)) / (10 ** (snr / 10))
                tilt = np.linspace(1.0, rng.uniform(0.1, 1.0), pspec.shape[1])[None].astype(np.float32)
                noise = rng.exponential(1.0, size=pspec.shape).astype(np.float32) * level * tilt
                pspec = pspec + noise
        f = A.mfcc_from_power(pspec, warp=warp)
        return A.windows(f, n), norm, n


def fit_pca(clips, k):
    d = np.concatenate([c.norm - np.median(c.norm, 0) for c in clips])
    mean = np.concatenate([c.norm for c in clips]).mean(0)
    _, s, vt = np.linalg.svd(d - d.mean(0), full_matrices=False)
    var = s ** 2 / (s ** 2).sum()
    return LandmarkPCA(mean, vt[:k].T), var[:k]


def fit_loudness_baseline(clips):
    """Least-squares mouth motion = a + b * loudness (per-utterance standardised dB)."""
    xs, ys = [], []
    for c in clips:
        l = (c.loud - c.loud.mean()) / max(c.loud.std(), 1e-3)
        ref = c.norm[0].reshape(68, 2)[MOUTH].reshape(-1)
        xs.append(np.stack([np.ones_like(l), l], 1))
        ys.append(c.norm.reshape(-1, 68, 2)[:, MOUTH].reshape(len(l), -1) - ref)
    X, Y = np.concatenate(xs), np.concatenate(ys)
    coef, *_ = np.linalg.lstsq(X, Y, rcond=None)
    return coef  # (2, 40)


def evaluate_clips(model, pca, clips, coef, device="cpu"):
    """Mouth error (per point, centred) in the paper's 128 px crop for AT-net and the baselines."""
    rows = []
    for c in clips:
        f, norm, n = c.feats()
        ref = norm[0]
        px = 128.0 / c.zoom  # norm units -> pixels of the paper's 128 px crop
        pred = predict(model, pca, ref, f, device)
        rows.append({
            "clip": c.name,
            "atnet": mouth_error(pred, norm, px),
            "static": mouth_error(np.repeat(ref[None], n, 0), norm, px),
            "loudness": mouth_error(loudness_baseline(coef, ref, c.loud), norm, px),
            "atnet_norm": mouth_error(pred, norm),
            "static_norm": mouth_error(np.repeat(ref[None], n, 0), norm),
            "loudness_norm": mouth_error(loudness_baseline(coef, ref, c.loud), norm),
        })
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "clip"} if rows else {}
    return {"clips": rows, "mean": mean}


def split_items(data_dir, holdout: int):
    items = list_items(data_dir)
    val = heldout(items, holdout)
    vs = set(val)
    return [i for i in items if i not in vs], val


def train(data_dir, run_dir, config: str = "small", steps: int = 6000, batch: int = 32, lr: float = 2e-4,
          device: str = "auto", resume: bool = False, val_dirs=(), holdout: int = 50, eval_every: int = 500,
          seed: int = 0, echo=print, threads: int | None = None):
    if threads:
        torch.set_num_threads(threads)
    dev, rank, world = setup_distributed(device)
    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    log = Log(run, rank, echo)
    tr_items, va_items = split_items(data_dir, holdout)
    if not tr_items:
        raise ValueError(f"{data_dir}: no prepared items; run talkface data prepare first")
    t0 = time.time()
    clips = [Clip(i) for i in tr_items]
    val = {"heldout": [Clip(i) for i in va_items]}
    for vd in val_dirs:
        val[Path(vd).name] = [Clip(i) for i in list_items(vd)]
    log(event="data", train=len(clips), **{k: len(v) for k, v in val.items()}, seconds=round(time.time() - t0, 1))
    cfg = get_config(config, "atnet")
    ck = load_checkpoint(run) if resume else None
    if ck:
        pca = LandmarkPCA(ck["pca_mean"], ck["pca_basis"])
        coef = ck["loud_coef"]
    else:
        pca, var = fit_pca(clips, cfg.n_pca)
        coef = fit_loudness_baseline(clips)
        log(event="pca", explained=[round(float(v), 4) for v in var])
    torch.manual_seed(seed + rank)
    model = ATNet(cfg)
    model.apply(init_weights)
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.5, 0.999))
    step = 0
    if ck:
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step = ck["step"]
        log(event="resume", step=step)
    model.to(dev)
    dmodel = wrap_ddp(model, dev, world)
    basis = torch.from_numpy(pca.basis).to(dev)
    rng = np.random.default_rng(seed * 1000 + rank * 7919 + step)
    sched = lambda s: lr * (0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)) * 0.95 + 0.05)
    best = ck.get("best", float("inf")) if ck else float("inf")
    while step < steps:
        model.train()
        xs, cr, ys = [], [], []
        per_clip = 4  # windows drawn from each augmented clip
        for _ in range(max(1, batch // per_clip)):
            c = clips[rng.integers(len(clips))]
            f, norm, n = c.feats(rng, aug=True)
            for _ in range(per_clip):
                s = int(rng.integers(0, n - T_WIN + 1))
                ref = norm[int(rng.integers(0, n))]
                xs.append(f[s:s + T_WIN])
                cr.append(pca.project(ref)[0])
                ys.append(norm[s:s + T_WIN] - ref)
        x = torch.from_numpy(np.stack(xs)).to(dev)
        c_ref = torch.from_numpy(np.stack(cr)).to(dev)
        y = torch.from_numpy(np.stack(ys)).to(dev) @ basis
        for g in opt.param_groups:
            g["lr"] = sched(step)
        pred, _ = dmodel(c_ref + 0.02 * torch.randn_like(c_ref), x)
        loss = torch.nn.functional.mse_loss(pred, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % 50 == 0:
            log(step=step, loss=float(loss), lr=sched(step))
        if rank == 0 and (step % eval_every == 0 or step == steps):
            res = {k: evaluate_clips(model, pca, v, coef, dev)["mean"] for k, v in val.items() if v}
            log(step=step, event="val", **{f"{k}_{m}": round(v, 4) for k, r in res.items() for m, v in r.items()})
            score = np.mean([r["atnet"] for r in res.values()]) if res else -step
            state = {"model": unwrap(dmodel).state_dict(), "opt": opt.state_dict(), "step": step,
                     "config": cfg.to_dict(), "config_name": config, "pca_mean": pca.mean, "pca_basis": pca.basis,
                     "loud_coef": coef, "best": min(best, score), "val": res,
                     "zoom": clips[0].zoom, "size": clips[0].size}
            save_checkpoint(run, state)
            if score <= best:
                best = score
                save_checkpoint(run, state, "best.pt")
    if world > 1:
        torch.distributed.destroy_process_group()
    return run
