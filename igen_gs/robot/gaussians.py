"""The robot as Gaussians: every link's mesh sampled once into flat, surface-aligned Gaussians
in the link frame, posed per frame by forward kinematics.

Sampling (once per robot and spacing; seeded, so deterministic): each material of a link is
sampled on its own, evenly (trimesh's rejection sampling, samples at least ``RADIUS``
spacings apart: tens of thousands of Gaussians for the Panda at 4 mm); samples that no ray
from outside the link reaches on their front side (layers under the Panda's coloured trims,
insides) are dropped. Each sample is a flat Gaussian in its triangle's plane: in-plane
standard deviation ``IN_PLANE`` spacings (down to ``MIN_PLANE`` next to another material, so
trims do not bleed), ``NORMAL`` spacings along the normal, opacity 0.99. The arm is opaque:
alpha >= 0.99 inside its ray-cast silhouette at 640x480 from 0.5 m (tests/test_robot.py).

Colour: the mesh material's albedo times a fixed, view-independent hemispherical shading of
the surface normal in the world, ``shade(n) = 0.45 + 0.55 (1 + n . up) / 2`` (1 facing up,
0.725 on vertical walls, 0.45 facing down), recomputed per frame as the links turn. It is the
shading of the synthetic worlds' ray caster (:func:`igen_gs.synthetic.materials.shade`, with
``up = +z``), so the Gaussian arm and the ray-cast arm agree; no shadows, no highlights.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import logging
import math
import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..rotations import rotmat_to_quat_np
from ..scene import frames
from ..scene.field import GaussianField, rgb_to_sh_dc
from .model import RobotModel

log = logging.getLogger(__name__)

IN_PLANE = 0.7
"""In-plane standard deviation of a surface Gaussian, in sample spacings."""
MIN_PLANE = 0.3
"""... at least this much next to a sample of another material ..."""
BORDER = 0.5
"""... where it is this fraction of the distance to that sample."""
NORMAL = 0.15
"""Standard deviation along the surface normal, in sample spacings."""
OPACITY = 0.99
POOL = 6.0
"""Candidates drawn per spacing squared of area before the even thinning."""
RADIUS = 0.5
"""Smallest distance between samples of one material, in spacings."""
VIS_TOL = 0.1
"""A sample counts as seen by a ray that first hits the link within this many spacings of it."""
FRONT = 0.1
"""... coming from a direction d with normal . d above this (its front side)."""


def shade(normals: np.ndarray | Tensor, up) -> np.ndarray | Tensor:
    """Hemispherical shading factor in [0.45, 1] of unit normals [..., 3] about ``up`` [3]."""
    return 0.45 + 0.55 * (0.5 + 0.5 * (normals @ up))


def _quat_z_to(n: np.ndarray) -> np.ndarray:
    """[N, 4] (w, x, y, z) rotating +z onto the unit vectors n [N, 3]."""
    q = np.stack([1.0 + n[:, 2], -n[:, 1], n[:, 0], np.zeros(len(n))], 1)
    flip = q[:, 0] < 1e-9  # n = -z: half turn about x
    q[flip] = [0.0, 1.0, 0.0, 0.0]
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def sample_link(mesh, spacing: float, seed: int = 0) -> dict[str, np.ndarray]:
    """Surface samples of one link mesh: ``points`` [n, 3], ``normals`` [n, 3] (face
    normals), ``rgb`` [n, 3] albedo in [0, 1] (the faces' colours), ``size`` [n] in-plane
    standard deviation (metres)."""
    import trimesh

    # trimesh warns that the even sampler keeps fewer samples than drawn: that is the point.
    quiet = logging.getLogger("trimesh")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        return _sample_link(mesh, spacing, seed, trimesh)
    finally:
        quiet.setLevel(level)


def _sample_link(mesh, spacing: float, seed: int, trimesh) -> dict[str, np.ndarray]:

    # Each material is sampled on its own: the Panda's coloured trims lie on (or just over)
    # the white shells, and even sampling across both would thin each layer where they meet.
    cols = np.asarray(mesh.visual.face_colors[:, :3])
    groups = np.unique(cols, axis=0)
    pts, face = [], []
    for g, col in enumerate(groups):
        ids = np.flatnonzero((cols == col).all(1))
        sub = mesh.submesh([ids], append=True)
        count = max(16, int(np.ceil(POOL * float(sub.area) / spacing**2)))
        p, f = trimesh.sample.sample_surface_even(sub, count, radius=RADIUS * spacing,
                                                  seed=seed + g)
        pts.append(p)
        face.append(ids[f])
    pts, face = np.concatenate(pts), np.concatenate(face)
    pts = np.asarray(pts, dtype=np.float64)
    normals = np.asarray(mesh.face_normals[face], dtype=np.float64)
    keep = _visible(mesh, pts, normals, VIS_TOL * spacing)
    rgb = np.asarray(mesh.visual.face_colors[face][:, :3], dtype=np.float64) / 255.0
    pts, normals, rgb = pts[keep], normals[keep], rgb[keep]
    # In-plane size: IN_PLANE spacings, less near a sample of another colour (a trim's edge),
    # so colours do not bleed across material borders by a whole Gaussian.
    size = np.full(len(pts), IN_PLANE * spacing)
    groups = np.unique(rgb, axis=0)
    if len(groups) > 1:
        from scipy.spatial import cKDTree

        for col in groups:
            mine = (rgb == col).all(1)
            d, _ = cKDTree(pts[~mine]).query(pts[mine], distance_upper_bound=2 * size[0])
            size[mine] = np.clip(BORDER * d, MIN_PLANE * spacing, IN_PLANE * spacing)
    return {"points": pts, "normals": normals, "rgb": rgb, "size": size}


def _view_directions() -> np.ndarray:
    """26 unit directions: the faces, edges and corners of a cube."""
    d = np.array([(x, y, z) for x in (-1, 0, 1) for y in (-1, 0, 1) for z in (-1, 0, 1)
                  if (x, y, z) != (0, 0, 0)], dtype=np.float64)
    return d / np.linalg.norm(d, axis=1, keepdims=True)


def _visible(mesh, pts: np.ndarray, normals: np.ndarray, tol: float) -> np.ndarray:
    """bool [n]: which surface points a ray from outside the link's bounding sphere reaches
    first, on their front side (the side their normal faces), along one of 26 directions.
    Layers hidden under other surfaces of the link (the Panda's meshes stack coloured trims
    over white shells) are never seen by a ray caster and are dropped, and so are surfaces
    seen only from inside the link (a flat Gaussian shows on both sides); other links are
    not considered (they move)."""
    lo, hi = mesh.bounds
    centre = (lo + hi) / 2
    radius = float(np.linalg.norm(hi - lo)) / 2 + 0.01
    seen = np.zeros(len(pts), dtype=bool)
    for d in _view_directions():
        todo = np.flatnonzero(~seen & (normals @ d > FRONT))
        if len(todo) == 0:
            continue
        p = pts[todo]
        # Start each ray outside the sphere, on the line through the point along d.
        t0 = (p - centre) @ d + radius
        origins = p + d * t0[:, None]
        tri, ray, loc = mesh.ray.intersects_id(origins, np.broadcast_to(-d, p.shape),
                                               multiple_hits=False, return_locations=True)
        hit = np.full(len(p), np.inf)
        hit[ray] = np.linalg.norm(loc - origins[ray], axis=1)
        seen[todo[hit >= t0 - tol]] = True
    return seen


SAMPLER_VERSION = 1
"""Bumped whenever sampling changes, so cached samples are rebuilt."""


def cache_dir() -> Path:
    """Where sampled robots are kept between processes: ``$IGEN_GS_CACHE/robot`` (default
    ``~/.cache/igen-gs/robot``)."""
    root = os.environ.get("IGEN_GS_CACHE") or Path.home() / ".cache" / "igen-gs"
    return Path(root) / "robot"


def _sample_robot(model: RobotModel, spacing: float, seed: int) -> dict[str, np.ndarray]:
    meshes = model.link_meshes
    links = [n for n in model.visual_links if n in meshes]
    parts = [sample_link(meshes[name], spacing, seed) for name in links]
    out = {k: np.concatenate([p[k] for p in parts]) for k in ("points", "normals", "rgb",
                                                               "size")}
    out["link_index"] = np.concatenate([np.full(len(p["points"]), i)
                                        for i, p in enumerate(parts)])
    out["links"] = np.array(links)
    return out


def _load_or_sample(model: RobotModel, spacing: float, seed: int, cache: bool
                    ) -> dict[str, np.ndarray]:
    """The robot's samples: from the disk cache when an identical build is there (same
    URDF and mesh files, spacing, seed and sampler), else sampled and stored (atomically;
    an unwritable cache is skipped). Cached and fresh samples are bit-identical."""
    if not cache:
        return _sample_robot(model, spacing, seed)
    key = hashlib.sha256(repr((model.fingerprint(), float(spacing), int(seed),
                               SAMPLER_VERSION)).encode()).hexdigest()[:32]
    path = cache_dir() / f"{model.name}-{key}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError) as e:
            log.warning("ignoring unreadable robot cache %s: %s", path, e)
    out = _sample_robot(model, spacing, seed)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **out)
        os.replace(tmp, path)
    except OSError as e:
        log.info("robot cache not written (%s): %s", path, e)
    return out


class RobotGaussians:
    """The robot's links as Gaussians (built once), posed per frame.

    The layout is fixed: links in ``model.visual_links`` order, ``link_index`` [N] says which
    link each Gaussian belongs to and ``is_gripper`` [N] whether it is part of the hand or
    fingers (episode label "gripper") or of the arm ("robot").
    """

    def __init__(self, model: RobotModel, spacing: float = 0.004, seed: int = 0,
                 cache: bool = True):
        if not 0.0005 <= spacing <= 0.05:
            raise ValueError(f"robot spacing must be within [0.0005, 0.05] m, got {spacing}")
        self.model, self.spacing = model, spacing
        s = _load_or_sample(model, spacing, seed, cache)
        self.links = [str(n) for n in s["links"]]
        self.points = torch.from_numpy(s["points"]).float()
        self.normals = torch.from_numpy(s["normals"]).float()
        self.albedo = torch.from_numpy(s["rgb"]).float()
        self.link_index = torch.from_numpy(s["link_index"]).long()
        self.quats = torch.from_numpy(_quat_z_to(s["normals"])).float()
        n = len(self.points)
        size = torch.from_numpy(s["size"]).float()
        self.scales = torch.stack([size, size, torch.full((n,), NORMAL * spacing)], 1)
        self.opacities = torch.full((n,), OPACITY)
        grip = [name in model.gripper_links for name in self.links]
        self.is_gripper = torch.tensor(grip, dtype=torch.bool)[self.link_index]
        self.lighting = None
        per_link = torch.bincount(self.link_index, minlength=len(self.links)).tolist()
        self.counts = dict(zip(self.links, per_link))
        if not bool((self.link_index[1:] >= self.link_index[:-1]).all()):
            raise ValueError("robot samples must be grouped by link in link order")
        ends = np.cumsum(per_link).tolist()
        self.ranges = [(e - c, e) for c, e in zip(per_link, ends)]
        """``(start, stop)`` of each link's Gaussians, ``self.links`` order."""
        self._facing_terms: tuple[Tensor, Tensor] | None = None
        self._packed: Tensor | None = None

    def __len__(self) -> int:
        return len(self.points)

    @property
    def device(self) -> torch.device:
        return self.points.device

    def to(self, device) -> RobotGaussians:
        """These Gaussians with every tensor on ``device`` (``self`` when already there)."""
        device = torch.device(device)
        if self.points.device == device:
            return self
        out = copy.copy(self)
        for name in ("points", "normals", "albedo", "link_index", "quats", "scales",
                     "opacities", "is_gripper"):
            setattr(out, name, getattr(self, name).to(device))
        out._facing_terms = out._packed = None
        return out

    def with_albedo(self, albedo, lighting=None) -> RobotGaussians:
        """These Gaussians with another albedo [N, 3] in [0, 1] and, when given, fitted world
        lights (:class:`igen_gs.robot.appearance.Lighting`) instead of the fixed
        hemispherical shading -- both from :func:`igen_gs.robot.appearance.fit_appearance`;
        the rest is shared."""
        a = torch.as_tensor(np.asarray(albedo), dtype=torch.float32)
        if a.shape != self.albedo.shape:
            raise ValueError(f"albedo must have shape {tuple(self.albedo.shape)}, got "
                             f"{tuple(a.shape)}")
        out = copy.copy(self)
        out.albedo = a.clamp(0, 1).to(self.device)
        out._packed = None
        out.lighting = lighting
        return out

    def inset(self, depth: float) -> RobotGaussians:
        """These Gaussians moved ``depth`` metres into their links, each along its own
        surface normal (the rest is shared; 0: ``self``). The flat splats of a surface spread
        about ``IN_PLANE`` spacings past a mesh's outline, so the drawn silhouette is wider
        than the ray-cast one; moving them in narrows it (``RobotConfig.inset``)."""
        if not (math.isfinite(depth) and 0.0 <= depth <= 0.01):
            raise ValueError(f"robot inset must be within [0, 0.01] m, got {depth}")
        if depth == 0.0:
            return self
        out = copy.copy(self)
        out.points = self.points - float(depth) * self.normals
        out._facing_terms = out._packed = None
        return out

    def link_transforms(self, T_world_base, q, opening: float) -> Tensor:
        """[L, 4, 4] ``T_world_link`` of the sampled links."""
        poses = self.model.link_poses(q, opening)
        Tb = np.asarray(T_world_base, dtype=np.float64)
        return torch.from_numpy(np.stack([Tb @ poses[n] for n in self.links]))

    def posed(self, T_world_base, q, opening: float, up=(0.0, 0.0, 1.0)
              ) -> tuple[Tensor, Tensor, Tensor]:
        """World ``means`` [N, 3], ``quats`` [N, 4] (w, x, y, z) and shaded ``rgb`` [N, 3] at
        joint angles ``q`` and gripper ``opening`` (metres), the base at ``T_world_base``."""
        return self.pose_links(self.link_transforms(T_world_base, q, opening), up)

    def surface(self, T_world_links: Tensor) -> tuple[Tensor, Tensor]:
        """World ``means`` [N, 3] and unit ``normals`` [N, 3] of the Gaussians, the links at
        ``T_world_links`` [L, 4, 4] (``self.links`` order)."""
        T = torch.as_tensor(T_world_links).to(dtype=torch.float32, device=self.device)
        R = T[:, :3, :3][self.link_index]
        t = T[:, :3, 3][self.link_index]
        return (torch.einsum("nij,nj->ni", R, self.points) + t,
                torch.einsum("nij,nj->ni", R, self.normals))

    def _shade(self, normals: Tensor, up) -> Tensor:
        if self.lighting is not None:
            return self.lighting.shade(normals)
        up_t = torch.as_tensor(up, dtype=torch.float32, device=self.device)
        return shade(normals, up_t / up_t.norm())

    def facing(self, k: int, T_world_link: Tensor, eyes: Tensor, cos: float) -> Tensor:
        """[n_k] bool: which of link ``k``'s Gaussians face at least one of the camera
        centres ``eyes`` [C, 3] (world), the link at ``T_world_link`` [4, 4]: ``n . v >= cos
        |v|`` for the outward normal ``n`` and ``v`` from the Gaussian to the eye. Computed in
        the link's frame from per-Gaussian constants, without posing the link;
        :func:`facing_reference` is the world-frame twin (tested against it)."""
        a, b = self.ranges[k]
        if self._facing_terms is None:  # n . p and |p|^2 of every Gaussian, link frame
            self._facing_terms = ((self.normals * self.points).sum(-1),
                                  (self.points * self.points).sum(-1))
        n_dot_p, p_sq = (x[a:b] for x in self._facing_terms)
        T = torch.as_tensor(T_world_link).to(dtype=torch.float32, device=self.device)
        R, t = T[:3, :3], T[:3, 3]
        e = (torch.as_tensor(eyes).to(R) - t) @ R  # [C, 3] in the link frame
        # v = e - p:  n . v = n . e - n . p,  |v|^2 = |e|^2 - 2 p . e + |p|^2
        n_dot_v = self.normals[a:b] @ e.T - n_dot_p[:, None]  # [n_k, C]
        v_sq = (e * e).sum(-1) - 2.0 * (self.points[a:b] @ e.T) + p_sq[:, None]
        return (n_dot_v >= cos * v_sq.clamp(min=0.0).sqrt()).any(-1)

    def _attributes(self) -> Tensor:
        """[N, 17] every Gaussian's constants in one row (one gather per link in
        :meth:`pose_link`): link-frame point 3, normal 3, quaternion 4, albedo 3, scales 3,
        opacity 1."""
        if self._packed is None:
            self._packed = torch.cat([self.points, self.normals, self.quats, self.albedo,
                                      self.scales, self.opacities[:, None]], 1)
        return self._packed

    def pose_link(self, k: int, T_world_link: Tensor, up=(0.0, 0.0, 1.0),
                  rows: Tensor | None = None, q_world_link: Tensor | None = None
                  ) -> dict[str, Tensor]:
        """Link ``k``'s Gaussians (rows ``self.ranges[k]``; only ``rows`` of them, indices
        within the link, when given), the link at ``T_world_link`` [4, 4]: world ``means``
        [n, 3], ``quats`` [n, 4], ``scales`` [n, 3], ``opacities`` [n], shaded ``rgb`` [n, 3]
        and unit ``normals`` [n, 3], with one 3x3 and one 4x4 matmul for the whole link.
        :func:`pose_links_reference` is its readable per-Gaussian twin (tested against it).
        ``q_world_link``: the link's rotation as a (w, x, y, z) quaternion, when known
        (:meth:`link_quats`), saves converting it here."""
        a, b = self.ranges[k]
        X = self._attributes()[a:b]
        if rows is not None:
            X = X.index_select(0, rows)
        T = torch.as_tensor(T_world_link).to(dtype=torch.float32, device=self.device)
        R, t = T[:3, :3], T[:3, 3]
        normals = X[:, 3:6] @ R.T
        qR = (self.link_quats(T[None])[0] if q_world_link is None else
              torch.as_tensor(q_world_link).to(R))
        return {"means": X[:, 0:3] @ R.T + t, "quats": X[:, 6:10] @ frames.quat_left_matrix(qR).T,
                "scales": X[:, 13:16], "opacities": X[:, 16],
                "rgb": (X[:, 10:13] * self._shade(normals, up)[:, None]).clamp(0, 1),
                "normals": normals}

    def link_quats(self, T_world_links: Tensor) -> Tensor:
        """[L, 4] float32 (w, x, y, z) rotations of the link poses [L, 4, 4], on the device."""
        R = torch.as_tensor(T_world_links)[:, :3, :3]
        q = rotmat_to_quat_np(R.detach().double().cpu().numpy())
        return torch.from_numpy(q).to(dtype=torch.float32, device=self.device)

    def pose_links(self, T_world_links: Tensor, up=(0.0, 0.0, 1.0)
                   ) -> tuple[Tensor, Tensor, Tensor]:
        """As :meth:`posed`, from the links' world poses [L, 4, 4] (``self.links`` order),
        link by link (:meth:`pose_link`)."""
        T = torch.as_tensor(T_world_links)
        if T.shape != (len(self.links), 4, 4):
            raise ValueError(f"T_world_links must have shape ({len(self.links)}, 4, 4), got "
                             f"{tuple(T.shape)}")
        q = self.link_quats(T)
        parts = [self.pose_link(k, T[k], up, q_world_link=q[k]) for k in range(len(self.links))]
        return tuple(torch.cat([p[key] for p in parts]) for key in ("means", "quats", "rgb"))

    def field(self, T_world_base, q, opening: float, up=(0.0, 0.0, 1.0)) -> GaussianField:
        """The posed robot as a :class:`GaussianField` (SH degree 0)."""
        means, quats, rgb = self.posed(T_world_base, q, opening, up)
        return GaussianField(means, quats, self.scales.clone(), self.opacities.clone(),
                             rgb_to_sh_dc(rgb)[:, None])


