"""Options of planning (plain dataclasses: cheap to import, for the CLI)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .motion_config import MotionConfig
from .vlm_config import VLMConfig


@dataclass
class PlanConfig:
    """How an instruction becomes a trajectory."""

    planner: Literal["rule", "vlm"] = "rule"
    """Rule-based English parser (offline) or an OpenAI-compatible VLM."""
    motion: MotionConfig = field(default_factory=MotionConfig)
    """Timing, limits and distances of the motion."""
    vlm: VLMConfig = field(default_factory=VLMConfig)
    """VLM endpoint (planner = vlm)."""
    check_reachability: bool = True
    """Solve Panda inverse kinematics for every frame; unreachable plans are rejected."""
    robot_base: tuple[float, ...] | None = None
    """T_world_base as 16 row-major floats; None: on the support plane, base_distance_m in
    front of the workspace centre (towards the camera), facing it."""
    base_distance_m: float = 0.55
    """Distance of the automatic robot base from the workspace centre."""
    base_search_m: tuple[float, ...] = (0.1, -0.1, 0.2)
    """Automatic base only: when the plan is unreachable from ``base_distance_m``, these
    offsets to it are tried in turn (the first reachable one is kept)."""
    seed: int = 0
    """Seed of the inverse-kinematics restarts (same inputs and seed -> same trajectory)."""
