"""Temporal coherence of rendered videos (torch, CPU, float64 internally).

Frames are [T, H, W, 3] (T >= 2), float in [0, 1] or uint8 (divided by 255). Colour
differences are mean absolute differences over the three channels, on the 0..1 scale.

Flicker
    Mean absolute frame-to-frame change on static pixels: pixels where nothing moved, so an
    ideal renderer with a fixed camera draws the same colour. ``static_mask`` is bool [H, W]
    (the same pixels in every frame) or [T, H, W]; the pair (t, t+1) counts a pixel when it is
    static in both frames. :func:`flicker` pools all pairs' static pixels;
    :func:`frame_changes` gives one value per pair.

Warp error (known motion)
    For each pair (t, t+1), a correspondence map says where every pixel of frame t+1 was in
    frame t: ``uv_prev`` float [T-1, H, W, 2] holds image coordinates (u, v) in frame t (the
    centre of pixel (row i, column j) is (j + 0.5, i + 0.5), as in
    :mod:`igen_gs.scene.frames`), and ``valid`` bool [T-1, H, W] says the point is visible in
    both frames. The error is the mean absolute colour difference between frame t+1 and frame
    t bilinearly sampled at ``uv_prev``, over valid pixels whose four bilinear taps lie inside
    frame t. :func:`motion_correspondences` computes the maps for scenes whose motion is known
    (synthetic worlds, our own episodes): depth, camera poses and per-object rigid poses.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor

from ..scene.sampling import bilinear_sample  # noqa: F401 - also exported from here
from .image import as_image, to_tensor


def _tensor(x, dtype=torch.float64) -> Tensor:
    return to_tensor(x).to(dtype)


def _video(frames, name: str = "frames"):
    """Check a video [T, H, W, 3] with T >= 2; returns it as a tensor or array (unconverted:
    frames are converted one at a time by :func:`as_image`, to keep memory small)."""
    f = frames if isinstance(frames, Tensor) else np.asarray(frames)
    if f.ndim != 4 or f.shape[-1] != 3 or f.shape[0] < 2:
        raise ValueError(f"{name} must be [T, H, W, 3] with T >= 2, got shape {tuple(f.shape)}")
    return f


def _static_pairs(static_mask, shape: tuple[int, int, int]) -> Tensor:
    """Static mask [H, W] or [T, H, W] -> bool [T-1, H, W]: static in frames t and t+1."""
    m = _tensor(static_mask, torch.bool)
    T, H, W = shape
    if m.dim() == 2 and tuple(m.shape) == (H, W):
        m = m.expand(T, H, W)
    if tuple(m.shape) != (T, H, W):
        raise ValueError(f"static mask must be [H, W] = {(H, W)} or [T, H, W] = {(T, H, W)}, "
                         f"got {tuple(m.shape)}")
    return m[1:] & m[:-1]


def frame_changes(frames, static_mask) -> tuple[Tensor, Tensor]:
    """Per consecutive pair (t, t+1): (mean absolute change on the pixels static in both
    frames, float64 [T-1], NaN for a pair without such pixels; their number, int64 [T-1])."""
    f = _video(frames)
    T = f.shape[0]
    pair = _static_pairs(static_mask, tuple(f.shape[:3]))
    means = torch.full((T - 1,), torch.nan, dtype=torch.float64)
    counts = pair.sum((1, 2))
    prev = as_image(f[0], "frames")
    for t in range(T - 1):
        cur = as_image(f[t + 1], "frames")
        if counts[t] > 0:
            means[t] = (cur - prev).abs().mean(-1)[pair[t]].mean()
        prev = cur
    return means, counts


def flicker(frames, static_mask) -> float:
    """Mean absolute frame-to-frame change (0..1) over the static pixels of all pairs."""
    means, counts = frame_changes(frames, static_mask)
    if int(counts.sum()) == 0:
        raise ValueError("no pixel is static in two consecutive frames")
    has = counts > 0
    return float((means[has] * counts[has]).sum() / counts.sum())


def _check_correspondences(uv_prev, valid, T: int, H: int, W: int) -> tuple[Tensor, Tensor]:
    uv = _tensor(uv_prev)
    if tuple(uv.shape) != (T - 1, H, W, 2):
        raise ValueError(f"uv_prev must be [T-1, H, W, 2] = {(T - 1, H, W, 2)}, got "
                         f"{tuple(uv.shape)}")
    if valid is None:
        ok = torch.isfinite(uv).all(-1)
    else:
        ok = _tensor(valid, torch.bool)
        if tuple(ok.shape) != (T - 1, H, W):
            raise ValueError(f"valid must be [T-1, H, W] = {(T - 1, H, W)}, got "
                             f"{tuple(ok.shape)}")
    return uv, ok


def warp_errors(frames, uv_prev, valid=None) -> tuple[Tensor, Tensor]:
    """Per pair (t, t+1): (mean absolute error float64 [T-1] (NaN without valid pixels),
    number of evaluated pixels int64 [T-1]); see the module docstring."""
    f = _video(frames)
    T, H, W, _ = f.shape
    uv, ok = _check_correspondences(uv_prev, valid, T, H, W)
    errs = torch.full((T - 1,), torch.nan, dtype=torch.float64)
    counts = torch.zeros(T - 1, dtype=torch.int64)
    prev = as_image(f[0], "frames")
    for t in range(T - 1):
        cur = as_image(f[t + 1], "frames")
        sample, inside = bilinear_sample(prev, uv[t])
        m = ok[t] & inside
        counts[t] = int(m.sum())
        if counts[t] > 0:
            errs[t] = (sample - cur).abs().mean(-1)[m].mean()
        prev = cur
    return errs, counts


def warp_error(frames, uv_prev, valid=None) -> float:
    """Mean absolute colour error (0..1) of frame t+1 against frame t warped by the known
    correspondences, over all valid pixels of all pairs (see the module docstring)."""
    errs, counts = warp_errors(frames, uv_prev, valid)
    if int(counts.sum()) == 0:
        raise ValueError("no valid correspondence between consecutive frames")
    has = counts > 0
    return float((errs[has] * counts[has]).sum() / counts.sum())


def _poses(x, T: int, name: str) -> Tensor:
    P = _tensor(x)
    if tuple(P.shape) == (4, 4):
        P = P.expand(T, 4, 4)
    if tuple(P.shape) != (T, 4, 4):
        raise ValueError(f"{name} must be [4, 4] or [T, 4, 4] with T = {T}, got "
                         f"{tuple(P.shape)}")
    return P


def pair_correspondences(depth_next, K, T_world_cam_prev, T_world_cam_next,
                         labels_next=None, T_prev_next_obj: dict | None = None,
                         depth_prev=None, tol_m: float = 0.02,
                         tol_rel: float = 0.02) -> tuple[Tensor, Tensor]:
    """Where the pixels of frame t+1 were in frame t.

    ``depth_next`` [H, W]: z-depth of frame t+1 in metres (0 = nothing there); ``K`` [3, 3]
    (both frames); ``T_world_cam_*`` [4, 4] camera-to-world poses; ``labels_next`` [H, W] int
    and ``T_prev_next_obj`` {label: [4, 4]}: a pixel labelled l lies on a rigid object whose
    world points moved by ``M = T_world_obj(t) @ inv(T_world_obj(t+1))`` (maps the point's
    world position at t+1 back to t); other pixels are static in the world.

    Returns (uv_prev float64 [H, W, 2], valid bool [H, W]). A pixel is valid when it has depth,
    projects in front of camera t, and, if ``depth_prev`` [H, W] (frame t's depth) is given,
    frame t's depth bilinearly sampled there is within ``tol_m + tol_rel * z`` of the point's
    depth z in camera t (otherwise something else covered it at t: disocclusion).
    """
    d = _tensor(depth_next)
    if d.dim() != 2:
        raise ValueError(f"depth_next must be [H, W] metres, got {tuple(d.shape)}")
    H, W = d.shape
    K = _tensor(K)
    if tuple(K.shape) != (3, 3):
        raise ValueError(f"K must be [3, 3], got {tuple(K.shape)}")
    v, u = torch.meshgrid(torch.arange(H, dtype=torch.float64) + 0.5,
                          torch.arange(W, dtype=torch.float64) + 0.5, indexing="ij")
    has = torch.isfinite(d) & (d > 0)
    z = torch.where(has, d, torch.zeros_like(d))
    p_cam = torch.stack([(u - K[0, 2]) / K[0, 0] * z, (v - K[1, 2]) / K[1, 1] * z, z], -1)
    Tn = _tensor(T_world_cam_next)
    p_world = p_cam @ Tn[:3, :3].T + Tn[:3, 3]
    if T_prev_next_obj:
        if labels_next is None:
            raise ValueError("object motion given without labels_next [H, W]")
        lab = _tensor(labels_next, torch.int64)
        if tuple(lab.shape) != (H, W):
            raise ValueError(f"labels_next must be [H, W] = {(H, W)}, got {tuple(lab.shape)}")
        for label, M in T_prev_next_obj.items():
            M = _tensor(M)
            sel = lab == int(label)
            p_world[sel] = p_world[sel] @ M[:3, :3].T + M[:3, 3]
    T_cam_world_prev = torch.linalg.inv(_tensor(T_world_cam_prev))
    p_prev = p_world @ T_cam_world_prev[:3, :3].T + T_cam_world_prev[:3, 3]
    zp = p_prev[..., 2]
    front = zp > 1e-6
    zs = torch.where(front, zp, torch.ones_like(zp))
    uv = torch.stack([K[0, 0] * p_prev[..., 0] / zs + K[0, 2],
                      K[1, 1] * p_prev[..., 1] / zs + K[1, 2]], -1)
    valid = has & front
    uv[~valid] = torch.nan
    if depth_prev is not None:
        dp = _tensor(depth_prev)
        if tuple(dp.shape) != (H, W):
            raise ValueError(f"depth_prev must be [H, W] = {(H, W)}, got {tuple(dp.shape)}")
        dp = torch.where(torch.isfinite(dp) & (dp > 0), dp, torch.zeros_like(dp))
        seen, inside = bilinear_sample(dp[..., None], uv)
        valid &= inside & ((seen[..., 0] - zp).abs() < tol_m + tol_rel * zp)
    return uv, valid


def iter_motion_correspondences(depths, K, T_world_cam, labels=None,
                                T_world_obj: dict | None = None, tol_m: float = 0.02,
                                tol_rel: float = 0.02) -> Iterator[tuple[Tensor, Tensor]]:
    """:func:`motion_correspondences` one pair (t, t+1) at a time: yields (uv_prev float64
    [H, W, 2], valid bool [H, W]) for t = 0 .. T-2, so that memory holds one pair's maps. The
    inputs are checked before the first pair."""
    d = _tensor(depths)
    if d.dim() != 3 or d.shape[0] < 2:
        raise ValueError(f"depths must be [T, H, W] with T >= 2, got {tuple(d.shape)}")
    T = d.shape[0]
    P = _poses(T_world_cam, T, "T_world_cam")
    objs = {}
    for label, poses in (T_world_obj or {}).items():
        objs[label] = _poses(poses, T, f"T_world_obj[{label}]")
    if objs and labels is None:
        raise ValueError("object poses given without labels [T, H, W]")
    lab = None if labels is None else _tensor(labels, torch.int64)
    if lab is not None and tuple(lab.shape) != tuple(d.shape):
        raise ValueError(f"labels must be [T, H, W] = {tuple(d.shape)}, got {tuple(lab.shape)}")
    return _pairs(d, K, P, lab, objs, tol_m, tol_rel)


def _pairs(d, K, P, lab, objs, tol_m, tol_rel) -> Iterator[tuple[Tensor, Tensor]]:
    for t in range(d.shape[0] - 1):
        motion = {label: p[t] @ torch.linalg.inv(p[t + 1]) for label, p in objs.items()}
        yield pair_correspondences(d[t + 1], K, P[t], P[t + 1],
                                   None if lab is None else lab[t + 1], motion,
                                   depth_prev=d[t], tol_m=tol_m, tol_rel=tol_rel)


def motion_correspondences(depths, K, T_world_cam, labels=None,
                           T_world_obj: dict | None = None, tol_m: float = 0.02,
                           tol_rel: float = 0.02) -> tuple[Tensor, Tensor]:
    """Correspondence maps of a whole sequence with known motion.

    ``depths`` [T, H, W] z-depth in metres; ``K`` [3, 3]; ``T_world_cam`` [T, 4, 4] (or
    [4, 4]: a fixed camera); ``labels`` [T, H, W] int and ``T_world_obj`` {label: [T, 4, 4]}
    object-to-world poses per frame (pixels of other labels are static in the world).
    Returns (uv_prev float64 [T-1, H, W, 2], valid bool [T-1, H, W]) for :func:`warp_error`,
    with the occlusion test of :func:`pair_correspondences` against frame t's depth."""
    pairs = list(iter_motion_correspondences(depths, K, T_world_cam, labels, T_world_obj,
                                             tol_m, tol_rel))
    return torch.stack([uv for uv, _ in pairs]), torch.stack([ok for _, ok in pairs])
