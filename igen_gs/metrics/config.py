"""The configuration of ``igen eval`` (:func:`igen_gs.metrics.evaluate`).

Plain dataclass, no torch: the CLI parses it, and ``igen eval --help`` stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal


@dataclass
class EvalConfig:
    """What to compare and what to compute."""

    rendered: Path
    """Rendered frames: a folder of images, an .mp4, or a LeRobot v3.0 dataset directory."""
    reference: Path
    """Reference frames, the same kind of input (folders and MP4s may be mixed)."""
    out: Path = Path("outputs/eval")
    """Folder for report.json, curves.png and worst.png."""
    masks: Path | None = None
    """Folder of mask PNGs (nonzero = evaluate this pixel): one per frame in sorted order, or
    a single one for all frames."""
    rendered_depth: Path | None = None
    """Folder of the rendered frames' depth maps (16-bit PNG in mm, or .npy in metres)."""
    reference_depth: Path | None = None
    """Folder of the reference depth maps (same formats)."""
    cameras: tuple[str, ...] = ()
    """Datasets: only these cameras (default: every camera both datasets have)."""
    lpips: Literal["auto", "on", "off"] = "auto"
    """LPIPS: 'on' requires the backbone weights, 'auto' skips LPIPS (noted in the report)
    when they are missing, 'off' never computes it."""
    lpips_net: Literal["alex", "vgg"] = "alex"
    """LPIPS backbone."""
    lpips_weights: Path | None = None
    """Backbone weights file (or folder holding alexnet-owt-7be5be79.pth /
    vgg16-397923af.pth); default: the torch hub cache."""
    flicker: bool = False
    """Also measure flicker: mean absolute frame-to-frame change of the rendered frames on
    static pixels (from --static-masks, or a dataset's label maps for fixed cameras)."""
    static_masks: Path | None = None
    """Folder of static-pixel mask PNGs for --flicker (nonzero = nothing moves there): one
    per frame, or one for all."""
    warp: bool = False
    """Also measure the warp error: mean absolute difference (0..1) between each rendered
    frame and the previous one warped by the known camera and object motion, on pixels seen in
    both (rendered datasets written by igen, which store depth, label maps, camera and object
    poses; the gripper is left out)."""
    worst: int = 4
    """Number of frames in worst.png (lowest PSNR)."""
    progress: bool = False
    """Show a progress bar (on stderr, when it is a terminal)."""
    device: str = "auto"
    """Where LPIPS runs: "auto" (the first CUDA device when there is one, else the CPU),
    "cpu", "cuda" or "cuda:N"."""
