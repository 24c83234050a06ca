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

from ..weights.configs import get_config
from .common import Log, init_weights, load_checkpoint, save_checkpoint, setup_distributed, unwrap, wrap_ddp
from .data import list_items
from .networks.discriminator import Discriminator
from .vgnet_data import VGData


def mouth_weights(n_points=68, device="cpu"):
    """(1,1,136): 100 on the y coordinates of points 48-67, 1 elsewhere (docs/paper_facts.md#training)."""
    m = torch.ones(1, 1, n_points * 2, device=device)
    m[..., 97:136:2] = 100.0
    return m


def mouth_mask(lm, size: int, margin: float = 0.06):
    """(N, 136) normalised landmarks -> (N, 1, size, size) boxes around the lips and chin
    (points 48-67 and 5-11) grown by ``margin`` x size."""
    p = lm.reshape(lm.shape[0], 68, 2)
    q = torch.cat([p[:, 48:68], p[:, 5:12]], 1) * size + size / 2.0
    lo, hi = q.amin(1) - margin * size, q.amax(1) + margin * size  # (N, 2)
    ax = torch.arange(size, device=lm.device, dtype=lm.dtype) + 0.5
    inx = (ax.view(1, -1) >= lo[:, :1]) & (ax.view(1, -1) <= hi[:, :1])
    iny = (ax.view(1, -1) >= lo[:, 1:]) & (ax.view(1, -1) <= hi[:, 1:])
    return (iny[:, :, None] & inx[:, None, :]).to(lm.dtype)[:, None]


def mouth_boxes(lm, el, size: int):
    """The lips/chin boxes of each frame's landmarks ``lm`` (B, T, 136) and of its example's
    ``el`` (B, 136), united: (B*T, 1, size, size). The mouth term's region: a copied
    reference keeps its old mouth in the example's box, the new mouth lies in the frame's."""
    b, t = lm.shape[:2]
    return torch.maximum(mouth_mask(lm.reshape(b * t, -1), size),
                         mouth_mask(el[:, None].expand(-1, t, -1).reshape(b * t, -1), size))


def windows(G, x, lm, e, el, rng, shift: int = 6, lm_in=None):
    """The maps VG-net on per-frame windows (training): each frame's window is centred on its
    own input lips/chin (``shift`` pixels of random offset), so the loss sees exactly what
    the network draws. ``lm_in``: the landmarks the network is given, when not the
    tracked ``lm`` (the mouth term's box then covers both). Returns (fake, alpha, real,
    mouth mask), each (N, c, h, w)."""
    from ..render.vgnet_maps import feather, landmark_maps, mouth_window

    b, t = lm.shape[:2]
    n, size = b * t, x.shape[-1]
    mask = mouth_boxes(lm, el, size)
    if lm_in is not None:
        mask = torch.maximum(mask, mouth_boxes(lm_in, el, size))
        lm = lm_in
    lmf = lm.reshape(n, -1)
    elf = el[:, None].expand(-1, t, -1).reshape(n, -1)
    img = e[:, None].expand(-1, t, -1, -1, -1).reshape(n, 3, size, size)
    real = x.reshape(n, 3, size, size)
    maps, rmaps = landmark_maps(lmf, size), landmark_maps(elf, size)
    cut: dict[str, list] = {k: [] for k in ("img", "rmaps", "maps", "real", "mask", "fade")}
    for i in range(n):
        y0, x0, h, w = mouth_window(lmf[i], size, G.cfg.window)
        dy, dx = (int(v) for v in rng.integers(-shift, shift + 1, 2))
        y0, x0 = min(max(y0 + dy, 0), size - h), min(max(x0 + dx, 0), size - w)
        sl = (slice(None), slice(y0, y0 + h), slice(x0, x0 + w))
        for k, v in (("img", img), ("rmaps", rmaps), ("maps", maps), ("real", real), ("mask", mask)):
            cut[k].append(v[i][sl])
        cut["fade"].append(feather((y0, x0, h, w), size, x.device, x.dtype)[0])
    c = {k: torch.stack(v) for k, v in cut.items()}
    color, alpha = G.forward_window(c["img"], c["rmaps"], c["maps"], c["fade"])
    return alpha * color + (1 - alpha) * c["img"], alpha, c["real"], c["mask"]


