"""The robot's appearance taken from a photo that shows it.

The link meshes' materials give each Gaussian an albedo and the episode shades it with a fixed
hemispherical light (:mod:`igen_gs.robot.gaussians`), but a real robot -- or a simulator's --
rarely has exactly those colours or that light. When the photo being lifted shows the robot at
known joint angles, :func:`fit_appearance` fits, to the robot Gaussians the photo sees,

* a light fixed in the world (:class:`Lighting`): an ambient term plus ``num_lights``
  directional lights, ``shade(n) = ambient + sum_i w_i max(0, n . d_i)``, one light starting
  from above and one from the photo's camera;
* an albedo per mesh material (the materials of the link meshes, shared across links),

so that ``albedo * shade(normal)`` reproduces the photo at the photo's pose, and when the links
turn in an episode their colour is relit by the same light. With ``specular=True`` each light
also gets a white Blinn-Phong highlight, ``+ sum_i s_i max(0, n . h_i)^p`` with ``h_i`` halfway
between the light and the direction to the camera, one exponent ``p`` for all (a simulator's
or a glossy paint's shine; the frames then depend on the camera that draws them). Each seen
Gaussian then keeps the detail of the photo (its albedo is the photo's colour, less the fitted
highlight, divided by the fitted shade), each unseen one takes its material's fitted albedo
(the mesh's, scaled by the median gain of all seen, when no Gaussian of its material is seen).
Without ``specular`` the lights are view-independent: no highlights.

A Gaussian counts as seen when, at the photo's pose, its centre projects inside the image, on
the robot's mask shrunk by ``erode_px`` pixels (colours at the silhouette mix with what lies
behind), with its normal facing the camera, and -- when the photo has depth -- within
``depth_tol_m`` of the photo's depth there.

Conventions: images top row first, pixel (i, j) covering [i, i + 1) x [j, j + 1) under ``K``
as in the renderer (its centre at i + 0.5), ``T_world_cam`` camera-to-world with OpenCV axes
(x right, y down, z forward), metres; light directions in the world frame, pointing from the
surface towards the light.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..scene.sampling import bilinear_sample
from .gaussians import RobotGaussians

FORMAT = "igen-gs robot appearance v3"
READABLE = (FORMAT, "igen-gs robot appearance v2")  # v2: no highlights


@dataclass
class Lighting:
    """World lights: the view-independent ``shade(n) = ambient + sum_i weights[i] max(0, n .
    directions[i])`` for unit normals ``n`` in the world frame, and, when ``specular`` is
    given, an additive white highlight that depends on the camera (:meth:`highlight`)."""

    ambient: float
    directions: np.ndarray
    """[L, 3] unit vectors from the surface towards each light (world frame)."""
    weights: np.ndarray
    """[L] each light's strength."""
    specular: np.ndarray | None = None
    """[L] each light's highlight strength, or None: no highlights."""
    shininess: float = 32.0
    """The highlights' Blinn-Phong exponent."""

    @property
    def has_highlights(self) -> bool:
        return self.specular is not None and bool((self.specular > 0).any())

    def highlight(self, normals, to_eye):
        """Highlight [...] of unit world normals [..., 3] seen along unit vectors ``to_eye``
        [..., 3] (surface -> camera, broadcast against ``normals``): ``sum_i specular[i]
        max(0, n . h_i)^shininess``, ``h_i = (directions[i] + to_eye) / |...|``. Zeros when
        there are no highlights. NumPy or torch, same kind."""
        if isinstance(normals, torch.Tensor):
            shape = torch.broadcast_shapes(normals.shape, to_eye.shape)[:-1]
            if self.specular is None:
                return normals.new_zeros(shape)
            d = torch.as_tensor(self.directions, dtype=normals.dtype, device=normals.device)
            s = torch.as_tensor(self.specular, dtype=normals.dtype, device=normals.device)
            h = to_eye[..., None, :] + d  # [..., L, 3]
            h = h / h.norm(dim=-1, keepdim=True).clamp(min=1e-12)
            c = (normals[..., None, :] * h).sum(-1).clamp(min=1e-6)  # no 0 ** p: finite grads
            p = torch.as_tensor(self.shininess, dtype=normals.dtype, device=normals.device)
            return (c ** p * s).sum(-1)
        n, v = np.asarray(normals, np.float64), np.asarray(to_eye, np.float64)
        shape = np.broadcast_shapes(n.shape, v.shape)[:-1]
        if self.specular is None:
            return np.zeros(shape)
        h = v[..., None, :] + self.directions
        h = h / np.maximum(np.linalg.norm(h, axis=-1, keepdims=True), 1e-12)
        c = np.clip((n[..., None, :] * h).sum(-1), 0, None)
        return (c ** float(self.shininess) * np.asarray(self.specular)).sum(-1)

    def shade(self, normals):
        """Shade factor [...] of unit world normals [..., 3] (NumPy or torch, same kind)."""
        if isinstance(normals, torch.Tensor):
            d = torch.as_tensor(self.directions, dtype=normals.dtype, device=normals.device)
            w = torch.as_tensor(self.weights, dtype=normals.dtype, device=normals.device)
            return self.ambient + (normals @ d.T).clamp(min=0) @ w
        n = np.asarray(normals)
        return self.ambient + (np.clip(n @ self.directions.T, 0, None) * self.weights).sum(-1)


