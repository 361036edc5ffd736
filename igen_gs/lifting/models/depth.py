"""Monocular depth through transformers (Depth Anything V2 by default), and scale recovery for
relative-depth models.

Models load with ``AutoModelForDepthEstimation`` + ``AutoImageProcessor`` from a Hugging Face
hub id or a local directory (:class:`DepthModelConfig`), once per (model, device) and then
reused (:func:`load_depth_model` is cached). Loading never waits on an unreachable network:
the local directory or hub cache is tried first; the hub is contacted only when it answers.
Without the weights it fails with a one-line ``ValueError`` saying how to provide them.

Which models give metres: Depth Anything / Prompt Depth Anything whose config says
``depth_estimation_type="metric"`` (e.g. ``depth-anything/Depth-Anything-V2-Metric-Indoor-*``,
max depth 20 m), Depth Pro, ZoeDepth and GLPN. Other models (Depth Anything V2 relative, DPT)
give relative inverse depth ("disparity", larger = closer, unknown scale and shift); turn it
into metres with :func:`scale_relative_depth` and an explicit scale source. Depth Pro also
predicts the horizontal field of view, from which :func:`estimate_depth` returns intrinsics.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .common import check_device, check_image, load_pretrained, looks_like_path

DEFAULT_METRIC_MODEL = "depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf"
METRIC_MODEL_TYPES = ("depth_pro", "zoedepth", "glpn")


@dataclass(frozen=True)
class DepthModelConfig:
    """Which depth model to run, and where."""

    model: str = DEFAULT_METRIC_MODEL
    """Hugging Face hub id or local directory (``save_pretrained`` layout: config.json,
    preprocessor_config.json, weights) of a transformers depth-estimation model."""
    device: str = "cpu"
    """torch device, e.g. "cpu" or "cuda:0"."""
    cache_dir: str | None = None
    """Hub cache directory (default: the Hugging Face default, ``$HF_HOME/hub``)."""
    local_files_only: bool = False
    """Never contact the hub: use the local directory or the hub cache only."""


@dataclass
class DepthEstimate:
    """A depth map for one image.

    Attributes:
        depth: float32 [H, W] at the image's size: metres (camera z) if ``is_metric``, else
            relative inverse depth (larger = closer, unknown scale and shift).
        is_metric: whether ``depth`` is in metres.
        model: the model it came from (hub id or directory, as configured).
        K: float64 [3, 3] intrinsics (pixels, principal point at the image centre) when the
            model predicts its field of view (Depth Pro), else None.
    """

    depth: np.ndarray
    is_metric: bool
    model: str
    K: np.ndarray | None = None


class ScaledDepth(NamedTuple):
    """Metric depth recovered from a relative prediction: ``depth`` float32 [H, W] metres
    (0 = unknown) and ``source``, a sentence naming the scale source and its numbers."""

    depth: np.ndarray
    source: str


# ---------------------------------------------------------------------------- loading
@functools.lru_cache(maxsize=4)
def _load_cached(model: str, device: str, cache_dir: str | None, local_files_only: bool):
    from transformers import AutoImageProcessor, AutoModelForDepthEstimation

    processor, net = load_pretrained(
        "depth model", model, (AutoImageProcessor, AutoModelForDepthEstimation),
        cache_dir=cache_dir, local_files_only=local_files_only)
    return net.to(device).eval(), processor


def load_depth_model(config: DepthModelConfig | None = None):
    """(model in eval mode on ``config.device``, image processor), loaded once per
    (model, device, cache_dir, local_files_only) and reused. A local directory is keyed by its
    resolved path, so different spellings of it share one load."""
    cfg = config or DepthModelConfig()
    check_device(cfg.device)
    model = cfg.model
    if looks_like_path(model) and Path(model).expanduser().is_dir():
        model = str(Path(model).expanduser().resolve())
    return _load_cached(model, cfg.device, cfg.cache_dir, cfg.local_files_only)


load_depth_model.cache_info = _load_cached.cache_info  # type: ignore[attr-defined]
load_depth_model.cache_clear = _load_cached.cache_clear  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------- inference
def is_metric_model(model_config) -> bool:
    """Whether a transformers depth model's config describes metric output (see the module
    docstring)."""
    if getattr(model_config, "depth_estimation_type", None) == "metric":
        return True
    return getattr(model_config, "model_type", "") in METRIC_MODEL_TYPES


def intrinsics_from_fov(fov_x_deg: float, width: int, height: int) -> np.ndarray:
    """K [3, 3] of a square-pixel camera with horizontal field of view ``fov_x_deg`` and the
    principal point at the image centre."""
    f = 0.5 * width / math.tan(math.radians(fov_x_deg) / 2)
    return np.array([[f, 0.0, width / 2], [0.0, f, height / 2], [0.0, 0.0, 1.0]])


def estimate_depth(image: np.ndarray, config: DepthModelConfig | None = None) -> DepthEstimate:
    """Depth for one uint8 [H, W, 3] RGB image, resized back to H x W by the processor's own
    post-processing (bicubic for Depth Anything), clamped at 0.

    Depth Pro's predicted field of view becomes ``K`` when it is plausible (1..179 degrees);
    otherwise K is None.
    """
    import torch
    from PIL import Image

    image = check_image(image)
    cfg = config or DepthModelConfig()
    net, processor = load_depth_model(cfg)
    H, W = image.shape[:2]
    inputs = processor(images=Image.fromarray(image), return_tensors="pt")
    inputs = {k: v.to(cfg.device) for k, v in inputs.items()}
    with torch.no_grad():
        outputs = net(**inputs)
    kwargs = {"target_sizes": [(H, W)]}
    if getattr(net.config, "model_type", "") == "zoedepth":
        kwargs["source_sizes"] = [(H, W)]
    result = processor.post_process_depth_estimation(outputs, **kwargs)[0]
    depth = result["predicted_depth"].float().reshape(H, W).clamp_min(0.0).cpu().numpy()
    K = None
    fov = result.get("field_of_view")
    if fov is not None and 1.0 < float(fov) < 179.0:
        K = intrinsics_from_fov(float(fov), W, H)
    return DepthEstimate(depth.astype(np.float32), is_metric_model(net.config), cfg.model, K)


# ---------------------------------------------------------------------------- scale
def _pixel_rays(K: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Camera-frame rays with z = 1 through the pixel centres, [H, W, 3]."""
    K = np.asarray(K, dtype=np.float64)
    if K.shape != (3, 3) or not np.isfinite(K).all() or K[0, 0] <= 0 or K[1, 1] <= 0:
        raise ValueError("K must be a finite 3x3 intrinsics matrix with positive focal lengths")
    H, W = shape
    v, u = np.meshgrid(np.arange(H) + 0.5, np.arange(W) + 0.5, indexing="ij")
    return np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], -1)


