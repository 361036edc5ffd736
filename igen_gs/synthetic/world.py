"""Procedural tabletop worlds with ground truth, rendered by an independent ray caster.

World frame: z up, metres; the table top is the plane z = 0 (support plane (0, 0, 1, 0)),
1.2 m x 0.8 m, over a grey floor at z = -0.75. Objects (see :mod:`.shapes`) rest on the
table at seeded, non-overlapping places with seeded yaw.

Appearance (:mod:`.materials`) is deterministic and view independent: a procedural wood
texture on the table evaluated at the hit point, a grey floor, flat (optionally striped) object
albedos, and hemispherical shading that depends only on the normal's z, so turning an object
about the vertical or sliding it does not change its colours. The ray caster and the
ground-truth Gaussians share this model.

Rendering (:mod:`.raycast`) casts one ray per pixel centre (OpenCV camera,
:mod:`igen_gs.scene.frames`) with open3d's ``RaycastingScene``; depth is the camera z of the
hit. Rays that miss everything (beyond the 6 m floor) get depth 0 and instance -1.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from ..scene import frames
from ..scene.camera import Camera
from ..scene.field import GaussianField
from ..scene.scene import Scene
from .materials import FLOOR_RGB, object_albedo, shade, table_albedo
from .raycast import Surface, raycast
from .shapes import ObjectSpec, default_specs, make_mesh

TABLE_SIZE = (1.2, 0.8)
TABLE_THICKNESS = 0.04
FLOOR_Z = -0.75
PLACEMENT_REGION = ((-0.28, 0.28), (-0.18, 0.22))  # x, y ranges for object centres


@dataclass
class RobotPose:
    """A robot standing in a synthetic world: joint angles ``q`` (radians, the model's
    ``arm_joints`` order), gripper ``opening`` (metres) and ``T_world_base`` [4, 4];
    ``urdf`` None is the built-in Franka Panda (:func:`igen_gs.robot.model.load_robot`)."""

    q: Sequence[float]
    opening: float = 0.04
    T_world_base: object = field(default_factory=lambda: np.eye(4))
    urdf: str | None = None

    def model(self):
        from ..robot.model import load_robot

        return load_robot(self.urdf)


@dataclass
class SyntheticWorld:
    """A tabletop world: named objects with rest poses ``T_world_obj`` (object frame: bottom
    centre, z up)."""

    specs: list[ObjectSpec]
    poses: dict[str, torch.Tensor]
    seed: int = 0
    _meshes: dict = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------ basic facts
    @property
    def object_names(self) -> list[str]:
        return [s.name for s in self.specs]

    @property
    def support_plane(self) -> torch.Tensor:
        return torch.tensor([0.0, 0.0, 1.0, 0.0], dtype=torch.float64)

    def spec(self, name: str) -> ObjectSpec:
        for s in self.specs:
            if s.name == name:
                return s
        raise ValueError(f"unknown object {name!r}; the world has: "
                         f"{', '.join(self.object_names)}")

    def object_mesh(self, name: str):
        """open3d TriangleMesh of ``name`` in its object frame (cached; a copy is returned)."""
        import copy

        spec = self.spec(name)
        if name not in self._meshes:
            self._meshes[name] = make_mesh(spec)
        return copy.deepcopy(self._meshes[name])

    def object_extents(self, name: str) -> tuple[float, float, float]:
        """The spec's (size_x, size_y, size_z) in metres: the body, without a mug's handle
        (see :meth:`object_bounds` for the full mesh)."""
        return tuple(float(v) for v in self.spec(name).size)

    def object_bounds(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Axis-aligned bounds (min [3], max [3]) of the whole mesh in the object frame,
        metres (includes a mug's handle)."""
        v = np.asarray(self.object_mesh(name).vertices)
        return v.min(axis=0), v.max(axis=0)

    def default_camera(self, width: int = 640, height: int = 480) -> Camera:
        """A photo-like view of the table from the front and above (fov 55 deg)."""
        return Camera.look_at((0.0, -0.78, 0.62), (0.0, 0.03, 0.0), width=width, height=height,
                              fov_y_deg=55.0, name="photo")

    # ------------------------------------------------------------------ editing
    def with_poses(self, poses: Mapping[str, object]) -> SyntheticWorld:
        """A copy with some objects moved to new ``T_world_obj``."""
        new = dict(self.poses)
        for name, T in poses.items():
            self.spec(name)
            new[name] = frames.as_rigid(T, tol=1e-4, name=f"pose of {name!r}")
        return replace(self, poses=new, _meshes=self._meshes)

    def move(self, name: str, T_world_obj) -> SyntheticWorld:
        """A copy with ``name`` at ``T_world_obj`` (a rigid [4, 4]; this world is unchanged).
        No collision check: any pose, e.g. lifted in a gripper, is allowed."""
        return self.with_poses({name: T_world_obj})

    # ------------------------------------------------------------------ ray casting
    def surfaces(self, object_poses: Mapping[str, object] | None = None) -> list[Surface]:
        """The table, the floor (label 0) and every object (label i + 1) as ray-castable
        world-frame surfaces, objects at ``object_poses`` (default: :attr:`poses`)."""
        world = self.with_poses(object_poses) if object_poses else self
        out = [Surface(m, 0, a) for m, a in _static_surfaces()]
        for i, name in enumerate(world.object_names):
            T = world.poses[name].numpy()
            m = self.object_mesh(name)
            m.transform(T)
            T_obj_world = np.linalg.inv(T)
            spec = world.spec(name)
            out.append(Surface(m, i + 1, lambda p, s=spec, Ti=T_obj_world: object_albedo(
                s, p @ Ti[:3, :3].T + Ti[:3, 3])))
        return out

    def robot_surfaces(self, robot: RobotPose) -> list[Surface]:
        """The robot's links as ray-castable world-frame meshes (label ``robot_label``), each
        triangle with its mesh material's albedo; shaded by the same hemispherical
        :func:`.materials.shade` as everything else (the Gaussian robot of
        :mod:`igen_gs.robot.gaussians` uses this shading too)."""
        import open3d as o3d

        model = robot.model()
        poses = model.link_poses(robot.q, robot.opening)
        Tb = np.asarray(robot.T_world_base, dtype=np.float64)
        out = []
        for name, mesh in model.link_meshes.items():
            T = Tb @ poses[name]
            v = np.asarray(mesh.vertices) @ T[:3, :3].T + T[:3, 3]
            m = o3d.t.geometry.TriangleMesh()
            m.vertex.positions = o3d.core.Tensor(v.astype(np.float32))
            m.triangle.indices = o3d.core.Tensor(np.asarray(mesh.faces, dtype=np.int32))
            rgb = np.asarray(mesh.visual.face_colors[:, :3], dtype=np.float64) / 255.0
            out.append(Surface(m, self.robot_label, face_albedo=rgb))
        return out

    @property
    def robot_label(self) -> int:
        """Instance label of the robot in :meth:`render` (after the objects')."""
        return len(self.specs) + 1

    def render(self, camera: Camera, object_poses: Mapping[str, object] | None = None,
               robot: RobotPose | None = None) -> dict:
        """Ray-cast ``camera``'s view (:func:`.raycast.raycast`), objects at ``object_poses``
        (default: the rest :attr:`poses`), with the ``robot`` in the world when given.

        Returns ``rgb`` uint8 [H, W, 3], ``depth`` float32 [H, W] (camera z, metres; 0 where
        the ray hits nothing), ``instance`` int32 [H, W] (0 table/floor, i + 1 for object i
        of ``object_names``, :attr:`robot_label` for the robot, -1 for nothing), ``masks``
        {name: bool [H, W]} (objects; "robot" too when it is drawn) and ``normals`` float32
        [H, W, 3] (world, facing the camera; 0 where nothing is hit).
        """
        surfaces = self.surfaces(object_poses)
        if robot is not None:
            surfaces += self.robot_surfaces(robot)
        hits = raycast(camera, surfaces)
        instance = hits["label"]
        masks = {nm: instance == i + 1 for i, nm in enumerate(self.object_names)}
        if robot is not None:
            masks["robot"] = instance == self.robot_label
        return {
            "rgb": hits["rgb"],
            "depth": hits["depth"],
            "instance": instance,
            "masks": masks,
            "normals": hits["normals"],
        }

    # ------------------------------------------------------------------ ground-truth Gaussians
    def gaussian_scene(self, spacing: float = 0.004, camera: Camera | None = None) -> Scene:
        """Ground-truth Gaussians sampled on the surfaces (flat discs along the surface normal,
        colour = albedo x shading at rest), objects in their own frames with ``poses``; the
        background is the table top and the floor near it."""
        rng = np.random.default_rng(self.seed)
        objects = {}
        for name in self.object_names:
            m = self.object_mesh(name)
            p, nrm = _sample_surface(m, spacing, rng)
            n_world = nrm @ self.poses[name][:3, :3].numpy().T
            col = object_albedo(self.spec(name), p) * shade(n_world)[:, None]
            objects[name] = _flat_gaussians(p, nrm, col, spacing)
        # Background: the table top (z = 0), its four sides, and the floor (coarser), sampled
        # on regular grids.
        tx, ty = TABLE_SIZE
        parts = []
        top = _grid_points((-tx / 2, tx / 2), (-ty / 2, ty / 2), spacing, 0.0)
        up = np.broadcast_to([0.0, 0.0, 1.0], top.shape)
        parts.append(_flat_gaussians(top, up, table_albedo(top[:, :2]) * shade(up)[:, None],
                                     spacing))
        for axis, sign in ((0, -1), (0, 1), (1, -1), (1, 1)):
            half = (tx / 2, ty / 2)[axis]
            other = (ty / 2, tx / 2)[axis]
            g = _grid_points((-other, other), (-TABLE_THICKNESS, 0.0), spacing, 0.0)
            side = np.zeros_like(g)
            side[:, 1 - axis] = g[:, 0]
            side[:, axis] = sign * half
            side[:, 2] = g[:, 1]
            nrm = np.zeros_like(side)
            nrm[:, axis] = sign
            parts.append(_flat_gaussians(side, nrm, table_albedo(side[:, :2]) *
                                         shade(nrm)[:, None], spacing))
        # Floor: a fine patch under the table, a coarse ring out to 3 m.
        for fs, half, hole in ((4 * spacing, 1.4, 0.0), (12 * spacing, 3.0, 1.4)):
            fl = _grid_points((-half, half), (-half, half), fs, FLOOR_Z)
            fl = fl[(np.abs(fl[:, 0]) > hole) | (np.abs(fl[:, 1]) > hole)]
            nz = np.broadcast_to([0.0, 0.0, 1.0], fl.shape)
            parts.append(_flat_gaussians(fl, nz, np.broadcast_to(FLOOR_RGB, fl.shape) *
                                         shade(nz)[:, None], fs))
        background = GaussianField.concat(parts)
        return Scene(background, objects, {n: self.poses[n].clone() for n in objects},
                     camera=camera, support_plane=self.support_plane.clone(),
                     meta={"source": "igen_gs.synthetic", "seed": self.seed,
                           "spacing_m": spacing})


