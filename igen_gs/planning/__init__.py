"""Planning: a language instruction on a scene -> plan steps -> a smooth, feasible SE(3)
end-effector trajectory that moves the objects (see :func:`plan_task`)."""

from .config import PlanConfig
from .motion_config import MotionConfig
from .types import ACTIONS, PLAN_JSON_SCHEMA, Plan, Step, Trajectory, UnreachableError
from .vlm_config import VLMConfig


def __getattr__(name: str):
    if name in ("plan_task", "make_plan"):  # lazy: they pull in torch, roma, roboticstoolbox
        from . import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'igen_gs.planning' has no attribute {name!r}")


__all__ = ["ACTIONS", "MotionConfig", "PLAN_JSON_SCHEMA", "Plan", "PlanConfig", "Step",
           "Trajectory", "UnreachableError", "VLMConfig", "make_plan", "plan_task"]
