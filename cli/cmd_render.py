"""``igen render``: draw a 3DGS PLY (or a scene directory) from a camera into a PNG."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import tyro


@dataclass
class RenderCommand:
    """Render a Gaussian PLY file or an igen-gs scene directory to a PNG image."""

    input: tyro.conf.Positional[Path]
    """A 3DGS .ply file, or a scene directory containing scene.json."""
    out: Path = Path("render.png")
    """Output PNG path."""
    width: int = 640
    """Image width in pixels."""
    height: int = 480
    """Image height in pixels."""
    fov_y_deg: float = 60.0
    """Vertical field of view, degrees (used unless --fx is given)."""
    fx: float | None = None
    """Focal length in pixels (fy = fx, principal point at the image centre)."""
    eye: tuple[float, float, float] | None = None
    """Camera position (world, metres). Default: the scene's input camera if it has one,
    else a view from the front-above of the bounding box."""
    target: tuple[float, float, float] | None = None
    """Point the camera looks at (default: centre of the Gaussians)."""
    up: tuple[float, float, float] = (0.0, 0.0, 1.0)
    """World up direction for the look-at camera."""
    background: tuple[float, float, float] = (0.0, 0.0, 0.0)
    """Background colour (RGB in [0, 1])."""
    depth_out: Path | None = None
    """Also write the expected depth as a 16-bit PNG in millimetres."""
    backend: Literal["auto", "cpu", "torch", "gsplat"] = "auto"
    """Rasterization backend."""

    def main(self) -> None:
        from igen_gs.scene.preview import render_file_to_png

        info = render_file_to_png(
            self.input, self.out, width=self.width, height=self.height,
            fov_y_deg=self.fov_y_deg, fx=self.fx, eye=self.eye, target=self.target, up=self.up,
            background=self.background, depth_out=self.depth_out, backend=self.backend)
        print(f"wrote {info['out']} ({info['width']}x{info['height']}, "
              f"{info['num_gaussians']} Gaussians, {info['ms']:.1f} ms, backend {info['backend']})")


COMMAND = ("render", RenderCommand)
