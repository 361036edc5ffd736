"""The parallel-jaw gripper's planning geometry (a plain dataclass: cheap to import).

End-effector (TCP) frame, metres: the origin is midway between the fingertip pads, +z is the
approach direction (from the hand through the fingertips, into the object), +y is the axis
along which the fingers open, +x = y x z. The fingers' inner pad faces sit at
y = +-opening / 2; the hand body lies at z < 0 (behind the fingers).

The defaults are the Franka Hand as drawn: :func:`igen_gs.robot.model.gripper_geometry`
measures them from the built-in Panda's visual meshes (a test keeps the two equal within a
millimetre), so what is planned is what is drawn.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GripperGeometry:
    """Dimensions in metres (defaults: the Franka Hand's visual meshes)."""

    max_opening: float = 0.08
    """Largest distance between the finger pads."""
    finger_length: float = 0.054
    """Finger length along z (tip at z = +finger_tip_z)."""
    finger_width: float = 0.021
    """Finger size along x."""
    finger_thickness: float = 0.016
    """Finger size along y (the part that reaches between objects: the pad end)."""
    finger_tip_z: float = 0.009
    """How far the fingertips reach beyond the TCP (the pad centre) along +z."""
    body_size: tuple[float, float, float] = (0.063, 0.205, 0.092)
    """Hand body box (x, y, z), directly behind the fingers."""
    spacing: float = 0.003
    """Distance between surface samples of the box-model hand (``--robot.mode hand``)."""
