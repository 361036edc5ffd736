"""``rasterization``: gsplat-compatible 3D Gaussian rasterization with a choice of backend.

* ``"gsplat"``: gsplat's CUDA kernels (CUDA tensors only).
* ``"cpu"``: the native multithreaded CPU kernels built from ``kernels/`` (forward only).
* ``"torch"``: the readable PyTorch reference (:mod:`igen_gs.render.reference`); slow, but
  differentiable, on any device.
* ``"auto"``: gsplat for CUDA tensors, the CPU kernels otherwise.

All backends produce the same images (the CPU kernels are tested against the reference to
1e-4 in colour). Images never depend on ``tile_size``; the CPU kernels always bin in 16x16 tiles.
"""

from __future__ import annotations

import math
import os
from typing import Any, Literal

import torch
from torch import Tensor

RenderMode = Literal["RGB", "D", "ED", "RGB+D", "RGB+ED"]
Backend = Literal["auto", "cpu", "gsplat", "torch"]
_RENDER_MODES = ("RGB", "D", "ED", "RGB+D", "RGB+ED")


def _kernels():
    try:
        from igen_gs import _C
    except ImportError as e:  # pragma: no cover - only on a broken install
        raise RuntimeError(
            "igen_gs native kernels are missing (igen_gs._C); reinstall with `pip install -e .` "
            f"so that kernels/ is compiled: {e}"
        ) from None
    return _C


def simd_levels() -> list[str]:
    """Instruction-set levels of the CPU compositor usable on this machine, best first."""
    return list(_kernels().simd_levels())


def _num_threads() -> int:
    env = os.environ.get("IGEN_GS_NUM_THREADS")
    if env:
        return max(1, int(env))
    return max(1, torch.get_num_threads())


