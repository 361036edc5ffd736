"""Scene model: cameras, Gaussian fields, scenes, frame conventions and 3DGS PLY files."""

from . import frames
from .camera import Camera, stack_cameras
from .field import GaussianField
from .scene import Scene

__all__ = ["Camera", "GaussianField", "Scene", "frames", "stack_cameras"]
