"""Stage 4, render: a landmark sequence becomes frames.

* ``neural``: VG-net draws the aligned face crop from the reference image (the paper's
  generator; needs weights that know such faces). The networks: ``vgnet`` (the authors'
  layout) and ``vgnet_maps`` (landmark maps + U-Net, talkface's own).
* ``warp``: moves the portrait's own pixels along the landmarks and paints the mouth
  interior and the eyelids (any face: photos, paintings, cartoons).
* ``choose``: what ``--renderer auto`` means for one portrait.

Nothing is imported here, so choosing a renderer never loads torch.
"""
