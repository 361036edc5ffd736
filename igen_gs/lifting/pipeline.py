"""``lift``: one RGB(-D) photo -> a per-object Gaussian :class:`~igen_gs.Scene` in metres.

Pipeline (all in the input camera's frame, then moved to the world frame):

1. inputs: image, depth (given, or estimated by a depth model), intrinsics, object masks
   (given, or from prompts through the segmentation front end);
2. one Gaussian per stride-s pixel (:mod:`.geometry`), camera-facing across depth steps;
   pixels on a 1-px ring at mask boundaries are dropped (mixed colours);
3. the support plane (table): RANSAC on background points near the objects (or all of them);
4. background completion under the objects and a mirrored back side per object
   (:mod:`.complete`); statistical outlier removal on the object points (open3d);
5. object frames: origin at the object's bottom centre on the support plane, z along the
   plane normal ("up"), x along the camera's x axis projected onto the plane;
6. colour refinement: a few fixed-point steps that make the re-rendered input view match the
   photo (the splats' blur otherwise costs a few dB).

World frame: the input camera's (OpenCV, y down) unless ``T_world_cam`` is given.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import Any

import numpy as np
import torch

from ..scene import frames
from ..scene.camera import Camera
from ..scene.field import GaussianField, rgb_to_sh_dc, sh_dc_to_rgb
from ..scene.scene import Scene, check_object_name
from .complete import complete_background, dilate, inpaint_telea, mirror_back_side
from .config import LiftConfig
from .geometry import depth_normals, discontinuities, pixel_rays, surface_gaussians
from .inputs import load_depth, load_image, load_masks, make_K
from .support import fit_plane_ransac, orient_towards, transform_plane

log = logging.getLogger(__name__)


def _statistical_outliers(points: np.ndarray, k: int, std_ratio: float) -> np.ndarray:
    """Keep-mask of open3d's statistical outlier removal."""
    if k <= 0 or len(points) <= k:
        return np.ones(len(points), dtype=bool)
    import open3d as o3d

    pc = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    _, idx = pc.remove_statistical_outlier(nb_neighbors=k, std_ratio=std_ratio)
    keep = np.zeros(len(points), dtype=bool)
    keep[np.asarray(idx, dtype=np.int64)] = True
    return keep


def _object_frame(points_cam: np.ndarray, plane: np.ndarray) -> np.ndarray:
    """T_cam_obj: origin at the points' centroid dropped onto the plane, z = plane normal,
    x = camera x projected onto the plane."""
    n = plane[:3] / np.linalg.norm(plane[:3])
    c = points_cam.mean(0)
    origin = c - (c @ n + plane[3]) * n
    x = np.array([1.0, 0.0, 0.0]) - n[0] * n
    if np.linalg.norm(x) < 1e-6:
        x = np.array([0.0, 0.0, 1.0]) - n[2] * n
    x /= np.linalg.norm(x)
    y = np.cross(n, x)
    T = np.eye(4)
    T[:3, :3] = np.stack([x, y, n], 1)
    T[:3, 3] = origin
    return T


def _refine_colours(field: GaussianField, pix: np.ndarray, target: np.ndarray, cam: Camera,
                    iterations: int, backend: str, step: float = 0.8) -> GaussianField:
    """Fixed-point colour refinement: c <- c + step (photo - render) at each Gaussian's own
    pixel.
    ``pix`` [N] is the flat pixel index of each Gaussian (-1 for none)."""
    from ..render import rasterization
    from ..scene.camera import stack_cameras

    if iterations <= 0:
        return field
    viewmats, Ks, w, h = stack_cameras(cam)
    has = pix >= 0
    idx = torch.from_numpy(pix[has])
    tgt = torch.from_numpy(target.reshape(-1, 3)).float() / 255.0
    rgb = sh_dc_to_rgb(field.sh[:, 0])
    for _ in range(iterations):
        with torch.no_grad():
            img, _, _ = rasterization(field.means, field.quats, field.scales, field.opacities,
                                      rgb.clamp_min(0.0), viewmats, Ks, w, h, backend=backend,
                                      return_meta=False)
        resid = tgt - img[0].reshape(-1, 3)
        # Damped: neighbouring Gaussians are corrected at the same time and also cover this
        # pixel, so a full step overshoots.
        rgb[has] = (rgb[has] + step * resid[idx]).clamp(-0.5, 1.5)
    sh = field.sh.clone()
    sh[:, 0] = rgb_to_sh_dc(rgb.clamp(0.0, 1.0))
    return GaussianField(field.means, field.quats, field.scales, field.opacities, sh)


