"""Motion options (a plain dataclass, cheap to import)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass
class MotionConfig:
    """Timing, limits and distances of the generated motion (metres, seconds, radians)."""

    fps: float = 15.0
    """Control rate of the trajectory."""
    profile: Literal["min_jerk", "trapezoid"] = "min_jerk"
    """Time scaling between waypoints: "min_jerk" (smooth, mean speed 1/1.875 of the peak) or
    "trapezoid" (constant acceleration, cruise at ``max_speed``, constant deceleration: about
    as fast as the limits allow, like a scripted controller's constant-speed targets)."""
    max_speed: float = 0.25
    """TCP speed limit (m/s)."""
    max_accel: float = 0.8
    """TCP acceleration limit (m/s^2)."""
    max_angular_speed: float = 1.2
    """TCP angular speed limit (rad/s)."""
    gripper_seconds: float = 0.6
    """Time to open or close the gripper."""
    settle_seconds: float = 0.2
    """Pause after grasping and placing."""
    approach_m: float = 0.10
    """Pre-grasp / pre-place distance along the approach axis."""
    lift_m: float = 0.12
    """Lift height after grasping."""
    clearance_m: float = 0.002
    """Gap between a placed object's bottom and the support surface."""
    beside_gap_m: float = 0.05
    """Default gap between objects for move_to."""
    max_drop_m: float = 0.10
    """Highest release above the resting pose when the gripper cannot set an object down all
    the way (into a container); the object then falls."""
    squeeze_m: float = 0.004
    """The fingers close this much narrower than the object's width (grip)."""
    grasp_kinds: tuple[str, ...] = ("top", "side")
    """Grasp candidates to consider: top-down and/or side grasps."""
    place_offset_m: tuple[float, float] = (0.0, 0.0)
    """Placements land this far (forward, left) from the target's centre."""

    def __post_init__(self):
        if self.profile not in ("min_jerk", "trapezoid"):
            raise ValueError(f"MotionConfig.profile must be 'min_jerk' or 'trapezoid', got "
                             f"{self.profile!r}")
        for name in ("fps", "max_speed", "max_accel", "max_angular_speed"):
            if not getattr(self, name) > 0:
                raise ValueError(f"MotionConfig.{name} must be > 0, got {getattr(self, name)}")