def psnr(a, b):
    mse = F.mse_loss((a + 1) * 127.5, (b + 1) * 127.5).item()
    return 100.0 if mse == 0 else 20 * math.log10(255.0 / math.sqrt(mse))


@torch.inference_mode()
def validate(G, data: VGData, dev, t=8, n=16, seed=123):
    """Ground-truth landmarks -> frames, against the real frames: PSNR and L1 over the
    crop, L1 inside the lips/chin box (``mouth_l1``) next to that of the example frame
    copied as it is (``still_mouth_l1``: a collapsed VG-net scores the same), and the mean
    attention inside and outside that box."""
    G.eval()
    rng = np.random.default_rng(seed)
    ps, l1, ml, sl, ai, ao = [], [], [], [], [], []
    for _ in range(n):
        x, lm, e, el = data.sample(rng, 1, t)
        out, alpha, *_ = G(e.to(dev), lm.to(dev), el.to(dev))
        out, alpha = out.cpu()[0], alpha.cpu()[0]
        m = mouth_mask(lm[0], x.shape[-1])
        area = float(m.sum()) * 3
        ps.append(psnr(out, x[0]))
        l1.append(float((out - x[0]).abs().mean()))
        ml.append(float(((out - x[0]).abs() * m).sum()) / area)
        sl.append(float(((e - x[0]).abs() * m).sum()) / area)
        ai.append(float((alpha * m).sum() / m.sum()))
        ao.append(float((alpha * (1 - m)).sum() / (1 - m).sum()))
    res = {"psnr": float(np.mean(ps)), "l1": float(np.mean(l1)), "mouth_l1": float(np.mean(ml)),
           "still_mouth_l1": float(np.mean(sl)), "att_in": float(np.mean(ai)), "att_out": float(np.mean(ao))}
    if data.motion and data.motion[0] is not None:  # driven as generate drives it: against a still frame
        rng = np.random.default_rng(seed)
        pp, sp = [], []
        for _ in range(n):
            x, lm, e, el, li = data.sample(rng, 1, t, predicted=1.0)
            out, *_ = G(e.to(dev), li.to(dev), el.to(dev))
            for i in range(t):
                still = psnr(e[0], x[0, i])
                if still < 60:  # the example frame itself is not a test
                    pp.append(psnr(out.cpu()[0, i], x[0, i]))
                    sp.append(still)
        res.update(pred_psnr=float(np.mean(pp)), still_psnr=float(np.mean(sp)))
    return res


def save_samples(path, x, out, alpha, k=4):
    import cv2

    if x.dim() == 4:  # (N, C, H, W) windows: one row of N
        x, out, alpha = x[None], out[None], alpha[None]
    k = min(k, x.shape[1])
    top = ((x[0, :k].permute(0, 2, 3, 1).cpu().numpy() + 1) * 127.5).clip(0, 255).astype(np.uint8)
    mid = ((out[0, :k].detach().permute(0, 2, 3, 1).cpu().numpy() + 1) * 127.5).clip(0, 255).astype(np.uint8)
    att = (alpha[0, :k, 0].detach().cpu().numpy() * 255).clip(0, 255).astype(np.uint8)
    att = np.repeat(att[..., None], 3, -1)
    grid = np.concatenate([np.concatenate(list(r), 1) for r in (top, mid, att)], 0)
    cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))


RECIPES = ("original", "mouth")


