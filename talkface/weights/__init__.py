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
safetensors), ``networks`` (state dicts -> AT-net, MouthNet, VG-net), ``configs`` (the
networks' sizes each file's manifest entry records); :func:`load` ties them together. A
:class:`talkface.TalkingFace` keeps what ``load`` built, so a batch loads each set once.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..runtime.errors import WeightsError
from ..runtime.torch_needed import require_torch
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


class LoadedWeights:
    """A set of weights, verified and built for inference: ``atnet`` (MouthNet in numpy, or
    the authors' AT-net layout as a torch module on ``device``), ``pca`` (that layout's
    landmark PCA; None for MouthNet), ``pipeline`` (the manifest's settings, plus
    ``extra``). ``vgnet`` is built on first use (torch, on ``device``); ``has_vgnet``
    says, from the manifest, whether there is one. Every file was checked against its
    sha256 when the set was loaded."""

    def __init__(self, name: str, entry: dict, atnet: Any, vgnet: object | None, pca: Any, pipeline: dict,
                 device="cpu", folder: Path | None = None):
        self.name, self.entry, self.atnet, self.pca, self.pipeline = name, entry, atnet, pca, pipeline
        self.device, self.folder = device, folder
        self._vgnet = vgnet

    def __repr__(self) -> str:
        vg = "loaded" if self._vgnet is not None else ("not loaded yet" if self.has_vgnet else "none")
        return f"LoadedWeights({self.name!r}, AT-net {type(self.atnet).__name__}, VG-net {vg})"

    @property
    def has_vgnet(self) -> bool:
        """The set has a VG-net (its manifest entry lists one); nothing is loaded."""
        return self._vgnet is not None or "vgnet" in self.entry.get("files", {})

    @property
    def vgnet(self):
        """VG-net in eval mode on ``device``, loaded on first use (imports torch); None when
        the set has none."""
        if self._vgnet is None and self.has_vgnet and self.folder is not None:
            require_torch("the neural renderer (VG-net, --renderer neural)")
            spec = self.entry["files"]["vgnet"]
            vsd, _ = load_tensors(self.folder, spec)
            vg = _load_vgnet(vsd, spec, self.folder)
            self._vgnet = vg.to(self.device).eval()
        return self._vgnet


def load(name: str = "default", device="cpu", need_vgnet: bool = False, d: Path | None = None) -> LoadedWeights:
    """AT-net (+ VG-net) of a manifest entry, every file verified first (sha256), in eval
    mode. MouthNet weights are built in numpy (no torch; ``device`` is then only VG-net's);
    VG-net is built on first use of ``.vgnet``, or now with ``need_vgnet``. Every call
    reads the files again: keep the result (``talkface.load``) to load them once."""
    e, d = _resolve(name, d)
    files = e.get("files", {})
    if "atnet" not in files:
        raise WeightsError(f"{d / MANIFEST}: entry {e['name']!r} has no AT-net file; re-export it")
    if files["atnet"].get("arch") == "mouthnet":  # talkface's speaker-independent AT-net, in numpy
        sd, _ = load_tensors(d, files["atnet"], numpy=True)
        atnet, pca = _load_mouthnet(sd, files["atnet"], d), None
    else:
        require_torch(f"the authors' AT-net layout of weights {e['name']!r}")
        sd, _ = load_tensors(d, files["atnet"])
        atnet, pca = _load_atnet(sd, files["atnet"], e, d)
        atnet.to(device).eval()
    for part, spec in files.items():  # a corrupt VG-net fails now, not when a video first needs it
        if part != "atnet":
            verify_file(d, spec)
    pipe = dict(e.get("pipeline", {}))
    pipe["extra"] = getattr(atnet, "extra", {})
    w = LoadedWeights(e["name"], e, atnet, None, pca, pipe, device, d)
    if need_vgnet:
        w.vgnet  # noqa: B018 - builds it now
    return w