def scale_relative_depth(relative: np.ndarray, *,
                         sparse_metric_depth: np.ndarray | None = None,
                         known_object: tuple[np.ndarray, float, np.ndarray] | None = None,
                         camera_height: tuple[float, np.ndarray] | None = None,
                         ) -> ScaledDepth:
    """Metric depth from a relative prediction ``relative`` [H, W] (inverse depth up to an
    unknown scale, as Depth Anything's relative models give; values <= 0 mean unknown) with
    exactly one explicit scale source:

    * ``sparse_metric_depth`` [H, W] metres (0 = none; at least 10 values, e.g. a few lidar
      or stereo points): fits scale and shift of inverse depth, ``1 / z = a r + b``, by least
      squares. Exact for affine inverse depth.
    * ``known_object = (mask [H, W], width_m, K)``: an object of known width ``width_m``
      (metres, measured along the image's horizontal axis, e.g. a can's diameter) seen at
      depth ``fx width_m / width_px``, with ``width_px`` the mask's horizontal extent; assumes
      ``z = s / r`` (no shift) and sets s from the object's median r.
    * ``camera_height = (height_m, K)``, a table-height prior: the camera is ``height_m``
      metres above the dominant plane of the view (the table); assumes ``z = s / r``, fits
      the plane at unit scale (RANSAC, 1 % of the median depth, then again on those inliers
      within 0.2 %) and scales its distance from the camera to ``height_m``.

    Returns :class:`ScaledDepth` (depth in metres, a sentence naming the source used).
    """
    r = np.asarray(relative, dtype=np.float64)
    if r.ndim != 2:
        raise ValueError(f"relative depth must be [H, W], got shape {list(r.shape)}")
    given = [x is not None for x in (sparse_metric_depth, known_object, camera_height)]
    if sum(given) != 1:
        raise ValueError("scale_relative_depth needs exactly one scale source: "
                         "sparse_metric_depth, known_object or camera_height")
    pos = np.isfinite(r) & (r > 1e-9)
    if not pos.any():
        raise ValueError("relative depth has no positive values")
    r = np.where(pos, r, 0.0)
    if sparse_metric_depth is not None:
        return _scale_by_sparse_depth(r, pos, sparse_metric_depth)
    if known_object is not None:
        mask, width_m, K = known_object
        return _scale_by_known_object(r, pos, mask, width_m, K)
    height_m, K = camera_height
    return _scale_by_camera_height(r, pos, height_m, K)


