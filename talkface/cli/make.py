"""Commands that make things: ``generate``, ``batch``, ``landmarks``."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..batch.manifest import COLUMNS, REQUIRED
from ..runtime import signals
from . import params as P
from .app import STATE, app, print_json, run


@app.command()
def generate(
    ctx: typer.Context,
    portrait: Path = typer.Argument(..., help="Portrait image (PNG, JPEG, WebP, BMP; photo, painting or cartoon)."),
    audio: Path = typer.Argument(..., help="Speech (anything ffmpeg decodes: WAV, MP3, FLAC, M4A, OGG)."),
    output: Optional[Path] = typer.Option(None, "-o", "--output",
                                          help="Output MP4 [default: PORTRAIT_AUDIO.mp4 next to the audio]."),
    weights: str = P.WEIGHTS, device: str = P.DEVICE,
    size: int = P.SIZE, crop: bool = P.CROP, max_size: int = P.MAX_SIZE,
    detector: str = P.DETECTOR, landmarks: Optional[Path] = P.LANDMARKS, face_index: Optional[int] = P.FACE_INDEX,
    renderer: str = P.RENDERER, blink: bool = P.BLINK, head_motion: bool = P.HEAD_MOTION,
    crf: int = P.CRF,
    force: bool = typer.Option(False, "--force", help="Overwrite an existing output."),
    max_seconds: float = P.MAX_SECONDS, quiet: bool = P.QUIET,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
):
    """Make a talking-face MP4 from a portrait and speech."""
    signals.set_finish_on_commit()  # once the video is renamed into place, a signal changes nothing
    from ..api import TalkingFace
    from ..options import GenerateOptions

    def go():
        options = GenerateOptions.from_params(ctx.params)  # --size, --crop ... (talkface.options)
        tf = TalkingFace(weights, device)  # loaded inside generate: the face is searched meanwhile
        return tf.generate(portrait, audio, output, options, force=force, quiet=quiet or as_json)

    res = run(go)
    if as_json:
        print_json(res)
    elif not quiet:
        typer.echo(f"wrote {res['output']} ({res['frames']} frames, {res['duration']:.2f} s, "
                   f"{res['size'][0]}x{res['size'][1]}) in {res['seconds']['total']:.1f} s", err=True)


@app.command()
def batch(
    ctx: typer.Context,
    manifest: Path = typer.Argument(..., help=f"CSV/TSV with a header line, or JSONL: {', '.join(REQUIRED)} and "
                                              f"optional {', '.join(COLUMNS[len(REQUIRED):])}. Relative paths are "
                                              "relative to the manifest's folder."),
    jobs: int = typer.Option(1, "--jobs", "-j", help="Worker processes, each loading the models once "
                                                     "(1: run in this process)."),
    shard: Optional[str] = typer.Option(None, "--shard", help="K/N (K from 1): only rows K, K+N, K+2N ... so N "
                                                              "machines share one manifest."),
    report: Optional[Path] = typer.Option(None, "--report", help="Write status, seconds and error line per item "
                                                                 "(.json or .csv; replaced if it exists)."),
    resume: bool = typer.Option(False, "--resume", help="Skip items whose output exists and is a valid video."),
    force: bool = typer.Option(False, "--force", help="Overwrite existing outputs."),
    weights: str = typer.Option("default", "--weights", help="Weights for rows without a weights column."),
    device: str = P.DEVICE,
    size: int = P.SIZE, crop: bool = P.CROP, max_size: int = P.MAX_SIZE,
    detector: str = P.DETECTOR, renderer: str = P.RENDERER, max_seconds: float = P.MAX_SECONDS,
    blink: bool = P.BLINK, head_motion: bool = P.HEAD_MOTION, crf: int = P.CRF,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No per-item lines."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as one JSON object on stdout."),
    ray: Optional[str] = typer.Option(None, "--ray", help="Run the items on a Ray cluster (the ray extra): auto (the "
                                                          "one 'ray start' made, or RAY_ADDRESS), local (this "
                                                          "machine, for this batch), or its HOST:PORT."),
    ray_cpus: float = typer.Option(1.0, "--ray-cpus", help="CPUs per Ray actor (each loads the models once)."),
    ray_gpus: float = typer.Option(0.0, "--ray-gpus", help="GPUs per Ray actor (0.25: four actors per card)."),
    ray_actors: int = typer.Option(0, "--ray-actors", help="Ray actors (0: as many as the cluster fits)."),
    ray_ship_inputs: bool = typer.Option(False, "--ray-ship-inputs", help="Send the inputs to the Ray workers and "
                                                                          "write their videos here (workers that "
                                                                          "do not share this file system: found "
                                                                          "by themselves)."),
):
    """Generate every row of a manifest; failing items are reported and skipped (exit 5 if any failed).

    The options are those of every row; a row's own columns change them for that row."""
    from .. import batch as B
    from ..options import GenerateOptions
    from ..runtime.errors import EXIT_BATCH_FAILED

    printer = B.Printer(quiet=quiet)

    def go():
        options = GenerateOptions.from_params(ctx.params)  # for every row (a row's own columns win)
        try:
            return B.run_batch(manifest, jobs=jobs, shard=shard, report=report, resume=resume, force=force,
                               device=device, weights=weights, options=options, debug=STATE["debug"],
                               on_start=printer.start, on_item=printer.item,
                               ray=None if ray is None else B.RaySettings(ray, ray_cpus, ray_gpus, ray_actors,
                                                                          ray_ship_inputs))
        finally:
            printer.stop()

    s = run(go)
    printer.summary(s)
    if as_json:
        print_json(s)
    if s["failed"] or s["not_run"]:
        raise typer.Exit(EXIT_BATCH_FAILED)