def pose_links_reference(g: RobotGaussians, T_world_links: Tensor, up=(0.0, 0.0, 1.0)
                         ) -> tuple[Tensor, Tensor, Tensor]:
    """:meth:`RobotGaussians.pose_links` written per Gaussian (each one's link transform
    gathered, quaternions by the Hamilton product): the readable reference of the fast path."""
    T = torch.as_tensor(T_world_links).to(dtype=torch.float32, device=g.device)
    means, normals = g.surface(T)
    qR = frames.rotmat_to_quat(T[:, :3, :3].double()).float()[g.link_index]
    quats = frames.quat_multiply(qR, g.quats)
    rgb = (g.albedo * g._shade(normals, up)[:, None]).clamp(0, 1)
    return means, quats, rgb


def facing_reference(g: RobotGaussians, T_world_links: Tensor, eyes: Tensor, cos: float
                     ) -> Tensor:
    """:meth:`RobotGaussians.facing` for every link at once [N], from the posed Gaussians in
    the world: the readable reference of the link-frame fast path."""
    means, normals = g.surface(T_world_links)
    keep = torch.zeros(len(means), dtype=torch.bool, device=means.device)
    for e in torch.as_tensor(eyes).to(means):
        v = e - means
        keep |= (normals * v).sum(-1) >= cos * v.norm(dim=-1)
    return keep


@functools.lru_cache(maxsize=4)
def _cached(model_id: int, model: RobotModel, spacing: float) -> RobotGaussians:
    return RobotGaussians(model, spacing)


def robot_gaussians(model: RobotModel, spacing: float = 0.004, inset: float = 0.0
                    ) -> RobotGaussians:
    """:class:`RobotGaussians` of ``model`` at ``spacing``, built once per process, moved
    ``inset`` metres into the links (:meth:`RobotGaussians.inset`)."""
    return _cached(id(model), model, float(spacing)).inset(float(inset))
