"""``talkface batch``: manifests, per-item failures, reports, --resume, --shard, --jobs."""
from __future__ import annotations

import csv
import json
import shutil
import subprocess

import imageio_ffmpeg
import numpy as np
import pytest
from typer.testing import CliRunner

from helpers import synth_speech, video_size, write_png, write_wav
from talkface import batch as B
from talkface.cli import app

pytestmark = pytest.mark.slow
runner = CliRunner()

TEN = """portrait,audio,output,id,crop,size,renderer,max_size,blink
in/face.png,in/a.wav,out/01.mp4,first,,,,,
in/face.png,in/missing.wav,out/02.mp4,,,,,,
in/face.png,in/a.wav,out/03.mp4,,yes,64,,,
in/face.png,in/a.wav,out/04.mp4,,,,,,no
in/grey.png,in/a.wav,out/05.mp4,,,,,,
in/face.png,in/a.wav,out/06.mp4,,,,neural,,
in/face.png,in/a.wav,out/07.mp4,,,,,160,
in/face.png,in/a.wav,out/08.mp4,,,,,,
in/face.png,in/a.wav,out/09.mp4,,,abc,,,
in/face.png,in/a.wav,out/10.mp4,last,,,,,
"""
BAD = {2: 2, 5: 3, 9: 2}  # item -> exit code: missing audio, no face, bad size cell


