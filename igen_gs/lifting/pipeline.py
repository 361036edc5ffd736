"""``lift``: one RGB(-D) photo -> a per-object Gaussian :class:`~igen_gs.Scene` in metres.

Pipeline (computed in the input camera's frame, then expressed in the world frame):

1. inputs (:mod:`.inputs`): image, object masks (given, or from prompts through the
   segmentation front end), intrinsics, depth (given, or from a depth model; relative
   predictions are scaled by an explicit source: sparse metric depth, a camera height above
   the table, or an object of known width);
2. one Gaussian per stride-s pixel (:mod:`.geometry`): flat discs in the surface plane sized
   by the pixel footprint, normals from same-side neighbours at depth discontinuities; a ring of
   ``mask_edge_px`` pixels on both sides of every mask boundary is dropped (mixed colours);
3. the support plane (table): seeded RANSAC on background points near the objects (or on all
   of them), normal turned towards the camera (:mod:`.support`);
4. statistical outlier removal on each object's points (open3d); background completion under
   the objects, and a back side per object (its visible front turned half a turn about its
   vertical axis, sides and bottom closed) (:mod:`.complete`);
5. object frames: origin at the object's bottom centre -- the centroid of its (completed)
   points dropped onto the support plane --, z along the plane normal ("up", gravity-aligned
   when the table is level), x along the camera's x axis projected onto the plane;
6. colour refinement: a few damped fixed-point steps that make the re-rendered input view match
   the photo (the overlap of neighbouring splats otherwise blurs it by a few dB).

World frame: the input camera's (OpenCV: x right, y down, z forward) unless ``T_world_cam``
is given.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..scene import frames
from ..scene.camera import Camera
from ..scene.field import GaussianField, rgb_to_sh_dc, sh_dc_to_rgb
from ..scene.scene import Scene, check_object_name
from .complete import (
    back_side,
    complete_background,
    completion_frame,
    dilate,
    inpaint_telea,
    skirt,
    sweep_sides,
)
from .config import LiftConfig
from .geometry import (
    Splats,
    depth_normals,
    discontinuities,
    occludes_observed,
    pixel_rays,
    shift,
    surface_splats,
)
from .inputs import load_depth, load_image, load_masks, make_K
from .support import fit_plane_ransac, orient_towards, transform_plane

log = logging.getLogger(__name__)


def statistical_inliers(points: np.ndarray, k: int, std_ratio: float) -> np.ndarray:
    """Keep-mask [N] of open3d's statistical outlier removal: a point is dropped when its mean
    distance to its ``k`` nearest neighbours exceeds the mean of that quantity over all points
    by more than ``std_ratio`` standard deviations. ``k`` <= 0 keeps everything."""
    if k <= 0 or len(points) <= k:
        return np.ones(len(points), dtype=bool)
    import open3d as o3d

    pc = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.asarray(points, np.float64)))
    _, idx = pc.remove_statistical_outlier(nb_neighbors=k, std_ratio=std_ratio)
    keep = np.zeros(len(points), dtype=bool)
    keep[np.asarray(idx, dtype=np.int64)] = True
    return keep


def tie_break_offsets(height: int, width: int, step_m: float) -> np.ndarray:
    """Depth offsets [H, W] (metres): ``step_m`` times (u mod 2) + 2 (v mod 2), so that every
    pixel's depth differs from its 8 neighbours'. Depth sensors quantise (Kinect: whole
    millimetres), so neighbouring splats of one surface often share a depth exactly; their
    blending order is then decided by floating-point noise of the view, and the refined colours
    (tuned for one order) would not survive a change of the view by 1e-5 rad."""
    v, u = np.mgrid[0:height, 0:width]
    return (step_m * ((u % 2) + 2 * (v % 2))).astype(np.float32)


def object_frame(points_cam: np.ndarray, plane: np.ndarray) -> np.ndarray:
    """T_cam_obj [4, 4] for an object's camera-frame points [M, 3] standing on ``plane``
    (normal towards the camera): origin at the points' centroid dropped onto the plane, z =
    plane normal, x = the camera's x axis projected onto the plane (its z axis if the camera
    x axis is normal to the plane)."""
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


def refine_colours(field: GaussianField, pix: np.ndarray, target: np.ndarray, cam: Camera,
                   iterations: int, step: float = 0.8, backend: str = "auto") -> torch.Tensor:
    """Colours [N, 3] of ``field`` corrected against the photo ``target`` (uint8 [H, W, 3])
    seen by ``cam``: ``c <- c + step * (photo - render)`` at each Gaussian's own pixel
    (``pix`` [N], flat index, -1 = none: left unchanged), ``iterations`` times.

    The step is damped because neighbouring Gaussians, corrected at the same time, also cover
    each pixel: a full step overshoots.
    """
    from ..render import rasterization
    from ..scene.camera import stack_cameras

    rgb = sh_dc_to_rgb(field.sh[:, 0]).clone()
    if iterations <= 0:
        return rgb
    viewmats, Ks, w, h = stack_cameras(cam)
    own = torch.from_numpy(np.flatnonzero(pix >= 0))
    idx = torch.from_numpy(pix[pix >= 0])
    tgt = (torch.from_numpy(target.reshape(-1, 3)).float() / 255.0)[idx]
    for _ in range(iterations):
        with torch.no_grad():
            img, _, _ = rasterization(field.means, field.quats, field.scales, field.opacities,
                                      rgb.clamp_min(0.0), viewmats, Ks, w, h, backend=backend,
                                      return_meta=False)
        resid = tgt - img[0].reshape(-1, 3)[idx]
        rgb[own] = (rgb[own] + step * resid).clamp(-0.5, 1.5)
    return rgb.clamp(0.0, 1.0)


def _depth_from_model(rgb: np.ndarray, depth, K, masks: dict[str, np.ndarray],
                      cfg: LiftConfig, depth_model) -> tuple[np.ndarray, np.ndarray | None, dict]:
    """Dense metric depth [H, W] from a depth model (see :func:`lift`); returns (depth,
    predicted K or None, provenance)."""
    from .models.depth import DepthModelConfig, estimate_depth, scale_relative_depth

    H, W = rgb.shape[:2]
    sparse = None
    if cfg.depth_is_sparse:
        if depth is None:
            raise ValueError("depth_is_sparse is set but no depth was given")
        sparse = load_depth(depth, (H, W), scale=cfg.depth_scale, min_valid=10,
                            name=None if isinstance(depth, (str, Path)) else "sparse depth")
    known = cfg.known_object_width
    sources = [s for s, given in (("sparse depth", sparse is not None),
                                  ("camera_height_m", cfg.camera_height_m is not None),
                                  ("known_object_width", known is not None)) if given]
    if len(sources) > 1:
        raise ValueError(f"give at most one depth scale source, got {', '.join(sources)}")
    if known is not None and known[0] not in masks:
        raise ValueError(f"known_object_width names {known[0]!r}, which has no mask or prompt "
                         f"(objects: {', '.join(masks) or 'none'})")
    est = estimate_depth(rgb, depth_model or DepthModelConfig())
    info: dict[str, Any] = {"source": est.model, "metric": bool(est.is_metric)}
    if est.is_metric:
        d = est.depth.astype(np.float64)
        if sparse is not None:
            ok = (sparse > 0) & (d > 0)
            scale = float(np.median(sparse[ok] / d[ok])) if ok.sum() >= 10 else float("nan")
            if not np.isfinite(scale) or scale <= 0:
                raise ValueError("sparse depth does not overlap the predicted depth in >= 10 "
                                 "pixels: cannot scale it")
            d = d * scale
            info["scale_source"] = f"sparse metric depth ({int(ok.sum())} values), x{scale:.4f}"
        elif sources:
            raise ValueError(f"{sources[0]} scales relative depth, but {est.model} predicts "
                             "metric depth")
        return d.astype(np.float32), est.K, info
    if not sources:
        raise ValueError(f"depth model {est.model} predicts relative depth: give a scale source "
                         "(sparse depth with depth_is_sparse, camera_height_m, or "
                         "known_object_width) or metric depth")
    Kmat = make_K(K, W, H, est.K)[0]
    if sparse is not None:
        d, how = scale_relative_depth(est.depth, sparse_metric_depth=sparse)
    elif cfg.camera_height_m is not None:
        d, how = scale_relative_depth(est.depth, camera_height=(cfg.camera_height_m, Kmat))
    else:
        name, width = known
        d, how = scale_relative_depth(est.depth, known_object=(masks[name], width, Kmat))
    info["scale_source"] = how
    return d, est.K, info


def _object_back(front: Splats, normals: np.ndarray, sides: np.ndarray, bottom: np.ndarray,
                 plane: np.ndarray, K: np.ndarray, depth: np.ndarray, cfg: LiftConfig
                 ) -> tuple[Splats, dict]:
    """The completed, unseen part of one object (camera frame, :mod:`.complete`): a skirt from
    its ``bottom`` silhouette down to the support plane, the front and skirt turned half a turn
    about the object's vertical axis, and the left/right silhouette (``sides``) swept back --
    minus the points the photo contradicts. ``normals`` [M], ``sides`` and ``bottom`` [M]
    (bool) belong to ``front``'s points."""
    fp = front.scales[:, 1]  # in-plane footprint size
    pixel = float(np.median(fp)) / (cfg.footprint_scale * cfg.stride)  # metres per pixel
    cf = completion_frame(front.points, normals, plane[:3], pad=cfg.mask_edge_px * pixel)
    if max(cf.depth, cf.width) > cfg.max_complete_m:
        return front.subset(np.zeros(len(front), dtype=bool)), {
            "depth_m": cf.depth, "width_m": cf.width,
            "skipped": f"larger than max_complete_m = {cfg.max_complete_m} m"}
    skirt_p, skirt_n, skirt_src = skirt(front.points[bottom], normals[bottom], fp[bottom], plane)
    skirt_src = np.flatnonzero(bottom)[skirt_src]
    base_src = np.concatenate([np.arange(len(front)), skirt_src])
    cf_base = replace(cf, top=np.concatenate([cf.top, np.zeros(len(skirt_p), dtype=bool)]))
    back_p, back_n, kept = back_side(np.concatenate([front.points, skirt_p]),
                                     np.concatenate([normals, skirt_n]), cf_base, plane)
    side_p, side_n, side_src = sweep_sides(front.points[sides], normals[sides], fp[sides], cf)
    side_src = np.flatnonzero(sides)[side_src]
    pts = np.concatenate([skirt_p, back_p, side_p])
    nrm = np.concatenate([skirt_n, back_n, side_n])
    srcs = np.concatenate([skirt_src, base_src, side_src])
    keep = np.concatenate([np.ones(len(skirt_p), dtype=bool), kept,
                           side_p @ plane[:3] + plane[3] > -1e-3])
    seen = occludes_observed(pts, K, depth, cfg.back_margin_m)
    info = {"depth_m": cf.depth, "depth_from": cf.depth_from, "width_m": cf.width,
            "skirt_points": len(skirt_p), "turned_points": int(kept.sum()),
            "side_points": len(side_p), "dropped_as_visible": int((keep & seen).sum())}
    keep &= ~seen
    back = surface_splats(pts[keep], nrm[keep], front.rgb[srcs[keep]], fp[srcs[keep]],
                          np.full(int(keep.sum()), -1), cfg.thickness, cfg.max_stretch)
    return back, info