def _scale_by_sparse_depth(r: np.ndarray, pos: np.ndarray, sparse_metric_depth) -> ScaledDepth:
    """Inverse depth ``1 / z = a r + b`` fitted to sparse metric depth by least squares
    (``r`` [H, W] relative inverse depth, 0 where ``pos`` is False)."""
    d = np.asarray(sparse_metric_depth, dtype=np.float64)
    if d.shape != r.shape:
        raise ValueError(f"sparse_metric_depth is {list(d.shape)}, relative depth is "
                         f"{list(r.shape)}")
    ok = (d > 0) & np.isfinite(d) & pos
    if ok.sum() < 10:
        raise ValueError(f"sparse_metric_depth needs at least 10 valid values where the "
                         f"relative depth is positive, got {int(ok.sum())}")
    A = np.stack([r[ok], np.ones(ok.sum())], 1)
    a, b = np.linalg.lstsq(A, 1.0 / d[ok], rcond=None)[0]
    inv = a * r + b
    good = pos & (inv > 1e-9)
    depth = np.where(good, 1.0 / np.where(good, inv, 1.0), 0.0)
    return ScaledDepth(depth.astype(np.float32),
                       f"sparse metric depth ({int(ok.sum())} values; 1/z = {a:.6g} r + "
                       f"{b:.6g})")


def _scale_by_known_object(r: np.ndarray, pos: np.ndarray, mask, width_m, K) -> ScaledDepth:
    """``z = s / r`` with s set by an object of known width (see :func:`scale_relative_depth`)."""
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != r.shape or not (mask & pos).any():
        raise ValueError("known_object mask must be a non-empty mask of the relative "
                         "depth's size")
    if not float(width_m) > 0:
        raise ValueError(f"known_object width must be positive metres, got {width_m}")
    _pixel_rays(K, r.shape)  # validates K
    cols = np.flatnonzero(mask.any(0))
    width_px = cols.max() - cols.min() + 1
    z_obj = float(np.asarray(K)[0, 0]) * float(width_m) / width_px
    s = z_obj * float(np.median(r[mask & pos]))
    depth = np.where(pos, s / np.where(pos, r, 1.0), 0.0)
    return ScaledDepth(depth.astype(np.float32),
                       f"known object size ({float(width_m):.3f} m over {width_px} px "
                       f"-> {z_obj:.3f} m away)")


def _scale_by_camera_height(r: np.ndarray, pos: np.ndarray, height_m, K) -> ScaledDepth:
    """``z = s / r`` with s set by the camera's height above the dominant plane (see
    :func:`scale_relative_depth`)."""
    if not float(height_m) > 0:
        raise ValueError(f"camera_height must be positive metres, got {height_m}")
    from ..support import fit_plane_ransac

    rays = _pixel_rays(K, r.shape)
    z = np.where(pos, 1.0 / np.where(pos, r, 1.0), 0.0)  # unit scale
    pts = (rays * z[..., None])[pos]
    if pts.shape[0] < 3:
        raise ValueError("camera_height needs at least 3 pixels with relative depth")
    med = float(np.median(z[pos]))
    plane, _ = fit_plane_ransac(pts, threshold=0.01 * med)
    near = np.abs(pts @ plane[:3] + plane[3]) < 0.01 * med
    plane, _ = fit_plane_ransac(pts[near], threshold=0.002 * med)
    s = float(height_m) / abs(float(plane[3]))
    return ScaledDepth((z * s).astype(np.float32),
                       f"camera height prior ({float(height_m):.3f} m above the dominant "
                       f"plane, the table)")
