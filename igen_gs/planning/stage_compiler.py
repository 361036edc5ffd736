"""Stages -> one smooth SE(3) end-effector trajectory with gripper openings.

:func:`compile_stages` executes a validated :class:`~igen_gs.planning.stages.StagePlan`
with the motion module's machinery (:class:`~igen_gs.planning.motion.MotionPlanner`):
the same minimum-jerk / slerp segments and speed, acceleration and angular-speed limits,
the same grasp synthesis and pick sequence, the same scene evolution (a held object follows
the gripper, a struck object slides with the fingers, a released object falls to rest), then
the same Panda inverse kinematics for every frame and arm collision check as
:func:`igen_gs.planning.plan_task`, from the same robot base choices.

Keypoints are tracked in their objects' frames, so "the spout" (a keypoint of the held can)
is wherever the can is now. How each stage moves (task frame: x forward, y left, z up):

* grasp K: the feasible grasps of K's object, those within 2 cm of the one nearest to K
  first (in the grasp planner's order), then the others by distance, picked as a ``pick``
  step does (travel high, pre-grasp, grasp, close, lift ``lift_m``);
* move_to K: the target is K + offset; the TCP (or keypoint ``point`` of the held object)
  goes there with the orientation unchanged; "above": up to above everything (5 cm over the
  tallest other object, plus the held object's hang), across, then down;
* align A B D / tilt X about D: one rotation of the held object about keypoint A / the pivot
  (the TCP by default) -- the shortest turn taking A->B onto D, or X degrees about D --,
  along the arc (the pivot stays put on every frame), timed by the arc's length;
* release: ValueError when the held object is more than 3 mm inside what is under it; else
  the gripper opens 2 cm wider, the object drops straight down onto whatever is
  under it (:func:`~igen_gs.planning.geometry.rest_shift`), the hand backs off along its
  approach by ``approach_m``;
* strike K D V: the gripper closes, the hand (pointing down, its finger face leading) goes
  over and down to a start behind the object, then one minimum-jerk stroke whose midpoint is
  the moment of contact (the hand's leading face on the object's first point along D in its
  path), so the speed there is V; the stroke length 2 L, L = max(3 cm, 0.821 V^2 /
  max_accel) (lengthened to a whole number of frames), keeps the acceleration limit; the
  object slides with the fingers for the follow-through L; the hand then rises
  ``approach_m``. V above ``max_speed`` is rejected.
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace

import numpy as np
import torch

from ..scene import frames
from ..scene.scene import Scene
from .config import PlanConfig
from .geometry import rest_shift
from .grasp import Grasp
from .motion import MotionPlanner, _Builder, _translate, segment_profile
from .stages import StagePlan
from .types import Plan, Step, Trajectory, UnreachableError

log = logging.getLogger(__name__)

_STRIKE_MIN_HALF_M = 0.03


class _KeypointMotion(MotionPlanner):
    """The motion planner with grasps ordered by distance to a preferred task-frame point."""

    prefer: np.ndarray | None = None

    def grasps(self, b: _Builder, name: str) -> list[Grasp]:
        out = super().grasps(b, name)
        if self.prefer is None:
            return out
        d = np.array([np.linalg.norm(g.T_task_ee[:3, 3] - self.prefer) for g in out])
        near = d <= d.min() + 0.02  # the nearest ones, in the grasp planner's order
        rest = sorted(np.flatnonzero(~near), key=lambda i: (d[i], i))
        return [out[i] for i in np.flatnonzero(near)] + [out[i] for i in rest]


def _rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    return frames.axis_angle_to_rotmat(torch.as_tensor(axis, dtype=torch.float64),
                                       torch.tensor(float(angle), dtype=torch.float64)).numpy()


class _StageRunner:
    def __init__(self, scene: Scene, keypoints, mp: _KeypointMotion, b: _Builder):
        self.scene, self.kp, self.mp, self.b = scene, keypoints, mp, b
        self.tf = mp.tf

    def kp_world(self, k: int) -> np.ndarray:
        """World position of keypoint k where its object is now."""
        kp = self.kp.by_id(k)
        T = self.b.poses[kp.object]
        return T[:3, :3] @ np.asarray(kp.p_obj) + T[:3, 3]

    def direction(self, name: str) -> np.ndarray:
        return -self.tf.direction("up") if name == "down" else self.tf.direction(name)

    def run(self, stage) -> None:
        getattr(self, "op_" + stage.op)(stage)

    # ------------------------------------------------------------------ stages
    def op_grasp(self, s) -> None:
        name = self.kp.by_id(s.kp).object
        self.mp.prefer = self.tf.to_task(self.kp_world(s.kp)[None])[0]
        try:
            self.mp.pick(self.b, name)
        finally:
            self.mp.prefer = None

    def op_move_to(self, s) -> None:
        b, mp = self.b, self.mp
        target = self.kp_world(s.kp) + self.tf.T_world_task[:3, :3] @ np.asarray(s.offset_m)
        moving = b.T_ee[:3, 3] if s.point is None else self.kp_world(s.point)
        T_goal = _translate(b.T_ee, target - moving)
        if s.approach == "direct":
            b.move(T_goal, "move")
            return
        if b.held is not None:
            pts = mp.points_task(b, b.held)
            hang = self.tf.to_task(b.T_ee[:3, 3][None])[0, 2] - float(pts[:, 2].min())
            travel_z = mp.safe_height(b, 0.05, exclude=b.held) + hang
        else:
            travel_z = mp.safe_height(b, 0.08)
        b.move(mp._over(b, b.T_ee, travel_z), "transport")
        b.move(mp._over(b, T_goal, travel_z), "transport")
        b.move(T_goal, "approach")

    def _turn(self, axis: np.ndarray, angle: float, pivot: np.ndarray, phase: str) -> None:
        """Rotate the hand (and what it holds) by ``angle`` about ``axis`` through ``pivot``,
        along the arc (every frame is the same rotation, by the time scaling's fraction of the
        angle, so the pivot stays put), timed within the speed limits of the arc."""
        b, cfg = self.b, self.mp.cfg
        T0 = b.T_ee.copy()
        T1 = T0.copy()
        R = _rotation(axis, angle)
        T1[:3, :3] = R @ T0[:3, :3]
        T1[:3, 3] = pivot + R @ (T0[:3, 3] - pivot)
        arc = abs(angle) * float(np.linalg.norm(np.cross(axis, T0[:3, 3] - pivot)))
        chord = float(np.linalg.norm(T1[:3, 3] - T0[:3, 3]))
        T_far = T1.copy()  # the same rotation over the arc's length: the duration's bound
        if chord > 1e-9:
            T_far[:3, 3] = T0[:3, 3] + (T1[:3, 3] - T0[:3, 3]) * (arc / chord)
        for s in segment_profile(T0, T_far, cfg):
            Rs = _rotation(axis, s * angle)
            T = T0.copy()
            T[:3, :3] = Rs @ T0[:3, :3]
            T[:3, 3] = pivot + Rs @ (T0[:3, 3] - pivot)
            b.T_ee = T
            b._emit(phase)
        b.hold(cfg.settle_seconds * 2, phase)

    def op_tilt(self, s) -> None:
        pivot = self.b.T_ee[:3, 3].copy() if s.pivot is None else self.kp_world(s.pivot)
        self._turn(self.direction(s.about), math.radians(s.deg), pivot, "tilt")

    def op_align(self, s) -> None:
        a, c = self.kp_world(s.kp_pair[0]), self.kp_world(s.kp_pair[1])
        v = c - a
        if np.linalg.norm(v) < 1e-6:
            raise ValueError(f"cannot {s.describe()}: the two keypoints coincide")
        v /= np.linalg.norm(v)
        d = self.direction(s.direction)
        axis = np.cross(v, d)
        angle = math.atan2(float(np.linalg.norm(axis)), float(v @ d))
        if np.linalg.norm(axis) < 1e-9:
            if v @ d > 0:
                return
            axis = np.cross(v, self.tf.up)
            if np.linalg.norm(axis) < 1e-9:
                axis = self.tf.direction("forward")
        self._turn(axis / np.linalg.norm(axis), angle, a, "align")

    def op_release(self, s) -> None:
        b, mp = self.b, self.mp
        name = b.held
        pts = mp.points_task(b, name)
        support = [mp.points_task(b, n) for n in self.scene.objects if n != name]
        dz = rest_shift(pts, np.concatenate(support) if support else np.zeros((0, 3)))
        if dz > 0.003:
            raise ValueError(f"{name!r} would be released {100 * dz:.1f} cm inside what is "
                             "under it (the table or another object); release it higher")
        b.release()
        b.gripper(min(mp.geom.max_opening, b.opening + 0.02), "open")
        if dz < -1e-3:
            b.fall(name, -dz * self.tf.up)
        b.move(_translate(b.T_ee, -mp.cfg.approach_m * b.T_ee[:3, 2]), "retreat")

    def op_strike(self, s) -> None:
        b, mp, g = self.b, self.mp, self.mp.geom
        cfg = mp.cfg
        if s.speed > cfg.max_speed + 1e-9:
            raise ValueError(f"cannot {s.describe()}: the speed limit is {cfg.max_speed} m/s")
        name = self.kp.by_id(s.kp).object
        d_w = self.direction(s.direction)
        d_t = self.tf.T_task_world[:3, :3] @ d_w
        lateral = np.cross([0.0, 0.0, 1.0], d_t)
        k_t = self.tf.to_task(self.kp_world(s.kp)[None])[0]
        z_tcp = max(k_t[2], 0.005 + g.finger_tip_z)
        pts = mp.points_task(b, name)
        rel = pts - np.array([k_t[0], k_t[1], z_tcp])
        corridor = (np.abs(rel @ lateral) <= g.finger_thickness) & \
            (rel[:, 2] >= -g.finger_tip_z) & (rel[:, 2] <= 0.05)
        if not corridor.any():
            raise ValueError(f"cannot {s.describe()}: the hand moving {s.direction} through "
                             f"keypoint {s.kp} would miss {name!r}")
        first = float((rel[corridor] @ d_t).min())  # the object's first point along d
        contact = np.array([k_t[0], k_t[1], z_tcp]) + (first - g.finger_width / 2) * d_t
        half = max(_STRIKE_MIN_HALF_M, 0.8211 * s.speed ** 2 / cfg.max_accel)
        # A whole number of frames at exactly the asked peak speed (T = 3.75 half / speed).
        frames_n = math.ceil(3.75 * half / s.speed * cfg.fps - 1e-9)
        half = frames_n * s.speed / (3.75 * cfg.fps) * (1 - 1e-9)
        R = np.stack([d_t, np.cross([0.0, 0.0, -1.0], d_t), [0.0, 0.0, -1.0]], 1)
        T_c = np.eye(4)
        T_c[:3, :3], T_c[:3, 3] = R, contact
        T_contact = mp._nearest_symmetric(b.T_ee, mp._world(T_c))
        T_start = _translate(T_contact, -half * d_w)
        travel_z = mp.safe_height(b, 0.08)
        b.gripper(0.0, "close")
        b.move(mp._over(b, b.T_ee, travel_z), "transport")
        b.move(mp._over(b, T_start, travel_z), "transport")
        b.move(T_start, "pre-strike")
        b.push = (name, b.poses[name].copy(), T_contact[:3, 3].copy(), d_w, 0.0)
        saved = b.cfg
        b.cfg = replace(cfg, max_speed=s.speed)  # the stroke's peak speed, at contact
        try:
            b.move(_translate(T_contact, half * d_w), "strike")
        finally:
            b.cfg = saved
            b.push = None
        b.move(_translate(b.T_ee, cfg.approach_m * self.tf.up), "retreat")


def _stage_steps(plan: StagePlan, keypoints) -> list[Step]:
    """Plan steps standing for the stages (for labels, saving and language annotations):
    action = the stage's description, object = the object it acts on."""
    steps, held = [], None
    for s in plan.stages:
        k = s.kp if s.kp is not None else s.point
        name = keypoints.by_id(k).object if k is not None else held
        if s.op == "grasp":
            held = name
        if s.op in ("tilt", "align", "release"):
            name = held
        if s.op == "release":
            held = None
        steps.append(Step(action=s.describe(), object=name or ""))
    return steps


