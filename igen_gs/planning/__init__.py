"""Planning: a language instruction on a scene -> plan steps -> a smooth, feasible SE(3)
end-effector trajectory that moves the objects (see :func:`plan_task`)."""

from .._lazy import lazy_exports
from .config import PlanConfig
from .motion_config import MotionConfig
from .types import ACTIONS, PLAN_JSON_SCHEMA, Plan, Step, Trajectory, UnreachableError
from .vlm_config import VLMConfig

# lazy: they pull in torch, roma, roboticstoolbox
__getattr__ = lazy_exports(__name__, {"plan_task": ".pipeline", "make_plan": ".pipeline"})


__all__ = ["ACTIONS", "MotionConfig", "PLAN_JSON_SCHEMA", "Plan", "PlanConfig", "Step",
           "Trajectory", "UnreachableError", "VLMConfig", "make_plan", "plan_task"]
