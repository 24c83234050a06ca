"""Weights registry: manifests of safetensors files with their sha256, in two folders.

* **shipped**: the default weights, installed with the package as package data
  (``talkface/assets/weights/``, read with ``importlib.resources``); never written at run time.
* **user**: what ``talkface weights import-atvgnet`` and ``talkface train export`` write:
  ``$TALKFACE_HOME/weights``, else the platform's user data folder (``platformdirs``;
  ``~/.local/share/talkface/weights`` on Linux). Never the package or the source tree.

``--weights NAME`` looks in both. A user set may not take a shipped set's name (import and
export refuse it); one that has it anyway (an edited manifest, or a later release shipping
that name) is hidden, and ``weights list`` and a warning say so. The user manifest's
``default`` (``train export --default``) wins over the shipped one.

``TALKFACE_WEIGHTS=DIR`` replaces both by the one folder DIR, read and written (tests; a
developer adding a set to the shipped folder, see README "Weights").

Each folder's ``manifest.json``::

    {"default": NAME,
     "weights": [{"name", "kind", "description", "card", "pipeline": {...},
                  "files": {"atnet": {"file", "sha256", "config"}, "vgnet": {...}}}]}

Files are checked against their sha256 before anything is loaded; nothing is unpickled.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .errors import InputError, WeightsError

MANIFEST = "manifest.json"
ENV_HOME = "TALKFACE_HOME"
ENV_DIR = "TALKFACE_WEIGHTS"


def shipped_dir() -> Path:
    """The weights installed with the package (package data; read-only)."""
    return Path(str(resources.files("talkface") / "assets" / "weights"))


def home() -> Path:
    """talkface's per-user folder: ``$TALKFACE_HOME``, else the platform's user data folder."""
    env = os.environ.get(ENV_HOME)
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_path

    return user_data_path("talkface", appauthor=False)


def user_dir() -> Path:
    """Where the user's weights live (imported, exported)."""
    return home() / "weights"


@dataclass(frozen=True)
class Folder:
    origin: str   # "shipped", "user", or "custom" (TALKFACE_WEIGHTS)
    path: Path


def folders() -> list[Folder]:
    """The weights folders, in lookup order."""
    env = os.environ.get(ENV_DIR)
    if env:
        return [Folder("custom", Path(env))]
    return [Folder("shipped", shipped_dir()), Folder("user", user_dir())]


def weights_dir() -> Path:
    """Where new weights are written: ``TALKFACE_WEIGHTS`` if set, else the user folder."""
    return folders()[-1].path


def sha256(path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def _read(d: Path) -> dict:
    p = Path(d) / MANIFEST
    if not p.exists():
        return {"default": None, "weights": []}
    try:
        m = json.loads(p.read_text())
    except (OSError, ValueError):
        raise WeightsError(f"{p}: manifest is not valid JSON; restore it (reinstall talkface for the shipped "
                           "one) or re-export the weights")
    if not isinstance(m, dict):
        raise WeightsError(f"{p}: manifest is not a JSON object; restore it or re-export the weights")
    m.setdefault("weights", [])
    m.setdefault("default", None)
    return m


@dataclass
class Listed:
    """One manifest entry and the folder it lives in."""
    entry: dict
    folder: Folder
    hidden: bool = False   # a user set named like a shipped one: never picked by name

    @property
    def name(self) -> str:
        return self.entry["name"]

    @property
    def dir(self) -> Path:
        return self.folder.path


@dataclass
class Registry:
    listed: list[Listed]
    default: str | None
    default_from: Path     # the manifest that named the default (or would have)

    def visible(self) -> list[Listed]:
        return [x for x in self.listed if not x.hidden]


def registry() -> Registry:
    """Every entry of every folder; the default from the last folder that names one."""
    listed: list[Listed] = []
    default, default_from = None, folders()[-1].path / MANIFEST
    taken: set[str] = set()
    for f in folders():
        m = _read(f.path)
        for e in m["weights"]:
            listed.append(Listed(e, f, hidden=e["name"] in taken))
        taken |= {e["name"] for e in m["weights"] if f.origin == "shipped"}
        if m.get("default"):
            default, default_from = m["default"], f.path / MANIFEST
    return Registry(listed, default, default_from)


def read_manifest(d: Path | None = None) -> dict:
    """One folder's manifest; without ``d`` the merged view ({"default", "weights"}) of
    every folder, hidden entries left out. Write only through ``add_entry``."""
    if d is not None:
        return _read(Path(d))
    r = registry()
    return {"default": r.default, "weights": [x.entry for x in r.visible()]}


def write_manifest(m: dict, d: Path | None = None):
    d = Path(d) if d else weights_dir()
    d.mkdir(parents=True, exist_ok=True)
    tmp = d / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(m, indent=2) + "\n")
    os.replace(tmp, d / MANIFEST)


def add_entry(entry: dict, d: Path | None = None, make_default: bool = False):
    d = Path(d) if d else weights_dir()
    m = _read(d)
    m["weights"] = [e for e in m["weights"] if e["name"] != entry["name"]] + [entry]
    if make_default:
        m["default"] = entry["name"]
    write_manifest(m, d)


