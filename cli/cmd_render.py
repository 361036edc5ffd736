"""``igen render``: draw a 3DGS PLY (or a scene directory) from a camera into a PNG."""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import tyro

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
MAX_SIDE = 16384
DEFAULT_FOV_Y_DEG = 60.0
DEFAULT_UP = (0.0, 0.0, 1.0)


@dataclass
class RenderCommand:
    """Render a Gaussian PLY file or an igen-gs scene directory to a PNG image."""

    input: tyro.conf.Positional[Path]
    """A 3DGS .ply file, or a scene directory containing scene.json."""
    out: Path = Path("render.png")
    """Output image (.png, .jpg or .bmp)."""
    width: int = 640
    """Image width in pixels."""
    height: int = 480
    """Image height in pixels."""
    fov_y_deg: float = DEFAULT_FOV_Y_DEG
    """Vertical field of view, degrees (used unless --fx is given)."""
    fx: float | None = None
    """Focal length in pixels (fy = fx, principal point at the image centre)."""
    eye: tuple[float, float, float] | None = None
    """Camera position (world, metres). Default: the scene's input camera if it has one,
    else a view from the front-above of the bounding box."""
    target: tuple[float, float, float] | None = None
    """Point the camera looks at (default: centre of the Gaussians)."""
    up: tuple[float, float, float] = DEFAULT_UP
    """World up direction for the look-at camera."""
    background: tuple[float, float, float] = (0.0, 0.0, 0.0)
    """Background colour (RGB in [0, 1])."""
    depth_out: Path | None = None
    """Also write the expected depth as a 16-bit PNG in millimetres."""
    backend: Literal["auto", "cpu", "torch", "gsplat"] = "auto"
    """Rasterization backend."""

    def main(self) -> None:
        from igen_gs.outputs import claim_output

        self.check()
        claim_output(self.out, "file", suffixes=IMAGE_SUFFIXES)
        if self.depth_out is not None:
            claim_output(self.depth_out, "file", suffixes=(".png",), flag="--depth-out")
            if self.depth_out.resolve() == self.out.resolve():
                raise ValueError("--depth-out must differ from --out")
        for note in self.ignored_options():
            print(f"igen: note: {note}", file=sys.stderr)

        from igen_gs.scene.preview import render_file_to_png

        info = render_file_to_png(
            self.input, self.out, width=self.width, height=self.height,
            fov_y_deg=self.fov_y_deg, fx=self.fx, eye=self.eye, target=self.target, up=self.up,
            background=self.background, depth_out=self.depth_out, backend=self.backend)
        print(f"wrote {info['out']} ({info['width']}x{info['height']}, "
              f"{info['num_gaussians']} Gaussians, {info['ms']:.1f} ms, backend {info['backend']})"
              + (f" and {self.depth_out}" if self.depth_out is not None else ""))

    def check(self) -> None:
        """Every number in range, before anything is read or rendered."""
        if not (0 < self.width <= MAX_SIDE and 0 < self.height <= MAX_SIDE):
            raise ValueError(f"--width and --height must be in 1..{MAX_SIDE}, got "
                             f"{self.width}x{self.height}")
        if not (math.isfinite(self.fov_y_deg) and 0 < self.fov_y_deg < 180):
            raise ValueError(f"--fov-y-deg must be between 0 and 180 degrees (exclusive), got "
                             f"{self.fov_y_deg}")
        if self.fx is not None and not (math.isfinite(self.fx) and self.fx > 0):
            raise ValueError(f"--fx must be a positive number of pixels, got {self.fx}")
        for name in ("eye", "target", "up", "background"):
            v = getattr(self, name)
            if v is not None and not all(math.isfinite(x) for x in v):
                raise ValueError(f"--{name} must be finite numbers, got {v}")
        if not any(abs(x) > 0 for x in self.up):
            raise ValueError("--up must not be the zero vector")
        if self.eye is not None and self.target is not None and \
                all(a == b for a, b in zip(self.eye, self.target)):
            raise ValueError("--eye and --target are the same point; the camera has no "
                             "direction")
        if not all(0.0 <= x <= 1.0 for x in self.background):
            raise ValueError(f"--background must be RGB in [0, 1], got {self.background}")
        if not self.input.exists():
            raise FileNotFoundError(f"no such PLY file or scene directory: {self.input}")

    def ignored_options(self) -> list[str]:
        """Options given that have no effect: with neither --eye nor --target, a scene with an
        input camera is drawn from that camera (its field of view)."""
        if self.eye is not None or self.target is not None or not self.input.is_dir():
            return []
        try:
            doc = json.loads((self.input / "scene.json").read_text())
        except (OSError, ValueError):
            return []  # Scene.load says what is wrong
        if not isinstance(doc, dict) or doc.get("camera") is None:
            return []
        notes = []
        if self.fov_y_deg != DEFAULT_FOV_Y_DEG and self.fx is None:
            notes.append(f"--fov-y-deg {self.fov_y_deg:g} has no effect: the view is the scene's "
                         f"input camera (give --eye or --target to place a camera, or --fx)")
        if tuple(self.up) != DEFAULT_UP:
            notes.append("--up has no effect without --eye or --target")
        return notes


COMMAND = ("render", RenderCommand)
