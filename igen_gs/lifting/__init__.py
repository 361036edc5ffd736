"""Lifting: one photo (+ optional depth, intrinsics, masks/prompts, erase masks) -> a Gaussian
Scene.

Entry point :func:`lift` (also ``igen_gs.lift``) with options :class:`LiftConfig`; ``lift`` is
the recipe (:mod:`.pipeline`), each step a function in its own module: :mod:`.masks` (object and
erase masks, every pixel's role), :mod:`.depth_input` (metric depth and intrinsics),
:mod:`.pixels` (per-pixel rays, points, normals), :mod:`.support` (the support plane),
:mod:`.background` and :mod:`.objects` (splats, completed by :mod:`.complete`), :mod:`.assemble`
(object frames, the Scene) and :mod:`.refine` (colours against the photo). Loading and checking
inputs in :mod:`.inputs`, pixel-to-splat geometry in :mod:`.geometry`; depth and segmentation
models in :mod:`.models`.

The package is named ``lifting`` so that ``igen_gs.lift`` can be the function.
"""

from .._lazy import lazy_exports
from .config import LiftConfig

# imported lazily: it pulls in torch and OpenCV
__getattr__ = lazy_exports(__name__, {"lift": ".pipeline"})


__all__ = ["LiftConfig", "lift"]
