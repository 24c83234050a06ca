"""Edge cases users can hit: odd batch manifests (line separators, BOM, CRLF, trailing
delimiters), a dead batch worker, evaluate's names, the warp renderer and motion at the image's
borders and on tiny or short inputs."""
from __future__ import annotations

import json
import shutil
import struct

import numpy as np
import pytest

from helpers import draw_face, synth_speech, write_wav
from talkface import batch as B
from talkface.runtime.errors import InputError


# ----------------------------------------------------------------------------- batch manifests
def test_jsonl_path_with_unicode_line_separator_is_one_item(tmp_path):
    m = tmp_path / "jobs.jsonl"
    rows = [{"portrait": "a\u2028b.png", "audio": "x\u0085.wav", "output": "o.mp4", "size": 256.0},
            {"portrait": "c.png", "audio": "x.wav", "output": "p.mp4"}]
    m.write_text("\r\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\r\n", encoding="utf-8")
    items = B.read_manifest(m)
    assert [it.error for it in items] == [None, None]
    assert [it.line for it in items] == [1, 2]  # shard positions and line numbers unchanged
    assert items[0].portrait == str(tmp_path / "a\u2028b.png")
    assert items[0].options == {"size": 256}  # JSON 256.0 is a whole number


def test_csv_bom_crlf_spaces_unicode_and_trailing_delimiter(tmp_path):
    m = tmp_path / "jobs.csv"
    text = ("portrait,audio,output,id,\r\n"  # a spreadsheet's trailing delimiter
            "\u00e9t\u00e9 face.png,speech/a b.wav,out/\u4e2d.mp4,one,\r\n"
            "\r\n"
            "f.png,a.wav,out/2.mp4,two,stray\r\n")
    m.write_bytes(b"\xef\xbb\xbf" + text.encode())
    a, b = B.read_manifest(m)
    assert a.error is None and a.id == "one"
    assert a.portrait == str(tmp_path / "\u00e9t\u00e9 face.png") and a.output == str(tmp_path / "out" / "\u4e2d.mp4")
    assert b.error and "line 4" in b.error and "'stray'" in b.error and "\n" not in b.error


def test_unreadable_manifest_is_one_line_exit_2(tmp_path, monkeypatch):
    from pathlib import Path

    m = tmp_path / "jobs.csv"
    m.write_text("portrait,audio,output\na,b,c.mp4\n")

    def deny(self, *a, **k):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_text", deny)
    with pytest.raises(InputError) as e:
        B.read_manifest(m)
    assert str(m) in e.value.message and "readable" in e.value.message


def test_moov_over_64_mb_still_valid(tmp_path):
    def box(kind, payload=b""):
        return struct.pack(">I4s", 8 + len(payload), kind) + payload

    hdlr = box(b"hdlr", b"\0" * 8 + b"vide" + b"\0" * 12)
    big = 65 << 20
    p = tmp_path / "v.mp4"
    with open(p, "wb") as f:
        f.write(box(b"ftyp", b"isom\0\0\0\0"))
        f.write(struct.pack(">I4s", big, b"moov") + hdlr)
        f.truncate(16 + big)  # sparse rest of the moov
        f.seek(0, 2)
        f.write(box(b"mdat", b"\0" * 16))
    assert B._isobmff_complete(p) is True


# ----------------------------------------------------------------------------- batch worker pool
class _FakePool:
    """A ProcessPoolExecutor stand-in: runs items in order; an item whose output names "die"
    kills its 'worker', which breaks the pool for every item in flight (as the real one does)."""
    pools = 0

    def __init__(self, max_workers, **_):
        from concurrent.futures import Future

        type(self).pools += 1
        self.Future, self.futures, self._processes, self.broken = Future, [], {}, False

    def submit(self, fn, it, *args):
        from concurrent.futures.process import BrokenProcessPool

        if self.broken:
            raise BrokenProcessPool("a child process terminated abruptly")
        f = self.Future()
        self.futures.append((f, it))
        if "die" in it.output:
            from concurrent.futures.process import BrokenProcessPool

            self.broken = True
            for g, _ in self.futures:
                if not g.done():
                    g.set_exception(BrokenProcessPool("a child process terminated abruptly"))
        return f

    def _settle(self):
        for f, it in self.futures:
            if not f.done():
                f.set_result(B._result(it, "ok", 0, 0.0))

    def shutdown(self, **_):
        self._settle()


@pytest.mark.slow
@pytest.mark.parametrize("names", [["a.mp4", "b.mp4", "die.mp4", "c.mp4", "d.mp4"],
                                   ["a.mp4", "die.mp4", "b.mp4", "c.mp4", "d.mp4"]])
def test_dead_worker_fails_only_its_own_item(tmp_path, monkeypatch, names):
    import concurrent.futures as cf

    real_wait = cf.wait

    def wait(fs, timeout=None, return_when=None):
        for _ in fs:  # everything submitted so far completes now
            for pool in _live:
                pool._settle()
        return real_wait(fs, timeout=timeout, return_when=return_when)

    _live = []

    class Pool(_FakePool):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            _live.append(self)

    monkeypatch.setattr(cf, "ProcessPoolExecutor", Pool)
    monkeypatch.setattr(cf, "wait", wait)
    items = [B.Item(i, i + 1, output=str(tmp_path / name)) for i, name in
             enumerate(names, 1)]
    got = []
    B._run_pool(items, {}, 3, False, False, False, got.append)
    status = {r["output"].rsplit("/", 1)[1]: r["status"] for r in got}
    assert status == {"a.mp4": "ok", "b.mp4": "ok", "die.mp4": "failed", "c.mp4": "ok", "d.mp4": "ok"}
    assert len(got) == 5
    died = [r for r in got if r["status"] == "failed"][0]
    assert "worker process died" in died["error"] and died["exit_code"] == 1


