"""``talkface data`` and ``talkface train``: training data from clips, AT-net / VG-net, export."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from ..runtime.errors import InputError, TalkfaceError
from ..runtime.torch_needed import require_torch
from .app import data_app, fail, print_json, run, train_app


@data_app.command("prepare")
def data_prepare(src: Path = typer.Argument(..., help="Folder of clips with audio (mp4, mpg, mov, avi, mkv)."),
                 out: Path = typer.Argument(..., help="Output folder of training items."),
                 jobs: int = typer.Option(1, "--jobs", "-j", help="Parallel workers."),
                 limit: Optional[int] = typer.Option(None, "--limit", help="Only the first N clips."),
                 footage: bool = typer.Option(False, "--footage", help="Footage of many speakers (heads that turn, "
                                              "cuts, sound out of step): head pose removed, bad frames rejected, "
                                              "each clip's audio/video offset corrected or the clip dropped, "
                                              "per-speaker norms in OUT/speakers.json. Speakers: SRC/manifest.tsv's "
                                              "speaker column, else each clip's folder."),
                 quiet: bool = typer.Option(False, "--quiet", "-q")):
    """Landmarks, aligned crops and audio of every clip; resumable, faceless clips reported."""
    from ..runtime.progress import Reporter
    from ..train.data import prepare
    from ..train.speakers import prepare_footage

    if not src.is_dir():
        fail(InputError(f"{src}: not a folder; give the folder holding the clips"))
    rep = Reporter(show=not quiet)

    class P:
        def start(self, n):
            self.n = n
            self.done = 0

        def advance(self):
            self.done += 1
            if rep.show:
                print(f"\rprepared {self.done}/{self.n}", end="", file=sys.stderr, flush=True)

    how = prepare_footage if footage else prepare
    r = run(lambda: how(src, out, jobs=jobs, limit=limit, progress=P()))
    if rep.show:
        print(file=sys.stderr)
    typer.echo(f"{r['prepared']} prepared, {r['already_done']} already done, {len(r['skipped'])} skipped "
               f"(see {out / 'report.json'})", err=True)


def _train_common(kind, data_dir, run_dir, config, steps, batch, device, resume, val, holdout, quiet, **more):
    if not isinstance(data_dir, list) and not Path(data_dir).is_dir():
        fail(InputError(f"{data_dir}: not a folder; run talkface data prepare first"))
    run(lambda: require_torch("talkface train"))
    echo = None if quiet else (lambda s: print(s, file=sys.stderr, flush=True))
    if kind == "atnet" and config == "mouthnet":  # talkface's speaker-independent AT-net
        from ..train.mouthnet import train as train_mouth

        def train(data_dir, run_dir, config, device, **kw):
            return train_mouth(data_dir, run_dir, **kw)
    elif kind == "atnet":
        from ..train.atnet import train  # type: ignore[assignment]
    else:
        from ..train.vgnet import train  # type: ignore[assignment]

    def go():
        try:
            return train(data_dir, run_dir, config=config, steps=steps, batch=batch, device=device, resume=resume,
                         val_dirs=val, holdout=holdout, echo=echo, **more)
        except ValueError as e:
            raise InputError(str(e))

    run(go)
    typer.echo(f"checkpoints in {run_dir} (best.pt, last.pt); export with talkface train export", err=True)


@train_app.command("atnet")
def train_atnet(data_dirs: List[Path] = typer.Argument(..., help="Prepared data folder(s): GRID-style (talkface "
                                                                 "data prepare) and footage (--footage) alike."),
                out: Path = typer.Option(..., "--out", help="Run folder."),
                config: str = typer.Option("mouthnet", "--config",
                                           help="mouthnet (default), or small / original (MFCC AT-net)."),
                steps: int = typer.Option(1500, "--steps"), batch: int = typer.Option(32, "--batch"),
                device: str = typer.Option("auto", "--device"), resume: bool = typer.Option(False, "--resume"),
                val: List[Path] = typer.Option([], "--val", help="Extra prepared folder(s) to validate on."),
                holdout: int = typer.Option(50, "--holdout", help="Clips of each GRID-style folder kept out for "
                                                                  "validation."),
                holdout_speakers: str = typer.Option("", "--holdout-speakers",
                                                     help="mouthnet: footage speakers (comma-separated) left out "
                                                          "of training and validated on: a fold by speaker."),
                tiers: str = typer.Option("", "--tiers", help="mouthnet: only footage clips under these first-level "
                                                              "folders (comma-separated, e.g. open)."),
                speaker_norm: bool = typer.Option(True, "--speaker-norm/--no-speaker-norm",
                                                  help="mouthnet: scale each speaker's motion to a common spread."),
                gain: Optional[float] = typer.Option(None, "--gain", help="mouthnet: the motion gain to store "
                                                                          "(default: fitted on held-out speakers)."),
                lookahead: Optional[int] = typer.Option(None, "--lookahead", min=0,
                                                        help="mouthnet: frames the model may look ahead (full past "
                                                             "context): a live model (talkface live) for 0-3; "
                                                             "default: symmetric, +-1.28 s."),
                free_onsets: str = typer.Option("", "--free-onsets",
                                                help="mouthnet: speakers (comma-separated) whose frames before "
                                                     "each clip's first sound are not scored: one who keeps the "
                                                     "lips shut there would teach every voice that (the shipped "
                                                     "recipe: s1)."),
                quiet: bool = typer.Option(False, "--quiet", "-q")):
    """Train AT-net (speech -> mouth and jaw motion). The default, mouthnet, reads phones and energy
    (speaker-independent) and samples speakers evenly (docs/lipsync.md); small/original are the
    authors' MFCC layout (multi-GPU: torchrun)."""
    for d in data_dirs:
        if not d.is_dir():
            fail(InputError(f"{d}: not a folder; run talkface data prepare first"))
    more = {}
    if config == "mouthnet":
        more = {"holdout_speakers": [s for s in holdout_speakers.split(",") if s],
                "tiers": [t for t in tiers.split(",") if t] or None, "speaker_norm": speaker_norm, "gain": gain,
                "lookahead": lookahead, "free_onsets": [s for s in free_onsets.split(",") if s]}
    elif holdout_speakers or tiers or gain is not None or lookahead is not None or free_onsets:
        fail(InputError("--holdout-speakers, --tiers, --gain, --lookahead and --free-onsets are mouthnet's; leave them "
                        f"out with --config {config}"))
    data = data_dirs if config == "mouthnet" else data_dirs[0]
    _train_common("atnet", data, out, config, steps, batch, device, resume, val, holdout, quiet, **more)


