"""Shared training plumbing: device, distributed (torchrun), checkpoints, logging."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import torch


def setup_distributed(device: str = "auto"):
    """(device, rank, world). Under torchrun, initialises DistributedDataParallel."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and world > 1:
        device = f"cuda:{local}"
        torch.cuda.set_device(local)
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return torch.device(device), rank, world


def wrap_ddp(model, device, world):
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        return DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
    return model


def unwrap(model):
    return model.module if hasattr(model, "module") else model


def init_weights(m):
    """N(0, 0.02) for conv/linear, BN weight N(1, 0.02) (docs/paper_facts.md#training)."""
    cls = m.__class__.__name__
    if ("Conv" in cls or cls == "Linear") and hasattr(m, "weight") and m.weight is not None:
        torch.nn.init.normal_(m.weight, 0.0, 0.02)
        if getattr(m, "bias", None) is not None:
            torch.nn.init.zeros_(m.bias)
    elif "BatchNorm" in cls:
        torch.nn.init.normal_(m.weight, 1.0, 0.02)
        torch.nn.init.zeros_(m.bias)


def _tensors(obj):
    """numpy arrays -> tensors (tagged), so checkpoints load with ``weights_only=True``."""
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": torch.from_numpy(np.ascontiguousarray(obj))}
    if isinstance(obj, dict):
        return {k: _tensors(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_tensors(v) for v in obj)
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _arrays(obj):
    if isinstance(obj, dict):
        if set(obj) == {"__ndarray__"}:
            return obj["__ndarray__"].numpy()
        return {k: _arrays(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_arrays(v) for v in obj)
    return obj


def save_checkpoint(run_dir: Path, state: dict, name: str = "last.pt"):
    run_dir = Path(run_dir)
    tmp = run_dir / (name + ".tmp")
    torch.save(_tensors(state), tmp)
    os.replace(tmp, run_dir / name)


def load_checkpoint(run_dir: Path, name: str = "last.pt"):
    """A training checkpoint, loaded without arbitrary pickle (``weights_only=True``);
    numpy's array types are allowed for checkpoints written before arrays were stored as
    tensors."""
    p = Path(run_dir) / name
    if not p.exists():
        return None
    mu = getattr(np, "_core", None) or np.core  # numpy 2 / 1
    legacy = [np.ndarray, np.dtype, mu.multiarray._reconstruct, mu.multiarray.scalar] + \
        [type(np.dtype(t)) for t in ("float32", "float64", "int64", "int32", "uint8", "bool")]
    with torch.serialization.safe_globals(legacy):
        return _arrays(torch.load(p, map_location="cpu", weights_only=True))


class Log:
    def __init__(self, run_dir: Path, rank: int = 0, echo=print):
        self.path = Path(run_dir) / "log.jsonl"
        self.rank = rank
        self.echo = echo
        self.t0 = time.time()

    def __call__(self, **row):
        if self.rank != 0:
            return
        row["time"] = round(time.time() - self.t0, 1)
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")
        if self.echo:
            self.echo(" ".join(f"{k}={v:.5g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