@pytest.mark.slow
def test_batch_bom_crlf_unicode_spaces_one_frame_audio(tmp_path, assets, random_weights):
    d = tmp_path / "my jobs \u00e9"
    (d / "in put").mkdir(parents=True)
    (d / "out").mkdir()
    shutil.copy(assets["face"], d / "in put" / "f\u00e4ce 1.png")
    write_wav(d / "in put" / "one frame.wav", synth_speech(0.04))  # 40 ms: exactly one video frame
    write_wav(d / "in put" / "a.wav", synth_speech(0.3))
    m = d / "jobs.csv"
    m.write_bytes(b"\xef\xbb\xbf" + ("portrait,audio,output,id\r\n"
                                     "in put/f\u00e4ce 1.png,in put/one frame.wav,out/\u00fcne 1.mp4,one\r\n"
                                     "in put/f\u00e4ce 1.png,in put/a.wav,out/two.mp4,two\r\n").encode())
    s = B.run_batch(m, report=d / "r e.csv")
    assert [r["status"] for r in s["items"]] == ["ok", "ok"], s["items"]
    assert [r["frames"] for r in s["items"]][0] == 1
    assert (d / "out" / "\u00fcne 1.mp4").stat().st_size > 0
    assert not [p for p in (d / "out").iterdir() if p.name.endswith(".part")]


# ----------------------------------------------------------------------------- evaluate
def test_evaluate_table_prints_brackets_in_names():
    import io

    from rich.console import Console

    from talkface.commands.evaluate import KEYS, print_table

    row = {"clip": "s1/[bold]x[/] [1].mp4", **{k: 1.0 for k in KEYS}}
    buf = io.StringIO()
    print_table({"clips": [row], "mean": {k: 1.0 for k in KEYS}, "failed": [{"clip": "[/b]", "error": "e [/x]"}]},
                title="talkface evaluate clips[/x]", console=Console(file=buf, width=200))
    out = buf.getvalue()
    assert "s1/[bold]x[/] [1].mp4" in out and "clips[/x]" in out and "[/b]: e [/x]" in out


def test_saved_video_names_never_collide():
    from talkface.commands.evaluate import _video_names

    clips = ["a.mp4", "a.mpg", "grid/s9/b.mpg", "x/y.mp4", "x__y.mp4", "a_mp4.mp4", "B.mov"]
    names = _video_names(clips)
    assert len({v.lower() for v in names.values()}) == len(clips)
    assert names["grid/s9/b.mpg"] == "grid__s9__b.mp4" and names["B.mov"] == "B.mp4"  # unchanged when unique
    assert all(v.endswith(".mp4") and "/" not in v for v in names.values())


# ----------------------------------------------------------------------------- warp, motion
@pytest.fixture(scope="module")
def face():
    from talkface.face.detect import detect_faces

    img = draw_face()
    return img, detect_faces(img)[0].points.astype(np.float64)


@pytest.mark.parametrize("shift", [(0, -230), (0, -200), (170, 0), (-170, 0), (0, 150)])
def test_face_cut_by_the_image_border_renders(face, shift):
    from talkface.render.warp import WarpRenderer

    img, p = face
    q = p + shift
    r = WarpRenderer(img, q)
    dst = q.copy()
    dst[[56, 57, 58, 65, 66, 67], 1] += 8
    dst[[37, 38, 43, 44], 1] = dst[[41, 40, 47, 46], 1]  # a blink
    out = r.frame(dst)
    assert out.shape == img.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(r.frame(q), img)


def test_landmarks_outside_the_portrait_is_an_input_error(face):
    from talkface.render.warp import WarpRenderer

    img, p = face
    with pytest.raises(InputError) as e:
        WarpRenderer(img, p + 2000)
    assert "outside" in e.value.message and "landmarks" in e.value.message


@pytest.mark.parametrize("size", [(20, 16), (48, 40)])
def test_tiny_portrait_renders(face, size):
    import cv2

    from talkface.render.warp import render_warp

    img, p = face
    small = cv2.resize(img, size[::-1], interpolation=cv2.INTER_AREA)
    q = p * (size[1] / img.shape[1])
    seq = np.repeat(q[None], 3, 0)
    seq[1:, [56, 57, 58, 65, 66, 67], 1] += 1.5
    frames = list(render_warp(small, q, seq))
    assert len(frames) == 3 and all(f.shape == small.shape for f in frames)


@pytest.mark.parametrize("n", [0, 1, 2])
def test_motion_stream_short_sequences(face, n):
    from talkface.motion.idle import apply, stream

    _, p = face
    seq = np.repeat(p[None].astype(np.float32), n, 0)
    got = list(stream(iter(seq), n, blink=True, head=True))
    assert len(got) == n
    if n:
        np.testing.assert_allclose(np.stack(got), apply(seq, True, True), atol=1e-4)
