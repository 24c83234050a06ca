"""``talkface weights``: list, verify and import model weights."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from ..runtime.errors import TalkfaceError
from .app import print_json, run, weights_app


@weights_app.command("list")
def weights_list(as_json: bool = typer.Option(False, "--json")):
    """List the shipped weights and yours.

    Name, default, where (shipped: in the package; user: your folder, TALKFACE_HOME), size,
    whether the files verify (each is re-hashed), and their use: "any", or "research" for a
    set trained on footage whose terms allow research use only (its model card says which)."""
    from .. import weights as W

    d = run(W.describe)
    if as_json:
        print_json(d)
        return
    cols = ("name", "default", "kind", "where", "size", "verified", "use", "folder")

    def cells(r):
        return [r["name"], "yes" if r["default"] else "", r["kind"],
                r["where"] + (", hidden" if r["hidden"] else ""), f"{r['size'] / 1e6:.1f} MB",
                "ok" if r["ok"] else f"no: {r['error']}", r["use"], r["dir"]]

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
    from .. import weights as W

    def go():
        if name:
            return W.verify(name)
        r = W.registry()
        if not r.listed:
            raise TalkfaceError(f"{r.default_from}: no weights installed", 4)
        return [row for x in r.listed for row in W.verify_entry(x.entry, x.dir)]

    rows = run(go)
    if as_json:
        print_json({"files": rows, "ok": all(r["ok"] for r in rows)})
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
    from .. import weights as W
    from ..motion.authors import import_atvgnet

    e = run(lambda: import_atvgnet(atnet, vgnet, basics, name=name))
    typer.echo(f"imported {e['name']} into {W.weights_dir()}: " + ", ".join(f["file"] for f in e["files"].values()))


@weights_app.command("remove")
def weights_remove(name: str = typer.Argument(..., help="One of your sets (talkface weights list)."),
                   with_run: bool = typer.Option(False, "--run", help="Also delete its training run folder "
                                                                     "(talkface train vgnet --video)."),
                   as_json: bool = typer.Option(False, "--json")):
    """Remove one of your weight sets: its manifest entry and its files. Shipped sets stay."""
    import shutil

    from .. import weights as W

    r = run(lambda: W.remove(name))
    run_dir = (r["entry"].get("person") or {}).get("run")
    gone = None
    if run_dir and (Path(run_dir) / "run.json").exists():  # only a folder that is a person run
        if with_run:
            run(lambda: shutil.rmtree(run_dir))
            gone = run_dir
    out = {"name": r["name"], "dir": r["dir"], "files": r["files"], "run_removed": gone}
    if as_json:
        print_json(out)
        return
    typer.echo(f"removed {name} from {r['dir']}" + (f" ({', '.join(r['files'])})" if r["files"] else ""), err=True)
    if run_dir and gone is None and Path(run_dir).exists():
        typer.echo(f"its training run {run_dir} was kept; add --run to delete it too", err=True)
    elif gone:
        typer.echo(f"removed its training run {gone}", err=True)
