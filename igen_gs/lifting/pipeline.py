"""``lift``: one RGB(-D) photo -> a per-object Gaussian :class:`~igen_gs.Scene` in metres.

:func:`lift` is the recipe; each step is one function with typed inputs and outputs, in its
own module (all in the input camera's frame until the scene is assembled):

1. masks (:mod:`.masks`): object masks (given, or from prompts through the segmentation front
   end) and erase masks (things to remove: a robot, a person, clutter);
2. depth (:mod:`.depth_input`): intrinsics and metric depth (given, or from a depth model;
   relative predictions are scaled by an explicit source: sparse metric depth, a camera height
   above the table, or an object of known width);
3. pixels (:mod:`.pixels`): rays, points and normals (from same-side neighbours at depth
   discontinuities) of every pixel; then every pixel's role (:func:`.masks.assign_pixels`):
   object, erased, background, or a dropped ring of ``mask_edge_px`` pixels on both sides of
   every mask boundary (mixed colours);
4. support (:mod:`.support`): the table, by seeded RANSAC on background points near the
   objects (or on all of them), normal turned towards the camera;
5. background (:mod:`.background`): one flat Gaussian per stride-s background pixel
   (:mod:`.geometry`), and the completion under objects and erased things (:mod:`.complete`);
6. objects (:mod:`.objects`): each object's front (statistical outliers removed, open3d) and a
   back side (its visible front turned half a turn about its vertical axis, sides and bottom
   closed);
7. scene (:mod:`.assemble`): object frames -- origin at the object's bottom centre (the
   centroid of its completed points dropped onto the support plane), z along the plane normal
   ("up", gravity-aligned when the table is level), x along the camera's x axis projected onto
   the plane --, the background in the world frame;
8. refinement (:mod:`.refine`): a few damped fixed-point steps that make the re-rendered input
   view match the photo (the overlap of neighbouring splats otherwise blurs it by a few dB).

World frame: the input camera's (OpenCV: x right, y down, z forward) unless ``T_world_cam``
is given.
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
from ..scene.scene import Scene
from .assemble import assemble_scene
from .background import lift_background
from .config import LiftConfig, resolve_config
from .depth_input import metric_depth
from .inputs import load_image
from .keypoints import record_keypoints
from .masks import assign_pixels, gather_masks
from .objects import lift_objects
from .pixels import pixel_geometry
from .refine import refine_scene
from .support import fit_support_plane

log = logging.getLogger(__name__)


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
            objects ("object 1", ...); those mostly inside a given object or erase mask, or
            with fewer than ``min_object_pixels`` liftable pixels, are left out (the small
            ones stay background).
        T_world_cam: the input camera's pose [4, 4]; None: world = the camera's frame.
        config, options: a :class:`LiftConfig`; keyword options override its fields.
        inpaint: colour inpainting ``(rgb uint8 [H, W, 3], region bool [H, W]) -> rgb``; None:
            OpenCV's Telea method.
        erase: name -> bool [H, W] or a PNG path: things in the photo that must not be in the
            scene (a robot, a person, clutter). Their pixels produce no Gaussians; the
            background behind them is inpainted (colour) and completed (depth, from local
            planes or the support plane) exactly as under lifted objects (with
            ``complete_background=False`` they stay empty). Where an erase mask overlaps an
            object mask the object wins (those pixels stay the object's).
        erase_prompts: name -> prompt (as ``prompts``) for erase masks, segmented by
            ``segmenter`` (GrabCut or SAM). Erase names must differ from object names.

    Returns:
        The scene: ``background`` (world frame), ``objects[name]`` in object frames (origin at
        the object's bottom centre on the support plane, z up along its normal) with poses
        ``T_world_obj``, ``camera`` = the input view, ``support_plane`` (a, b, c, d) in the world
        frame with the normal pointing from the table towards the camera, and
        ``meta["lift"]``: inputs' provenance, thresholds, counts and timing, and under
        ``"erase"`` what was erased (per name: source, pixels given, pixels erased);
        ``meta["keypoints"]``: the objects' numbered task keypoints (see :mod:`.keypoints`).

    Raises:
        ValueError / FileNotFoundError (one line, naming the input) for unreadable or
        inconsistent inputs: see :mod:`.inputs`.
    """
    t0 = time.perf_counter()
    cfg = resolve_config(config, options)
    T_wc = torch.eye(4, dtype=torch.float64) if T_world_cam is None else frames.as_rigid(
        T_world_cam, name="T_world_cam")
    rgb = load_image(image)
    H, W = rgb.shape[:2]
    meta: dict[str, Any] = {"config": asdict(cfg), "image_size": [W, H]}

    found = gather_masks(rgb, masks, prompts, erase, erase_prompts, segmenter)
    meta.update(found.meta())
    dep = metric_depth(rgb, depth, K, found.objects, cfg, depth_model)
    meta.update(depth=dep.provenance, intrinsics=dep.intrinsics)
    geom = pixel_geometry(dep.depth, dep.K, cfg)
    meta["depth_discontinuity_pixels"] = geom.discontinuity_pixels
    roles = assign_pixels(found, geom, cfg)
    meta.update(roles.meta())
    support = fit_support_plane(geom.points, roles.background, roles.objects, cfg)
    meta["support_plane_inlier_fraction"] = support.inlier_fraction
    background = lift_background(rgb, geom, roles, support.plane, cfg, inpaint)
    if background.completion is not None:
        meta["background_completion"] = background.completion
    objects = lift_objects(rgb, geom, roles, support.plane, cfg)
    meta["object_outliers_removed"] = objects.outliers
    if objects.completion:
        meta["object_completion"] = objects.completion

    scene = assemble_scene(background.splats, objects.splats, support.plane, geom.K, T_wc, W, H,
                           cfg, meta)
    refine_scene(scene, background.splats, objects.splats, rgb, cfg)
    record_keypoints(scene)
    meta["num_gaussians"] = {"background": len(background.splats),
                             **{n: len(s) for n, s in objects.splats.items()}}
    meta["seconds"] = time.perf_counter() - t0
    log.info("lifted a %dx%d photo into %d Gaussians in %.2f s", W, H,
             sum(meta["num_gaussians"].values()), meta["seconds"])
    return scene
