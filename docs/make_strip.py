"""Contact strip of generated frames (face region), for the README and docs/.

    talkface generate examples/astronaut.png examples/speech.wav -o demo.mp4
    python docs/make_strip.py demo.mp4 docs/demo_strip.png 8 4 40   # n, every, start
"""
import sys

import cv2
import numpy as np

from talkface.face.detect import detect_faces
from talkface.video.writer import read_frames


def strip(video, out, n=8, every=6, start=10, pad=0.6):
    frames = [f for i, f in enumerate(read_frames(video)) if i >= start and (i - start) % every == 0][:n]
    f0 = detect_faces(frames[0], "dlib")[0]
    x, y, w, h = f0.box
    x0, y0 = int(max(0, x - pad * w / 2)), int(max(0, y - pad * h / 3))
    x1, y1 = int(min(frames[0].shape[1], x + w * (1 + pad / 2))), int(min(frames[0].shape[0], y + h * (1 + pad)))
    tiles = [cv2.resize(f[y0:y1, x0:x1], (160, int(160 * (y1 - y0) / (x1 - x0)))) for f in frames]
    cv2.imwrite(out, cv2.cvtColor(np.concatenate(tiles, 1), cv2.COLOR_RGB2BGR))


if __name__ == "__main__":
    strip(sys.argv[1], sys.argv[2], *[int(a) for a in sys.argv[3:]])
