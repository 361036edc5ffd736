"""Lifting: one photo (+ optional depth, intrinsics, masks/prompts) -> a Gaussian Scene.

Entry point :func:`lift` (also ``igen_gs.lift``) with options :class:`LiftConfig`; the steps
live in :mod:`.inputs` (loading and checking inputs), :mod:`.geometry` (pixels to splats),
:mod:`.support` (planes), :mod:`.complete` (background and object completion) and
:mod:`.pipeline`; depth and segmentation models in :mod:`.models`.

The package is named ``lifting`` so that ``igen_gs.lift`` can be the function.
"""

from .config import LiftConfig


def __getattr__(name: str):
    if name == "lift":  # imported lazily: it pulls in torch and OpenCV
        from .pipeline import lift

        return lift
    raise AttributeError(f"module 'igen_gs.lifting' has no attribute {name!r}")


__all__ = ["LiftConfig", "lift"]
