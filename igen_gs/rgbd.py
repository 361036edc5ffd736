"""Folders of RGB-D frames with poses, in the 7-Scenes / tsdf-fusion layout:

    camera-intrinsics.txt        3x3 K (whitespace separated)
    frame-NNNNNN.color.jpg       RGB (or .color.png)
    frame-NNNNNN.depth.png       16-bit depth, millimetres, 0 = no measurement
    frame-NNNNNN.pose.txt        4x4 camera-to-world (T_world_cam), metres

(``../shared/data/redkitchen`` is such a folder.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .imageio import read_depth, read_rgb

_FRAME_RE = re.compile(r"^frame-(\d+)\.color\.(jpg|jpeg|png)$")


@dataclass
class RGBDFrame:
    index: int
    rgb: np.ndarray  # uint8 [H, W, 3]
    depth: np.ndarray  # float32 [H, W] metres, 0 = invalid
    T_world_cam: np.ndarray  # float64 [4, 4]
    K: np.ndarray  # float64 [3, 3]


class RGBDFolder:
    """Lazy reader of an RGB-D folder; ``folder[i]`` is the i-th frame in index order."""

    def __init__(self, root, depth_scale: float = 0.001):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"RGB-D folder not found: {self.root}")
        kpath = self.root / "camera-intrinsics.txt"
        if not kpath.is_file():
            raise ValueError(f"{self.root} has no camera-intrinsics.txt")
        try:
            self.K = np.loadtxt(kpath, dtype=np.float64).reshape(3, 3)
        except ValueError as e:
            raise ValueError(f"cannot parse {kpath}: {e}") from None
        found = []
        for p in self.root.iterdir():
            m = _FRAME_RE.match(p.name)
            if m:
                found.append((int(m.group(1)), p))
        if not found:
            raise ValueError(f"{self.root} has no frame-NNNNNN.color.jpg files")
        found.sort()
        self.indices = [i for i, _ in found]
        self._color = dict(found)
        self.depth_scale = depth_scale

    def __len__(self) -> int:
        return len(self.indices)

    def __contains__(self, index: int) -> bool:
        """Whether frame number ``index`` (as in its file name) is in the folder."""
        return index in self._color

    def path(self, index: int, kind: str) -> Path:
        """Path of frame ``index`` (the number in its file name) of kind color/depth/pose."""
        if kind == "color":
            return self._color[index]
        ext = {"depth": "png", "pose": "txt"}[kind]
        return self.root / f"frame-{index:06d}.{kind}.{ext}"

    def pose(self, index: int) -> np.ndarray:
        p = self.path(index, "pose")
        if not p.is_file():
            raise FileNotFoundError(f"pose file not found: {p}")
        try:
            T = np.loadtxt(p, dtype=np.float64).reshape(4, 4)
        except ValueError as e:
            raise ValueError(f"cannot parse pose {p}: {e}") from None
        if not np.isfinite(T).all():
            raise ValueError(f"pose {p} has non-finite values")
        return T

    def frame(self, index: int) -> RGBDFrame:
        """Frame by its file number (e.g. 0, 3, 6 for redkitchen)."""
        if index not in self._color:
            raise ValueError(f"{self.root} has no frame {index}")
        rgb = read_rgb(self.path(index, "color"))
        depth = read_depth(self.path(index, "depth"), scale=self.depth_scale)
        if depth.shape != rgb.shape[:2]:
            raise ValueError(f"frame {index}: depth {depth.shape} and colour {rgb.shape[:2]} "
                             "differ in size")
        return RGBDFrame(index, rgb, depth, self.pose(index), self.K.copy())

    def __getitem__(self, i: int) -> RGBDFrame:
        return self.frame(self.indices[i])
