"""Novel-view augmentation of existing datasets (``igen augment``).

For every episode and every source camera with depth, K new viewpoints are drawn (seeded):
the camera orbits the point it looks at (on its optical axis, at the median depth of the
episode's first frame) by an angle between half the maximum and the maximum about a random
axis orthogonal to the optical axis, then moves by a random translation of at most the
maximum length. The new viewpoint is a fixed transform ``T_src_new`` of the source camera, so
for a static camera it is fixed in the world, and every frame of the episode is seen from the
same place: the augmented video is temporally coherent.

Each frame is lifted with its depth (given, or estimated by a depth model) into Gaussians in
the source camera's frame (:func:`igen_gs.lift`) and rendered from each new viewpoint;
disoccluded pixels (alpha < 0.5) are filled by OpenCV inpainting and their fraction is recorded
per frame. The output is a new LeRobot dataset with the new streams (``<camera>_view<k>``, and
the original streams unless ``keep_original`` is off), their intrinsics and extrinsics in the
metadata, and actions and states unchanged. Episodes already in the output are skipped, so an
interrupted run resumes.

Inputs: a LeRobot v3.0 dataset, or a folder of RGB-D frames in the 7-Scenes layout
(``igen_gs.rgbd``), which becomes one episode whose state is the camera pose
(x, y, z, qw, qx, qy, qz in the world) and whose action is the next frame's pose.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class AugmentConfig:
    """Options of novel-view augmentation (angles in degrees, lengths in metres)."""

    num_views: int = 2
    """New viewpoints per source camera."""
    max_angle_deg: float = 15.0
    """Largest rotation about the look-at point."""
    max_translation_m: float = 0.05
    """Largest extra translation of the new camera."""
    seed: int = 0
    """Seed of the viewpoints (combined with each episode's key)."""
    cameras: tuple[str, ...] = ()
    """Source cameras to augment (default: every camera with depth)."""
    keep_original: bool = True
    """Copy the source camera streams into the output too."""
    fill_holes: bool = True
    """Inpaint disoccluded pixels (OpenCV Telea)."""
    stride: int = 1
    """Lift one Gaussian per stride x stride pixels."""
    depth_model: str | None = None
    """Depth model (hub id or directory) for sources without depth; None: depth is required."""
    frame_step: int = 1
    """RGB-D folders: use every n-th frame."""
    max_frames: int | None = None
    """RGB-D folders: at most this many frames."""
    fps: int = 15
    """RGB-D folders: frame rate of the output."""
    previews: bool = True
    """Write previews of the output episodes."""
    device: str = "auto"
    """Where lifting's refinement and the new views render: "auto" (the first CUDA device
    when there is one, else the CPU), "cpu", "cuda" or "cuda:N"; hole filling (OpenCV) runs
    on the CPU."""


def new_viewpoint(depth0: np.ndarray, rng: np.random.Generator, max_angle_deg: float,
                  max_translation_m: float) -> np.ndarray:
    """T_src_new [4, 4] (see the module docstring) from the first frame's depth [H, W]."""
    import torch

    from .scene import frames

    valid = depth0[depth0 > 0]
    if valid.size == 0:
        raise ValueError("the first frame has no valid depth to place the new viewpoint")
    d = float(np.median(valid))
    look = np.array([0.0, 0.0, d])
    phi = rng.uniform(0, 2 * math.pi)
    axis = np.array([math.cos(phi), math.sin(phi), 0.0])  # orthogonal to the optical axis
    angle = math.radians(rng.uniform(0.5, 1.0) * max_angle_deg)
    R = frames.axis_angle_to_rotmat(torch.from_numpy(axis), torch.tensor(angle)).numpy()
    centre = look - R @ look  # orbit the look-at point
    t = rng.normal(size=3)
    t *= rng.uniform(0, max_translation_m) / max(np.linalg.norm(t), 1e-12)
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = centre + t
    return T


def fill_holes(rgb: np.ndarray, holes: np.ndarray) -> np.ndarray:
    import cv2

    if not holes.any():
        return rgb
    return cv2.inpaint(rgb, holes.astype(np.uint8) * 255, 5, cv2.INPAINT_TELEA)


def render_views(rgb: np.ndarray, depth: np.ndarray, K: np.ndarray, views: list[np.ndarray],
                 cfg: AugmentConfig) -> list[tuple[np.ndarray, float]]:
    """Lift one frame and render it from each ``T_src_new``: [(uint8 image, hole fraction)]."""
    import torch

    from .device import resolve_device
    from .lifting import lift
    from .scene.camera import Camera

    H, W = depth.shape
    scene = lift(rgb, depth, K, stride=cfg.stride, refine_iterations=2, device=cfg.device)
    scene = scene.to(resolve_device(cfg.device))
    out = []
    for T in views:
        cam = Camera(torch.from_numpy(np.asarray(K, dtype=np.float64)), torch.from_numpy(T), W, H)
        r = scene.render(cam, labels=False)
        # To the CPU here: hole filling is OpenCV's.
        img = (r["rgb"][0].clamp(0, 1) * 255 + 0.5).to(torch.uint8).cpu().numpy()
        holes = r["alpha"][0].cpu().numpy() < 0.5
        if cfg.fill_holes:
            img = fill_holes(img, holes)
        out.append((img, float(holes.mean())))
    return out


def _pose7(T: np.ndarray) -> np.ndarray:
    import torch

    from .scene import frames

    q = frames.rotmat_to_quat(torch.from_numpy(T[:, :3, :3])).numpy()
    return np.concatenate([T[:, :3, 3], q], axis=1).astype(np.float32)


@dataclass
class _Source:
    key: str
    task: str
    state: np.ndarray
    action: np.ndarray
    frames: dict[str, np.ndarray]
    depth: dict[str, np.ndarray]
    K: dict[str, np.ndarray]
    poses: dict[str, np.ndarray | None]  # per-frame T_world_cam, or None if unknown
    extras: dict[str, Any]


def _sources(path: Path, cfg: AugmentConfig):
    """Episodes of the input (a dataset or an RGB-D folder), one at a time."""
    if (path / "meta" / "info.json").is_file():
        from .io import load_lerobot_dataset

        ds = load_lerobot_dataset(path)
        for ep in ds.episodes:
            cams = list(cfg.cameras) or list(ep.videos)
            fr, dp, Ks, poses = {}, {}, {}, {}
            for cam in cams:
                if cam not in ep.videos:
                    raise ValueError(f"{path}: episode {ep.index} has no camera {cam!r}")
                fr[cam] = ep.frames(cam)
                try:
                    dp[cam] = ep.depth(cam)
                except ValueError:
                    if cfg.depth_model is None and cfg.cameras:
                        raise ValueError(f"{path}: episode {ep.index} camera {cam!r} has no "
                                         "depth; give --depth-model to estimate it") from None
                    if cfg.depth_model is None:
                        fr.pop(cam)
                        continue
                    dp[cam] = _estimate(fr[cam], cfg)
                info = ep.cameras.get(cam)
                if info is None:
                    raise ValueError(f"{path}: episode {ep.index} has no intrinsics for {cam!r}")
                Ks[cam] = np.asarray(info.K, dtype=np.float64)
                try:
                    poses[cam] = ep.camera_poses(cam)
                except ValueError:
                    poses[cam] = None
            if not fr:
                raise ValueError(f"{path}: episode {ep.index} has no camera with depth; give "
                                 "--depth-model to estimate it")
            yield _Source(ep.key, ep.task, np.asarray(ep.state), np.asarray(ep.action), fr, dp,
                          Ks, poses, {"source_episode": ep.index})
        return
    from .rgbd import RGBDFolder

    folder = RGBDFolder(path)
    idx = folder.indices[::max(1, cfg.frame_step)]
    if cfg.max_frames is not None:
        idx = idx[:cfg.max_frames]
    if len(idx) < 2:
        raise ValueError(f"{path}: need at least 2 frames, got {len(idx)}")
    fr = [folder.frame(i) for i in idx]
    T = np.stack([f.T_world_cam for f in fr])
    pose = _pose7(T)
    yield _Source(f"{path.name}/0", path.name, pose, np.concatenate([pose[1:], pose[-1:]]),
                  {"rgb": np.stack([f.rgb for f in fr])}, {"rgb": np.stack([f.depth for f in fr])},
                  {"rgb": fr[0].K}, {"rgb": T}, {"source_frames": list(idx)})


def _estimate(frames_: np.ndarray, cfg: AugmentConfig) -> np.ndarray:
    from .lifting.models.depth import DepthModelConfig, estimate_depth

    out = []
    for f in frames_:
        est = estimate_depth(f, DepthModelConfig(cfg.depth_model))
        if not est.is_metric:
            raise ValueError(f"depth model {cfg.depth_model} is not metric; augmentation needs "
                             "metric depth")
        out.append(est.depth)
    return np.stack(out)


def augment(input_path, out, cfg: AugmentConfig | None = None, progress: bool = True) -> dict:
    """Augment every episode of ``input_path`` into the dataset ``out``; returns a summary."""
    from .io import CameraInfo, EpisodeData, LeRobotWriter

    cfg = cfg or AugmentConfig()
    if cfg.num_views < 1:
        raise ValueError(f"num_views must be >= 1, got {cfg.num_views}")
    if not (0 <= cfg.max_angle_deg <= 90 and cfg.max_translation_m >= 0):
        raise ValueError("max_angle_deg must be in [0, 90] and max_translation_m >= 0")
    input_path = Path(input_path)
    if not input_path.exists():
        raise FileNotFoundError(f"input not found: {input_path}")
    writer = None
    written, skipped, hole_stats = [], [], {}
    for src in _sources(input_path, cfg):
        if writer is None:
            fps = cfg.fps
            if (input_path / "meta" / "info.json").is_file():
                import json

                fps = int(json.loads((input_path / "meta" / "info.json").read_text())["fps"])
            writer = LeRobotWriter(Path(out), fps=fps, previews=cfg.previews)
        if writer.has_episode(src.key):
            skipped.append(src.key)
            continue
        rng = np.random.default_rng([cfg.seed, zlib.crc32(src.key.encode())])
        out_frames, cams, poses, holes_rec, views_rec = {}, {}, {}, {}, {}
        for cam, fr in src.frames.items():
            T_views = [new_viewpoint(src.depth[cam][0], rng, cfg.max_angle_deg,
                                     cfg.max_translation_m) for _ in range(cfg.num_views)]
            H, W = fr.shape[1:3]
            rendered = [[] for _ in T_views]
            holes = [[] for _ in T_views]
            it = range(fr.shape[0])
            if progress:
                from tqdm import tqdm

                it = tqdm(it, desc=f"{src.key} {cam}", unit="frame")
            for t in it:
                for v, (img, hole) in enumerate(render_views(fr[t], src.depth[cam][t],
                                                             src.K[cam], T_views, cfg)):
                    rendered[v].append(img)
                    holes[v].append(hole)
            if cfg.keep_original:
                out_frames[cam] = fr
                cams[cam] = CameraInfo(W, H, src.K[cam])
                if src.poses[cam] is not None:
                    poses[cam] = src.poses[cam]
            for v, T in enumerate(T_views):
                name = f"{cam}_view{v}"
                out_frames[name] = np.stack(rendered[v])
                cams[name] = CameraInfo(W, H, src.K[cam])
                if src.poses[cam] is not None:
                    poses[name] = src.poses[cam] @ T
                holes_rec[name] = holes[v]
                views_rec[name] = {"source": cam, "T_src_new": T.tolist()}
                hole_stats[name] = hole_stats.get(name, []) + holes[v]
        ep = EpisodeData(key=src.key, task=src.task, frames=out_frames, state=src.state,
                         action=src.action, cameras=cams, camera_poses=poses or None,
                         extras={**src.extras, "augment": {"views": views_rec,
                                                           "hole_fraction": holes_rec,
                                                           "config": cfg.__dict__}})
        writer.add_episode(ep)
        written.append(src.key)
    return {"out": str(out), "written": written, "skipped": skipped,
            "mean_hole_fraction": {k: float(np.mean(v)) for k, v in hole_stats.items()}}
