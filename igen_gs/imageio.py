"""Reading and writing images and depth maps, with one-line errors for bad files.

Colour images are uint8 [H, W, 3] RGB. Depth maps are float32 [H, W] in metres, 0 (or NaN on
input) meaning "no measurement". 16-bit PNG depth is stored in millimetres by default.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

DEFAULT_MAX_PIXELS = 178_956_970
"""Largest image read (width x height), Pillow's own decompression-bomb limit; override with
``$IGEN_MAX_PIXELS`` (``igen lift --max-pixels``) or the ``max_pixels`` arguments."""


def max_pixels_limit(max_pixels: int | None = None) -> int:
    """The pixel limit in force: the argument, else ``$IGEN_MAX_PIXELS``, else the default."""
    if max_pixels is not None:
        return int(max_pixels)
    env = os.environ.get("IGEN_MAX_PIXELS", "").strip()
    if env:
        try:
            value = int(env)
        except ValueError:
            raise ValueError(f"IGEN_MAX_PIXELS must be an integer, got {env!r}") from None
        if value < 1:
            raise ValueError(f"IGEN_MAX_PIXELS must be positive, got {value}")
        return value
    return DEFAULT_MAX_PIXELS


def open_image_array(path, what: str = "image", max_pixels: int | None = None,
                     convert: str | None = None) -> np.ndarray:
    """Decode an image file into an array, with one-line errors naming ``what`` and the path:
    missing, empty, not an image, truncated, or larger than the pixel limit (checked from the
    header, before anything is decoded). ``convert``: a Pillow mode such as "RGB"."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    if path.stat().st_size == 0:
        raise ValueError(f"cannot read {what} {path}: the file is empty")
    limit = max_pixels_limit(max_pixels)
    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # our own limit below, with a way out in the message
    try:
        with Image.open(path) as im:
            w, h = im.size
            if w * h > limit:
                raise ValueError(
                    f"{what} {path} is {w}x{h} ({w * h:,} pixels), above the limit of "
                    f"{limit:,}; downscale it, or raise the limit with --max-pixels (or "
                    f"$IGEN_MAX_PIXELS)")
            if w == 0 or h == 0:
                raise ValueError(f"cannot read {what} {path}: it is {w}x{h} pixels")
            im.load()
            if convert is not None:
                return np.asarray(im.convert(convert), dtype=np.uint8).copy()
            return np.asarray(im).copy()
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as e:
        raise ValueError(f"cannot read {what} {path}: {_first_line(e)}") from None
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def _first_line(e: BaseException) -> str:
    lines = [ln for ln in str(e).splitlines() if ln.strip()]
    return lines[0] if lines else type(e).__name__


def read_rgb(path, max_pixels: int | None = None) -> np.ndarray:
    """PNG/JPEG/... -> uint8 [H, W, 3] RGB (alpha dropped, grey expanded)."""
    return open_image_array(path, "image", max_pixels, convert="RGB")


def write_rgb(path, image: np.ndarray) -> Path:
    """uint8 (or float in [0, 1]) [H, W, 3] -> PNG/JPEG by extension, written atomically
    (nothing is left behind when writing fails)."""
    from PIL import Image

    from .outputs import staged_file

    path = Path(path)
    img = np.asarray(image)
    if img.dtype != np.uint8:
        img = (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if img.ndim != 3 or img.shape[2] not in (3, 4):
        raise ValueError(f"image to write must be [H, W, 3], got shape {img.shape}")
    if path.is_dir():
        raise IsADirectoryError(f"cannot write an image to {path}: it is a directory")
    with staged_file(path) as tmp:
        Image.fromarray(img).save(tmp, format=_format(path))
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
    * ``.npy``: float values in metres; integer values (e.g. uint16 millimetres) are scaled
      by ``scale`` like an integer PNG;
    * ``.exr``: float values in metres (OpenEXR), from the channel ``Z`` (or ``depth``, ``D``,
      ``Y``, ``R``, in that order of preference; else the only channel there is).
    Non-finite and negative values become 0 ("no measurement").
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"depth file not found: {path}")
    if path.stat().st_size == 0:
        raise ValueError(f"cannot read depth {path}: the file is empty")
    ext = path.suffix.lower()
    try:
        if ext == ".npy":
            raw = np.load(path, allow_pickle=False)
            if np.issubdtype(raw.dtype, np.integer) or raw.dtype == np.bool_:
                d = raw.astype(np.float32) * float(scale)
            elif np.issubdtype(raw.dtype, np.floating):
                d = raw.astype(np.float32)
            else:
                raise ValueError(f"expected numbers, got dtype {raw.dtype}")
        elif ext == ".exr":
            d = _read_exr_depth(path)
        else:
            raw = open_image_array(path, "depth")
            if raw.ndim != 2:
                raise ValueError(f"expected a single-channel depth image, got shape {raw.shape}")
            d = raw.astype(np.float32) * float(scale)
    except (OSError, ValueError, SyntaxError, EOFError) as e:
        msg = str(e)
        prefix = f"cannot read depth {path}: "
        raise ValueError(msg if msg.startswith(("cannot read depth", "depth ")) else
                         prefix + _first_line(e)) from None
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
    from .outputs import staged_file

    with staged_file(path) as tmp:
        Image.fromarray(q).save(tmp, format="PNG")
    return path
