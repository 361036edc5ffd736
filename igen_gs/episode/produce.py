"""A scene and an instruction -> a recorded episode (frames, states, actions, metadata).

:func:`produce_episode` is the step shared by ``igen demo``, ``igen render-episode`` and
``igen generate``: seeded variations of the scene, planning, rendering every camera of the
rig with the gripper, and packing an :class:`igen_gs.io.EpisodeData` for the dataset writer.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, replace
from typing import Any

import numpy as np
import torch

from ..io.lerobot import CameraInfo, EpisodeData
from ..planning.actions import ACTION_NAMES, STATE_NAMES, actions_from_trajectory, observation_state
from ..planning.types import Trajectory
from ..scene import frames
from ..scene.field import GaussianField, rgb_to_sh_dc, sh_dc_to_rgb
from ..scene.scene import Scene
from .config import EpisodeConfig
from .render import EpisodeFrames, render_episode
from .rigs import make_rig


def _footprint_radius(scene: Scene, name: str) -> float:
    p = scene.objects[name].means.double()
    return float(torch.linalg.norm(p[:, :2] - p[:, :2].mean(0), dim=1).max())


def vary_scene(scene: Scene, cfg: EpisodeConfig, rng: np.random.Generator
               ) -> tuple[Scene, dict[str, Any]]:
    """A randomised copy of ``scene``: objects shifted/turned on the support plane (about its
    up axis, without overlapping each other), colours jittered (brightness and per-channel
    gains, the same for every Gaussian: no lighting is simulated). Returns (scene, record)."""
    v = cfg.variation
    record: dict[str, Any] = {}
    if not v.enabled:
        return scene, record
    from ..planning.geometry import task_frame

    tf = task_frame(scene)
    up = torch.from_numpy(tf.up)
    poses = dict(scene.poses)
    placed: list[tuple[np.ndarray, float]] = []
    moved = {}
    for name in scene.object_names:
        r = _footprint_radius(scene, name)
        base = poses[name].numpy()
        for _ in range(50):
            shift = rng.uniform(-v.object_shift_m, v.object_shift_m, 2)
            yaw = math.radians(rng.uniform(-v.object_yaw_deg, v.object_yaw_deg))
            d = tf.T_world_task[:3, :3] @ np.array([shift[0], shift[1], 0.0])
            centre = base[:3, 3] + d
            c_task = tf.to_task(centre[None])[0, :2]
            if all(np.linalg.norm(c_task - c) > r + rr + 0.005 for c, rr in placed):
                break
        else:  # keep it where it was
            shift, yaw, d = np.zeros(2), 0.0, np.zeros(3)
            c_task = tf.to_task(base[:3, 3][None])[0, :2]
        placed.append((c_task, r))
        R = frames.axis_angle_to_rotmat(up, torch.tensor(yaw, dtype=torch.float64)).numpy()
        T = base.copy()
        T[:3, :3] = R @ base[:3, :3]
        T[:3, 3] = base[:3, 3] + d
        poses[name] = torch.from_numpy(T)
        moved[name] = {"shift_m": [float(shift[0]), float(shift[1])],
                       "yaw_deg": math.degrees(yaw)}
    record["objects"] = moved
    gain = 1.0 + rng.uniform(-v.colour_jitter, v.colour_jitter) + rng.uniform(
        -v.colour_jitter / 2, v.colour_jitter / 2, 3)
    record["colour_gain"] = gain.tolist()

    def jitter(f: GaussianField) -> GaussianField:
        sh = f.sh.clone()
        rgb = (sh_dc_to_rgb(sh[:, 0]) * torch.tensor(gain, dtype=torch.float32)).clamp(0, 1)
        sh[:, 0] = rgb_to_sh_dc(rgb)
        sh[:, 1:] *= torch.tensor(gain, dtype=torch.float32)
        return GaussianField(f.means, f.quats, f.scales, f.opacities, sh)

    new = Scene(jitter(scene.background), {n: jitter(f) for n, f in scene.objects.items()},
                poses, scene.camera, scene.support_plane, dict(scene.meta))
    return new, record


def captions(traj: Trajectory) -> list[str]:
    out = []
    for t in range(len(traj)):
        s = int(traj.step_index[t])
        step = traj.plan.steps[s].describe() if s >= 0 else "done"
        out.append(f"{step} | {traj.phase[t]} | gripper {traj.gripper_opening_m[t] * 100:.1f} cm")
    return out


def pack_episode(key: str, scene: Scene, traj: Trajectory, ep: EpisodeFrames,
                 cfg: EpisodeConfig, rig, extras: dict | None = None,
                 action: np.ndarray | None = None) -> EpisodeData:
    """The dataset record of a rendered episode. ``action`` [T, A] replaces the actions
    derived from ``traj`` (for a caller whose commands differ from the drawn path, such as
    targets planned a few steps ahead)."""
    if action is not None and len(action) != len(traj):
        raise ValueError(f"{key}: {len(action)} actions for {len(traj)} frames")
    cams = {}
    for c in rig.static:
        cams[c.name] = CameraInfo(c.width, c.height, c.K.numpy(), T_world_cam=c.T_world_cam.numpy())
    if rig.wrist is not None:
        cams[rig.wrist.name] = CameraInfo(rig.wrist.width, rig.wrist.height, rig.wrist.K.numpy(),
                                          T_ee_cam=rig.T_ee_wrist.numpy())
    meta = {"plan": traj.plan.to_dict(), "action_kind": cfg.action_kind,
            "T_world_base": traj.T_world_base.tolist(), "fps": traj.fps,
            "state_names": STATE_NAMES, "action_names": ACTION_NAMES[cfg.action_kind],
            "robot": {"mode_requested": cfg.render.robot.mode if cfg.render.draw_gripper
                      else "none", "mode_used": ep.robot_mode,
                      "urdf": cfg.render.robot.urdf or "panda (built in)",
                      "gaussians": ep.robot_gaussians, "base": traj.base_info},
            **(extras or {})}
    return EpisodeData(
        key=key, task=traj.plan.instruction or "; ".join(s.describe() for s in traj.plan.steps),
        frames=ep.rgb, state=observation_state(traj),
        action=actions_from_trajectory(traj, cfg.action_kind) if action is None else action,
        cameras=cams,
        depth=ep.depth if cfg.write_depth and ep.depth else None,
        labels=ep.labels if cfg.write_labels and ep.labels else None,
        label_names=ep.label_names,
        camera_poses={n: P for n, P in ep.T_world_cam.items()
                      if not np.array_equal(P, np.broadcast_to(P[:1], P.shape))} or None,
        object_poses={n: np.asarray(P, np.float64) for n, P in traj.object_poses.items()},
        captions=captions(traj), extras=meta)


def render_trajectory(scene: Scene, traj: Trajectory, cfg: EpisodeConfig, rig=None
                      ) -> tuple[EpisodeFrames, Any]:
    """Render ``traj`` on ``scene`` from ``rig`` (default: :func:`make_rig` of ``cfg.rig``)."""
    rig = rig or make_rig(scene, cfg.rig)
    opening = traj.gripper_opening_m
    ep = render_episode(scene, traj.T_world_ee, opening, traj.object_poses, rig, cfg.render,
                        joint_positions=traj.joint_positions, T_world_base=traj.T_world_base)
    return ep, rig


def produce_episode(scene: Scene, instruction: str, key: str, cfg: EpisodeConfig | None = None,
                    seed: int = 0) -> tuple[EpisodeData, Trajectory, dict[str, float]]:
    """Vary (seeded), plan, render and pack one episode of ``instruction`` on ``scene``.
    Returns (episode record, trajectory, seconds per stage)."""
    from ..planning import plan_task

    cfg = cfg or EpisodeConfig()
    rng = np.random.default_rng(seed)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    scene_v, record = vary_scene(scene, cfg, rng)
    plan_cfg = cfg.plan
    if cfg.variation.enabled:
        off = rng.uniform(-cfg.variation.place_offset_m, cfg.variation.place_offset_m, 2)
        plan_cfg = replace(cfg.plan, motion=replace(cfg.plan.motion,
                                                    place_offset_m=(float(off[0]),
                                                                    float(off[1]))))
        record["place_offset_m"] = off.tolist()
    traj = plan_task(scene_v, instruction, plan_cfg)
    timings["plan"] = time.perf_counter() - t0
    rig_cfg = cfg.rig
    if cfg.variation.enabled and cfg.variation.randomize_cameras:
        rig_cfg = replace(cfg.rig, seed=int(rng.integers(2**31)))
        record["rig_seed"] = rig_cfg.seed
    t0 = time.perf_counter()
    ep, rig = render_trajectory(scene_v, traj, replace(cfg, rig=rig_cfg))
    timings["render"] = time.perf_counter() - t0
    extras = {"seed": seed, "variation": record, "config": _jsonable(asdict(cfg))}
    return pack_episode(key, scene_v, traj, ep, cfg, rig, extras), traj, timings


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (str, int, float, bool)) or x is None:
        return x
    return str(x)
