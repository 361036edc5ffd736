"""``plan_task``: an instruction on a scene -> a :class:`Trajectory` (the planning stage's one
public entry point)."""

from __future__ import annotations

import logging

import numpy as np
import torch

from ..scene.scene import Scene
from .config import PlanConfig
from .geometry import object_points, task_frame
from .kinematics import READY, ik, joint_trajectory, pose_reachable
from .motion import build_trajectory
from .rule import rule_plan
from .types import STAGE_ACTIONS, Plan, Trajectory, UnreachableError

log = logging.getLogger(__name__)


def _base_in_task(tf, position_task: np.ndarray, facing_task: np.ndarray) -> np.ndarray:
    """T_world_base at a task-frame point on the support plane, x axis along ``facing_task``
    (projected on the plane), z up."""
    f = np.array([facing_task[0], facing_task[1], 0.0])
    f /= np.linalg.norm(f)
    R_task = np.stack([f, np.cross([0.0, 0.0, 1.0], f), [0.0, 0.0, 1.0]], 1)
    T = np.eye(4)
    T[:3, :3] = tf.T_world_task[:3, :3] @ R_task
    T[:3, 3] = tf.to_world(np.array([[position_task[0], position_task[1], 0.0]]))[0]
    return T


def base_at_pixel(scene: Scene, u: float, v: float, yaw_deg: float | None = None
                  ) -> np.ndarray:
    """T_world_base where the photo camera's ray through image point (u, v) (pixel units,
    as :meth:`Camera.project`) meets the support plane; z up, x axis facing the workspace
    centre turned by ``yaw_deg`` about up (counter-clockwise seen from above; None: 0)."""
    if scene.camera is None or scene.support_plane is None:
        raise ValueError("a base pixel needs the scene's photo camera and support plane")
    cam = scene.camera
    if not (0 <= u <= cam.width and 0 <= v <= cam.height):
        raise ValueError(f"base pixel ({u}, {v}) is outside the {cam.width}x{cam.height} photo")
    K = cam.K.numpy()
    d = cam.T_world_cam[:3, :3].numpy() @ np.array([(u - K[0, 2]) / K[0, 0],
                                                     (v - K[1, 2]) / K[1, 1], 1.0])
    o = cam.center.numpy()
    plane = scene.support_plane.double().numpy()
    denom = plane[:3] @ d
    t = -(plane[:3] @ o + plane[3]) / denom if abs(denom) > 1e-12 else -1.0
    if t <= 0:
        raise ValueError(f"the ray through base pixel ({u}, {v}) does not meet the support "
                         "plane in front of the camera (pick a pixel on the table)")
    tf = task_frame(scene)
    p = tf.to_task((o + t * d)[None])[0]
    facing = -p[:2] if np.linalg.norm(p[:2]) > 1e-6 else np.array([1.0, 0.0])
    yaw = np.radians(yaw_deg or 0.0)
    c, s_ = np.cos(yaw), np.sin(yaw)
    return _base_in_task(tf, p, np.array([c * facing[0] - s_ * facing[1],
                                          s_ * facing[0] + c * facing[1]]))


def robot_base_pose(scene: Scene, cfg: PlanConfig, distance_m: float | None = None,
                    angle_deg: float = 0.0) -> np.ndarray:
    """T_world_base: given (``cfg.robot_base``, used exactly), at a photo pixel
    (``cfg.base_pixel``, :func:`base_at_pixel`), or on the support plane ``distance_m``
    (default ``cfg.base_distance_m``) from the workspace centre, ``angle_deg`` about the up
    axis from the direction towards the camera (0: between the camera and the workspace;
    180: beyond the workspace, facing the camera), x axis towards the workspace, z up."""
    if cfg.robot_base is not None:
        T = np.asarray(cfg.robot_base, dtype=np.float64)
        if T.size != 16 or not np.isfinite(T).all():
            raise ValueError("robot_base must be 16 finite numbers (a 4x4 T_world_base)")
        return T.reshape(4, 4)
    if cfg.base_pixel is not None:
        if len(cfg.base_pixel) != 2:
            raise ValueError(f"base_pixel must be two numbers (u v), got {cfg.base_pixel}")
        return base_at_pixel(scene, float(cfg.base_pixel[0]), float(cfg.base_pixel[1]),
                             cfg.base_yaw_deg)
    tf = task_frame(scene)
    d = cfg.base_distance_m if distance_m is None else distance_m
    a = np.radians(angle_deg)
    pos = np.array([-d * np.cos(a), -d * np.sin(a)])
    return _base_in_task(tf, pos, -pos)