@functools.lru_cache(maxsize=1)
def _static_surfaces():
    """(tensor mesh, albedo function) of the table (a box whose top is z = 0) and the floor
    (a 6 m x 6 m slab whose top is z = FLOOR_Z), built once."""
    import open3d as o3d

    tx, ty = TABLE_SIZE
    table = o3d.geometry.TriangleMesh.create_box(tx, ty, TABLE_THICKNESS)
    table.translate((-tx / 2, -ty / 2, -TABLE_THICKNESS))
    floor = o3d.geometry.TriangleMesh.create_box(6.0, 6.0, 0.01)
    floor.translate((-3.0, -3.0, FLOOR_Z - 0.01))
    return ((o3d.t.geometry.TriangleMesh.from_legacy(table), lambda p: table_albedo(p[:, :2])),
            (o3d.t.geometry.TriangleMesh.from_legacy(floor),
             lambda p: np.broadcast_to(np.asarray(FLOOR_RGB), p.shape)))


def _grid_points(xr, yr, step: float, z: float) -> np.ndarray:
    """Centres of a regular grid over [x0, x1] x [y0, y1] at height z, [n, 3]."""
    gx = np.arange(xr[0] + step / 2, xr[1], step)
    gy = np.arange(yr[0] + step / 2, yr[1], step)
    X, Y = np.meshgrid(gx, gy, indexing="ij")
    return np.stack([X.ravel(), Y.ravel(), np.full(X.size, z)], 1)


