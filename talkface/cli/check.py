"""Commands that check: ``evaluate`` (against real clips), ``doctor`` (this installation)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from . import params as P
from .app import app, print_json, run


@app.command()
def evaluate(
    clips_dir: Path = typer.Argument(..., help="Folder of real talking-face clips with audio (searched recursively)."),
    weights: str = P.WEIGHTS, renderer: str = P.RENDERER, device: str = P.DEVICE,
    limit: Optional[int] = typer.Option(None, "--limit", help="Only the first N clips (sorted by path)."),
    save_videos: Optional[Path] = typer.Option(None, "--save-videos",
                                               help="Keep the generated videos in this folder (replaced if present)."),
    crf: int = typer.Option(0, "--crf", help="H.264 quality of the generated videos: 0 (lossless, default) measures "
                                             "the frames as rendered, like the still frame; 20 as generate makes them."),
    quiet: bool = P.QUIET,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
):
    """Generate from each clip's first frame and own audio; PSNR, SSIM, LMD and lip-sync against the real frames."""
    from ..commands.evaluate import evaluate as ev
    from ..commands.evaluate import print_table
    from ..runtime.progress import Reporter

    rep = Reporter(show=not (quiet or as_json))
    res = run(lambda: ev(clips_dir, weights=weights, renderer=renderer, device=device, limit=limit,
                         save_videos=save_videos, reporter=rep, crf=crf))
    if as_json:
        print_json(res)
    else:
        print_table(res, title=f"talkface evaluate {clips_dir} (--weights {weights}, --renderer {renderer})")
    if not res["clips"]:
        typer.echo(f"error: {clips_dir}: no clip could be evaluated ({len(res['failed'])} failed, see above); "
                   "check that the clips have a face and audio", err=True)
        raise typer.Exit(2)


@app.command()
def doctor(as_json: bool = typer.Option(False, "--json")):
    """Versions, ffmpeg binary, torch devices, usable detectors, weights state.

    Exits 4 when a weights set is missing or corrupt, 6 when another check fails (ffmpeg,
    face detectors, phone recogniser), 0 when all pass; --json lists them under "failed"."""
    from ..commands.doctor import report
    from ..runtime.errors import EXIT_CHECK_FAILED, EXIT_WEIGHTS

    r = run(report)
    failed = r.get("failed", [])
    if as_json:
        print_json(r)
    else:
        for k, v in r.items():
            if k != "failed":
                typer.echo(f"{k:>14}: {v}")
    if failed:
        where = "their values in the JSON" if as_json else "their lines above"
        typer.echo(f"error: failed checks: {', '.join(failed)}; {where} say what to fix", err=True)
        raise typer.Exit(EXIT_WEIGHTS if "weights" in failed else EXIT_CHECK_FAILED)
