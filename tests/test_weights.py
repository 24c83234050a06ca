"""Weights registry: manifest, sha256 verification and the CLI's exit code 4 (talkface.weights)."""
from __future__ import annotations

import json
import shutil
import sys

import pytest
from typer.testing import CliRunner

from talkface import weights as W
from talkface.cli import app
from talkface.runtime.errors import InputError, WeightsError

runner = CliRunner()


def cli(*args):
    return runner.invoke(app, [str(a) for a in args])



def flip_byte(path, where=0.5):
    data = bytearray(path.read_bytes())
    i = int(len(data) * where)
    data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def generate_args(assets, tmp_path):
    return ["generate", assets["face"], assets["speech"], "-o", tmp_path / "out.mp4", "--quiet"]


def test_random_weights_verify_ok(random_weights):
    r = cli("weights", "verify")
    assert r.exit_code == 0, r.output
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("ok ") for line in lines)
    r = cli("weights", "verify", "--json")
    assert r.exit_code == 0
    d = json.loads(r.stdout)
    assert d["ok"] is True
    assert {row["part"] for row in d["files"]} == {"atnet", "vgnet"}
    assert all(row["ok"] and row["error"] is None and row["name"] == "test-random" for row in d["files"])
    assert [row["ok"] for row in W.verify("test-random")] == [True, True]


LIST_KEYS = {"name", "default", "kind", "where", "dir", "size", "ok", "error", "hidden", "files", "card", "use"}
LIST_COLUMNS = ["name", "default", "kind", "where", "size", "verified", "use", "folder"]


