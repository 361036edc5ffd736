"""Shared by bench_lift.py and bench_nvs.py: novel-view scoring on real RGB-D frames against two
baselines computed on the same pixels.

For a source frame i and a target frame j (camera-to-world poses, metric depth):

* "lift": igen_gs.lift(frame i with its depth) rendered at camera j;
* "copy": frame i's image as the prediction for frame j;
* "warp": frame i's pixels unprojected with their depth and splatted into camera j with a
  z-buffer (nearest pixel, nearest depth wins); pixels nothing lands on stay black.

Scores are on the target's pixels with valid depth ("valid"), and on the subset of those that
frame i saw ("seen": the target pixel's 3D point projects into frame i's image with a depth
within 5 cm + 5 % of frame i's depth there). Coverage = fraction of pixels the method draws
(alpha > 0.5 for lift; a splat landed for warp; always 1 for copy).
"""

from __future__ import annotations

import numpy as np
import torch

from igen_gs.metrics import psnr, ssim


def project(points_world: np.ndarray, K: np.ndarray, T_world_cam: np.ndarray):
    T = np.linalg.inv(T_world_cam)
    p = points_world @ T[:3, :3].T + T[:3, 3]
    z = p[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = K[0, 0] * p[:, 0] / z + K[0, 2]
        v = K[1, 1] * p[:, 1] / z + K[1, 2]
    return u, v, z


def unproject(depth: np.ndarray, K: np.ndarray, T_world_cam: np.ndarray):
    H, W = depth.shape
    v, u = np.nonzero(depth > 0)
    z = depth[v, u].astype(np.float64)
    x = (u + 0.5 - K[0, 2]) / K[0, 0] * z
    y = (v + 0.5 - K[1, 2]) / K[1, 1] * z
    pc = np.stack([x, y, z], 1)
    return pc @ T_world_cam[:3, :3].T + T_world_cam[:3, 3], v, u


def point_warp(rgb: np.ndarray, depth: np.ndarray, K: np.ndarray, T_src: np.ndarray,
               K_dst: np.ndarray, T_dst: np.ndarray, H: int, W: int):
    """Z-buffered forward warp: (image [H, W, 3] float, hit mask [H, W])."""
    pts, v, u = unproject(depth, K, T_src)
    uu, vv, z = project(pts, K_dst, T_dst)
    ok = (z > 0.01) & np.isfinite(uu) & np.isfinite(vv)
    x = np.floor(uu[ok]).astype(np.int64)
    y = np.floor(vv[ok]).astype(np.int64)
    zz = z[ok]
    col = rgb[v[ok], u[ok]].astype(np.float64) / 255.0
    inside = (x >= 0) & (x < W) & (y >= 0) & (y < H)
    x, y, zz, col = x[inside], y[inside], zz[inside], col[inside]
    order = np.argsort(-zz)  # far first, so near ones overwrite
    img = np.zeros((H, W, 3))
    hit = np.zeros((H, W), dtype=bool)
    img[y[order], x[order]] = col[order]
    hit[y[order], x[order]] = True
    return img, hit


def seen_mask(depth_dst: np.ndarray, K_dst: np.ndarray, T_dst: np.ndarray,
              depth_src: np.ndarray, K_src: np.ndarray, T_src: np.ndarray) -> np.ndarray:
    """Target pixels whose 3D point frame i saw (see the module docstring)."""
    H, W = depth_dst.shape
    pts, v, u = unproject(depth_dst, K_dst, T_dst)
    uu, vv, z = project(pts, K_src, T_src)
    x = np.floor(uu).astype(np.int64)
    y = np.floor(vv).astype(np.int64)
    inside = (z > 0) & (x >= 0) & (x < depth_src.shape[1]) & (y >= 0) & (y < depth_src.shape[0])
    ds = np.zeros_like(z)
    ds[inside] = depth_src[y[inside], x[inside]]
    ok = inside & (ds > 0) & (np.abs(ds - z) < 0.05 + 0.05 * ds)
    out = np.zeros((H, W), dtype=bool)
    out[v[ok], u[ok]] = True
    return out


def score(pred: np.ndarray, target: np.ndarray, drawn: np.ndarray, valid: np.ndarray,
          seen: np.ndarray) -> dict:
    out = {}
    for name, m in (("valid", valid), ("seen", seen)):
        if m.sum() < 100:
            continue
        out[f"psnr_{name}"] = psnr(pred, target, m)
        out[f"ssim_{name}"] = ssim(pred, target, m)
        out[f"coverage_{name}"] = float(drawn[m].mean())
    return out


def render_scene(scene, K: np.ndarray, T_world_cam: np.ndarray, W: int, H: int):
    from igen_gs import Camera

    cam = Camera(torch.from_numpy(K), torch.from_numpy(T_world_cam), W, H)
    out = scene.render(cam, labels=False)
    return out["rgb"][0].clamp(0, 1).numpy().astype(np.float64), out["alpha"][0].numpy() > 0.5


def score_pair(scene, fi, fj, fill=None, extra=None) -> dict[str, dict]:
    """Frame i lifted into ``scene``, scored at frame j's camera against frame j (RGBDFrame
    records): method -> :func:`score` for "lift" (the render as it is), "copy" (frame i
    itself) and "warp" (z-buffered point warp of frame i), all on the same pixels; with
    ``fill(rgb uint8, holes bool) -> rgb uint8`` also "lift+fill" (holes inpainted, coverage 1).
    ``extra(img, target, valid, seen) -> dict`` adds more numbers to each method's scores."""
    H, W = fi.depth.shape
    target = fj.rgb / 255.0
    valid = fj.depth > 0
    seen = seen_mask(fj.depth, fj.K, fj.T_world_cam, fi.depth, fi.K, fi.T_world_cam)
    pred, drawn = render_scene(scene, fj.K, fj.T_world_cam, W, H)
    warp, hit = point_warp(fi.rgb, fi.depth, fi.K, fi.T_world_cam, fj.K, fj.T_world_cam, H, W)
    methods = {"lift": (pred, drawn)}
    if fill is not None:
        filled = fill((pred * 255).round().astype(np.uint8), ~drawn) / 255.0
        methods["lift+fill"] = (filled, np.ones_like(valid))
    methods["copy"] = (fi.rgb / 255.0, np.ones_like(valid))
    methods["warp"] = (warp, hit)
    out = {}
    for name, (img, cov) in methods.items():
        out[name] = score(img, target, cov, valid, seen)
        if extra is not None:
            out[name].update(extra(img, target, valid, seen))
    return out
