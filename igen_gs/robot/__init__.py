"""The robot: models (built-in Franka Panda, any URDF), forward kinematics of every link, the
gripper's planning geometry, and the robot drawn as Gaussians (whole arm or hand only).

``igen_gs.planning`` and ``igen_gs.episode`` both use this package; it uses only
``igen_gs.scene``. Heavy parts (yourdfpy, trimesh, torch) load on first use.
"""

from __future__ import annotations

from .._lazy import lazy_exports
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


__getattr__ = lazy_exports(__name__, _LAZY)


__all__ = ["GripperGeometry", "RobotConfig", *sorted(_LAZY)]