def _erase_masks(rgb: np.ndarray, erase, erase_prompts, segmenter, shape: tuple[int, int]
                 ) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Erase masks (name -> bool [H, W]) from arrays/paths and from prompts, and each one's
    source ("mask", "grabcut mask", "sam mask")."""
    masks = load_masks(erase, shape, source="erase mask")
    sources = dict.fromkeys(masks, "mask")
    if erase_prompts is not None and not isinstance(erase_prompts, Mapping):
        raise ValueError(f"erase_prompts must be a dict name -> prompt, got "
                         f"{type(erase_prompts).__name__}")
    if erase_prompts:
        from .models.segment import SegmentConfig, segment_objects

        clash = set(erase_prompts) & set(masks)
        if clash:
            raise ValueError(f"erase names given both a mask and a prompt: "
                             f"{', '.join(sorted(clash))}")
        seg_cfg = segmenter or SegmentConfig()
        if seg_cfg.method == "auto":
            raise ValueError("erase prompts are segmented with GrabCut or SAM, not 'auto' "
                             "(give erase masks instead)")
        source = f"{seg_cfg.method} erase mask"
        masks.update(load_masks(segment_objects(rgb, erase_prompts, seg_cfg), shape,
                                source=source))
        sources.update(dict.fromkeys(erase_prompts, source))
    for name in masks:
        check_object_name(name)
    return masks, sources


def lift(image, depth=None, K=None, masks: Mapping[str, Any] | None = None,
         prompts: Mapping[str, Any] | None = None, T_world_cam=None,
         config: LiftConfig | None = None, depth_model=None, segmenter=None,
         inpaint: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
         erase: Mapping[str, Any] | None = None, erase_prompts: Mapping[str, Any] | None = None,
         **options) -> Scene:
    """Lift one photo into a :class:`~igen_gs.Scene` (metres).

    Args:
        image: uint8 [H, W, 3] (or float in [0, 1]) or a path (PNG/JPEG).
        depth: [H, W] metres (0/NaN = missing), or a path (16-bit PNG times
            ``config.depth_scale``, .npy in metres, .exr in metres). None: predicted by
            ``depth_model`` (a :class:`igen_gs.lifting.models.depth.DepthModelConfig`; default
            Depth Anything V2 metric indoor). With ``config.depth_is_sparse`` the given depth
            only sets the scale of the model's prediction.
        K: intrinsics 3x3 or (fx, fy, cx, cy) in pixels; None: from the depth model if it
            predicts them, else a centred camera with a 60 degree vertical field of view.
        masks: name -> bool [H, W] or a PNG path (nonzero = object), one per object.
        prompts: name -> {"points": [[x, y], ...], "labels": [1, ...]} and/or {"box": [x0, y0,
            x1, y1]} (pixels), segmented by ``segmenter`` (a
            :class:`igen_gs.lifting.models.segment.SegmentConfig`; default GrabCut, offline).
            With ``segmenter.method == "auto"`` and no prompts, segment-anything finds the
            objects ("object 1", ...); those mostly inside a given mask, or with fewer than
            ``min_object_pixels`` liftable pixels, are left out (they stay background).
        T_world_cam: the input camera's pose [4, 4]; None: world = the camera's frame.
        config, options: a :class:`LiftConfig`; keyword options override its fields.
        inpaint: colour inpainting ``(rgb uint8 [H, W, 3], region bool [H, W]) -> rgb``; None:
            OpenCV's Telea method.
        erase: name -> bool [H, W] or a PNG path: things in the photo that must not be in the
            scene (a robot, a person, clutter). Their pixels produce no Gaussians; the
            background behind them is inpainted (colour) and completed (depth, from local
            planes or the support plane) exactly as under lifted objects. Where an erase mask
            overlaps an object mask the object wins (those pixels stay the object's).
        erase_prompts: name -> prompt (as ``prompts``) for erase masks, segmented by
            ``segmenter`` (GrabCut or SAM). Erase names must differ from object names.

    Returns:
        The scene: ``background`` (world frame), ``objects[name]`` in object frames (origin at
        the object's bottom centre on the support plane, z up along its normal) with poses
        ``T_world_obj``, ``camera`` = the input view, ``support_plane`` (a, b, c, d) in the world
        frame with the normal pointing from the table towards the camera, and
        ``meta["lift"]``: inputs' provenance, thresholds, counts and timing, and under
        ``"erase"`` what was erased (per name: source, pixels given, pixels erased).

    Raises:
        ValueError / FileNotFoundError (one line, naming the input) for unreadable or
        inconsistent inputs: see :mod:`.inputs`.
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
    if cfg.depth_scale <= 0:
        raise ValueError(f"depth_scale must be positive, got {cfg.depth_scale}")
    T_wc = torch.eye(4, dtype=torch.float64) if T_world_cam is None else frames.as_rigid(
        T_world_cam, name="T_world_cam")
    rgb = load_image(image)
    H, W = rgb.shape[:2]
    meta: dict[str, Any] = {"config": asdict(cfg), "image_size": [W, H]}

    # -- masks (given and/or from prompts), intrinsics, depth
    obj_masks = load_masks(masks, (H, W))
    if prompts is not None and not isinstance(prompts, Mapping):
        raise ValueError(f"prompts must be a dict name -> prompt, got {type(prompts).__name__}")
    erase_masks, erase_sources = _erase_masks(rgb, erase, erase_prompts, segmenter, (H, W))
    auto_names: list[str] = []
    if prompts or getattr(segmenter, "method", None) == "auto":
        from .models.segment import SegmentConfig, segment_objects

        clash = set(prompts or {}) & set(obj_masks)
        if clash:
            raise ValueError(f"objects given both a mask and a prompt: {', '.join(sorted(clash))}")
        seg_cfg = segmenter or SegmentConfig()
        seg = segment_objects(rgb, prompts or None, seg_cfg)
        if seg_cfg.method == "auto":
            # Found objects that are mostly a given mask are that object.
            seg = {n: m for n, m in seg.items()
                   if not any((m & g).sum() > 0.5 * m.sum()
                              for g in (*obj_masks.values(), *erase_masks.values()))}
            clash = set(seg) & set(obj_masks)
            if clash:
                raise ValueError(f"mask names clash with automatic object names: "
                                 f"{', '.join(sorted(clash))}")
            auto_names = list(seg)
            meta["automatic_objects"] = auto_names
        obj_masks.update(load_masks(seg, (H, W), source=f"{seg_cfg.method} mask"))
        meta["segmentation"] = seg_cfg.method
    for name in obj_masks:
        check_object_name(name)
    clash = set(erase_masks) & set(obj_masks)
    if clash:
        raise ValueError(f"names used both for an object and for erasing: "
                         f"{', '.join(sorted(clash))}")
    predicted_K = None
    if depth is None or cfg.depth_is_sparse:
        depth_m, predicted_K, meta["depth"] = _depth_from_model(rgb, depth, K, obj_masks, cfg,
                                                                depth_model)
        depth_m = load_depth(depth_m, (H, W), name=f"depth predicted by {meta['depth']['source']}")
    else:
        if cfg.camera_height_m is not None or cfg.known_object_width is not None:
            raise ValueError("camera_height_m / known_object_width scale a depth model's "
                             "relative prediction; they cannot be used with a given depth map")
        depth_m = load_depth(depth, (H, W), scale=cfg.depth_scale)
        meta["depth"] = {"source": "given"}
    Kmat, meta["intrinsics"] = make_K(K, W, H, predicted_K)

    # -- per-pixel geometry (camera frame)
    rays = pixel_rays(Kmat, H, W)
    valid = depth_m > 0
    depth_m = np.where(valid, depth_m + tie_break_offsets(H, W, cfg.tie_break_m), 0.0)
    P = rays * depth_m[..., None]
    edge = discontinuities(depth_m, cfg.edge_abs_m, cfg.edge_rel)
    normals, normal_ok = depth_normals(P, depth_m, cfg.edge_abs_m, cfg.edge_rel)
    facing = -rays / np.linalg.norm(rays, axis=-1, keepdims=True)
    normals = np.where(normal_ok[..., None], normals, facing)
    f = 0.5 * (Kmat[0, 0] + Kmat[1, 1])
    s = cfg.stride
    grid = np.zeros((H, W), dtype=bool)
    grid[s // 2::s, s // 2::s] = True
    flat = np.arange(H * W).reshape(H, W)
    meta["depth_discontinuity_pixels"] = int(edge.sum())

    if auto_names:
        # Automatic masks too small to lift (after their edge ring, on the stride grid, with
        # valid depth, outside earlier masks) are not objects: they stay background.
        taken = np.zeros((H, W), dtype=bool)
        for name in list(obj_masks):
            m = obj_masks[name]
            inner = m & ~dilate(~m, cfg.mask_edge_px) & valid & grid & ~taken
            if name in auto_names and inner.sum() < cfg.min_object_pixels:
                del obj_masks[name]
            else:
                taken |= m
        meta["automatic_objects"] = [n for n in auto_names if n in obj_masks]
    names = list(obj_masks)
    ring = np.zeros((H, W), dtype=bool)
    owner = np.full((H, W), -1, dtype=np.int64)
    for i, name in enumerate(names):
        m = obj_masks[name]
        ring |= dilate(m, cfg.mask_edge_px) & ~m  # outer ring
        ring |= m & dilate(~m, cfg.mask_edge_px)  # inner ring
        owner[m & (owner < 0)] = i
    # Erased pixels: the erase masks less the objects' pixels (objects win); their outer ring
    # is dropped like an object's (mixed colours).
    erased = np.zeros((H, W), dtype=bool)
    if erase_masks:
        meta["erase"] = {}
        for name, m in erase_masks.items():
            e = m & (owner < 0)
            if not e.any():
                raise ValueError(f"erase mask {name!r} lies entirely inside object masks "
                                 "(objects win over erasing): nothing to erase")
            erase_masks[name] = e
            erased |= e
            ring |= dilate(e, cfg.mask_edge_px) & ~e
            meta["erase"][name] = {"source": erase_sources[name], "pixels": int(m.sum()),
                                   "erased_pixels": int(e.sum()),
                                   "left_to_objects": int((m & ~e).sum())}
    keep_px = valid & grid & ~ring

    def splats_at(sel: np.ndarray, depth_src: np.ndarray, colours: np.ndarray,
                  nrm: np.ndarray, pix: np.ndarray | None = None) -> Splats:
        z = depth_src[sel]
        return surface_splats(rays[sel] * z[:, None], nrm[sel],
                              colours[sel].astype(np.float32) / 255.0,
                              cfg.footprint_scale * s * z / f,
                              flat[sel] if pix is None else pix, cfg.thickness, cfg.max_stretch)

    bg_sel = keep_px & (owner < 0) & ~erased
    if bg_sel.sum() < 100:
        raise ValueError("the background has fewer than 100 valid depth pixels outside the "
                         "object and erase masks; cannot lift it")

    # -- support plane: near the objects if there are any, else the dominant plane
    near_objects = np.zeros((H, W), dtype=bool)
    for m in obj_masks.values():
        near_objects |= dilate(m, cfg.support_ring_px)
    plane_src = near_objects & bg_sel
    if plane_src.sum() < 200:
        plane_src = bg_sel
    up_hint = np.array([0.0, -1.0, 0.0]) if cfg.upright_camera else None
    plane, inl = fit_plane_ransac(P[plane_src], cfg.plane_threshold_m, seed=cfg.seed,
                                  up_hint=up_hint)
    plane = orient_towards(plane, np.zeros(3))
    meta["support_plane_inlier_fraction"] = float(inl.mean())

    # -- background (+ completion under the objects)
    parts = [splats_at(bg_sel, depth_m, rgb, normals)]
    if cfg.complete_background and (obj_masks or erase_masks):
        rgb_f, depth_f, region, info = complete_background(
            rgb, depth_m, rays, {**obj_masks, **erase_masks}, plane,
            valid & (owner < 0) & ~erased & ~ring,
            grow=cfg.fill_grow_px, ring=cfg.fill_ring_px, plane_threshold=cfg.plane_threshold_m,
            seed=cfg.seed, inpaint=inpaint or inpaint_telea)
        fill_sel = region & grid & (depth_f > 0) & ~bg_sel
        plane_normals = np.broadcast_to(plane[:3], normals.shape)
        parts.append(splats_at(fill_sel, depth_f, rgb_f, plane_normals,
                               pix=np.full(int(fill_sel.sum()), -1)))
        meta["background_completion"] = info
    background = Splats.concat(parts)

    # -- objects: visible front (outliers removed) + completed back side
    obj_splats: dict[str, Splats] = {}
    completion_info, outliers = {}, {}
    for i, name in enumerate(names):
        sel = keep_px & (owner == i)
        if sel.sum() < cfg.min_object_pixels:
            raise ValueError(f"object {name!r} has only {int(sel.sum())} pixels with valid depth "
                             f"inside its mask; need >= {cfg.min_object_pixels}")
        front = splats_at(sel, depth_m, rgb, normals)
        # Silhouette in the photo: sampled object pixels whose neighbour one stride to the
        # left or right (sides) or below (bottom) is not part of the object.
        obj = valid & ~ring & (owner == i)
        sides = sel & ~(shift(obj, 0, s, False) & shift(obj, 0, -s, False))
        bottom = sel & ~shift(obj, s, 0, False)
        keep = statistical_inliers(front.points, cfg.outlier_neighbors, cfg.outlier_std)
        outliers[name] = int((~keep).sum())
        front = front.subset(keep)
        obj_parts = [front]
        if cfg.complete_objects:
            back, info = _object_back(front, normals[sel][keep], sides[sel][keep],
                                      bottom[sel][keep], plane, Kmat, depth_m, cfg)
            obj_parts.append(back)
            completion_info[name] = info
        obj_splats[name] = Splats.concat(obj_parts)
    meta["object_outliers_removed"] = outliers
    if completion_info:
        meta["object_completion"] = completion_info

    # -- fields in their frames: background in the world, objects in their own frames
    T_wc_np = T_wc.numpy()
    objects, poses = {}, {}
    for name in names:
        T_cam_obj = object_frame(obj_splats[name].points, plane)
        objects[name] = obj_splats[name].to_field(np.linalg.inv(T_cam_obj), cfg.opacity)
        poses[name] = T_wc @ torch.from_numpy(T_cam_obj)
    camera = Camera(torch.from_numpy(Kmat), T_wc, W, H, "photo")
    scene = Scene(background.to_field(T_wc_np, cfg.opacity), objects, poses, camera=camera,
                  support_plane=torch.from_numpy(transform_plane(plane, T_wc_np)),
                  meta={"lift": meta})

    # -- colour refinement on the scene as Scene.render composes it: Gaussians of one surface
    # often share a depth exactly (integer-millimetre sensors), and their blending order then
    # follows the composition order, which the refined colours are tuned for.
    if cfg.refine_iterations > 0:
        everything, _ = scene.compose()
        pix_all = np.concatenate([background.pix, *(obj_splats[n].pix for n in names)])
        refined = rgb_to_sh_dc(refine_colours(everything, pix_all, rgb, camera,
                                              cfg.refine_iterations, cfg.refine_step,
                                              cfg.backend))
        offsets = np.cumsum([0, len(background), *(len(obj_splats[n]) for n in names)])
        scene.background.sh[:, 0] = refined[offsets[0]:offsets[1]]
        for i, name in enumerate(names):
            scene.objects[name].sh[:, 0] = refined[offsets[i + 1]:offsets[i + 2]]
    meta["num_gaussians"] = {"background": len(background),
                             **{n: len(obj_splats[n]) for n in names}}
    meta["seconds"] = time.perf_counter() - t0
    log.info("lifted a %dx%d photo into %d Gaussians in %.2f s", W, H,
             sum(meta["num_gaussians"].values()), meta["seconds"])
    return scene
