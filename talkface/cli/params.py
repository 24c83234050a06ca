"""Options several commands take, declared once (their defaults are ``GenerateOptions``')."""
from __future__ import annotations

import typer

from ..options import GenerateOptions

_D = GenerateOptions()

WEIGHTS = typer.Option("default", "--weights", help="Weights name from 'talkface weights list'.")
DEVICE = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N.")
DETECTOR = typer.Option(_D.detector, "--detector", help="auto, dlib, fan (face-alignment), mesh (MediaPipe Face Mesh) or cartoon.")
LANDMARKS = typer.Option(None, "--landmarks", help="68-point JSON to skip detection.")
FACE_INDEX = typer.Option(None, "--face-index", help="Which face, largest first (0).")
RENDERER = typer.Option(_D.renderer, "--renderer", help="auto, neural or warp.")

# how a video is made: generate, and batch for every row (a row's own columns win)
SIZE = typer.Option(_D.size, "--size", help="Side of the output with --crop.")
CROP = typer.Option(_D.crop, "--crop", help="Output the aligned face crop only, not the full portrait.")
MAX_SIZE = typer.Option(_D.max_size, "--max-size", help="Largest side of the full-portrait output.")
BLINK = typer.Option(_D.blink, "--blink/--no-blink", help="Eye blinks every 2-6 s (warp renderer).")
HEAD_MOTION = typer.Option(_D.head_motion, "--head-motion/--no-head-motion",
                           help="A very light idle head sway (warp renderer).")
MAX_SECONDS = typer.Option(_D.max_seconds, "--max-seconds", help="Refuse longer audio.")
CRF = typer.Option(_D.crf, "--crf", help="H.264 quality: 0 (lossless, large files) to 51; 18-23 look good.")
QUIET = typer.Option(False, "--quiet", "-q", help="No progress output.")