VGNET_HELP = """Train VG-net: on a prepared data folder, or a renderer for one person from a video.

\b
talkface train vgnet DATA_DIR --out RUN      prepared clips (talkface data prepare) -> checkpoints
talkface train vgnet --video me.mp4 --name me --minutes 30
    a video of one person talking (1-5 minutes, any resolution; or a folder of their
    clips): prepared into 3 s pieces (face tracked per frame, the last 10 % held out),
    VG-net fine-tuned from the --base weights for --minutes of training, then registered
    as weights NAME in your weights folder (the base's AT-net, gain fitted to the person).
    Use them with: talkface generate photo_of_me.png speech.wav --weights me
    The run lives in <talkface home>/runs/NAME; rerun the same command (or --resume)
    after an interrupt to continue it. Refused: no face (exit 3), several people, under
    --min-seconds of usable footage, an unreadable file, existing weights NAME without
    --force (exit 2).

Recipes: original (the paper's objective: dynamic pixel-wise L1 + regression
discriminator), mouth (+ L1 inside the lips/chin box the attention cannot zero out,
alignment jitter; the default with --video)."""


@train_app.command("vgnet", help=VGNET_HELP)
def train_vgnet(
        data_dir: Optional[Path] = typer.Argument(None, help="Prepared data folder (talkface data prepare); "
                                                            "leave out with --video."),
        video: Optional[Path] = typer.Option(None, "--video", help="A video of one person talking, or a folder "
                                                                   "of their clips: train weights --name for them."),
        name: Optional[str] = typer.Option(None, "--name", help="With --video: the weights to register."),
        out: Optional[Path] = typer.Option(None, "--out", help="Run folder (checkpoints); with --video "
                                                               "default <talkface home>/runs/NAME."),
        minutes: Optional[float] = typer.Option(None, "--minutes", help="Training time budget in minutes, "
                                                                        "over resumes too [--video: 30]."),
        steps: Optional[int] = typer.Option(None, "--steps", help="Steps at most [DATA_DIR: 3000; --video: "
                                                                  "no cap, --minutes decides]."),
        batch: int = typer.Option(4, "--batch"),
        recipe: Optional[str] = typer.Option(None, "--recipe", help="mouth (default: the paper's L1 + a "
                                                                    "lips/chin term) or original (the paper's)."),
        config: Optional[str] = typer.Option(None, "--config", help="DATA_DIR: maps (default), small or original "
                                                                    "(with --video: the --base weights' layout)."),
        base: str = typer.Option("default", "--base", help="With --video: the weights to start from."),
        min_seconds: float = typer.Option(60.0, "--min-seconds", help="With --video: usable footage needed."),
        gain: bool = typer.Option(True, "--gain/--no-gain", help="With --video: fit the AT-net gain to the "
                                                                 "person (kept when it measures better)."),
        default: bool = typer.Option(False, "--default", help="With --video: make the new weights the default."),
        force: bool = typer.Option(False, "--force", help="With --video: replace weights NAME and start the "
                                                          "run over."),
        device: str = typer.Option("auto", "--device"),
        resume: bool = typer.Option(False, "--resume", help="Continue the run from its last checkpoint."),
        val: List[Path] = typer.Option([], "--val", help="DATA_DIR: extra prepared folder(s) to validate on."),
        holdout: Optional[int] = typer.Option(None, "--holdout", help="DATA_DIR: training clips kept out for "
                                                                      "validation [50]."),
        predicted: float = typer.Option(0.0, "--predicted", help="DATA_DIR, maps layout: share of training windows "
                                                                 "driven by the AT-net's landmarks (from each clip's "
                                                                 "speech, as generate makes them) instead of the "
                                                                 "tracked ones."),
        drive: str = typer.Option("default", "--drive", help="With --predicted: the weights whose AT-net (MouthNet) "
                                                             "predicts those landmarks."),
        as_json: bool = typer.Option(False, "--json", help="With --video: print the summary as one JSON object."),
        quiet: bool = typer.Option(False, "--quiet", "-q")):
    if recipe is not None and recipe not in ("original", "mouth"):
        fail(InputError(f"--recipe {recipe}: use original or mouth"))
    if video is None:
        if data_dir is None:
            fail(InputError("give a prepared DATA_DIR (with --out RUN) or --video VIDEO --name NAME; "
                            "see 'talkface train vgnet --help'"))
        if out is None:
            fail(InputError("--out: missing; give the run folder for the checkpoints"))
        if name is not None:
            fail(InputError("--name goes with --video (DATA_DIR runs are exported with talkface train export)"))
        if not 0.0 <= predicted <= 1.0:
            fail(InputError(f"--predicted {predicted}: a share between 0 and 1"))
        if predicted and (config or "maps") != "maps":
            fail(InputError("--predicted goes with the maps layout (--config maps)"))
        speech = _speech_of(drive) if predicted else None
        _train_common("vgnet", data_dir, out, config or "maps", 3000 if steps is None else steps, batch, device,
                      resume, val, 50 if holdout is None else holdout, quiet, recipe=recipe or "mouth",
                      minutes=minutes, predicted=predicted, speech=speech)
        return
    if data_dir is not None:
        fail(InputError(f"{data_dir}: give either a DATA_DIR or --video, not both"))
    for flag, given in (("--config", config is not None), ("--val", bool(val)), ("--holdout", holdout is not None)):
        if given:
            fail(InputError(f"{flag} goes with a DATA_DIR; with --video the layout is the --base weights' and the "
                            "last 10 % of the video is held out"))
    if not name:
        fail(InputError("--name: missing; give the name to register the weights under (then --weights NAME)"))
    _train_person(video, name, out, 30.0 if minutes is None else minutes, steps, batch, recipe or "mouth", base,
                  min_seconds, gain, default, force, device, resume, as_json, quiet)


