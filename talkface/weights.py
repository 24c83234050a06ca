"""Weights registry: a manifest in ``weights/``, sha256 checks, safetensors loading.

``weights/manifest.json``::

    {"default": NAME,
     "weights": [{"name", "kind", "description", "card", "pipeline": {...},
                  "files": {"atnet": {"file", "sha256", "config"}, "vgnet": {...}}}]}

Files are checked against their sha256 before anything is loaded; nothing is unpickled.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import WeightsError

MANIFEST = "manifest.json"


def weights_dir() -> Path:
    env = os.environ.get("TALKFACE_WEIGHTS")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parent.parent / "weights"
    if repo.is_dir():
        return repo
    return Path.home() / ".cache" / "talkface" / "weights"


def sha256(path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def read_manifest(d: Path | None = None) -> dict:
    d = Path(d) if d else weights_dir()
    p = d / MANIFEST
    if not p.exists():
        return {"default": None, "weights": []}
    try:
        m = json.loads(p.read_text())
    except (OSError, ValueError):
        raise WeightsError(f"{p}: manifest is not valid JSON; restore it with git checkout or re-export the weights")
    m.setdefault("weights", [])
    m.setdefault("default", None)
    return m


def write_manifest(m: dict, d: Path | None = None):
    d = Path(d) if d else weights_dir()
    d.mkdir(parents=True, exist_ok=True)
    tmp = d / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(m, indent=2) + "\n")
    os.replace(tmp, d / MANIFEST)


def add_entry(entry: dict, d: Path | None = None, make_default: bool = False):
    m = read_manifest(d)
    m["weights"] = [e for e in m["weights"] if e["name"] != entry["name"]] + [entry]
    if make_default:
        m["default"] = entry["name"]
    write_manifest(m, d)


def find_entry(name: str = "default", d: Path | None = None) -> dict:
    d = Path(d) if d else weights_dir()
    m = read_manifest(d)
    want = m.get("default") if name in (None, "default") else name
    if not want:
        raise WeightsError(
            f"{d / MANIFEST}: no default weights are installed; train and export them "
            "(talkface train export) or import the authors' (talkface weights import-atvgnet)")
    for e in m["weights"]:
        if e["name"] == want:
            return e
    names = ", ".join(e["name"] for e in m["weights"]) or "none"
    raise WeightsError(f"{d / MANIFEST}: no weights named {want!r} (installed: {names}); see talkface weights list")


def atnet_arch(name: str = "default", d: Path | None = None) -> str:
    """``mouthnet`` or ``atnet``: which AT-net (and audio features) an entry has, from the
    manifest alone (nothing is loaded); ``atnet`` when the entry cannot be read (load()
    reports that)."""
    try:
        return find_entry(name, d).get("files", {}).get("atnet", {}).get("arch", "atnet")
    except WeightsError:
        return "atnet"


def verify_file(d: Path, spec: dict) -> Path:
    p = d / spec["file"]
    if not p.exists():
        raise WeightsError(f"{p}: weights file missing; restore it (git checkout / git lfs pull) or re-export it")
    got = sha256(p)
    if got != spec["sha256"]:
        raise WeightsError(f"{p}: weights file is corrupt (sha256 mismatch); restore it or re-export it")
    return p


def verify(name: str = "default", d: Path | None = None) -> list[dict]:
    """Re-hash every file of an entry; returns rows of {part, file, ok, error}."""
    d = Path(d) if d else weights_dir()
    e = find_entry(name, d)
    rows = []
    for part, spec in e["files"].items():
        try:
            verify_file(d, spec)
            rows.append({"name": e["name"], "part": part, "file": spec["file"], "ok": True, "error": None})
        except WeightsError as err:
            rows.append({"name": e["name"], "part": part, "file": spec["file"], "ok": False, "error": err.message})
    return rows


def load_tensors(d: Path, spec: dict) -> tuple[dict, dict]:
    """Verified safetensors -> (state_dict, metadata)."""
    from safetensors import safe_open

    p = verify_file(d, spec)
    try:
        out = {}
        with safe_open(str(p), framework="pt") as f:
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


# load() keeps what it built here while a cache is on (batch workers: models loaded once).
_CACHE: dict | None = None


def use_cache(on: bool = True) -> None:
    """Keep (or stop keeping) loaded models in memory for later ``load`` calls in this process.

    The key holds the weights folder, entry, device and each file's sha256 from the manifest
    plus its size and modification time, so a file changed on disk is verified and loaded
    again."""
    global _CACHE
    _CACHE = {} if on else None


def _cache_key(e: dict, d: Path, device, need_vgnet: bool):
    try:
        files = tuple((part, spec["file"], spec["sha256"], (d / spec["file"]).stat().st_size,
                       (d / spec["file"]).stat().st_mtime_ns) for part, spec in sorted(e.get("files", {}).items()))
    except (OSError, KeyError, TypeError):
        return None  # let load() report the problem
    return str(d.resolve()), e["name"], str(device), bool(need_vgnet), files


@dataclass
class LoadedWeights:
    name: str
    entry: dict
    atnet: object
    vgnet: object | None
    pca: object
    pipeline: dict


def load(name: str = "default", device="cpu", need_vgnet: bool = True, d: Path | None = None) -> LoadedWeights:
    """Build AT-net (+ VG-net) from a manifest entry, verified and in eval mode."""
    from .models import VGNet, VGNetConfig

    d = Path(d) if d else weights_dir()
    e = find_entry(name, d)
    key = _cache_key(e, d, device, need_vgnet) if _CACHE is not None else None
    if key is not None and key in _CACHE:
        return _CACHE[key]
    files = e.get("files", {})
    if "atnet" not in files:
        raise WeightsError(f"{d / MANIFEST}: entry {e['name']!r} has no AT-net file; re-export it")
    sd, _ = load_tensors(d, files["atnet"])
    if files["atnet"].get("arch") == "mouthnet":  # talkface's speaker-independent AT-net
        atnet, pca = _load_mouthnet(sd, files["atnet"], d), None
    else:
        atnet, pca = _load_atnet(sd, files["atnet"], e, d)
    atnet.to(device).eval()
    vg = None
    if need_vgnet and "vgnet" in files:
        vsd, _ = load_tensors(d, files["vgnet"])
        vg = VGNet(VGNetConfig.from_dict(files["vgnet"]["config"]))
        _load_strict(vg, vsd, d / files["vgnet"]["file"])
        vg.to(device).eval()
    pipe = dict(e.get("pipeline", {}))
    pipe["extra"] = getattr(atnet, "extra", {})
    lw = LoadedWeights(e["name"], e, atnet, vg, pca, pipe)
    if key is not None and _CACHE is not None:
        if len(_CACHE) >= 4:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = lw
    return lw


def _load_atnet(sd, spec, e, d):
    """The authors' AT-net layout (talkface's older weights and the imported original)."""
    from .models import ATNet, ATNetConfig, LandmarkPCA

    pca = LandmarkPCA(sd.pop("pca.mean").numpy(), sd.pop("pca.basis").numpy(),
                      float(e.get("pipeline", {}).get("pca_scale", 1.0)),
                      sd.pop("pca.boost").numpy() if "pca.boost" in sd else None)
    extra = {k[6:]: sd.pop(k).numpy() for k in [k for k in sd if k.startswith("extra.")]}
    atnet = ATNet(ATNetConfig.from_dict(spec["config"]))
    _load_strict(atnet, sd, d / spec["file"])
    atnet.extra = extra
    return atnet, pca


def _load_mouthnet(sd, spec, d):
    """MouthNet: its motion basis and calibrated gain travel in the same file."""
    from .models.mouthnet import MouthNet, MouthNetConfig

    if "mouth.basis" not in sd or "mouth.gain" not in sd:
        raise WeightsError(f"{d / spec['file']}: MouthNet file without its motion basis; re-export the weights")
    basis, gain = sd.pop("mouth.basis").numpy(), float(sd.pop("mouth.gain"))
    model = MouthNet(MouthNetConfig.from_dict(spec["config"]))
    _load_strict(model, sd, d / spec["file"])
    model.basis, model.gain, model.extra = basis, gain, {}
    return model


def _load_strict(model, sd, path):
    res = model.load_state_dict(sd, strict=False)
    if res.missing_keys or res.unexpected_keys:
        raise WeightsError(f"{path}: does not match its config (missing {list(res.missing_keys)[:3]}, "
                           f"unexpected {list(res.unexpected_keys)[:3]}); re-export the weights")
