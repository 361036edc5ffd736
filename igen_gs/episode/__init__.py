"""Episodes: camera rigs, the gripper model and per-frame rendering.

The names below are imported on first use (PEP 562), so that ``igen_gs.episode.config`` -- the
plain dataclasses the CLI parses -- loads without torch and ``igen <cmd> --help`` stays fast.
"""

from .._lazy import lazy_exports

_EXPORTS = {
    "RenderConfig": ".config", "Gripper": ".gripper", "GripperGeometry": ".gripper",
    "default_gripper": ".gripper", "EpisodeFrames": ".render", "EpisodeRenderer": ".render",
    "render_episode": ".render", "Rig": ".rigs", "RigConfig": ".rigs", "make_rig": ".rigs",
}

__all__ = ["EpisodeFrames", "EpisodeRenderer", "Gripper", "GripperGeometry", "RenderConfig",
           "Rig", "RigConfig", "default_gripper", "make_rig", "render_episode"]


__getattr__ = lazy_exports(__name__, _EXPORTS)