def _speech_of(weights: str):
    """(MouthNet, basis, gain) of ``weights``, for --predicted."""
    from .. import weights as W
    from ..motion.predict import atnet_kind

    try:
        w = W.load(weights, "cpu", need_vgnet=False)
    except TalkfaceError as e:
        fail(e)
    if not atnet_kind(w.entry).speech:
        fail(InputError(f"--drive {weights}: its AT-net is not a MouthNet; give weights whose AT-net reads speech"))
    return w.atnet, w.atnet.basis, w.atnet.gain


STAGES = {"track": "finding the face", "items": "cutting pieces", "train": "fine-tuning VG-net",
          "gain": "fitting the AT-net gain"}


class _Bars:
    """``train_person``'s progress on stderr: a rich bar per stage on a terminal, else a
    line per stage and one a minute while training."""

    def __init__(self, show: bool):
        import time

        self.tty = show and sys.stderr.isatty()
        self.show = show
        self.now = time.monotonic
        self.progress = None
        self.tasks: dict = {}
        self.last: dict = {}
        if self.tty:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                Progress,
                TaskProgressColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.progress = Progress(TextColumn("{task.description:<22}"), BarColumn(), TaskProgressColumn(),
                                     TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[text]}"),
                                     console=Console(stderr=True))

    def __enter__(self):
        if self.progress:
            self.progress.start()
        return self

    def __exit__(self, *exc):
        if self.progress:
            self.progress.stop()

    def echo(self, line: str):
        """Notes and the trainer's log: on a terminal only the notes and validations."""
        if not self.show:
            return
        if self.progress is not None:
            if line.startswith("step=") and "event=" not in line:
                return
            self.progress.console.print(line, markup=False, highlight=False)
        else:
            print(line, file=sys.stderr, flush=True)

    def __call__(self, stage: str, fraction: float, text: str):
        if self.progress is not None:
            if stage not in self.tasks:
                self.tasks[stage] = self.progress.add_task(STAGES.get(stage, stage), total=1.0, text="")
            self.progress.update(self.tasks[stage], completed=fraction, text=text)
        elif self.show and self.last.get(stage) != "done":
            t, done = self.now(), fraction >= 1.0
            if done or stage not in self.last or t - self.last[stage] > 60:
                print(f"{STAGES.get(stage, stage)}: {100 * fraction:.0f} % ({text})", file=sys.stderr, flush=True)
                self.last[stage] = "done" if done else t


