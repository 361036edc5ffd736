"""Rendering files to pictures (``igen render``)."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from ..imageio import write_depth_png, write_rgb
from .camera import Camera
from .field import GaussianField
from .scene import Scene


def default_view(field: GaussianField, width: int, height: int, fov_y_deg: float,
                 up=(0.0, 0.0, 1.0)) -> Camera:
    """A camera that sees the whole field: from the front (-y) and above (+up), at a distance
    that fits the centres' bounding sphere in the vertical field of view."""
    lo, hi = field.bounds()
    centre = (0.5 * (lo + hi)).double()
    radius = max(float(0.5 * (hi - lo).norm()), 1e-3)
    dist = 1.15 * radius / torch.sin(torch.tensor(fov_y_deg / 2).deg2rad()).item()
    up_v = torch.as_tensor(up, dtype=torch.float64)
    up_v = up_v / up_v.norm()
    front = torch.tensor([0.0, -1.0, 0.0], dtype=torch.float64)
    if abs(float(front @ up_v)) > 0.9:
        front = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    direction = front - (front @ up_v) * up_v
    direction = direction / direction.norm()
    eye = centre + dist * (0.8 * direction + 0.6 * up_v)
    return Camera.look_at(eye, centre, up_v, width=width, height=height, fov_y_deg=fov_y_deg)


def render_file_to_png(input_path, out, *, width=640, height=480, fov_y_deg=60.0, fx=None,
                       eye=None, target=None, up=(0.0, 0.0, 1.0), background=(0.0, 0.0, 0.0),
                       depth_out=None, backend="auto") -> dict:
    """Render a 3DGS PLY or a scene directory into a PNG; returns a summary dict."""
    input_path = Path(input_path)
    if input_path.is_dir():
        scene = Scene.load(input_path)
    elif input_path.is_file():
        scene = Scene(GaussianField.load_ply(input_path))
    else:
        raise FileNotFoundError(f"no such PLY file or scene directory: {input_path}")
    if scene.num_gaussians() == 0:
        raise ValueError(f"{input_path} holds no Gaussians")
    if eye is None and target is None and scene.camera is not None:
        cam = scene.camera.resized(width, height)
    else:
        everything, _ = scene.compose()
        cam = default_view(everything, width, height, fov_y_deg, up)
        if eye is not None or target is not None:
            lo, hi = everything.bounds()
            tgt = target if target is not None else (0.5 * (lo + hi)).tolist()
            cam = Camera.look_at(eye if eye is not None else cam.center, tgt, up,
                                 width=width, height=height, fov_y_deg=fov_y_deg)
    if fx is not None:
        cam = Camera(Camera.intrinsics(fx, fx, width / 2, height / 2), cam.T_world_cam, width,
                     height, cam.name)
    t0 = time.perf_counter()
    out_d = scene.render(cam, background_color=background, labels=False, backend=backend)
    ms = (time.perf_counter() - t0) * 1e3
    write_rgb(out, out_d["rgb"][0].clamp(0, 1).cpu().numpy())
    if depth_out is not None:
        write_depth_png(depth_out, out_d["depth"][0].cpu().numpy())
    return {"out": str(out), "width": width, "height": height,
            "num_gaussians": scene.num_gaussians(), "ms": ms,
            "backend": out_d["meta"]["backend"]}
