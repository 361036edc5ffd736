"""Episodes: camera rigs, the gripper model and per-frame rendering.

The names below are imported on first use (PEP 562), so that ``igen_gs.episode.config`` -- the
plain dataclasses the CLI parses -- loads without torch and ``igen <cmd> --help`` stays fast.
"""

from importlib import import_module

_EXPORTS = {
    "RenderConfig": ".config", "Gripper": ".gripper", "GripperGeometry": ".gripper",
    "default_gripper": ".gripper", "EpisodeFrames": ".render", "EpisodeRenderer": ".render",
    "render_episode": ".render", "Rig": ".rigs", "RigConfig": ".rigs", "make_rig": ".rigs",
}

__all__ = ["EpisodeFrames", "EpisodeRenderer", "Gripper", "GripperGeometry", "RenderConfig",
           "Rig", "RigConfig", "default_gripper", "make_rig", "render_episode"]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
