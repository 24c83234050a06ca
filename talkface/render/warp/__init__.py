"""The ``warp`` renderer: moves the portrait's own pixels along the predicted landmark
motion, for faces the neural renderer has never seen (paintings, cartoons, strangers).

Per frame, one module a job:

* ``roi``: the box around the face that may change; everything outside stays the portrait's.
* ``field``: a thin-plate spline through the landmarks, solved once per portrait, gives
  where each pixel of that box comes from.
* ``resample``: pulls the pixels along it (``cv2.remap`` on CPU, ``grid_sample`` on CUDA),
  at the portrait's full resolution.
* ``mouth``: scales the mouth's motion to the portrait's mouth and paints the interior
  (cavity, teeth, tongue) where it opens wider than in the portrait (a closed one's).
* ``closing``: a portrait photographed with its mouth open: its lips are mapped piecewise
  from their own sides, so they meet where the landmarks close them (the teeth strip the
  field cannot squeeze away is not sampled), and opening wider keeps each row of teeth
  with its lip, the cavity painted between.
* ``eyelids``: blinks are painted lids sliding over the eye, not a squashed eye.
* ``renderer``: ``WarpRenderer`` puts them together; ``render_warp`` streams a sequence.
"""
from .renderer import WarpRenderer, render_warp

__all__ = ["WarpRenderer", "render_warp"]
