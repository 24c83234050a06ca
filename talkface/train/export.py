"""``talkface train export``: training checkpoints -> safetensors + manifest entry."""
from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np
import torch

from .. import weights as W
from ..runtime.errors import InputError
from .common import load_checkpoint


def _best(run):
    ck = load_checkpoint(run, "best.pt") or load_checkpoint(run, "last.pt")
    if ck is None:
        raise InputError(f"{run}: no checkpoint (best.pt / last.pt); train first")
    return ck


def _ensemble(first, a: dict, runs) -> tuple[dict, dict, float]:
    """(state dict, config, geometric-mean gain) of MouthNet runs ``first`` (``a``: its
    checkpoint) and ``runs`` shipped as one ensemble: the same layout and motion basis, names
    prefixed per member."""
    members = [a] + [_best(r) for r in runs]
    if any("basis" not in m for m in members):
        raise InputError("--also takes MouthNet runs (talkface train atnet), not the MFCC AT-net's")
    cfg = {k: v for k, v in a["config"].items() if k != "members"}
    for r, m in zip(runs, members[1:]):
        if {k: v for k, v in m["config"].items() if k != "members"} != cfg:
            raise InputError(f"{r}: another network layout than {first}; an ensemble's runs must share it")
        if not np.allclose(np.asarray(m["basis"]), np.asarray(a["basis"]), atol=1e-6):
            raise InputError(f"{r}: another motion basis (other training data); an ensemble's runs must share it")
    sd = {f"members.{i}.{k}": v for i, m in enumerate(members) for k, v in m["model"].items()}
    gain = float(np.exp(np.mean([np.log(float(m.get("gain", 1.0))) for m in members])))
    return sd, {**cfg, "members": len(members)}, gain


def export(atnet_run, vgnet_run, name: str, make_default: bool = False, card: str | None = None,
           out_dir: Path | None = None, also=(), gain: float | None = None) -> dict:
    """``also``: more MouthNet runs of the same recipe, shipped with ``atnet_run`` as one
    ensemble (their motion averaged); ``gain``: the motion's gain instead of the run's own
    (an ensemble's: the geometric mean of its runs')."""
    d = W.target_dir(name, out_dir)  # the user folder unless told; a shipped name is refused
    a = _best(atnet_run)
    tensors = dict(a["model"])
    mouth = "basis" in a  # MouthNet (phones + energy) or the authors' AT-net layout (MFCC)
    config = a["config"]
    run_gain = float(a.get("gain", 1.0))
    if gain is not None and not mouth:
        raise InputError("--gain is a MouthNet run's (talkface train atnet); leave it out for the MFCC AT-net")
    if also:  # refused for the MFCC AT-net's runs (theirs have no motion basis)
        tensors, config, run_gain = _ensemble(atnet_run, a, list(also))
    d.mkdir(parents=True, exist_ok=True)
    if mouth:
        tensors["mouth.basis"] = torch.as_tensor(a["basis"], dtype=torch.float32)
        tensors["mouth.gain"] = torch.tensor(float(gain if gain is not None else run_gain), dtype=torch.float32)
    else:
        tensors["pca.mean"] = torch.as_tensor(a["pca_mean"], dtype=torch.float32)
        tensors["pca.basis"] = torch.as_tensor(a["pca_basis"], dtype=torch.float32)
        tensors["extra.loudness_coef"] = torch.as_tensor(a["loud_coef"], dtype=torch.float32)
    files = {"atnet": {**W.save_tensors(tensors, d / f"{name}-atnet.safetensors", {"step": a["step"]}),
                       "config": config, **({"arch": "mouthnet"} if mouth else {})}}
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
