"""Options of planning (plain dataclasses: cheap to import, for the CLI)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .motion_config import MotionConfig
from .vlm_config import VLMConfig


@dataclass
class PlanConfig:
    """How an instruction becomes a trajectory."""

    planner: Literal["rule", "vlm", "keypoint-vlm"] = "rule"
    """Rule-based English parser (offline), an OpenAI-compatible VLM writing primitives, or
    one writing keypoint stages from the photo with numbered keypoints (keypoint-vlm)."""
    motion: MotionConfig = field(default_factory=MotionConfig)
    """Timing, limits and distances of the motion."""
    vlm: VLMConfig = field(default_factory=VLMConfig)
    """VLM endpoint (planner = vlm)."""
    check_reachability: bool = True
    """Solve Panda inverse kinematics for every frame; unreachable plans are rejected."""
    check_arm_collisions: bool = True
    """With joint angles: reject plans in which an arm link (not the base's two links, not
    the hand and fingers, whose clearance the grasp planner keeps) comes within
    collision_margin_m of the scene's Gaussians or of an object it does not hold."""
    collision_margin_m: float = 0.005
    """Clearance of the arm links from the scene (metres)."""
    robot_base: tuple[float, ...] | None = None
    """T_world_base as 16 row-major floats (a simulator's or a real setup's base: used
    exactly); None: base_pixel, else automatic."""
    base_pixel: tuple[float, float] | None = None
    """Place the base where the photo's ray through this image point (u v, pixels) meets the
    support plane, facing the workspace centre turned by base_yaw_deg."""
    base_yaw_deg: float | None = None
    """With base_pixel: turn the base this much about up (counter-clockwise from above)."""
    base_distance_m: float = 0.55
    """Distance of the automatic robot base from the workspace centre."""
    base_angles_deg: tuple[float, ...] = (180.0, 135.0, -135.0, 90.0, -90.0, 45.0, -45.0, 0.0)
    """Automatic base: where around the workspace it may stand (degrees about up from the
    direction towards the camera: 0 between camera and workspace, 180 beyond it, facing the
    camera). Ranked by how much of the task objects the arm hides in the photo; the first
    from which the plan is reachable is used, and its hidden fraction is recorded."""
    base_search_m: tuple[float, ...] = (0.1, -0.1, 0.2)
    """Automatic base only: at each angle, when the plan is unreachable from
    ``base_distance_m``, these offsets to it are tried in turn."""
    seed: int = 0
    """Seed of the inverse-kinematics restarts (same inputs and seed -> same trajectory)."""
