"""Stage "masks": which pixels are which object, which are erased, which are background.

:func:`gather_masks` turns the user's masks and prompts (objects and things to erase) into bool
masks; :func:`assign_pixels` then gives every pixel one role, once the depth is known:

* an object's pixels are the first mask (in order) that contains them; a ring of
  ``mask_edge_px`` pixels on both sides of every object boundary belongs to nobody (mixed
  colours);
* erased pixels (a robot, a person, clutter) are the erase masks less every object's pixels --
  **objects win** where the two overlap --; they and a ring of ``mask_edge_px`` around them
  produce no splats, and the background behind them is completed as under objects;
* the rest, on the stride grid with valid depth, is background.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..scene.scene import check_object_name
from .config import LiftConfig
from .inputs import load_masks
from .pixels import PixelGeometry, dilate


@dataclass
class Masks:
    """The photo's segmentation (bool [H, W] masks by name), before depth is known.

    ``method``: how prompts or automatic segmentation made object masks (None: given masks
    only); ``automatic``: names found by automatic segmentation (None: not used);
    ``erase_sources``: where each erase mask came from ("mask", "grabcut erase mask", ...).
    """

    objects: dict[str, np.ndarray]
    erase: dict[str, np.ndarray] = field(default_factory=dict)
    erase_sources: dict[str, str] = field(default_factory=dict)
    method: str | None = None
    automatic: list[str] | None = None

    def meta(self) -> dict[str, Any]:
        """Provenance for ``meta["lift"]``."""
        out: dict[str, Any] = {}
        if self.automatic is not None:
            out["automatic_objects"] = list(self.automatic)
        if self.method is not None:
            out["segmentation"] = self.method
        return out


def erase_masks(rgb: np.ndarray, erase: Mapping[str, Any] | None,
                erase_prompts: Mapping[str, Any] | None, segmenter, shape: tuple[int, int]
                ) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Erase masks (name -> bool [H, W]) from arrays/paths and from prompts (GrabCut or SAM,
    as object prompts), and each one's source ("mask", "grabcut erase mask", ...)."""
    masks = load_masks(erase, shape, source="erase mask")
    sources = dict.fromkeys(masks, "mask")
    if erase_prompts is not None and not isinstance(erase_prompts, Mapping):
        raise ValueError(f"erase_prompts must be a dict name -> prompt, got "
                         f"{type(erase_prompts).__name__}")
    if erase_prompts:
        from .models.segment import SegmentConfig, segment_objects

        clash = set(erase_prompts) & set(masks)
        if clash:
            raise ValueError(f"erase names given both a mask and a prompt: "
                             f"{', '.join(sorted(clash))}")
        seg_cfg = segmenter or SegmentConfig()
        if seg_cfg.method == "auto":
            raise ValueError("erase prompts are segmented with GrabCut or SAM, not 'auto' "
                             "(give erase masks instead)")
        source = f"{seg_cfg.method} erase mask"
        masks.update(load_masks(segment_objects(rgb, erase_prompts, seg_cfg), shape,
                                source=source))
        sources.update(dict.fromkeys(erase_prompts, source))
    for name in masks:
        check_object_name(name)
    return masks, sources


def gather_masks(rgb: np.ndarray, masks: Mapping[str, Any] | None = None,
                 prompts: Mapping[str, Any] | None = None,
                 erase: Mapping[str, Any] | None = None,
                 erase_prompts: Mapping[str, Any] | None = None, segmenter=None) -> Masks:
    """Object and erase masks of the photo ``rgb`` (uint8 [H, W, 3]); see :func:`igen_gs.lift`
    for the arguments. Automatically found objects that are mostly inside a given object or
    erase mask are that mask's, not new objects."""
    shape = rgb.shape[:2]
    objects = load_masks(masks, shape)
    if prompts is not None and not isinstance(prompts, Mapping):
        raise ValueError(f"prompts must be a dict name -> prompt, got {type(prompts).__name__}")
    erased, erase_sources = erase_masks(rgb, erase, erase_prompts, segmenter, shape)
    out = Masks(objects, erased, erase_sources)
    if prompts or getattr(segmenter, "method", None) == "auto":
        from .models.segment import SegmentConfig, segment_objects

        clash = set(prompts or {}) & set(objects)
        if clash:
            raise ValueError(f"objects given both a mask and a prompt: {', '.join(sorted(clash))}")
        seg_cfg = segmenter or SegmentConfig()
        seg = segment_objects(rgb, prompts or None, seg_cfg)
        if seg_cfg.method == "auto":
            # Found objects that are mostly a given mask are that object.
            seg = {n: m for n, m in seg.items()
                   if not any((m & g).sum() > 0.5 * m.sum()
                              for g in (*objects.values(), *erased.values()))}
            clash = set(seg) & set(objects)
            if clash:
                raise ValueError(f"mask names clash with automatic object names: "
                                 f"{', '.join(sorted(clash))}")
            out.automatic = list(seg)
        objects.update(load_masks(seg, shape, source=f"{seg_cfg.method} mask"))
        out.method = seg_cfg.method
    for name in objects:
        check_object_name(name)
    clash = set(erased) & set(objects)
    if clash:
        raise ValueError(f"names used both for an object and for erasing: "
                         f"{', '.join(sorted(clash))}")
    return out