@dataclass
class RobotAppearance:
    """Per-Gaussian albedo of one robot's Gaussians, fitted to a photo.

    Attributes:
        albedo: [N, 3] float32 in [0, 1], the layout of :class:`RobotGaussians`.
        seen: [N] bool, the Gaussians whose colour came from the photo itself.
        lighting: the fitted world lights.
        fingerprint: the robot model's fingerprint (:meth:`RobotModel.fingerprint`).
        spacing: the Gaussians' sample spacing, metres.
    """

    albedo: np.ndarray
    seen: np.ndarray
    lighting: Lighting
    fingerprint: str
    spacing: float

    def check(self, gaussians: RobotGaussians) -> None:
        """Raise ValueError unless this appearance belongs to ``gaussians``."""
        if (self.fingerprint != gaussians.model.fingerprint() or
                abs(self.spacing - gaussians.spacing) > 1e-12 or
                len(self.albedo) != len(gaussians)):
            raise ValueError(
                f"the robot appearance was fitted to another robot or spacing "
                f"({len(self.albedo)} Gaussians at {self.spacing} m; the robot drawn has "
                f"{len(gaussians)} at {gaussians.spacing} m)")

    def save(self, path) -> Path:
        """Write an ``.npz`` atomically; returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, format=np.array(FORMAT), albedo=self.albedo.astype(np.float32),
                         seen=self.seen, ambient=np.array(self.lighting.ambient),
                         light_directions=self.lighting.directions,
                         light_weights=self.lighting.weights,
                         light_specular=(np.zeros(0) if self.lighting.specular is None
                                         else np.asarray(self.lighting.specular, np.float64)),
                         shininess=np.array(float(self.lighting.shininess)),
                         fingerprint=np.array(self.fingerprint),
                         spacing=np.array(self.spacing))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load(cls, path) -> RobotAppearance:
        """Read what :meth:`save` wrote (one-line ValueError when missing or not one)."""
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"robot appearance file not found: {path}")
        try:
            with np.load(path, allow_pickle=False) as z:
                if str(z["format"]) not in READABLE:
                    raise KeyError("format")
                albedo, seen = z["albedo"], z["seen"]
                spec = z["light_specular"] if "light_specular" in z.files else np.zeros(0)
                lighting = Lighting(float(z["ambient"]), z["light_directions"].astype(np.float64),
                                    z["light_weights"].astype(np.float64),
                                    spec.astype(np.float64) if spec.size else None,
                                    float(z["shininess"]) if "shininess" in z.files else 32.0)
                fp, spacing = str(z["fingerprint"]), float(z["spacing"])
        except Exception as e:  # noqa: BLE001 - any unreadable file gets the same message
            raise ValueError(f"{path} is not a robot appearance file ({type(e).__name__})"
                             ) from None
        L = lighting.directions
        if albedo.ndim != 2 or albedo.shape[1] != 3 or seen.shape != (len(albedo),) or \
                not np.isfinite(albedo).all() or L.ndim != 2 or L.shape[1] != 3 or \
                lighting.weights.shape != (len(L),) or not np.isfinite(L).all() or \
                (lighting.specular is not None and (lighting.specular.shape != (len(L),) or
                                                    not np.isfinite(lighting.specular).all())) or \
                not np.isfinite(lighting.shininess):
            raise ValueError(f"{path}: malformed robot appearance")
        return cls(albedo.astype(np.float32), seen.astype(bool), lighting, fp, spacing)


def _erode(mask: np.ndarray, px: int) -> np.ndarray:
    out = mask.copy()
    for _ in range(px):
        m = out.copy()
        m[1:] &= out[:-1]
        m[:-1] &= out[1:]
        m[:, 1:] &= out[:, :-1]
        m[:, :-1] &= out[:, 1:]
        out = m
    return out


def _material_groups(albedo: np.ndarray) -> np.ndarray:
    """[N] integer id of each Gaussian's mesh material (its albedo, to 1/255)."""
    keys = np.round(albedo * 255).astype(np.int64)
    _, inv = np.unique(keys, axis=0, return_inverse=True)
    return inv.reshape(-1)


