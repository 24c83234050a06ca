"""Weight files: sha256, verification, and safetensors read and written (nothing is unpickled)."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ..runtime.errors import WeightsError


def sha256(path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def verify_file(d: Path, spec: dict) -> Path:
    """The path of ``spec``'s file in ``d`` once its sha256 matches the manifest's (else WeightsError)."""
    p = d / spec["file"]
    if not p.exists():
        raise WeightsError(f"{p}: weights file missing; restore it (reinstall talkface for shipped weights) "
                          "or re-export it")
    got = sha256(p)
    if got != spec["sha256"]:
        raise WeightsError(f"{p}: weights file is corrupt (sha256 mismatch); restore it or re-export it")
    return p


def verify_entry(e: dict, d: Path) -> list[dict]:
    """Re-hash every file of entry ``e`` in folder ``d``: rows of {name, part, file, ok, error}."""
    rows = []
    for part, spec in e["files"].items():
        try:
            verify_file(d, spec)
            rows.append({"name": e["name"], "part": part, "file": spec["file"], "ok": True, "error": None})
        except WeightsError as err:
            rows.append({"name": e["name"], "part": part, "file": spec["file"], "ok": False, "error": err.message})
    return rows


def load_tensors(d: Path, spec: dict, numpy: bool = False) -> tuple[dict, dict]:
    """Verified safetensors -> (state_dict, metadata): torch tensors, or with ``numpy``
    numpy arrays (torch is not imported)."""
    from safetensors import safe_open

    p = verify_file(d, spec)
    try:
        out = {}
        with safe_open(str(p), framework="np" if numpy else "pt") as f:
            meta = f.metadata() or {}
            for k in f.keys():
                out[k] = f.get_tensor(k)
    except Exception as e:
        raise WeightsError(f"{p}: not a readable safetensors file ({type(e).__name__}); restore or re-export it")
    return out, meta


def save_tensors(tensors: dict, path: Path, metadata: dict | None = None) -> dict:
    """Write safetensors atomically; returns {file, sha256}."""
    from safetensors.torch import save_file

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp),
              metadata={k: str(v) for k, v in (metadata or {}).items()})
    os.replace(tmp, path)
    return {"file": path.name, "sha256": sha256(path)}
