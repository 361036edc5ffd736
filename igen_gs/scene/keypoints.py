"""Task keypoints of a scene's objects, numbered, for a keypoint-grounded planner: the data
types, the geometric keypoints and their drawing (what planning reads; lifting adds the
DINOv2 feature keypoints and stores them in the scene, :mod:`igen_gs.lifting.keypoints`).

Each object gets a few 3D keypoints computed from its Gaussian centres (at its rest pose),
in a fixed order of kinds, so the numbering is stable for the same scene:

* ``top``: the centre of the object's top (footprint centre, highest point's height);
* ``+a1``, ``-a1``, ``+a2``, ``-a2``: the extreme points along the object's two horizontal
  principal axes (``a1`` the longer), at their points' mean height; each axis' sign is
  chosen so that it points away from the photo's camera / to its right as far as possible
  (deterministic); an object without a clearly longer axis (variances within 20 %: a
  square, a disc) uses the view's axes (away from the camera, left);
* ``rim+a1``, ``rim-a1``, ``rim+a2``, ``rim-a2`` (open objects only: cups, pots, baskets,
  whose top-centre column lies more than 2 cm below the top): the rim's extremes along the
  same axes, at the rim's height -- pouring edges, spouts;
* ``handle`` (when a part sticks out more than 1 cm beyond the body's 90th-percentile radius
  about its vertical axis): the mean of the protruding points;
* ``spout``: when the protruding points form two groups on opposite sides of the axis (each
  at least 3 points and a tenth of them; the side of the farthest one, within 90 degrees,
  and the rest), the group whose outermost points (within 5 mm of its largest radius) lie
  higher is the spout (a watering can's spout rises to its tip) and its keypoint is that tip
  (their mean); the other group is the ``handle``. One group (the other part hidden from
  the camera, or none) is the spout when its outermost points lie in the object's top
  quarter, else the handle.

Keypoints are numbered 0, 1, ... over the objects in ``scene.object_names`` order. Each
keeps its position in the object's frame (``p_obj``), so it follows the object when it moves,
and in the world at rest (``p_world``). The support plane is returned with them.

With DINOv2 weights (:func:`igen_gs.lifting.keypoints.feature_keypoints`), an object's
points are also clustered on photo patch features plus position and each cluster's most
central point becomes an extra keypoint of kind ``feat<k>``.

:func:`draw_keypoints` draws the numbered keypoints on the photo (PIL), so a VLM sees what
the user saw.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .scene import Scene

KINDS = ("top", "+a1", "-a1", "+a2", "-a2", "rim+a1", "rim-a1", "rim+a2", "rim-a2", "handle",
         "spout")


@dataclass
class Keypoint:
    """One numbered keypoint: ``id``, its ``object``, ``kind``, position in the object frame
    (``p_obj`` [3]) and in the world at the object's rest pose (``p_world`` [3]), metres, and
    the photo pixel (``uv``, None without a camera or behind it)."""

    id: int
    object: str
    kind: str
    p_obj: tuple[float, float, float]
    p_world: tuple[float, float, float]
    uv: tuple[float, float] | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Keypoint:
        try:
            return cls(int(d["id"]), str(d["object"]), str(d["kind"]),
                       tuple(float(v) for v in d["p_obj"]), tuple(float(v) for v in d["p_world"]),
                       None if d.get("uv") is None else tuple(float(v) for v in d["uv"]))
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"not a keypoint: {d!r} ({e})") from None


@dataclass
class SceneKeypoints:
    """The numbered keypoints of a scene and its support plane ``(a, b, c, d)`` (unit up
    normal)."""

    keypoints: list[Keypoint]
    support_plane: tuple[float, float, float, float]

    def by_id(self, i: int) -> Keypoint:
        if not isinstance(i, int) or not 0 <= i < len(self.keypoints):
            raise ValueError(f"unknown keypoint {i!r}; keypoints are numbered 0 to "
                             f"{len(self.keypoints) - 1}")
        return self.keypoints[i]

    def to_meta(self) -> dict:
        """JSON-serialisable form (for ``Scene.meta["keypoints"]``)."""
        return {"keypoints": [k.to_dict() for k in self.keypoints],
                "support_plane": list(self.support_plane)}

    @classmethod
    def from_meta(cls, d: dict) -> SceneKeypoints:
        if not isinstance(d, dict) or "keypoints" not in d or "support_plane" not in d:
            raise ValueError("keypoint metadata needs 'keypoints' and 'support_plane'")
        kps = [Keypoint.from_dict(k) for k in d["keypoints"]]
        if [k.id for k in kps] != list(range(len(kps))):
            raise ValueError("keypoint ids must be 0, 1, ... in order")
        return cls(kps, tuple(float(v) for v in d["support_plane"]))

    def describe(self) -> str:
        """One line per keypoint: "<id>: <object> <kind>" (for prompts)."""
        return "\n".join(f"{k.id}: {k.object} {k.kind}" for k in self.keypoints)


def _up_and_axes(scene: Scene) -> tuple[np.ndarray, np.ndarray]:
    """Unit up (the support plane's normal) and a reference horizontal direction (from the
    camera into the scene, else the world x axis projected on the plane)."""
    if scene.support_plane is None:
        raise ValueError("keypoints need the scene's support plane")
    plane = scene.support_plane.double().numpy()
    up = plane[:3] / np.linalg.norm(plane[:3])
    ref = np.array([1.0, 0.0, 0.0])
    if scene.camera is not None:
        ref = scene.camera.T_world_cam[:3, 2].double().numpy()
    ref = ref - (ref @ up) * up
    if np.linalg.norm(ref) < 1e-6:
        ref = np.array([0.0, 1.0, 0.0]) - up[1] * up
    return up, ref / np.linalg.norm(ref)


def _object_keypoints(P: np.ndarray, up: np.ndarray, ref: np.ndarray
                      ) -> list[tuple[str, np.ndarray]]:
    """(kind, world point) of one object's world points P [N, 3]."""
    h = P @ up
    top_h = float(np.percentile(h, 99.5))
    base_h = float(np.percentile(h, 0.5))
    side = np.cross(up, ref)
    xy = np.stack([P @ ref, P @ side], 1)  # horizontal coordinates
    centre_xy = 0.5 * (np.percentile(xy, 2, axis=0) + np.percentile(xy, 98, axis=0))
    d = xy - centre_xy
    evals, evecs = np.linalg.eigh(np.cov(d.T) + 1e-12 * np.eye(2))
    axes = [evecs[:, 1], evecs[:, 0]]  # longer first
    if evals[0] > 0.8 * evals[1]:  # no clear long axis (a square, a disc): the view's axes
        axes = [np.array([1.0, 0.0]), np.array([0.0, 1.0])]
    # Deterministic signs: a1 towards +ref (away from the camera), a2 = a1 turned left.
    if axes[0][0] < -1e-9 or (abs(axes[0][0]) <= 1e-9 and axes[0][1] < 0):
        axes[0] = -axes[0]
    axes[1] = np.array([-axes[0][1], axes[0][0]])

    def world(c_xy: np.ndarray, height: float) -> np.ndarray:
        return c_xy[0] * ref + c_xy[1] * side + height * up

    out = [("top", world(centre_xy, top_h))]
    for name, a in (("a1", axes[0]), ("a2", axes[1])):
        for sign in ("+", "-"):
            s = (d @ a) * (1 if sign == "+" else -1)
            near = s >= s.max() - 0.005
            out.append((sign + name, P[near].mean(0)))
    # Open objects: the column above the footprint centre lies well below the top.
    radius = np.linalg.norm(d, axis=1)
    column = radius < 0.015
    open_top = column.sum() >= 3 and top_h - float(np.percentile(h[column], 90)) > 0.02
    body_r = float(np.percentile(radius, 90))
    protrude = radius > body_r + 0.01
    body = ~protrude
    if open_top:
        rim = body & (h >= top_h - 0.01)
        for name, a in (("a1", axes[0]), ("a2", axes[1])):
            for sign in ("+", "-"):
                s = (d[rim] @ a) * (1 if sign == "+" else -1)
                near = s >= s.max() - 0.005
                out.append(("rim" + sign + name, P[rim][near].mean(0)))
    if protrude.sum() >= 3 and top_h - base_h > 0:
        handle, spout = _protrusions(d, radius, h, protrude, base_h, top_h)
        if handle is not None:
            out.append(("handle", P[handle].mean(0)))
        if spout is not None:
            out.append(("spout", P[spout].mean(0)))
    return out


