"""Episode previews, for people to look at before they train: an MP4 with all cameras tiled in a
grid and a caption per frame (e.g. the plan step and the gripper state), and a PNG contact
sheet (evenly spaced frames as rows, cameras as columns). Text uses PIL's built-in default
font (nothing is downloaded)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from .video import encode_mp4

TILE_HEIGHT = 240
BAR = 18  # caption bar height, pixels


@lru_cache(maxsize=4)
def _font(size: int = 12):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _fit(img: np.ndarray, height: int) -> np.ndarray:
    """Scale an image to ``height`` rows, keeping its aspect ratio (area averaging when
    shrinking)."""
    import cv2

    h, w = img.shape[:2]
    if h == height:
        return img
    width = max(2, int(round(w * height / h)))
    interp = cv2.INTER_AREA if height < h else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(img), (width, height), interpolation=interp)


def grid_columns(n: int) -> int:
    """Columns of the preview grid for n cameras: one row up to 3, then a square-ish grid."""
    return n if n <= 3 else int(np.ceil(np.sqrt(n)))


def tile(views: list[np.ndarray], height: int = TILE_HEIGHT, columns: int | None = None
         ) -> np.ndarray:
    """uint8 images (any sizes) scaled to one height and laid out left to right, top to
    bottom, in ``columns`` columns (default :func:`grid_columns`); cells are as wide as the
    widest image, unused space black."""
    if not views:
        raise ValueError("no images to tile")
    scaled = [_fit(np.asarray(v), height) for v in views]
    cols = columns or grid_columns(len(scaled))
    rows = int(np.ceil(len(scaled) / cols))
    width = max(s.shape[1] for s in scaled)
    canvas = np.zeros((rows * height, cols * width, 3), np.uint8)
    for i, s in enumerate(scaled):
        r, c = divmod(i, cols)
        canvas[r * height:(r + 1) * height, c * width:c * width + s.shape[1]] = s
    return canvas


def _annotate(img: np.ndarray, caption: str, names: list[str] | None, cell_h: int,
              cols: int) -> np.ndarray:
    """Camera names in the top-left corner of each cell and ``caption`` in a bar below."""
    from PIL import Image, ImageDraw

    h, w = img.shape[:2]
    out = np.zeros((h + BAR, w, 3), np.uint8)
    out[:h] = img
    im = Image.fromarray(out)
    d = ImageDraw.Draw(im)
    font = _font()
    d.text((4, h + 3), caption, fill=(255, 255, 255), font=font)
    cell_w = w // cols
    for i, name in enumerate(names or []):
        r, c = divmod(i, cols)
        x, y = c * cell_w + 4, r * cell_h + 3
        d.rectangle([x - 2, y - 1, x + d.textlength(name, font=font) + 2, y + 13],
                    fill=(0, 0, 0))
        d.text((x, y), name, fill=(255, 255, 0), font=font)
    return np.asarray(im)


def _check(frames: dict[str, np.ndarray], captions: list[str] | None) -> int:
    if not frames:
        raise ValueError("no camera frames to preview")
    lengths = {np.asarray(v).shape[0] for v in frames.values()}
    if len(lengths) != 1 or 0 in lengths:
        raise ValueError(f"preview cameras must have the same, non-zero number of frames, got "
                         f"{ {n: np.asarray(v).shape[0] for n, v in frames.items()} }")
    T = lengths.pop()
    if captions is not None and len(captions) != T:
        raise ValueError(f"{len(captions)} captions for {T} frames")
    return T


def write_preview(path, frames: dict[str, np.ndarray], fps: float,
                  captions: list[str] | None = None, height: int = TILE_HEIGHT,
                  codec: str = "h264") -> Path:
    """Tiled MP4 of all cameras (name -> uint8 [T, H, W, 3]), ``height`` pixels per row of
    cameras, with a caption bar per frame (``captions[t]``, default "frame t"). Written
    atomically. Returns the path."""
    T = _check(frames, captions)
    names = list(frames)
    cols = grid_columns(len(names))
    out = []
    for t in range(T):
        img = tile([frames[n][t] for n in names], height=height, columns=cols)
        text = f"{t:4d}  " + (captions[t] if captions is not None else f"frame {t}")
        out.append(_annotate(img, text, names, height, cols))
    return encode_mp4(path, np.stack(out), fps, crf=23, codec=codec)


def contact_sheet(frames: dict[str, np.ndarray], count: int = 8,
                  captions: list[str] | None = None, thumb_height: int = 120) -> np.ndarray:
    """uint8 image: ``min(count, T)`` evenly spaced frames (rows, each with its caption bar)
    x cameras (columns, named on the first row)."""
    T = _check(frames, captions)
    names = list(frames)
    idx = np.linspace(0, T - 1, min(count, T)).round().astype(int)
    rows = []
    for j, t in enumerate(idx):
        row = tile([frames[n][t] for n in names], height=thumb_height, columns=len(names))
        text = f"t={t}" + (f"  {captions[t]}" if captions is not None else "")
        rows.append(_annotate(row, text, names if j == 0 else None, thumb_height, len(names)))
    return np.concatenate(rows, axis=0)


def write_contact_sheet(path, frames: dict[str, np.ndarray], count: int = 8,
                        captions: list[str] | None = None, thumb_height: int = 120) -> Path:
    """:func:`contact_sheet` saved as a PNG (atomically). Returns the path."""
    from PIL import Image

    sheet = contact_sheet(frames, count, captions, thumb_height)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.png")
    Image.fromarray(sheet).save(tmp)
    os.replace(tmp, path)
    return path
