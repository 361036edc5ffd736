"""The robot: models (built-in Franka Panda, any URDF), forward kinematics of every link, the
gripper's planning geometry, and the robot drawn as Gaussians (whole arm or hand only).

``igen_gs.planning`` and ``igen_gs.episode`` both use this package; it uses only
``igen_gs.scene``. Heavy parts (yourdfpy, trimesh, torch) load on first use.
"""

from __future__ import annotations

import importlib

from .config import RobotConfig
from .geometry import GripperGeometry

_LAZY = {
    "Gripper": ".gripper",
    "default_gripper": ".gripper",
    "RobotModel": ".model",
    "load_robot": ".model",
    "robot_from_config": ".model",
    "gripper_geometry": ".model",
    "RobotGaussians": ".gaussians",
    "robot_gaussians": ".gaussians",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'igen_gs.robot' has no attribute {name!r}")


__all__ = ["GripperGeometry", "RobotConfig", *sorted(_LAZY)]
