"""``talkface live``: the portrait speaks while the audio arrives (talkface.live)."""
from __future__ import annotations

import os
import queue
import sys
import threading
from pathlib import Path
from typing import Optional

import typer

from ..runtime.errors import InputError
from . import params as P
from .app import app, print_json, run

LIVE_HELP = """Animate a portrait live: frames while the audio arrives.

\b
talkface live face.png --audio speech.wav --out - | ffplay -     file played in real time, y4m on stdout
tts ... | talkface live face.png --audio - --rate 24000 --out rec.mp4   raw s16le mono PCM on stdin
talkface live face.png --serve                                    a local page: your microphone, the face
\b
--out FILE.mp4 records the live run with its audio; it is written when the audio ends
(Ctrl-C or SIGTERM before that leave nothing). Latency: a frame waits for the audio of
the frames its mouth model looks ahead (3 frames, 120 ms, with live weights; 33 with
the offline default) plus the time to make it. Exit codes as the other commands: 2 bad
input (stdin not raw PCM, an odd byte count ...), 3 no face, 4 weights, 130 Ctrl-C or
SIGTERM (nothing left behind, no thread left running).
"""


@app.command(help=LIVE_HELP)
def live(
    portrait: Path = typer.Argument(..., help="Portrait image (photo, painting or cartoon)."),
    audio: Optional[str] = typer.Option(None, "--audio", help="FILE (anything ffmpeg decodes; pushed at its own "
                                                              "pace) or - (raw s16le mono PCM on stdin, --rate)."),
    rate: int = typer.Option(16000, "--rate", help="Sample rate of --audio - in Hz."),
    out: Optional[str] = typer.Option(None, "--out", "-o", help="- (y4m on stdout: pipe to ffplay, ffmpeg, OBS) or "
                                                                "FILE.mp4 (the live run with its audio)."),
    serve: bool = typer.Option(False, "--serve", help="Serve a page on 127.0.0.1 that takes the browser's microphone "
                                                      "and shows the face speaking (until Ctrl-C)."),
    port: int = typer.Option(0, "--port", min=0, max=65535, help="Port of the --serve page (0: any free one)."),
    open_browser: bool = typer.Option(False, "--open", help="Open the --serve page in the default browser."),
    size: int = typer.Option(256, "--size", help="Side of the output: the aligned face crop (even, 32-2048)."),
    full: bool = typer.Option(False, "--full", help="The whole portrait (largest side --max-size) instead of the "
                                                    "face crop."),
    max_size: int = P.MAX_SIZE,
    weights: Optional[str] = typer.Option(None, "--weights", help="MouthNet weights [default: talkface-live when "
                                                                   "installed (120 ms look-ahead), else the default]."),
    detector: str = P.DETECTOR, landmarks: Optional[Path] = P.LANDMARKS, face_index: Optional[int] = P.FACE_INDEX,
    blink: bool = P.BLINK,
    realtime: bool = typer.Option(True, "--realtime/--no-realtime", help="--audio FILE: at its own pace, or as "
                                                                         "fast as frames are made."),
    idle: bool = typer.Option(True, "--idle/--no-idle", help="--audio -: while stdin has nothing and the audio is "
                                                            "behind the clock, fill in silence, so the face goes on "
                                                            "in real time (and --out FILE.mp4 keeps the pauses)."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing --out file."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No summary line."),
    as_json: bool = typer.Option(False, "--json", help="Print the run's figures as one JSON object (not with --out -)."),
):
    from ..runtime.inputs import check_input_file

    def check():
        if serve:
            if audio is not None or out is not None:
                raise InputError("--serve takes the browser's microphone and shows the face on its page; drop "
                                 "--audio and --out")
        else:
            if audio is None or out is None:
                raise InputError("give --audio FILE or --audio - (raw PCM on stdin), and --out - (y4m on stdout) or "
                                 "--out FILE.mp4; or --serve for a page with your microphone")
            if out == "-" and as_json:
                raise InputError("--json prints on stdout, which --out - fills with video; write an MP4 or drop --json")
            if out == "-" and sys.stdout.isatty():
                raise InputError("--out -: stdout is a terminal; pipe it (| ffplay -) or give --out FILE.mp4")
        if not 4000 <= rate <= 384000:
            raise InputError(f"--rate {rate}: give the sample rate of the PCM in Hz (4000-384000)")
        check_input_file(portrait, "portrait", "image file", "PNG, JPEG, WebP, BMP")
        if audio not in (None, "-"):
            check_input_file(audio, "speech", "audio file", "WAV, MP3, FLAC, M4A, OGG")
        if out not in (None, "-"):
            from ..video.outputs import check_output_path

            check_output_path(Path(out), force, inputs=(portrait, audio if audio != "-" else None, landmarks))

    run(check)
    from ..live import LiveFace

    def load():
        return LiveFace(portrait, weights=weights, size=size, crop=not full, max_size=max_size, detector=detector,
                        landmarks=landmarks, face_index=face_index, blink=blink).warm()

    face = run(load)
    if serve:
        from ..live.server import serve_page

        def ready(url):
            typer.echo(f"live: open {url} in a browser on this machine and allow the microphone; Ctrl-C here stops",
                       err=True)

        res = run(lambda: serve_page(face, port=port, open_browser=open_browser, on_ready=ready))
    else:
        res = run(lambda: _run(face, audio, rate, out, force, realtime, idle))
    if as_json:
        print_json(res)
    elif not quiet:
        what = f"wrote {res['output']}" if res.get("output") else ("the reader closed stdout; stopped"
                                                                  if res.get("reader_closed") else "done")
        typer.echo(f"live: {what}: {res['frames']} frames ({res['frames'] / 25:.2f} s), {res['dropped']} dropped, "
                   f"look-ahead {res['latency_frames']} frames, weights {res['weights']}", err=True)


