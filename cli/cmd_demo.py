"""``igen demo``: the embedded default job (no downloads, no GPU)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal


@dataclass
class DemoCommand:
    """Render the built-in tabletop scene to a PNG."""

    out: Path = Path("outputs/demo")
    """Output directory."""
    width: int = 640
    """Image width in pixels."""
    height: int = 480
    """Image height in pixels."""
    backend: Literal["auto", "cpu", "torch", "gsplat"] = "auto"
    """Rasterization backend."""

    def main(self) -> None:
        import time

        from igen_gs.imageio import write_rgb
        from igen_gs.scene.builtin import builtin_camera, builtin_scene

        scene = builtin_scene()
        cam = builtin_camera(self.width, self.height)
        t0 = time.perf_counter()
        out = scene.render(cam, background_color=(1.0, 1.0, 1.0), backend=self.backend)
        ms = (time.perf_counter() - t0) * 1e3
        path = write_rgb(self.out / "builtin.png", out["rgb"][0].clamp(0, 1).numpy())
        print(f"wrote {path} ({self.width}x{self.height}, {scene.num_gaussians()} Gaussians, "
              f"{ms:.0f} ms)")


COMMAND = ("demo", DemoCommand)
