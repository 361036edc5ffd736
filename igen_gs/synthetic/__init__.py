"""Synthetic tabletop worlds with ground truth (open3d meshes + an independent ray caster)."""

from .raycast import Surface, raycast
from .shapes import KINDS, ObjectSpec, default_specs, make_mesh
from .world import SyntheticWorld, make_tabletop_world

__all__ = ["KINDS", "ObjectSpec", "Surface", "SyntheticWorld", "default_specs", "make_mesh",
           "make_tabletop_world", "raycast"]