def _run(face, audio, rate, out, force, realtime, idle=True) -> dict:
    from ..live.sinks import Mp4Recorder, StdinPcm, Y4mWriter, paced

    if audio != "-":
        from ..speech.audio import load_audio_int16

        pcm16 = load_audio_int16(audio, 16000, None)
        rate = 16000
        if pcm16.size == 0:
            raise InputError(f"{audio}: no audio samples; give a file with sound")
    stream = face.stream(rate, drop=False)
    stop = threading.Event()
    failed: list[BaseException] = []
    rec = Mp4Recorder(Path(out), face.width, face.height, rate, force) if out != "-" else None
    y4m = None
    reader_closed = False

    src = StdinPcm(0, rate, idle) if audio == "-" else None

    def feed():
        try:
            if src is not None:
                while True:
                    b = src.read(stop)
                    if not b:
                        break
                    if rec is not None:
                        rec.audio(b)
                    stream.push(b)
            else:
                for piece in paced(pcm16, rate, stop, realtime):
                    if rec is not None:
                        rec.audio(piece.tobytes())
                    stream.push(piece)
            if not stop.is_set():
                stream.end()
        except BaseException as e:  # noqa: BLE001 - handed to the main thread
            if not stop.is_set():
                failed.append(e)

    feeder = threading.Thread(target=feed, name="talkface-live-audio", daemon=True)
    try:
        feeder.start()
        if rec is None:
            try:
                y4m = Y4mWriter(sys.stdout.buffer, face.width, face.height)
            except BrokenPipeError:
                reader_closed = True
                _quiet_stdout()
        while not reader_closed:
            if failed:
                raise failed[0]
            try:
                f = stream.get(timeout=0.1)
            except queue.Empty:
                continue
            if f is None:
                break
            if rec is not None:
                rec.write(f.index, f.image)
            else:
                try:
                    y4m.write(f.image)  # type: ignore[union-attr]
                except BrokenPipeError:
                    reader_closed = True
                    _quiet_stdout()
                    break
        if failed:
            raise failed[0]
        if rec is not None:
            if rec.frames == 0:
                raise InputError("no audio came, so no frame was made; nothing was written")
            rec.close()
        elif not reader_closed:
            try:
                y4m.flush()  # type: ignore[union-attr]
            except BrokenPipeError:
                reader_closed = True
                _quiet_stdout()
    except BaseException:
        if rec is not None:
            rec.abort()
        raise
    finally:
        stop.set()
        stream.close()
        feeder.join(5.0)
    st = stream.stats()
    return {"output": out if rec is not None else None, "frames": st["frames"], "dropped": st["dropped"],
            "audio_seconds": st["audio_seconds"], "latency_frames": st["latency_frames"], "weights": face.weights_name,
            "size": [face.width, face.height], "reader_closed": reader_closed,
            "silence_filled_seconds": round(src.silence / 2 / rate, 2) if src is not None else 0.0}


def _quiet_stdout():
    """The reader of stdout went away: point it at /dev/null, so nothing fails writing there later."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())
        os.close(fd)
    except OSError:
        pass
