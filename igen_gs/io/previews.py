"""Episode previews: an MP4 with all cameras tiled and per-frame captions (step, gripper), and a
PNG contact sheet (8 frames x cameras) -- because people look before they read."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .video import encode_mp4

TILE_HEIGHT = 240


def _fit(img: np.ndarray, height: int) -> np.ndarray:
    from PIL import Image

    h, w = img.shape[:2]
    if h == height:
        return img
    width = max(2, int(round(w * height / h)))
    return np.asarray(Image.fromarray(img).resize((width, height), Image.BILINEAR))


def tile(views: list[np.ndarray], height: int = TILE_HEIGHT, columns: int | None = None
         ) -> np.ndarray:
    """Images (any sizes) scaled to one height and laid out in a grid (2 columns for 4)."""
    scaled = [_fit(v, height) for v in views]
    n = len(scaled)
    cols = columns or (n if n <= 3 else int(np.ceil(np.sqrt(n))))
    rows = int(np.ceil(n / cols))
    width = max(s.shape[1] for s in scaled)
    canvas = np.zeros((rows * height, cols * width, 3), np.uint8)
    for i, s in enumerate(scaled):
        r, c = divmod(i, cols)
        canvas[r * height:(r + 1) * height, c * width:c * width + s.shape[1]] = s
    return canvas


def _caption(img: np.ndarray, text: str, names: list[str] | None = None,
             height: int = TILE_HEIGHT, cols: int = 1) -> np.ndarray:
    from PIL import Image, ImageDraw

    im = Image.fromarray(img)
    d = ImageDraw.Draw(im)
    if text:
        d.rectangle([0, im.height - 16, im.width, im.height], fill=(0, 0, 0))
        d.text((4, im.height - 14), text, fill=(255, 255, 255))
    for i, name in enumerate(names or []):
        r, c = divmod(i, cols)
        x, y = c * (im.width // cols) + 4, r * height + 3
        d.rectangle([x - 2, y - 1, x + 6 * len(name) + 2, y + 11], fill=(0, 0, 0))
        d.text((x, y), name, fill=(255, 255, 0))
    return np.asarray(im)


def _layout(n: int) -> int:
    return n if n <= 3 else int(np.ceil(np.sqrt(n)))


def write_preview(path, frames: dict[str, np.ndarray], fps: float,
                  captions: list[str] | None = None) -> Path:
    """Tiled MP4 of all cameras (dict name -> uint8 [T, H, W, 3]) with a caption per frame."""
    names = list(frames)
    if not names:
        raise ValueError("no camera frames to preview")
    T = min(v.shape[0] for v in frames.values())
    cols = _layout(len(names))
    out = []
    for t in range(T):
        img = tile([frames[n][t] for n in names], columns=cols)
        text = captions[t] if captions is not None and t < len(captions) else f"frame {t}"
        out.append(_caption(img, text, names, cols=cols))
    return encode_mp4(path, np.stack(out), fps, crf=23)


def write_contact_sheet(path, frames: dict[str, np.ndarray], count: int = 8,
                        captions: list[str] | None = None, thumb_height: int = 120) -> Path:
    """PNG grid: ``count`` evenly spaced frames (rows) x cameras (columns)."""
    from PIL import Image

    names = list(frames)
    T = min(v.shape[0] for v in frames.values())
    idx = np.linspace(0, T - 1, min(count, T)).round().astype(int)
    rows = []
    for t in idx:
        row = tile([frames[n][t] for n in names], height=thumb_height, columns=len(names))
        text = f"t={t}" + (f"  {captions[t]}" if captions is not None and t < len(captions)
                           else "")
        rows.append(_caption(row, text, names if t == idx[0] else None, height=thumb_height,
                             cols=len(names)))
    sheet = np.concatenate(rows, axis=0)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    Image.fromarray(sheet).save(tmp)
    tmp.replace(path)
    return path