OCCLUSION_WIDTH = 160
"""Width of the photo camera image the occlusion fraction is measured in."""


def photo_occlusion(scene: Scene, T_world_base: np.ndarray, joints: np.ndarray,
                    objects: list[str]) -> float:
    """Mean over the joint vectors [K, 7] of the fraction of ``objects``' pixels in the photo
    camera (at 160 px width) that the arm hides: each object Gaussian's centre and each arm
    Gaussian's centre is splatted into a depth buffer (the arm's one pixel wider); a pixel of
    the objects is hidden where the arm is nearer. 0 without a camera or objects."""
    from scipy.ndimage import minimum_filter

    from ..robot.gaussians import robot_gaussians
    from ..robot.model import load_robot

    if scene.camera is None or not objects:
        return 0.0
    cam = scene.camera.resized(OCCLUSION_WIDTH, max(1, round(
        scene.camera.height * OCCLUSION_WIDTH / scene.camera.width)))
    W, H = cam.width, cam.height

    def zbuffer(points) -> np.ndarray:
        uv, z = cam.project(torch.as_tensor(points, dtype=torch.float64))
        uv, z = uv.numpy(), z.numpy()
        ok = (z > 0.01) & (uv[:, 0] >= 0) & (uv[:, 0] < W) & (uv[:, 1] >= 0) & (uv[:, 1] < H)
        buf = np.full(H * W, np.inf)
        idx = uv[ok, 1].astype(int) * W + uv[ok, 0].astype(int)
        np.minimum.at(buf, idx, z[ok])
        return buf.reshape(H, W)

    obj = zbuffer(np.concatenate([object_points(scene, n) for n in objects]))
    mask = np.isfinite(obj)
    if not mask.any():
        return 0.0
    model = load_robot()
    rg = robot_gaussians(model)
    pts = rg.points.double().numpy()[::2]
    link = rg.link_index.numpy()[::2]
    fractions = []
    for q in np.atleast_2d(joints):
        poses = model.link_poses(q, 0.04)
        T = np.stack([T_world_base @ poses[n] for n in rg.links])[link]
        world = np.einsum("nij,nj->ni", T[:, :3, :3], pts) + T[:, :3, 3]
        arm = minimum_filter(zbuffer(world), size=3, mode="constant", cval=np.inf)
        fractions.append(float((arm[mask] < obj[mask]).mean()))
    return float(np.mean(fractions))


def _task_objects(plan: Plan, scene: Scene) -> list[str]:
    names = {s.object for s in plan.steps} | {s.target for s in plan.steps if s.target}
    return [n for n in scene.object_names if n in names]


def _hover_joints(tf, T_world_base: np.ndarray) -> np.ndarray:
    """Joint angles with the TCP 15 cm above the workspace centre, pointing down (the
    ready pose when that is out of reach): the arm's pose for ranking bases."""
    T = np.eye(4)
    T[:3, :3] = tf.T_world_task[:3, :3] @ np.diag([1.0, -1.0, -1.0])
    T[:3, 3] = tf.to_world(np.array([[0.0, 0.0, 0.15]]))[0]
    q, ok = ik(np.linalg.inv(T_world_base) @ T, READY)
    return q if ok else READY.copy()


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
                     + 0.5).byte().cpu().numpy()
        return vlm_plan(instruction, names, cfg.vlm, image)
    raise ValueError(f"planner must be 'rule' or 'vlm', got {cfg.planner!r}")


