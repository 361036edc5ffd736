"""Readable pure-PyTorch reference of :func:`igen_gs.rasterization` (3DGS forward pass).

This is the specification the native CPU kernels in ``kernels/`` are tested against, and the
``backend="torch"`` path (differentiable through autograd, slow). Nothing else in the package
imports it: shared math (SH colour, rotations) lives in :mod:`igen_gs.render.sh` and
:mod:`igen_gs.rotations`. It follows gsplat 1.5:

* projection: EWA splatting with gsplat's frustum clamp of the Jacobian, ``eps2d`` added to the
  2D covariance, per-axis radius ``ceil(3.33 * sqrt(cov2d diagonal))``, near/far and off-screen
  culling, optional antialiasing compensation ``sqrt(det(cov2d) / det(cov2d + eps2d I))``;
* colours: features as given, or spherical harmonics (Sloan's bases, view direction from the
  camera centre, ``+ 0.5``, clamped at 0: :func:`igen_gs.render.sh.sh_to_rgb`, the one SH
  evaluation of the package; rotations from :mod:`igen_gs.rotations`);
* compositing: every pixel takes the visible Gaussians in (depth, index) order,
  ``alpha = min(0.999, opacity * exp(-sigma))``, skips ``alpha < 1/255`` (and ``sigma < 0``),
  stops before a Gaussian that would take the transmittance ``T`` to ``<= 1e-4``; the pixel is
  ``sum_i alpha_i T_i c_i + T * background`` and its alpha is ``1 - T``.

Pixel centres are at ``(j + 0.5, i + 0.5)``. Tiles do not appear here: outside a Gaussian's
box every pixel has ``sigma > 5.54`` and hence ``alpha < 1/255``, so tiling never changes a
pixel and this dense form is exact.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..rotations import quat_to_rotmat
from .sh import sh_to_rgb

ALPHA_THRESHOLD = 1.0 / 255.0
MAX_ALPHA = 0.999
T_EPS = 1e-4
AMBIGUOUS_RTOL = 1e-4
"""Relative distance from the alpha or transmittance threshold within which a float32 decision
is a tie (see :func:`composite`): at the threshold sigma is about 5.5, so a conic rounded
1e-5 apart (float32 projection against a float64-exact one) moves alpha by about 5e-5
relative; one seed of the parity test showed 2e-5."""
RADIUS_EXTENT = 3.33


def covariance_from_quat_scale(quats: Tensor, scales: Tensor) -> Tensor:
    """Sigma = R S S^T R^T with S = diag(scales). quats [N, 4], scales [N, 3] -> [N, 3, 3]."""
    M = quat_to_rotmat(quats) * scales[..., None, :]
    return M @ M.transpose(-1, -2)


def project(
    means: Tensor,  # [N, 3] world
    covars: Tensor,  # [N, 3, 3] world
    viewmats: Tensor,  # [C, 4, 4] T_cam_world
    Ks: Tensor,  # [C, 3, 3]
    width: int,
    height: int,
    eps2d: float = 0.3,
    near_plane: float = 0.01,
    far_plane: float = 1e10,
    radius_clip: float = 0.0,
) -> dict[str, Tensor]:
    """Project 3D Gaussians into C pinhole cameras.

    Returns a dict of ``radii`` [C, N, 2] int32 (0 = culled), ``means2d`` [C, N, 2],
    ``depths`` [C, N] (camera z), ``conics`` [C, N, 3] (inverse 2D covariance a, b, c),
    ``compensations`` [C, N] and ``covars2d`` [C, N, 2, 2] (with eps2d added).

    The arithmetic runs in float64 (results are returned in the input dtype): the determinant
    of a flat Gaussian's 2D covariance cancels badly in float32, which would make the
    antialiasing compensation noise. The CPU kernels do the same.
    """
    dtype = means.dtype
    means, covars = means.double(), covars.double()
    viewmats, Ks = viewmats.double(), Ks.double()
    R = viewmats[:, :3, :3]  # [C, 3, 3]
    t = viewmats[:, :3, 3]  # [C, 3]
    means_c = torch.einsum("cij,nj->cni", R, means) + t[:, None, :]  # [C, N, 3]
    covars_c = torch.einsum("cij,njk,clk->cnil", R, covars, R)  # [C, N, 3, 3]
    x, y, z = means_c.unbind(-1)

    fx, fy = Ks[:, 0, 0, None], Ks[:, 1, 1, None]  # [C, 1]
    cx, cy = Ks[:, 0, 2, None], Ks[:, 1, 2, None]
    # Clamp the point used in the Jacobian to 1.3x the field of view (as gsplat / 3DGS).
    tan_fovx, tan_fovy = 0.5 * width / fx, 0.5 * height / fy
    lim_x_pos = (width - cx) / fx + 0.3 * tan_fovx
    lim_x_neg = cx / fx + 0.3 * tan_fovx
    lim_y_pos = (height - cy) / fy + 0.3 * tan_fovy
    lim_y_neg = cy / fy + 0.3 * tan_fovy
    tx = z * torch.minimum(torch.maximum(x / z, -lim_x_neg), lim_x_pos)
    ty = z * torch.minimum(torch.maximum(y / z, -lim_y_neg), lim_y_pos)

    zeros = torch.zeros_like(z)
    J = torch.stack(
        [fx / z, zeros, -fx * tx / z**2, zeros, fy / z, -fy * ty / z**2], dim=-1
    ).reshape(z.shape + (2, 3))
    cov2d = J @ covars_c @ J.transpose(-1, -2)  # [C, N, 2, 2]
    means2d = torch.stack([fx * x / z + cx, fy * y / z + cy], dim=-1)

    det_orig = cov2d[..., 0, 0] * cov2d[..., 1, 1] - cov2d[..., 0, 1] * cov2d[..., 1, 0]
    cov2d = cov2d + eps2d * torch.eye(2, dtype=cov2d.dtype, device=cov2d.device)
    det = cov2d[..., 0, 0] * cov2d[..., 1, 1] - cov2d[..., 0, 1] * cov2d[..., 1, 0]
    compensations = torch.sqrt(torch.clamp(det_orig / det.clamp_min(1e-10), min=0.0))
    conics = torch.stack(
        [cov2d[..., 1, 1] / det, -cov2d[..., 0, 1] / det, cov2d[..., 0, 0] / det], dim=-1
    )

    radius = torch.stack(
        [
            torch.ceil(RADIUS_EXTENT * torch.sqrt(cov2d[..., 0, 0])),
            torch.ceil(RADIUS_EXTENT * torch.sqrt(cov2d[..., 1, 1])),
        ],
        dim=-1,
    ).clamp_max(1e9)
    valid = (z >= near_plane) & (z <= far_plane) & (det > 0)
    valid &= ~((radius[..., 0] <= radius_clip) & (radius[..., 1] <= radius_clip))
    valid &= (means2d[..., 0] + radius[..., 0] > 0) & (means2d[..., 0] - radius[..., 0] < width)
    valid &= (means2d[..., 1] + radius[..., 1] > 0) & (means2d[..., 1] - radius[..., 1] < height)
    radii = torch.where(valid[..., None], radius, torch.zeros_like(radius)).to(torch.int32)
    return {
        "radii": radii,
        "means2d": means2d.to(dtype),
        "depths": z.to(dtype),
        "conics": conics.to(dtype),
        "compensations": compensations.to(dtype),
        "covars2d": cov2d.to(dtype),
    }


def _composite_pixels(px: Tensor, py: Tensor, m: Tensor, con: Tensor, op: Tensor, f: Tensor,
                      return_ambiguous: bool):
    """Composite pixels (centres px, py [P]) over Gaussians already in depth order.

    Returns (colour [P, D] without background, final transmittance [P], ambiguous [P] or None).
    """
    dx = px[:, None] - m[None, :, 0]  # [P, G]
    dy = py[:, None] - m[None, :, 1]
    sigma = 0.5 * (con[:, 0] * dx * dx + con[:, 2] * dy * dy) + con[:, 1] * dx * dy
    alpha = torch.clamp_max(op * torch.exp(-sigma), MAX_ALPHA)
    a = torch.where((sigma >= 0) & (alpha >= ALPHA_THRESHOLD), alpha, torch.zeros_like(alpha))
    T_incl = torch.cumprod(1.0 - a, dim=-1)
    # A pixel stops before the first Gaussian that takes T to <= 1e-4; T never rises again.
    keep = T_incl > T_EPS
    a = a * keep
    T_excl = torch.cat([torch.ones_like(T_incl[:, :1]), T_incl[:, :-1]], dim=-1)
    w = a * T_excl  # [P, G] blending weights
    T_final = torch.cumprod(1.0 - a, dim=-1)[:, -1]
    ambiguous = None
    if return_ambiguous:
        with torch.no_grad():
            reached = torch.cat([torch.ones_like(keep[:, :1]), keep[:, :-1]], dim=-1)
            near_alpha = (alpha - ALPHA_THRESHOLD).abs() <= AMBIGUOUS_RTOL * ALPHA_THRESHOLD
            near_stop = (T_incl - T_EPS).abs() <= AMBIGUOUS_RTOL * T_EPS
            ambiguous = ((near_alpha | near_stop) & reached).any(dim=-1)
    return w @ f, T_final, ambiguous


def composite(
    means2d: Tensor,  # [N, 2]
    conics: Tensor,  # [N, 3]
    opacities: Tensor,  # [N]
    features: Tensor,  # [N, D]
    depths: Tensor,  # [N]
    radii: Tensor,  # [N, 2]
    width: int,
    height: int,
    background: Tensor | None = None,  # [D]
    tile_size: int = 16,
    max_pairs: int = 1 << 22,
    return_ambiguous: bool = False,
) -> tuple[Tensor, Tensor] | tuple[Tensor, Tensor, Tensor]:
    """Front-to-back alpha compositing of one camera's projected Gaussians.

    Work is split into ``tile_size`` tiles as in gsplat, each taking the Gaussians whose box
    touches it (gsplat's tile rectangle), in global (depth, index) order. The tiling is only for
    speed: since a pixel outside a Gaussian's box has alpha < 1/255, it changes no pixel.

    Returns colours [H, W, D] and alphas [H, W, 1]; with ``return_ambiguous`` also a bool map
    [H, W] of pixels whose result hinges on a float32 tie: some Gaussian's alpha lies within a
    relative :data:`AMBIGUOUS_RTOL` of the 1/255 threshold, or some transmittance within a
    relative :data:`AMBIGUOUS_RTOL` of the 1e-4 stopping threshold. Two correct float32
    implementations (different exp(), operation order, conics rounded differently) may decide
    such a pixel differently; parity tests exclude them and bound how many.
    """
    D = features.shape[-1]
    dev, dt = means2d.device, means2d.dtype
    visible = (radii > 0).all(dim=-1)
    idx = torch.nonzero(visible).squeeze(-1)
    # Depth order as the kernels and gsplat sort: by the float32 depth, ties in index order
    # (also when this reference runs in float64, where two depths one float32 ulp apart would
    # otherwise swap two Gaussians).
    order = torch.sort(depths[idx].float(), stable=True).indices
    idx = idx[order]
    m, con, op, f = means2d[idx], conics[idx], opacities[idx], features[idx]
    r = radii[idx].to(dt)
    tw, th = math.ceil(width / tile_size), math.ceil(height / tile_size)
    t_lo = torch.floor((m - r) / tile_size).long()
    t_hi = torch.ceil((m + r) / tile_size).long()
    t_lo[:, 0].clamp_(0, tw)
    t_hi[:, 0].clamp_(0, tw)
    t_lo[:, 1].clamp_(0, th)
    t_hi[:, 1].clamp_(0, th)

    color = torch.zeros(height, width, D, dtype=f.dtype, device=dev)
    T = torch.ones(height, width, dtype=dt, device=dev)
    amb = torch.zeros(height, width, dtype=torch.bool, device=dev)
    for ty in range(th):
        in_row = (t_lo[:, 1] <= ty) & (ty < t_hi[:, 1])
        y0, y1 = ty * tile_size, min(height, (ty + 1) * tile_size)
        for tx in range(tw):
            sel = torch.nonzero(in_row & (t_lo[:, 0] <= tx) & (tx < t_hi[:, 0])).squeeze(-1)
            if sel.numel() == 0:
                continue
            x0, x1 = tx * tile_size, min(width, (tx + 1) * tile_size)
            ys, xs = torch.meshgrid(torch.arange(y0, y1, device=dev, dtype=dt) + 0.5,
                                    torch.arange(x0, x1, device=dev, dtype=dt) + 0.5,
                                    indexing="ij")
            px, py = xs.reshape(-1), ys.reshape(-1)
            rows = max(1, max_pairs // max(sel.numel(), 1))
            cols, Ts, ambs = [], [], []
            for s in range(0, px.numel(), rows):
                c_, T_, a_ = _composite_pixels(px[s:s + rows], py[s:s + rows], m[sel], con[sel],
                                               op[sel], f[sel], return_ambiguous)
                cols.append(c_)
                Ts.append(T_)
                ambs.append(a_)
            shape = (y1 - y0, x1 - x0)
            color[y0:y1, x0:x1] = torch.cat(cols).reshape(*shape, D)
            T[y0:y1, x0:x1] = torch.cat(Ts).reshape(shape)
            if return_ambiguous:
                amb[y0:y1, x0:x1] = torch.cat(ambs).reshape(shape)
    alpha = (1.0 - T)[..., None]
    if background is not None:
        color = color + (1.0 - alpha) * background
    if return_ambiguous:
        return color, alpha, amb
    return color, alpha


def rasterization_reference(
    means: Tensor,
    quats: Tensor | None,
    scales: Tensor | None,
    opacities: Tensor,
    colors: Tensor | None,
    viewmats: Tensor,
    Ks: Tensor,
    width: int,
    height: int,
    near_plane: float = 0.01,
    far_plane: float = 1e10,
    radius_clip: float = 0.0,
    eps2d: float = 0.3,
    sh_degree: int | None = None,
    backgrounds: Tensor | None = None,
    render_mode: str = "RGB",
    rasterize_mode: str = "classic",
    covars: Tensor | None = None,
) -> tuple[Tensor, Tensor, dict]:
    """The whole forward pass in plain PyTorch; arguments as :func:`igen_gs.rasterization`
    (already validated). Returns (render_colors [C, H, W, D'], render_alphas [C, H, W, 1], meta).
    """
    C = viewmats.shape[0]
    if covars is None:
        covars = covariance_from_quat_scale(quats, scales)
    proj = project(means, covars, viewmats, Ks, width, height, eps2d, near_plane, far_plane,
                   radius_clip)
    op = opacities[None, :].expand(C, -1)
    if rasterize_mode == "antialiased":
        op = op * proj["compensations"]

    feats = None
    if render_mode in ("RGB", "RGB+D", "RGB+ED"):
        if sh_degree is None:
            feats = colors if colors.dim() == 3 else colors[None].expand(C, -1, -1)
        else:
            campos = torch.linalg.inv(viewmats)[:, :3, 3]  # [C, 3]
            dirs = means[None] - campos[:, None]  # [C, N, 3]
            shs = colors if colors.dim() == 4 else colors[None].expand(C, -1, -1, -1)
            feats = sh_to_rgb(sh_degree, dirs, shs)
    if render_mode != "RGB":
        depth = proj["depths"][..., None]
        feats = depth if feats is None else torch.cat([feats, depth], dim=-1)
        if backgrounds is not None:
            bg_depth = torch.zeros_like(backgrounds[:, :1])
            backgrounds = bg_depth if render_mode in ("D", "ED") else torch.cat(
                [backgrounds, bg_depth], dim=-1)

    out_c, out_a, out_amb = [], [], []
    for c in range(C):
        col, alp, amb = composite(
            proj["means2d"][c], proj["conics"][c], op[c], feats[c], proj["depths"][c],
            proj["radii"][c], width, height, None if backgrounds is None else backgrounds[c],
            return_ambiguous=True)
        out_c.append(col)
        out_a.append(alp)
        out_amb.append(amb)
    render_colors, render_alphas = torch.stack(out_c), torch.stack(out_a)
    if render_mode in ("ED", "RGB+ED"):
        render_colors = torch.cat(
            [render_colors[..., :-1], render_colors[..., -1:] / render_alphas.clamp_min(1e-10)],
            dim=-1,
        )
    meta = {
        "radii": proj["radii"],
        "means2d": proj["means2d"],
        "depths": proj["depths"],
        "conics": proj["conics"],
        "opacities": op,
        "ambiguous": torch.stack(out_amb),  # [C, H, W], see composite()
    }
    return render_colors, render_alphas, meta
