"""The AT-net stage: what the weights' AT-net reads from the audio, and the landmark motion
it predicts. Two kinds of AT-net: MouthNet (talkface's default; speech features, and
``wts.pca is None``) and the authors' AT-net (MFCC windows and a landmark PCA)."""
from __future__ import annotations

import numpy as np

from ..speech import audio as A


def speech_input(path, sr: int = A.SAMPLE_RATE, max_seconds: float | None = A.DEFAULT_MAX_SECONDS):
    """(samples, (frames, N) speech features) of an audio file, for MouthNet weights; for
    long audio (``phones.STREAM_FROM`` seconds or more) the features are a
    :class:`~talkface.speech.phones.SpeechStream` (call its ``start()`` where it is read)."""
    from ..speech.phones import STREAM_FROM, SpeechStream, speech_features

    wav = A.load_audio_int16(path, sr, max_seconds)
    if wav.size >= STREAM_FROM * sr:  # long: the first frames need only its first seconds
        return wav.size, SpeechStream(wav)
    return wav.size, speech_features(wav.astype(np.float32) / 32768.0)


def audio_features(wts, wav: np.ndarray):
    """What the weights' AT-net reads, from a decoded waveform: speech features (MouthNet)
    or MFCC windows (the authors' layout)."""
    if wts.pca is None:
        from ..speech.phones import speech_features

        return speech_features(wav)
    return A.features(wav, norm=bool(wts.pipeline.get("feature_norm", True)))


def predict_chunks(wts, ref_norm: np.ndarray, feats, device):
    """AT-net, streamed: (k, 136) landmark chunks in the weights' landmark space."""
    if wts.pca is None:
        from .mouthnet import predict_chunks as mouth_chunks

        return mouth_chunks(wts.atnet, wts.atnet.basis, ref_norm, feats, wts.atnet.gain, device)
    from .atnet import predict_iter

    return predict_iter(wts.atnet, wts.pca, ref_norm, feats, device)


def predict_sequence(wts, ref_norm: np.ndarray, feats, device) -> np.ndarray:
    """AT-net: (T, 136) landmark sequence in the weights' landmark space."""
    return np.concatenate(list(predict_chunks(wts, ref_norm, feats, device)))
