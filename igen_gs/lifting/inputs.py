"""Loading and checking the inputs of lifting: image, depth, intrinsics, masks, prompts.

Every problem is a one-line ``ValueError`` (or ``FileNotFoundError``) that names the input.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..imageio import open_image_array, read_depth, read_rgb

log = logging.getLogger(__name__)

DEFAULT_FOV_Y_DEG = 60.0
MIN_IMAGE_SIZE = 8
PLAUSIBLE_DEPTH_M = (0.05, 20.0)
"""Median metric depth of a photo outside this range (metres) is warned about: it is most
likely in the wrong unit."""


def load_image(image) -> np.ndarray:
    """uint8 [H, W, 3] from an array or a path."""
    name = "image"
    if isinstance(image, (str, Path)):
        arr = read_rgb(image)
        name = f"image {image}"
    else:
        arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"image must be HxWx3, got shape {arr.shape}")
    if arr.shape[0] < MIN_IMAGE_SIZE or arr.shape[1] < MIN_IMAGE_SIZE:
        raise ValueError(f"{name} is too small ({arr.shape[1]}x{arr.shape[0]}); need >= "
                         f"{MIN_IMAGE_SIZE}x{MIN_IMAGE_SIZE}")
    if arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.floating) and np.isfinite(arr).all() and \
                arr.min() >= 0 and arr.max() <= 1:
            arr = (arr * 255 + 0.5).astype(np.uint8)
        else:
            raise ValueError(f"image must be uint8 (or float in [0, 1]), got {arr.dtype}")
    return np.ascontiguousarray(arr)


def load_depth(depth, shape: tuple[int, int], scale: float = 0.001, *,
               min_valid: int | None = None, name: str | None = None) -> np.ndarray:
    """float32 metres [H, W] (0 = no measurement) from an array or a path; checks the size and
    that enough of it is valid: >= 5 % of the pixels, or ``min_valid`` values if given (sparse
    depth). ``name`` names the input in errors (default: the path, or "depth")."""
    if isinstance(depth, (str, Path)):
        d = read_depth(depth, scale=scale)
        name = name or str(depth)
    else:
        d = np.asarray(depth)
        name = name or "depth"
        if d.ndim != 2:
            raise ValueError(f"{name} must be HxW, got shape {d.shape}")
        if not (np.issubdtype(d.dtype, np.floating) or np.issubdtype(d.dtype, np.integer)):
            raise ValueError(f"{name} must be numeric metres, got dtype {d.dtype}")
        d = d.astype(np.float32)
        if np.isnan(d).all():
            raise ValueError(f"{name} is all NaN")
        d = np.where(np.isfinite(d) & (d > 0), d, 0.0).astype(np.float32)
    if d.shape != tuple(shape):
        raise ValueError(f"{name}: depth is {d.shape[1]}x{d.shape[0]} but the image is "
                         f"{shape[1]}x{shape[0]}")
    count = int((d > 0).sum())
    if count == 0:
        raise ValueError(f"{name}: depth has no valid values (all zero, negative or NaN)")
    if min_valid is not None:
        if count < min_valid:
            raise ValueError(f"{name}: only {count} valid depth values; need >= {min_valid}")
    elif count < 0.05 * d.size:
        raise ValueError(f"{name}: only {100 * count / d.size:.1f}% of the depth map is valid; "
                         "need >= 5% (or declare it sparse)")
    warn_implausible_depth(d, name)
    return d


def depth_unit_hint(median_m: float) -> str | None:
    """What is probably wrong with a depth map whose median is ``median_m`` metres (None when
    it is plausible for a photo of a scene, 5 cm to 20 m)."""
    lo, hi = PLAUSIBLE_DEPTH_M
    if lo <= median_m <= hi:
        return None
    if median_m > hi:
        for factor, unit in ((1000.0, "millimetres"), (100.0, "centimetres")):
            if lo <= median_m / factor <= hi:
                return (f"the values look like {unit} read as metres (integer maps are scaled "
                        f"by --depth-scale; float .npy/.exr maps must be in metres)")
        return "this is not plausible metric depth for a photo"
    if lo <= median_m * 1000.0 <= hi:
        return ("the values look like metres read as millimetres: for an integer map in "
                "metres use --depth-scale 1")
    return "this is not plausible metric depth for a photo"


def warn_implausible_depth(d: np.ndarray, name: str = "depth") -> None:
    """Log a warning naming the likely unit when the median valid depth is implausible."""
    valid = d[d > 0]
    if valid.size == 0:
        return
    median = float(np.median(valid))
    hint = depth_unit_hint(median)
    if hint is not None:
        log.warning("%s: median depth %.4g m is outside %g-%g m; %s", name, median,
                    *PLAUSIBLE_DEPTH_M, hint)


def make_K(K, width: int, height: int, predicted=None) -> tuple[np.ndarray, str]:
    """Intrinsics: given (3x3 or fx, fy, cx, cy), else predicted by the depth model, else a
    centred camera with a 60 degree vertical field of view. Returns (K, source)."""
    if K is not None:
        arr = np.asarray(K, dtype=np.float64)
        if arr.shape == (4,):
            fx, fy, cx, cy = arr
            arr = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1.0]])
        if arr.shape != (3, 3):
            raise ValueError(f"intrinsics must be 3x3 or (fx, fy, cx, cy), got shape {arr.shape}")
        if not np.isfinite(arr).all():
            raise ValueError("intrinsics must be finite numbers, got "
                             f"fx={arr[0, 0]}, fy={arr[1, 1]}, cx={arr[0, 2]}, cy={arr[1, 2]}"
                             if np.isfinite(arr[2]).all() else
                             "intrinsics must be finite numbers (the 3x3 matrix holds NaN/inf)")
        fx, fy, cx, cy = arr[0, 0], arr[1, 1], arr[0, 2], arr[1, 2]
        if fx <= 0 or fy <= 0:
            raise ValueError(f"intrinsics: focal lengths must be positive, got fx={fx}, fy={fy}")
        if not (0 < cx < width and 0 < cy < height):
            raise ValueError(f"intrinsics do not fit the {width}x{height} image: principal point "
                             f"({cx:.1f}, {cy:.1f}) is outside it")
        fov_x = 2 * math.degrees(math.atan(width / (2 * fx)))
        if not 5.0 <= fov_x <= 175.0:
            raise ValueError(f"intrinsics do not fit the {width}x{height} image: horizontal "
                             f"field of view {fov_x:.1f} deg")
        return arr, "given"
    if predicted is not None:
        return np.asarray(predicted, dtype=np.float64), "depth model"
    f = 0.5 * height / math.tan(math.radians(DEFAULT_FOV_Y_DEG) / 2)
    return np.array([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1.0]]), \
        f"default {DEFAULT_FOV_Y_DEG:.0f} deg vertical field of view"


def load_masks(masks: Mapping[str, Any] | None, shape: tuple[int, int],
               source: str = "mask") -> dict[str, np.ndarray]:
    """name -> bool [H, W] from arrays or PNG paths (nonzero = object). Rejects wrong sizes,
    empty masks and masks that cover more than 90 % of the image; ``source`` names where the
    masks came from in errors (e.g. "grabcut mask")."""
    if masks is not None and not isinstance(masks, Mapping):
        raise ValueError(f"masks must be a dict name -> mask, got {type(masks).__name__}")
    out: dict[str, np.ndarray] = {}
    for name, m in (masks or {}).items():
        if isinstance(m, (str, Path)):
            p = Path(m)
            arr = open_image_array(p, f"mask for {name!r}")
            if arr.ndim == 3:
                arr = arr[..., :3].max(axis=-1)
            arr = arr > 0
        else:
            arr = np.asarray(m).astype(bool)
        if arr.shape != tuple(shape):
            raise ValueError(f"{source} {name!r} is {arr.shape[1] if arr.ndim > 1 else '?'}x"
                             f"{arr.shape[0]} but the image is {shape[1]}x{shape[0]}")
        frac = float(arr.mean())
        if frac == 0.0:
            raise ValueError(f"{source} {name!r} is empty")
        if frac > 0.9:
            raise ValueError(f"{source} {name!r} covers {100 * frac:.0f}% of the image; a mask "
                             "must leave background around it")
        out[name] = arr
    return out