def run_stages(scene: Scene, plan: StagePlan, keypoints, cfg: PlanConfig,
               T_world_base: np.ndarray | None, reachable=None) -> Trajectory:
    """Frames of ``plan`` from one base, without the joint-space checks."""
    mp = _KeypointMotion(scene, cfg.motion, None, T_world_base, reachable)
    R_start = None
    if T_world_base is not None:
        from .kinematics import READY, fk

        R_start = (T_world_base @ fk(READY))[:3, :3]
    b = _Builder(scene, mp.cfg, mp.geom, mp.start_pose(R_start))
    runner = _StageRunner(scene, keypoints, mp, b)
    for i, s in enumerate(plan.stages):
        b.step = i
        try:
            runner.run(s)
        except UnreachableError as e:
            raise UnreachableError(f"stage {i + 1} ({s.describe()}): {e}") from None
        except ValueError as e:
            raise ValueError(f"stage {i + 1} ({s.describe()}): {e}") from None
    b.step = len(plan.stages)
    b.hold(mp.cfg.settle_seconds, "done")
    fr = b.frames
    names = list(scene.objects)
    steps = _stage_steps(plan, keypoints)
    return Trajectory(
        timestamps=np.arange(len(fr)) / mp.cfg.fps,
        T_world_ee=np.stack([f["T"] for f in fr]),
        gripper=np.array([f["open"] for f in fr]) / mp.geom.max_opening,
        gripper_opening_m=np.array([f["open"] for f in fr]),
        attached=[f["held"] for f in fr],
        object_poses={n: np.stack([f["poses"][n] for f in fr]) for n in names},
        step_index=np.array([f["step"] if f["step"] < len(steps) else -1 for f in fr]),
        phase=[f["phase"] for f in fr],
        plan=Plan(plan.instruction, steps, plan.planner), fps=mp.cfg.fps,
        max_opening_m=mp.geom.max_opening,
        T_world_base=np.eye(4) if T_world_base is None else T_world_base)


