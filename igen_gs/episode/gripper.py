"""Moved to :mod:`igen_gs.robot` (kept so ``igen_gs.episode.gripper`` imports keep working)."""

from ..robot.geometry import GripperGeometry
from ..robot.gripper import Gripper, default_gripper

__all__ = ["Gripper", "GripperGeometry", "default_gripper"]
