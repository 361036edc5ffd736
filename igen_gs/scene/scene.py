"""``Scene``: a background Gaussian field plus named, movable object fields."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..render import rasterization
from ..render.sh import sh_colors
from .camera import Camera, stack_cameras
from .field import GaussianField

SCENE_FORMAT_VERSION = 1
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\- ]*$")


def check_object_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name) or name == "background":
        raise ValueError(f"invalid object name {name!r}: use letters, digits, spaces, '_', '-', "
                         "'.', starting with a letter or digit (and not 'background')")
    return name


@dataclass
class Scene:
    """A renderable, editable world.

    Attributes:
        background: static Gaussians in the world frame.
        objects: name -> Gaussians in that object's own frame.
        poses: name -> ``T_world_obj`` [4, 4] (float64), the objects' rest poses.
        camera: the input view (for lifted scenes), or None.
        support_plane: ``(a, b, c, d)`` with ``a x + b y + c z + d = 0`` in world coordinates
            and (a, b, c) the unit "up" normal, or None.
        meta: free-form JSON-serialisable information (provenance, thresholds, ...).

    Labels: index 0 is the background, object ``i`` (in ``object_names`` order) is ``i + 1``,
    and extra fields passed to :meth:`render` follow the objects.
    """

    background: GaussianField
    objects: dict[str, GaussianField] = field(default_factory=dict)
    poses: dict[str, Tensor] = field(default_factory=dict)
    camera: Camera | None = None
    support_plane: Tensor | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in self.objects:
            check_object_name(name)
        poses = {}
        for name in self.objects:
            T = self.poses.get(name)
            T = torch.eye(4, dtype=torch.float64) if T is None else torch.as_tensor(
                T, dtype=torch.float64)
            if T.shape != (4, 4):
                raise ValueError(f"pose of {name!r} must be [4, 4], got {tuple(T.shape)}")
            poses[name] = T
        extra = set(self.poses) - set(self.objects)
        if extra:
            raise ValueError(f"poses given for unknown objects: {sorted(extra)}")
        self.poses = poses
        if self.support_plane is not None:
            self.support_plane = torch.as_tensor(self.support_plane, dtype=torch.float64)
            if self.support_plane.shape != (4,):
                raise ValueError("support_plane must be (a, b, c, d)")

    def __repr__(self) -> str:
        objects = ", ".join(f"{name!r}: {len(f):,}" for name, f in self.objects.items())
        camera = "None" if self.camera is None else f"{self.camera.width}x{self.camera.height}"
        return (f"Scene(background={len(self.background):,} Gaussians, objects={{{objects}}}, "
                f"camera={camera})")

    # ------------------------------------------------------------------ names and labels
    @property
    def object_names(self) -> list[str]:
        return list(self.objects)

    @property
    def label_names(self) -> list[str]:
        return ["background", *self.objects]

    def num_gaussians(self) -> int:
        return len(self.background) + sum(len(f) for f in self.objects.values())

    def resolve_poses(self, object_poses: Mapping[str, Any] | None) -> dict[str, Tensor]:
        """Rest poses overridden by ``object_poses`` (unknown names raise ValueError)."""
        poses = dict(self.poses)
        for name, T in (object_poses or {}).items():
            if name not in self.objects:
                raise ValueError(f"unknown object {name!r}; the scene has: "
                                 f"{', '.join(self.object_names) or '(no objects)'}")
            T = torch.as_tensor(T, dtype=torch.float64)
            if T.shape != (4, 4):
                raise ValueError(f"pose of {name!r} must be [4, 4], got {tuple(T.shape)}")
            poses[name] = T
        return poses

    def to(self, device) -> Scene:
        """This scene with its Gaussians on ``device`` (poses, camera and plane stay float64
        on the CPU; they are small and cross at render time)."""
        return Scene(self.background.to(device),
                     {n: f.to(device) for n, f in self.objects.items()}, dict(self.poses),
                     self.camera, self.support_plane, self.meta)

    # ------------------------------------------------------------------ composition
    def compose(self, object_poses: Mapping[str, Any] | None = None,
                extra: Mapping[str, GaussianField] | None = None
                ) -> tuple[GaussianField, Tensor]:
        """All Gaussians in the world frame and their labels [N] (int64)."""
        poses = self.resolve_poses(object_poses)
        dev = self.background.device
        parts = [self.background]
        labels = [torch.zeros(len(self.background), dtype=torch.long, device=dev)]
        for i, (name, f) in enumerate(self.objects.items()):
            parts.append(f.transform(poses[name]))
            labels.append(torch.full((len(f),), i + 1, dtype=torch.long, device=dev))
        base = 1 + len(self.objects)
        for j, f in enumerate((extra or {}).values()):
            parts.append(f)
            labels.append(torch.full((len(f),), base + j, dtype=torch.long, device=dev))
        return GaussianField.concat(parts), torch.cat(labels)

    # ------------------------------------------------------------------ rendering
    def render(
        self,
        cameras: Camera | Sequence[Camera],
        object_poses: Mapping[str, Any] | None = None,
        extra: Mapping[str, GaussianField] | None = None,
        background_color: Sequence[float] | None = None,
        labels: bool = True,
        backend: str = "auto",
        eps2d: float = 0.3,
    ) -> dict[str, Any]:
        """Render the scene (objects at ``object_poses``, else at rest) into ``cameras``
        (one resolution) with a single rasterization call, on the device of its Gaussians
        (see :meth:`to`); the results stay on that device.

        ``extra`` adds world-frame fields (e.g. a gripper) with labels after the objects.
        ``eps2d``: the low-pass filter added to each splat (pixels squared; gsplat's default
        0.3), as :attr:`igen_gs.episode.config.RenderConfig.eps2d`.

        Returns a dict with ``rgb`` [C, H, W, 3], ``depth`` [C, H, W] (expected depth, metres;
        0 where nothing was hit), ``alpha`` [C, H, W], and, if ``labels``, ``labels``
        [C, H, W] (int64 index into ``label_names``, the one contributing the most weight at
        each pixel, -1 where nothing does) and ``label_weights`` [C, H, W, L].
        """
        gs, lab = self.compose(object_poses, extra)
        if len(gs) == 0:
            raise ValueError("the scene is empty: no Gaussians to render")
        viewmats, Ks, width, height = stack_cameras(cameras, device=gs.device)
        C = viewmats.shape[0]
        names = self.label_names + list(extra or {})
        L = len(names)
        rgb = sh_colors(gs.sh, gs.means, viewmats)  # [N, 3], or [C, N, 3] if view-dependent
        bgs = None
        if background_color is not None:
            bgs = torch.as_tensor(background_color, dtype=torch.float32,
                                  device=gs.device).expand(C, 3).clone()
        with torch.no_grad():
            out, alpha, meta = rasterization(
                gs.means, gs.quats, gs.scales, gs.opacities, rgb, viewmats, Ks, width,
                height, backgrounds=bgs, render_mode="RGB+ED", backend=backend, eps2d=eps2d,
                label_ids=lab if labels else None, num_labels=L if labels else None,
                return_meta=False)
        result = {
            "rgb": out[..., :3],
            "depth": out[..., -1],
            "alpha": alpha[..., 0],
            "label_names": names,
            "meta": meta,
        }
        if labels:
            w = meta.pop("label_weights")
            best, idx = w.max(dim=-1)
            result["labels"] = torch.where(best > 0, idx, torch.full_like(idx, -1))
            result["label_weights"] = w
        return result

    # ------------------------------------------------------------------ files
    def save(self, directory) -> Path:
        """Write ``scene.json``, ``background.ply`` and ``objects/<name>.ply`` into
        ``directory`` atomically (a temporary sibling directory renamed into place). An
        existing scene there is replaced; anything else (a file, a non-empty directory without
        ``scene.json``) is refused with a ValueError, so nothing of the user's is deleted."""
        directory = Path(directory)
        if directory.is_file() or (directory.is_dir() and any(directory.iterdir())
                                   and not (directory / "scene.json").is_file()):
            raise ValueError(f"will not replace {directory}: it exists and is not a scene "
                             "directory (no scene.json); choose another output path")
        directory.parent.mkdir(parents=True, exist_ok=True)
        from ..outputs import make_temp_dir, replace_dir

        tmp = make_temp_dir(directory)  # the user's umask (mkdtemp's 0700 would stay)
        try:
            self.background.save_ply(tmp / "background.ply")
            objs = []
            for name, f in self.objects.items():
                f.save_ply(tmp / "objects" / f"{name}.ply")
                objs.append({"name": name, "ply": f"objects/{name}.ply",
                             "T_world_obj": self.poses[name].tolist(),
                             "num_gaussians": len(f)})
            doc = {
                "format": "igen-gs scene",
                "version": SCENE_FORMAT_VERSION,
                "camera": None if self.camera is None else self.camera.to_dict(),
                "image_size": None if self.camera is None else [self.camera.width,
                                                                self.camera.height],
                "intrinsics": None if self.camera is None else {
                    "fx": self.camera.fx, "fy": self.camera.fy, "cx": self.camera.cx,
                    "cy": self.camera.cy},
                "support_plane": None if self.support_plane is None
                else self.support_plane.tolist(),
                "background": {"ply": "background.ply", "num_gaussians": len(self.background)},
                "objects": objs,
                "meta": self.meta,
            }
            (tmp / "scene.json").write_text(json.dumps(doc, indent=2))
            replace_dir(tmp, directory)  # an existing scene is moved aside, then deleted
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return directory

    @classmethod
    def load(cls, directory) -> Scene:
        """Read a scene directory written by :meth:`save`."""
        directory = Path(directory)
        path = directory / "scene.json"
        if not path.is_file():
            raise ValueError(f"not a scene directory (no scene.json): {directory}")
        try:
            doc = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"corrupt scene.json in {directory}: {e}") from None
        if doc.get("format") != "igen-gs scene":
            raise ValueError(f"{path} is not an igen-gs scene file")
        background = GaussianField.load_ply(directory / doc["background"]["ply"])
        objects, poses = {}, {}
        for o in doc.get("objects", []):
            objects[o["name"]] = GaussianField.load_ply(directory / o["ply"])
            poses[o["name"]] = torch.tensor(o["T_world_obj"], dtype=torch.float64)
        camera = Camera.from_dict(doc["camera"]) if doc.get("camera") else None
        plane = doc.get("support_plane")
        return cls(background, objects, poses, camera,
                   None if plane is None else torch.tensor(plane, dtype=torch.float64),
                   doc.get("meta", {}))
