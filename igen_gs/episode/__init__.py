"""Episodes: camera rigs, the gripper model and per-frame rendering."""

from .gripper import Gripper, GripperGeometry, default_gripper
from .render import EpisodeFrames, EpisodeRenderConfig, EpisodeRenderer, render_episode
from .rigs import Rig, RigConfig, make_rig

__all__ = ["EpisodeFrames", "EpisodeRenderConfig", "EpisodeRenderer", "Gripper",
           "GripperGeometry", "Rig", "RigConfig", "default_gripper", "make_rig", "render_episode"]
