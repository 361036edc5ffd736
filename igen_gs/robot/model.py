"""Robot models: a URDF's kinematic tree and visual meshes (the built-in Franka Panda, or any
URDF), forward kinematics of every link, and the gripper geometry measured from the meshes.

Parsing is yourdfpy's, mesh loading trimesh's (``.dae`` through pycollada, with the files'
materials); forward kinematics walks the parsed joint tree (revolute, continuous, prismatic,
fixed joints; mimic joints follow their leader).

Frames: ``T_base_link`` maps points of a link's frame to the robot's root link frame (the
base); the world pose of the robot is ``T_world_base`` (see :class:`igen_gs.planning.Trajectory`),
so ``T_world_link = T_world_base @ T_base_link``. Joint vectors ``q`` hold the actuated
revolute joints in URDF order (the Panda's 7 arm joints, radians); the gripper ``opening``
(metres between the finger pads) moves each actuated prismatic joint by ``opening / 2``.

The built-in Panda is the URDF of roboticstoolbox's ``rtbdata`` package
(``qut_frankie_description/robots/panda_arm_hand.urdf.xacro``, expanded by xacrodoc), with its
``.dae`` visual meshes: white links, dark joints and hand parts. Its TCP is 10.34 cm beyond
the hand link along z, the same TCP as :mod:`igen_gs.planning.kinematics`.
"""

from __future__ import annotations

import functools
import io
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .geometry import GripperGeometry

log = logging.getLogger(__name__)

PANDA_XACRO = "qut_frankie_description/robots/panda_arm_hand.urdf.xacro"
PANDA_HAND_LINK = "panda_hand"
PANDA_TCP_OFFSET = (0.0, 0.0, 0.1034)
DEFAULT_RGB = (0.7, 0.7, 0.7)
"""Colour of link meshes that carry no material and whose URDF visual names none."""


@dataclass
class _Joint:
    name: str
    type: str
    parent: str
    child: str
    origin: np.ndarray  # [4, 4] T_parent_joint
    axis: np.ndarray  # [3]
    lower: float
    upper: float
    mimic: tuple[str, float, float] | None  # (leader, multiplier, offset)


def _rot(axis: np.ndarray, angle: float) -> np.ndarray:
    a = axis / np.linalg.norm(axis)
    K = np.array([[0.0, -a[2], a[1]], [a[2], 0.0, -a[0]], [-a[1], a[0], 0.0]])
    return np.eye(3) + np.sin(angle) * K + (1.0 - np.cos(angle)) * (K @ K)


