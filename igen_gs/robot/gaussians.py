"""The robot as Gaussians: every link's mesh sampled once into flat, surface-aligned Gaussians
in the link frame, posed per frame by forward kinematics.

Sampling (once per robot and spacing, cached): points spread evenly over each link's surface
(seeded rejection sampling, at least ``spacing`` apart, so the count follows the area: tens of
thousands for the Panda at 4 mm), each a flat Gaussian lying in its triangle's plane: in-plane
standard deviation ``0.55 * spacing`` and ``0.15 * spacing`` along the normal, opacity 0.99. With
the front and back walls of a link both covered this makes the arm opaque (alpha >= 0.99
inside its silhouette at 640x480 from 0.5 m; measured in tests/test_robot_render.py).

Colour: the mesh material's albedo times a fixed, view-independent hemispherical shading of
the surface normal in the world, ``shade(n) = 0.45 + 0.55 (1 + n . up) / 2`` (1 facing up,
0.725 on vertical walls, 0.45 facing down), recomputed per frame as the links turn. It is the
shading of the synthetic worlds' ray caster (:func:`igen_gs.synthetic.materials.shade`, with
``up = +z``), so the Gaussian arm and the ray-cast arm agree; no shadows, no highlights.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import Tensor

from ..scene import frames
from ..scene.field import GaussianField, rgb_to_sh_dc
from .model import RobotModel

IN_PLANE = 0.7
"""In-plane standard deviation of a surface Gaussian, in units of the sample spacing."""
NORMAL = 0.15
"""Standard deviation along the surface normal, in units of the sample spacing."""
OPACITY = 0.99
POOL = 6.0
RADIUS = 0.5


def shade(normals: np.ndarray | Tensor, up) -> np.ndarray | Tensor:
    """Hemispherical shading factor in [0.45, 1] of unit normals [..., 3] about ``up`` [3]."""
    return 0.45 + 0.55 * (0.5 + 0.5 * (normals @ up))


def _quat_z_to(n: np.ndarray) -> np.ndarray:
    """[N, 4] (w, x, y, z) rotating +z onto the unit vectors n [N, 3]."""
    q = np.stack([1.0 + n[:, 2], -n[:, 1], n[:, 0], np.zeros(len(n))], 1)
    flip = q[:, 0] < 1e-9  # n = -z: half turn about x
    q[flip] = [0.0, 1.0, 0.0, 0.0]
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def sample_link(mesh, spacing: float, seed: int = 0) -> dict[str, np.ndarray]:
    """Surface samples of one link mesh: ``points`` [n, 3], ``normals`` [n, 3] (outward face
    normals), ``rgb`` [n, 3] albedo in [0, 1] (the faces' colours)."""
    import trimesh

    area = float(mesh.area)
    count = max(16, int(np.ceil(POOL * area / spacing**2)))
    pts, face = trimesh.sample.sample_surface_even(mesh, count, radius=RADIUS * spacing,
                                                   seed=seed)
    normals = np.asarray(mesh.face_normals[face], dtype=np.float64)
    rgb = np.asarray(mesh.visual.face_colors[face][:, :3], dtype=np.float64) / 255.0
    return {"points": np.asarray(pts, dtype=np.float64), "normals": normals, "rgb": rgb}


class RobotGaussians:
    """The robot's links as Gaussians (built once), posed per frame.

    The layout is fixed: links in ``model.visual_links`` order, ``link_index`` [N] says which
    link each Gaussian belongs to and ``is_gripper`` [N] whether it is part of the hand or
    fingers (episode label "gripper") or of the arm ("robot").
    """

    def __init__(self, model: RobotModel, spacing: float = 0.004, seed: int = 0):
        if not 0.0005 <= spacing <= 0.05:
            raise ValueError(f"robot spacing must be within [0.0005, 0.05] m, got {spacing}")
        self.model, self.spacing = model, spacing
        meshes = model.link_meshes
        self.links = [n for n in model.visual_links if n in meshes]
        pts, nrm, rgb, idx = [], [], [], []
        for i, name in enumerate(self.links):
            s = sample_link(meshes[name], spacing, seed)
            pts.append(s["points"])
            nrm.append(s["normals"])
            rgb.append(s["rgb"])
            idx.append(np.full(len(s["points"]), i))
        self.points = torch.from_numpy(np.concatenate(pts)).float()
        self.normals = torch.from_numpy(np.concatenate(nrm)).float()
        self.albedo = torch.from_numpy(np.concatenate(rgb)).float()
        self.link_index = torch.from_numpy(np.concatenate(idx))
        self.quats = torch.from_numpy(_quat_z_to(np.concatenate(nrm))).float()
        n = len(self.points)
        self.scales = torch.tensor([IN_PLANE * spacing, IN_PLANE * spacing, NORMAL * spacing]
                                   ).expand(n, 3).clone()
        self.opacities = torch.full((n,), OPACITY)
        grip = [name in model.gripper_links for name in self.links]
        self.is_gripper = torch.tensor(grip, dtype=torch.bool)[self.link_index]
        self.counts = {name: int((self.link_index == i).sum()) for i, name in
                       enumerate(self.links)}

    def __len__(self) -> int:
        return len(self.points)

    def link_transforms(self, T_world_base, q, opening: float) -> Tensor:
        """[L, 4, 4] ``T_world_link`` of the sampled links."""
        poses = self.model.link_poses(q, opening)
        Tb = np.asarray(T_world_base, dtype=np.float64)
        return torch.from_numpy(np.stack([Tb @ poses[n] for n in self.links]))

    def posed(self, T_world_base, q, opening: float, up=(0.0, 0.0, 1.0)
              ) -> tuple[Tensor, Tensor, Tensor]:
        """World ``means`` [N, 3], ``quats`` [N, 4] (w, x, y, z) and shaded ``rgb`` [N, 3] at
        joint angles ``q`` and gripper ``opening`` (metres), the base at ``T_world_base``."""
        T = self.link_transforms(T_world_base, q, opening).float()
        R = T[:, :3, :3][self.link_index]
        t = T[:, :3, 3][self.link_index]
        means = torch.einsum("nij,nj->ni", R, self.points) + t
        normals = torch.einsum("nij,nj->ni", R, self.normals)
        qR = frames.rotmat_to_quat(T[:, :3, :3].double()).float()[self.link_index]
        quats = frames.quat_multiply(qR, self.quats)
        up_t = torch.as_tensor(up, dtype=torch.float32)
        rgb = (self.albedo * shade(normals, up_t / up_t.norm())[:, None]).clamp(0, 1)
        return means, quats, rgb

    def field(self, T_world_base, q, opening: float, up=(0.0, 0.0, 1.0)) -> GaussianField:
        """The posed robot as a :class:`GaussianField` (SH degree 0)."""
        means, quats, rgb = self.posed(T_world_base, q, opening, up)
        return GaussianField(means, quats, self.scales.clone(), self.opacities.clone(),
                             rgb_to_sh_dc(rgb)[:, None])


@functools.lru_cache(maxsize=4)
def _cached(model_id: int, model: RobotModel, spacing: float) -> RobotGaussians:
    return RobotGaussians(model, spacing)


def robot_gaussians(model: RobotModel, spacing: float = 0.004) -> RobotGaussians:
    """:class:`RobotGaussians` of ``model`` at ``spacing``, built once per process."""
    return _cached(id(model), model, float(spacing))