def train(data_dir, run_dir, config: str = "small", steps: int = 2000, batch: int = 4, t: int = 8,
          lr: float = 2e-4, device: str = "auto", resume: bool = False, holdout: int = 50, eval_every: int = 200,
          val_dirs=(), seed: int = 0, echo=print, threads: int | None = None, adversarial: bool | None = None,
          recipe: str = "original", minutes: float | None = None, init: dict | None = None,
          progress=None, mouth_weight: float = 10.0, jitter: float | None = None, items=None,
          predicted: float = 0.0, speech=None):
    """Train VG-net; checkpoints (last.pt, best.pt) and log.jsonl in ``run_dir``.

    ``recipe``: ``original`` = the paper's objective (dynamic pixel-wise L1 + regression
    discriminator); ``mouth`` = dynamic pixel-wise L1 + ``mouth_weight`` x L1 inside the
    lips/chin box of the target and the example (the attention cannot zero it out: a
    copied reference keeps the old mouth there), alignment jitter, no discriminator
    unless ``adversarial``. ``minutes``: stop after that much training time (checkpoint
    kept). ``init``: a generator state dict to start from (fine-tuning). ``items``: the
    prepared clips to train on (default: ``data_dir``'s minus the held-out ones).
    ``progress(step, steps, seconds)`` is called after every step. ``predicted``: the share
    of training windows driven by the landmarks generation gives (the AT-net's motion from
    the clip's speech on the example's closed mouth; ``speech`` = (MouthNet, basis, gain),
    the maps layout only), so the renderer learns what real frames look like for them.
    """
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; known: {', '.join(RECIPES)}")
    adversarial = (recipe == "original") if adversarial is None else adversarial
    if get_config(config, "vgnet").arch == "maps":
        adversarial = False  # the regression discriminator judges whole crops
    jitter = (0.03 if recipe == "mouth" else 0.0) if jitter is None else jitter
    if threads:
        torch.set_num_threads(threads)
    from .atnet import split_items

    dev, rank, world = setup_distributed(device)
    run = Path(run_dir)
    (run / "samples").mkdir(parents=True, exist_ok=True)
    log = Log(run, rank, echo)
    if items is None:
        tr, va = split_items(data_dir, holdout)
    else:
        tr, va = list(items), []
    if not tr:
        raise ValueError(f"{data_dir}: no prepared items; run talkface data prepare first")
    if predicted and speech is None:
        raise ValueError("predicted landmarks need the AT-net (speech=(MouthNet, basis, gain))")
    if predicted and get_config(config, "vgnet").arch != "maps":
        raise ValueError("predicted landmarks go with the maps layout (--config maps)")
    data = VGData(tr, speech if predicted else None)
    vals = {"heldout": VGData(va, speech if predicted else None)} if va else {}
    for vd in val_dirs:
        its = list_items(vd)
        if its:
            vals[Path(vd).name] = VGData(its)
    gcfg = get_config(config, "vgnet")
    dcfg = get_config(config, "discriminator")
    if gcfg.size != data.size:
        gcfg.size = dcfg.size = data.size
    torch.manual_seed(seed + rank)
    from ..render.vgnet_maps import build_vgnet

    G, D = build_vgnet(gcfg), Discriminator(dcfg)
    if gcfg.arch == "vgnet":  # the paper's init; the maps U-Net keeps PyTorch's defaults
        G.apply(init_weights)
    if init is not None:
        G.load_state_dict(init)
    optG = torch.optim.Adam(G.parameters(), lr=lr, betas=(0.5, 0.999))
    optD = torch.optim.Adam(D.parameters(), lr=lr, betas=(0.5, 0.999))
    step, best, spent = 0, -1.0, 0.0
    ck = load_checkpoint(run) if resume else None
    if ck:
        G.load_state_dict(ck["G"]), optG.load_state_dict(ck["optG"])
        if "D" in ck:  # a checkpoint kept without the (unused) discriminator has none
            D.load_state_dict(ck["D"]), optD.load_state_dict(ck["optD"])
        step, best, spent = ck["step"], ck.get("best", -1.0), float(ck.get("seconds", 0.0))
        log(event="resume", step=step)
    G.to(dev), D.to(dev)
    dG, dD = wrap_ddp(G, dev, world), wrap_ddp(D, dev, world)
    M = mouth_weights(device=dev)
    bce = torch.nn.functional.binary_cross_entropy
    rng = np.random.default_rng(seed * 1000 + rank * 7919 + step)
    log(event="data", train=len(data.items), recipe=recipe, **{k: len(v.items) for k, v in vals.items()})

    def checkpoint(final=False):
        nonlocal best
        res = {k: validate(unwrap(dG), v, dev) for k, v in vals.items()}
        log(step=step, event="val", **{f"{k}_{m}": round(v, 4) for k, r in res.items() for m, v in r.items()})
        score = float(np.mean([r["psnr"] for r in res.values()])) if res else step
        state = {"G": unwrap(dG).state_dict(), "D": unwrap(dD).state_dict(), "optG": optG.state_dict(),
                 "optD": optD.state_dict(), "step": step, "config": gcfg.to_dict(), "config_name": config,
                 "dconfig": dcfg.to_dict(), "best": max(best, score), "val": res, "recipe": recipe,
                 "seconds": spent}
        save_checkpoint(run, state)
        if score >= best:
            best = score
            save_checkpoint(run, state, "best.pt")

    t0 = tlog = time.time()
    sums: dict = {}
    last_ck = time.time()
    while step < steps and (minutes is None or spent < minutes * 60):
        ts = time.time()
        G.train(), D.train()
        got = [v.to(dev) for v in data.sample(rng, batch, t, jitter, predicted)]
        x, lm, e, el = got[:4]
        lm_in = got[4] if predicted else None
        if gcfg.arch == "maps":  # windows around the mouth; no discriminator for this layout
            fake, alpha, x, mwin = windows(unwrap(dG), x, lm, e, el, rng, lm_in=lm_in)
        else:
            fake, alpha, color, att_p = dG(e, lm, el)
        ones = torch.ones(x.shape[0], device=dev)
        terms = {}
        if adversarial:
            s_real, l_real = dD(x, el)
            s_fake, l_fake = dD(fake.detach(), el)
            lossD = (bce(s_real, ones) + bce(s_fake, 0 * ones)
                     + F.mse_loss(l_fake * M, lm * M) + F.mse_loss(l_real * M, lm * M))
            optD.zero_grad(set_to_none=True)
            lossD.backward()
            optD.step()
            terms["lossD"] = float(lossD)
            for p in D.parameters():
                p.requires_grad_(False)
        pix = ((fake - x).abs() * (alpha.detach() + 0.5)).mean()
        lossG = 10 * pix
        terms["pix"] = float(pix.detach())
        if recipe == "mouth":
            if gcfg.arch == "maps":
                m, diff, a = mwin, (fake - x).abs(), alpha
            else:
                n, size = lm.shape[0] * lm.shape[1], x.shape[-1]
                m = mouth_boxes(lm, el, size)
                diff = (fake - x).abs().reshape(n, 3, size, size)
                a = alpha.reshape(n, 1, size, size)
            mouth = (diff * m).sum() / (m.sum() * 3 + 1)
            lossG = lossG + mouth_weight * mouth
            terms.update(mouth=float(mouth.detach()), att_in=float((a.detach() * m).sum() / m.sum()),
                         att_out=float((a.detach() * (1 - m)).sum() / (1 - m).sum()))
        if adversarial:
            s_f, l_f = dD(fake, el)
            adv, reg = bce(s_f, ones), F.mse_loss(l_f * M, lm * M)
            lossG = lossG + adv + reg
            terms.update(adv=float(adv.detach()), lm_reg=float(reg.detach()))
        optG.zero_grad(set_to_none=True)
        lossG.backward()
        optG.step()
        if adversarial:
            for p in D.parameters():
                p.requires_grad_(True)
        step += 1
        spent += time.time() - ts
        for k, v in terms.items():
            sums[k] = sums.get(k, 0.0) + v
        if progress:
            progress(step, steps, spent)
        if step % 20 == 0:
            log(step=step, lossG=float(lossG), **{k: v / 20 for k, v in sums.items()},
                sec_per_step=round((time.time() - tlog) / 20, 3))
            sums, tlog = {}, time.time()
        if rank == 0 and step % 100 == 0:
            save_samples(run / "samples" / f"step{step:06d}.png", x, fake, alpha)
        if rank == 0 and (step % eval_every == 0 or time.time() - last_ck > 600):
            checkpoint()
            last_ck = time.time()
    if rank == 0 and step % eval_every:
        checkpoint()
    log(event="done", step=step, seconds=round(spent, 1), wall=round(time.time() - t0, 1))
    if world > 1:
        torch.distributed.destroy_process_group()
    return run
