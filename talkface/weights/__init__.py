"""Weights: the registry, the verified files, and the networks built from them.

The registry: manifests of safetensors files with their sha256, in two folders.

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

Modules: ``manifests`` (the folders, their manifests, what a name means), ``files`` (sha256,
safetensors), ``networks`` (state dicts -> AT-net, MouthNet, VG-net); :func:`load` ties
them together. A :class:`talkface.TalkingFace` keeps what ``load`` built, so a batch loads
each set once.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import WeightsError
from .files import load_tensors, save_tensors, sha256, verify_entry, verify_file
from .manifests import (
    ENV_DIR,
    ENV_HOME,
    MANIFEST,
    Folder,
    Listed,
    Registry,
    _resolve,
    add_entry,
    atnet_arch,
    describe,
    find_entry,
    folders,
    home,
    locate,
    read_manifest,
    registry,
    remove,
    shipped_dir,
    size,
    target_dir,
    user_dir,
    verify,
    weights_dir,
    write_manifest,
)
from .networks import _load_atnet, _load_mouthnet, _load_vgnet

__all__ = ["ENV_DIR", "ENV_HOME", "MANIFEST", "Folder", "Listed", "LoadedWeights", "Registry", "add_entry",
           "atnet_arch", "describe", "find_entry", "folders", "home", "load", "load_tensors", "locate",
           "read_manifest", "registry", "remove", "save_tensors", "sha256", "shipped_dir", "size", "target_dir",
           "user_dir", "verify", "verify_entry", "verify_file", "weights_dir", "write_manifest"]


@dataclass
class LoadedWeights:
    name: str
    entry: dict
    atnet: object
    vgnet: object | None
    pca: object
    pipeline: dict


def load(name: str = "default", device="cpu", need_vgnet: bool = True, d: Path | None = None) -> LoadedWeights:
    """Build AT-net (+ VG-net) from a manifest entry, verified and in eval mode. Every call
    reads the files again: keep the result (``talkface.load``) to load them once."""
    e, d = _resolve(name, d)
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
        vg = _load_vgnet(vsd, files["vgnet"], d)
        vg.to(device).eval()
    pipe = dict(e.get("pipeline", {}))
    pipe["extra"] = getattr(atnet, "extra", {})
    return LoadedWeights(e["name"], e, atnet, vg, pca, pipe)