class RobotModel:
    """A robot from a URDF. Build with :func:`load_robot` (cached) rather than directly.

    Attributes:
        name: the URDF's robot name.
        root: the base link (``T_world_base`` places it).
        arm_joints: actuated revolute/continuous joints, the order of ``q``.
        gripper_joints: actuated prismatic joints (each moves ``opening / 2``).
        hand_link: the link carrying the TCP and the wrist camera.
        T_hand_tcp: [4, 4] the TCP in the hand link's frame.
        visual_links: links with visual geometry, in URDF order (the order of :meth:`poses`).
        gripper_links: the hand link and every link below it (labelled "gripper" in
            episodes; the other links are "robot").
    """

    def __init__(self, urdf_file, mesh_dir: str | Path, hand_link: str | None = None,
                 tcp_offset=(0.0, 0.0, 0.0), source: str = "urdf",
                 mount: str | Path | None = None):
        import yourdfpy

        if mount is not None and not Path(mount).is_file():
            raise ValueError(f"mount mesh {mount} does not exist")
        self.mount = None if mount is None else Path(mount)

        if isinstance(urdf_file, (str, Path)):
            self._text = Path(urdf_file).read_bytes()
        else:
            self._text = urdf_file.read()
            urdf_file.seek(0)
        try:
            self.urdf = yourdfpy.URDF.load(urdf_file, build_scene_graph=False,
                                           load_meshes=False, mesh_dir=str(mesh_dir))
        except Exception as e:  # yourdfpy raises many kinds on malformed files
            raise ValueError(f"cannot read the URDF {source}: {e}") from None
        self.source = source
        self.mesh_dir = Path(mesh_dir)
        r = self.urdf.robot
        self.name = r.name
        self.joints: list[_Joint] = []
        for j in r.joints:
            lim = j.limit
            mim = None if j.mimic is None else (j.mimic.joint, float(j.mimic.multiplier or 1.0),
                                                float(j.mimic.offset or 0.0))
            self.joints.append(_Joint(
                j.name, j.type, j.parent, j.child,
                np.eye(4) if j.origin is None else np.asarray(j.origin, dtype=np.float64),
                np.array([1.0, 0.0, 0.0]) if j.axis is None else np.asarray(j.axis, float),
                -np.inf if lim is None or lim.lower is None else float(lim.lower),
                np.inf if lim is None or lim.upper is None else float(lim.upper), mim))
        children = {j.child for j in self.joints}
        roots = [lk.name for lk in r.links if lk.name not in children]
        if len(roots) != 1:
            raise ValueError(f"the URDF {source} must be one tree with one root link, found "
                             f"roots {roots}")
        self.root = roots[0]
        # Joints in topological order (parents first).
        by_parent: dict[str, list[_Joint]] = {}
        for j in self.joints:
            by_parent.setdefault(j.parent, []).append(j)
        order, stack = [], [self.root]
        while stack:
            link = stack.pop(0)
            for j in by_parent.get(link, []):
                order.append(j)
                stack.append(j.child)
        self._order = order
        actuated = [j for j in order if j.type != "fixed" and j.mimic is None]
        self.arm_joints = [j.name for j in actuated if j.type in ("revolute", "continuous")]
        self.gripper_joints = [j.name for j in actuated if j.type == "prismatic"]
        bad = [j.name for j in actuated if j.type not in ("revolute", "continuous", "prismatic")]
        if bad:
            raise ValueError(f"the URDF {source} has joints of unsupported types: {bad} "
                             "(revolute, continuous, prismatic and fixed are supported)")
        links = [lk.name for lk in r.links]
        if hand_link is None:
            if self.gripper_joints:
                hand_link = next(j.parent for j in order if j.name == self.gripper_joints[0])
            else:
                hand_link = order[-1].child if order else self.root
        if hand_link not in links:
            raise ValueError(f"hand link {hand_link!r} is not a link of the URDF {source}; "
                             f"links: {', '.join(links)}")
        self.hand_link = hand_link
        self.T_hand_tcp = np.eye(4)
        self.T_hand_tcp[:3, 3] = np.asarray(tcp_offset, dtype=np.float64)
        below, stack = {hand_link}, [hand_link]
        while stack:
            link = stack.pop()
            for j in by_parent.get(link, []):
                below.add(j.child)
                stack.append(j.child)
        self.gripper_links = below
        self.visual_links = [lk.name for lk in r.links
                             if lk.visuals or (self.mount is not None and lk.name == self.root)]
        lims = [next(j for j in self.joints if j.name == n) for n in self.gripper_joints]
        self.max_opening = 2.0 * min((j.upper for j in lims), default=0.0)

    # ---------------------------------------------------------------- kinematics
    @property
    def dof(self) -> int:
        return len(self.arm_joints)

    @property
    def joint_limits(self) -> np.ndarray:
        """[2, dof] lower and upper limits of ``q``."""
        js = {j.name: j for j in self.joints}
        return np.array([[js[n].lower for n in self.arm_joints],
                         [js[n].upper for n in self.arm_joints]])

    def link_poses(self, q, opening: float = 0.0) -> dict[str, np.ndarray]:
        """``T_base_link`` [4, 4] of every link for joint angles ``q`` [dof] and the gripper
        ``opening`` (metres; clipped to the prismatic joints' limits)."""
        q = np.asarray(q, dtype=np.float64).reshape(-1)
        if q.shape != (self.dof,) or not np.isfinite(q).all():
            raise ValueError(f"{self.name}: joint vector must be {self.dof} finite numbers "
                             f"({', '.join(self.arm_joints)}), got shape {q.shape}")
        values = dict(zip(self.arm_joints, q.tolist()))
        js = {j.name: j for j in self.joints}
        for n in self.gripper_joints:
            values[n] = float(np.clip(opening / 2, js[n].lower, js[n].upper))
        poses = {self.root: np.eye(4)}
        for j in self._order:
            v = values.get(j.name, 0.0)
            if j.mimic is not None:
                lead, mult, off = j.mimic
                v = mult * values.get(lead, 0.0) + off
                values[j.name] = v
            M = np.eye(4)
            if j.type in ("revolute", "continuous"):
                M[:3, :3] = _rot(j.axis, v)
            elif j.type == "prismatic":
                M[:3, 3] = j.axis / np.linalg.norm(j.axis) * v
            poses[j.child] = poses[j.parent] @ j.origin @ M
        return poses

    def tcp_pose(self, q, opening: float = 0.0) -> np.ndarray:
        """``T_base_tcp`` [4, 4]."""
        return self.link_poses(q, opening)[self.hand_link] @ self.T_hand_tcp

    # ---------------------------------------------------------------- meshes
    def fingerprint(self) -> str:
        """A hash of the URDF text and its visual mesh files (path, size, modification time),
        the TCP and hand choice: the key of caches built from this robot's meshes."""
        import hashlib

        h = hashlib.sha256(self._text)
        h.update(repr((self.hand_link, self.T_hand_tcp.tolist())).encode())
        if self.mount is not None:
            h.update(b"mount")
            h.update(self.mount.read_bytes())
        for lk in self.urdf.robot.links:
            for v in lk.visuals:
                if v.geometry is not None and v.geometry.mesh is not None:
                    p = _resolve(v.geometry.mesh.filename, self.mesh_dir)
                    st = p.stat() if p.is_file() else None
                    h.update(repr((str(p), st and (st.st_size, st.st_mtime_ns))).encode())
        return h.hexdigest()

    @functools.cached_property
    def link_meshes(self) -> dict[str, object]:
        """Link name -> ``trimesh.Trimesh`` in the link frame (all visuals of the link joined),
        with per-face colours (RGBA uint8) from the mesh materials (or textures), else the
        URDF visual's material colour, else :data:`DEFAULT_RGB`. The ``mount`` mesh, if any,
        joins the root link's."""
        out = {}
        links = {lk.name: lk for lk in self.urdf.robot.links}
        for name in self.visual_links:
            parts = [_visual_mesh(v, self.mesh_dir, self.source, name) for v in links[name].visuals]
            if self.mount is not None and name == self.root:
                parts.append(load_mount(self.mount))
            parts = [p for p in parts if p is not None and len(p.faces)]
            if parts:
                import trimesh

                out[name] = trimesh.util.concatenate(parts) if len(parts) > 1 else parts[0]
        return out


