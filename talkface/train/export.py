"""``talkface train export``: training checkpoints -> safetensors + manifest entry."""
from __future__ import annotations

import datetime
from pathlib import Path

import torch

from .. import weights as W
from ..runtime.errors import InputError
from .common import load_checkpoint


def _best(run):
    ck = load_checkpoint(run, "best.pt") or load_checkpoint(run, "last.pt")
    if ck is None:
        raise InputError(f"{run}: no checkpoint (best.pt / last.pt); train first")
    return ck


def export(atnet_run, vgnet_run, name: str, make_default: bool = False, card: str | None = None,
           out_dir: Path | None = None) -> dict:
    d = W.target_dir(name, out_dir)  # the user folder unless told; a shipped name is refused
    d.mkdir(parents=True, exist_ok=True)
    a = _best(atnet_run)
    tensors = dict(a["model"])
    mouth = "basis" in a  # MouthNet (phones + energy) or the authors' AT-net layout (MFCC)
    if mouth:
        tensors["mouth.basis"] = torch.as_tensor(a["basis"], dtype=torch.float32)
        tensors["mouth.gain"] = torch.tensor(float(a.get("gain", 1.0)), dtype=torch.float32)
    else:
        tensors["pca.mean"] = torch.as_tensor(a["pca_mean"], dtype=torch.float32)
        tensors["pca.basis"] = torch.as_tensor(a["pca_basis"], dtype=torch.float32)
        tensors["extra.loudness_coef"] = torch.as_tensor(a["loud_coef"], dtype=torch.float32)
    files = {"atnet": {**W.save_tensors(tensors, d / f"{name}-atnet.safetensors", {"step": a["step"]}),
                       "config": a["config"], **({"arch": "mouthnet"} if mouth else {})}}
    val = {"atnet": a.get("val"), "atnet_step": a["step"]}
    if vgnet_run:
        v = _best(vgnet_run)
        files["vgnet"] = {**W.save_tensors(v["G"], d / f"{name}-vgnet.safetensors", {"step": v["step"]}),
                          "config": v["config"]}
        val.update(vgnet=v.get("val"), vgnet_step=v["step"])
    entry = {
        "name": name, "kind": "talkface",
        "description": "talkface AT-net + VG-net",
        "card": card,
        "created": datetime.date.today().isoformat(),
        "pipeline": {"kind": "talkface", "crop_size": int(a.get("size", 128)), "zoom": float(a.get("zoom", 1.0)),
                     "feature_norm": True,
                     "landmarks": "crop-normalised, motion relative to a closed neutral mouth" if mouth
                     else "crop-normalised, motion relative to the reference"},
        "validation": val,
        "files": files,
    }
    W.add_entry(entry, d, make_default)
    return entry
