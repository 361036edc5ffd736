"""Stage "scene": the splats placed in their final frames -- the background in the world frame,
each object in its own frame (origin at its bottom centre on the support plane, z up along
the plane's normal) -- with the photo's camera and the support plane: a :class:`Scene`."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..scene.camera import Camera
from ..scene.scene import Scene
from .config import LiftConfig
from .geometry import Splats
from .support import transform_plane


def assemble_scene(background: Splats, objects: dict[str, Splats], plane: np.ndarray,
                   K: np.ndarray, T_world_cam: torch.Tensor, width: int, height: int,
                   cfg: LiftConfig, meta: dict[str, Any]) -> Scene:
    """The :class:`Scene` of camera-frame splats seen by a camera with intrinsics ``K`` at
    ``T_world_cam`` [4, 4] (float64), standing on ``plane`` (camera frame); ``meta`` becomes
    ``scene.meta["lift"]`` (the same dict, not a copy)."""
    T_wc_np = T_world_cam.numpy()
    fields, poses = {}, {}
    for name, splats in objects.items():
        T_cam_obj = object_frame(splats.points, plane)
        fields[name] = splats.to_field(np.linalg.inv(T_cam_obj), cfg.opacity)
        poses[name] = T_world_cam @ torch.from_numpy(T_cam_obj)
    camera = Camera(torch.from_numpy(K), T_world_cam, width, height, "photo")
    return Scene(background.to_field(T_wc_np, cfg.opacity), fields, poses, camera=camera,
                 support_plane=torch.from_numpy(transform_plane(plane, T_wc_np)),
                 meta={"lift": meta})


def object_frame(points_cam: np.ndarray, plane: np.ndarray) -> np.ndarray:
    """T_cam_obj [4, 4] for an object's camera-frame points [M, 3] standing on ``plane``
    (normal towards the camera): origin at the points' centroid dropped onto the plane, z =
    plane normal, x = the camera's x axis projected onto the plane (its z axis if the camera
    x axis is normal to the plane)."""
    n = plane[:3] / np.linalg.norm(plane[:3])
    c = points_cam.mean(0)
    origin = c - (c @ n + plane[3]) * n
    x = np.array([1.0, 0.0, 0.0]) - n[0] * n
    if np.linalg.norm(x) < 1e-6:
        x = np.array([0.0, 0.0, 1.0]) - n[2] * n
    x /= np.linalg.norm(x)
    y = np.cross(n, x)
    T = np.eye(4)
    T[:3, :3] = np.stack([x, y, n], 1)
    T[:3, 3] = origin
    return T
