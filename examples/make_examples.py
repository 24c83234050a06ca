"""Regenerate the example inputs: all made by us or public domain.

- astronaut.png: NASA photo of Eileen Collins, public domain, shipped with scikit-image.
- cartoon.png:  a cartoon face drawn by tests/conftest.py's draw_face().
- speech.wav:   espeak-ng speech synthesis (GPL tool; its output is ours).
"""
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))


def main():
    from skimage import data

    from conftest import draw_face

    cv2.imwrite(str(HERE / "astronaut.png"), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(HERE / "cartoon.png"), cv2.cvtColor(draw_face(360, 440), cv2.COLOR_RGB2BGR))
    text = ("Hello! I am a talking face made from a single picture. "
            "Give me any portrait and some speech, and I will move my lips to the words.")
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(HERE / "speech.wav"), text], check=True)


if __name__ == "__main__":
    main()
