"""Metrics: photometric (PSNR, SSIM, LPIPS), depth errors, temporal coherence, and
``igen eval`` (:func:`evaluate` with :class:`EvalConfig`).

Images are channels-last [H, W, 3] (float in [0, 1], or uint8 divided by 255), masks bool
[H, W]; every function accepts torch tensors or NumPy arrays and computes on the CPU.

The names below are imported on first use (PEP 562), so that ``igen_gs.metrics.config`` -- the
plain dataclass the CLI parses -- loads without torch and ``igen eval --help`` stays fast.
"""

from .._lazy import lazy_exports

_EXPORTS = {
    "EvalConfig": ".config", "depth_errors": ".depth", "EvalReport": ".evaluate",
    "StreamReport": ".evaluate", "evaluate": ".evaluate", "mse": ".image", "psnr": ".image",
    "ssim": ".image", "ssim_map": ".image", "load_lpips": ".perceptual", "lpips": ".perceptual",
    "lpips_backbone_path": ".perceptual", "lpips_map": ".perceptual",
    "bilinear_sample": ".temporal", "flicker": ".temporal", "frame_changes": ".temporal",
    "iter_motion_correspondences": ".temporal", "motion_correspondences": ".temporal",
    "pair_correspondences": ".temporal", "warp_error": ".temporal", "warp_errors": ".temporal",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS)
