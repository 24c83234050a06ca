"""The motion stage's entry: which AT-net a set of weights has, what it reads from the
audio, and the landmark motion it predicts, a chunk at a time.

One class per kind of AT-net (:class:`ATNetKind`; as rembg has one session class per
model), found from the weights' manifest entry, before anything is loaded, by
:func:`atnet_kind`:

* ``mouthnet`` (:class:`MouthNetATNet`): talkface's default; speech features (phones and
  energy, ``talkface.speech.phones``) in, numpy, no torch;
* ``atnet`` (:class:`MfccATNet`): the paper's AT-net layout as talkface trains it; MFCC
  windows (``talkface.speech.audio``) and a landmark PCA, on torch;
* ``atvgnet-original`` (:class:`AuthorsPipeline`): the authors' released weights, run with
  their semantics (``talkface.motion.authors``): their crop and the frames of their VG-net,
  not talkface's renderers.

A new kind of AT-net is a subclass listed in :data:`KINDS`, chosen in :func:`atnet_kind`.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..speech import audio as A


def speech_input(path, sr: int = A.SAMPLE_RATE, max_seconds: float | None = A.DEFAULT_MAX_SECONDS):
    """(samples, (frames, N) speech features) of an audio file, for MouthNet weights; for
    long audio (``phones.STREAM_FROM`` seconds or more) the features are a
    :class:`~talkface.speech.phones.SpeechStream` (call its ``start()`` where it is read)."""
    from ..speech.phones import STREAM_FROM, SpeechStream, inference_features

    wav = A.load_audio_int16(path, sr, max_seconds)
    if wav.size >= STREAM_FROM * sr:  # long: the first frames need only its first seconds
        return wav.size, SpeechStream(wav)
    return wav.size, inference_features(wav.astype(np.float32) / 32768.0)


class ATNetKind:
    """A kind of AT-net: what it reads from the audio and how it predicts landmarks.

    ``wts`` below is a :class:`talkface.weights.LoadedWeights` of this kind."""

    name = ""
    needs_torch = False  # its AT-net runs on torch (then on --device)
    speech = False  # it reads speech features (phones and energy), not MFCC windows
    renders_itself = False  # its own crop and frames (:meth:`crop`, :meth:`render`), not landmarks to render

    def read_audio(self, path, sr: int = A.SAMPLE_RATE, max_seconds: float | None = A.DEFAULT_MAX_SECONDS):
        """(samples, rows) of an audio file: what :meth:`features` turns into the AT-net's
        input (run in a forked helper process while the weights load)."""
        raise NotImplementedError

    def features(self, wts, rows, n_frames: int):
        """The AT-net's input for ``n_frames`` video frames, from :meth:`read_audio`'s rows."""
        raise NotImplementedError

    def features_of(self, wts, wav: np.ndarray):
        """The AT-net's input from a decoded waveform."""
        raise NotImplementedError

    def predict_chunks(self, wts, ref_norm: np.ndarray, feats, device):
        """AT-net, streamed: (k, 136) landmark chunks in the weights' landmark space."""
        raise NotImplementedError

    def predict_sequence(self, wts, ref_norm: np.ndarray, feats, device) -> np.ndarray:
        """AT-net: (T, 136) landmark sequence in the weights' landmark space."""
        return np.concatenate(list(self.predict_chunks(wts, ref_norm, feats, device)))

    def crop(self, wts, image: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, Any]:
        """With ``renders_itself``: (the reference crop, its ``face.align.Alignment``)."""
        raise NotImplementedError

    def render(self, wts, ref_crop: np.ndarray, feats, device, batch: int):
        """With ``renders_itself``: the frames, (crop colour, attention) each, of the crop."""
        raise NotImplementedError


class MouthNetATNet(ATNetKind):
    """MouthNet: speech features in, mouth and jaw motion out; numpy (``motion.mouthnet``)."""

    name = "mouthnet"
    speech = True

    def read_audio(self, path, sr: int = A.SAMPLE_RATE, max_seconds: float | None = A.DEFAULT_MAX_SECONDS):
        return speech_input(path, sr, max_seconds)

    def features(self, wts, rows, n_frames: int):
        return rows

    def features_of(self, wts, wav: np.ndarray):
        from ..speech.phones import inference_features

        return inference_features(wav)

    def predict_chunks(self, wts, ref_norm: np.ndarray, feats, device):
        from .mouthnet import noise_gain
        from .mouthnet import predict_chunks as mouth_chunks

        # noisy or reverberant audio: the motion the network makes shrinks, the gain restores it
        gain = wts.atnet.gain * noise_gain(getattr(feats, "level_range", None))
        return mouth_chunks(wts.atnet, wts.atnet.basis, ref_norm, feats, gain, device)


class MfccATNet(ATNetKind):
    """The paper's AT-net layout: MFCC windows and a landmark PCA, on torch (``motion.atnet``)."""

    name = "atnet"
    needs_torch = True

    def read_audio(self, path, sr: int = A.SAMPLE_RATE, max_seconds: float | None = A.DEFAULT_MAX_SECONDS):
        return A.audio_rows(path, sr, max_seconds)

    def features(self, wts, rows, n_frames: int):
        return A.Features(None, norm=bool(wts.pipeline.get("feature_norm", True)), n_frames=n_frames, rows=rows)

    def features_of(self, wts, wav: np.ndarray):
        return A.features(wav, norm=bool(wts.pipeline.get("feature_norm", True)))

    def predict_chunks(self, wts, ref_norm: np.ndarray, feats, device):
        from .atnet import predict_iter

        return predict_iter(wts.atnet, wts.pca, ref_norm, feats, device)


class AuthorsPipeline(MfccATNet):
    """The authors' released ATVG-net weights, run with their semantics: their 128 px
    crop, their AT-net's landmarks fed straight to their VG-net (``motion.authors``)."""

    name = "atvgnet-original"
    renders_itself = True

    def crop(self, wts, image: np.ndarray, points: np.ndarray):
        from .authors import original_crop

        return original_crop(image, points, wts.pipeline["extra"]["template"])

    def render(self, wts, ref_crop: np.ndarray, feats, device, batch: int):
        from .authors import render_original

        return render_original(wts, ref_crop, feats.window(), device, batch=batch)


KINDS: dict[str, ATNetKind] = {k.name: k for k in (MouthNetATNet(), MfccATNet(), AuthorsPipeline())}


def atnet_kind(entry: dict) -> ATNetKind:
    """The kind of AT-net of a weights manifest entry (nothing is loaded): the authors'
    pipeline for their imported weights (pipeline kind ``atvgnet-original``), else MouthNet
    or the paper's layout by the AT-net file's ``arch`` (``atnet`` when the entry cannot
    be read: loading the weights reports why)."""
    if entry.get("pipeline", {}).get("kind", "talkface") == AuthorsPipeline.name:
        return KINDS[AuthorsPipeline.name]
    arch = entry.get("files", {}).get("atnet", {}).get("arch", "atnet")
    return KINDS["mouthnet" if arch == "mouthnet" else "atnet"]