def target_dir(name: str, out_dir: Path | None = None) -> Path:
    """The folder a new set ``name`` is written to (``out_dir``, else ``weights_dir()``),
    after checking the name: a file-name-safe word, not ``default``, and not the name of a
    shipped set when writing to the user folder (it would be hidden). Raises InputError."""
    if not name or name == "default" or name.startswith(".") or any(c in name for c in "/\\:") \
            or name != name.strip():
        raise InputError(f"--name {name!r}: not usable as a weights name; use letters, digits, - and _")
    d = Path(out_dir) if out_dir is not None else weights_dir()
    if os.environ.get(ENV_DIR) is None and _same(d, user_dir()):
        shipped = {e["name"] for e in _read(shipped_dir())["weights"]}
        if name in shipped:
            raise InputError(f"--name {name}: talkface ships weights of that name ({shipped_dir()}); "
                             "choose another --name")
    return d


def _same(a: Path, b: Path) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False


_WARNED: set = set()


def _warn_hidden(r: Registry, name: str):
    for x in r.listed:
        if x.hidden and x.name == name and (x.dir, name) not in _WARNED:
            _WARNED.add((x.dir, name))
            print(f"warning: {x.dir / MANIFEST}: your weights {name!r} have the name of a shipped set and are "
                  "not used; rename them there (name and default) to use them", file=sys.stderr)


def locate(name: str = "default") -> Listed:
    """The entry ``--weights name`` means (``default``: the default), and its folder."""
    r = registry()
    want = r.default if name in (None, "default") else name
    if not want:
        raise WeightsError(
            f"{r.default_from}: no default weights are installed; train and export them "
            "(talkface train export) or import the authors' (talkface weights import-atvgnet)")
    for x in r.visible():
        if x.name == want:
            _warn_hidden(r, want)
            return x
    vis = r.visible()
    if len(folders()) == 1:
        names = ", ".join(x.name for x in vis) or "none"
        raise WeightsError(f"{r.default_from}: no weights named {want!r} (installed: {names}); "
                           "see talkface weights list")
    names = ", ".join(f"{x.name} ({x.folder.origin})" for x in vis) or "none"
    if name in (None, "default"):
        raise WeightsError(f"{r.default_from}: the default, {want!r}, is not installed (installed: {names}); "
                           "set \"default\" there to one of them or re-export it")
    raise WeightsError(f"--weights {want}: no weights of that name (installed: {names}; yours in "
                       f"{user_dir()}); see talkface weights list")


def find_entry(name: str = "default", d: Path | None = None) -> dict:
    """The manifest entry ``name`` means: in folder ``d``, or in every folder."""
    if d is None:
        return locate(name).entry
    d = Path(d)
    m = _read(d)
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


def _resolve(name: str, d: Path | None) -> tuple[dict, Path]:
    if d is None:
        x = locate(name)
        return x.entry, x.dir
    return find_entry(name, d), Path(d)


def size(d: Path, e: dict) -> int:
    """Bytes of an entry's files present on disk."""
    n = 0
    for spec in e.get("files", {}).values():
        try:
            n += (Path(d) / spec["file"]).stat().st_size
        except (OSError, KeyError, TypeError):
            pass
    return n


def describe() -> dict:
    """What ``weights list`` shows: the folders, the default and, per set, where it lives,
    its size and whether its files verify (every file re-hashed)."""
    r = registry()
    rows = []
    for x in r.listed:
        e = x.entry
        bad = [c for c in verify_entry(e, x.dir) if not c["ok"]]
        card = e.get("card")
        rows.append({"name": e["name"], "default": not x.hidden and e["name"] == r.default,
                     "kind": e.get("kind", "talkface"), "where": x.folder.origin, "dir": str(x.dir),
                     "size": size(x.dir, e), "ok": not bad, "error": bad[0]["error"] if bad else None,
                     "hidden": x.hidden, "files": {k: v["file"] for k, v in e.get("files", {}).items()},
                     "card": str(x.dir / card) if card else None})
    return {"folders": [{"where": f.origin, "dir": str(f.path)} for f in folders()], "default": r.default,
            "weights": rows}


def atnet_arch(name: str = "default", d: Path | None = None) -> str:
    """``mouthnet`` or ``atnet``: which AT-net (and audio features) an entry has, from the
    manifest alone (nothing is loaded); ``atnet`` when the entry cannot be read (load()
    reports that)."""
    try:
        return _resolve(name, d)[0].get("files", {}).get("atnet", {}).get("arch", "atnet")
    except WeightsError:
        return "atnet"


def verify_file(d: Path, spec: dict) -> Path:
    p = d / spec["file"]
    if not p.exists():
        raise WeightsError(f"{p}: weights file missing; restore it (reinstall talkface for shipped weights) "
                          "or re-export it")
    got = sha256(p)
    if got != spec["sha256"]:
        raise WeightsError(f"{p}: weights file is corrupt (sha256 mismatch); restore it or re-export it")
    return p


def verify(name: str = "default", d: Path | None = None) -> list[dict]:
    """Re-hash every file of an entry; returns rows of {name, part, file, ok, error}."""
    e, d = _resolve(name, d)
    return verify_entry(e, d)


def verify_entry(e: dict, d: Path) -> list[dict]:
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

    e, d = _resolve(name, d)
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
