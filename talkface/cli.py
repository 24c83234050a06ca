"""talkface command line: a thin layer over the Python API."""
from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import List, Optional

import typer
from typer.core import TyperGroup

try:  # recent typer carries its own copy of click
    from typer._click import exceptions as click_errors
except ImportError:  # older typer runs on click itself
    from click import exceptions as click_errors

from . import __version__, signals
from .errors import EXIT_INPUT, EXIT_INTERRUPTED, EXIT_UNEXPECTED, InputError, TalkfaceError, describe
from .log import log_to_stderr

EPILOG = ("Exit codes: 0 ok, 1 unexpected error (run with --debug), 2 bad usage or input, 3 no face found, "
          "4 weights missing or corrupt, 5 some batch items failed, 130 interrupted (Ctrl-C or SIGTERM).")


def _signal_name(signum) -> str:
    import signal

    return {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM"}.get(signum, "a signal")


def interrupted() -> int:
    """Stop after Ctrl-C or SIGTERM: kill the encoder, remove unfinished temp files, say so
    once on stderr; the exit code (130)."""
    signals.acknowledge()
    signals.cleanup()
    if signals.mark_reported():
        how = _signal_name(signals.last_signal() or signals.SIGNALS[0])
        typer.echo(f"error: interrupted ({how}); the unfinished output was removed (finished ones are kept)",
                   err=True)
    return EXIT_INTERRUPTED


def usage_line(e) -> str:
    """Click's three-line usage error as one line naming the option or file and the fix."""
    import ast
    import re

    cmd = e.ctx.command_path if e.ctx is not None else "talkface"
    see = f"see '{cmd} --help'"
    msg = " ".join(e.format_message().split())
    if isinstance(e, click_errors.NoSuchOption):
        near = f" (did you mean {', '.join(sorted(e.possibilities))}?)" if e.possibilities else ""
        return f"{e.option_name}: no such option of '{cmd}'{near}; {see}"
    m = re.search(r"^(?:file|directory|path) ('.*'|\".*\") is not readable\.?$", str(getattr(e, "message", "")),
                  re.IGNORECASE)
    if m:
        try:
            name = ast.literal_eval(m.group(1))
        except (ValueError, SyntaxError):
            name = m.group(1).strip("'\"")
        return f"{name}: not readable (permission denied); check its permissions (chmod u+r) or give another file"
    msg = msg.rstrip(".")
    if len(msg) > 1 and msg[0].isupper() and msg[1].islower():  # "Missing argument" -> "missing argument"
        msg = msg[0].lower() + msg[1:]
    return f"{msg}; {see}"


class _NoSuchError(Exception):
    pass


_NoArgsIsHelp = getattr(click_errors, "NoArgsIsHelpError", _NoSuchError)  # click >= 8.2


class OneLineErrors(TyperGroup):
    """The top-level command: SIGINT / SIGTERM handled for every subcommand (exit 130), and
    usage errors (unknown option, bad value, missing argument, unreadable file) as one
    ``error:`` line instead of click's Usage / Try / Error block."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        with signals.installed():
            try:
                rv = super().main(args=args, prog_name=prog_name, complete_var=complete_var,
                                  standalone_mode=False, **extra)
                code = rv if isinstance(rv, int) and not isinstance(rv, bool) else 0
            except _NoArgsIsHelp as e:  # bare "talkface": the help, as before
                e.show()
                code = e.exit_code
            except click_errors.UsageError as e:
                typer.echo(f"error: {usage_line(e)}", err=True)
                code = EXIT_INPUT
            except click_errors.ClickException as e:
                typer.echo(f"error: {' '.join(e.format_message().split())}", err=True)
                code = e.exit_code
            except (typer.Abort, KeyboardInterrupt):
                code = interrupted()
            if code == EXIT_INTERRUPTED and signals.delivered():  # typer turned an interrupt outside run() into 130
                code = interrupted()
        if standalone_mode:
            sys.exit(code)
        return code


app = typer.Typer(cls=OneLineErrors, add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  epilog=EPILOG, help="Talking-face videos from one portrait and speech (ATVG-net, CVPR 2019).")
weights_app = typer.Typer(no_args_is_help=True, help="List, verify and import model weights.")
data_app = typer.Typer(no_args_is_help=True, help="Prepare training data from clips with audio.")
train_app = typer.Typer(no_args_is_help=True, help="Train AT-net / VG-net and export weights.")
app.add_typer(weights_app, name="weights")
app.add_typer(data_app, name="data")
app.add_typer(train_app, name="train")

STATE = {"debug": False}


def _version(v: bool):
    if v:
        typer.echo(f"talkface {__version__}")
        raise typer.Exit()


@app.callback()
def main(debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
         version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Print the version and exit.")):
    STATE["debug"] = debug
    log_to_stderr()  # warnings: one "warning: ..." line each on stderr


def run(fn):
    """Run ``fn`` mapping errors to one stderr line and the documented exit code; after any
    error the encoder is killed and unfinished temp files are removed (``signals.cleanup``)."""
    try:
        return fn()
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        raise typer.Exit(interrupted())
    except Exception as e:
        if signals.lost():  # a library turned the interrupt into this error: it is the interrupt
            raise typer.Exit(interrupted())
        signals.cleanup()
        raise typer.Exit(_report(e))


def _report(e: Exception) -> int:
    """Print the one ``error:`` line for ``e``; its exit code."""
    if isinstance(e, TalkfaceError) and e.exit_code == EXIT_INTERRUPTED:  # batch: stopped, report written
        signals.mark_reported()  # the line says so
    if STATE["debug"] and not isinstance(e, MemoryError):
        traceback.print_exc()
    code, msg = describe(e)
    typer.echo(f"error: {msg}", err=True)
    return code


def _print_json(obj):
    typer.echo(json.dumps(obj, indent=None, sort_keys=False))


# ----------------------------------------------------------------------------- generate
@app.command()
def generate(
    portrait: Path = typer.Argument(..., help="Portrait image (PNG, JPEG, WebP, BMP; photo, painting or cartoon)."),
    audio: Path = typer.Argument(..., help="Speech (anything ffmpeg decodes: WAV, MP3, FLAC, M4A, OGG)."),
    output: Optional[Path] = typer.Option(None, "-o", "--output",
                                          help="Output MP4 [default: PORTRAIT_AUDIO.mp4 next to the audio]."),
    weights: str = typer.Option("default", "--weights", help="Weights name from 'talkface weights list'."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    size: int = typer.Option(256, "--size", help="Side of the output with --crop."),
    crop: bool = typer.Option(False, "--crop", help="Output the aligned face crop only, not the full portrait."),
    max_size: int = typer.Option(1024, "--max-size", help="Largest side of the full-portrait output."),
    detector: str = typer.Option("auto", "--detector", help="auto, dlib, fan (face-alignment) or cartoon."),
    landmarks: Optional[Path] = typer.Option(None, "--landmarks", help="68-point JSON to skip detection."),
    face_index: Optional[int] = typer.Option(None, "--face-index", help="Which face, largest first (0)."),
    renderer: str = typer.Option("auto", "--renderer", help="auto, neural or warp."),
    blink: bool = typer.Option(True, "--blink/--no-blink", help="Eye blinks every 2-6 s (warp renderer)."),
    head_motion: bool = typer.Option(False, "--head-motion", help="A very light idle head sway (warp renderer)."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing output."),
    max_seconds: float = typer.Option(1200.0, "--max-seconds", help="Refuse longer audio."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
):
    """Make a talking-face MP4 from a portrait and speech."""
    signals.set_finish_on_commit()  # once the video is renamed into place, a signal changes nothing
    from .pipeline import generate as gen

    res = run(lambda: gen(portrait, audio, output, weights=weights, device=device, size=size, crop=crop,
                          max_size=max_size, detector=detector, landmarks=landmarks, face_index=face_index,
                          renderer=renderer, force=force, max_seconds=max_seconds, quiet=quiet or as_json,
                          blink=blink, head_motion=head_motion))
    if as_json:
        _print_json(res)
    elif not quiet:
        typer.echo(f"wrote {res['output']} ({res['frames']} frames, {res['duration']:.2f} s, "
                   f"{res['size'][0]}x{res['size'][1]}) in {res['seconds']['total']:.1f} s", err=True)


# ----------------------------------------------------------------------------- batch
@app.command()
def batch(
    manifest: Path = typer.Argument(..., help="CSV/TSV with a header line, or JSONL: portrait, audio, output and "
                                              "optional id, size, crop, max_size, detector, landmarks, face_index, "
                                              "renderer, weights, max_seconds, blink, head_motion. Relative paths "
                                              "are relative to the manifest's folder."),
    jobs: int = typer.Option(1, "--jobs", "-j", help="Worker processes, each loading the models once "
                                                     "(1: run in this process)."),
    shard: Optional[str] = typer.Option(None, "--shard", help="K/N (K from 1): only rows K, K+N, K+2N ... so N "
                                                              "machines share one manifest."),
    report: Optional[Path] = typer.Option(None, "--report", help="Write status, seconds and error line per item "
                                                                 "(.json or .csv; replaced if it exists)."),
    resume: bool = typer.Option(False, "--resume", help="Skip items whose output exists and is a valid video."),
    force: bool = typer.Option(False, "--force", help="Overwrite existing outputs."),
    weights: str = typer.Option("default", "--weights", help="Weights for rows without a weights column."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    size: int = typer.Option(256, "--size", help="Side of the output with --crop."),
    crop: bool = typer.Option(False, "--crop", help="Output the aligned face crop only."),
    max_size: int = typer.Option(1024, "--max-size", help="Largest side of the full-portrait output."),
    detector: str = typer.Option("auto", "--detector", help="auto, dlib, fan (face-alignment) or cartoon."),
    renderer: str = typer.Option("auto", "--renderer", help="auto, neural or warp."),
    max_seconds: float = typer.Option(1200.0, "--max-seconds", help="Refuse longer audio."),
    blink: Optional[bool] = typer.Option(None, "--blink/--no-blink", help="As for generate [default: blink]."),
    head_motion: Optional[bool] = typer.Option(None, "--head-motion/--no-head-motion",
                                               help="As for generate [default: none]."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No per-item lines."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as one JSON object on stdout."),
):
    """Generate every row of a manifest; failing items are reported and skipped (exit 5 if any failed)."""
    from . import batch as B
    from .errors import EXIT_BATCH_FAILED
    from .options import GenerateOptions

    printer = B.Printer(quiet=quiet)
    given = {k: v for k, v in (("blink", blink), ("head_motion", head_motion)) if v is not None}

    def go():
        options = GenerateOptions(size=size, crop=crop, max_size=max_size, detector=detector, renderer=renderer,
                                  max_seconds=max_seconds, **given)
        try:
            return B.run_batch(manifest, jobs=jobs, shard=shard, report=report, resume=resume, force=force,
                               device=device, weights=weights, options=options, debug=STATE["debug"],
                               on_start=printer.start, on_item=printer.item)
        finally:
            printer.stop()

    s = run(go)
    printer.summary(s)
    if as_json:
        _print_json(s)
    if s["failed"] or s["not_run"]:
        raise typer.Exit(EXIT_BATCH_FAILED)


# ----------------------------------------------------------------------------- landmarks
@app.command()
def landmarks(
    source: Path = typer.Argument(..., help="An image (68 points of its faces) or an audio file (with --portrait)."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="JSON (image) or .npz/.json (audio)."),
    overlay: Optional[Path] = typer.Option(None, "--overlay", help="PNG with the numbered points."),
    portrait: Optional[Path] = typer.Option(None, "--portrait", help="Portrait whose face the audio animates."),
    video: Optional[Path] = typer.Option(None, "--video", help="MP4 of the animated landmarks with the audio."),
    template: bool = typer.Option(False, "--template", help="Write the mean face fitted to --box instead."),
    box: Optional[str] = typer.Option(None, "--box", help="x,y,w,h of the face for --template."),
    weights: str = typer.Option("default", "--weights"),
    device: str = typer.Option("auto", "--device"),
    detector: str = typer.Option("auto", "--detector", help="auto, dlib, fan or cartoon."),
    face_index: Optional[int] = typer.Option(None, "--face-index"),
    force: bool = typer.Option(False, "--force", help="Overwrite existing outputs."),
    as_json: bool = typer.Option(False, "--json", help="Print the result JSON on stdout."),
):
    """68 landmarks of an image, or the landmark sequence predicted from audio."""
    from . import landmarks_cmd

    res = run(lambda: landmarks_cmd.run(source, output, overlay, portrait, video, template, box, weights, device,
                                        detector, face_index, force))
    if as_json or output is None:
        _print_json(res)


# ----------------------------------------------------------------------------- evaluate
@app.command()
def evaluate(
    clips_dir: Path = typer.Argument(..., help="Folder of real talking-face clips with audio (searched recursively)."),
    weights: str = typer.Option("default", "--weights", help="Weights name from 'talkface weights list'."),
    renderer: str = typer.Option("auto", "--renderer", help="auto, neural or warp."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Only the first N clips (sorted by path)."),
    save_videos: Optional[Path] = typer.Option(None, "--save-videos",
                                               help="Keep the generated videos in this folder (replaced if present)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
):
    """Generate from each clip's first frame and own audio; PSNR, SSIM, LMD and lip-sync against the real frames."""
    from .evaluate import evaluate as ev, print_table
    from .progress import Reporter

    rep = Reporter(show=not (quiet or as_json))
    res = run(lambda: ev(clips_dir, weights=weights, renderer=renderer, device=device, limit=limit,
                         save_videos=save_videos, reporter=rep))
    if as_json:
        _print_json(res)
    else:
        print_table(res, title=f"talkface evaluate {clips_dir} (--weights {weights}, --renderer {renderer})")
    if not res["clips"]:
        typer.echo(f"error: {clips_dir}: no clip could be evaluated ({len(res['failed'])} failed, see above); "
                   "check that the clips have a face and audio", err=True)
        raise typer.Exit(2)


# ----------------------------------------------------------------------------- weights
@weights_app.command("list")
def weights_list(as_json: bool = typer.Option(False, "--json")):
    """List the shipped weights and yours.

    Name, default, where (shipped: in the package; user: your folder, TALKFACE_HOME), size,
    and whether the files verify (each is re-hashed)."""
    from . import weights as W

    d = run(W.describe)
    if as_json:
        _print_json(d)
        return
    cols = ("name", "default", "kind", "where", "size", "verified", "folder")

    def cells(r):
        return [r["name"], "yes" if r["default"] else "", r["kind"],
                r["where"] + (", hidden" if r["hidden"] else ""), f"{r['size'] / 1e6:.1f} MB",
                "ok" if r["ok"] else f"no: {r['error']}", r["dir"]]

    if not sys.stdout.isatty():  # scripts and pipes: tab-separated lines, nothing cut short, no box drawing
        typer.echo("\t".join(cols))
        for r in d["weights"]:
            typer.echo("\t".join(cells(r)))
    else:
        from rich.console import Console
        from rich.table import Table

        t = Table(title="talkface weights")
        for c in cols:
            t.add_column(c, overflow="fold")
        for r in d["weights"]:
            t.add_row(*cells(r))
        Console().print(t)
    for r in d["weights"]:
        if r["hidden"]:
            typer.echo(f"warning: {r['name']} in {r['dir']} has the name of a shipped set and is not used; "
                       "rename it in its manifest.json", err=True)
    if not d["weights"]:
        typer.echo("no weights installed", err=True)


@weights_app.command("verify")
def weights_verify(name: Optional[str] = typer.Argument(None, help="Entry name [default: all]."),
                   as_json: bool = typer.Option(False, "--json")):
    """Re-hash weight files against the manifest's sha256."""
    from . import weights as W

    def go():
        if name:
            return W.verify(name)
        r = W.registry()
        if not r.listed:
            raise TalkfaceError(f"{r.default_from}: no weights installed", 4)
        return [row for x in r.listed for row in W.verify_entry(x.entry, x.dir)]

    rows = run(go)
    if as_json:
        _print_json({"files": rows, "ok": all(r["ok"] for r in rows)})
    else:
        for r in rows:
            typer.echo(f"{'ok ' if r['ok'] else 'BAD'} {r['name']}/{r['part']}: {r['file']}"
                       + ("" if r["ok"] else f" ({r['error']})"))
    if not all(r["ok"] for r in rows):
        raise typer.Exit(4)


@weights_app.command("import-atvgnet")
def weights_import(atnet: Path = typer.Option(..., "--atnet", help="atnet_lstm_18.pth"),
                   vgnet: Path = typer.Option(..., "--vgnet", help="generator_23.pth"),
                   basics: Path = typer.Option(..., "--basics", help="The authors' basics/ folder."),
                   name: str = typer.Option("atvgnet-original", "--name")):
    """Import the authors' released checkpoints.

    Written into your weights folder (TALKFACE_HOME); run them with --weights atvgnet-original."""
    from . import weights as W
    from .authors_pipeline import import_atvgnet

    e = run(lambda: import_atvgnet(atnet, vgnet, basics, name=name))
    typer.echo(f"imported {e['name']} into {W.weights_dir()}: " + ", ".join(f["file"] for f in e["files"].values()))


# ----------------------------------------------------------------------------- doctor
@app.command()
def doctor(as_json: bool = typer.Option(False, "--json")):
    """Versions, ffmpeg binary, torch devices, usable detectors, weights state."""
    from .doctor import report

    r = run(report)
    if as_json:
        _print_json(r)
    else:
        for k, v in r.items():
            typer.echo(f"{k:>14}: {v}")


# ----------------------------------------------------------------------------- data / train
@data_app.command("prepare")
def data_prepare(src: Path = typer.Argument(..., help="Folder of clips with audio (mp4, mpg, mov, avi, mkv)."),
                 out: Path = typer.Argument(..., help="Output folder of training items."),
                 jobs: int = typer.Option(1, "--jobs", "-j", help="Parallel workers."),
                 limit: Optional[int] = typer.Option(None, "--limit", help="Only the first N clips."),
                 quiet: bool = typer.Option(False, "--quiet", "-q")):
    """Landmarks, aligned crops and audio of every clip; resumable, faceless clips reported."""
    from .progress import Reporter
    from .train.data import prepare

    if not src.is_dir():
        run(lambda: (_ for _ in ()).throw(InputError(f"{src}: not a folder; give the folder holding the clips")))
    rep = Reporter(show=not quiet)

    class P:
        def start(self, n):
            self.n = n
            self.done = 0

        def advance(self):
            self.done += 1
            if rep.show:
                print(f"\rprepared {self.done}/{self.n}", end="", file=sys.stderr, flush=True)

    r = run(lambda: prepare(src, out, jobs=jobs, limit=limit, progress=P()))
    if rep.show:
        print(file=sys.stderr)
    typer.echo(f"{r['prepared']} prepared, {r['already_done']} already done, {len(r['skipped'])} skipped "
               f"(see {out / 'report.json'})", err=True)


def _train_common(kind, data_dir, run_dir, config, steps, batch, device, resume, val, holdout, quiet):
    if not Path(data_dir).is_dir():
        run(lambda: (_ for _ in ()).throw(InputError(f"{data_dir}: not a folder; run talkface data prepare first")))
    echo = None if quiet else (lambda s: print(s, file=sys.stderr, flush=True))
    if kind == "atnet" and config == "mouthnet":  # talkface's speaker-independent AT-net
        from .train.mouthnet import train as train_mouth

        def train(data_dir, run_dir, config, device, **kw):
            return train_mouth(data_dir, run_dir, **kw)
    elif kind == "atnet":
        from .train.atnet import train
    else:
        from .train.vgnet import train

    def go():
        try:
            return train(data_dir, run_dir, config=config, steps=steps, batch=batch, device=device, resume=resume,
                         val_dirs=val, holdout=holdout, echo=echo)
        except ValueError as e:
            raise InputError(str(e))

    run(go)
    typer.echo(f"checkpoints in {run_dir} (best.pt, last.pt); export with talkface train export", err=True)


def _train_command(kind: str, default_steps: int, default_batch: int, doc: str, default_config: str = "small",
                   config_help: str = "small or original."):
    """Register ``talkface train KIND``: the same options for AT-net and VG-net, with
    their own default steps and batch size."""
    def command(data_dir: Path = typer.Argument(...), out: Path = typer.Option(..., "--out", help="Run folder."),
                config: str = typer.Option(default_config, "--config", help=config_help),
                steps: int = typer.Option(default_steps, "--steps"),
                batch: int = typer.Option(default_batch, "--batch"),
                device: str = typer.Option("auto", "--device"), resume: bool = typer.Option(False, "--resume"),
                val: List[Path] = typer.Option([], "--val", help="Extra prepared folder(s) to validate on."),
                holdout: int = typer.Option(50, "--holdout", help="Training clips kept out for validation."),
                quiet: bool = typer.Option(False, "--quiet", "-q")):
        _train_common(kind, data_dir, out, config, steps, batch, device, resume, val, holdout, quiet)

    command.__doc__ = doc
    train_app.command(kind)(command)


_train_command("atnet", 1500, 32,
               "Train AT-net (speech -> mouth and jaw motion). The default, mouthnet, reads phones and energy "
               "(speaker-independent); small/original are the authors' MFCC layout (multi-GPU: torchrun).",
               default_config="mouthnet", config_help="mouthnet (default), or small / original (MFCC AT-net).")
_train_command("vgnet", 3000, 4, "Train VG-net with the dynamic pixel-wise loss and the regression discriminator.")


@train_app.command("export")
def train_export(atnet_run: Path = typer.Argument(..., help="AT-net run folder."),
                 vgnet_run: Optional[Path] = typer.Option(None, "--vgnet", help="VG-net run folder."),
                 name: str = typer.Option(..., "--name", help="Weights name."),
                 default: bool = typer.Option(False, "--default", help="Make these the default weights."),
                 card: Optional[str] = typer.Option(None, "--card",
                                                    help="Model card file name in the weights folder.")):
    """Write safetensors + a manifest entry (sha256, config, PCA) into your weights folder (TALKFACE_HOME)."""
    from . import weights as W
    from .train.export import export

    e = run(lambda: export(atnet_run, vgnet_run, name, make_default=default, card=card))
    typer.echo(f"exported {e['name']} into {W.weights_dir()}: "
               + ", ".join(f"{f['file']} {f['sha256'][:12]}" for f in e["files"].values()))


def entry():
    code = EXIT_UNEXPECTED
    try:
        signals.install()  # for good: this process ends in here
        try:
            app(prog_name="talkface")
            code = 0
        except SystemExit as e:
            code = e.code
        if isinstance(code, str):
            print(code, file=sys.stderr)
            code = 1
        code = int(code or 0)
        signals.finish()  # leaving: a signal from here on changes nothing
    except KeyboardInterrupt:  # landed outside the command, e.g. while it was leaving
        code = interrupted()
        signals.finish()
    if "torch" in sys.modules:
        # Interpreter teardown after importing torch takes ~0.4 s (its module graph); every
        # output is complete and closed at this point, so leave straight away.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    entry()