def load_mount(path) -> object:
    """A mount mesh file (what the robot stands on; any format trimesh reads, with face or
    vertex colours, else :data:`DEFAULT_RGB`) as a ``trimesh.Trimesh`` in the root link's
    frame, face colours set. ValueError for a missing, unreadable or empty file."""
    import trimesh

    path = Path(path)
    try:
        mesh = trimesh.load(str(path), force="mesh", process=False)
    except Exception as e:  # trimesh raises many kinds on a corrupt file
        raise ValueError(f"cannot read the mount mesh {path}: {e}") from None
    if not isinstance(mesh, trimesh.Trimesh) or not len(mesh.faces):
        raise ValueError(f"the mount mesh {path} has no triangles")
    mesh.visual.face_colors = _face_colours(mesh, None)
    return mesh


def _material_rgba(visual) -> np.ndarray | None:
    m = visual.material
    if m is not None and m.color is not None and m.color.rgba is not None:
        return np.clip(np.round(np.asarray(m.color.rgba, float) * 255), 0, 255).astype(np.uint8)
    return None


def _resolve(fname: str, mesh_dir: Path) -> Path:
    for prefix in ("file://",):
        if fname.startswith(prefix):
            fname = fname[len(prefix):]
    if fname.startswith("package://"):
        rest = fname[len("package://"):]
        # package://<pkg>/<path>: look beside the URDF and in its parent directories.
        for base in (mesh_dir, *mesh_dir.parents):
            for cand in (base / rest, base / rest.split("/", 1)[-1]):
                if cand.is_file():
                    return cand
        return mesh_dir / rest
    p = Path(fname)
    return p if p.is_absolute() else mesh_dir / p