def compile_stages(scene: Scene, plan: StagePlan, keypoints, config: PlanConfig | None = None
                   ) -> Trajectory:
    """The trajectory of ``plan`` (validated against ``keypoints``) on ``scene``: from the
    configured robot base (or the automatic candidates, best first, as
    :func:`~igen_gs.planning.plan_task`), with Panda joint angles and the arm collision check
    when ``config.check_reachability``. One-line ValueError / UnreachableError naming the
    stage otherwise."""
    from .kinematics import joint_trajectory, pose_reachable
    from .pipeline import (
        OCCLUSION_EVERY,
        candidate_bases,
        check_arm_collisions,
        photo_occlusion,
    )

    cfg = config or PlanConfig()
    pseudo = Plan(plan.instruction, _stage_steps(plan, keypoints))
    bases, placement = candidate_bases(scene, pseudo, cfg)
    objects = [n for n in scene.object_names if n in {s.object for s in pseudo.steps}]
    first_error: UnreachableError | None = None
    for T_world_base in bases:
        reach = pose_reachable(T_world_base, cfg.seed) if cfg.check_reachability else None
        try:
            traj = run_stages(scene, plan, keypoints, cfg, T_world_base, reach)
            traj.base_info = {"placement": placement}
            if cfg.check_reachability:
                traj.joint_positions = joint_trajectory(traj.T_world_ee, T_world_base,
                                                        traj.step_labels(), seed=cfg.seed)
                if cfg.check_arm_collisions:
                    check_arm_collisions(scene, traj, cfg.collision_margin_m)
                traj.base_info["photo_occlusion"] = photo_occlusion(
                    scene, T_world_base, traj.joint_positions[::OCCLUSION_EVERY], objects)
            return traj
        except UnreachableError as e:
            first_error = first_error or e
            log.info("stages unreachable from the base at %s: %s", T_world_base[:3, 3], e)
    raise first_error