def _protrusions(d: np.ndarray, radius: np.ndarray, h: np.ndarray, protrude: np.ndarray,
                 base_h: float, top_h: float) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(indices of the handle's points or None, of the spout's tip or None): the protruding
    points split at 90 degrees from the farthest one into two groups (see the module
    docstring)."""
    idx = np.flatnonzero(protrude)

    def tip(g: np.ndarray) -> np.ndarray:
        return g[radius[g] >= radius[g].max() - 0.005]

    far = idx[int(np.argmax(radius[idx]))]
    side = d[idx] @ (d[far] / radius[far]) > 0
    groups = idx[side], idx[~side]
    if min(len(g) for g in groups) < max(3, int(0.1 * len(idx))):
        # One part: a spout when it rises to its tip in the object's top quarter (a handle's
        # outermost points lie about half-way up).
        if float(h[tip(idx)].mean()) >= base_h + 0.75 * (top_h - base_h):
            return None, tip(idx)
        return idx, None
    spout, handle = sorted(groups, key=lambda g: float(h[tip(g)].mean()), reverse=True)
    return handle, tip(spout)


def geometric_keypoints(scene: Scene) -> SceneKeypoints:
    """Numbered keypoints of every object of ``scene`` (see the module docstring)."""
    up, ref = _up_and_axes(scene)
    kps: list[Keypoint] = []
    for name in scene.object_names:
        T = scene.poses[name].double().numpy()
        local = scene.objects[name].means.double().numpy()
        if len(local) < 4:
            raise ValueError(f"object {name!r} has {len(local)} Gaussians; keypoints need at "
                             "least 4")
        P = local @ T[:3, :3].T + T[:3, 3]
        for kind, p in _object_keypoints(P, up, ref):
            kps.append(make_keypoint(len(kps), name, kind, p, T, scene))
    plane = scene.support_plane.double().numpy()
    plane = plane / np.linalg.norm(plane[:3])
    return SceneKeypoints(kps, tuple(float(v) for v in plane))


def make_keypoint(i: int, name: str, kind: str, p_world: np.ndarray, T_world_obj: np.ndarray,
                  scene: Scene) -> Keypoint:
    """Keypoint ``i`` of object ``name`` at world point ``p_world`` (its object at
    ``T_world_obj``): positions rounded to micrometres, the photo pixel to 0.01 px."""
    p_obj = T_world_obj[:3, :3].T @ (p_world - T_world_obj[:3, 3])
    uv = None
    if scene.camera is not None:
        import torch

        uvs, z = scene.camera.project(torch.as_tensor(p_world[None], dtype=torch.float64))
        if float(z[0]) > 0:
            uv = (round(float(uvs[0, 0]), 2), round(float(uvs[0, 1]), 2))
    r = [round(float(v), 6) for v in p_world]
    return Keypoint(i, name, kind, tuple(round(float(v), 6) for v in p_obj), tuple(r), uv)


def draw_keypoints(photo: np.ndarray, keypoints: SceneKeypoints, radius: int | None = None
                   ) -> np.ndarray:
    """A copy of ``photo`` (uint8 [H, W, 3]) with each keypoint that has a pixel drawn as a
    filled dot and its number beside it (white text on a dark box), uint8 [H, W, 3]."""
    from PIL import Image, ImageDraw, ImageFont

    photo = np.asarray(photo)
    if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8:
        raise ValueError(f"photo must be uint8 [H, W, 3], got {photo.dtype} {list(photo.shape)}")
    H, W = photo.shape[:2]
    r = radius or max(2, round(min(H, W) / 120))
    im = Image.fromarray(photo.copy())
    draw = ImageDraw.Draw(im)
    try:
        font = ImageFont.load_default(size=max(10, round(min(H, W) / 32)))
    except TypeError:  # Pillow < 10.1: a fixed-size bitmap font
        font = ImageFont.load_default()
    palette = [(255, 64, 64), (64, 200, 255), (255, 210, 40), (120, 255, 120), (255, 120, 255),
               (255, 160, 60)]
    objects = list(dict.fromkeys(k.object for k in keypoints.keypoints))
    for k in keypoints.keypoints:
        if k.uv is None:
            continue
        u, v = k.uv
        if not (0 <= u < W and 0 <= v < H):
            continue
        col = palette[objects.index(k.object) % len(palette)]
        draw.ellipse((u - r, v - r, u + r, v + r), fill=col, outline=(0, 0, 0))
        text = str(k.id)
        x0, y0, x1, y1 = draw.textbbox((u + r + 1, v - r), text, font=font)
        draw.rectangle((x0 - 1, y0 - 1, x1 + 1, y1 + 1), fill=(0, 0, 0))
        draw.text((u + r + 1, v - r), text, fill=(255, 255, 255), font=font)
    return np.asarray(im)
