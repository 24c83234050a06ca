"""Lip sync: articulation figures, the phone front-end, MouthNet prediction and the shipped
weights' mouth (it opens with speech and closes in silence)."""
from __future__ import annotations

import numpy as np
import pytest

from talkface.motion import articulation as R
from talkface.speech import phones as P


def _face(opening: float) -> np.ndarray:
    """68 points of a frontal face whose inner lips are ``opening`` apart (eye corners 100 apart)."""
    p = np.zeros((68, 2))
    p[36], p[45] = (0, 0), (100, 0)
    for a, b in R.INNER_PAIRS:
        p[a] = (40 + a, 80)
        p[b] = (40 + a, 80 + opening)
    return p


def test_inner_lip_opening_in_inter_ocular_units():
    seq = np.stack([_face(o) for o in (0, 10, 25)])
    np.testing.assert_allclose(R.inner_lip_opening(seq), [0.0, 0.1, 0.25])
    assert R.inner_lip_opening(_face(50) * 3) == pytest.approx(0.5)  # scale-free


def test_lag_correlation_and_amplitude():
    t = np.arange(200)
    real = np.sin(t / 5.0)
    assert R.lag_correlation(np.roll(real, 2), real) == pytest.approx(1.0, abs=0.02)
    assert R.lag_correlation(np.roll(real, 6), real) < 0.9  # beyond +-2 frames it counts
    assert R.amplitude_ratio(0.5 * real + 3, real) == pytest.approx(0.5)
    assert R.lag_correlation(np.ones(50), real[:50]) is None
    fig = R.articulation(real, real, loud=np.abs(real))
    assert fig["open_corr"] == pytest.approx(1.0) and fig["open_ratio"] == pytest.approx(1.0)


def test_clip_offset_found_and_flagged():
    rng = np.random.default_rng(0)
    real = np.convolve(rng.normal(size=300), np.ones(5) / 5, "same")
    late = np.r_[np.zeros(16), real[:-16]]  # the mouth made from a sound 16 frames behind the picture
    fig = R.articulation(late, real)
    assert fig["av_offset"] == 16 and fig["offset_corr"] == pytest.approx(1.0)
    assert fig["open_corr"] < 0.5 and R.out_of_sync(fig)
    early = R.articulation(real[7:], real[:-7])  # the sound ahead of the picture: a negative offset
    assert early["av_offset"] == -7 and R.out_of_sync(early)
    near = R.articulation(np.r_[np.zeros(4), real[:-4]], real)  # 160 ms: within what is not flagged
    assert near["av_offset"] == 4 and not R.out_of_sync(near)
    assert not R.out_of_sync(R.articulation(real, real))
    assert R.articulation(np.ones(50), real[:50])["av_offset"] is None
    short = R.articulation(real[:12], real[:12])  # shorter than the search: only shifts that overlap
    assert short["av_offset"] == 0 and short["open_corr"] == pytest.approx(1.0)


def test_evaluate_flags_out_of_sync_clips_and_leaves_them_out_of_the_in_sync_mean():
    import io

    from rich.console import Console

    from talkface.commands.evaluate import _mean_row, print_table

    rows = [{"clip": "a.mp4", "open_corr": 0.7, "av_offset": 0, "offset_corr": 0.7},
            {"clip": "b.mp4", "open_corr": 0.1, "av_offset": 16, "offset_corr": 0.6}]
    mean = _mean_row(rows)
    assert mean["open_corr"] == pytest.approx(0.4) and mean["open_corr_in_sync"] == pytest.approx(0.7)
    assert mean["av_offset"] is None and mean["offset_corr"] is None
    buf = io.StringIO()
    print_table({"clips": [{k: r.get(k) for k in ("clip", *mean)} for r in rows], "mean": mean, "failed": []},
                console=Console(file=buf, width=400))
    out = buf.getvalue()
    assert "b.mp4: its mouth matches the speech best with the sound +16 frames (+640 ms)" in out
    assert "a.mp4: its mouth" not in out and "open r of the clips in sync (1 of 2;" in out


