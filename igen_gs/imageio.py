"""Reading and writing images and depth maps, with one-line errors for bad files.

Colour images are uint8 [H, W, 3] RGB. Depth maps are float32 [H, W] in metres, 0 (or NaN on
input) meaning "no measurement". 16-bit PNG depth is stored in millimetres by default.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def read_rgb(path) -> np.ndarray:
    """PNG/JPEG/... -> uint8 [H, W, 3] RGB (alpha dropped, grey expanded)."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    try:
        with Image.open(path) as im:
            im.load()
            return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise ValueError(f"cannot read image {path}: {e}") from None


def write_rgb(path, image: np.ndarray) -> Path:
    """uint8 (or float in [0, 1]) [H, W, 3] -> PNG/JPEG by extension, written atomically."""
    from PIL import Image

    path = Path(path)
    img = np.asarray(image)
    if img.dtype != np.uint8:
        img = (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if img.ndim != 3 or img.shape[2] not in (3, 4):
        raise ValueError(f"image to write must be [H, W, 3], got shape {img.shape}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    Image.fromarray(img).save(tmp, format=_format(path))
    os.replace(tmp, path)
    return path


def _format(path: Path) -> str:
    ext = path.suffix.lower()
    return {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP"}.get(ext, "PNG")


_EXR_DEPTH_CHANNELS = ("Z", "depth", "D", "Y", "R")


def _read_exr_depth(path: Path) -> np.ndarray:
    import OpenEXR

    try:
        with OpenEXR.File(str(path)) as f:
            channels = {name: np.asarray(c.pixels) for name, c in f.channels().items()}
    except Exception as e:  # the bindings raise RuntimeError/Exception on corrupt files
        raise ValueError(f"not a readable EXR file ({e})") from None
    for name in _EXR_DEPTH_CHANNELS:
        if name in channels:
            return channels[name].astype(np.float32)
    if "RGB" in channels or "RGBA" in channels:  # grouped channels: depth stored in R
        return channels.get("RGB", channels.get("RGBA"))[..., 0].astype(np.float32)
    if len(channels) == 1:
        return next(iter(channels.values())).astype(np.float32)
    raise ValueError(f"no depth channel among {sorted(channels)} (expected one of "
                     f"{list(_EXR_DEPTH_CHANNELS)} or a single channel)")


def write_depth_exr(path, depth: np.ndarray) -> Path:
    """Metric depth [H, W] (metres) -> single-channel float32 EXR (channel ``Z``, ZIP)."""
    import OpenEXR

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    depth = np.ascontiguousarray(np.asarray(depth, dtype=np.float32))
    if depth.ndim != 2:
        raise ValueError(f"depth must be [H, W], got shape {depth.shape}")
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    with OpenEXR.File(header, {"Z": depth}) as f:
        f.write(str(path))
    return path


def read_depth(path, scale: float = 0.001) -> np.ndarray:
    """Depth file -> float32 metres [H, W].

    * 16-bit (or 8/32-bit integer) PNG: value * ``scale`` (default millimetres -> metres);
    * ``.npy``: float values already in metres (``scale`` ignored);
    * ``.exr``: float values in metres (OpenEXR), from the channel ``Z`` (or ``depth``, ``D``,
      ``Y``, ``R``, in that order of preference; else the only channel there is).
    Non-finite and negative values become 0 ("no measurement").
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"depth file not found: {path}")
    ext = path.suffix.lower()
    try:
        if ext == ".npy":
            d = np.load(path, allow_pickle=False).astype(np.float32)
        elif ext == ".exr":
            d = _read_exr_depth(path)
        else:
            from PIL import Image

            with Image.open(path) as im:
                raw = np.asarray(im)
            if raw.ndim != 2:
                raise ValueError(f"expected a single-channel depth image, got shape {raw.shape}")
            d = raw.astype(np.float32) * float(scale)
    except (OSError, ValueError, SyntaxError) as e:
        raise ValueError(f"cannot read depth {path}: {e}") from None
    if d.ndim != 2:
        raise ValueError(f"depth {path} must be a 2D map, got shape {d.shape}")
    d = np.where(np.isfinite(d) & (d > 0), d, 0.0).astype(np.float32)
    return d


def write_depth_png(path, depth_m: np.ndarray, scale: float = 0.001) -> Path:
    """float metres [H, W] -> 16-bit PNG of round(depth / scale) (0 = no depth)."""
    from PIL import Image

    path = Path(path)
    d = np.asarray(depth_m, dtype=np.float64)
    d = np.where(np.isfinite(d) & (d > 0), d, 0.0)
    q = np.clip(np.round(d / scale), 0, 65535).astype(np.uint16)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    Image.fromarray(q).save(tmp, format="PNG")
    os.replace(tmp, path)
    return path
