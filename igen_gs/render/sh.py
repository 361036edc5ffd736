"""Spherical-harmonics colour, written once: the bases, colour along a view direction, the DC
term's conversion to and from RGB, and the rotation of SH coefficients.

Conventions as 3DGS and gsplat: real SH up to degree 3 with Sloan's constants and coefficient
order (JCGT 2013); ``K = (degree + 1)^2`` coefficients per colour channel, stored [..., K, 3];
a Gaussian seen from a camera centre ``c`` has colour ``max(0, sum_k Y_k(d) coeff_k + 0.5)``
with ``d`` the unit direction from ``c`` to the Gaussian's centre.

Used by the scene (colours of a field, rotating a field's SH with the field), the episode
renderer and the PyTorch reference rasterizer. The native CPU kernels and gsplat evaluate the
same function when ``rasterization`` is given SH coefficients and ``sh_degree``; the tests
check all three against each other.

Why ``Scene.render`` and the episode renderer evaluate colours here (:func:`sh_colors`) and
pass RGB, rather than handing ``sh_degree`` to the kernels: at degree 0 both give the same
bits, but at degree > 0 the kernels' float32 evaluation differs from this one in the last bit
(up to 2.4e-7 on 4-15 % of pixel values in a test render), which would change datasets
rendered from such scenes; and the episode renderer evaluates degree-0 colours once per
episode instead of once per frame.
"""

from __future__ import annotations

import functools
import math

import torch
from torch import Tensor

SH_C0 = 0.28209479177387814  # Y_0^0 = 1 / (2 sqrt(pi)); colour = SH_C0 * dc + 0.5 at degree 0


def sh_bases(degree: int, dirs: Tensor) -> Tensor:
    """Real SH bases up to ``degree`` (0..3) at unit directions [..., 3] -> [..., (degree+1)^2]."""
    x, y, z = dirs.unbind(-1)
    out = [torch.full_like(x, SH_C0)]
    if degree >= 1:
        out += [-0.48860251190292 * y, 0.48860251190292 * z, -0.48860251190292 * x]
    if degree >= 2:
        z2 = z * z
        c1, s1 = x * x - y * y, 2 * x * y
        out += [
            0.5462742152960395 * s1,
            -1.092548430592079 * z * y,
            0.9461746957575601 * z2 - 0.3153915652525201,
            -1.092548430592079 * z * x,
            0.5462742152960395 * c1,
        ]
    if degree >= 3:
        c2, s2 = x * c1 - y * s1, x * s1 + y * c1
        t3c = -2.285228997322329 * z2 + 0.4570457994644658
        t3b = 1.445305721320277 * z
        out += [
            -0.5900435899266435 * s2,
            t3b * s1,
            t3c * y,
            z * (1.865881662950577 * z2 - 1.119528997770346),
            t3c * x,
            t3b * c1,
            -0.5900435899266435 * c2,
        ]
    return torch.stack(out, dim=-1)


def sh_to_rgb(degree: int, dirs: Tensor, coeffs: Tensor) -> Tensor:
    """Colour of SH ``coeffs`` [..., K, 3] seen along ``dirs`` [..., 3] (need not be unit), as
    gsplat renders it: ``max(0, sum_k Y_k(d) c_k + 0.5)``."""
    d = dirs / dirs.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    nb = (degree + 1) ** 2
    bases = sh_bases(degree, d)  # [..., nb]
    return torch.clamp_min((bases[..., None] * coeffs[..., :nb, :]).sum(dim=-2) + 0.5, 0.0)


def sh_colors(sh: Tensor, means: Tensor, viewmats: Tensor | None) -> Tensor:
    """RGB of Gaussians with SH ``sh`` [N, K, 3] at ``means`` [N, 3] (world) seen by cameras
    ``viewmats`` [C, 4, 4] (``T_cam_world``): [N, 3] at degree 0 (the same from every camera;
    ``viewmats`` may then be None), else [C, N, 3], each camera looking from its centre."""
    degree = sh_degree_of(sh.shape[-2])
    if degree == 0:
        return sh_to_rgb(0, torch.ones_like(means), sh)
    if viewmats is None:
        raise ValueError(f"SH degree {degree} colours are view-dependent: give the cameras' "
                         "viewmats")
    campos = torch.linalg.inv(viewmats)[:, :3, 3]  # [C, 3] camera centres, world
    return sh_to_rgb(degree, means[None] - campos[:, None], sh[None])


def sh_degree_of(num_coeffs: int) -> int:
    """SH degree of ``num_coeffs`` = (degree + 1)^2 coefficients (1, 4, 9 or 16)."""
    if num_coeffs not in (1, 4, 9, 16):
        raise ValueError(f"SH coefficients must number 1, 4, 9 or 16 (degree 0..3), "
                         f"got {num_coeffs}")
    return int(round(math.sqrt(num_coeffs))) - 1


def rgb_to_sh_dc(rgb: Tensor) -> Tensor:
    """Colour in [0, 1] -> degree-0 SH coefficient (as 3DGS)."""
    return (rgb - 0.5) / SH_C0


def sh_dc_to_rgb(dc: Tensor) -> Tensor:
    """Degree-0 SH coefficient -> colour (before the renderer's clamp at 0)."""
    return dc * SH_C0 + 0.5


@functools.lru_cache(maxsize=4)
def _fibonacci_dirs(n: int) -> Tensor:
    i = torch.arange(n, dtype=torch.float64) + 0.5
    phi = torch.acos(1 - 2 * i / n)
    theta = math.pi * (1 + 5**0.5) * i
    return torch.stack([torch.cos(theta) * torch.sin(phi), torch.sin(theta) * torch.sin(phi),
                        torch.cos(phi)], dim=-1)


def sh_rotation(R: Tensor, degree: int) -> Tensor:
    """Matrix D [(d+1)^2, (d+1)^2] with ``coeffs_rotated = D @ coeffs`` for an SH signal that is
    rotated by R (so f_rotated(d) = f(R^T d)). Block diagonal by band; each band's block is
    solved exactly from samples, since every band is closed under rotation."""
    R = torch.as_tensor(R, dtype=torch.float64)
    nb = (degree + 1) ** 2
    dirs = _fibonacci_dirs(64)
    Y = sh_bases(degree, dirs)  # [M, nb]
    Y_rot = sh_bases(degree, dirs @ R)  # rows: Y(R^T d)
    D = torch.zeros(nb, nb, dtype=torch.float64)
    for band in range(degree + 1):
        s, e = band * band, (band + 1) * (band + 1)
        D[s:e, s:e] = torch.linalg.lstsq(Y[:, s:e], Y_rot[:, s:e]).solution
    return D
