"""``talkface batch``: one file by two names. The report is never the manifest, an input or
an output of any row, and no two rows write one file, whatever links or ``..`` lead there
(issue 23, defects 1 and 2). Refused before any work."""
from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from helpers import synth_speech, write_png, write_wav
from talkface import batch as B
from talkface.cli import app

runner = CliRunner()


def cli(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture()
def job(tmp_path, monkeypatch):
    """in/ (a grey picture, a 0.2 s wav, a landmarks file), out/; no weights needed: every
    test here stops before any item runs, or runs rows that fail before the models load."""
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    write_png(tmp_path / "in" / "face.png", np.full((64, 64, 3), 128, np.uint8))
    write_wav(tmp_path / "in" / "a.wav", synth_speech(0.2))
    (tmp_path / "in" / "face.json").write_text('{"points": []}\n')
    monkeypatch.chdir(tmp_path)
    return tmp_path


def snapshot(d):
    """Every file under ``d`` (links not followed) and its bytes."""
    files = {}
    for root, _, names in os.walk(d):
        for n in names:
            p = os.path.join(root, n)
            if not os.path.islink(p):
                with open(p, "rb") as f:
                    files[p] = f.read()
    return files


def refused(r, name, job, before):
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {name}: is "), r.stderr
    assert "give --report another file name" in lines[0]
    assert "Traceback" not in r.output
    assert snapshot(job) == before  # nothing written, nothing replaced
    assert not list((job / "out").iterdir())
    return lines[0]


MANIFEST = ("portrait,audio,output,landmarks\n"
            "in/face.png,in/a.wav,out/1.mp4,in/face.json\n"
            "in/face.png,in/a.wav,out/2.mp4,\n")


def test_report_that_is_the_manifest_is_refused(job):
    m = job / "jobs.csv"
    m.write_text(MANIFEST)
    (job / "link.csv").symlink_to(m)
    os.link(m, job / "hard.csv")
    (job / "d").symlink_to(job)
    before = snapshot(job)
    for report in (m, "jobs.csv", "link.csv", "hard.csv", "d/jobs.csv", "out/../jobs.csv"):
        line = refused(cli("batch", m, "--report", report, "-q"), report, job, before)
        assert "is the manifest" in line and "would destroy it" in line
    # JSONL too
    j = job / "jobs.jsonl"
    j.write_text(json.dumps({"portrait": "in/face.png", "audio": "in/a.wav", "output": "out/j.mp4"}) + "\n")
    (job / "j.json").symlink_to(j)
    before = snapshot(job)
    refused(cli("batch", j, "--report", "j.json"), "j.json", job, before)


def test_report_that_is_an_input_or_output_of_any_row_is_refused(job):
    m = job / "jobs.csv"
    m.write_text(MANIFEST)
    (job / "pic.json").symlink_to(job / "in" / "face.png")  # a .json name for the portrait
    (job / "snd.csv").symlink_to(job / "in" / "a.wav")
    (job / "vid.json").symlink_to(job / "out" / "2.mp4")  # dangling: the video is not made yet
    before = snapshot(job)
    for report, words in (("in/face.json", "is the landmarks of"), ("pic.json", "is the portrait of"),
                          ("snd.csv", "is the audio of"), ("vid.json", "is the output of")):
        for extra in ([], ["--shard", "2/2"]):  # a row of another shard counts as well
            line = refused(cli("batch", m, "--report", report, *extra), report, job, before)
            assert words in line and f"{m} line" in line, line
    assert "video and the report would overwrite each other" in line


def test_report_that_is_a_weights_manifest_is_refused(job, monkeypatch):
    w = job / "w"
    w.mkdir()
    (w / "manifest.json").write_text('{"weights": []}\n')
    monkeypatch.setenv("TALKFACE_WEIGHTS", str(w))
    m = job / "jobs.csv"
    m.write_text(MANIFEST)
    before = snapshot(job)
    line = refused(cli("batch", m, "--report", w / "manifest.json"), w / "manifest.json", job, before)
    assert "a weights manifest" in line


def test_report_beside_the_rows_is_written(job):
    m = job / "jobs.csv"
    m.write_text("portrait,audio,output\nin/missing.png,in/a.wav,out/1.mp4\n")  # fails alone, no models
    r = cli("batch", m, "--report", "out/r.json", "-q")
    assert r.exit_code == 5, r.output
    assert json.loads((job / "out" / "r.json").read_text())["failed"] == 1


def test_outputs_that_are_one_file_through_links_or_dotdot(job):
    real = job / "real"
    (real / "sub").mkdir(parents=True)
    (job / "l").symlink_to(real)
    (job / "s").symlink_to(real / "sub")
    (job / "out" / "have.mp4").write_bytes(b"x")
    os.link(job / "out" / "have.mp4", job / "out" / "hard.mp4")
    m = job / "jobs.csv"
    rows = ["real/o.mp4",  # 2
            "l/o.mp4",  # 3: real/o.mp4 through the folder link
            "s/../o.mp4",  # 4: s is real/sub, so its .. is real: real/o.mp4 again
            "s/../../o.mp4",  # 5: o.mp4 beside real, not real/o.mp4
            "o.mp4",  # 6: ... which this row writes: the same file as line 5
            "out/have.mp4",  # 7
            "out/hard.mp4",  # 8: a hard link to line 7's file
            "l/sub/../p.mp4"]  # 9: real/p.mp4, alone
    m.write_text("portrait,audio,output\n" + "".join(f"in/face.png,in/a.wav,{o}\n" for o in rows))
    items = B.read_manifest(m)
    errors = {it.line: it.error for it in items}
    assert errors[2] is None and errors[5] is None and errors[7] is None and errors[9] is None, errors
    for line, first in ((3, 2), (4, 2), (6, 5), (8, 7)):
        assert f"line {line}: output " in errors[line] and f"is also the output of line {first} (" in errors[line], \
            errors[line]
        assert "the same file); give every row its own output" in errors[line]
    assert B.file_keys("l/o.mp4") & B.file_keys("real/o.mp4")
    assert not B.file_keys("s/../../o.mp4") & B.file_keys("real/o.mp4")


@pytest.mark.slow
def test_force_never_writes_one_file_twice_through_a_folder_link(job, assets, random_weights):
    shutil.copy(assets["face"], job / "in" / "face.png")
    real = job / "real"
    real.mkdir()
    (job / "l").symlink_to(real)
    m = job / "jobs.csv"
    m.write_text("portrait,audio,output,crop,size\nin/face.png,in/a.wav,real/o.mp4,yes,64\n"
                 "in/face.png,in/a.wav,l/o.mp4,yes,64\n")
    r = cli("batch", m, "--force", "--json", "-q")
    assert r.exit_code == 5, r.output
    items = json.loads(r.stdout)["items"]
    assert [i["status"] for i in items] == ["ok", "failed"] and items[1]["exit_code"] == 2
    assert "is also the output of line 2 (" in items[1]["error"]
    assert [p.name for p in real.iterdir()] == ["o.mp4"]
