"""What the model front ends share: loading transformers models from a hub id or a local
directory without waiting on an unreachable network and the device check (from
:mod:`igen_gs.pretrained`, which planning's local VLM uses too), and the image check."""

from __future__ import annotations

import numpy as np

from ...pretrained import _hub_reachable, check_device, load_pretrained, looks_like_path

__all__ = ["_hub_reachable", "check_device", "check_image", "load_pretrained",
           "looks_like_path"]


def check_image(image) -> np.ndarray:
    """``image`` as a contiguous uint8 [H, W, 3] array, or ValueError."""
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"image must be a uint8 [H, W, 3] array, got {arr.dtype} "
                         f"{list(arr.shape)}")
    if arr.shape[0] < 2 or arr.shape[1] < 2:
        raise ValueError(f"image is too small: {arr.shape[1]}x{arr.shape[0]}")
    return np.ascontiguousarray(arr)