def _fit_lighting(c: np.ndarray, n: np.ndarray, mat: np.ndarray, n_mat: int,
                  init_dirs: np.ndarray, steps: int, seed: int = 0,
                  to_eye: np.ndarray | None = None
                  ) -> tuple[Lighting, np.ndarray, np.ndarray]:
    """Fit ``albedo[mat] * shade(n) ~= c`` (L1) over seen samples: c [M, 3], n [M, 3] unit,
    mat [M] in [0, n_mat). With ``to_eye`` ([M, 3] unit, surface -> camera) the lights also
    get highlights, ``min(1, albedo[mat] * shade(n) + highlight(n, to_eye)) ~= c``. Returns
    the lighting, the materials' albedo [n_mat, 3] and which materials had samples [n_mat]."""
    g = torch.Generator().manual_seed(seed)
    ct = torch.from_numpy(c).float()
    nt = torch.from_numpy(n).float()
    mt = torch.from_numpy(mat).long()
    has = torch.bincount(mt, minlength=n_mat) > 0
    init = torch.full((n_mat, 3), 0.5)
    for m in torch.nonzero(has).flatten().tolist():
        init[m] = ct[mt == m].median(0).values.clamp(0.02, 0.98)
    alb = torch.logit(init).requires_grad_()
    dirs = (torch.from_numpy(init_dirs).float()
            + 1e-3 * torch.randn(init_dirs.shape, generator=g)).requires_grad_()
    w = torch.full((len(init_dirs),), -0.5).requires_grad_()  # softplus -> ~0.47
    amb = torch.tensor(-1.0).requires_grad_()  # softplus -> ~0.31
    params = [alb, dirs, w, amb]
    sp = torch.nn.functional.softplus
    if to_eye is not None:
        vt = torch.from_numpy(to_eye).float()
        spec = torch.full((len(init_dirs),), -2.0).requires_grad_()  # softplus -> ~0.13
        log_p = torch.tensor(math.log(32.0)).requires_grad_()
        params += [spec, log_p]
    opt = torch.optim.Adam(params, lr=0.05)

    def lighting() -> Lighting:
        d = dirs / dirs.norm(dim=1, keepdim=True)
        if to_eye is None:
            return Lighting(sp(amb), d, sp(w))
        return Lighting(sp(amb), d, sp(w), sp(spec), log_p.clamp(0.0, math.log(512)).exp())

    for _ in range(steps):
        light = lighting()
        pred = torch.sigmoid(alb)[mt] * light.shade(nt)[:, None]
        if to_eye is not None:
            pred = (pred + light.highlight(nt, vt)[:, None]).clamp(max=1.0)
        loss = (pred - ct).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        lt = lighting()
        light = Lighting(float(lt.ambient), lt.directions.double().numpy(),
                         lt.weights.double().numpy(),
                         None if to_eye is None else lt.specular.double().numpy(),
                         32.0 if to_eye is None else float(lt.shininess))
        return light, torch.sigmoid(alb).double().numpy(), has.numpy()


