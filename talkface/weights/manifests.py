"""The registry: which weight sets there are, in which folder, and what a name means
(see the package's doc for the folders and the manifest)."""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..runtime.errors import InputError, WeightsError
from .files import verify_entry

MANIFEST = "manifest.json"
ENV_HOME = "TALKFACE_HOME"
ENV_DIR = "TALKFACE_WEIGHTS"
MAX_NAME_BYTES = 200  # a set's files are NAME-PART.safetensors(.tmp): they must fit in NAME_MAX (255)


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
    problem = _schema_problem(m)
    if problem:
        raise WeightsError(f"{p}: {problem}; fix the manifest (reinstall talkface for the shipped one) or "
                           "re-export the weights")
    return m


def _kind(v) -> str:
    """How a JSON value is described in a manifest error."""
    return {str: "a string", bool: "true/false", int: "a number", float: "a number", list: "a list",
            dict: "an object", type(None): "null"}.get(type(v), type(v).__name__)


def _schema_problem(m: dict) -> str | None:
    """What makes manifest ``m`` unusable (None: nothing): the keys talkface reads, with
    the types it reads them as."""
    if m["default"] is not None and not isinstance(m["default"], str):
        return f'"default" is {_kind(m["default"])}, not a weights name (a string) or null'
    if not isinstance(m["weights"], list):
        return f'"weights" is {_kind(m["weights"])}, not a list of entries'
    for i, e in enumerate(m["weights"], 1):
        where = f'"weights" entry {i}'
        if not isinstance(e, dict):
            return f"{where} is {_kind(e)}, not an object"
        name = e.get("name")
        if name is None:
            return f'{where} has no "name"'
        if not isinstance(name, str) or not name.strip():
            return f'{where} has "name" {json.dumps(name)}, not a weights name'
        where = f"{where} ({json.dumps(name)})"
        for key, types, what in (("files", dict, "an object"), ("pipeline", dict, "an object"),
                                 ("card", (str, type(None)), "a file name or null"),
                                 ("kind", str, "a string"), ("description", str, "a string")):
            if key in e and not isinstance(e[key], types):
                return f'{where}: "{key}" is {_kind(e[key])}, not {what}'
        if "files" not in e:
            return f'{where} has no "files"'
        for part, spec in e["files"].items():
            if not isinstance(spec, dict):
                return f'{where}: "files" "{part}" is {_kind(spec)}, not an object'
            for key in ("file", "sha256"):
                if key not in spec:
                    return f'{where}: "files" "{part}" has no "{key}"'
                if not isinstance(spec[key], str) or not spec[key]:
                    return f'{where}: "files" "{part}" has "{key}" {json.dumps(spec[key])}, not a non-empty string'
            if "config" in spec and not isinstance(spec["config"], dict):
                return f'{where}: "files" "{part}": "config" is {_kind(spec["config"])}, not an object'
    return None


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


def _check_custom():
    """``TALKFACE_WEIGHTS`` names a folder that is there (WeightsError, exit 4, naming it if not)."""
    env = os.environ.get(ENV_DIR)
    if env and not Path(env).is_dir():
        what = "is not a folder" if Path(env).exists() else "does not exist"
        raise WeightsError(f"{ENV_DIR}={env}: {what}; point it at a weights folder (one with a manifest.json) "
                           f"or unset it to use the shipped weights and yours")


def registry() -> Registry:
    """Every entry of every folder; the default from the last folder that names one."""
    _check_custom()
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


def remove(name: str) -> dict:
    """Remove your set ``name`` (the writable folder's): its manifest entry, then its files
    that no other entry there uses; the default is unset if it was this set. Shipped sets
    are refused (InputError); an unknown name is WeightsError. Returns {name, dir, files,
    entry}."""
    d = weights_dir()
    m = _read(d)
    mine = [e for e in m["weights"] if e["name"] == name]
    if not mine:
        if any(x.name == name for x in registry().listed):
            raise InputError(f"{name}: shipped with talkface ({shipped_dir()}), not yours; only your own weights "
                             "can be removed")
        raise WeightsError(f"{d / MANIFEST}: no weights named {name!r} there; see talkface weights list")
    keep = [e for e in m["weights"] if e["name"] != name]
    used = {spec.get("file") for e in keep for spec in e.get("files", {}).values()}
    files = [spec["file"] for spec in mine[-1].get("files", {}).values()
             if spec.get("file") and spec["file"] not in used and Path(spec["file"]).name == spec["file"]]
    m["weights"] = keep
    if m.get("default") == name:
        m["default"] = None
    write_manifest(m, d)  # the commit point: the set is gone from here on
    for f in files:
        (d / f).unlink(missing_ok=True)
    return {"name": name, "dir": str(d), "files": files, "entry": mine[-1]}


def target_dir(name: str, out_dir: Path | None = None) -> Path:
    """The folder a new set ``name`` is written to (``out_dir``, else ``weights_dir()``),
    after checking the name: a file-name-safe word, not ``default``, and not the name of a
    shipped set when writing to the user folder (it would be hidden). Raises InputError."""
    if not name or name == "default" or name.startswith(".") or any(c in name for c in "/\\:") \
            or name != name.strip():
        raise InputError(f"--name {name!r}: not usable as a weights name; use letters, digits, - and _")
    if len(os.fsencode(name)) > MAX_NAME_BYTES:  # its files are NAME-atnet.safetensors (+ .tmp while written)
        raise InputError(f"--name {name[:40]}...: {len(os.fsencode(name))} bytes, longer than the {MAX_NAME_BYTES} "
                         "a weights name may have (its file names must fit); choose a shorter --name")
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


def _check_name(name):
    """Refuse (InputError, exit 2) an empty ``--weights`` name: not the default, not a name."""
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise InputError(f"--weights {name!r}: empty; give a name from talkface weights list, or leave --weights "
                         "out for the default")


def locate(name: str = "default") -> Listed:
    """The entry ``--weights name`` means (``default``: the default), and its folder."""
    _check_name(name)
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
    _check_name(name)
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
                     "use": e.get("use", "any"),
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


def verify(name: str = "default", d: Path | None = None) -> list[dict]:
    """Re-hash every file of an entry; returns rows of {name, part, file, ok, error}."""
    e, d = _resolve(name, d)
    return verify_entry(e, d)