def cli(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture()
def job(tmp_path, assets):
    """A job folder: in/ (face, grey, a 0.4 s wav), out/ and manifests written by the test."""
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    shutil.copy(assets["face"], tmp_path / "in" / "face.png")
    write_png(tmp_path / "in" / "grey.png", np.full((400, 320, 3), 128, np.uint8))
    write_wav(tmp_path / "in" / "a.wav", synth_speech(0.4))
    return tmp_path


def frames(path) -> int:
    return imageio_ffmpeg.count_frames_and_secs(str(path))[0]


def test_ten_items_three_bad_two_shards_report_resume(job, random_weights, monkeypatch):
    from talkface import weights as W

    manifest = job / "jobs.csv"
    manifest.write_text(TEN)
    atnet_loads = []
    real = W.load_tensors
    monkeypatch.setattr(W, "load_tensors", lambda d, spec: (atnet_loads.append(1) if "atnet" in spec["file"] else None,
                                                            real(d, spec))[1])

    r1 = cli("batch", manifest, "--shard", "1/2", "--report", job / "rep1.json", "--json")
    r2 = cli("batch", manifest, "--shard", "2/2", "--report", job / "rep2.csv")
    assert r1.exit_code == 5, r1.output  # some items failed
    assert r2.exit_code == 5, r2.output
    assert len(atnet_loads) == 2  # the models are loaded once per batch run, not per item
    for r in (r1, r2):
        assert "Traceback" not in r.output and "\x1b[" not in r.output  # no colour when not a terminal

    # --json: one stable object on stdout, the same as the JSON report
    lines = r1.stdout.strip().splitlines()
    assert len(lines) == 1
    s1 = json.loads(lines[0])
    assert s1 == json.loads((job / "rep1.json").read_text())
    assert list(s1) == ["manifest", "shard", "jobs", "device", "total", "ok", "skipped", "failed", "not_run",
                        "interrupted", "seconds", "report", "items"]
    assert s1["shard"] == "1/2" and s1["total"] == 5 and s1["ok"] == 3 and s1["failed"] == 2
    assert [it["index"] for it in s1["items"]] == [1, 3, 5, 7, 9]
    for it in s1["items"]:
        assert list(it) == list(B.REPORT_FIELDS)
    rows2 = list(csv.DictReader((job / "rep2.csv").open()))
    assert [int(r["index"]) for r in rows2] == [2, 4, 6, 8, 10]
    assert list(rows2[0]) == list(B.REPORT_FIELDS)

    # the shards split the manifest: every item exactly once
    items = {it["index"]: it for it in s1["items"]}
    items.update({int(r["index"]): {**r, "exit_code": int(r["exit_code"]), "line": int(r["line"])} for r in rows2})
    assert sorted(items) == list(range(1, 11))
    for i, it in items.items():
        out = job / "out" / f"{i:02d}.mp4"
        assert it["output"] == str(job / "out" / f"{i:02d}.mp4")
        assert it["line"] == i + 1
        if i in BAD:
            assert it["status"] == "failed" and it["exit_code"] == BAD[i], it
            assert not out.exists()
        else:
            assert it["status"] == "ok" and it["exit_code"] == 0 and not it["error"], it
            assert out.is_file() and float(it["seconds"]) > 0
    assert "missing.wav: no such file" in items[2]["error"]
    assert "no face found" in items[5]["error"] and "grey.png" in items[5]["error"]
    assert items[9]["error"].startswith(f"{manifest} line 10: size 'abc'")
    assert items[1]["id"] == "first" and items[10]["id"] == "last"
    assert frames(job / "out" / "01.mp4") == 10 == s1["items"][0]["frames"]
    assert video_size(job / "out" / "03.mp4") == (64, 64)
    assert max(video_size(job / "out" / "07.mp4")) <= 160
    assert not [p for p in (job / "out").iterdir() if p.name.endswith(".part")]

    # per-item lines and a summary on stderr
    err = r2.stderr.splitlines()
    assert len(err) == 6
    assert any(ln.startswith("[") and "FAILED" in ln and "02.mp4" in ln for ln in err)
    assert err[-1].startswith("batch (shard 2/2): 5 items, 4 ok, 0 skipped, 1 failed")

    # --resume: finished items are skipped, the bad ones fail again
    before = {p: p.stat().st_mtime_ns for p in (job / "out").iterdir()}
    loads = len(atnet_loads)
    r3 = cli("batch", manifest, "--resume", "--json", "-q")
    assert r3.exit_code == 5, r3.output
    s3 = json.loads(r3.stdout)
    assert (s3["skipped"], s3["failed"], s3["ok"]) == (7, 3, 0)
    assert r3.stderr == ""  # -q
    assert len(atnet_loads) <= loads + 1
    assert {p: p.stat().st_mtime_ns for p in (job / "out").iterdir()} == before


def test_a_link_to_a_missing_file_is_an_existing_output(job, random_weights):
    (job / "m.jsonl").write_text(json.dumps({"portrait": "in/face.png", "audio": "in/a.wav", "output": "out/dl.mp4",
                                             "crop": True, "size": 64}) + "\n")
    link = job / "out" / "dl.mp4"
    link.parent.mkdir(exist_ok=True)
    link.symlink_to(job / "nowhere.mp4")
    r = cli("batch", job / "m.jsonl", "--json", "-q")
    assert r.exit_code == 5
    assert "already exists" in json.loads(r.stdout)["items"][0]["error"]
    assert link.is_symlink() and not (job / "nowhere.mp4").exists()
    link.unlink()


def test_existing_outputs_need_resume_or_force(job, random_weights):
    (job / "m.jsonl").write_text(json.dumps({"portrait": "in/face.png", "audio": "in/a.wav", "output": "out/x.mp4",
                                             "crop": True, "size": 64}) + "\n")
    out = job / "out" / "x.mp4"
    out.write_bytes(b"not a video, but someone's file")

    r = cli("batch", job / "m.jsonl", "--json", "-q")
    assert r.exit_code == 5
    assert "already exists; pass --resume" in json.loads(r.stdout)["items"][0]["error"]
    r = cli("batch", job / "m.jsonl", "--resume", "--json", "-q")
    assert r.exit_code == 5
    assert "not a readable video" in json.loads(r.stdout)["items"][0]["error"]
    assert out.read_bytes() == b"not a video, but someone's file"

    r = cli("batch", job / "m.jsonl", "--resume", "--force", "--json", "-q")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["ok"] == 1 and frames(out) == 10
    r = cli("batch", job / "m.jsonl", "--resume", "--json", "-q")
    assert r.exit_code == 0 and json.loads(r.stdout)["skipped"] == 1

    # what --resume takes for a finished video
    data = out.read_bytes()
    assert B.valid_video(out)
    (job / "cut.mp4").write_bytes(data[: len(data) - 100])
    assert not B.valid_video(job / "cut.mp4")
    (job / "junk.mp4").write_bytes(data[:32] + b"\0" * 100)
    assert not B.valid_video(job / "junk.mp4")
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(job / "in" / "a.wav"),
                    str(job / "sound_only.mp4")], check=True)
    assert not B.valid_video(job / "sound_only.mp4")  # no video track
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(out), "-c", "copy",
                    str(job / "same.mkv")], check=True)
    assert B.valid_video(job / "same.mkv")  # other containers: ffmpeg decodes a frame


