"""Photometric image metrics: MSE, PSNR, SSIM (torch, CPU, float64 internally).

Images are [H, W, C] (C = 1 or 3, channels last, as the renderer returns them) or grey [H, W]:
torch tensors or NumPy arrays. Float images hold values in [0, ``data_range``]; uint8 images
are divided by 255 first (so ``data_range`` stays 1). Masks are bool [H, W] (nonzero = pixel
counts).

* MSE = mean of (pred - target)^2 over the masked pixels and all channels.
* PSNR = 10 log10(data_range^2 / MSE) in dB; +inf when the images are identical there.
* SSIM (Wang et al. 2004): Gaussian window 11 x 11 with sigma 1.5 (weights normalised to sum 1),
  K1 = 0.01, K2 = 0.03 (C1 = (K1 L)^2, C2 = (K2 L)^2, L = data_range), population (biased)
  variances and covariance, computed per channel and averaged over channels. The SSIM map is
  defined at every window centre whose 11 x 11 window lies inside the image, i.e. pixels at
  least 5 px from the border; SSIM is its mean. This equals
  ``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, data_range=L, channel_axis=-1)``.
  Masked SSIM is the mean of the SSIM map over the mask's pixels that are window centres
  (mask pixels closer than 5 px to the border are not counted); with an all-true mask it
  equals the unmasked SSIM.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def to_tensor(x) -> Tensor:
    """A tensor (detached, on the CPU) of anything array-like; read-only or broadcast NumPy
    arrays are copied (torch cannot wrap them)."""
    if isinstance(x, Tensor):
        return x.detach().cpu()
    a = np.asarray(x)
    if not a.flags.writeable:
        a = a.copy()
    return torch.as_tensor(a)


def as_image(x, name: str = "image") -> Tensor:
    """Image -> float64 tensor [H, W, C]: grey [H, W] gets C = 1, uint8 is divided by 255."""
    t = to_tensor(x)
    scale = 255.0 if t.dtype == torch.uint8 else 1.0
    t = t.to(torch.float64) / scale
    if t.dim() == 2:
        t = t[..., None]
    if t.dim() != 3 or t.shape[-1] not in (1, 3):
        raise ValueError(f"{name} must be [H, W], [H, W, 1] or [H, W, 3] (channels last), got "
                         f"shape {tuple(t.shape)}")
    return t


def image_pair(pred, target) -> tuple[Tensor, Tensor]:
    """Two images as float64 [H, W, C] tensors of the same shape (see :func:`as_image`)."""
    a, b = as_image(pred, "pred"), as_image(target, "target")
    if a.shape != b.shape:
        raise ValueError(f"pred and target differ in shape: {tuple(a.shape)} vs "
                         f"{tuple(b.shape)}")
    return a, b


def as_mask(mask, shape: tuple[int, int], name: str = "mask") -> Tensor:
    """Mask -> bool tensor of ``shape`` [H, W]; a [H, W, 1] mask is squeezed."""
    m = to_tensor(mask)
    if m.dim() == 3 and m.shape[-1] == 1:
        m = m[..., 0]
    if tuple(m.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)} ([H, W] of the images), got "
                         f"{tuple(m.shape)}")
    return m != 0


def mse(pred, target, mask=None) -> float:
    """Mean squared error over the masked pixels and all channels (value units^2)."""
    a, b = image_pair(pred, target)
    err = ((a - b) ** 2).mean(-1)
    if mask is None:
        return float(err.mean())
    m = as_mask(mask, err.shape)
    if not bool(m.any()):
        raise ValueError("the mask selects no pixels")
    return float(err[m].mean())


def psnr(pred, target, mask=None, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB over the (masked) pixels; +inf if they are equal."""
    if data_range <= 0:
        raise ValueError(f"data_range must be positive, got {data_range}")
    e = mse(pred, target, mask)
    return math.inf if e == 0.0 else 10.0 * math.log10(data_range**2 / e)


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> Tensor:
    """Separable Gaussian weights [size] (float64, summing to 1), centred on the middle tap."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def _blur_valid(x: Tensor, g: Tensor) -> Tensor:
    """Separable 'valid' Gaussian filter of [N, 1, H, W] -> [N, 1, H - k + 1, W - k + 1]."""
    conv = torch.nn.functional.conv2d
    k = g.numel()
    x = conv(x, g.reshape(1, 1, k, 1))
    return conv(x, g.reshape(1, 1, 1, k))


def ssim_map(pred, target, data_range: float = 1.0) -> Tensor:
    """SSIM at every interior pixel, averaged over channels: float64 [H - 10, W - 10]; entry
    (i, j) is the SSIM of the 11 x 11 windows centred on pixel (i + 5, j + 5)."""
    a, b = image_pair(pred, target)
    H, W, C = a.shape
    if H < SSIM_WINDOW or W < SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels, "
                         f"got {W}x{H}")
    if data_range <= 0:
        raise ValueError(f"data_range must be positive, got {data_range}")
    x = a.permute(2, 0, 1)[:, None]
    y = b.permute(2, 0, 1)[:, None]
    g = gaussian_window()
    # One filtering pass over the five statistics of every channel.
    stats = _blur_valid(torch.cat([x, y, x * x, y * y, x * y]), g)
    mx, my, xx, yy, xy = stats.split(C)
    vx = xx - mx * mx
    vy = yy - my * my
    cxy = xy - mx * my
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s[:, 0].mean(0)


def ssim(pred, target, mask=None, data_range: float = 1.0) -> float:
    """Mean SSIM, optionally over a mask [H, W] (see the module docstring)."""
    s = ssim_map(pred, target, data_range)
    if mask is None:
        return float(s.mean())
    H, W = s.shape[0] + SSIM_WINDOW - 1, s.shape[1] + SSIM_WINDOW - 1
    r = SSIM_WINDOW // 2
    m = as_mask(mask, (H, W))[r:H - r, r:W - r]
    if not bool(m.any()):
        raise ValueError(f"the mask selects no pixel at least {r} px inside the image (SSIM "
                         "window centres)")
    return float(s[m].mean())
