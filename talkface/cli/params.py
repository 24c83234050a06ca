"""Options several commands take, declared once: those of a video are built from
``GenerateOptions``' own definition (flag, help, default: ``talkface.options``)."""
from __future__ import annotations

import typer

from ..options import GenerateOptions

_FIELDS = GenerateOptions.flags()


def option(name: str):
    """The command-line option of ``GenerateOptions`` field ``name``."""
    f = _FIELDS[name]
    return typer.Option(f.default, f.metadata["flag"], help=f.metadata["help"])


WEIGHTS = typer.Option("default", "--weights", help="Weights name from 'talkface weights list'.")
DEVICE = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N.")
DETECTOR = option("detector")
LANDMARKS = option("landmarks")
FACE_INDEX = option("face_index")
RENDERER = option("renderer")

# how a video is made: generate, and batch for every row (a row's own columns win)
SIZE = option("size")
CROP = option("crop")
MAX_SIZE = option("max_size")
BLINK = option("blink")
HEAD_MOTION = option("head_motion")
MAX_SECONDS = option("max_seconds")
CRF = option("crf")
QUIET = typer.Option(False, "--quiet", "-q", help="No progress output.")