@app.command()
def landmarks(
    source: Path = typer.Argument(..., help="An image (68 points of its faces) or an audio file (with --portrait)."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="JSON (image) or .npz/.json (audio); with "
                                                                        "--edit, where the page saves."),
    overlay: Optional[Path] = typer.Option(None, "--overlay", help="PNG with the numbered points."),
    portrait: Optional[Path] = typer.Option(None, "--portrait", help="Portrait whose face the audio animates."),
    video: Optional[Path] = typer.Option(None, "--video", help="MP4 of the animated landmarks with the audio."),
    template: bool = typer.Option(False, "--template", help="Use the mean face fitted to --box instead of detecting "
                                                          "(with --edit: the start)."),
    box: Optional[str] = typer.Option(None, "--box", help="x,y,w,h of the face for --template."),
    landmarks_file: Optional[Path] = typer.Option(None, "--landmarks", help="Take the points from this 68-point "
                                                                             "JSON instead of detecting them (with "
                                                                             "--edit: the points to fix)."),
    edit: bool = typer.Option(False, "--edit", help="Fix the points by hand in a local page: drag points or whole "
                                                    "parts, zoom, undo; 'Save and finish' writes -o. Serves on "
                                                    "127.0.0.1 only until then; Ctrl-C stops it (exit 130)."),
    port: int = typer.Option(0, "--port", min=0, max=65535, help="Port of the --edit page (0: any free one)."),
    open_browser: bool = typer.Option(False, "--open", help="Open the --edit page in the default browser."),
    weights: str = P.WEIGHTS, device: str = P.DEVICE,
    detector: str = P.DETECTOR, face_index: Optional[int] = P.FACE_INDEX,
    force: bool = typer.Option(False, "--force", help="Overwrite existing outputs."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No 'wrote FILE' lines."),
    as_json: bool = typer.Option(False, "--json", help="Print the result JSON on stdout."),
):
    """68 landmarks of an image (--edit: fixed by hand in a local page), or the landmark sequence predicted
    from audio."""
    from ..commands import landmarks as landmarks_cmd

    if edit:
        if overlay is not None or portrait is not None or video is not None:
            from ..runtime.errors import InputError
            from .app import fail

            fail(InputError("--edit makes only the -o JSON; drop --overlay, --portrait and --video (draw an "
                            "overlay afterwards with talkface landmarks IMAGE --landmarks FILE --overlay PNG)"))

        def show(url):
            typer.echo(f"editing the points of {source}: open {url} in a browser on this machine; "
                       "'Save and finish' there writes the file; Ctrl-C here stops (unsaved edits are lost)", err=True)

        res = run(lambda: landmarks_cmd.edit(source, output, landmarks_file, template, box, device, detector,
                                             face_index, force, port=port, open_browser=open_browser,
                                             on_ready=show))
        if as_json:
            print_json(res)
        elif not quiet:
            typer.echo(f"wrote {res['output']} ({res['moved']} of 68 points moved)", err=True)
        return
    res = run(lambda: landmarks_cmd.run(source, output, overlay, portrait, video, template, box, weights, device,
                                        detector, face_index, force, landmarks=landmarks_file))
    if as_json or output is None:
        print_json(res)
    if not (quiet or as_json):
        for line in landmarks_cmd.wrote_lines(res):
            typer.echo(line, err=True)
