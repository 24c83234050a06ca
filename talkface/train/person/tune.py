"""Person runs, stages 4-6: fine-tune VG-net, fit the AT-net gain, register the weights."""
from __future__ import annotations

import datetime
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...runtime import signals
from ...runtime.errors import InputError
from ..data import list_items
from .common import (
    Progress,
)


@dataclass
class Base:
    """The weights a person's set starts from."""
    name: str
    entry: dict
    dir: Path
    config: str  # the training config whose VG-net layout the base's is


def base_weights(name: str = "default") -> Base:
    """The base set ``name`` (``default``: the default weights), checked: talkface's own
    pipeline, with a VG-net of a layout ``train vgnet`` builds (``small``, ``original``,
    ``maps``)."""
    from ... import weights as W
    from ...weights.configs import CONFIGS, VGNetConfig

    x = W.locate(name)
    e = x.entry
    if e.get("pipeline", {}).get("kind", "talkface") != "talkface":
        raise InputError(f"--base {x.name}: these are the authors' original weights, which talkface cannot "
                         "fine-tune; start from talkface's own (--base default)")
    spec = e.get("files", {}).get("vgnet")
    if not spec or "atnet" not in e.get("files", {}):
        raise InputError(f"--base {x.name}: these weights have no VG-net (or no AT-net) to start from; "
                         "give --base with a full talkface set (talkface weights list)")
    cfg = VGNetConfig.from_dict(spec["config"]).to_dict()
    for cname, parts in CONFIGS.items():
        if "vgnet" in parts and parts["vgnet"].to_dict() == cfg:
            return Base(x.name, e, x.dir, cname)
    raise InputError(f"--base {x.name}: its VG-net ({cfg.get('arch')}, ngf {cfg.get('ngf')}, "
                     f"{cfg.get('n_blocks')} blocks) is not a layout talkface train vgnet builds "
                     f"({', '.join(n for n, p in CONFIGS.items() if 'vgnet' in p)}); give another --base")


def _fine_tune(base: Base, data: Path, run: Path, minutes: float | None, steps: int | None, batch: int,
               recipe: str, device: str, seed: int, echo, progress: Progress | None) -> dict:
    from ... import weights as W
    from ..common import load_checkpoint
    from ..vgnet import train

    out = run / "vgnet"
    last = load_checkpoint(out) if (out / "last.pt").exists() else None
    resume = last is not None
    # a resumed run keeps its own layout (the base weights may have changed since)
    config = str(last.get("config_name", base.config)) if last else base.config
    init = None if resume else W.load_tensors(base.dir, base.entry["files"]["vgnet"])[0]
    del last
    budget = None if minutes is None else minutes * 60.0
    cap = steps if steps is not None else 10 ** 9

    def tick(step, _steps, seconds):
        if progress:
            frac = seconds / budget if budget else step / cap
            if steps is not None and budget:
                frac = max(frac, step / cap)
            progress("train", min(1.0, frac), f"step {step}, {seconds / 60:.1f} min"
                     + (f" of {minutes:g}" if minutes is not None else ""))

    try:
        train(data / "train", out, config=config, steps=cap, batch=batch, device=device, resume=resume,
              holdout=0, val_dirs=[data / "val"], seed=seed, echo=echo, recipe=recipe, minutes=minutes,
              init=init, progress=tick, items=list_items(data / "train"))
    except ValueError as e:
        raise InputError(str(e)) from None
    except BaseException:
        for p in out.glob("*.tmp"):  # a checkpoint cut short (the last complete one stays)
            p.unlink(missing_ok=True)
        raise
    ck = load_checkpoint(out, "best.pt") or load_checkpoint(out, "last.pt")
    if ck is None:
        raise InputError(f"{out}: no checkpoint was written; give a larger --minutes or --steps")
    if progress:
        progress("train", 1.0, f"step {ck['step']}")
    return ck


# ----------------------------------------------------------------------------- 5. gain
def fit_gain(base: Base, data: Path, echo=None) -> dict | None:
    """Stage 5: the AT-net gain fitted to the person's articulation, or None (the base's
    AT-net is not MouthNet). ``used`` says whether it beat the base's gain on the held-out
    segments (spread ratio closer to 1)."""
    from ... import weights as W
    from ...weights.networks import _load_mouthnet
    from ..mouthnet import Item, calibrate_gain, evaluate_items

    spec = base.entry["files"]["atnet"]
    if spec.get("arch") != "mouthnet":
        return None
    sd, _ = W.load_tensors(base.dir, spec)
    model = _load_mouthnet(sd, spec, base.dir)
    tr = [Item(p) for p in list_items(data / "train")]
    va = [Item(p) for p in list_items(data / "val")]

    def ratio(items, gain):
        r = [row["ratio"] for row in evaluate_items(model, model.basis, items, gain)["clips"] if row["ratio"]]
        return float(np.median(r)) if r else None

    fitted = calibrate_gain(model, model.basis, tr)
    rb, rf = ratio(va, model.gain), ratio(va, fitted)
    used = rb is not None and rf is not None and abs(math.log(rf)) < abs(math.log(rb))
    out = {"base": round(float(model.gain), 4), "fitted": round(float(fitted), 4),
           "heldout_ratio_base": None if rb is None else round(rb, 4),
           "heldout_ratio_fitted": None if rf is None else round(rf, 4), "used": bool(used)}
    if echo:
        echo(f"AT-net gain: base {out['base']}, fitted {out['fitted']} (held-out spread ratio "
             f"{out['heldout_ratio_base']} -> {out['heldout_ratio_fitted']}): "
             + ("used" if used else "base kept"))
    return out


# ----------------------------------------------------------------------------- 6. register
def register(name: str, base: Base, ck: dict, gain: dict | None, info: dict, make_default: bool = False) -> dict:
    """Stage 6: write the set ``name`` into the user's weights folder; its manifest entry."""
    import torch

    from ... import weights as W

    d = W.target_dir(name)
    d.mkdir(parents=True, exist_ok=True)
    names = {"atnet": f"{name}-atnet.safetensors", "vgnet": f"{name}-vgnet.safetensors"}
    try:
        with signals.held(deliver=False):  # the weights are registered whole (the commit point)
            spec = base.entry["files"]["atnet"]
            sd, meta = W.load_tensors(base.dir, spec)
            if gain and gain["used"]:
                sd["mouth.gain"] = torch.tensor(float(gain["fitted"]), dtype=torch.float32)
            at = {**W.save_tensors(sd, d / names["atnet"], meta),
                  **{k: v for k, v in spec.items() if k not in ("file", "sha256")}}
            vg = {**W.save_tensors(ck["G"], d / names["vgnet"], {"step": ck["step"]}), "config": ck["config"]}
            pipe = {**base.entry.get("pipeline", {}), "identity": name, "vgnet_identities": "one"}
            entry = {"name": name, "kind": "talkface",
                     "description": f"talkface VG-net fine-tuned on one person ({info['source']}), "
                                    f"AT-net of {base.name}",
                     "card": None, "created": datetime.date.today().isoformat(), "pipeline": pipe,
                     "person": {**info, "base": base.name, "gain": gain},
                     "validation": {"vgnet": ck.get("val"), "vgnet_step": ck["step"]},
                     "files": {"atnet": at, "vgnet": vg}}
            W.add_entry(entry, d, make_default)
            signals.committed()
    except BaseException:
        for n in names.values():
            (d / (n + ".tmp")).unlink(missing_ok=True)
        raise
    return entry


# ----------------------------------------------------------------------------- all
