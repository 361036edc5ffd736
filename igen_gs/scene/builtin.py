"""A small built-in Gaussian scene (no files, no downloads): a checkered table top with a few
coloured objects, built procedurally by sampling Gaussians on analytic surfaces. World z-up,
metres; the table top is the plane z = 0."""

from __future__ import annotations

import math

import torch

from . import frames
from .camera import Camera
from .field import GaussianField
from .scene import Scene


def _flat_gaussians(points, normals, rgb, spacing: float) -> GaussianField:
    """Surface Gaussians: disc-shaped (thin along the normal), about one spacing wide."""
    z = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    n = normals / normals.norm(dim=-1, keepdim=True)
    axis = torch.linalg.cross(z.expand_as(n), n)
    s = axis.norm(dim=-1, keepdim=True)
    c = (n * z).sum(-1, keepdim=True)
    angle = torch.atan2(s, c)[:, 0]
    axis = torch.where(s > 1e-9, axis / s.clamp_min(1e-12), torch.tensor([1.0, 0, 0],
                                                                         dtype=torch.float64))
    R = frames.axis_angle_to_rotmat(axis, angle)
    quats = frames.rotmat_to_quat(R)
    N = points.shape[0]
    scales = torch.tensor([0.7 * spacing, 0.7 * spacing, 0.1 * spacing]).expand(N, 3)
    return GaussianField.from_points(points, rgb, scales, quats, torch.full((N,), 0.98))


def _grid(n_u: int, n_v: int):
    u = (torch.arange(n_u, dtype=torch.float64) + 0.5) / n_u
    v = (torch.arange(n_v, dtype=torch.float64) + 0.5) / n_v
    return torch.meshgrid(u, v, indexing="ij")


def box_field(size, rgb, spacing: float = 0.004) -> GaussianField:
    """Axis-aligned box centred at the origin, its bottom face at z = -size_z / 2."""
    sx, sy, sz = size
    pts, nrm = [], []
    for axis in range(3):
        for sign in (-1.0, 1.0):
            a, b = [i for i in range(3) if i != axis]
            dims = (sx, sy, sz)
            U, V = _grid(max(2, int(dims[a] / spacing)), max(2, int(dims[b] / spacing)))
            p = torch.zeros(U.numel(), 3, dtype=torch.float64)
            p[:, a] = (U.reshape(-1) - 0.5) * dims[a]
            p[:, b] = (V.reshape(-1) - 0.5) * dims[b]
            p[:, axis] = sign * dims[axis] / 2
            n = torch.zeros_like(p)
            n[:, axis] = sign
            pts.append(p)
            nrm.append(n)
    p, n = torch.cat(pts), torch.cat(nrm)
    colour = torch.as_tensor(rgb, dtype=torch.float32).expand(p.shape[0], 3)
    return _flat_gaussians(p, n, colour, spacing)


def cylinder_field(radius: float, height: float, rgb, spacing: float = 0.004) -> GaussianField:
    """Closed cylinder about z, centred at the origin."""
    n_a = max(8, int(2 * math.pi * radius / spacing))
    n_h = max(2, int(height / spacing))
    A, Hh = _grid(n_a, n_h)
    ang = 2 * math.pi * A.reshape(-1)
    side = torch.stack([radius * torch.cos(ang), radius * torch.sin(ang),
                        (Hh.reshape(-1) - 0.5) * height], -1)
    side_n = torch.stack([torch.cos(ang), torch.sin(ang), torch.zeros_like(ang)], -1)
    caps, caps_n = [], []
    n_r = max(2, int(radius / spacing))
    for sign in (-1.0, 1.0):
        R_, A_ = _grid(n_r, n_a)
        r = radius * torch.sqrt(R_.reshape(-1))
        a = 2 * math.pi * A_.reshape(-1)
        p = torch.stack([r * torch.cos(a), r * torch.sin(a), torch.full_like(r, sign * height / 2)],
                        -1)
        caps.append(p)
        caps_n.append(torch.tensor([0.0, 0.0, sign], dtype=torch.float64).expand_as(p))
    p = torch.cat([side, *caps])
    n = torch.cat([side_n, *caps_n])
    colour = torch.as_tensor(rgb, dtype=torch.float32).expand(p.shape[0], 3)
    return _flat_gaussians(p, n, colour, spacing)


def builtin_scene(spacing: float = 0.004) -> Scene:
    """Checkered 0.8 m x 0.6 m table top with a red block, a blue plate and a green can."""
    U, V = _grid(int(0.8 / spacing), int(0.6 / spacing))
    x = (U.reshape(-1) - 0.5) * 0.8
    y = (V.reshape(-1) - 0.5) * 0.6
    p = torch.stack([x, y, torch.zeros_like(x)], -1)
    checker = ((torch.floor(x / 0.1) + torch.floor(y / 0.1)) % 2).to(torch.float32)
    rgb = torch.stack([0.55 + 0.2 * checker, 0.42 + 0.15 * checker, 0.30 + 0.1 * checker], -1)
    table = _flat_gaussians(p, torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64).expand_as(p),
                            rgb, spacing)
    objects = {
        "red block": box_field((0.05, 0.05, 0.05), (0.85, 0.12, 0.1), spacing),
        "blue plate": cylinder_field(0.09, 0.012, (0.15, 0.3, 0.85), spacing),
        "green can": cylinder_field(0.033, 0.12, (0.2, 0.7, 0.25), spacing),
    }
    poses = {
        "red block": frames.translation(-0.15, -0.05, 0.025),
        "blue plate": frames.translation(0.12, 0.05, 0.006),
        "green can": frames.translation(0.0, 0.16, 0.06),
    }
    return Scene(table, objects, poses, support_plane=torch.tensor([0.0, 0.0, 1.0, 0.0]),
                 meta={"source": "igen_gs.scene.builtin"})


def builtin_camera(width: int = 640, height: int = 480) -> Camera:
    """A view of the built-in scene from the front and above."""
    return Camera.look_at((0.0, -0.75, 0.55), (0.0, 0.02, 0.0), width=width, height=height,
                          fov_y_deg=50.0, name="front")
