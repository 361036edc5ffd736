"""Appearance of the synthetic tabletop: albedos (colours, textures) and the shading model.

Shading is hemispherical and view independent: ``shade(n) = 0.45 + 0.55 (1 + n_z) / 2`` for
the unit world normal n facing the viewer (1.0 on surfaces facing up, 0.725 on vertical walls,
0.45 facing down). It depends only on the normal's z, so sliding an object or turning it about
the vertical leaves its colours unchanged; no shadows. The ray caster and the ground-truth
Gaussians both use these functions, so their colours agree exactly.

Colours (linear albedo, RGB in [0, 1]):

* table: light wood (:func:`table_albedo`), evaluated at the exact 3D hit point;
* floor: flat grey :data:`FLOOR_RGB`;
* objects: their spec's ``color``, optionally with "stripes" (:func:`object_albedo`).
"""

from __future__ import annotations

import numpy as np

from .shapes import ObjectSpec

FLOOR_RGB = (0.55, 0.55, 0.57)
WOOD_RGB = (0.66, 0.48, 0.32)
STRIPE_HEIGHT = 0.02  # metres
STRIPE_DARKENING = 0.7


def shade(normals: np.ndarray) -> np.ndarray:
    """Hemispherical shading factor [...] in [0.45, 1] from unit world normals [..., 3]."""
    return 0.45 + 0.55 * (0.5 + 0.5 * normals[..., 2])


def table_albedo(xy: np.ndarray) -> np.ndarray:
    """Procedural light wood at table points xy [..., 2] (metres) -> albedo [..., 3].

    :data:`WOOD_RGB` times a brightness k in [0.78, 1.0]: grain bands across x (9 per metre,
    wobbling with y) plus a fine grain (41 per metre), k = 0.78 + 0.16 grain + 0.06 fine with
    grain, fine in [0, 1]. Evaluated at the exact hit point, so it is resolution independent.
    """
    x, y = xy[..., 0], xy[..., 1]
    grain = 0.5 + 0.5 * np.sin(2 * np.pi * (9.0 * x + 0.35 * np.sin(6.0 * y) + 0.1 * np.sin(
        23.0 * y)))
    fine = 0.5 + 0.5 * np.sin(2 * np.pi * 41.0 * (x + 0.02 * np.sin(13.0 * y)))
    k = 0.78 + 0.16 * grain + 0.06 * fine
    return k[..., None] * np.asarray(WOOD_RGB)


def object_albedo(spec: ObjectSpec, p_obj: np.ndarray) -> np.ndarray:
    """Albedo [..., 3] of points [..., 3] of an object, given in its object frame.

    ``spec.color`` everywhere; with ``texture="stripes"`` every second horizontal band of
    :data:`STRIPE_HEIGHT` (counted from the bottom: z in [2, 4) cm, [6, 8) cm, ...) is darkened
    to :data:`STRIPE_DARKENING` of it.
    """
    col = np.broadcast_to(np.asarray(spec.color, dtype=np.float64), p_obj.shape).copy()
    if spec.texture == "stripes":
        band = np.floor(p_obj[..., 2] / STRIPE_HEIGHT).astype(np.int64) % 2 == 1
        col[band] *= STRIPE_DARKENING
    return col
