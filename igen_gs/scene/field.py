"""``GaussianField``: a set of 3D Gaussians (3DGS parameterisation, activated values)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ..render.sh import SH_C0, rgb_to_sh_dc, sh_dc_to_rgb, sh_rotation
from . import frames

# The SH helpers have their home in igen_gs.render.sh; these names stay importable from here.
__all__ = ["SH_C0", "GaussianField", "rgb_to_sh_dc", "sh_dc_to_rgb", "sh_rotation"]


@dataclass
class GaussianField:
    """N 3D Gaussians in some frame (the owner says which; a scene object's field is in its
    object frame).

    Attributes (float32 tensors on one device):
        means: [N, 3] centres, metres.
        quats: [N, 4] rotations (w, x, y, z), unit.
        scales: [N, 3] standard deviations along the rotated axes, metres (not log).
        opacities: [N] in [0, 1] (not logit).
        sh: [N, K, 3] spherical-harmonic colour coefficients, K = (degree + 1)^2; ``sh[:, 0]``
            is the DC term (colour = SH_C0 * dc + 0.5).
    """

    means: Tensor
    quats: Tensor
    scales: Tensor
    opacities: Tensor
    sh: Tensor

    def __post_init__(self) -> None:
        self.means = torch.as_tensor(self.means, dtype=torch.float32)
        dev = self.means.device
        self.quats = torch.as_tensor(self.quats, dtype=torch.float32, device=dev)
        self.scales = torch.as_tensor(self.scales, dtype=torch.float32, device=dev)
        self.opacities = torch.as_tensor(self.opacities, dtype=torch.float32, device=dev)
        self.sh = torch.as_tensor(self.sh, dtype=torch.float32, device=dev)
        N = self.means.shape[0] if self.means.dim() == 2 else -1
        checks = [
            ("means", self.means, (N, 3)),
            ("quats", self.quats, (N, 4)),
            ("scales", self.scales, (N, 3)),
            ("opacities", self.opacities, (N,)),
        ]
        for name, t, shape in checks:
            if tuple(t.shape) != shape:
                raise ValueError(f"GaussianField.{name} must have shape "
                                 f"{list(shape)} (N={N}), got {list(t.shape)}")
        if self.sh.dim() != 3 or self.sh.shape[0] != N or self.sh.shape[2] != 3:
            raise ValueError(f"GaussianField.sh must have shape [N, K, 3] (N={N}), "
                             f"got {list(self.sh.shape)}")
        K = self.sh.shape[1]
        if K not in (1, 4, 9, 16):
            raise ValueError(f"GaussianField.sh must have K = 1, 4, 9 or 16 coefficients "
                             f"(SH degree 0..3), got K={K}")

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_points(cls, means, rgb, scales, quats=None, opacities=None,
                    sh_degree: int = 0) -> GaussianField:
        """Gaussians at ``means`` [N, 3] with colours ``rgb`` [N, 3] in [0, 1].

        ``scales`` is [N, 3], [N] (isotropic) or a float; ``quats`` defaults to identity and
        ``opacities`` to 1.
        """
        means = torch.as_tensor(means, dtype=torch.float32)
        N = means.shape[0]
        rgb = torch.as_tensor(rgb, dtype=torch.float32)
        scales = torch.as_tensor(scales, dtype=torch.float32)
        if scales.dim() == 0:
            scales = scales.expand(N, 3)
        elif scales.dim() == 1:
            scales = scales[:, None].expand(N, 3)
        if quats is None:
            quats = torch.zeros(N, 4)
            quats[:, 0] = 1
        if opacities is None:
            opacities = torch.ones(N)
        K = (sh_degree + 1) ** 2
        sh = torch.zeros(N, K, 3)
        sh[:, 0] = rgb_to_sh_dc(rgb)
        return cls(means, quats, scales.clone(), opacities, sh)

    @classmethod
    def empty(cls, sh_degree: int = 0) -> GaussianField:
        K = (sh_degree + 1) ** 2
        return cls(torch.zeros(0, 3), torch.zeros(0, 4), torch.zeros(0, 3), torch.zeros(0),
                   torch.zeros(0, K, 3))

    def __repr__(self) -> str:
        return (f"GaussianField({len(self):,} Gaussians, sh_degree={self.sh_degree}, "
                f"device={self.device})")

    # ------------------------------------------------------------------ properties
    def __len__(self) -> int:
        return self.means.shape[0]

    @property
    def num_gaussians(self) -> int:
        return len(self)

    @property
    def sh_degree(self) -> int:
        return int(round(math.sqrt(self.sh.shape[1]))) - 1

    @property
    def device(self) -> torch.device:
        return self.means.device

    @property
    def rgb(self) -> Tensor:
        """Base colour (DC term) [N, 3], clamped to [0, 1]."""
        return sh_dc_to_rgb(self.sh[:, 0]).clamp(0, 1)

    def to(self, device) -> GaussianField:
        return GaussianField(self.means.to(device), self.quats.to(device),
                             self.scales.to(device), self.opacities.to(device),
                             self.sh.to(device))

    def clone(self) -> GaussianField:
        return GaussianField(self.means.clone(), self.quats.clone(), self.scales.clone(),
                             self.opacities.clone(), self.sh.clone())

    def bounds(self) -> tuple[Tensor, Tensor]:
        """Axis-aligned bounds (min [3], max [3]) of the centres."""
        if len(self) == 0:
            raise ValueError("bounds of an empty GaussianField")
        return self.means.min(dim=0).values, self.means.max(dim=0).values

    # ------------------------------------------------------------------ operations
    def transform(self, T_new_old) -> GaussianField:
        """This field moved rigidly by ``T_new_old`` [4, 4] (maps this field's frame to the new
        one): centres and orientations transform, scales and opacities stay, SH coefficients
        of degree >= 1 rotate with the field so view-dependent colour turns with it."""
        T = torch.as_tensor(T_new_old, dtype=torch.float64)
        if T.shape != (4, 4):
            raise ValueError(f"transform must be [4, 4], got {tuple(T.shape)}")
        R = T[:3, :3]
        if float((R.T @ R - torch.eye(3, dtype=torch.float64)).abs().max()) > 1e-4 or \
                float(torch.det(R)) < 0:
            raise ValueError("transform is not a rigid motion (rotation part not orthonormal "
                             "with det +1)")
        dev = self.device
        Rf = R.to(torch.float32).to(dev)
        means = self.means @ Rf.T + T[:3, 3].to(torch.float32).to(dev)
        q_R = frames.rotmat_to_quat(R).to(torch.float32).to(dev)
        quats = frames.quat_multiply(q_R.expand_as(self.quats), self.quats)
        sh = self.sh
        if self.sh_degree > 0:
            D = sh_rotation(R, self.sh_degree).to(torch.float32).to(dev)
            sh = torch.einsum("ij,njc->nic", D, self.sh)
        return GaussianField(means, quats, self.scales.clone(), self.opacities.clone(),
                             sh.clone())

    def subset(self, index) -> GaussianField:
        """Gaussians selected by a boolean mask [N] or index tensor."""
        index = torch.as_tensor(index)
        if index.dtype == torch.bool and index.shape != (len(self),):
            raise ValueError(f"subset mask must have shape [{len(self)}], got {tuple(index.shape)}")
        return GaussianField(self.means[index], self.quats[index], self.scales[index],
                             self.opacities[index], self.sh[index])

    __getitem__ = subset

    @staticmethod
    def concat(fields: Sequence[GaussianField]) -> GaussianField:
        """Concatenation; SH degrees are padded to the highest one."""
        fields = list(fields)
        if not fields:
            raise ValueError("concat needs at least one GaussianField")
        K = max(f.sh.shape[1] for f in fields)
        dev = fields[0].device
        shs = []
        for f in fields:
            pad = torch.zeros(len(f), K - f.sh.shape[1], 3, device=dev)
            shs.append(torch.cat([f.sh.to(dev), pad], dim=1))
        return GaussianField(
            torch.cat([f.means.to(dev) for f in fields]),
            torch.cat([f.quats.to(dev) for f in fields]),
            torch.cat([f.scales.to(dev) for f in fields]),
            torch.cat([f.opacities.to(dev) for f in fields]),
            torch.cat(shs),
        )

    def with_sh_degree(self, degree: int) -> GaussianField:
        """Truncate or zero-pad the SH coefficients to ``degree``."""
        K = (degree + 1) ** 2
        sh = self.sh[:, :K]
        if sh.shape[1] < K:
            sh = torch.cat([sh, torch.zeros(len(self), K - sh.shape[1], 3, device=self.device)], 1)
        return GaussianField(self.means, self.quats, self.scales, self.opacities, sh.clone())

    # ------------------------------------------------------------------ files
    def save_ply(self, path) -> None:
        """Write a 3DGS PLY (standard layout, readable by common splat viewers)."""
        from .ply import write_ply

        write_ply(path, self)

    @classmethod
    def load_ply(cls, path) -> GaussianField:
        from .ply import read_ply

        return read_ply(path)
