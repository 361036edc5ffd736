"""``igen lift``: one photo (+ depth, intrinsics, masks or prompts) -> a scene directory."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import tyro

from igen_gs.lifting.config import LiftConfig


@dataclass
class LiftCommand:
    """Lift a photo into a per-object Gaussian scene (scene.json, background.ply,
    objects/<name>.ply) and write a preview PNG from a shifted view."""

    image: tyro.conf.Positional[Path]
    """RGB image (PNG/JPEG)."""
    out: Path = Path("outputs/scene")
    """Output scene directory (written atomically)."""
    depth: Path | None = None
    """Metric depth: 16-bit PNG (see --depth-scale), .npy (metres) or .exr. Default: Depth
    Anything V2 (needs its weights, see --depth-model)."""
    depth_scale: float | None = None
    """Metres per unit of an integer depth PNG (default 0.001: millimetres; overrides
    --config.depth-scale)."""
    depth_model: str = "depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf"
    """Depth model hub id or local directory (used when --depth is not given)."""
    intrinsics: tuple[float, float, float, float] | None = None
    """fx fy cx cy in pixels. Default: from the depth model if it predicts them, else a 60
    degree vertical field of view."""
    mask: tyro.conf.UseAppendAction[list[str]] = field(default_factory=list)
    """An object mask as NAME=PATH (PNG, nonzero = object); repeat the flag for more objects."""
    prompt: tyro.conf.UseAppendAction[list[str]] = field(default_factory=list)
    """An object prompt as NAME=box:X0,Y0,X1,Y1 or NAME=point:X,Y[;X,Y...] (pixels; GrabCut
    needs a box); repeat the flag for more objects."""
    erase: tyro.conf.UseAppendAction[list[str]] = field(default_factory=list)
    """Something to remove from the scene (a robot, a person, clutter) as NAME=PATH (PNG,
    nonzero = erase): no Gaussians there, the background behind it is inpainted and completed
    as under objects; object masks win where they overlap. Repeat for more."""
    erase_prompt: tyro.conf.UseAppendAction[list[str]] = field(default_factory=list)
    """Something to remove, as a prompt NAME=box:X0,Y0,X1,Y1 or NAME=point:X,Y[;X,Y...],
    segmented like --prompt; repeat for more."""
    segmenter: Literal["grabcut", "sam", "auto"] = "grabcut"
    """How prompts become masks (GrabCut needs box prompts; SAM needs weights), or "auto":
    objects found without prompts by segment-anything (needs --sam-checkpoint), named
    "object 1", "object 2", ..."""
    sam_model: str = "facebook/sam-vit-base"
    """SAM hub id or local directory (--segmenter sam)."""
    sam_checkpoint: Path | None = None
    """segment-anything checkpoint file (--segmenter auto), e.g. sam_vit_b_01ec64.pth."""
    sam_model_type: str = "vit_b"
    """Architecture of --sam-checkpoint (vit_b, vit_l, vit_h)."""
    device: str = "auto"
    """Where every stage runs that can use a GPU: the depth and segmentation models and the
    colour refinement (also sets --config.device): "auto" (the first CUDA device when there
    is one, else the CPU), "cpu", "cuda" or "cuda:N"."""
    pose: Path | None = None
    """Text file with the camera-to-world pose T_world_cam (4x4); default: world = camera."""
    preview_shift_m: float = 0.1
    """The preview camera is moved this far to the right of the input camera."""
    max_pixels: int | None = None
    """Refuse larger photos, masks and depth maps (default 178956970, Pillow's limit; or
    $IGEN_MAX_PIXELS). Downscale a huge photo first, or raise this."""
    config: LiftConfig = field(default_factory=LiftConfig)
    """Lifting options."""

    def main(self) -> None:
        import math
        import os

        import numpy as np

        # Flags, files and the output are checked before the heavy imports and any work.
        if self.depth_scale is not None and not (math.isfinite(self.depth_scale)
                                                 and self.depth_scale > 0):
            raise ValueError(f"--depth-scale must be positive (and finite), got {self.depth_scale}")
        if self.intrinsics is not None and not all(math.isfinite(v) for v in self.intrinsics):
            raise ValueError(f"--intrinsics must be finite numbers, got {self.intrinsics}")
        if not math.isfinite(self.preview_shift_m):
            raise ValueError(f"--preview-shift-m must be finite, got {self.preview_shift_m}")
        if self.max_pixels is not None:
            if self.max_pixels < 1:
                raise ValueError(f"--max-pixels must be positive, got {self.max_pixels}")
            os.environ["IGEN_MAX_PIXELS"] = str(self.max_pixels)
        check_out_dir(self.out)
        for p, flag in ((self.image, "image"), (self.depth, "--depth"), (self.pose, "--pose")):
            if p is not None and not p.is_file():
                raise FileNotFoundError(f"{flag} file not found: {p}")
        masks = _named(self.mask, "--mask")
        prompts = {name: _parse_prompt(spec)
                   for name, spec in _named(self.prompt, "--prompt").items()}
        erase = _named(self.erase, "--erase")
        erase_prompts = {name: _parse_prompt(spec, "--erase-prompt")
                         for name, spec in _named(self.erase_prompt, "--erase-prompt").items()}
        T = None
        if self.pose is not None:
            try:
                T = np.loadtxt(self.pose).reshape(4, 4)
            except ValueError as e:
                raise ValueError(f"cannot read a 4x4 pose from {self.pose}: {e}") from None
            if not np.isfinite(T).all():
                raise ValueError(f"the pose in {self.pose} must be finite numbers")

        from igen_gs.device import resolve_device
        from igen_gs.lifting import lift
        from igen_gs.lifting.models.depth import DepthModelConfig
        from igen_gs.lifting.models.segment import AutoMaskConfig, SegmentConfig

        device = str(resolve_device(self.device))
        cfg = LiftConfig(**{**self.config.__dict__, "device": self.device})
        if self.depth_scale is not None:
            cfg = LiftConfig(**{**cfg.__dict__, "depth_scale": self.depth_scale})
        scene = lift(self.image, self.depth, self.intrinsics, masks=masks or None,
                     prompts=prompts or None, T_world_cam=T, config=cfg,
                     erase=erase or None, erase_prompts=erase_prompts or None,
                     depth_model=DepthModelConfig(model=self.depth_model, device=device),
                     segmenter=SegmentConfig(
                         method=self.segmenter, sam_model=self.sam_model, device=device,
                         auto=AutoMaskConfig(checkpoint=None if self.sam_checkpoint is None
                                             else str(self.sam_checkpoint),
                                             model_type=self.sam_model_type)))
        preview = scene.render(shifted_view(scene, self.preview_shift_m), labels=False)
        write_scene_dir(scene, preview["rgb"][0].clamp(0, 1).cpu().numpy(), self.out)
        info = scene.meta["lift"]
        n = info["num_gaussians"]
        depth = info["depth"].get("scale_source", info["depth"]["source"])
        print(f"wrote {self.out}: {sum(n.values())} Gaussians (background {n['background']}"
              + "".join(f", {k} {v}" for k, v in n.items() if k != "background")
              + "".join(f"; erased {k} ({v['erased_pixels']} pixels)"
                        for k, v in info.get("erase", {}).items())
              + f"), preview.png; depth: {depth}; intrinsics: {info['intrinsics']}; "
              f"{info['seconds']:.2f} s")


def check_out_dir(out: Path) -> None:
    """``out`` may be new, an empty directory or a scene directory (it is replaced); checked
    before any work (see igen_gs.outputs.claim_output)."""
    from igen_gs.outputs import claim_output

    claim_output(out, "dir", what="a scene directory (with scene.json)",
                 ours=lambda p: (p / "scene.json").is_file())


def write_scene_dir(scene, preview_rgb, out: Path) -> None:
    """Scene files and preview.png into ``out``, all or nothing: written into a temporary
    sibling directory that then replaces ``out``."""
    from igen_gs.imageio import write_rgb
    from igen_gs.outputs import staged_dir

    with staged_dir(out) as tmp:
        scene.save(tmp)
        write_rgb(tmp / "preview.png", preview_rgb)


def _named(values: list[str], flag: str) -> dict[str, str]:
    """NAME=VALUE flags -> {NAME: VALUE}; each name once."""
    out: dict[str, str] = {}
    for text in values:
        name, value = _split(text, flag)
        if name in out:
            raise ValueError(f"{flag} given twice for {name!r}")
        out[name] = value
    return out


def _split(text: str, flag: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise ValueError(f"{flag} must look like NAME=VALUE, got {text!r}")
    return name.strip(), value.strip()


def _parse_prompt(spec: str, flag: str = "--prompt") -> dict:
    kind, _, rest = spec.partition(":")
    try:
        if kind == "box":
            box = [float(v) for v in rest.split(",")]
            if len(box) != 4:
                raise ValueError
            return {"box": box}
        if kind == "point":
            pts = [[float(v) for v in p.split(",")] for p in rest.split(";")]
            if any(len(p) != 2 for p in pts):
                raise ValueError
            return {"points": pts}
    except ValueError:
        pass
    raise ValueError(f"{flag} value must be box:X0,Y0,X1,Y1 or point:X,Y[;X,Y...], got "
                     f"{spec!r}")


def shifted_view(scene, shift_m: float):
    """The input camera moved ``shift_m`` to its right, turned to keep looking at the point the
    input camera looked at (at the median scene depth)."""
    import torch

    from igen_gs import Camera

    cam = scene.camera
    everything, _ = scene.compose()
    p_cam = (everything.means.double() - cam.center) @ cam.T_world_cam[:3, :3]
    depth = float(p_cam[:, 2].median())
    target = cam.T_world_cam[:3, :3] @ torch.tensor([0.0, 0.0, depth], dtype=torch.float64) + \
        cam.center
    eye = cam.center + shift_m * cam.T_world_cam[:3, 0]
    up = -cam.T_world_cam[:3, 1]
    return Camera.look_at(eye, target, up, width=cam.width, height=cam.height, K=cam.K,
                          name="preview")


COMMAND = ("lift", LiftCommand)
