"""Rendering an episode: every frame, from every camera of a rig, with the robot drawn in.

Each frame is one rasterization call per camera resolution: the scene's background, its
objects at their poses of that frame and the robot (every link posed by forward kinematics of
the frame's joint angles, the fingers at its opening; or the hand only at ``T_world_ee``) are
composed into one set of Gaussians, so occlusion between robot, objects and table is right
from every camera. Per frame and camera we get RGB, metric depth and instance labels
(objects, "robot" links, "gripper" hand and fingers, background) from one-hot channels.

Temporal coherence by construction: the static part (background and objects that never move)
is composed once, in a fixed order, and only the moving parts are rewritten per frame. On the
CPU backend a pixel that no moving Gaussian reaches is therefore computed from bit-identical
inputs in the same order and comes out bit-identical in every frame.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from ..device import resolve_device
from ..render import rasterization
from ..render.sh import sh_colors
from ..scene.camera import Camera, stack_cameras
from ..scene.field import GaussianField
from ..scene.scene import Scene
from .config import RenderConfig
from .gripper import Gripper, default_gripper
from .rigs import Rig, up_vector

log = logging.getLogger(__name__)



@dataclass
class EpisodeFrames:
    """Rendered observations. Arrays are NumPy; T frames; per camera name:

    ``rgb`` uint8 [T, H, W, 3]; ``depth`` float32 [T, H, W] metres (0 = none);
    ``labels`` int16 [T, H, W] (index into ``label_names``, -1 = nothing);
    ``K`` float64 [3, 3]; ``T_world_cam`` float64 [T, 4, 4] (constant for static cameras).
    """

    camera_names: list[str]
    rgb: dict[str, np.ndarray]
    depth: dict[str, np.ndarray] = field(default_factory=dict)
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    label_names: list[str] = field(default_factory=list)
    K: dict[str, np.ndarray] = field(default_factory=dict)
    T_world_cam: dict[str, np.ndarray] = field(default_factory=dict)
    render_seconds: float = 0.0
    robot_mode: str = "hand"
    """What was drawn: "arm", "hand" or "none"."""
    robot_gaussians: int = 0
    """How many Gaussians the drawn robot has."""

    @property
    def num_frames(self) -> int:
        return next(iter(self.rgb.values())).shape[0]


def _check_trajectory(T_world_ee, opening, object_poses, scene: Scene):
    T_world_ee = torch.as_tensor(np.asarray(T_world_ee), dtype=torch.float64)
    if T_world_ee.dim() != 3 or T_world_ee.shape[1:] != (4, 4) or T_world_ee.shape[0] == 0:
        raise ValueError(f"T_world_ee must have shape [T, 4, 4] with T >= 1, got "
                         f"{tuple(T_world_ee.shape)}")
    T = T_world_ee.shape[0]
    opening = torch.as_tensor(np.asarray(opening), dtype=torch.float64).reshape(-1)
    if opening.shape != (T,):
        raise ValueError(f"gripper opening must have shape [T] = [{T}], got "
                         f"{tuple(opening.shape)}")
    poses = {}
    for name, P in (object_poses or {}).items():
        if name not in scene.objects:
            raise ValueError(f"object_poses names unknown object {name!r}; the scene has: "
                             f"{', '.join(scene.object_names) or '(no objects)'}")
        P = torch.as_tensor(np.asarray(P), dtype=torch.float64)
        if P.shape != (T, 4, 4):
            raise ValueError(f"object_poses[{name!r}] must have shape [{T}, 4, 4], got "
                             f"{tuple(P.shape)}")
        poses[name] = P
    for t in (T_world_ee, opening, *poses.values()):
        if not torch.isfinite(t).all():
            raise ValueError("trajectory contains NaN or infinite values")
    return T_world_ee, opening, poses


def _robot_mode(cfg: RenderConfig, joint_positions) -> str:
    mode = cfg.robot.mode if cfg.draw_gripper else "none"
    if mode not in ("arm", "hand", "none"):
        raise ValueError(f"robot mode must be 'arm', 'hand' or 'none', got {mode!r}")
    if mode == "arm" and joint_positions is None:
        log.warning("the trajectory has no joint angles: drawing the hand only (robot mode "
                    "'hand'); plan with check_reachability to draw the whole arm")
        mode = "hand"
    return mode


def _check_joints(joint_positions, robot) -> np.ndarray:
    q = np.asarray(joint_positions, dtype=np.float64)
    if q.ndim != 2 or q.shape[1] != robot.dof:
        raise ValueError(f"joint_positions must have shape [T, {robot.dof}] for {robot.name} "
                         f"({', '.join(robot.arm_joints)}), got {tuple(q.shape)}")
    if not np.isfinite(q).all():
        raise ValueError("joint_positions contain NaN or infinite values")
    return q


class EpisodeRenderer:
    """Renders frames of one scene with the robot; the static part is composed once.

    Robot modes (``config.robot.mode``): ``arm`` draws every link of the robot
    (:class:`igen_gs.robot.gaussians.RobotGaussians`) posed by forward kinematics of
    ``joint_positions[t]`` from ``T_world_base``, labelled "robot" (links) and "gripper" (hand
    and fingers), the fingers at the frame's opening and the wrist camera mounted on the drawn
    hand link; without joint angles it falls back to ``hand`` (a logged warning;
    ``self.mode`` says what was drawn). ``hand`` draws the box-model gripper at ``T_world_ee``
    (label "gripper"); ``none`` draws no robot.
    """

    def __init__(self, scene: Scene, object_poses: Mapping[str, Tensor], rig: Rig,
                 config: RenderConfig | None = None, gripper: Gripper | None = None,
                 joint_positions=None, T_world_base=None):
        self.scene, self.rig = scene, rig
        self.cfg = config or RenderConfig()
        if not (math.isfinite(self.cfg.eps2d) and self.cfg.eps2d >= 0):
            raise ValueError(f"RenderConfig.eps2d must be a finite number >= 0 (pixels "
                             f"squared), got {self.cfg.eps2d!r}")
        self.device = dev = resolve_device(self.cfg.device)
        self.mode = _robot_mode(self.cfg, joint_positions)
        self.gripper = gripper or default_gripper()
        self.poses = dict(object_poses)
        if self.mode == "arm":
            from ..robot.gaussians import robot_gaussians
            from ..robot.model import robot_from_config

            self.robot = robot_from_config(self.cfg.robot)
            self.robot_g = robot_gaussians(self.robot, self.cfg.robot.spacing,
                                           self.cfg.robot.inset)
            if self.cfg.robot.appearance:
                from ..robot.appearance import RobotAppearance

                app = RobotAppearance.load(self.cfg.robot.appearance)
                app.check(self.robot_g)
                self.robot_g = self.robot_g.with_albedo(app.albedo, app.lighting)
            self.robot_g = self.robot_g.to(dev)
            self.q = _check_joints(joint_positions, self.robot)
            Tb = np.asarray(np.eye(4) if T_world_base is None else T_world_base, np.float64)
            if Tb.shape != (4, 4) or not np.isfinite(Tb).all():
                raise ValueError(f"T_world_base must be a finite 4x4 matrix, got shape "
                                 f"{Tb.shape}")
            self.T_world_base = Tb
            self.up = up_vector(scene).float().to(dev)
        # Objects that move during the episode; the others are frozen into the static part.
        self.moving = [n for n, P in self.poses.items()
                       if not torch.equal(P, P[:1].expand_as(P))]
        # Every tensor is made on the device from here on: the scene's fields move once.
        self.objects = {n: f.to(dev) for n, f in scene.objects.items()}
        static_parts = [scene.background.to(dev)]
        static_labels = [torch.zeros(len(scene.background), dtype=torch.long, device=dev)]
        names = scene.object_names
        for i, n in enumerate(names):
            if n in self.moving:
                continue
            pose = self.poses[n][0] if n in self.poses else scene.poses[n]
            static_parts.append(self.objects[n].transform(pose))
            static_labels.append(torch.full((len(scene.objects[n]),), i + 1, dtype=torch.long,
                                            device=dev))
        robot_labels = {"arm": ["robot", "gripper"], "hand": ["gripper"], "none": []}[self.mode]
        self.label_names = ["background", *names, *robot_labels]
        L = len(self.label_names)
        # Layout: [static | moving objects in order | hand]; fixed for the whole episode. The
        # arm is posed per camera group and appended (_arm).
        static = GaussianField.concat(static_parts)
        self.slices: dict[str, slice] = {}
        parts, labels = [static], [torch.cat(static_labels)]
        start = len(static)
        for n in self.moving:
            f = self.objects[n]
            self.slices[n] = slice(start, start + len(f))
            parts.append(f)
            labels.append(torch.full((len(f),), names.index(n) + 1, dtype=torch.long,
                                     device=dev))
            start += len(f)
        if self.mode == "hand":
            g0 = self.gripper.field(self.gripper.geometry.max_opening).to(dev)
            self.slices["gripper"] = slice(start, start + len(g0))
            parts.append(g0)
            labels.append(torch.full((len(g0),), L - 1, dtype=torch.long, device=dev))
        elif self.mode == "arm":
            # one label per link (the gripper's links are "gripper"), so any of a link's rows
            # may stand for its drawn ones
            self.robot_labels = torch.where(self.robot_g.is_gripper, L - 1, L - 2).to(
                torch.int32)
            self._T_links: Tensor | None = None  # [links, 4, 4] world poses, this frame
            # camera group -> per link: what was drawn of it, for which link pose and eyes
            self._arm_cache: dict[tuple[str, ...], list[dict | None]] = {}
        self.base = GaussianField.concat(parts)
        self.sh_degree = self.base.sh_degree
        self.buf = self.base.clone()
        self.labels = torch.cat(labels).to(torch.int32)
        if self.sh_degree == 0:
            self.rgb = sh_colors(self.base.sh, self.base.means, None)
        if len(self.buf) == 0 and self.mode != "arm":
            raise ValueError("nothing to render: the scene is empty and there is no robot")

    @property
    def robot_gaussian_count(self) -> int:
        """Gaussians of the drawn robot (0 when none; the whole arm's, before any are left
        out as back faces)."""
        if self.mode == "arm":
            return len(self.robot_g)
        sl = self.slices.get("gripper")
        return 0 if sl is None else sl.stop - sl.start

    def _compose(self, t: int, T_world_ee: Tensor, opening: float) -> Tensor:
        """Write frame ``t``'s moving parts; returns the TCP pose the wrist camera hangs on
        (the drawn hand's in arm mode, else ``T_world_ee``)."""
        for n in self.moving:
            moved = self.objects[n].transform(self.poses[n][t])
            self._write(self.slices[n], moved)
        if self.mode == "hand":
            self._write(self.slices["gripper"],
                        self.gripper.posed(T_world_ee, opening).to(self.device))
        elif self.mode == "arm":
            link = self.robot.link_poses(self.q[t], opening)
            Tb = self.T_world_base
            self._T_links = torch.from_numpy(np.stack([Tb @ link[n]
                                                       for n in self.robot_g.links]))
            return torch.from_numpy(Tb @ link[self.robot.hand_link] @ self.robot.T_hand_tcp)
        return T_world_ee

    def _write(self, sl: slice, f: GaussianField) -> None:
        self.buf.means[sl] = f.means
        self.buf.quats[sl] = f.quats
        self.buf.sh[sl] = f.sh

    def _colours(self, cams: list[Camera]) -> Tensor:
        """RGB per Gaussian of the buffer: [N, 3], or [C, N, 3] when the colours are
        view-dependent (SH colours)."""
        if self.sh_degree == 0:
            return self.rgb
        viewmats, _, _, _ = stack_cameras(cams, device=self.device)
        return sh_colors(self.buf.sh, self.buf.means, viewmats)

    def _arm(self, cams: list[Camera]) -> dict[str, Tensor]:
        """The arm as drawn for ``cams`` this frame: ``means``, ``quats``, ``scales``,
        ``opacities``, ``rgb`` (shaded; [C, n, 3] with the fitted highlights, seen from each
        camera) and ``labels``, link by link. Without ``RobotConfig.backface_cos`` every
        Gaussian; with it, those facing at least one of the cameras
        (:meth:`igen_gs.robot.gaussians.RobotGaussians.facing`), except for a group with the
        wrist camera: it hangs on the hand, where the near plane can cut a link's front away
        and show its back (measured: 35 dB against drawing every Gaussian, 40+ elsewhere).
        A link whose pose and cameras are those of its last frame (the base and its mount in
        a static camera, the fingers while they rest) is reused as it was drawn."""
        g, cos = self.robot_g, self.cfg.robot.backface_cos
        if self.rig.wrist is not None and any(c.name == self.rig.wrist.name for c in cams):
            cos = None
        eyes = torch.stack([c.T_world_cam[:3, 3] for c in cams]).to(torch.float32)
        cache = self._arm_cache.setdefault(tuple(c.name for c in cams), [None] * len(g.links))
        quats = None
        for k, (a, _) in enumerate(g.ranges):
            T = self._T_links[k]
            hit = cache[k]
            if hit is not None and torch.equal(hit["T"], T) and torch.equal(hit["eyes"], eyes):
                continue
            rows = (None if cos is None else
                    g.facing(k, T, eyes.to(self.device), cos).nonzero()[:, 0])
            if quats is None:
                quats = g.link_quats(self._T_links)
            hit = cache[k] = g.pose_link(k, T, self.up, rows, quats[k])
            hit.update(T=T, eyes=eyes, labels=self.robot_labels[a:a + len(hit["means"])])
        out = {key: torch.cat([c[key] for c in cache])
               for key in ("means", "quats", "scales", "opacities", "rgb", "labels")}
        light = g.lighting
        if light is not None and light.has_highlights:
            normals = torch.cat([c["normals"] for c in cache])
            to_eye = eyes.to(self.device)[:, None] - out["means"][None]
            to_eye = to_eye / to_eye.norm(dim=-1, keepdim=True).clamp(min=1e-12)
            hl = light.highlight(normals[None], to_eye)  # [C, n]
            out["rgb"] = (out["rgb"][None] + hl[..., None]).clamp(0, 1)
        return out

    def render_frame(self, t: int, T_world_ee: Tensor, opening: float
                     ) -> dict[str, dict[str, np.ndarray]]:
        """Render frame ``t``; returns camera name -> {"rgb", "depth", "labels", "T_world_cam"}."""
        T_world_tcp = self._compose(t, T_world_ee, opening)
        groups: dict[tuple[int, int], list[Camera]] = {}
        for c in self.rig.static:
            groups.setdefault((c.width, c.height), []).append(c)
        wrist = self.rig.wrist_at(T_world_tcp) if self.rig.wrist is not None else None
        if wrist is not None:
            groups.setdefault((wrist.width, wrist.height), []).append(wrist)
        out = {}
        L = len(self.label_names)
        for cams in groups.values():
            viewmats, Ks, w, h = stack_cameras(cams, device=self.device)
            bg = torch.tensor(self.cfg.background_color, dtype=torch.float32,
                              device=self.device).expand(len(cams), 3).clone()
            b, cols, labels = self.buf, self._colours(cams), self.labels
            splats = (b.means, b.quats, b.scales, b.opacities)
            if self.mode == "arm":
                arm = self._arm(cams)
                splats = tuple(torch.cat([x, arm[n]]) for x, n in
                               zip(splats, ("means", "quats", "scales", "opacities")))
                rgb = arm["rgb"]
                if cols.dim() == 3 or rgb.dim() == 3:
                    cols = cols.expand(len(cams), *cols.shape[-2:])
                    rgb = rgb.expand(len(cams), *rgb.shape[-2:])
                cols, labels = torch.cat([cols, rgb], -2), torch.cat([labels, arm["labels"]])
            with torch.no_grad():
                img, alpha, meta = rasterization(
                    *splats, cols, viewmats, Ks, w, h, backgrounds=bg,
                    render_mode="RGB+ED" if self.cfg.depth else "RGB", backend=self.cfg.backend,
                    eps2d=self.cfg.eps2d, label_ids=labels if self.cfg.labels else None,
                    num_labels=L if self.cfg.labels else None, return_meta=False)
            # Finished images are made on the device; they cross to NumPy here, in one place.
            rgb8 = (img[..., :3].clamp(0, 1) * 255 + 0.5).to(torch.uint8).cpu().numpy()
            if self.cfg.depth:
                d = img[..., -1]
                depth = torch.where(alpha[..., 0] >= self.cfg.min_alpha_for_depth, d,
                                    torch.zeros_like(d)).cpu().numpy()
            if self.cfg.labels:
                best, idx = meta["label_weights"].max(-1)
                labels = torch.where(best > 0, idx, -1).to(torch.int16).cpu().numpy()
            for i, cam in enumerate(cams):
                rec = {"rgb": rgb8[i], "T_world_cam": cam.T_world_cam.numpy()}
                if self.cfg.depth:
                    rec["depth"] = depth[i]
                if self.cfg.labels:
                    rec["labels"] = labels[i]
                out[cam.name] = rec
        return out


def render_episode(scene: Scene, T_world_ee, gripper_opening, object_poses, rig: Rig,
                   config: RenderConfig | None = None,
                   gripper: Gripper | None = None, joint_positions=None,
                   T_world_base=None) -> EpisodeFrames:
    """Render a whole episode.

    Args:
        scene: the world (background + objects in their frames).
        T_world_ee: end-effector (TCP) poses [T, 4, 4].
        gripper_opening: distance between the finger pads per frame [T], metres.
        object_poses: name -> ``T_world_obj`` [T, 4, 4] for objects that have a trajectory;
            objects not named stay at their rest pose.
        rig: the cameras (see :func:`igen_gs.episode.rigs.make_rig`).
        config: rendering options; ``config.robot`` says which robot is drawn and how.
        joint_positions: [T, dof] joint angles (radians) of the robot (arm mode; see
            :class:`igen_gs.robot.model.RobotModel` for their order); None: hand mode.
        T_world_base: [4, 4] the robot's root link in the world (arm mode).

    ``EpisodeFrames.robot_mode`` says what was drawn ("arm", "hand" or "none").
    """
    cfg = config or RenderConfig()
    T_world_ee, opening, poses = _check_trajectory(T_world_ee, gripper_opening, object_poses,
                                                   scene)
    n = T_world_ee.shape[0]
    if joint_positions is not None and np.shape(joint_positions)[0] != n:
        raise ValueError(f"joint_positions must have {n} frames like T_world_ee, got "
                         f"{np.shape(joint_positions)[0]}")
    renderer = EpisodeRenderer(scene, poses, rig, cfg, gripper, joint_positions, T_world_base)
    names = rig.names
    frames_out = EpisodeFrames(camera_names=names, rgb={}, label_names=renderer.label_names,
                               robot_mode=renderer.mode,
                               robot_gaussians=renderer.robot_gaussian_count)
    steps = range(n)
    if cfg.progress:
        from tqdm import tqdm

        steps = tqdm(steps, desc="render", unit="frame")
    t0 = time.perf_counter()
    per_frame = []
    for t in steps:
        per_frame.append(renderer.render_frame(t, T_world_ee[t], float(opening[t])))
    for name in names:
        recs = [f[name] for f in per_frame]
        frames_out.rgb[name] = np.stack([r["rgb"] for r in recs])
        if cfg.depth:
            frames_out.depth[name] = np.stack([r["depth"] for r in recs]).astype(np.float32)
        if cfg.labels:
            frames_out.labels[name] = np.stack([r["labels"] for r in recs])
        frames_out.T_world_cam[name] = np.stack([r["T_world_cam"] for r in recs])
    for cam in rig.static:
        frames_out.K[cam.name] = cam.K.numpy()
    if rig.wrist is not None:
        frames_out.K[rig.wrist.name] = rig.wrist.K.numpy()
    frames_out.render_seconds = time.perf_counter() - t0
    return frames_out


__all__ = ["EpisodeFrames", "EpisodeRenderer", "render_episode"]
