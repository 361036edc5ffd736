"""Object meshes of the synthetic tabletop (open3d), each in its object frame: origin at the
centre of the object's bottom, z up, metres.

Kinds: ``box`` (a block), ``cylinder`` (a can), ``mug`` (an open cylindrical shell with a
bottom and a handle), ``plate`` (a flat disc with a raised rim), ``watering_can`` (an open
cylindrical shell with a bottom, a handle on its -x side and a straight spout rising at 50
degrees out of its +x side, its tip at 85 % of the height), ``basket`` (an open round tub:
a floor and a thin straight wall, no lid, no handle).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

KINDS = ("box", "cylinder", "mug", "plate", "watering_can", "basket")
_SPOUT_DEG = 50.0  # the spout's rise above the horizontal
_SPOUT_TIP = 0.85  # the spout tip's height, a fraction of the can's height


@dataclass(frozen=True)
class ObjectSpec:
    """One object of a synthetic world.

    ``size`` is (x, y, z) extents in metres for boxes; (diameter, diameter, height) for the
    round kinds (a mug's handle sticks out beyond the diameter on the object's
    +x side; a watering can's handle on its -x side, its spout on its +x side).
    ``color`` is the linear albedo (R, G, B) in [0, 1]. ``texture`` is None (plain albedo) or
    "stripes": horizontal bands 2 cm tall counted from the object's bottom, every second band
    (z in [2, 4) cm, [6, 8) cm, ...) darkened to 70 % of ``color``, to give the object visible
    structure.
    """

    name: str
    kind: str
    size: tuple[float, float, float]
    color: tuple[float, float, float]
    texture: str | None = None

    def validate(self) -> ObjectSpec:
        """This spec, or ValueError naming the object and the bad field."""
        from ..scene.scene import check_object_name

        check_object_name(self.name)
        if self.kind not in KINDS:
            raise ValueError(f"object {self.name!r}: kind must be one of {', '.join(KINDS)}, "
                             f"got {self.kind!r}")
        if len(self.size) != 3 or not all(0.005 <= float(s) <= 1.0 for s in self.size):
            raise ValueError(f"object {self.name!r}: size must be three extents between 5 mm "
                             f"and 1 m, got {self.size}")
        if len(self.color) != 3 or not all(0.0 <= float(c) <= 1.0 for c in self.color):
            raise ValueError(f"object {self.name!r}: color must be RGB in [0, 1], got "
                             f"{self.color}")
        if self.texture not in (None, "stripes"):
            raise ValueError(f"object {self.name!r}: texture must be None or 'stripes'")
        if self.kind != "box" and abs(self.size[0] - self.size[1]) > 1e-9:
            raise ValueError(f"object {self.name!r}: a {self.kind} has equal x and y size "
                             "(its diameter)")
        return self

    @staticmethod
    def from_dict(d: dict) -> ObjectSpec:
        """Spec from ``{"name", "kind", "size", "color"[, "texture"]}`` (ValueError on missing,
        unknown or malformed keys)."""
        if not isinstance(d, dict):
            raise ValueError(f"object spec must be a dict or ObjectSpec, got {type(d).__name__}")
        unknown = set(d) - {"name", "kind", "size", "color", "texture"}
        if unknown:
            raise ValueError(f"object spec {d.get('name', '?')!r} has unknown keys "
                             f"{sorted(unknown)}; allowed: name, kind, size, color, texture")
        try:
            spec = ObjectSpec(name=str(d["name"]), kind=str(d["kind"]),
                              size=tuple(float(v) for v in d["size"]),
                              color=tuple(float(v) for v in d["color"]),
                              texture=d.get("texture"))
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"object spec {d!r} needs name, kind, size (3 numbers) and color "
                             f"(3 numbers): {e}") from None
        return spec.validate()


def _o3d():
    import open3d as o3d

    return o3d


def _cylinder(radius: float, height: float, z0: float, resolution: int = 48, split: int = 4):
    o3d = _o3d()
    m = o3d.geometry.TriangleMesh.create_cylinder(radius, height, resolution, split)
    m.translate((0.0, 0.0, z0 + height / 2))
    return m


def _tube(r_out: float, r_in: float, z0: float, z1: float, resolution: int = 48):
    """Open tube: outer and inner walls plus the top annulus (no bottom)."""
    o3d = _o3d()
    verts, tris = [], []
    ang = np.linspace(0, 2 * math.pi, resolution, endpoint=False)
    for r in (r_out, r_in):
        for z in (z0, z1):
            verts += [(r * math.cos(a), r * math.sin(a), z) for a in ang]
    n = resolution

    def idx(ring, i):
        return ring * n + (i % n)

    for i in range(n):
        # outer wall (rings 0 bottom, 1 top), normals outwards
        tris += [(idx(0, i), idx(0, i + 1), idx(1, i + 1)), (idx(0, i), idx(1, i + 1), idx(1, i))]
        # inner wall (rings 2 bottom, 3 top), normals inwards
        tris += [(idx(2, i), idx(3, i + 1), idx(2, i + 1)), (idx(2, i), idx(3, i), idx(3, i + 1))]
        # top annulus between outer top (1) and inner top (3)
        tris += [(idx(1, i), idx(1, i + 1), idx(3, i + 1)), (idx(1, i), idx(3, i + 1), idx(3, i))]
    m = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(np.array(verts)),
                                  o3d.utility.Vector3iVector(np.array(tris, dtype=np.int32)))
    return m


def _handle(radius_mug: float, height: float, thickness: float):
    """A half torus on the +x side of the mug."""
    o3d = _o3d()
    R = 0.28 * height
    t = o3d.geometry.TriangleMesh.create_torus(torus_radius=R, tube_radius=thickness / 2,
                                               radial_resolution=24, tubular_resolution=10)
    # Torus in the xy plane about z: rotate it into the xz plane, keep the +x half.
    rot = t.get_rotation_matrix_from_xyz((math.pi / 2, 0.0, 0.0))
    t.rotate(rot, center=(0.0, 0.0, 0.0))
    v = np.asarray(t.vertices)
    tri = np.asarray(t.triangles)
    keep = (v[tri][:, :, 0] > -1e-9).all(axis=1)
    t.triangles = o3d.utility.Vector3iVector(tri[keep])
    t.remove_unreferenced_vertices()
    t.translate((radius_mug - thickness * 0.3, 0.0, 0.5 * height))
    return t


def _spout(radius_can: float, height: float):
    """A straight solid tube from inside the can's +x wall at 30 % of its height, rising at
    ``_SPOUT_DEG`` outwards to its tip at ``_SPOUT_TIP`` of the height."""
    o3d = _o3d()
    r = max(0.005, 0.15 * radius_can)
    a = math.radians(_SPOUT_DEG)
    z0 = 0.3 * height
    length = (_SPOUT_TIP * height - z0) / math.sin(a)
    d = np.array([math.cos(a), 0.0, math.sin(a)])
    m = o3d.geometry.TriangleMesh.create_cylinder(r, length, 24, 2)
    m.rotate(m.get_rotation_matrix_from_xyz((0.0, math.pi / 2 - a, 0.0)), center=(0, 0, 0))
    base = np.array([radius_can - r, 0.0, z0])
    m.translate(base + 0.5 * length * d)
    return m


def basket_wall(spec: ObjectSpec) -> float:
    """Thickness of a basket's wall and floor: max(4 mm, 5 % of its radius)."""
    return max(0.004, 0.025 * float(spec.size[0]))


def make_mesh(spec: ObjectSpec):
    """Triangle mesh of ``spec`` in its object frame (bottom centre at the origin, z up), with
    vertex normals computed."""
    sx, sy, sz = (float(v) for v in spec.size)
    o3d = _o3d()
    if spec.kind == "box":
        m = o3d.geometry.TriangleMesh.create_box(sx, sy, sz)
        m.translate((-sx / 2, -sy / 2, 0.0))
        # Subdivide so per-vertex attributes (texture) have resolution.
        m = m.subdivide_midpoint(3)
    elif spec.kind == "cylinder":
        m = _cylinder(sx / 2, sz, 0.0)
    elif spec.kind == "mug":
        r = sx / 2
        wall = max(0.004, 0.08 * r)
        m = _tube(r, r - wall, wall, sz)
        m += _cylinder(r, wall, 0.0)  # the bottom
        m += _handle(r, sz, max(0.008, 0.2 * r))
    elif spec.kind == "watering_can":
        r = sx / 2
        wall = max(0.004, 0.08 * r)
        m = _tube(r, r - wall, wall, sz)
        m += _cylinder(r, wall, 0.0)
        handle = _handle(r, sz, max(0.008, 0.2 * r))
        handle.rotate(handle.get_rotation_matrix_from_xyz((0.0, 0.0, math.pi)),
                      center=(0.0, 0.0, 0.0))
        m += handle
        m += _spout(r, sz)
    elif spec.kind == "basket":
        r = sx / 2
        wall = basket_wall(spec)
        m = _tube(r, r - wall, wall, sz, resolution=64)
        m += _cylinder(r, wall, 0.0, resolution=64)
    else:  # plate: a thin disc with a raised rim ring
        r = sx / 2
        rim = min(0.012, 0.15 * r)
        base = max(0.004, 0.35 * sz)
        m = _cylinder(r, base, 0.0)
        m += _tube(r, r - rim, base, sz)
    m.compute_triangle_normals()
    m.compute_vertex_normals()
    return m


def default_specs() -> list[ObjectSpec]:
    """The default set: a red block, a blue plate, a white mug, a green can."""
    return [
        ObjectSpec("red block", "box", (0.05, 0.05, 0.05), (0.82, 0.12, 0.10)),
        ObjectSpec("blue plate", "plate", (0.18, 0.18, 0.016), (0.15, 0.32, 0.85)),
        ObjectSpec("mug", "mug", (0.08, 0.08, 0.095), (0.92, 0.90, 0.85), "stripes"),
        ObjectSpec("green can", "cylinder", (0.066, 0.066, 0.12), (0.20, 0.65, 0.25), "stripes"),
    ]