def test_loudness_envelope_follows_the_level():
    sr = 16000
    wav = np.concatenate([np.zeros(sr // 2), 0.5 * np.sin(np.arange(sr // 2) * 0.1)]).astype(np.float32)
    env = R.loudness_envelope(wav, 25)
    assert env[:12].max() < env[13:].min() - 20


def test_phone_frames_occupancy():
    segs = [("SIL", 0, 3), ("AA", 4, 11), ("M", 12, 15), ("+NSN+", 16, 19)]
    f = P.phone_frames(segs, 5)
    assert f.shape == (5, len(P.PHONES))
    np.testing.assert_allclose(f.sum(1), 1.0)
    assert f[1, P.PHONE_INDEX["AA"]] == 1.0 and f[3, P.PHONE_INDEX["M"]] == 1.0
    assert f[4, P.PHONE_INDEX["SIL"]] == 1.0  # noise units count as silence


def _speechlike(seconds=3.0, sr=16000, seed=0):
    """Voiced syllables (a harmonic buzz through moving formants) with pauses."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f0 = 120 + 20 * np.sin(2 * np.pi * 0.7 * t)
    buzz = np.sign(np.sin(2 * np.pi * np.cumsum(f0) / sr)) * 0.3
    env = (np.sin(2 * np.pi * 3.0 * t) > 0).astype(float) * (t > 0.5) * (t < seconds - 0.5)
    return (buzz * env + 0.001 * rng.standard_normal(t.size)).astype(np.float32)


def test_speech_features_shape_and_silence():
    wav = _speechlike()
    x = P.speech_features(wav)
    assert x.shape == (75, P.N_FEATURES) and x.dtype == np.float32
    assert np.isfinite(x).all()
    silent = P.speech_features(np.zeros(16000, np.float32))
    assert silent.shape == (25, P.N_FEATURES)
    np.testing.assert_allclose(silent[:, P.PHONE_INDEX["SIL"]], 1.0)  # nothing said


def test_mouthnet_chunks_equal_one_pass():
    import torch

    from talkface.motion.mouthnet import MouthNetConfig, predict_chunks, predict_motion
    from talkface.train.networks.mouthnet import MouthNet

    torch.manual_seed(0)
    m = MouthNet(MouthNetConfig(n_in=P.N_FEATURES))
    basis = np.random.default_rng(0).standard_normal((136, 10)).astype(np.float32) * 0.01
    x = np.random.default_rng(1).standard_normal((333, P.N_FEATURES)).astype(np.float32)
    whole = predict_motion(m, basis, x, 1.0, chunk=10_000)
    np.testing.assert_allclose(predict_motion(m, basis, x, 1.0, chunk=37), whole, atol=1e-5)
    ref = np.zeros(136, np.float32)
    got = np.concatenate(list(predict_chunks(m, basis, ref, x, 1.0, first=5, chunk=50)))
    np.testing.assert_allclose(got, whole, atol=1e-5)


def test_shipped_mouth_opens_with_speech_and_closes_in_silence():
    """The default weights, on a voice they never heard: open while it speaks, closed in the pauses."""
    from talkface import weights as W
    from talkface.face.align import template
    from talkface.face.shape import to_norm
    from talkface.motion.predict import atnet_kind

    wts = W.load("default", "cpu", need_vgnet=False)
    kind = atnet_kind(wts.entry)
    if not kind.speech:
        pytest.skip("default weights are not MouthNet")
    sr = 16000
    wav = _speechlike(4.0)
    ref = to_norm(template(128, 0.85), 128).reshape(-1)
    seq = kind.predict_sequence(wts, ref, kind.features_of(wts, wav), "cpu")
    o = R.inner_lip_opening(seq.reshape(-1, 68, 2)) - R.inner_lip_opening(ref.reshape(68, 2))
    t = (np.arange(len(o)) + 0.5) / 25
    env = R.loudness_envelope(wav, len(o), sr)
    loud = env > env.max() - 20
    silent = (t < 0.35) | (t > 3.65)
    assert o[loud].mean() > o[silent].mean() + 0.03
    assert np.abs(o[silent]).max() < 0.05  # the lips close when nothing is said
    jitter = np.abs(np.diff(o, 2)).mean()
    assert jitter < 0.02


def test_mouthnet_utterance_norm_runs_in_one_pass():
    """With utterance-level normalisation the whole utterance is one pass, whatever the chunk."""
    import torch

    from talkface.motion.mouthnet import MouthNetConfig, predict_motion
    from talkface.train.networks.mouthnet import MouthNet

    torch.manual_seed(0)
    m = MouthNet(MouthNetConfig(n_in=P.N_FEATURES, norm="group"))
    basis = np.random.default_rng(0).standard_normal((136, 10)).astype(np.float32) * 0.01
    x = np.random.default_rng(1).standard_normal((333, P.N_FEATURES)).astype(np.float32)
    np.testing.assert_allclose(predict_motion(m, basis, x, chunk=37), predict_motion(m, basis, x, chunk=10_000),
                               atol=1e-6)


def test_open_portrait_is_closed_first():
    """An open-mouthed portrait gets a closed mouth to add the motion to, the jaw rising with it."""
    from talkface.face.align import template
    from talkface.face.shape import to_norm
    from talkface.motion.articulation import inner_lip_opening
    from talkface.motion.mouthnet import CLOSED, close_mouth

    ref = to_norm(template(128, 0.85), 128).reshape(68, 2).copy()
    basis = np.zeros((136, 10), np.float32)
    drop = np.zeros((68, 2), np.float32)
    drop[[5, 6, 7, 8, 9, 10, 11, 55, 56, 57, 58, 59, 65, 66, 67], 1] = 1.0  # jaw and lower lip down
    basis[:, 0] = (drop / np.linalg.norm(drop)).reshape(-1)
    opened = ref.copy()
    opened[[65, 66, 67, 55, 56, 57, 58, 59], 1] += 0.05
    iod = np.linalg.norm(opened[45] - opened[36])
    assert inner_lip_opening(opened) > 0.1
    closed = close_mouth(opened.reshape(-1), basis).reshape(68, 2)
    gap = np.mean(closed[[67, 66, 65], 1] - closed[[61, 62, 63], 1]) / iod
    assert abs(gap - CLOSED) < 0.005
    assert closed[8, 1] < opened[8, 1]  # the chin rose with the lips
    again = close_mouth(closed.reshape(-1), basis)  # a closed mouth is left as it is
    np.testing.assert_array_equal(again, closed.reshape(-1).astype(np.float32))


def test_quiet_cuts_land_in_pauses():
    sr = 16000
    rng = np.random.default_rng(0)
    pcm = (rng.normal(0, 3000, sr * 10)).astype(np.int16)
    pcm[int(5.3 * sr):int(5.6 * sr)] = 0  # a pause near the middle
    (cut,) = P.quiet_cuts(pcm, 2)
    assert 5.3 * sr <= cut <= 5.6 * sr and cut % (sr // 100) == 0


def test_phones_do_not_depend_on_what_was_decoded_before():
    """The recogniser's front-end is reset for every utterance: a file decodes the same in
    a fresh process and after others (batch, API)."""
    from pathlib import Path

    from talkface.speech import audio as A

    wav = A.load_audio_int16(Path(__file__).resolve().parent.parent / "examples" / "speech.wav", A.SAMPLE_RATE, None)
    first = P.PhoneRecognizer().segments(wav[: 4 * A.SAMPLE_RATE])
    rec = P.recognizer()
    rec.segments(wav[::-1].copy())  # something else first
    assert rec.segments(wav[: 4 * A.SAMPLE_RATE]) == first


@pytest.mark.slow
def test_long_audio_is_decoded_in_pieces_side_by_side():
    """Audio of 2 x MIN_PIECE or more: one piece per core, cut in pauses, decoded in forked
    processes; the phones are those of one pass but for a few around the cuts."""
    from pathlib import Path

    from talkface.speech import audio as A

    wav = A.load_audio_int16(Path(__file__).resolve().parent.parent / "examples" / "speech.wav", A.SAMPLE_RATE, None)
    wav = np.concatenate([wav] * 7)  # about 64 s
    rec = P.recognizer()
    one, par = rec.segments(wav), rec.segments_parallel(wav, 2)
    assert rec.segments_parallel(wav[: 40 * A.SAMPLE_RATE], 2) == rec.segments(wav[: 40 * A.SAMPLE_RATE])
    n = A.n_frames_for(wav.size)
    a, b = P.phone_frames(one, n).argmax(1), P.phone_frames(par, n).argmax(1)
    assert (a == b).mean() > 0.95
    assert max(e for _, _, e in par) > 0.9 * wav.size / (A.SAMPLE_RATE // 100)  # offsets applied


@pytest.mark.parametrize("level", [0.0, 1e-5])
def test_digital_silence_keeps_the_mouth_closed(level):
    """Five seconds of digital silence (or dither): the recogniser hears a fricative there, but
    frames below SILENT_DB are silence, the speech gate shuts and the motion is zero."""
    from talkface import weights as W
    from talkface.motion.mouthnet import predict_motion, speech_gate

    wav = np.random.default_rng(0).normal(0, level, 80000).astype(np.float32) if level else np.zeros(80000, np.float32)
    f = P.speech_features(wav)
    assert (f[:, 0] == 1).all() and f[:, 40].max() < -5  # silence, far below the speech level
    w = W.load("default")
    assert speech_gate(f).max() == 0.0
    assert np.abs(predict_motion(w.atnet, w.atnet.basis, f, w.atnet.gain)).max() == 0.0
    stream = P.SpeechStream(wav)
    np.testing.assert_array_equal(stream[0:len(stream)][:, 0], 1.0)


def test_the_gate_lets_the_lips_part_for_a_breath_before_speech():
    """A sentence after a long pause: the gate is open about half a second before its first
    sound (people part their lips to breathe in), shut a second before it, and shut again
    from about 0.3 s after its last sound."""
    from talkface.motion.mouthnet import LAG, LEAD, speech_gate

    f = np.zeros((100, P.N_FEATURES), np.float32)
    f[:, 0], f[:, 40] = 1.0, -6.0  # silence, far below the speech level
    f[40:60, 0], f[40:60, 40], f[40:60, 3] = 0.0, 0.0, 1.0  # 0.8 s of an open vowel
    g = speech_gate(f)
    assert LEAD * 40 >= 440  # ms: the lips may part for a breath in (GRID s2 and s4, most footage speakers)
    assert g[40 - LEAD + 2] > 0.5 and g[40 - 6] == 1.0 and g[40 - 25] == 0.0
    assert g[59 + LAG] > 0.0 and g[59 + LAG + 4:].max() == 0.0


def test_speech_that_starts_at_once_does_not_open_the_first_frames():
    """Speech from the very first sample (a TTS without a lead-in): the mouth fades in over
    the first frames (``fade_in``) from the portrait's, and the first frame is not the
    utterance's widest opening (the network's first frames read its zero padding)."""
    from helpers import ROOT
    from talkface import weights as W
    from talkface.motion.mouthnet import FADE_IN, fade_in, predict_motion
    from talkface.speech import audio as A

    np.testing.assert_allclose(fade_in(0, 5), [0.25, 0.5, 0.75, 1, 1])
    np.testing.assert_allclose(fade_in(2, 3), [0.75, 1, 1])
    wts = W.load("default", "cpu", need_vgnet=False)
    net = wts.atnet
    wav = A.load_audio(ROOT / "examples" / "speech.wav", max_seconds=None)
    lv = R.loudness_envelope(wav, A.n_frames_for(wav.size))
    s = int(np.argmax(lv > lv.max() - 10))  # the first loud frame: cut the audio there
    feats = P.speech_features(wav[s * 640:])
    m = predict_motion(net, net.basis, feats, net.gain).reshape(-1, 68, 2)
    gap = (m[:, [67, 66, 65], 1] - m[:, [61, 62, 63], 1]).mean(1)
    assert abs(gap[0]) <= np.abs(gap).max() / 2
    whole = predict_motion(net, net.basis, feats, net.gain, start=FADE_IN)  # as if frames came before
    flat = m.reshape(len(m), -1)
    np.testing.assert_allclose(flat[:FADE_IN], whole[:FADE_IN] * fade_in(0, FADE_IN)[:, None], atol=1e-6)
    np.testing.assert_array_equal(flat[FADE_IN:], whole[FADE_IN:])
