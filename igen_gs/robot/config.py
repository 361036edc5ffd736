"""Which robot an episode shows (a plain dataclass: cheap to import, for the CLI)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass
class RobotConfig:
    """The robot drawn into episodes.

    ``arm``: every link of the robot, posed per frame by forward kinematics of the
    trajectory's joint angles from ``T_world_base`` (a trajectory without joint angles falls
    back to ``hand``, with a logged warning and ``robot.mode_used: hand`` in the episode
    metadata). Planning solves the Panda's inverse kinematics: another robot (``urdf``) is
    drawn from joint trajectories of its own joint count
    (:func:`igen_gs.episode.render_episode`).
    ``hand``: only a box model of the gripper at the TCP pose. ``none``: no robot.
    """

    mode: Literal["arm", "hand", "none"] = "arm"
    """What to draw: the whole arm, the hand only, or nothing."""
    urdf: str | None = None
    """A URDF file with visual meshes (.dae, .obj, .stl, ... relative to the file or
    package:// paths beside it); None: the built-in Franka Panda (roboticstoolbox's rtbdata
    meshes). Its actuated revolute joints take the trajectory's joint angles in order; its
    actuated prismatic joints each move by half the gripper opening."""
    hand_link: str | None = None
    """URDF only: the link the TCP and the wrist camera are attached to (None: the parent of the
    first prismatic joint, else the last link of the chain)."""
    tcp_offset: tuple[float, float, float] = (0.0, 0.0, 0.0)
    """URDF only: the TCP's position in the hand link's frame (metres)."""
    spacing: float = 0.004
    """Distance between surface samples (Gaussians) on the link meshes, metres."""
    inset: float = 0.0
    """Move every Gaussian this far into its link along the surface normal (metres, at most
    0.01): the flat splats reach past a mesh's outline, so the drawn arm is a little wider
    than a ray caster's. A dataset's appearance (``appearance``) must be fitted with the same
    inset. 0: on the surface."""
    backface_cos: float | None = -0.1
    """Leave out the Gaussians that face away from every camera of a frame: those whose
    outward surface normal ``n`` and unit direction to the camera ``v`` have ``n . v`` below
    this (-0.1: turned more than about 96 degrees away). They lie behind the near side of
    their link, under splats of opacity 0.99, and are about half the robot, so frames render
    faster and hardly change. None: draw every Gaussian."""
    mount: str | None = None
    """A mesh file (PLY, OBJ, STL, ... with face colours) of what the robot stands on, in its
    base (root link) frame, drawn as part of the base link: a pedestal the photo shows, which
    the lift erased with the robot (the robosuite bridge exports robosuite's mount). An
    ``appearance`` must be fitted with the same mount. None: no mount."""
    appearance: str | None = None
    """An ``.npz`` of the robot's colours fitted to a photo that shows it
    (:func:`igen_gs.robot.appearance.fit_appearance`, same robot and spacing); None: the
    meshes' material colours."""
