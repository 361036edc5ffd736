"""Pinhole cameras (OpenCV convention, see :mod:`igen_gs.scene.frames`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from . import frames


@dataclass
class Camera:
    """An OpenCV pinhole camera.

    Attributes:
        K: intrinsics [3, 3] (pixels), float64.
        T_world_cam: camera-to-world pose [4, 4] (metres), float64.
        width, height: image size in pixels.
        name: a label (used for dataset keys, e.g. ``observation.images.<name>``).
    """

    K: Tensor
    T_world_cam: Tensor
    width: int
    height: int
    name: str = "camera"

    def __post_init__(self) -> None:
        self.K = torch.as_tensor(self.K, dtype=torch.float64).clone()
        self.T_world_cam = torch.as_tensor(self.T_world_cam, dtype=torch.float64).clone()
        if self.K.shape != (3, 3):
            raise ValueError(f"Camera K must have shape [3, 3], got {tuple(self.K.shape)}")
        if self.T_world_cam.shape != (4, 4):
            raise ValueError(
                f"Camera T_world_cam must have shape [4, 4], got {tuple(self.T_world_cam.shape)}")
        if not (torch.isfinite(self.K).all() and torch.isfinite(self.T_world_cam).all()):
            raise ValueError("Camera K and T_world_cam must be finite")
        if int(self.width) <= 0 or int(self.height) <= 0:
            raise ValueError(f"Camera size must be positive, got {self.width}x{self.height}")
        self.width, self.height = int(self.width), int(self.height)
        fx, fy = float(self.K[0, 0]), float(self.K[1, 1])
        if fx <= 0 or fy <= 0:
            raise ValueError(f"Camera focal lengths must be positive, got fx={fx}, fy={fy}")

    def __repr__(self) -> str:
        x, y, z = self.T_world_cam[:3, 3].tolist()
        return (f"Camera({self.name!r}, {self.width}x{self.height}, fx={self.fx:.1f}, "
                f"fy={self.fy:.1f}, cx={self.cx:.1f}, cy={self.cy:.1f}, "
                f"centre=({x:.3f}, {y:.3f}, {z:.3f}))")

    # ------------------------------------------------------------------ constructors
    @staticmethod
    def intrinsics(fx: float, fy: float, cx: float, cy: float) -> Tensor:
        """K from focal lengths and principal point (pixels)."""
        return torch.tensor([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]], dtype=torch.float64)

    @classmethod
    def from_fov(cls, fov_y_deg: float, width: int, height: int, T_world_cam=None,
                 name: str = "camera") -> Camera:
        """Square-pixel camera with vertical field of view ``fov_y_deg`` and a centred
        principal point."""
        f = 0.5 * height / math.tan(math.radians(fov_y_deg) / 2)
        K = cls.intrinsics(f, f, width / 2, height / 2)
        T = torch.eye(4, dtype=torch.float64) if T_world_cam is None else T_world_cam
        return cls(K, T, width, height, name)

    @classmethod
    def look_at(cls, eye, target, up=(0.0, 0.0, 1.0), *, width: int, height: int,
                K: Tensor | None = None, fov_y_deg: float = 60.0, name: str = "camera") -> Camera:
        """Camera at ``eye`` looking at ``target`` (world frame, metres)."""
        T = frames.look_at(eye, target, up)
        if K is None:
            return cls.from_fov(fov_y_deg, width, height, T, name)
        return cls(K, T, width, height, name)

    @classmethod
    def orbit(cls, target, radius: float, elevation_deg: float, azimuths_deg: Sequence[float],
              *, width: int, height: int, up=(0.0, 0.0, 1.0), fov_y_deg: float = 60.0,
              K: Tensor | None = None, name: str = "orbit") -> list[Camera]:
        """Cameras on a circle around ``target`` (about the ``up`` axis), all looking at it.

        Azimuth 0 lies along the world x axis for a z-up world; elevation is measured from the
        plane orthogonal to ``up``.
        """
        target = torch.as_tensor(target, dtype=torch.float64)
        up_v = torch.as_tensor(up, dtype=torch.float64)
        up_v = up_v / up_v.norm()
        # Orthonormal basis (a, b) of the plane orthogonal to up.
        ref = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
        if abs(float(ref @ up_v)) > 0.9:
            ref = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64)
        a = ref - (ref @ up_v) * up_v
        a = a / a.norm()
        b = torch.linalg.cross(up_v, a)
        el = math.radians(elevation_deg)
        cams = []
        for i, az_deg in enumerate(azimuths_deg):
            az = math.radians(az_deg)
            d = math.cos(el) * (math.cos(az) * a + math.sin(az) * b) + math.sin(el) * up_v
            cams.append(cls.look_at(target + radius * d, target, up_v, width=width,
                                    height=height, K=K, fov_y_deg=fov_y_deg, name=f"{name}_{i}"))
        return cams

    # ------------------------------------------------------------------ properties
    @property
    def T_cam_world(self) -> Tensor:
        """World-to-camera transform (gsplat's viewmat), [4, 4]."""
        return frames.invert_T(self.T_world_cam)

    @property
    def viewmat(self) -> Tensor:
        return self.T_cam_world

    @property
    def center(self) -> Tensor:
        """Camera centre in world coordinates [3]."""
        return self.T_world_cam[:3, 3].clone()

    @property
    def fx(self) -> float:
        return float(self.K[0, 0])

    @property
    def fy(self) -> float:
        return float(self.K[1, 1])

    @property
    def cx(self) -> float:
        return float(self.K[0, 2])

    @property
    def cy(self) -> float:
        return float(self.K[1, 2])

    # ------------------------------------------------------------------ geometry
    def project(self, points_world) -> tuple[Tensor, Tensor]:
        """World points [..., 3] -> (pixel coordinates (u, v) [..., 2], camera depth z [...])."""
        p = frames.transform_points(self.T_cam_world, torch.as_tensor(points_world,
                                                                      dtype=torch.float64))
        z = p[..., 2]
        u = self.fx * p[..., 0] / z + self.cx
        v = self.fy * p[..., 1] / z + self.cy
        return torch.stack([u, v], dim=-1), z

    def pixel_rays(self) -> Tensor:
        """Camera-frame directions with z = 1 through every pixel centre, [H, W, 3]."""
        v, u = torch.meshgrid(torch.arange(self.height, dtype=torch.float64) + 0.5,
                              torch.arange(self.width, dtype=torch.float64) + 0.5, indexing="ij")
        return torch.stack([(u - self.cx) / self.fx, (v - self.cy) / self.fy,
                            torch.ones_like(u)], dim=-1)

    def unproject(self, depth, frame: str = "world") -> Tensor:
        """Depth map [H, W] (camera z, metres) -> 3D points [H, W, 3] in ``frame``
        ("world" or "camera")."""
        depth = torch.as_tensor(depth, dtype=torch.float64)
        if depth.shape != (self.height, self.width):
            raise ValueError(f"depth must have shape [{self.height}, {self.width}] for this "
                             f"camera, got {tuple(depth.shape)}")
        pts = self.pixel_rays() * depth[..., None]
        if frame == "camera":
            return pts
        if frame != "world":
            raise ValueError(f"frame must be 'world' or 'camera', got {frame!r}")
        return frames.transform_points(self.T_world_cam, pts)

    def resized(self, width: int, height: int) -> Camera:
        """The same camera at another resolution (intrinsics scaled)."""
        sx, sy = width / self.width, height / self.height
        K = self.K.clone()
        K[0] *= sx
        K[1] *= sy
        return Camera(K, self.T_world_cam, width, height, self.name)

    def with_pose(self, T_world_cam) -> Camera:
        return Camera(self.K, T_world_cam, self.width, self.height, self.name)

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "width": self.width,
            "height": self.height,
            "K": self.K.tolist(),
            "T_world_cam": self.T_world_cam.tolist(),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Camera:
        return cls(torch.tensor(d["K"]), torch.tensor(d["T_world_cam"]), int(d["width"]),
                   int(d["height"]), d.get("name", "camera"))


def stack_cameras(cameras: Camera | Sequence[Camera], dtype=torch.float32, device=None
                  ) -> tuple[Tensor, Tensor, int, int]:
    """Cameras of one resolution -> (viewmats [C, 4, 4], Ks [C, 3, 3], width, height), on
    ``device`` (default: the CPU, where cameras live)."""
    cams = [cameras] if isinstance(cameras, Camera) else list(cameras)
    if not cams:
        raise ValueError("cameras is empty: give at least one Camera")
    w, h = cams[0].width, cams[0].height
    for c in cams:
        if (c.width, c.height) != (w, h):
            raise ValueError(f"all cameras of one render call must share a resolution; got "
                             f"{w}x{h} and {c.width}x{c.height} ({c.name})")
    viewmats = torch.stack([c.T_cam_world for c in cams]).to(dtype=dtype, device=device)
    Ks = torch.stack([c.K for c in cams]).to(dtype=dtype, device=device)
    return viewmats, Ks, w, h
