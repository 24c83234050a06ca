"""``talkface train vgnet``: VG-net with the paper's objective (docs/paper_facts.md#training).

Per step: a window of T consecutive aligned crops, their landmarks, and an example
frame + landmark drawn from the same clip. Discriminator: realness BCE + mouth-weighted
landmark regression on real and fake. Generator: 10 x dynamic pixel-wise loss (L1
weighted by the detached attention + 0.5) + BCE(D(fake), 1) + mouth-weighted landmark
MSE. Unlike the original, the ConvGRU recurs over time.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..face.shape import to_norm
from ..models import Discriminator, VGNet, get_config
from .common import Log, init_weights, load_checkpoint, save_checkpoint, setup_distributed, unwrap, wrap_ddp
from .data import list_items


def mouth_weights(n_points=68, device="cpu"):
    """(1,1,136): 100 on the y coordinates of points 48-67, 1 elsewhere (docs/paper_facts.md#training)."""
    m = torch.ones(1, 1, n_points * 2, device=device)
    m[..., 97:136:2] = 100.0
    return m


class VGData:
    def __init__(self, items):
        self.items = []
        for it in items:
            m = np.load(it / "meta.npz")
            frames = np.load(it / "frames.npy", mmap_mode="r")
            n = min(len(frames), len(m["points"]))
            self.items.append((frames, to_norm(m["points"][:n], int(m["size"])).astype(np.float32), n))
        self.size = self.items[0][0].shape[1]

    def sample(self, rng, batch, t):
        imgs, lms, exi, exl = [], [], [], []
        for _ in range(batch):
            frames, norm, n = self.items[rng.integers(len(self.items))]
            s = int(rng.integers(0, n - t + 1))
            r = int(rng.integers(0, n))
            clip = np.asarray(frames[s:s + t], np.float32)
            ex = np.asarray(frames[r], np.float32)
            # colour jitter shared by the example and the targets (identity variety)
            gain = rng.uniform(0.8, 1.2, size=3).astype(np.float32)
            bias = rng.uniform(-20, 20, size=3).astype(np.float32)
            clip = np.clip(clip * gain + bias, 0, 255)
            ex = np.clip(ex * gain + bias, 0, 255)
            imgs.append(clip)
            exi.append(ex)
            lms.append(norm[s:s + t])
            exl.append(norm[r])
        to = lambda a: torch.from_numpy(np.stack(a))
        x = to(imgs).permute(0, 1, 4, 2, 3) / 127.5 - 1
        e = to(exi).permute(0, 3, 1, 2) / 127.5 - 1
        return x.contiguous(), to(lms), e.contiguous(), to(exl)


def psnr(a, b):
    mse = F.mse_loss((a + 1) * 127.5, (b + 1) * 127.5).item()
    return 100.0 if mse == 0 else 20 * math.log10(255.0 / math.sqrt(mse))


@torch.inference_mode()
def validate(G, data: VGData, dev, t=8, n=8, seed=123):
    G.eval()
    rng = np.random.default_rng(seed)
    ps, l1 = [], []
    for _ in range(n):
        x, lm, e, el = data.sample(rng, 1, t)
        out, *_ = G(e.to(dev), lm.to(dev), el.to(dev))
        ps.append(psnr(out.cpu(), x))
        l1.append(float((out.cpu() - x).abs().mean()))
    return {"psnr": float(np.mean(ps)), "l1": float(np.mean(l1))}


def save_samples(path, x, out, alpha, k=4):
    import cv2

    k = min(k, x.shape[1])
    top = ((x[0, :k].permute(0, 2, 3, 1).cpu().numpy() + 1) * 127.5).clip(0, 255).astype(np.uint8)
    mid = ((out[0, :k].detach().permute(0, 2, 3, 1).cpu().numpy() + 1) * 127.5).clip(0, 255).astype(np.uint8)
    att = (alpha[0, :k, 0].detach().cpu().numpy() * 255).clip(0, 255).astype(np.uint8)
    att = np.repeat(att[..., None], 3, -1)
    grid = np.concatenate([np.concatenate(list(r), 1) for r in (top, mid, att)], 0)
    cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))


