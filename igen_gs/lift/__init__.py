"""Lifting: one photo (+ optional depth, intrinsics, masks/prompts) -> a Gaussian Scene."""

from .config import LiftConfig
from .lift import lift

__all__ = ["LiftConfig", "lift"]