def test_an_output_that_is_an_input_fails_even_with_force(job, random_weights):
    clip = job / "in" / "talk.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
                    "color=c=blue:s=64x64:d=0.4", "-i", str(job / "in" / "a.wav"), "-shortest", "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", "-c:a", "aac", str(clip)], check=True)
    (job / "out" / "link.mp4").symlink_to(clip)
    before = clip.read_bytes()
    (job / "m.csv").write_text("portrait,audio,output\nin/face.png,in/talk.mp4,in/talk.mp4\n"
                               "in/face.png,in/talk.mp4,out/link.mp4\n")
    for extra in ([], ["--force"], ["--resume", "--force"]):
        r = cli("batch", job / "m.csv", "--json", "-q", *extra)
        assert r.exit_code == 5, r.output
        items = json.loads(r.stdout)["items"]
        assert [i["status"] for i in items] == ["failed", "failed"] and [i["exit_code"] for i in items] == [2, 2]
        assert "writing the output there would destroy it" in items[0]["error"], items
        # the second row's output is the first's too (a link to it): refused as either
        assert any(m in items[1]["error"] for m in ("would destroy it", "the same file")), items
        assert clip.read_bytes() == before


def test_bad_rows_fail_alone(job, random_weights):
    good = {"portrait": "in/face.png", "audio": "in/a.wav"}
    lines = [
        json.dumps({**good, "output": "out/j1.mp4", "crop": True, "size": 64}),  # 1 ok
        "{not json",  # 2
        "[1, 2]",  # 3
        json.dumps(good),  # 4 no output
        json.dumps({**good, "output": "out/j1.mp4"}),  # 5 same output as line 1
        json.dumps({**good, "output": "out/j6.mp4", "colour": "red"}),  # 6 unknown key
        json.dumps({**good, "output": "out/j7.mp4", "face_index": 1.5}),  # 7 not a whole number
        "",  # blank lines are skipped
        json.dumps({**good, "output": "out/j9.gif"}),  # 9 refused by generate
        json.dumps({**good, "output": "out/j10.mp4", "crop": "maybe"}),  # 10 not a boolean
    ]
    m = job / "m.jsonl"
    m.write_text("\n".join(lines) + "\n")
    r = cli("batch", m, "--json", "--report", job / "r.csv")
    assert r.exit_code == 5, r.output
    s = json.loads(r.stdout)
    assert (s["total"], s["ok"], s["failed"]) == (9, 1, 8)
    by_line = {it["line"]: it for it in s["items"]}
    assert by_line[1]["status"] == "ok"
    for line, words in {2: "not valid JSON", 3: "not a JSON object", 4: "no output", 5: "also the output of line 1",
                        6: "unknown key 'colour'", 7: "face_index 1.5 is not a whole number",
                        10: "crop 'maybe' is not true or false"}.items():
        it = by_line[line]
        assert it["status"] == "failed" and it["exit_code"] == 2
        assert it["error"].startswith(f"{m} line {line}: ") and words in it["error"], it["error"]
        assert "; " in it["error"]
    assert "j9.gif: output must be a video file" in by_line[9]["error"]
    assert sorted(p.name for p in (job / "out").iterdir()) == ["j1.mp4"]
    assert len(r.stderr.strip().splitlines()) == 10  # 9 item lines + the summary

    c = job / "m.csv"  # CSV rows with problems
    c.write_text("portrait,audio,output,crop\nin/face.png,in/a.wav,,\nin/face.png,in/a.wav,out/c.mp4,no,extra\n"
                 "in/face.png,in/a.wav,out/d.mp4,perhaps\n")
    r = cli("batch", c, "--json", "-q")
    assert r.exit_code == 5
    errs = [it["error"] for it in json.loads(r.stdout)["items"]]
    assert "line 2: no output" in errs[0] and "line 3: 5 values but 4 columns" in errs[1]
    assert "line 4: crop 'perhaps'" in errs[2]


MANIFEST_OK = "portrait,audio,output\nin/face.png,in/a.wav,out/o.mp4\n"


