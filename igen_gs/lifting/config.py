"""Options of lifting (a plain dataclass: importing it is cheap, for the CLI)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class LiftConfig:
    """Options of :func:`igen_gs.lift` (the CLI exposes each as a ``--config.<name>`` flag).

    Distances are metres, angles degrees, sizes in pixels of the input image.
    """

    # -- Gaussians
    stride: int = 1
    """One Gaussian per ``stride`` x ``stride`` pixels."""
    footprint_scale: float = 0.5
    """In-plane Gaussian standard deviation as a fraction of the pixel footprint z / f (times
    the stride)."""
    thickness: float = 0.15
    """Gaussian standard deviation along the surface normal, as a fraction of its in-plane
    size (flat discs)."""
    max_stretch: float = 3.0
    """Cap on the stretch 1 / cos(angle between view ray and normal) of Gaussians on slanted
    surfaces: no Gaussian is longer than ``max_stretch`` times its footprint size."""
    opacity: float = 0.98
    """Opacity of every Gaussian."""
    tie_break_m: float = 2e-5
    """Neighbouring pixels' depths are offset by multiples of this (0 to 3 times, a 2x2
    pattern) so that equal sensor depths never tie in the blending order (see
    :func:`igen_gs.lifting.pixels.tie_break_offsets`)."""

    # -- no rubber sheets
    edge_abs_m: float = 0.02
    """A depth step between neighbours larger than ``edge_abs_m + edge_rel * z`` is a
    discontinuity: normals are estimated from same-side neighbours only (camera-facing discs
    where there are none), so no Gaussian is oriented along, or stretched across, the step."""
    edge_rel: float = 0.03
    """Relative part of the discontinuity threshold (see ``edge_abs_m``)."""
    mask_edge_px: int = 1
    """Pixels dropped on each side of every object-mask boundary (their colours mix object and
    background)."""
    outlier_neighbors: int = 20
    """Statistical outlier removal (open3d) on each object's points: neighbours considered
    (0 = off). Not applied to the background, where point density falls with depth and the
    test removes distant surfaces (measured on redkitchen: -0.3 to -2.7 dB in novel views)."""
    outlier_std: float = 2.5
    """... and the ratio to the standard deviation of neighbour distances beyond which a point
    is dropped."""
    min_object_pixels: int = 30
    """Objects with fewer valid depth pixels inside their mask are rejected (ValueError)."""

    # -- support plane
    plane_threshold_m: float = 0.01
    """RANSAC inlier distance for the support plane and the local planes under objects."""
    support_ring_px: int = 40
    """The support plane is fitted to background pixels within this distance of any object
    mask (all background pixels if there are no objects or too few such pixels)."""
    upright_camera: bool = True
    """Assume the camera is not rolled by more than about 80 degrees: planes whose normal,
    turned towards the camera, points downwards in the image (ceilings, undersides) cannot be
    the support plane."""

    # -- completion
    complete_background: bool = True
    """Fill colour (inpainting) and depth (local support planes) where objects hide the
    background, so moving an object reveals table, not a hole."""
    fill_grow_px: int = 3
    """The filled region is the union of the object masks grown by this many pixels."""
    fill_ring_px: int = 25
    """Local plane under each object: RANSAC on background pixels within this distance of
    its mask (falls back to the support plane with fewer than 200 such pixels or < 50 %
    inliers)."""
    complete_objects: bool = True
    """Give each object a back side: its front turned half a turn about its vertical axis,
    sides and bottom closed (see :mod:`igen_gs.lifting.complete`)."""
    max_complete_m: float = 0.6
    """Objects whose estimated depth or width exceeds this (metres) get no back side: they are
    furniture, walls or segmentation mistakes, not things to pick up."""
    back_margin_m: float = 0.01
    """Completed back-side points that would appear in the photo more than this in front of
    the observed depth are dropped (the photo shows they are not there)."""

    # -- colour refinement
    refine_iterations: int = 4
    """Colour refinement steps against the photo (0 = off): each renders the input view and
    corrects every Gaussian's colour by the residual at its own pixel."""
    refine_step: float = 0.8
    """Damping of each refinement step."""
    refine_eps2d: float = 0.3
    """The renderer's low-pass filter (gsplat's ``eps2d``, pixels squared) the refinement
    renders with. Set it to the ``eps2d`` the scene will be rendered with
    (:attr:`igen_gs.episode.config.RenderConfig.eps2d`): colours refined under one filter
    over- and undershoot at edges under another (at 0.01, a lift refined at 0.3 shows dark
    lines along the depth steps of the table's edge)."""

    # -- depth sources
    depth_scale: float = 0.001
    """Metres per unit of integer depth images (PNG)."""
    depth_is_sparse: bool = False
    """The given depth is sparse metric depth (e.g. a few LiDAR returns, >= 10 values): the
    depth model predicts dense depth and the given values set its scale."""
    camera_height_m: float | None = None
    """Scale source for relative-depth models: the camera's height above the dominant plane
    (a table-height prior)."""
    known_object_width: tuple[str, float] | None = None
    """Scale source for relative-depth models: an object (name of a mask or prompt) and its
    width across the image in metres."""

    seed: int = 0
    """Seed of the RANSAC fits (results are deterministic for a given seed)."""
    backend: str = "auto"
    """Rasterization backend used for colour refinement."""
    device: str = "auto"
    """Where colour refinement renders: "auto" (the first CUDA device if there is one, else
    the CPU), "cpu", "cuda" or "cuda:N". The geometry stages (NumPy, Open3D, OpenCV) run on
    the CPU and the lifted scene is returned on the CPU."""


def resolve_config(config: LiftConfig | None, options: dict[str, Any]) -> LiftConfig:
    """``config`` (default :class:`LiftConfig`) with keyword ``options`` overriding its fields;
    ValueError for unknown options and impossible values."""
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
    if not (math.isfinite(cfg.refine_eps2d) and cfg.refine_eps2d >= 0):
        raise ValueError(f"refine_eps2d must be a finite number >= 0 (pixels squared), got "
                         f"{cfg.refine_eps2d}")
    from ..device import resolve_device

    resolve_device(cfg.device)  # a bad or unavailable device fails before any work
    return cfg