def plan_task(scene: Scene, instruction: str | None = None, config: PlanConfig | None = None,
              plan: Plan | None = None, stages=None) -> Trajectory:
    """Plan ``instruction`` (or execute a given ``plan``) on ``scene``: steps, grasps, a
    smooth time-parametrised TCP trajectory, gripper commands, the objects' poses per frame
    and, when ``config.check_reachability``, Panda joint angles (unreachable plans raise a
    one-line ValueError naming the step and the pose). With the automatic robot base, other
    base distances (``config.base_search_m``) are tried before giving up.

    ``stages`` (a stage file, document or StagePlan on the scene's keypoints) or
    ``config.planner == "keypoint-vlm"``: the keypoint planner
    (:func:`igen_gs.planning.keypoint_planner.plan_keypoint_task`). A plan with a pour or a
    strike step (:data:`~igen_gs.planning.types.STAGE_ACTIONS`) runs as stages on the scene's
    keypoints (:func:`~igen_gs.planning.keypoint_planner.rule_plan_to_stages`), the keypoint
    planner's executor."""
    cfg = config or PlanConfig()
    if stages is not None or cfg.planner == "keypoint-vlm":
        from .keypoint_planner import plan_keypoint_task

        return plan_keypoint_task(scene, instruction, cfg, stages)
    if plan is None:
        if instruction is None:
            raise ValueError("give an instruction or a plan")
        plan = make_plan(scene, instruction, cfg)
    if any(s.action in STAGE_ACTIONS for s in plan.steps):
        from .keypoint_planner import rule_plan_to_stages, scene_keypoints
        from .stage_compiler import compile_stages

        kp = scene_keypoints(scene)
        return compile_stages(scene, rule_plan_to_stages(plan, kp, scene), kp, cfg)
    bases, placement = candidate_bases(scene, plan, cfg)
    first_error: UnreachableError | None = None
    for T_world_base in bases:
        reach = pose_reachable(T_world_base, cfg.seed) if cfg.check_reachability else None
        try:
            traj = build_trajectory(scene, plan, cfg.motion, T_world_base=T_world_base,
                                    reachable=reach)
            if cfg.check_reachability:
                traj.joint_positions = joint_trajectory(traj.T_world_ee, T_world_base,
                                                        traj.step_labels(), seed=cfg.seed)
                if cfg.check_arm_collisions:
                    check_arm_collisions(scene, traj, cfg.collision_margin_m)
                every = traj.joint_positions[::OCCLUSION_EVERY]
                traj.base_info = {"placement": placement, "photo_occlusion": photo_occlusion(
                    scene, T_world_base, every, _task_objects(plan, scene))}
            else:
                traj.base_info = {"placement": placement}
            return traj
        except UnreachableError as e:
            first_error = first_error or e
            log.info("plan unreachable from the base at %s: %s", T_world_base[:3, 3], e)
    raise first_error


COLLISION_EVERY = 2
"""Arm collisions are checked on every 2nd frame (and the last) ..."""
COLLISION_POINT_STRIDE = 3
"""... with every 3rd surface Gaussian of the links."""


