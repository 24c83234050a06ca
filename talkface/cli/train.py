"""``talkface data`` and ``talkface train``: training data from clips, AT-net / VG-net, export."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from ..errors import InputError
from .app import data_app, fail, run, train_app


@data_app.command("prepare")
def data_prepare(src: Path = typer.Argument(..., help="Folder of clips with audio (mp4, mpg, mov, avi, mkv)."),
                 out: Path = typer.Argument(..., help="Output folder of training items."),
                 jobs: int = typer.Option(1, "--jobs", "-j", help="Parallel workers."),
                 limit: Optional[int] = typer.Option(None, "--limit", help="Only the first N clips."),
                 quiet: bool = typer.Option(False, "--quiet", "-q")):
    """Landmarks, aligned crops and audio of every clip; resumable, faceless clips reported."""
    from ..progress import Reporter
    from ..train.data import prepare

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

    r = run(lambda: prepare(src, out, jobs=jobs, limit=limit, progress=P()))
    if rep.show:
        print(file=sys.stderr)
    typer.echo(f"{r['prepared']} prepared, {r['already_done']} already done, {len(r['skipped'])} skipped "
               f"(see {out / 'report.json'})", err=True)


def _train_common(kind, data_dir, run_dir, config, steps, batch, device, resume, val, holdout, quiet):
    if not Path(data_dir).is_dir():
        fail(InputError(f"{data_dir}: not a folder; run talkface data prepare first"))
    echo = None if quiet else (lambda s: print(s, file=sys.stderr, flush=True))
    if kind == "atnet" and config == "mouthnet":  # talkface's speaker-independent AT-net
        from ..train.mouthnet import train as train_mouth

        def train(data_dir, run_dir, config, device, **kw):
            return train_mouth(data_dir, run_dir, **kw)
    elif kind == "atnet":
        from ..train.atnet import train
    else:
        from ..train.vgnet import train

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
    from .. import weights as W
    from ..train.export import export

    e = run(lambda: export(atnet_run, vgnet_run, name, make_default=default, card=card))
    typer.echo(f"exported {e['name']} into {W.weights_dir()}: "
               + ", ".join(f"{f['file']} {f['sha256'][:12]}" for f in e["files"].values()))