def _check_tensor(x: Any, name: str, shape: str, ndim: int | tuple[int, ...]) -> Tensor:
    if not isinstance(x, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape {shape}, got {type(x).__name__}")
    ndims = (ndim,) if isinstance(ndim, int) else ndim
    if x.dim() not in ndims:
        raise ValueError(f"{name} must have shape {shape}, got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor of shape {shape}, got {x.dtype}")
    return x


def _check_finite(x: Tensor, name: str) -> None:
    # A sum is finite only if every element is (NaN and inf propagate), and a sum is much
    # cheaper than an elementwise test; only an overflowing sum needs the elementwise test.
    total = x.detach().sum(dtype=torch.float64)
    if not bool(torch.isfinite(total)) and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or infinite values")


def _validate(
    *, means, quats, scales, opacities, colors, viewmats, Ks, width, height, near_plane,
    far_plane, eps2d, sh_degree, backgrounds, render_mode, rasterize_mode, covars, label_ids,
    num_labels,
) -> None:
    """The one check of every input, for every backend: a ValueError naming the problem."""
    _check_tensor(means, "means", "[N, 3]", 2)
    if means.shape[-1] != 3:
        raise ValueError(f"means must have shape [N, 3], got {tuple(means.shape)}")
    N = means.shape[0]
    if N == 0:
        raise ValueError("means is empty: the scene has no Gaussians to render")
    device = means.device
    if covars is None:
        if quats is None or scales is None:
            raise ValueError("give quats [N, 4] and scales [N, 3], or covars [N, 3, 3]")
        _check_tensor(quats, "quats", "[N, 4]", 2)
        _check_tensor(scales, "scales", "[N, 3]", 2)
        if tuple(quats.shape) != (N, 4):
            raise ValueError(f"quats must have shape [N, 4] = [{N}, 4], got {tuple(quats.shape)}")
        if tuple(scales.shape) != (N, 3):
            raise ValueError(f"scales must have shape [N, 3] = [{N}, 3], got {tuple(scales.shape)}")
    else:
        _check_tensor(covars, "covars", "[N, 3, 3]", 3)
        if tuple(covars.shape) != (N, 3, 3):
            raise ValueError(f"covars must have shape [N, 3, 3] = [{N}, 3, 3], "
                             f"got {tuple(covars.shape)}")
    _check_tensor(opacities, "opacities", "[N]", 1)
    if tuple(opacities.shape) != (N,):
        raise ValueError(f"opacities must have shape [N] = [{N}], got {tuple(opacities.shape)}")
    _check_tensor(viewmats, "viewmats", "[C, 4, 4]", 3)
    if viewmats.shape[1:] != (4, 4):
        raise ValueError(f"viewmats must have shape [C, 4, 4], got {tuple(viewmats.shape)}")
    C = viewmats.shape[0]
    if C == 0:
        raise ValueError("viewmats is empty: give at least one camera, shape [C, 4, 4]")
    _check_tensor(Ks, "Ks", "[C, 3, 3]", 3)
    if tuple(Ks.shape) != (C, 3, 3):
        raise ValueError(f"Ks must have shape [C, 3, 3] = [{C}, 3, 3], got {tuple(Ks.shape)}")
    for v, name in ((width, "width"), (height, "height")):
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    if render_mode not in _RENDER_MODES:
        raise ValueError(f"render_mode must be one of {_RENDER_MODES}, got {render_mode!r}")
    if rasterize_mode not in ("classic", "antialiased"):
        raise ValueError(
            f"rasterize_mode must be 'classic' or 'antialiased', got {rasterize_mode!r}")
    if not (math.isfinite(eps2d) and eps2d >= 0):
        raise ValueError(f"eps2d must be a finite number >= 0, got {eps2d!r}")
    if not (near_plane < far_plane):
        raise ValueError(f"near_plane ({near_plane}) must be smaller than far_plane ({far_plane})")

    D = None
    needs_colors = render_mode in ("RGB", "RGB+D", "RGB+ED")
    if colors is None:
        if needs_colors:
            raise ValueError(f"colors are required for render_mode {render_mode!r}")
    elif sh_degree is None:
        _check_tensor(colors, "colors", "[N, D] or [C, N, D]", (2, 3))
        if not (colors.shape[:-1] == (N,) or colors.shape[:-1] == (C, N)):
            raise ValueError(f"colors must have shape [N, D] or [C, N, D] with N={N}, C={C}, "
                             f"got {tuple(colors.shape)}")
        D = colors.shape[-1]
        if D == 0:
            raise ValueError("colors has zero channels: shape [N, D] needs D >= 1")
    else:
        if not isinstance(sh_degree, int) or not 0 <= sh_degree <= 3:
            raise ValueError(f"sh_degree must be None or an int in 0..3, got {sh_degree!r}")
        _check_tensor(colors, "colors", "[N, K, 3] or [C, N, K, 3] (SH coefficients)", (3, 4))
        ok = (colors.dim() == 3 and colors.shape[0] == N) or (
            colors.dim() == 4 and colors.shape[:2] == (C, N))
        if not ok or colors.shape[-1] != 3:
            raise ValueError(f"colors (SH) must have shape [N, K, 3] or [C, N, K, 3] with N={N}, "
                             f"C={C}, got {tuple(colors.shape)}")
        if colors.shape[-2] < (sh_degree + 1) ** 2:
            raise ValueError(f"sh_degree {sh_degree} needs K >= {(sh_degree + 1) ** 2} "
                             f"SH coefficients, colors has K = {colors.shape[-2]}")
        D = 3
    if backgrounds is not None:
        _check_tensor(backgrounds, "backgrounds", "[C, D]", 2)
        if needs_colors and tuple(backgrounds.shape) != (C, D):
            raise ValueError(f"backgrounds must have shape [C, D] = [{C}, {D}], "
                             f"got {tuple(backgrounds.shape)}")

    named = {"means": means, "quats": quats, "scales": scales, "covars": covars,
             "opacities": opacities, "colors": colors, "viewmats": viewmats, "Ks": Ks,
             "backgrounds": backgrounds}
    for name, t in named.items():
        if t is None:
            continue
        if t.device != device:
            raise ValueError(f"{name} is on {t.device} but means is on {device}; "
                             "put every input on one device")
        _check_finite(t, name)
    Kc = Ks.detach()
    if bool((Kc[:, 0, 1] != 0).any() | (Kc[:, 1, 0] != 0).any() | (Kc[:, 2, 0] != 0).any()
            | (Kc[:, 2, 1] != 0).any() | (Kc[:, 2, 2] != 1).any()):
        raise ValueError("Ks must be pinhole intrinsics [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]")
    if bool((Kc[:, 0, 0] <= 0).any() | (Kc[:, 1, 1] <= 0).any()):
        raise ValueError("Ks must have positive focal lengths fx, fy")
    if label_ids is not None:
        _check_labels(label_ids, num_labels, N, device)


def _check_labels(label_ids: Any, num_labels: Any, N: int, device: torch.device) -> None:
    if not isinstance(label_ids, Tensor) or label_ids.shape != (N,) or \
            label_ids.is_floating_point() or label_ids.dtype == torch.bool:
        raise ValueError(f"label_ids must be an integer tensor of shape [N] = [{N}]")
    if label_ids.device != device:
        raise ValueError(f"label_ids is on {label_ids.device} but means is on {device}; "
                         "put every input on one device")
    if not isinstance(num_labels, int) or isinstance(num_labels, bool) or num_labels <= 0:
        raise ValueError(f"num_labels must be a positive int with label_ids, got {num_labels!r}")
    if int(label_ids.min()) < 0 or int(label_ids.max()) >= num_labels:
        raise ValueError(f"label_ids must lie in [0, num_labels) = [0, {num_labels})")


def _np32(t: Tensor | None):
    if t is None:
        return None
    return t.detach().to(dtype=torch.float32).contiguous().numpy()


def _render_cpu(
    *, means, quats, scales, opacities, colors, viewmats, Ks, width, height, near_plane,
    far_plane, radius_clip, eps2d, sh_degree, backgrounds, render_mode, rasterize_mode, covars,
    label_ids, num_labels, with_meta,
) -> tuple[Tensor, Tensor, dict]:
    """The native CPU kernels; labels are accumulated sparsely in the same pass."""
    if any(t is not None and t.requires_grad for t in (means, quats, scales, opacities, colors,
                                                       covars)):
        if torch.is_grad_enabled():
            raise ValueError("the cpu backend is forward-only; for gradients use backend='torch' "
                             "(or 'gsplat' on CUDA), or render under torch.no_grad()")
    C = viewmats.shape[0]
    depth_channel = render_mode != "RGB"
    use_colors = render_mode in ("RGB", "RGB+D", "RGB+ED")
    bg = None
    if backgrounds is not None:
        zeros = torch.zeros_like(backgrounds[:, :1])
        if render_mode in ("D", "ED"):
            bg = zeros
        elif depth_channel:
            bg = torch.cat([backgrounds, zeros], dim=-1)
        else:
            bg = backgrounds
    cov6 = None
    if covars is not None:
        cov6 = covars[:, [0, 0, 0, 1, 1, 2], [0, 1, 2, 1, 2, 2]]
    out = _kernels().rasterize(
        _np32(means), _np32(quats), _np32(scales), _np32(cov6), _np32(opacities),
        _np32(colors) if use_colors else None,
        -1 if (sh_degree is None or not use_colors) else int(sh_degree),
        _np32(viewmats), _np32(Ks), int(width), int(height), float(eps2d), float(near_plane),
        float(far_plane), float(radius_clip), rasterize_mode == "antialiased", depth_channel,
        render_mode in ("ED", "RGB+ED"), _np32(bg),
        None if label_ids is None else label_ids.to(torch.int32).contiguous().numpy(),
        0 if num_labels is None else int(num_labels), bool(with_meta),
        os.environ.get("IGEN_GS_SIMD", ""), _num_threads(),
    )
    t = torch.from_numpy
    meta = {
        "tile_width": out["tile_width"],
        "tile_height": out["tile_height"],
        "tile_size": 16,
        "n_cameras": C,
        "n_isects": out["n_isects"],
        "timings_ms": dict(out["timings_ms"]),
    }
    if with_meta:
        splats = t(out["splats"])  # [C, N, 8]: mean x, y, conic a, b, c, opacity, -, -
        meta.update({
            "radii": t(out["radii"]),
            "means2d": splats[..., 0:2],
            "depths": t(out["depths"]),
            "conics": splats[..., 2:5],
            "opacities": splats[..., 5],
            "tiles_per_gauss": t(out["tiles_per_gauss"]),
            "isect_offsets": t(out["isect_offsets"]),
            "flatten_ids": t(out["flatten_ids"]),
        })
    if "label_weights" in out:
        meta["label_weights"] = t(out["label_weights"])
    return t(out["render_colors"]), t(out["render_alphas"]), meta



def _render_torch(
    *, means, quats, scales, opacities, colors, viewmats, Ks, width, height, near_plane,
    far_plane, radius_clip, eps2d, sh_degree, backgrounds, render_mode, rasterize_mode, covars,
    tile_size,
) -> tuple[Tensor, Tensor, dict]:
    """The readable PyTorch reference, in float32 (differentiable, any device, slow)."""
    # The reference is this backend's implementation and the test oracle; nothing else in the
    # package imports it, and it is loaded only when this backend is asked for.
    from .reference import rasterization_reference

    def f32(t: Tensor | None) -> Tensor | None:
        return None if t is None else t.to(torch.float32)

    colors_out, alphas_out, meta = rasterization_reference(
        f32(means), f32(quats), f32(scales), f32(opacities), f32(colors), f32(viewmats), f32(Ks),
        width, height, near_plane=near_plane, far_plane=far_plane, radius_clip=radius_clip,
        eps2d=eps2d, sh_degree=sh_degree, backgrounds=f32(backgrounds), render_mode=render_mode,
        rasterize_mode=rasterize_mode, covars=f32(covars))
    meta["tile_size"] = tile_size
    meta["n_cameras"] = viewmats.shape[0]
    return colors_out, alphas_out, meta


def _render_gsplat(
    *, means, quats, scales, opacities, colors, viewmats, Ks, width, height, near_plane,
    far_plane, radius_clip, eps2d, sh_degree, backgrounds, render_mode, rasterize_mode, covars,
    gsplat_options: dict[str, Any],
) -> tuple[Tensor, Tensor, dict]:
    """gsplat's CUDA rasterization, every argument forwarded by name."""
    import gsplat

    return gsplat.rasterization(
        means=means, quats=quats, scales=scales, opacities=opacities, colors=colors,
        viewmats=viewmats, Ks=Ks, width=width, height=height, near_plane=near_plane,
        far_plane=far_plane, radius_clip=radius_clip, eps2d=eps2d, sh_degree=sh_degree,
        backgrounds=backgrounds, render_mode=render_mode, rasterize_mode=rasterize_mode,
        covars=covars, **gsplat_options)


def _choose_backend(backend: str, means: Tensor, gsplat_only: dict[str, bool]) -> str:
    """The backend that will run (``"auto"`` resolved), after checking it can take the input."""
    if backend == "auto":
        backend = "gsplat" if means.is_cuda else "cpu"
    if backend == "gsplat":
        if not means.is_cuda:
            raise ValueError("backend='gsplat' needs CUDA tensors; use backend='cpu' for CPU "
                             "tensors")
        return backend
    bad = [name for name, used in gsplat_only.items() if used]
    if bad:
        raise ValueError(f"backend {backend!r} supports the pinhole 3DGS forward pass only; "
                         f"unsupported argument(s): {', '.join(bad)} "
                         "(use backend='gsplat' on CUDA)")
    if backend == "cpu" and means.device.type != "cpu":
        raise ValueError(f"backend='cpu' needs CPU tensors, means is on {means.device}")
    return backend


def rasterization(
    means: Tensor,  # [N, 3]
    quats: Tensor,  # [N, 4] (w, x, y, z)
    scales: Tensor,  # [N, 3]
    opacities: Tensor,  # [N]
    colors: Tensor,  # [N, D], [C, N, D], or SH [N, K, 3], [C, N, K, 3]
    viewmats: Tensor,  # [C, 4, 4] world-to-camera (T_cam_world)
    Ks: Tensor,  # [C, 3, 3]
    width: int,
    height: int,
    near_plane: float = 0.01,
    far_plane: float = 1e10,
    radius_clip: float = 0.0,
    eps2d: float = 0.3,
    sh_degree: int | None = None,
    packed: bool = True,
    tile_size: int = 16,
    backgrounds: Tensor | None = None,  # [C, D]
    render_mode: RenderMode = "RGB",
    sparse_grad: bool = False,
    absgrad: bool = False,
    rasterize_mode: Literal["classic", "antialiased"] = "classic",
    channel_chunk: int = 32,
    distributed: bool = False,
    camera_model: Literal["pinhole", "ortho", "fisheye", "ftheta"] = "pinhole",
    segmented: bool = False,
    covars: Tensor | None = None,  # [N, 3, 3]
    with_ut: bool = False,
    with_eval3d: bool = False,
    radial_coeffs: Tensor | None = None,
    tangential_coeffs: Tensor | None = None,
    thin_prism_coeffs: Tensor | None = None,
    ftheta_coeffs: Any = None,
    rolling_shutter: Any = None,
    viewmats_rs: Tensor | None = None,
    *,
    backend: Backend = "auto",
    label_ids: Tensor | None = None,  # [N] int, in [0, num_labels)
    num_labels: int | None = None,
    return_meta: bool = True,
) -> tuple[Tensor, Tensor, dict]:
    """Rasterize N 3D Gaussians into C pinhole cameras; gsplat 1.5's ``rasterization``.

    Args and shapes are gsplat's: ``means`` [N, 3], ``quats`` [N, 4] (w, x, y, z, need not be
    normalised), ``scales`` [N, 3], ``opacities`` [N], ``colors`` [N, D] / [C, N, D] features
    (any D) or SH coefficients [N, K, 3] / [C, N, K, 3] when ``sh_degree`` is 0..3,
    ``viewmats`` [C, 4, 4] world-to-camera, ``Ks`` [C, 3, 3] OpenCV pinhole intrinsics,
    ``backgrounds`` [C, D]. (gsplat's optional leading batch dimensions are not taken: call
    ``gsplat.rasterization`` directly for those.)

    Returns ``(render_colors [C, H, W, D(+1)], render_alphas [C, H, W, 1], meta)``. In the
    "+D"/"+ED" modes the last channel is accumulated / expected camera depth; "D"/"ED" give
    only that channel.

    The keyword-only arguments are this library's additions. ``backend``: "auto", "cpu",
    "gsplat", "torch" (see the module docstring). ``label_ids`` [N] and ``num_labels`` L:
    when given, ``meta["label_weights"]`` [C, H, W, L] holds, per pixel, the blending weight
    each label contributes -- the same as rendering one-hot features, which the CPU kernels
    accumulate sparsely (one channel per Gaussian instead of L) and the other backends render
    as a second pass. ``return_meta=False`` lets the CPU kernels skip the per-camera
    projection arrays of ``meta`` (faster for repeated renders; ``meta`` then keeps only
    timings and label weights).

    Every input is checked once, the same way for every backend, and bad input raises a
    one-line ValueError. gsplat features outside the pinhole 3DGS forward pass (fisheye/ortho
    cameras, unscented transform, distortion, rolling shutter, distributed) are passed
    through to the gsplat backend and rejected with a ValueError by the others. ``packed``,
    ``sparse_grad``, ``absgrad``, ``channel_chunk`` and ``segmented`` only change gsplat's
    memory use and gradients; the CPU backend returns a dense (unpacked) ``meta``.
    """
    if backend not in ("auto", "cpu", "gsplat", "torch"):
        raise ValueError(f"backend must be 'auto', 'cpu', 'gsplat' or 'torch', got {backend!r}")
    _validate(
        means=means, quats=quats, scales=scales, opacities=opacities, colors=colors,
        viewmats=viewmats, Ks=Ks, width=width, height=height, near_plane=near_plane,
        far_plane=far_plane, eps2d=eps2d, sh_degree=sh_degree, backgrounds=backgrounds,
        render_mode=render_mode, rasterize_mode=rasterize_mode, covars=covars,
        label_ids=label_ids, num_labels=num_labels)
    gsplat_options = dict(
        packed=packed, tile_size=tile_size, sparse_grad=sparse_grad, absgrad=absgrad,
        channel_chunk=channel_chunk, distributed=distributed, camera_model=camera_model,
        segmented=segmented, with_ut=with_ut, with_eval3d=with_eval3d,
        radial_coeffs=radial_coeffs, tangential_coeffs=tangential_coeffs,
        thin_prism_coeffs=thin_prism_coeffs, ftheta_coeffs=ftheta_coeffs,
        viewmats_rs=viewmats_rs)
    if rolling_shutter is not None:  # else gsplat's own default (a global shutter)
        gsplat_options["rolling_shutter"] = rolling_shutter
    backend = _choose_backend(backend, means, {
        "camera_model": camera_model != "pinhole",
        "with_ut": with_ut,
        "with_eval3d": with_eval3d,
        "distributed": distributed,
        "radial_coeffs": radial_coeffs is not None,
        "tangential_coeffs": tangential_coeffs is not None,
        "thin_prism_coeffs": thin_prism_coeffs is not None,
        "ftheta_coeffs": ftheta_coeffs is not None,
        "rolling_shutter": rolling_shutter is not None,
        "viewmats_rs": viewmats_rs is not None,
    })
    gaussians = dict(
        means=means, quats=quats, scales=scales, opacities=opacities, covars=covars,
        viewmats=viewmats, Ks=Ks, width=width, height=height, near_plane=near_plane,
        far_plane=far_plane, radius_clip=radius_clip, eps2d=eps2d, rasterize_mode=rasterize_mode)
    if backend == "cpu":
        colors_out, alphas_out, meta = _render_cpu(
            **gaussians, colors=colors, sh_degree=sh_degree, backgrounds=backgrounds,
            render_mode=render_mode, label_ids=label_ids, num_labels=num_labels,
            with_meta=return_meta)
        meta.update({"width": width, "height": height, "backend": backend})
        return colors_out, alphas_out, meta

    def render(**what) -> tuple[Tensor, Tensor, dict]:
        if backend == "gsplat":
            return _render_gsplat(**gaussians, **what, gsplat_options=gsplat_options)
        return _render_torch(**gaussians, **what, tile_size=tile_size)

    colors_out, alphas_out, meta = render(colors=colors, sh_degree=sh_degree,
                                          backgrounds=backgrounds, render_mode=render_mode)
    if label_ids is not None:
        # Labels as one-hot features, in a second pass of the same backend.
        one_hot = torch.nn.functional.one_hot(label_ids.long(), num_labels).to(means.dtype)
        meta["label_weights"] = render(colors=one_hot, sh_degree=None, backgrounds=None,
                                       render_mode="RGB")[0]
    if backend == "gsplat":
        meta["backend"] = "gsplat"
    else:
        meta.update({"width": width, "height": height, "backend": backend})
    return colors_out, alphas_out, meta