def lift(image, depth=None, K=None, masks: Mapping[str, Any] | None = None,
         prompts: Mapping[str, Any] | None = None, T_world_cam=None,
         config: LiftConfig | None = None, depth_model=None, segmenter=None,
         inpaint: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
         **options) -> Scene:
    """Lift one photo into a :class:`~igen_gs.Scene`.

    Args:
        image: uint8 [H, W, 3] (or float in [0, 1]) or a path.
        depth: [H, W] metres (0/NaN = missing), or a path (16-bit PNG scaled by
            ``config.depth_scale``, .npy, .exr). None: estimated by ``depth_model`` (a
            :class:`igen_gs.lifting.models.depth.DepthModelConfig`, default Depth Anything V2).
        K: intrinsics 3x3 or (fx, fy, cx, cy) in pixels; None: from the depth model if it
            predicts them, else a 60 degree vertical field of view.
        masks: name -> bool [H, W] or PNG path, one per object.
        prompts: name -> {"points": [[x, y], ...], "labels": [1, ...]} or {"box": [x0, y0,
            x1, y1]}; segmented by ``segmenter`` (a
            :class:`igen_gs.lifting.models.segment.SegmentConfig`; default GrabCut, offline).
        T_world_cam: the input camera's pose [4, 4]; None: world = camera frame.
        config / options: :class:`LiftConfig` (keyword options override its fields).
        inpaint: colour inpainting (rgb uint8 [H, W, 3], region bool [H, W]) -> rgb; None:
            OpenCV's Telea method.

    Returns the scene; ``scene.camera`` is the input view, ``scene.support_plane`` the table
    (normal pointing to the camera's side), ``scene.meta["lift"]`` what was done.
    """
    t0 = time.perf_counter()
    cfg = config or LiftConfig()
    if options:
        unknown = set(options) - set(LiftConfig.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown lift option(s): {', '.join(sorted(unknown))}")
        cfg = LiftConfig(**{**asdict(cfg), **options})
    if cfg.stride < 1:
        raise ValueError(f"stride must be >= 1, got {cfg.stride}")
    T_wc = torch.eye(4, dtype=torch.float64) if T_world_cam is None else frames.as_rigid(
        T_world_cam, name="T_world_cam")
    rgb = load_image(image)
    H, W = rgb.shape[:2]
    meta: dict[str, Any] = {"config": asdict(cfg)}

    predicted_K = None
    if depth is None:
        from .models.depth import DepthModelConfig, estimate_depth

        est = estimate_depth(rgb, depth_model or DepthModelConfig())
        predicted_K = est.K
        d = est.depth
        meta["depth"] = {"source": est.model, "metric": est.is_metric}
        if not est.is_metric:
            raise ValueError(f"depth model {est.model} predicts relative depth; give metric "
                             "depth or a metric model (scale sources: "
                             "igen_gs.lifting.models.depth.scale_relative_depth)")
        depth_m = load_depth(d, (H, W))
    else:
        depth_m = load_depth(depth, (H, W), scale=cfg.depth_scale)
        meta["depth"] = {"source": "given"}
    Kmat, k_source = make_K(K, W, H, predicted_K)
    meta["intrinsics"] = k_source
    obj_masks = load_masks(masks, (H, W))
    if prompts:
        from .models.segment import SegmentConfig, segment_objects

        seg = segment_objects(rgb, prompts, segmenter or SegmentConfig())
        clash = set(seg) & set(obj_masks)
        if clash:
            raise ValueError(f"objects given both a mask and a prompt: {', '.join(sorted(clash))}")
        obj_masks.update(load_masks(seg, (H, W)))
    for name in obj_masks:
        check_object_name(name)

    # -- per-pixel geometry
    rays = pixel_rays(Kmat, H, W)
    valid = depth_m > 0
    P = rays * depth_m[..., None]
    edge = discontinuities(depth_m, cfg.edge_abs_m, cfg.edge_rel)
    normals, normal_ok = depth_normals(P, valid & ~edge)
    facing = -rays / np.linalg.norm(rays, axis=-1, keepdims=True)
    normals = np.where((normal_ok & ~edge)[..., None], normals, facing)
    f = 0.5 * (Kmat[0, 0] + Kmat[1, 1])
    s = cfg.stride
    grid = np.zeros((H, W), dtype=bool)
    grid[s // 2::s, s // 2::s] = True

    ring = np.zeros((H, W), dtype=bool)
    owner = np.full((H, W), -1, dtype=np.int64)
    names = list(obj_masks)
    for i, name in enumerate(names):
        m = obj_masks[name]
        ring |= dilate(m, cfg.mask_edge_px) & ~m  # outer ring
        ring |= m & dilate(~m, cfg.mask_edge_px)  # inner ring
        owner[m & (owner < 0)] = i
    keep_px = valid & grid & ~ring
    # Gaussians of the photo's own pixels, per owner.
    fields: dict[str, GaussianField] = {}
    pix_of: dict[str, np.ndarray] = {}
    flat = np.arange(H * W).reshape(H, W)

    def gaussians_at(sel: np.ndarray, depth_src: np.ndarray, colours: np.ndarray,
                     nrm: np.ndarray) -> GaussianField:
        fp = cfg.footprint_scale * s * depth_src[sel] / f
        return surface_gaussians(rays[sel] * depth_src[sel][:, None], nrm[sel],
                                 colours[sel].astype(np.float32) / 255.0, fp, cfg.thickness,
                                 opacity=cfg.opacity)

    bg_sel = keep_px & (owner < 0)
    if bg_sel.sum() < 100:
        raise ValueError("the background has fewer than 100 valid depth pixels outside the "
                         "object masks; cannot lift it")

    # -- support plane: near the objects if there are any, else the dominant plane
    near_objects = np.zeros((H, W), dtype=bool)
    for m in obj_masks.values():
        near_objects |= dilate(m, 40)
    plane_src = (near_objects & bg_sel) if near_objects.any() else bg_sel
    if plane_src.sum() < 200:
        plane_src = bg_sel
    plane, inl = fit_plane_ransac(P[plane_src], cfg.plane_threshold_m, seed=cfg.seed)
    plane = orient_towards(plane, np.zeros(3))
    meta["support_plane_inlier_fraction"] = float(inl.mean())

    # -- background (+ completion under the objects)
    bg = gaussians_at(bg_sel, depth_m, rgb, normals)
    bg_pix = flat[bg_sel]
    parts, pix_parts = [bg], [bg_pix]
    if cfg.complete_background and obj_masks:
        rgb_f, depth_f, region, info = complete_background(
            rgb, depth_m, rays, obj_masks, plane, valid & (owner < 0) & ~ring,
            plane_threshold=cfg.plane_threshold_m, seed=cfg.seed,
            inpaint=inpaint or inpaint_telea)
        plane_normal = np.broadcast_to(plane[:3], normals.shape)
        fill_sel = region & grid & (depth_f > 0) & ~bg_sel
        parts.append(gaussians_at(fill_sel, depth_f, rgb_f, plane_normal))
        pix_parts.append(np.full(int(fill_sel.sum()), -1))
        meta["background_completion"] = info
    background = GaussianField.concat(parts)
    bg_pix_all = np.concatenate(pix_parts)

    # -- objects
    completion_info = {}
    for i, name in enumerate(names):
        sel = keep_px & (owner == i)
        if sel.sum() < cfg.min_object_pixels:
            raise ValueError(f"object {name!r} has only {int(sel.sum())} pixels with valid depth "
                             f"inside its mask; need >= {cfg.min_object_pixels}")
        pts = P[sel]
        keep = _statistical_outliers(pts, cfg.outlier_neighbors, cfg.outlier_std)
        sel_idx = np.flatnonzero(sel.ravel())[keep]
        sel2 = np.zeros(H * W, dtype=bool)
        sel2[sel_idx] = True
        sel2 = sel2.reshape(H, W)
        front = gaussians_at(sel2, depth_m, rgb, normals)
        obj_parts, obj_pix = [front], [flat[sel2]]
        if cfg.complete_objects:
            back_p, back_n, kept, info = mirror_back_side(P[sel2], normals[sel2], plane[:3],
                                                           plane)
            back_p, back_n = back_p[kept], back_n[kept]
            # Mirrored normals face away from the camera; the footprint keeps the front's.
            fp = cfg.footprint_scale * s * depth_m[sel2][kept] / f
            cols = rgb[sel2][kept].astype(np.float32) / 255.0
            obj_parts.append(surface_gaussians(back_p, back_n, cols, fp, cfg.thickness,
                                               opacity=cfg.opacity))
            obj_pix.append(np.full(len(back_p), -1))
            completion_info[name] = info
        fields[name] = GaussianField.concat(obj_parts)
        pix_of[name] = np.concatenate(obj_pix)
    if completion_info:
        meta["object_completion"] = completion_info

    # -- object frames and the world frame
    T_world_camera = T_wc.numpy()
    objects, poses = {}, {}
    for name in names:
        T_cam_obj = _object_frame(fields[name].means.double().numpy(), plane)
        T_obj_cam = frames.invert_T(torch.from_numpy(T_cam_obj))
        objects[name] = fields[name].transform(T_obj_cam)
        poses[name] = T_wc @ torch.from_numpy(T_cam_obj)
    background = background.transform(T_wc)
    plane_world = transform_plane(plane, T_world_camera)
    camera = Camera(torch.from_numpy(Kmat), T_wc, W, H, "photo")
    scene = Scene(background, objects, poses, camera=camera,
                  support_plane=torch.from_numpy(plane_world), meta={"lift": meta})

    # -- colour refinement on the final scene as Scene.render composes it: Gaussians of one
    # surface often share a depth exactly (integer-millimetre sensors), and their blending
    # order then follows the composition order, which the refined colours are tuned for.
    if cfg.refine_iterations > 0:
        everything, _ = scene.compose()
        pix_all = np.concatenate([bg_pix_all, *pix_of.values()])
        refined = _refine_colours(everything, pix_all, rgb, camera, cfg.refine_iterations,
                                  cfg.backend, cfg.refine_step)
        sizes = [len(background)] + [len(objects[n]) for n in names]
        offsets = np.cumsum([0] + sizes)
        scene.background.sh = refined.sh[offsets[0]:offsets[1]].clone()
        for i, name in enumerate(names):
            scene.objects[name].sh = refined.sh[offsets[i + 1]:offsets[i + 2]].clone()
    meta["seconds"] = time.perf_counter() - t0
    meta["num_gaussians"] = {"background": len(background),
                             **{n: len(f) for n, f in objects.items()}}
    log.info("lifted %dx%d photo into %d Gaussians in %.2f s", W, H,
             sum(meta["num_gaussians"].values()), meta["seconds"])
    return scene
