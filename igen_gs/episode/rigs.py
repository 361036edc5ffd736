"""Camera rigs for episodes: the photo's own camera, extra static views around the workspace,
and a wrist camera rigidly mounted on the end effector.

Static views are placed on a sphere around the workspace centre, within configurable azimuth,
elevation and distance limits relative to the photo camera, looking at the centre with the
support plane's normal as "up"; they are seeded, so a rig is reproducible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ..scene import frames
from ..scene.camera import Camera
from ..scene.scene import Scene
from .config import RigConfig


def default_T_ee_wrist() -> Tensor:
    """Wrist camera mount ``T_ee_cam``: 6.5 cm along +x of the TCP frame and 6 cm behind the TCP,
    optical axis along the approach axis (+z) tilted 12 degrees towards the fingers. Image
    "down" is -x of the EE frame, so the fingers show at the bottom of the image, and image
    "right" is +y (the finger opening axis)."""
    R_base = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]],
                          dtype=torch.float64)  # columns: cam x = +y_ee, cam y = -x_ee, z = z_ee
    tilt = frames.axis_angle_to_rotmat(torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64),
                                       math.radians(-12.0))  # optical axis towards image down
    return frames.make_T(R_base @ tilt, torch.tensor([0.065, 0.0, -0.06], dtype=torch.float64))


def workspace_centre(scene: Scene) -> Tensor:
    """Mean of the objects' centres at rest (world frame), or of the background if there are
    no objects."""
    if scene.objects:
        cs = [scene.objects[n].transform(scene.poses[n]).means.double().mean(0)
              for n in scene.objects]
        return torch.stack(cs).mean(0)
    return scene.background.means.double().mean(0)


def up_vector(scene: Scene) -> Tensor:
    if scene.support_plane is not None:
        n = scene.support_plane[:3].double()
        return n / n.norm()
    return torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)


@dataclass
class Rig:
    """Cameras of one episode. ``static`` cameras never move; ``wrist`` follows the gripper:
    ``T_world_cam(t) = T_world_ee(t) @ T_ee_wrist``."""

    static: list[Camera]
    wrist: Camera | None
    T_ee_wrist: Tensor | None

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.static] + ([self.wrist.name] if self.wrist else [])

    def wrist_at(self, T_world_ee) -> Camera:
        return self.wrist.with_pose(torch.as_tensor(T_world_ee, dtype=torch.float64)
                                    @ self.T_ee_wrist)

    def to_dict(self) -> dict:
        return {
            "static": [c.to_dict() for c in self.static],
            "wrist": None if self.wrist is None else {
                **self.wrist.to_dict(), "T_ee_cam": self.T_ee_wrist.tolist()},
        }


def make_rig(scene: Scene, config: RigConfig | None = None) -> Rig:
    """Cameras for ``scene`` as ``config`` asks. Needs ``scene.camera`` when the photo camera
    is used or static views are placed relative to it."""
    cfg = config or RigConfig()
    if scene.camera is None and (cfg.photo_camera or cfg.num_static_views > 0):
        raise ValueError("the scene has no input camera (scene.camera); static views are "
                         "placed relative to it")

    def res(name, default):
        return cfg.resolutions.get(name, default)

    static: list[Camera] = []
    if cfg.photo_camera:
        w, h = res("photo", (cfg.width, cfg.height))
        cam = scene.camera.resized(w, h)
        cam.name = "photo"
        static.append(cam)
    if cfg.num_static_views > 0:
        lo_el, hi_el = cfg.elevation_range_deg
        lo_d, hi_d = cfg.distance_scale_range
        if not (0 <= lo_el <= hi_el < 90 and 0 < lo_d <= hi_d and cfg.azimuth_range_deg >= 0):
            raise ValueError("static view limits must satisfy 0 <= elevation_min <= "
                             "elevation_max < 90, 0 < distance_min <= distance_max, "
                             "azimuth_range >= 0")
        rng = np.random.default_rng(cfg.seed)
        centre = workspace_centre(scene)
        up = up_vector(scene)
        photo = scene.camera.center - centre
        dist0 = float(photo.norm())
        horiz = photo - (photo @ up) * up
        if float(horiz.norm()) < 1e-6:  # photo taken from straight above
            horiz = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
            horiz = horiz - (horiz @ up) * up
        a = horiz / horiz.norm()
        b = torch.linalg.cross(up, a)
        for i in range(cfg.num_static_views):
            name = f"view_{i}"
            az = math.radians(rng.uniform(-cfg.azimuth_range_deg, cfg.azimuth_range_deg))
            el = math.radians(rng.uniform(lo_el, hi_el))
            dist = dist0 * rng.uniform(lo_d, hi_d)
            d = math.cos(el) * (math.cos(az) * a + math.sin(az) * b) + math.sin(el) * up
            w, h = res(name, (cfg.width, cfg.height))
            K = scene.camera.resized(w, h).K
            static.append(Camera.look_at(centre + dist * d, centre, up, width=w, height=h, K=K,
                                         name=name))
    wrist = None
    T_ee_wrist = None
    if cfg.wrist_camera:
        w, h = res("wrist", (cfg.wrist_width, cfg.wrist_height))
        T_ee_wrist = (default_T_ee_wrist() if cfg.T_ee_wrist is None else
                      torch.tensor(cfg.T_ee_wrist, dtype=torch.float64).reshape(4, 4))
        wrist = Camera.from_fov(cfg.wrist_fov_y_deg, w, h, T_ee_wrist, name="wrist")
    return Rig(static, wrist, T_ee_wrist)