def test_weights_list_json_schema(random_weights):
    r = cli("weights", "list", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert set(d) == {"folders", "default", "weights"}
    assert d["folders"] == [{"where": "custom", "dir": str(random_weights)}]
    assert d["default"] == "test-random"
    assert len(d["weights"]) == 1
    e = d["weights"][0]
    assert set(e) == LIST_KEYS
    assert e["name"] == "test-random" and e["default"] is True and e["kind"] == "talkface"
    assert e["where"] == "custom" and e["dir"] == str(random_weights) and e["ok"] is True and e["error"] is None
    assert e["card"] is None and e["hidden"] is False
    assert e["files"] == {"atnet": "test-random-atnet.safetensors", "vgnet": "test-random-vgnet.safetensors"}
    assert e["size"] == sum((random_weights / f).stat().st_size for f in e["files"].values())


def test_weights_list_table(random_weights):
    r = cli("weights", "list")
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert lines[0].split("\t") == LIST_COLUMNS  # not a terminal: tab-separated
    row = lines[1].split("\t")
    assert row[:4] == ["test-random", "yes", "talkface", "custom"]
    assert row[4].endswith(" MB") and row[5] == "ok" and row[6] == "any" and row[7] == str(random_weights)


def test_manifest_sha256_matches_files(random_weights):
    m = W.read_manifest()
    assert m["default"] == "test-random"
    for spec in W.find_entry("default")["files"].values():
        assert W.sha256(random_weights / spec["file"]) == spec["sha256"]
        assert len(spec["sha256"]) == 64


@pytest.mark.parametrize("part", ["atnet", "vgnet"])
def test_corrupt_file_verify_exit_4(weights_copy, part, assets):
    target = weights_copy / f"test-random-{part}.safetensors"
    flip_byte(target)
    r = cli("weights", "verify")
    assert r.exit_code == 4, r.output
    assert f"BAD test-random/{part}" in r.stdout
    assert "sha256" in r.stdout
    r = cli("weights", "verify", "--json")
    assert r.exit_code == 4
    d = json.loads(r.stdout)
    assert d["ok"] is False
    bad = [row for row in d["files"] if not row["ok"]]
    assert [row["part"] for row in bad] == [part]
    assert str(target) in bad[0]["error"]
    # the session fixture is untouched
    assert [row["ok"] for row in W.verify("default", assets["weights"])] == [True, True]


def test_corrupt_file_generate_exit_4(weights_copy, assets, tmp_path):
    target = weights_copy / "test-random-vgnet.safetensors"
    flip_byte(target, 0.9)
    r = cli(*generate_args(assets, tmp_path))
    assert r.exit_code == 4, r.output
    assert r.stderr.startswith("error: ")
    assert str(target) in r.stderr and "corrupt" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.output
    assert not (tmp_path / "out.mp4").exists()
    with pytest.raises(WeightsError):
        W.load("default", "cpu")


def test_corrupt_header_same_length_exit_4(weights_copy, assets, tmp_path):
    """A flip in the safetensors header is caught by the hash too, before any parsing."""
    target = weights_copy / "test-random-atnet.safetensors"
    flip_byte(target, 0.0001)
    r = cli(*generate_args(assets, tmp_path))
    assert r.exit_code == 4, r.output
    assert str(target) in r.stderr


def test_missing_file_exit_4(weights_copy, assets, tmp_path):
    target = weights_copy / "test-random-atnet.safetensors"
    target.unlink()
    r = cli("weights", "verify")
    assert r.exit_code == 4
    assert "missing" in r.stdout
    r = cli(*generate_args(assets, tmp_path))
    assert r.exit_code == 4, r.output
    assert str(target) in r.stderr and "missing" in r.stderr
    assert "Traceback" not in r.output


def test_unknown_weights_name_exit_4(random_weights, assets, tmp_path):
    r = cli(*generate_args(assets, tmp_path), "--weights", "nope")
    assert r.exit_code == 4
    assert "nope" in r.stderr and "test-random" in r.stderr


def test_bad_manifest_json_exit_4(weights_copy, assets, tmp_path):
    (weights_copy / "manifest.json").write_text("{not json")
    r = cli(*generate_args(assets, tmp_path))
    assert r.exit_code == 4
    assert "manifest.json" in r.stderr


def test_no_manifest(tmp_path, monkeypatch, assets):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("TALKFACE_WEIGHTS", str(empty))
    r = cli(*generate_args(assets, tmp_path))
    assert r.exit_code == 4, r.output
    assert "no default weights" in r.stderr
    assert r.stderr.startswith("error: ")
    assert "Traceback" not in r.output
    r = cli("weights", "verify")
    assert r.exit_code == 4
    r = cli("weights", "list", "--json")
    assert r.exit_code == 0
    assert json.loads(r.stdout) == {"folders": [{"where": "custom", "dir": str(empty)}], "default": None,
                                    "weights": []}


def test_save_tensors_roundtrip(tmp_path):
    import torch

    t = {"a": torch.arange(6, dtype=torch.float32).reshape(2, 3), "b": torch.ones(4)}
    spec = W.save_tensors(t, tmp_path / "x.safetensors", {"k": 1})
    assert spec["file"] == "x.safetensors" and spec["sha256"] == W.sha256(tmp_path / "x.safetensors")
    got, meta = W.load_tensors(tmp_path, spec)
    assert meta == {"k": "1"}
    assert torch.equal(got["a"], t["a"]) and torch.equal(got["b"], t["b"])
    assert not list(tmp_path.glob("*.tmp"))


# ----------------------------------------------------------------------------- shipped + user folders
@pytest.fixture()
def home(tmp_path, monkeypatch):
    """No TALKFACE_WEIGHTS: the shipped folder plus an empty per-user folder in TALKFACE_HOME."""
    monkeypatch.delenv("TALKFACE_WEIGHTS", raising=False)
    h = tmp_path / "home"
    monkeypatch.setenv("TALKFACE_HOME", str(h))
    return h


def shipped_default() -> str:
    return W.read_manifest(W.shipped_dir())["default"]


def user_copy(assets, home, name=None, default=True):
    """The random test weights as the user's own set (renamed to ``name``)."""
    d = home / "weights"
    shutil.copytree(assets["weights"], d)
    m = json.loads((d / "manifest.json").read_text())
    if name:
        m["weights"][0]["name"] = name
    m["default"] = m["weights"][0]["name"] if default else None
    (d / "manifest.json").write_text(json.dumps(m))
    return d


def test_shipped_weights_are_package_data():
    """The default weights live inside the package, are declared package data (so the
    sdist, the wheel and an editable install carry them), verify, and stay small."""
    import fnmatch
    from pathlib import Path

    import talkface

    d = W.shipped_dir()
    assert d == Path(talkface.__file__).resolve().parent / "assets" / "weights"
    m = W.read_manifest(d)
    assert m["default"] in {e["name"] for e in m["weights"]}
    for e in m["weights"]:
        assert all(r["ok"] for r in W.verify(e["name"], d)), e["name"]
        if e.get("card"):
            assert (d / e["card"]).is_file()
    tomllib = pytest.importorskip("tomllib")
    pyproject = Path(talkface.__file__).resolve().parent.parent / "pyproject.toml"
    if not pyproject.is_file():
        pytest.skip("an installed copy: no pyproject.toml beside it")
    globs = tomllib.loads(pyproject.read_text())["tool"]["setuptools"]["package-data"]["talkface"]
    files = [p for p in d.iterdir() if p.is_file()]
    for p in files:
        rel = f"assets/weights/{p.name}"
        assert any(fnmatch.fnmatch(rel, g) for g in globs), f"{rel} is not package data (pyproject.toml)"
    assert sum(p.stat().st_size for p in files) < 50e6


def test_user_folder_is_the_platform_data_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("TALKFACE_HOME", raising=False)
    monkeypatch.delenv("TALKFACE_WEIGHTS", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    from platformdirs import user_data_path

    assert W.user_dir() == user_data_path("talkface", appauthor=False) / "weights"
    assert W.weights_dir() == W.user_dir()
    if sys.platform.startswith("linux"):
        assert W.user_dir() == tmp_path / "xdg" / "talkface" / "weights"
    monkeypatch.setenv("TALKFACE_HOME", str(tmp_path / "h"))
    assert W.user_dir() == tmp_path / "h" / "weights"


def test_shipped_default_with_an_empty_user_folder(home):
    x = W.locate("default")
    assert x.folder.origin == "shipped" and x.name == shipped_default()
    r = cli("weights", "list", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["folders"] == [{"where": "shipped", "dir": str(W.shipped_dir())},
                            {"where": "user", "dir": str(home / "weights")}]
    assert [(w["name"], w["where"], w["default"], w["ok"], w["use"]) for w in d["weights"]] == [
        (shipped_default(), "shipped", True, True, "any"), ("talkface-research", "shipped", False, True, "research"),
        ("talkface-live", "shipped", False, True, "any")]
    assert not home.exists()  # reading never creates the user folder


def test_user_and_shipped_sets_both_found(home, assets, tmp_path):
    user_copy(assets, home)  # its manifest makes test-random the default
    assert W.locate(shipped_default()).folder.origin == "shipped"
    assert W.locate("test-random").folder.origin == "user"
    assert W.locate("default").name == "test-random"  # the user's default wins (train export --default)
    r = cli("weights", "list")
    lines = [ln.split("\t") for ln in r.stdout.splitlines()]
    assert lines[0] == LIST_COLUMNS
    assert [(ln[0], ln[1], ln[3], ln[5], ln[7]) for ln in lines[1:]] == [
        (shipped_default(), "", "shipped", "ok", str(W.shipped_dir())),
        ("talkface-research", "", "shipped", "ok", str(W.shipped_dir())),
        ("talkface-live", "", "shipped", "ok", str(W.shipped_dir())),
        ("test-random", "yes", "user", "ok", str(home / "weights"))]
    r = cli("weights", "verify")
    assert r.exit_code == 0 and len(r.stdout.splitlines()) == 8
    r = cli(*generate_args(assets, tmp_path), "--weights", "nope")
    assert r.exit_code == 4
    assert f"{shipped_default()} (shipped)" in r.stderr and "test-random (user)" in r.stderr


def test_user_set_named_like_a_shipped_one_is_reported(home, assets, capsys):
    """A user set cannot shadow a shipped one: it is hidden, and said so."""
    name = shipped_default()
    user_copy(assets, home, name=name, default=False)
    r = cli("weights", "list", "--json")
    rows = json.loads(r.stdout)["weights"]
    assert [(w["where"], w["hidden"], w["default"]) for w in rows] == [
        ("shipped", False, True), ("shipped", False, False), ("shipped", False, False), ("user", True, False)]
    r = cli("weights", "list")
    assert r.exit_code == 0
    assert "user, hidden" in r.stdout
    assert "warning:" in r.stderr and name in r.stderr and str(home / "weights") in r.stderr
    assert W.locate(name).folder.origin == "shipped"
    err = capsys.readouterr().err
    assert "warning:" in err and "not used" in err and str(home / "weights" / "manifest.json") in err


def test_a_corrupt_user_set_is_listed_not_fatal(home, assets):
    d = user_copy(assets, home, default=False)
    flip_byte(d / "test-random-vgnet.safetensors")
    r = cli("weights", "list", "--json")
    assert r.exit_code == 0
    rows = {w["name"]: w for w in json.loads(r.stdout)["weights"]}
    assert rows[shipped_default()]["ok"] and not rows["test-random"]["ok"]
    assert "sha256" in rows["test-random"]["error"]
    assert cli("weights", "verify").exit_code == 4
    assert cli("weights", "verify", shipped_default()).exit_code == 0


def test_new_set_names_are_checked(home, tmp_path):
    assert W.target_dir("mine") == home / "weights"
    for bad in (shipped_default(), "default", "", "a/b", "..x", " x"):
        with pytest.raises(InputError):
            W.target_dir(bad)
    assert W.target_dir(shipped_default(), tmp_path / "elsewhere") == tmp_path / "elsewhere"  # an explicit folder


def test_the_research_set_says_so(home, caplog):
    """The shipped research-only set is marked in its manifest, listed with its use, and
    loading it warns once; the default is for any use."""
    import logging

    from talkface.api import TalkingFace

    rows = {w["name"]: w for w in json.loads(cli("weights", "list", "--json").stdout)["weights"]}
    assert rows["talkface-research"]["use"] == "research" and rows[shipped_default()]["use"] == "any"
    with caplog.at_level(logging.WARNING, logger="talkface"):
        TalkingFace(shipped_default()).weights  # noqa: B018
        assert not [r for r in caplog.records if "research" in r.getMessage()]
        TalkingFace("talkface-research").weights  # noqa: B018
    said = [r.getMessage() for r in caplog.records if "research use only" in r.getMessage()]
    assert len(said) == 1 and "talkface-research" in said[0]
