"""Metrics: photometric (PSNR, SSIM, LPIPS), depth errors, temporal coherence, and
``igen eval`` (:func:`evaluate` with :class:`EvalConfig`).

Images are channels-last [H, W, 3] (float in [0, 1], or uint8 divided by 255), masks bool
[H, W]; every function accepts torch tensors or NumPy arrays and computes on the CPU.
"""

from .depth import depth_errors
from .evaluate import EvalConfig, EvalReport, StreamReport, evaluate
from .image import mse, psnr, ssim, ssim_map
from .perceptual import load_lpips, lpips, lpips_backbone_path, lpips_map
from .temporal import (
    bilinear_sample,
    flicker,
    frame_changes,
    iter_motion_correspondences,
    motion_correspondences,
    pair_correspondences,
    warp_error,
    warp_errors,
)

__all__ = ["EvalConfig", "EvalReport", "StreamReport", "bilinear_sample", "depth_errors",
           "evaluate", "flicker", "frame_changes", "iter_motion_correspondences", "load_lpips",
           "lpips", "lpips_backbone_path", "lpips_map", "motion_correspondences", "mse",
           "pair_correspondences", "psnr", "ssim", "ssim_map", "warp_error", "warp_errors"]
