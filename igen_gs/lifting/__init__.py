"""Lifting: one photo (+ optional depth, intrinsics, masks/prompts) -> a Gaussian Scene."""

from .config import LiftConfig


def __getattr__(name: str):
    if name == "lift":  # imported lazily: it pulls in torch and OpenCV
        from .pipeline import lift

        return lift
    raise AttributeError(f"module 'igen_gs.lifting' has no attribute {name!r}")


__all__ = ["LiftConfig", "lift"]