def check_arm_collisions(scene: Scene, traj: Trajectory, margin: float = 0.005) -> None:
    """Raise :class:`UnreachableError` naming the first step, frame and link at which an arm
    link comes within ``margin`` metres of the scene's background Gaussians or of an object
    that is not held at that frame. The base's two links (fixed where the base stands) and
    the hand and fingers (the grasp planner keeps their clearance, and they touch what they
    grasp) are not checked."""
    from scipy.spatial import cKDTree

    from ..robot.gaussians import robot_gaussians
    from ..robot.model import load_robot

    model = load_robot()
    rg = robot_gaussians(model)
    fixed = {model.root} | {j.child for j in model.joints if j.parent == model.root}
    link_idx = rg.link_index.numpy()
    all_pts = rg.points.double().numpy()
    links = []  # (link index, its points [n, 3] in the link frame, centre, radius)
    for i, n in enumerate(rg.links):
        if n in fixed or n in model.gripper_links:
            continue
        p = all_pts[link_idx == i][::COLLISION_POINT_STRIDE]
        c = (p.min(0) + p.max(0)) / 2
        links.append((i, p, c, float(np.linalg.norm(p - c, axis=1).max())))
    bg = scene.background.means.double().numpy()
    obstacles = {"the scene": (bg, cKDTree(bg))}
    for n, f in scene.objects.items():
        m = f.means.double().numpy()
        obstacles[repr(n)] = (m, cKDTree(m))
    labels = traj.step_labels()
    T = len(traj)
    for t in sorted(set(range(0, T, COLLISION_EVERY)) | {T - 1}):
        poses = model.link_poses(traj.joint_positions[t], float(traj.gripper_opening_m[t]))
        held = repr(traj.attached[t]) if traj.attached[t] else None
        for i, p, c, r in links:
            T_wl = traj.T_world_base @ poses[rg.links[i]]
            for what, (pts, tree) in obstacles.items():
                if what == held:
                    continue
                T_ow = np.eye(4)  # obstacle frame <- world (objects: their frame)
                if what != "the scene":
                    name = what[1:-1]
                    P = (np.asarray(traj.object_poses[name][t]) if name in traj.object_poses
                         else scene.poses[name].double().numpy())
                    T_ow = np.linalg.inv(P)
                T_ol = T_ow @ T_wl
                # Broad phase: obstacle points within the link's bounding sphere.
                near = tree.query_ball_point(T_ol[:3, :3] @ c + T_ol[:3, 3], r + margin)
                if not near:
                    continue
                q = p @ T_ol[:3, :3].T + T_ol[:3, 3]
                d, _ = cKDTree(pts[near]).query(q, distance_upper_bound=margin)
                bad = np.flatnonzero(np.isfinite(d))
                if len(bad):
                    w = np.round(p[bad[0]] @ T_wl[:3, :3].T + T_wl[:3, 3], 3).tolist()
                    raise UnreachableError(
                        f"the arm collides at step '{labels[t]}' (frame {t}): {rg.links[i]} "
                        f"comes within {1000 * margin:.0f} mm of {what} at {w} m; move the "
                        "robot base or the objects")


OCCLUSION_EVERY = 10
"""The photo occlusion of a planned trajectory is averaged over every 10th frame."""


def candidate_bases(scene: Scene, plan: Plan, cfg: PlanConfig
                    ) -> tuple[list[np.ndarray], str]:
    """The robot bases to try for ``plan``, best first, and how they were placed: the given
    ``robot_base`` ("given"), the base at ``base_pixel`` ("pixel"), the fixed front base when
    reachability is not checked ("front"), else the automatic candidates ("automatic")."""
    if cfg.robot_base is not None or cfg.base_pixel is not None or not cfg.check_reachability:
        placement = ("given" if cfg.robot_base is not None else
                     "pixel" if cfg.base_pixel is not None else "front")
        return [robot_base_pose(scene, cfg)], placement
    return _automatic_bases(scene, plan, cfg), "automatic"


def _automatic_bases(scene: Scene, plan: Plan, cfg: PlanConfig) -> list[np.ndarray]:
    """Candidate bases, best first: around the workspace at ``cfg.base_angles_deg`` (at
    ``base_distance_m``), ranked by how much of the task objects the arm hides in the photo
    camera with its TCP above the workspace centre (ties: the order of the angles); each
    angle then at the other distances (``base_search_m``). The first from which the plan is
    reachable is used (:func:`plan_task`)."""
    tf = task_frame(scene)
    objects = _task_objects(plan, scene)
    d0 = cfg.base_distance_m
    scored = []
    for i, angle in enumerate(cfg.base_angles_deg):
        T = robot_base_pose(scene, cfg, d0, angle)
        occ = photo_occlusion(scene, T, _hover_joints(tf, T)[None], objects) \
            if scene.camera is not None else 0.0
        scored.append((round(occ, 3), i, angle))
        log.debug("base at %.0f deg hides %.3f of the task objects", angle, occ)
    out = []
    for _, _, angle in sorted(scored):
        out += [robot_base_pose(scene, cfg, d0 + off, angle)
                for off in (0.0, *cfg.base_search_m) if d0 + off > 0.2]
    return out
