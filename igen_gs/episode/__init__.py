"""Episodes: camera rigs, the gripper model and per-frame rendering."""

from .config import RenderConfig
from .gripper import Gripper, GripperGeometry, default_gripper
from .render import EpisodeFrames, EpisodeRenderer, render_episode
from .rigs import Rig, RigConfig, make_rig

__all__ = ["EpisodeFrames", "EpisodeRenderer", "Gripper", "GripperGeometry", "RenderConfig",
           "Rig", "RigConfig", "default_gripper", "make_rig", "render_episode"]
