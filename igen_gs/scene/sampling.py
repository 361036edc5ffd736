"""Sampling images at continuous pixel coordinates (the renderer's convention: pixel (i, j)
covers [j, j + 1) x [i, i + 1), its centre at (j + 0.5, i + 0.5))."""

from __future__ import annotations

import torch
from torch import Tensor


def bilinear_sample(image: Tensor, uv: Tensor) -> tuple[Tensor, Tensor]:
    """Sample ``image`` [H, W, C] at image coordinates ``uv`` [..., 2] (pixel centres at
    j + 0.5, i + 0.5): (values [..., C], inside [...]); ``inside`` is true where all four
    taps exist (0.5 <= u <= W - 0.5, 0.5 <= v <= H - 0.5) and uv is finite."""
    H, W, C = image.shape
    u, v = uv[..., 0], uv[..., 1]
    inside = torch.isfinite(u) & torch.isfinite(v) & (u >= 0.5) & (u <= W - 0.5) \
        & (v >= 0.5) & (v <= H - 0.5)
    x = torch.nan_to_num(u, nan=0.0, posinf=0.0, neginf=0.0) - 0.5
    y = torch.nan_to_num(v, nan=0.0, posinf=0.0, neginf=0.0) - 0.5
    x = x.clamp(0, W - 1)
    y = y.clamp(0, H - 1)
    x0 = x.floor().long().clamp(max=max(W - 2, 0))
    y0 = y.floor().long().clamp(max=max(H - 2, 0))
    x1 = (x0 + 1).clamp(max=W - 1)
    y1 = (y0 + 1).clamp(max=H - 1)
    fx = (x - x0)[..., None]
    fy = (y - y0)[..., None]
    out = (image[y0, x0] * (1 - fx) * (1 - fy) + image[y0, x1] * fx * (1 - fy)
           + image[y1, x0] * (1 - fx) * fy + image[y1, x1] * fx * fy)
    return out, inside