def _visual_mesh(visual, mesh_dir: Path, source: str, link: str):
    """One URDF visual as a ``trimesh.Trimesh`` in the link frame, with face colours."""
    import trimesh

    g = visual.geometry
    urdf_rgba = _material_rgba(visual)
    if g is None:
        return None
    if g.mesh is not None:
        path = _resolve(g.mesh.filename, mesh_dir)
        if not path.is_file():
            raise ValueError(f"link {link!r} of {source}: mesh file {g.mesh.filename!r} not "
                             f"found (looked for {path})")
        try:
            loaded = trimesh.load(str(path), force="scene")
        except Exception as e:
            raise ValueError(f"link {link!r} of {source}: cannot read mesh {path}: {e}") from None
        parts = []
        for node in loaded.graph.nodes_geometry:
            T, gname = loaded.graph[node]
            geom = loaded.geometry[gname]
            if not isinstance(geom, trimesh.Trimesh) or len(geom.faces) == 0:
                continue
            m = geom.copy()
            m.apply_transform(T)
            cols = _face_colours(geom, urdf_rgba)
            m.visual = trimesh.visual.ColorVisuals(m, face_colors=cols)
            parts.append(m)
        if not parts:
            return None
        mesh = trimesh.util.concatenate(parts) if len(parts) > 1 else parts[0]
        if g.mesh.scale is not None:
            S = np.eye(4)
            S[:3, :3] *= np.broadcast_to(np.asarray(g.mesh.scale, float), (3,))
            mesh.apply_transform(S)
    elif g.box is not None:
        mesh = trimesh.creation.box(extents=np.asarray(g.box.size, float))
    elif g.cylinder is not None:
        mesh = trimesh.creation.cylinder(radius=float(g.cylinder.radius),
                                         height=float(g.cylinder.length), sections=32)
    elif g.sphere is not None:
        mesh = trimesh.creation.icosphere(subdivisions=3, radius=float(g.sphere.radius))
    else:
        return None
    if g.mesh is None:
        rgba = urdf_rgba if urdf_rgba is not None else np.array(
            [*(np.round(np.asarray(DEFAULT_RGB) * 255)), 255], np.uint8)
        mesh.visual = trimesh.visual.ColorVisuals(
            mesh, face_colors=np.tile(rgba, (len(mesh.faces), 1)))
    if visual.origin is not None:
        mesh.apply_transform(np.asarray(visual.origin, float))
    return mesh


def _face_colours(geom, urdf_rgba) -> np.ndarray:
    """[F, 4] uint8 colours of a loaded mesh's faces: its material / texture / vertex colours;
    a mesh without any (trimesh's default grey) takes the URDF colour or DEFAULT_RGB."""
    vis = geom.visual
    F = len(geom.faces)
    fallback = urdf_rgba if urdf_rgba is not None else np.array(
        [*(np.round(np.asarray(DEFAULT_RGB) * 255)), 255], np.uint8)
    try:
        if vis.kind == "texture":
            mat = getattr(vis, "material", None)
            has_image = getattr(mat, "image", None) is not None or \
                getattr(mat, "baseColorTexture", None) is not None
            if has_image and vis.uv is not None:
                vc = vis.to_color().vertex_colors
                return np.round(vc[geom.faces].astype(np.float64).mean(1)).astype(np.uint8)
            if mat is not None:
                c = np.asarray(mat.main_color, dtype=np.uint8).reshape(-1)[:4]
                return np.tile(c, (F, 1))
        elif vis.kind in ("face", "vertex"):
            return np.asarray(vis.face_colors, dtype=np.uint8)[:, :4]
    except Exception as e:  # an odd material: fall back, but say so
        log.warning("mesh colours unreadable (%s); using %s", e, fallback[:3].tolist())
    return np.tile(fallback, (F, 1))