def _train_person(video, name, out, minutes, steps, batch, recipe, base, min_seconds, gain, default, force, device,
                  resume, as_json, quiet):
    run(lambda: require_torch("talkface train vgnet --video"))
    from ..runtime import signals
    from ..train.person import train_person

    signals.set_finish_on_commit()  # once the weights are registered, the run is done
    with _Bars(not quiet) as bars:
        r = run(lambda: train_person(video, name, minutes=minutes, steps=steps, min_seconds=min_seconds, batch=batch,
                                     recipe=recipe, base=base, run_dir=out, force=force, resume=resume,
                                     make_default=default, gain=gain, device=device, echo=bars.echo, progress=bars))
    if as_json:
        print_json(r)
        return
    val = (r.get("validation") or {}).get("val") or {}
    g = r.get("gain")
    typer.echo(f"registered weights {r['name']} in {r['weights_dir']}: VG-net step {r['step']} from {r['base']}"
               + (f", held-out PSNR {val['psnr']:.2f} dB" if "psnr" in val else "")
               + (f", AT-net gain {g['fitted'] if g['used'] else g['base']}" if g else "")
               + f"; {r['seconds']:.0f} s of footage, run in {r['run']}", err=True)
    typer.echo(f"use them: talkface generate PHOTO.png SPEECH.wav --weights {r['name']}", err=True)


@train_app.command("export")
def train_export(atnet_run: Path = typer.Argument(..., help="AT-net run folder."),
                 vgnet_run: Optional[Path] = typer.Option(None, "--vgnet", help="VG-net run folder."),
                 name: str = typer.Option(..., "--name", help="Weights name."),
                 default: bool = typer.Option(False, "--default", help="Make these the default weights."),
                 card: Optional[str] = typer.Option(None, "--card",
                                                    help="Model card file name in the weights folder."),
                 also: list[Path] = typer.Option([], "--also", metavar="RUN",
                                                 help="Another MouthNet run of the same recipe (another seed); "
                                                      "repeat it: the runs are shipped as one ensemble, their "
                                                      "motion averaged."),
                 gain: Optional[float] = typer.Option(None, "--gain", min=0.01,
                                                      help="The MouthNet motion's gain (default: the run's own; "
                                                           "an ensemble: the geometric mean of its runs').")):
    """Write safetensors + a manifest entry (sha256, config, PCA) into your weights folder (TALKFACE_HOME)."""
    from .. import weights as W

    run(lambda: require_torch("talkface train export"))
    from ..train.export import export

    e = run(lambda: export(atnet_run, vgnet_run, name, make_default=default, card=card, also=also, gain=gain))
    typer.echo(f"exported {e['name']} into {W.weights_dir()}: "
               + ", ".join(f"{f['file']} {f['sha256'][:12]}" for f in e["files"].values()))
