"""Options of lifting (a plain dataclass: importing it is cheap, for the CLI)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class LiftConfig:
    """Options of :func:`lift` (the CLI exposes each as a flag)."""

    stride: int = 1
    """One Gaussian per ``stride`` x ``stride`` pixels."""
    footprint_scale: float = 0.5
    """In-plane Gaussian size as a fraction of the pixel footprint z / f (times stride)."""
    thickness: float = 0.15
    """Gaussian thickness along the surface normal, as a fraction of its in-plane size."""
    opacity: float = 0.98
    """Opacity of the Gaussians."""
    edge_abs_m: float = 0.02
    """Depth step (metres) that counts as a discontinuity, plus ``edge_rel`` times depth."""
    edge_rel: float = 0.03
    """Relative part of the discontinuity threshold."""
    mask_edge_px: int = 1
    """Pixels dropped on each side of object-mask boundaries (mixed colours)."""
    plane_threshold_m: float = 0.01
    """RANSAC inlier distance for support planes."""
    complete_background: bool = True
    """Fill colour (inpainting) and depth (support plane) under the objects."""
    complete_objects: bool = True
    """Give each object a mirrored back side."""
    outlier_neighbors: int = 20
    """Statistical outlier removal on object points: neighbours considered (0 = off)."""
    outlier_std: float = 2.5
    """... and the standard-deviation ratio beyond which a point is dropped."""
    refine_iterations: int = 4
    """Colour refinement steps against the photo (0 = off)."""
    refine_step: float = 0.8
    """Damping of each refinement step."""
    min_object_pixels: int = 30
    """Objects with fewer valid depth pixels than this are rejected."""
    depth_scale: float = 0.001
    """Metres per unit of integer depth images (PNG)."""
    seed: int = 0
    """Seed of the RANSAC fits."""
    backend: str = "auto"
    """Rasterization backend used for colour refinement."""
