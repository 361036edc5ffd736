"""Synthetic tabletop worlds with ground truth (open3d meshes + an independent ray caster),
optionally with the robot standing in them (its link meshes ray-cast at a joint
configuration)."""

from .raycast import Surface, raycast
from .shapes import KINDS, ObjectSpec, default_specs, make_mesh
from .tasks import TASKS, task_world
from .world import RobotPose, SyntheticWorld, make_tabletop_world

__all__ = ["KINDS", "ObjectSpec", "RobotPose", "Surface", "SyntheticWorld", "TASKS",
           "default_specs", "make_mesh", "make_tabletop_world", "raycast", "task_world"]