def train(data_dir, run_dir, config: str = "small", steps: int = 2000, batch: int = 4, t: int = 8,
          lr: float = 2e-4, device: str = "auto", resume: bool = False, holdout: int = 50, eval_every: int = 200,
          val_dirs=(), seed: int = 0, echo=print, threads: int | None = None, adversarial: bool = True):
    if threads:
        torch.set_num_threads(threads)
    from .atnet import split_items

    dev, rank, world = setup_distributed(device)
    run = Path(run_dir)
    (run / "samples").mkdir(parents=True, exist_ok=True)
    log = Log(run, rank, echo)
    tr, va = split_items(data_dir, holdout)
    if not tr:
        raise ValueError(f"{data_dir}: no prepared items; run talkface data prepare first")
    data = VGData(tr)
    vals = {"heldout": VGData(va)} if va else {}
    for vd in val_dirs:
        its = list_items(vd)
        if its:
            vals[Path(vd).name] = VGData(its)
    gcfg = get_config(config, "vgnet")
    dcfg = get_config(config, "discriminator")
    if gcfg.size != data.size:
        gcfg.size = dcfg.size = data.size
    torch.manual_seed(seed + rank)
    G, D = VGNet(gcfg), Discriminator(dcfg)
    G.apply(init_weights)
    optG = torch.optim.Adam(G.parameters(), lr=lr, betas=(0.5, 0.999))
    optD = torch.optim.Adam(D.parameters(), lr=lr, betas=(0.5, 0.999))
    step, best = 0, -1.0
    ck = load_checkpoint(run) if resume else None
    if ck:
        G.load_state_dict(ck["G"]), D.load_state_dict(ck["D"])
        optG.load_state_dict(ck["optG"]), optD.load_state_dict(ck["optD"])
        step, best = ck["step"], ck.get("best", -1.0)
        log(event="resume", step=step)
    G.to(dev), D.to(dev)
    dG, dD = wrap_ddp(G, dev, world), wrap_ddp(D, dev, world)
    M = mouth_weights(device=dev)
    bce = torch.nn.functional.binary_cross_entropy
    rng = np.random.default_rng(seed * 1000 + rank * 7919 + step)
    log(event="data", train=len(data.items), **{k: len(v.items) for k, v in vals.items()})
    t0 = time.time()
    while step < steps:
        G.train(), D.train()
        x, lm, e, el = [v.to(dev) for v in data.sample(rng, batch, t)]
        fake, alpha, color, att_p = dG(e, lm, el)
        ones = torch.ones(x.shape[0], device=dev)
        if adversarial:
            s_real, l_real = dD(x, el)
            s_fake, l_fake = dD(fake.detach(), el)
            lossD = (bce(s_real, ones) + bce(s_fake, 0 * ones)
                     + F.mse_loss(l_fake * M, lm * M) + F.mse_loss(l_real * M, lm * M))
            optD.zero_grad(set_to_none=True)
            lossD.backward()
            optD.step()
            for p in D.parameters():
                p.requires_grad_(False)
        pix = ((fake - x).abs() * (alpha.detach() + 0.5)).mean()
        lossG = 10 * pix
        if adversarial:
            s_f, l_f = dD(fake, el)
            lossG = lossG + bce(s_f, ones) + F.mse_loss(l_f * M, lm * M)
        optG.zero_grad(set_to_none=True)
        lossG.backward()
        optG.step()
        if adversarial:
            for p in D.parameters():
                p.requires_grad_(True)
        step += 1
        if step % 20 == 0:
            log(step=step, pix=float(pix), lossG=float(lossG), lossD=float(lossD) if adversarial else 0.0,
                sec_per_step=round((time.time() - t0) / 20, 3))
            t0 = time.time()
        if rank == 0 and step % 100 == 0:
            save_samples(run / "samples" / f"step{step:06d}.png", x, fake, alpha)
        if rank == 0 and (step % eval_every == 0 or step == steps):
            res = {k: validate(unwrap(dG), v, dev) for k, v in vals.items()}
            log(step=step, event="val", **{f"{k}_{m}": round(v, 4) for k, r in res.items() for m, v in r.items()})
            score = float(np.mean([r["psnr"] for r in res.values()])) if res else step
            state = {"G": unwrap(dG).state_dict(), "D": unwrap(dD).state_dict(), "optG": optG.state_dict(),
                     "optD": optD.state_dict(), "step": step, "config": gcfg.to_dict(), "config_name": config,
                     "dconfig": dcfg.to_dict(), "best": max(best, score), "val": res}
            save_checkpoint(run, state)
            if score >= best:
                best = score
                save_checkpoint(run, state, "best.pt")
    if world > 1:
        torch.distributed.destroy_process_group()
    return run