def _sample_surface(mesh, spacing: float, rng: np.random.Generator):
    """Area-weighted random points on a mesh: about one per spacing^2; returns points and the
    unit normals of their triangles."""
    v = np.asarray(mesh.vertices)
    tri = np.asarray(mesh.triangles)
    a, b, c = v[tri[:, 0]], v[tri[:, 1]], v[tri[:, 2]]
    cross = np.cross(b - a, c - a)
    area = 0.5 * np.linalg.norm(cross, axis=1)
    n = max(16, int(area.sum() / spacing**2))
    which = rng.choice(len(tri), size=n, p=area / area.sum())
    r1, r2 = rng.random(n), rng.random(n)
    s = np.sqrt(r1)
    p = (1 - s)[:, None] * a[which] + (s * (1 - r2))[:, None] * b[which] + (s * r2)[:, None] * \
        c[which]
    nrm = cross[which] / np.maximum(np.linalg.norm(cross[which], axis=1, keepdims=True), 1e-12)
    return p, nrm


def _flat_gaussians(points, normals, rgb, spacing: float) -> GaussianField:
    """Disc-shaped Gaussians: local z along the normal (thin), about one spacing wide."""
    points = torch.as_tensor(np.asarray(points), dtype=torch.float64)
    normals = torch.as_tensor(np.ascontiguousarray(normals), dtype=torch.float64)
    z = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64).expand_as(normals)
    axis = torch.linalg.cross(z, normals)
    s = axis.norm(dim=-1)
    angle = torch.atan2(s, (normals * z).sum(-1))
    axis = torch.where(s[:, None] > 1e-9, axis / s.clamp_min(1e-12)[:, None],
                       torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64))
    quats = frames.rotmat_to_quat(frames.axis_angle_to_rotmat(axis, angle))
    N = points.shape[0]
    scales = torch.tensor([0.6 * spacing, 0.6 * spacing, 0.08 * spacing]).expand(N, 3)
    return GaussianField.from_points(points, torch.as_tensor(np.asarray(rgb), dtype=torch.float32),
                                     scales, quats, torch.full((N,), 0.99))