@pytest.mark.parametrize("name,text,args,words", [
    ("missing.csv", None, [], "no such manifest"),
    ("m.txt", MANIFEST_OK, [], "must be .csv, .tsv or .jsonl"),
    ("m.csv", "", [], "manifest is empty"),
    ("m.csv", "portrait,audio,output\n", [], "has no items"),
    ("m.csv", "portrait,audio\nin/face.png,in/a.wav\n", [], "header has no output column"),
    ("m.csv", "portrait,audio,output,sise\n", [], "unknown column 'sise'"),
    ("m.csv", "portrait,audio,output,audio\n", [], "column 'audio' appears twice"),
    ("m.csv", b"portrait,audio,output\n\xff\xfe,\xff,x.mp4\n", [], "not UTF-8"),
    ("m.csv", MANIFEST_OK, ["--shard", "0/2"], "--shard 0/2: use K/N"),
    ("m.csv", MANIFEST_OK, ["--shard", "3/2"], "--shard 3/2"),
    ("m.csv", MANIFEST_OK, ["--shard", "1"], "--shard 1"),
    ("m.csv", MANIFEST_OK, ["--shard", "a/b"], "--shard a/b"),
    ("m.csv", MANIFEST_OK, ["--jobs", "0"], "--jobs 0"),
    ("m.csv", MANIFEST_OK, ["--report", "r.txt"], "report must be .json or .csv"),
    ("m.csv", MANIFEST_OK, ["--report", "nope/r.json"], "does not exist"),
    ("m.csv", MANIFEST_OK, ["--device", "tpu"], "--device tpu"),
])
def test_whole_batch_refused_exit_2(job, random_weights, name, text, args, words, monkeypatch):
    monkeypatch.chdir(job)
    m = job / name
    if text is not None:
        m.write_bytes(text if isinstance(text, bytes) else text.encode())
    r = cli("batch", m, *args)
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], r.stderr
    assert "Traceback" not in r.output
    assert not list((job / "out").iterdir())


def test_corrupt_weights_stop_the_batch_exit_4(job, assets, monkeypatch):
    w = job / "w"
    shutil.copytree(assets["weights"], w)
    p = w / "test-random-vgnet.safetensors"
    p.write_bytes(p.read_bytes()[:-10])
    monkeypatch.setenv("TALKFACE_WEIGHTS", str(w))
    (job / "m.csv").write_text("portrait,audio,output\nin/face.png,in/a.wav,out/o.mp4\n")
    r = cli("batch", job / "m.csv")
    assert r.exit_code == 4
    assert r.stderr.strip() == f"error: {p}: weights file is corrupt (sha256 mismatch); restore it or re-export it"
    assert not list((job / "out").iterdir())


def test_shards_partition_any_manifest():
    items = [B.Item(i, i + 1) for i in range(1, 14)]
    for n in range(1, 6):
        seen = []
        for k in range(1, n + 1):
            part = [it.index for it in items if B.in_shard(it, B.parse_shard(f"{k}/{n}"))]
            assert len(part) in (len(items) // n, len(items) // n + 1)
            seen += part
        assert sorted(seen) == [it.index for it in items]
    assert B.parse_shard(None) is None and B.parse_shard("2/3") == (2, 3)


def test_jobs_2_worker_processes(job, random_weights):
    """Worker processes, TSV manifest with absolute paths, CSV report."""
    rows = ["portrait\taudio\toutput\tcrop\tsize"]
    for i in range(2):
        rows.append(f"{job}/in/face.png\t{job}/in/a.wav\t{job}/out/p{i}.mp4\ttrue\t64")
    rows.append(f"{job}/in/face.png\t{job}/in/none.wav\t{job}/out/p2.mp4\t\t")
    (job / "m.tsv").write_text("\n".join(rows) + "\n")
    r = cli("batch", job / "m.tsv", "--jobs", "2", "--json", "--report", job / "r.csv")
    assert r.exit_code == 5, r.output
    assert "Traceback" not in r.stderr and "\x1b[" not in r.stderr
    s = json.loads(r.stdout)
    assert s["jobs"] == 2 and (s["ok"], s["failed"]) == (2, 1)
    assert [it["status"] for it in s["items"]] == ["ok", "ok", "failed"]
    assert s["items"][2]["exit_code"] == 2 and "none.wav: no such file" in s["items"][2]["error"]
    for i in range(2):
        assert frames(job / "out" / f"p{i}.mp4") == 10
    assert not (job / "out" / "p2.mp4").exists()
    assert [row["status"] for row in csv.DictReader((job / "r.csv").open())] == ["ok", "ok", "failed"]
    item_lines = [ln for ln in r.stderr.splitlines() if ln.startswith("[")]
    assert len(item_lines) == 3


def test_weights_list_in_a_pipe_is_plain_lines(random_weights):
    r = cli("weights", "list")
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert lines[0].split("\t") == ["name", "default", "kind", "where", "size", "verified", "use", "folder"]
    assert lines[1].split("\t")[:3] == ["test-random", "yes", "talkface"]
    assert lines[1].split("\t")[-1] == str(random_weights)
    assert not any(c in r.stdout for c in "│┃━\x1b")
