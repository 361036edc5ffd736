"""Stage "depth": the photo's metric depth and intrinsics.

Given depth is loaded and checked (:mod:`.inputs`); without it (or when it is sparse) a depth
model predicts it (:mod:`.models.depth`) and relative predictions are scaled by an explicit
source. The intrinsics are given, predicted by the depth model, or a stated default.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .config import LiftConfig
from .inputs import load_depth, make_K


@dataclass
class DepthInput:
    """Metric depth [H, W] (float32 metres, 0 = none) and intrinsics K [3, 3] of the photo, with
    their provenance for ``meta["lift"]``: ``provenance`` (source, scale source) and
    ``intrinsics`` (where K came from)."""

    depth: np.ndarray
    K: np.ndarray
    provenance: dict[str, Any]
    intrinsics: str


def metric_depth(rgb: np.ndarray, depth, K, object_masks: dict[str, np.ndarray],
                 cfg: LiftConfig, depth_model=None) -> DepthInput:
    """:class:`DepthInput` of the photo ``rgb`` (uint8 [H, W, 3]) from the given ``depth`` (array
    or path; None: predicted by ``depth_model``) and ``K`` (None: predicted or default);
    ``object_masks`` serve the known-object-width scale source."""
    H, W = rgb.shape[:2]
    predicted_K = None
    if depth is None or cfg.depth_is_sparse:
        depth_m, predicted_K, provenance = depth_from_model(rgb, depth, K, object_masks, cfg,
                                                           depth_model)
        depth_m = load_depth(depth_m, (H, W),
                             name=f"depth predicted by {provenance['source']}")
    else:
        if cfg.camera_height_m is not None or cfg.known_object_width is not None:
            raise ValueError("camera_height_m / known_object_width scale a depth model's "
                             "relative prediction; they cannot be used with a given depth map")
        depth_m = load_depth(depth, (H, W), scale=cfg.depth_scale)
        provenance = {"source": "given"}
    Kmat, intrinsics = make_K(K, W, H, predicted_K)
    return DepthInput(depth_m, Kmat, provenance, intrinsics)


def depth_from_model(rgb: np.ndarray, depth, K, masks: dict[str, np.ndarray],
                      cfg: LiftConfig, depth_model) -> tuple[np.ndarray, np.ndarray | None, dict]:
    """Dense metric depth [H, W] from a depth model (see :func:`igen_gs.lift`), scaled by the
    one scale source given (sparse metric depth, camera height, an object's known width) when
    the model predicts relative depth; returns (depth, predicted K or None, provenance)."""
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