def _footprint_radius(spec: ObjectSpec) -> float:
    """Radius (metres) of a vertical cylinder about the object's z axis that contains its mesh
    whatever its yaw: the mesh's largest horizontal distance from the axis, and at least the
    half diagonal of the spec's footprint (+ 2 cm for a mug's handle), which the default
    placements were drawn with."""
    v = np.asarray(make_mesh(spec).vertices)
    mesh_r = float(np.hypot(v[:, 0], v[:, 1]).max())
    spec_r = 0.5 * float(np.hypot(spec.size[0], spec.size[1])) + (
        0.02 if spec.kind == "mug" else 0.0)
    return max(mesh_r, spec_r)


def make_tabletop_world(seed: int = 0, objects: Sequence[ObjectSpec | dict] | None = None
                        ) -> SyntheticWorld:
    """A world with ``objects`` (default :func:`default_specs`: "red block", "blue plate",
    "mug", "green can"), given as :class:`ObjectSpec` or dicts, placed upright on the table at
    seeded positions with seeded yaw. Placement is rejection sampling of centres in
    ``PLACEMENT_REGION``: each object's footprint circle (:func:`_footprint_radius`) must lie
    on the table and keep 1.5 cm from every other one, so objects never interpenetrate.
    Raises ValueError for invalid or duplicate specs, or when 500 tries cannot place one."""
    specs = [o if isinstance(o, ObjectSpec) else ObjectSpec.from_dict(o)
             for o in (objects if objects is not None else default_specs())]
    for s in specs:
        s.validate()
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"object names must be unique, got {names}")
    rng = np.random.default_rng(seed)
    placed: list[tuple[float, float, float]] = []
    poses = {}
    (x0, x1), (y0, y1) = PLACEMENT_REGION
    tx, ty = TABLE_SIZE
    for s in specs:
        radius = _footprint_radius(s)
        for _ in range(500):
            x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
            on_table = abs(x) + radius <= tx / 2 and abs(y) + radius <= ty / 2
            if on_table and all(np.hypot(x - px, y - py) > radius + pr + 0.015
                                for px, py, pr in placed):
                break
        else:
            raise ValueError(f"cannot place {s.name!r} without overlapping the other objects; "
                             "use fewer or smaller objects")
        placed.append((x, y, radius))
        yaw = rng.uniform(-np.pi, np.pi)
        R = frames.axis_angle_to_rotmat(torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64),
                                        torch.tensor(yaw, dtype=torch.float64))
        poses[s.name] = frames.make_T(R, torch.tensor([x, y, 0.0], dtype=torch.float64))
    return SyntheticWorld(specs, poses, seed)
