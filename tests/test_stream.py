"""Streaming pieces of generate: chunked MFCC, AT-net in chunks, the face search in a
forked process, and bench/run.py on a short input."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from helpers import ROOT, synth_speech, write_png, write_wav
from talkface.speech import audio as A


def test_chunked_mfcc_equals_python_speech_features():
    from python_speech_features import mfcc as psf_mfcc

    wav = synth_speech(3.3, seed=3)
    ref = psf_mfcc(A.pad(wav), 16000, winstep=0.01)[:, 1:]
    for rows in (7, 100, 3000):
        ours = A.mfcc(wav, pad_n=A.PAD_SAMPLES, chunk_rows=rows)
        assert ours.shape == ref.shape
        assert np.abs(ours - ref).max() < 1e-3


def test_features_windows_cut_on_demand_match_the_whole():
    wav = synth_speech(2.0, seed=1)
    f = A.Features(wav)
    whole = A.features(wav)
    assert len(f) == len(whole) == A.n_frames_for(wav.size)
    np.testing.assert_array_equal(f.window(7, 19), whole[7:19])
    i16 = np.round(wav * 32767).astype(np.int16)
    np.testing.assert_allclose(A.Features(i16).window(), A.features(i16.astype(np.float32) / 32768), atol=1e-5)


def test_atnet_in_chunks_equals_one_pass(tmp_path):
    from helpers import make_random_weights
    from talkface import weights as W
    from talkface.motion.atnet import predict, predict_iter

    make_random_weights(tmp_path)
    wts = W.load("test-random", "cpu", need_vgnet=False, d=tmp_path)
    feats = A.Features(synth_speech(4.0, seed=2))
    ref = np.random.default_rng(0).normal(0, 0.1, 136).astype(np.float32)
    chunks = list(predict_iter(wts.atnet, wts.pca, ref, feats, chunk=37, first=5))
    assert [len(c) for c in chunks[:2]] == [5, 37]
    whole = predict(wts.atnet, wts.pca, ref, feats.window(), chunk=10_000)
    np.testing.assert_allclose(np.concatenate(chunks), whole, atol=1e-4)


def test_rebatch_of_chunks():
    from talkface.render.neural import rebatch

    chunks = [np.arange(5)[:, None], np.arange(5, 6)[:, None], np.arange(6, 17)[:, None]]
    out = list(rebatch(iter(chunks), 4))
    assert [len(b) for b in out] == [4, 4, 4, 4, 1]
    np.testing.assert_array_equal(np.concatenate(out)[:, 0], np.arange(17))


def _in_fresh_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120,
                          cwd=ROOT)


@pytest.mark.slow
def test_face_search_in_a_forked_process(assets, tmp_path):
    grey = write_png(tmp_path / "grey.png", np.full((200, 160, 3), 128, np.uint8))
    r = _in_fresh_python(f"""
        import json, sys
        from talkface.face.image import load_image
        from talkface.face.find import candidate_faces
        from talkface.runtime.prefetch import Prefetch
        from talkface.runtime.errors import NoFaceError
        img = load_image({str(assets['face'])!r})
        with Prefetch(img, "face.png") as s:
            forked = s.forked
            faces = s.faces()
        assert "torch" not in sys.modules
        inline = candidate_faces(img, "face.png")
        try:
            with Prefetch(load_image({str(grey)!r}), "grey.png") as s:
                s.faces()
            err = None
        except NoFaceError as e:
            err = [e.exit_code, e.message]
        print(json.dumps({{"forked": forked, "n": len(faces),
                          "same": bool(abs(faces[0].points - inline[0].points).max() < 1e-3), "err": err}}))
    """)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["forked"] and out["n"] == 1 and out["same"]
    assert out["err"][0] == 3 and "grey.png" in out["err"][1] and "--landmarks" in out["err"][1]


@pytest.mark.slow
def test_bench_runs_and_reports(tmp_path):
    """bench/run.py on the shipped weights (part of the package): any failure of the run fails."""
    from talkface import weights as W

    assert (W.shipped_dir() / W.MANIFEST).is_file(), "the shipped weights are missing from the package"
    js = tmp_path / "bench.json"
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--lengths", "1.5", "--variants", "crop256",
                        "--json", str(js)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr + r.stdout
    d = json.loads(js.read_text())
    assert d["machine"]["cores"] >= 1 and d["machine"]["cpu"]
    run = d["runs"][0]
    assert run["frames"] == 38 and run["size"] == [256, 256]
    assert run["rtf"] > 0 and run["first_frame_s"] > 0 and run["peak_pss_mb"] > 50
    assert {"face", "audio", "atnet", "render", "encode"} <= set(run["stages"])


@pytest.mark.slow
def test_prefetch_reads_audio_in_the_forked_process(assets, tmp_path):
    r = _in_fresh_python(f"""
        import json, sys
        import numpy as np
        from talkface.speech import audio as A
        from talkface.runtime.errors import InputError
        from talkface.face.image import load_image
        from talkface.runtime.prefetch import Prefetch
        img = load_image({str(assets['face'])!r})
        with Prefetch(img, "face.png", audio={str(assets['speech'])!r}) as p:
            forked = p.forked
            n, rows = p.audio()
            faces = p.faces()
        wav = A.load_audio_int16({str(assets['speech'])!r})
        same = n == wav.size and np.array_equal(rows, A.raw_rows(wav))
        try:
            with Prefetch(img, "face.png", audio={str(tmp_path / 'missing.wav')!r}) as p:
                p.audio()
            err = None
        except InputError as e:
            err = [e.exit_code, e.message]
        print(json.dumps({{"forked": forked, "same": bool(same), "faces": len(faces), "err": err}}))
    """)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["forked"] and out["same"] and out["faces"] == 1
    assert out["err"][0] == 2 and "missing.wav" in out["err"][1]


def test_eyes_take_the_portraits_shape_so_lids_move_by_blinks_alone():
    from talkface.motion.idle import blink_schedule, stream

    rng = np.random.default_rng(0)
    rest = rng.uniform(0, 100, (68, 2)).astype(np.float32)
    frames = [rest + rng.normal(0, 2, (68, 2)).astype(np.float32) for _ in range(150)]
    still = list(stream(iter(frames), 150, blink=False, rest=rest))
    for f, p in zip(frames, still):
        for e in (slice(36, 42), slice(42, 48)):
            d = p[e] - rest[e]
            assert np.allclose(d, d[0], atol=1e-4)  # the portrait's eye, translated
        np.testing.assert_array_equal(p[48:], f[48:])  # the mouth is AT-net's
    blinked = list(stream(iter(frames), 150, blink=True, rest=rest))
    c = blink_schedule(150)
    gap = lambda p: p[41, 1] - p[37, 1]  # noqa: E731
    closed = [i for i in range(150) if c[i] > 0.9]
    assert closed and all(gap(blinked[i]) < 0.2 * gap(still[i]) for i in closed if gap(still[i]) > 1)
    assert all(np.allclose(blinked[i], still[i]) for i in range(150) if c[i] == 0)


def test_mfcc_stream_in_odd_chunks_equals_the_whole():
    wav = synth_speech(2.7, seed=5)
    ref = A.raw_rows(wav)
    rng = np.random.default_rng(1)
    s = A.MfccStream(pad_n=A.PAD_SAMPLES, batch_rows=13)
    i = 0
    while i < wav.size:
        k = int(rng.integers(1, 3000))
        s.push(wav[i:i + k])
        i += k
    np.testing.assert_allclose(s.finish(), ref, atol=1e-4)


def test_audio_rows_streams_a_file(assets):
    n, rows = A.audio_rows(assets["speech"])
    wav = A.load_audio_int16(assets["speech"])
    assert n == wav.size
    np.testing.assert_array_equal(rows, A.raw_rows(wav))


@pytest.mark.slow
def test_prefetch_decodes_long_audio_in_pieces_from_its_process(assets, tmp_path):
    """Audio of 60-90 s (recognised whole, in one piece per core): the prefetch's audio
    process starts the pieces' processes itself (it once could not: a multiprocessing
    daemon may not have children, and the main process then read the audio again)."""
    wav = A.load_audio_int16(ROOT / "examples" / "speech.wav", A.SAMPLE_RATE, None)
    long = write_wav(tmp_path / "long.wav", np.concatenate([wav] * 7).astype(np.float32) / 32768.0)  # ~64 s
    r = _in_fresh_python(f"""
        import json
        from talkface.face.image import load_image
        from talkface.motion.predict import speech_input
        from talkface.runtime.prefetch import Prefetch
        img = load_image({str(assets['face'])!r})
        with Prefetch(img, "face.png", audio={str(long)!r}, read_audio=speech_input) as p:
            status, value = p.jobs["audio"].result()
        print(json.dumps({{"status": status, "value": None if status == "ok" else value,
                          "kind": type(value[1]).__name__ if status == "ok" else None,
                          "range": getattr(value[1], "level_range", None) if status == "ok" else None}}))
    """)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    # the features, with the audio's level range (the noise gain's) through the process' pipe
    assert out["status"] == "ok" and out["kind"] == "SpeechFeatures" and out["range"] > 10, out


@pytest.mark.slow
def test_long_audio_streams_its_phones(assets, tmp_path):
    """Long audio (STREAM_FROM seconds or more): the prefetch's audio process recognises only
    its first seconds; the other pieces are recognised in forked processes once the stream
    is started, while the video is made. Read whole, the stream gives the features of one
    pass (the same loudness and bands; the phones but for a few frames at the cuts)."""
    wav = A.load_audio_int16(ROOT / "examples" / "speech.wav", A.SAMPLE_RATE, None)
    long = write_wav(tmp_path / "long.wav", np.concatenate([wav] * 11).astype(np.float32) / 32768.0)  # ~100 s
    r = _in_fresh_python(f"""
        import json, pickle
        import numpy as np
        from talkface.speech import audio as A, phones as P
        from talkface.face.image import load_image
        from talkface.motion.predict import speech_input
        from talkface.runtime.prefetch import Prefetch
        img = load_image({str(assets['face'])!r})
        with Prefetch(img, "face.png", audio={str(long)!r}, read_audio=speech_input) as p:
            n, stream = p.audio()
        out = {{"kind": type(stream).__name__, "n": n, "len": len(stream), "ready": stream.ready(),
               "pieces": len(stream._pieces)}}
        stream.start()
        out["forked"] = len(stream._jobs)
        try:
            pickle.dumps(stream)
            out["pickled_started"] = True
        except TypeError:
            out["pickled_started"] = False
        first = stream[0:50]
        whole = stream[0:len(stream)]
        stream.close()
        ref = P.speech_features(A.load_audio_int16({str(long)!r}).astype(np.float32) / 32768.0)
        out["same_first"] = bool(np.array_equal(first, whole[:50]))
        out["energy"] = float(np.abs(whole[:, len(P.PHONES):] - ref[:, len(P.PHONES):]).max())
        out["agree"] = float(np.mean(whole[:, :len(P.PHONES)].argmax(1) == ref[:, :len(P.PHONES)].argmax(1)))
        print(json.dumps(out))
    """)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["kind"] == "SpeechStream" and out["len"] == A.n_frames_for(out["n"]), out
    assert 0 < out["ready"] < out["len"] and out["pieces"] >= 3, out  # only the first piece before start()
    assert out["forked"] >= 1 and out["pickled_started"] is False, out
    assert out["same_first"] and out["energy"] < 1e-5 and out["agree"] > 0.95, out


@pytest.mark.slow
def test_forked_jobs_end_with_the_process_that_started_them(assets, tmp_path):
    """A talkface process killed outright (SIGKILL: no cleanup) leaves no forked job behind
    (the prefetch's face search, long audio's pieces)."""
    import os
    import time

    wav = A.load_audio_int16(ROOT / "examples" / "speech.wav", A.SAMPLE_RATE, None)
    long = write_wav(tmp_path / "long.wav", np.concatenate([wav] * 20).astype(np.float32) / 32768.0)  # ~3 min
    marker = f"talkface-orphan-check-{os.getpid()}"
    code = textwrap.dedent(f"""
        import os, signal, time
        from talkface.face.image import load_image
        from talkface.motion.predict import speech_input
        from talkface.runtime.prefetch import Prefetch
        img = load_image({str(assets['face'])!r})
        p = Prefetch(img, "face.png", audio={str(long)!r}, read_audio=speech_input)
        n, stream = p.audio()
        stream.start()  # the other pieces: recognised in processes of this one
        time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGKILL)
    """)

    def left():
        out = []
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    cmd = open(f"/proc/{d}/cmdline", "rb").read()
                    state = open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()[0]
                except OSError:
                    continue
                if marker.encode() in cmd and state != "Z":
                    out.append(int(d))
        return out

    err = tmp_path / "stderr.txt"
    with open(err, "wb") as f:  # not a pipe: run() would wait for whoever still holds it
        r = subprocess.run([sys.executable, "-c", code, marker], stdout=subprocess.DEVNULL, stderr=f,
                           timeout=120, cwd=ROOT)
    assert r.returncode == -9, err.read_text()
    time.sleep(0.5)
    assert left() == []
