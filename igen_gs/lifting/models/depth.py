"""Monocular depth with Depth Anything V2 through transformers, and scale recovery for
relative-depth models.

Weights come from the Hugging Face hub id or a local directory given in
:class:`DepthModelConfig`; a model is loaded once per (model, device) and reused. Without
network access the weights must be on disk already (a local directory, or a pre-populated
hub cache); otherwise loading fails with a one-line error that says so.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

DEFAULT_METRIC_MODEL = "depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf"


@dataclass(frozen=True)
class DepthModelConfig:
    """Which depth model to run."""

    model: str = DEFAULT_METRIC_MODEL
    """Hub id or local directory of a transformers depth-estimation model."""
    device: str = "cpu"
    """torch device."""
    cache_dir: str | None = None
    """Hub cache directory (default: the Hugging Face default)."""


@dataclass
class DepthEstimate:
    """``depth`` float32 [H, W]: metres if ``is_metric``, else relative (larger = closer for
    Depth Anything's relative models); ``K`` 3x3 if the model predicts intrinsics."""

    depth: np.ndarray
    is_metric: bool
    model: str
    K: np.ndarray | None = None


@functools.lru_cache(maxsize=4)
def load_depth_model(model: str, device: str = "cpu", cache_dir: str | None = None):
    """(model, image processor), cached per (model, device, cache_dir)."""
    from transformers import AutoImageProcessor, AutoModelForDepthEstimation

    try:
        processor = AutoImageProcessor.from_pretrained(model, cache_dir=cache_dir)
        net = AutoModelForDepthEstimation.from_pretrained(model, cache_dir=cache_dir)
    except (OSError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(
            f"cannot load depth model {model!r} ({first}); without network access put its "
            "weights on disk (e.g. `huggingface-cli download <id>` elsewhere, then copy the "
            "directory) and pass the directory, or pre-populate the hub cache (HF_HOME) -- or "
            "give a depth map") from None
    return net.to(device).eval(), processor


def estimate_depth(image: np.ndarray, config: DepthModelConfig | None = None) -> DepthEstimate:
    """Depth for an uint8 [H, W, 3] image, resized back to the image size."""
    import torch
    from PIL import Image

    cfg = config or DepthModelConfig()
    net, processor = load_depth_model(cfg.model, cfg.device, cfg.cache_dir)
    H, W = image.shape[:2]
    inputs = processor(images=Image.fromarray(image), return_tensors="pt")
    inputs = {k: v.to(cfg.device) for k, v in inputs.items()}
    with torch.no_grad():
        pred = net(**inputs).predicted_depth  # [1, h, w]
    pred = torch.nn.functional.interpolate(pred[:, None].float(), size=(H, W), mode="bicubic",
                                           align_corners=False)[0, 0]
    is_metric = getattr(net.config, "depth_estimation_type", "relative") == "metric"
    depth = pred.clamp_min(0.0).cpu().numpy().astype(np.float32)
    return DepthEstimate(depth, is_metric, cfg.model)


def scale_relative_depth(relative: np.ndarray, *, sparse_metric_depth: np.ndarray | None = None,
                         known_object: tuple[np.ndarray, float, np.ndarray] | None = None,
                         camera_height: tuple[float, np.ndarray] | None = None
                         ) -> tuple[np.ndarray, str]:
    """Metric depth from a relative prediction (affine-invariant inverse depth, as Depth
    Anything's relative models give), with an explicit scale source. Exactly one of:

    * ``sparse_metric_depth`` [H, W] (0 = none, >= 10 values): fits inverse depth
      ``1 / z = a r + b`` by least squares;
    * ``known_object`` = (mask [H, W], width in metres across the image, K): assumes
      ``z = s / r`` and sets s from the object's pixel width (z = f w / w_px);
    * ``camera_height`` = (metres, K): the camera's height above the dominant plane (a table
      prior): assumes ``z = s / r`` and scales the fitted plane's distance to it.

    Returns (depth in metres [H, W], a sentence naming the source used).
    """
    r = np.asarray(relative, dtype=np.float64)
    given = [x is not None for x in (sparse_metric_depth, known_object, camera_height)]
    if sum(given) != 1:
        raise ValueError("scale_relative_depth needs exactly one scale source: "
                         "sparse_metric_depth, known_object or camera_height")
    pos = r > 1e-9
    if sparse_metric_depth is not None:
        d = np.asarray(sparse_metric_depth, dtype=np.float64)
        if d.shape != r.shape:
            raise ValueError(f"sparse_metric_depth is {d.shape}, relative depth is {r.shape}")
        ok = (d > 0) & np.isfinite(d) & pos
        if ok.sum() < 10:
            raise ValueError("sparse_metric_depth needs at least 10 valid values")
        A = np.stack([r[ok], np.ones(ok.sum())], 1)
        a, b = np.linalg.lstsq(A, 1.0 / d[ok], rcond=None)[0]
        inv = a * r + b
        depth = np.where(pos & (inv > 1e-9), 1.0 / np.maximum(inv, 1e-9), 0.0)
        return depth.astype(np.float32), f"sparse metric depth ({int(ok.sum())} values)"
    if known_object is not None:
        mask, width_m, K = known_object
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != r.shape or not mask.any():
            raise ValueError("known_object mask must be a non-empty mask of the image's size")
        if width_m <= 0:
            raise ValueError("known_object width must be positive (metres)")
        cols = np.flatnonzero(mask.any(0))
        width_px = cols.max() - cols.min() + 1
        z_obj = float(np.asarray(K)[0, 0]) * width_m / width_px
        s = z_obj * float(np.median(r[mask & pos]))
        depth = np.where(pos, s / np.maximum(r, 1e-9), 0.0)
        return depth.astype(np.float32), f"known object width {width_m:.3f} m"
    height_m, K = camera_height
    if height_m <= 0:
        raise ValueError("camera height must be positive (metres)")
    from ..support import fit_plane_ransac

    K = np.asarray(K, dtype=np.float64)
    H, W = r.shape
    v, u = np.meshgrid(np.arange(H) + 0.5, np.arange(W) + 0.5, indexing="ij")
    z = np.where(pos, 1.0 / np.maximum(r, 1e-9), 0.0)  # unit scale
    rays = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], -1)
    pts = (rays * z[..., None])[pos]
    plane, _ = fit_plane_ransac(pts, threshold=0.01 * float(np.median(z[pos])))
    s = height_m / abs(float(plane[3]))
    return (z * s).astype(np.float32), f"camera height {height_m:.3f} m above the plane"
