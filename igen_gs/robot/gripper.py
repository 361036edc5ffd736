"""The box-model gripper (``--robot.mode hand``): a parallel-jaw hand with Franka Hand
proportions made of flat Gaussians on three boxes (body and two fingers).

End-effector (TCP) frame, metres: the origin is midway between the fingertip pads, +z is the
approach direction (from the hand through the fingertips, into the object), +y is the axis
along which the fingers open, +x = y x z. The fingers' inner pad faces sit at
y = +-opening / 2; the hand body lies at z < 0 (behind the fingers).

The surfaces are sampled with flat Gaussians (thin along the surface normal), coloured like the
real hand: light grey body, dark grey fingers with black rubber pads. Surface colour is shaded
by a fixed, lighting-free factor per face orientation so the shape reads in images.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from ..scene import frames
from ..scene.field import GaussianField
from .geometry import GripperGeometry

BODY_RGB = (0.86, 0.86, 0.84)
FINGER_RGB = (0.30, 0.31, 0.33)
PAD_RGB = (0.08, 0.08, 0.08)


def _box_surface(size, centre, rgb, spacing: float) -> GaussianField:
    """Flat Gaussians on the six faces of an axis-aligned box, faces shaded by orientation."""
    size_t = torch.as_tensor(size, dtype=torch.float64)
    centre_t = torch.as_tensor(centre, dtype=torch.float64)
    shade = {0: 0.92, 1: 1.0, 2: 0.84}  # x-, y-, z-facing faces
    pts, rots, cols, scales = [], [], [], []
    for axis in range(3):
        a, b = [i for i in range(3) if i != axis]
        na = max(2, int(round(float(size_t[a]) / spacing)))
        nb = max(2, int(round(float(size_t[b]) / spacing)))
        ua = (torch.arange(na, dtype=torch.float64) + 0.5) / na - 0.5
        ub = (torch.arange(nb, dtype=torch.float64) + 0.5) / nb - 0.5
        A, B = torch.meshgrid(ua * size_t[a], ub * size_t[b], indexing="ij")
        for sign in (-1.0, 1.0):
            p = torch.zeros(A.numel(), 3, dtype=torch.float64)
            p[:, a], p[:, b] = A.reshape(-1), B.reshape(-1)
            p[:, axis] = sign * size_t[axis] / 2
            pts.append(p + centre_t)
            # Local z of each Gaussian along the face normal: rotate z onto +-axis.
            normal = torch.zeros(3, dtype=torch.float64)
            normal[axis] = sign
            rots.append(_rot_z_to(normal).expand(p.shape[0], 3, 3))
            c = torch.tensor(rgb, dtype=torch.float32) * shade[axis]
            cols.append(c.expand(p.shape[0], 3))
            # Isotropic in the face plane (a bit under the sample step), thin along the normal.
            step = max(float(size_t[a]) / na, float(size_t[b]) / nb)
            scales.append(torch.tensor([0.75 * step, 0.75 * step, 0.1 * spacing]).expand(
                p.shape[0], 3))
    means = torch.cat(pts)
    quats = frames.rotmat_to_quat(torch.cat(rots))
    return GaussianField.from_points(means, torch.cat(cols), torch.cat(scales), quats,
                                     torch.full((means.shape[0],), 0.99))


def _rot_z_to(n: Tensor) -> Tensor:
    z = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    axis = torch.linalg.cross(z, n)
    s, c = float(axis.norm()), float(z @ n)
    if s < 1e-9:
        return torch.eye(3, dtype=torch.float64) if c > 0 else frames.axis_angle_to_rotmat(
            torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64), torch.pi)
    return frames.axis_angle_to_rotmat(axis / s, torch.atan2(torch.tensor(s), torch.tensor(c)))


class Gripper:
    """Gaussian model of the gripper; ``field(opening)`` in the TCP frame,
    ``posed(T_world_ee, opening)`` in the world frame. Templates are built once."""

    def __init__(self, geometry: GripperGeometry | None = None):
        self.geometry = geometry or GripperGeometry()
        g = self.geometry
        bx, by, bz = g.body_size
        finger_base_z = g.finger_tip_z - g.finger_length
        self.body = _box_surface((bx, by, bz), (0.0, 0.0, finger_base_z - bz / 2), BODY_RGB,
                                 g.spacing)
        # One finger centred at y = 0 (shifted to +-(opening/2 + thickness/2) per frame), with a
        # rubber pad on its inner (-y) face near the tip.
        finger = _box_surface((g.finger_width, g.finger_thickness, g.finger_length),
                              (0.0, 0.0, finger_base_z + g.finger_length / 2), FINGER_RGB,
                              g.spacing)
        pad = _box_surface((g.finger_width * 0.9, 0.002, g.finger_length * 0.45),
                           (0.0, -g.finger_thickness / 2 - 0.001, g.finger_tip_z -
                            g.finger_length * 0.25), PAD_RGB, g.spacing * 0.8)
        self.finger = GaussianField.concat([finger, pad])
        # The other finger is the same shape mirrored through the xz plane (rotation by pi
        # about z keeps it rigid).
        self.finger_mirrored = self.finger.transform(frames.make_T(
            frames.axis_angle_to_rotmat(torch.tensor([0.0, 0.0, 1.0]), torch.pi)))

    @property
    def num_gaussians(self) -> int:
        return len(self.body) + 2 * len(self.finger)

    def check_opening(self, opening: float) -> float:
        opening = float(opening)
        if not 0.0 <= opening <= self.geometry.max_opening + 1e-9:
            raise ValueError(f"gripper opening {opening:.4f} m is outside [0, "
                             f"{self.geometry.max_opening}] m")
        return opening

    def field(self, opening: float) -> GaussianField:
        """The gripper in its TCP frame with the pads ``opening`` metres apart."""
        opening = self.check_opening(opening)
        off = opening / 2 + self.geometry.finger_thickness / 2
        f_pos = self.finger.transform(frames.translation(0.0, off, 0.0))
        f_neg = self.finger_mirrored.transform(frames.translation(0.0, -off, 0.0))
        return GaussianField.concat([self.body, f_pos, f_neg])

    def posed(self, T_world_ee, opening: float) -> GaussianField:
        """The gripper in the world frame at ``T_world_ee`` [4, 4]."""
        return self.field(opening).transform(T_world_ee)


@functools.lru_cache(maxsize=4)
def default_gripper(spacing: float = 0.003) -> Gripper:
    """A cached Franka-Hand-like gripper."""
    return Gripper(GripperGeometry(spacing=spacing))