def _seen_samples(gaussians: RobotGaussians, rgb, K, T_world_cam, T_world_base, q,
                  opening: float, robot_mask, depth, erode_px: int, depth_tol_m: float):
    """One photo's samples: (seen [N] bool, colour [N, 3] where seen, world normals [N, 3],
    world means [N, 3]) of the robot Gaussians at the photo's joint angles (see the module
    docstring for "seen")."""
    img = np.asarray(rgb)
    img = img.astype(np.float32) / 255 if img.dtype == np.uint8 else img.astype(np.float32)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"rgb must have shape [H, W, 3], got {tuple(img.shape)}")
    H, W = img.shape[:2]
    mask = np.asarray(robot_mask, dtype=bool)
    if mask.shape != (H, W):
        raise ValueError(f"robot_mask must have shape {(H, W)}, got {mask.shape}")
    K = np.asarray(K, np.float64)
    Tc = np.asarray(T_world_cam, np.float64)
    with torch.no_grad():
        m, n = gaussians.surface(gaussians.link_transforms(T_world_base, q, opening))
        means, normals = m.cpu().double().numpy(), n.cpu().double().numpy()
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
    p = (means - Tc[:3, 3]) @ Tc[:3, :3]  # camera frame
    z = p[:, 2]
    ok = z > 1e-6
    zs = np.where(ok, z, 1.0)
    u = K[0, 0] * p[:, 0] / zs + K[0, 1] * p[:, 1] / zs + K[0, 2]
    v = K[1, 1] * p[:, 1] / zs + K[1, 2]
    c_all, inside = bilinear_sample(torch.from_numpy(img),
                                    torch.from_numpy(np.stack([u, v], -1)).float())
    ok &= inside.numpy()
    ok &= np.einsum("ni,ni->n", normals, Tc[:3, 3] - means) > 0
    ui = np.clip(np.floor(u).astype(int), 0, W - 1)  # the pixel holding the centre
    vi = np.clip(np.floor(v).astype(int), 0, H - 1)
    ok &= _erode(mask, erode_px)[vi, ui]
    if depth is not None:
        d = np.asarray(depth, np.float64)
        if d.shape != (H, W):
            raise ValueError(f"depth must have shape {(H, W)}, got {d.shape}")
        dd = d[vi, ui]
        ok &= np.isfinite(dd) & (dd > 0) & (np.abs(dd - z) <= depth_tol_m)
    return ok, c_all.numpy().astype(np.float64), normals, means


