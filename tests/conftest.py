"""Fixtures the tests share: the inputs of helpers.py, made once per session."""
from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from helpers import draw_face, make_random_weights, speech_wav, write_png

# The tests never read or write the real per-user folder (imported and exported weights):
# an empty TALKFACE_HOME for the whole run, inherited by the CLI subprocesses. A test that
# writes there sets its own (monkeypatch.setenv("TALKFACE_HOME", ...)).
_HOME = tempfile.TemporaryDirectory(prefix="talkface-home-")
os.environ["TALKFACE_HOME"] = _HOME.name
os.environ.pop("TALKFACE_WEIGHTS", None)


@pytest.fixture(scope="session")
def assets(tmp_path_factory):
    d = tmp_path_factory.mktemp("assets")
    face = write_png(d / "face.png", draw_face())
    speech = speech_wav(d / "speech.wav")
    weights = make_random_weights(d / "weights")
    return {"dir": d, "face": face, "speech": speech, "weights": weights}


@pytest.fixture()
def random_weights(assets, monkeypatch):
    monkeypatch.setenv("TALKFACE_WEIGHTS", str(assets["weights"]))
    return assets["weights"]


@pytest.fixture()
def weights_copy(assets, tmp_path, monkeypatch):
    """A private copy of the session's random weights (safe to damage)."""
    d = tmp_path / "weights"
    shutil.copytree(assets["weights"], d)
    monkeypatch.setenv("TALKFACE_WEIGHTS", str(d))
    return d