@dataclass
class PixelRoles:
    """Every pixel's role (bool or int maps [H, W]).

    ``names``: the lifted objects in order; ``objects`` their masks (automatic objects too
    small to lift are gone: they are background); ``owner``: index into ``names`` or -1;
    ``ring``: mask-edge pixels that belong to nobody; ``erase`` the erase masks less the
    objects' pixels, ``erased`` their union; ``keep``: valid grid pixels off every ring;
    ``background``: the kept pixels that are neither an object's nor erased.
    """

    names: list[str]
    objects: dict[str, np.ndarray]
    owner: np.ndarray
    ring: np.ndarray
    erase: dict[str, np.ndarray]
    erased: np.ndarray
    keep: np.ndarray
    background: np.ndarray
    automatic: list[str] | None = None
    erase_record: dict[str, dict] | None = None

    def meta(self) -> dict[str, Any]:
        """The automatic objects kept and what was erased, for ``meta["lift"]``."""
        out: dict[str, Any] = {}
        if self.automatic is not None:
            out["automatic_objects"] = [n for n in self.automatic if n in self.objects]
        if self.erase_record is not None:
            out["erase"] = self.erase_record
        return out


def assign_pixels(masks: Masks, geom: PixelGeometry, cfg: LiftConfig) -> PixelRoles:
    """:class:`PixelRoles` from the masks and the depth (see the module docstring). Raises
    ValueError when an erase mask lies entirely inside object masks or the background keeps
    fewer than 100 pixels."""
    H, W = geom.shape
    valid, grid = geom.valid, geom.grid
    objects = dict(masks.objects)
    if masks.automatic:
        # Automatic masks too small to lift (after their edge ring, on the stride grid, with
        # valid depth, outside earlier masks) are not objects: they stay background.
        taken = np.zeros((H, W), dtype=bool)
        for name in list(objects):
            m = objects[name]
            inner = m & ~dilate(~m, cfg.mask_edge_px) & valid & grid & ~taken
            if name in masks.automatic and inner.sum() < cfg.min_object_pixels:
                del objects[name]
            else:
                taken |= m
    names = list(objects)
    ring = np.zeros((H, W), dtype=bool)
    owner = np.full((H, W), -1, dtype=np.int64)
    for i, name in enumerate(names):
        m = objects[name]
        ring |= dilate(m, cfg.mask_edge_px) & ~m  # outer ring
        ring |= m & dilate(~m, cfg.mask_edge_px)  # inner ring
        owner[m & (owner < 0)] = i
    # Erased pixels: the erase masks less the objects' pixels (objects win); their outer ring
    # is dropped like an object's (mixed colours).
    erased = np.zeros((H, W), dtype=bool)
    erase: dict[str, np.ndarray] = {}
    record = None
    if masks.erase:
        record = {}
        for name, m in masks.erase.items():
            e = m & (owner < 0)
            if not e.any():
                raise ValueError(f"erase mask {name!r} lies entirely inside object masks "
                                 "(objects win over erasing): nothing to erase")
            erase[name] = e
            erased |= e
            ring |= dilate(e, cfg.mask_edge_px) & ~e
            record[name] = {"source": masks.erase_sources[name], "pixels": int(m.sum()),
                            "erased_pixels": int(e.sum()),
                            "left_to_objects": int((m & ~e).sum())}
    keep = valid & grid & ~ring
    background = keep & (owner < 0) & ~erased
    if background.sum() < 100:
        raise ValueError("the background has fewer than 100 valid depth pixels outside the "
                         "object and erase masks; cannot lift it")
    return PixelRoles(names, objects, owner, ring, erase, erased, keep, background,
                      masks.automatic, record)