@functools.lru_cache(maxsize=1)
def _panda_urdf_text() -> tuple[str, str]:
    import rtbdata
    from xacrodoc import XacroDoc, packages

    root = Path(rtbdata.__file__).parent / "xacro"
    packages.update_package_cache({d.name: str(d) for d in root.iterdir() if d.is_dir()})
    return XacroDoc.from_file(root / PANDA_XACRO).to_urdf_string(), str(root)


@functools.lru_cache(maxsize=8)
def load_robot(urdf: str | None = None, hand_link: str | None = None,
               tcp_offset: tuple[float, float, float] = (0.0, 0.0, 0.0),
               mount: str | None = None) -> RobotModel:
    """The robot of a URDF file (cached per arguments); ``urdf=None``: the built-in Panda
    (``hand_link`` and ``tcp_offset`` are then the Franka Hand's). ``mount``: a mesh file in
    the root link's frame drawn as part of that link (:func:`load_mount`)."""
    if urdf is None:
        text, root = _panda_urdf_text()
        return RobotModel(io.BytesIO(text.encode()), root, PANDA_HAND_LINK, PANDA_TCP_OFFSET,
                          source="panda (rtbdata)", mount=mount)
    p = Path(urdf)
    if not p.is_file():
        raise ValueError(f"URDF file {urdf} does not exist")
    return RobotModel(str(p), p.parent, hand_link, tuple(tcp_offset), source=str(p),
                      mount=mount)


def robot_from_config(cfg) -> RobotModel:
    """:func:`load_robot` for a :class:`igen_gs.robot.config.RobotConfig`."""
    return load_robot(cfg.urdf, cfg.hand_link if cfg.urdf else None,
                      tuple(float(v) for v in cfg.tcp_offset) if cfg.urdf else (0.0, 0.0, 0.0),
                      cfg.mount)


def gripper_geometry(model: RobotModel | None = None, spacing: float = 0.003) -> GripperGeometry:
    """The gripper's planning geometry measured from a robot's meshes (default: the Panda), in
    the TCP frame with both fingers at the maximum opening: finger length and width (x) of
    the whole finger, its thickness (y) at the pad end (the last 40 % towards the tip: the
    part that reaches between objects), how far the tips reach beyond the TCP, and the hand
    body's box."""
    model = model or load_robot()
    if not model.gripper_joints:
        raise ValueError(f"{model.name} has no gripper (no prismatic joints)")
    poses = model.link_poses(np.zeros(model.dof), model.max_opening)
    T_tcp_base = np.linalg.inv(poses[model.hand_link] @ model.T_hand_tcp)
    meshes = model.link_meshes
    fingers = [n for n in model.gripper_links if n != model.hand_link and n in meshes]
    pts = []
    for n in fingers:
        v = meshes[n].vertices
        pts.append(v @ (T_tcp_base @ poses[n])[:3, :3].T + (T_tcp_base @ poses[n])[:3, 3])
    finger = pts[0]
    length = float(finger[:, 2].max() - finger[:, 2].min())
    tip = float(finger[:, 2].max())
    pad = finger[finger[:, 2] >= tip - 0.4 * length]
    width = float(finger[:, 0].max() - finger[:, 0].min())
    thickness = float(np.abs(pad[:, 1]).max() - np.abs(pad[:, 1]).min())
    hv = meshes[model.hand_link].vertices
    T = T_tcp_base @ poses[model.hand_link]
    hand = hv @ T[:3, :3].T + T[:3, 3]
    ext = hand.max(0) - hand.min(0)
    return GripperGeometry(max_opening=model.max_opening, finger_length=length,
                           finger_width=width, finger_thickness=thickness, finger_tip_z=tip,
                           body_size=(float(ext[0]), float(ext[1]), float(ext[2])),
                           spacing=spacing)
