"""Stage "refinement": colours corrected against the photo, so that the re-rendered input view
matches it (the overlap of neighbouring splats otherwise blurs it by a few dB)."""

from __future__ import annotations

import numpy as np
import torch

from ..scene.camera import Camera
from ..scene.field import GaussianField, rgb_to_sh_dc, sh_dc_to_rgb
from ..scene.scene import Scene
from .config import LiftConfig
from .geometry import Splats


def refine_scene(scene: Scene, background: Splats, objects: dict[str, Splats], rgb: np.ndarray,
                 cfg: LiftConfig) -> None:
    """Refine the colours of a lifted ``scene`` in place against the photo ``rgb`` (uint8
    [H, W, 3], seen by ``scene.camera``), ``cfg.refine_iterations`` times (0: unchanged).
    ``background`` and ``objects`` are the splats the scene was assembled from (in the same
    order): they tie each Gaussian to its pixel.

    The refinement runs on the scene as :meth:`Scene.render` composes it: Gaussians of one
    surface often share a depth exactly (integer-millimetre sensors), and their blending order
    then follows the composition order, which the refined colours are tuned for.
    """
    if cfg.refine_iterations <= 0:
        return
    names = list(objects)
    everything, _ = scene.compose()
    pix_all = np.concatenate([background.pix, *(objects[n].pix for n in names)])
    refined = rgb_to_sh_dc(refine_colours(everything, pix_all, rgb, scene.camera,
                                          cfg.refine_iterations, cfg.refine_step, cfg.backend,
                                          cfg.device, cfg.refine_eps2d))
    offsets = np.cumsum([0, len(background), *(len(objects[n]) for n in names)])
    scene.background.sh[:, 0] = refined[offsets[0]:offsets[1]]
    for i, name in enumerate(names):
        scene.objects[name].sh[:, 0] = refined[offsets[i + 1]:offsets[i + 2]]


def refine_colours(field: GaussianField, pix: np.ndarray, target: np.ndarray, cam: Camera,
                   iterations: int, step: float = 0.8, backend: str = "auto",
                   device: str = "cpu", eps2d: float = 0.3) -> torch.Tensor:
    """Colours [N, 3] of ``field`` corrected against the photo ``target`` (uint8 [H, W, 3])
    seen by ``cam``: ``c <- c + step * (photo - render)`` at each Gaussian's own pixel
    (``pix`` [N], flat index, -1 = none: left unchanged), ``iterations`` times, rendered on
    ``device`` (see :func:`igen_gs.device.resolve_device`) with the low-pass filter ``eps2d``
    (pixels squared, as the scene will be rendered); the result is on the CPU.

    The step is damped because neighbouring Gaussians, corrected at the same time, also cover
    each pixel: a full step overshoots.
    """
    from ..device import resolve_device
    from ..render import rasterization
    from ..scene.camera import stack_cameras

    dev = resolve_device(device)
    rgb = sh_dc_to_rgb(field.sh[:, 0]).clone()
    if iterations <= 0:
        return rgb.cpu()
    field, rgb = field.to(dev), rgb.to(dev)
    viewmats, Ks, w, h = stack_cameras(cam, device=dev)
    own = torch.from_numpy(np.flatnonzero(pix >= 0)).to(dev)
    idx = torch.from_numpy(pix[pix >= 0]).to(dev)
    tgt = (torch.from_numpy(target.reshape(-1, 3)).to(dev).float() / 255.0)[idx]
    for _ in range(iterations):
        with torch.no_grad():
            img, _, _ = rasterization(field.means, field.quats, field.scales, field.opacities,
                                      rgb.clamp_min(0.0), viewmats, Ks, w, h, eps2d=eps2d,
                                      backend=backend, return_meta=False)
        resid = tgt - img[0].reshape(-1, 3)[idx]
        rgb[own] = (rgb[own] + step * resid).clamp(-0.5, 1.5)
    return rgb.clamp(0.0, 1.0).cpu()
