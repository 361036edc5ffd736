"""Depth errors of a predicted (rendered) depth map against ground truth.

Depths are metres, [H, W] or a stack [T, H, W] (pooled over all its pixels), torch tensors or
NumPy arrays. Evaluated pixels: ground truth finite and > 0, and in the mask if one is given.
A prediction that is missing there (<= 0 or not finite) counts as depth 0: it adds
|0 - g| / g = 1 to AbsRel, g^2 to the squared error, and fails every delta threshold.

* AbsRel = mean |d - g| / g                     (unitless)
* RMSE   = sqrt(mean (d - g)^2)                 (metres)
* delta_t = fraction of pixels with max(d / g, g / d) < t, for t = 1.25, 1.25^2, 1.25^3
"""

from __future__ import annotations

import torch
from torch import Tensor

from .image import to_tensor

DELTA_THRESHOLDS = {"delta_1.25": 1.25, "delta_1.25^2": 1.25**2, "delta_1.25^3": 1.25**3}


def _depth(x, name: str) -> Tensor:
    t = to_tensor(x).to(torch.float64)
    if t.dim() not in (2, 3):
        raise ValueError(f"{name} depth must be [H, W] or [T, H, W] metres, got shape "
                         f"{tuple(t.shape)}")
    return t


def depth_errors(pred, gt, mask=None) -> dict[str, float]:
    """AbsRel, RMSE (m), delta < 1.25 / 1.25^2 / 1.25^3 and the number of evaluated pixels
    (keys ``abs_rel``, ``rmse``, ``delta_1.25``, ``delta_1.25^2``, ``delta_1.25^3``,
    ``pixels``); see the module docstring."""
    d, g = _depth(pred, "predicted"), _depth(gt, "ground-truth")
    if d.shape != g.shape:
        raise ValueError(f"predicted and ground-truth depth differ in shape: {tuple(d.shape)} "
                         f"vs {tuple(g.shape)}")
    valid = torch.isfinite(g) & (g > 0)
    if mask is not None:
        m = to_tensor(mask)
        if m.shape != g.shape:
            if m.dim() == 2 and g.dim() == 3 and m.shape == g.shape[1:]:
                m = m.expand_as(g)
            else:
                raise ValueError(f"depth mask must have shape {tuple(g.shape)} (or [H, W]), "
                                 f"got {tuple(m.shape)}")
        valid &= m != 0
    n = int(valid.sum())
    if n == 0:
        raise ValueError("no pixel has valid ground-truth depth (> 0)" +
                         (" inside the mask" if mask is not None else ""))
    d, g = d[valid], g[valid]
    d = torch.where(torch.isfinite(d) & (d > 0), d, torch.zeros_like(d))
    ratio = torch.where(d > 0, torch.maximum(d / g, g / d.clamp_min(1e-300)),
                        torch.full_like(d, torch.inf))
    out = {"abs_rel": float(((d - g).abs() / g).mean()),
           "rmse": float(((d - g) ** 2).mean().sqrt())}
    for key, t in DELTA_THRESHOLDS.items():
        out[key] = float((ratio < t).to(torch.float64).mean())
    out["pixels"] = n
    return out
