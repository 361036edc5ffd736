"""``plan_task``: an instruction on a scene -> a :class:`Trajectory` (the planning stage's one
public entry point)."""

from __future__ import annotations

import logging

import numpy as np

from ..scene.scene import Scene
from .config import PlanConfig
from .geometry import task_frame
from .kinematics import joint_trajectory, pose_reachable
from .motion import build_trajectory
from .rule import rule_plan
from .types import Plan, Trajectory, UnreachableError

log = logging.getLogger(__name__)


def robot_base_pose(scene: Scene, cfg: PlanConfig, distance_m: float | None = None
                    ) -> np.ndarray:
    """T_world_base: given, or on the support plane ``distance_m`` (default
    ``cfg.base_distance_m``) from the workspace centre towards the camera, x axis towards the
    workspace, z up."""
    if cfg.robot_base is not None:
        T = np.asarray(cfg.robot_base, dtype=np.float64)
        if T.size != 16 or not np.isfinite(T).all():
            raise ValueError("robot_base must be 16 finite numbers (a 4x4 T_world_base)")
        return T.reshape(4, 4)
    tf = task_frame(scene)
    T = tf.T_world_task.copy()
    d = cfg.base_distance_m if distance_m is None else distance_m
    T[:3, 3] = tf.to_world(np.array([[-d, 0.0, 0.0]]))[0]
    return T


def make_plan(scene: Scene, instruction: str, cfg: PlanConfig | None = None) -> Plan:
    """The plan (steps) for ``instruction`` on ``scene``."""
    cfg = cfg or PlanConfig()
    names = scene.object_names
    if not names:
        raise ValueError("the scene has no objects to manipulate")
    if cfg.planner == "rule":
        return rule_plan(instruction, names)
    if cfg.planner == "vlm":
        from .vlm import vlm_plan

        image = None
        if scene.camera is not None and cfg.vlm.send_image:
            image = (scene.render(scene.camera, labels=False)["rgb"][0].clamp(0, 1) * 255
                     + 0.5).byte().numpy()
        return vlm_plan(instruction, names, cfg.vlm, image)
    raise ValueError(f"planner must be 'rule' or 'vlm', got {cfg.planner!r}")


def plan_task(scene: Scene, instruction: str | None = None, config: PlanConfig | None = None,
              plan: Plan | None = None) -> Trajectory:
    """Plan ``instruction`` (or execute a given ``plan``) on ``scene``: steps, grasps, a
    smooth time-parametrised TCP trajectory, gripper commands, the objects' poses per frame
    and, when ``config.check_reachability``, Panda joint angles (unreachable plans raise a
    one-line ValueError naming the step and the pose). With the automatic robot base, other
    base distances (``config.base_search_m``) are tried before giving up."""
    cfg = config or PlanConfig()
    if plan is None:
        if instruction is None:
            raise ValueError("give an instruction or a plan")
        plan = make_plan(scene, instruction, cfg)
    if cfg.robot_base is not None or not cfg.check_reachability:
        bases = [robot_base_pose(scene, cfg)]
    else:
        bases = [robot_base_pose(scene, cfg, cfg.base_distance_m + off)
                 for off in (0.0, *cfg.base_search_m) if cfg.base_distance_m + off > 0.2]
    first_error: UnreachableError | None = None
    for T_world_base in bases:
        reach = pose_reachable(T_world_base, cfg.seed) if cfg.check_reachability else None
        try:
            traj = build_trajectory(scene, plan, cfg.motion, T_world_base=T_world_base,
                                    reachable=reach)
            if cfg.check_reachability:
                traj.joint_positions = joint_trajectory(traj.T_world_ee, T_world_base,
                                                        traj.step_labels(), seed=cfg.seed)
            return traj
        except UnreachableError as e:
            first_error = first_error or e
            log.info("plan unreachable from the base at %s: %s", T_world_base[:3, 3], e)
    raise first_error