def fit_appearance(gaussians: RobotGaussians, rgb, K, T_world_cam, T_world_base, q,
                   opening: float, robot_mask, depth=None, up=(0.0, 0.0, 1.0),
                   erode_px: int = 1, depth_tol_m: float = 0.01, num_lights: int = 2,
                   steps: int = 300, min_shade: float = 0.2,
                   more_views: Sequence[Mapping[str, Any]] = (),
                   specular: bool = False) -> RobotAppearance:
    """Fit the robot's lights and albedo to a photo of the robot (see the module docstring).

    Args:
        gaussians: the robot's Gaussians (layout of the result).
        rgb: [H, W, 3] the photo, uint8 or float in [0, 1].
        K: [3, 3] intrinsics; T_world_cam: [4, 4] camera-to-world (OpenCV axes).
        T_world_base: [4, 4] the robot's root link; q: [dof] joint angles (radians);
            opening: gripper opening (metres), all at the photo's instant.
        robot_mask: [H, W] bool, the robot's pixels in the photo.
        depth: [H, W] metric depth (metres, 0 or NaN where unknown) or None.
        up: the world's up direction (where the first light starts).
        erode_px: pixels the mask is shrunk by before sampling.
        depth_tol_m: largest |photo depth - Gaussian depth| of a seen Gaussian.
        num_lights: directional lights fitted (1: from above; 2: also from the camera).
        steps: optimisation steps of the fit (Adam, deterministic on the CPU).
        min_shade: a seen Gaussian's albedo is photo / shade, the shade clamped to this.
        more_views: further photos of the same robot under the same light (a calibration of
            the robot itself: other joint angles, other cameras), each a mapping with the
            keys ``rgb``, ``K``, ``T_world_cam``, ``T_world_base``, ``q``, ``opening``,
            ``robot_mask`` and optionally ``depth``, as above. The light is fitted to the
            samples of all photos; a Gaussian seen in several takes the median of its
            albedos.
        specular: also fit a white highlight per light and their shared exponent (see the
            module docstring); the seen Gaussians' albedo then leaves out the highlight each
            photo showed.
    """
    if not 1 <= num_lights <= 2:
        raise ValueError(f"num_lights must be 1 or 2, got {num_lights}")
    views = [dict(rgb=rgb, K=K, T_world_cam=T_world_cam, T_world_base=T_world_base, q=q,
                  opening=opening, robot_mask=robot_mask, depth=depth), *more_views]
    need = ("rgb", "K", "T_world_cam", "T_world_base", "q", "opening", "robot_mask")
    samples = []
    for i, v in enumerate(views):
        lacking = [k for k in need if k not in v]
        if lacking:
            raise ValueError(f"more_views[{i - 1}] lacks {lacking}")
        samples.append(_seen_samples(gaussians, v["rgb"], v["K"], v["T_world_cam"],
                                     v["T_world_base"], v["q"], float(v["opening"]),
                                     v["robot_mask"], v.get("depth"), erode_px, depth_tol_m))
    seen_any = np.any([ok for ok, *_ in samples], axis=0)
    if seen_any.sum() < 20:
        raise ValueError(f"the photo shows too little of the robot to take its colours "
                         f"({int(seen_any.sum())} surface samples seen; is the pose or mask "
                         f"right?)")
    mesh = gaussians.albedo.cpu().numpy().astype(np.float64)
    mat = _material_groups(mesh)
    up = np.asarray(up, np.float64)
    ok0, _, _, means0 = samples[0]
    Tc0 = np.asarray(T_world_cam, np.float64)
    to_cam = Tc0[:3, 3] - (means0[ok0] if ok0.any() else means0).mean(0)
    init = np.stack([up / np.linalg.norm(up), to_cam / np.linalg.norm(to_cam)])[:num_lights]
    c = np.concatenate([col[ok] for ok, col, _, _ in samples])
    n = np.concatenate([nrm[ok] for ok, _, nrm, _ in samples])
    m = np.concatenate([mat[ok] for ok, *_ in samples])
    eyes = []  # per view: [N, 3] unit vectors from each Gaussian to that photo's camera
    for v, (_, _, _, means) in zip(views, samples):
        e = np.asarray(v["T_world_cam"], np.float64)[:3, 3] - means
        eyes.append(e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12))
    to_eye = np.concatenate([e[ok] for e, (ok, *_) in zip(eyes, samples)]) if specular \
        else None
    light, mat_albedo, has = _fit_lighting(c, n, m, int(mat.max()) + 1, init, steps,
                                           to_eye=to_eye)
    albedo = mat_albedo[mat]
    missing = ~has[mat]
    per_view = np.full((len(samples), len(mesh), 3), np.nan)
    for i, (ok, col, nrm, _) in enumerate(samples):
        lit = col[ok] - light.highlight(nrm[ok], eyes[i][ok])[:, None]
        per_view[i, ok] = lit / np.maximum(light.shade(nrm[ok]), min_shade)[:, None]
    seen_albedo = np.nanmedian(per_view[:, seen_any], axis=0)
    if missing.any():  # materials never seen: mesh colour times the median gain of the seen
        gain = np.median(albedo[seen_any] / np.maximum(mesh[seen_any], 1e-3), axis=0)
        albedo[missing] = mesh[missing] * gain
    albedo[seen_any] = seen_albedo
    return RobotAppearance(np.clip(albedo, 0, 1).astype(np.float32), seen_any, light,
                           gaussians.model.fingerprint(), float(gaussians.spacing))
