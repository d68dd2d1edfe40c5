"""The expected gain: how much better than cubic a run is, measured on the image itself.

No ground truth is at hand, so every run keeps a few planes (or a band) out of training and
measures on them (`holdout`); `gain` degrades those held-out parts as the input was degraded and
compares the network with cubic interpolation, corrected for noise. Axial runs first make the
held-out planes as sharp as the volume they stand for (`deaverage`), which needs the slice
profile: `profile_estimate` reads it off the volume (and the run uses it too, when none is given).

Layer: above `engine` (it runs a trained network), below `nd` (every N-D run calls it).
docs/quality-estimate.md explains the estimate and how far to trust it.
"""
