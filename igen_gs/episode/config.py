"""Options of episode generation (plain dataclasses, cheap to import, for the CLI)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..planning.config import PlanConfig
from ..robot.config import RobotConfig


@dataclass
class RigConfig:
    """Which cameras an episode is rendered from. Angles in degrees, distances in metres."""

    photo_camera: bool = True
    """Include the input photo's camera (named "photo")."""
    num_static_views: int = 2
    """Extra static cameras (named "view_0", "view_1", ...)."""
    azimuth_range_deg: float = 60.0
    """Max azimuth change of a static view from the photo camera, about the up axis."""
    elevation_range_deg: tuple[float, float] = (25.0, 65.0)
    """Elevation of static views above the support plane, as seen from the workspace centre."""
    distance_scale_range: tuple[float, float] = (0.8, 1.2)
    """Distance of static views to the workspace centre, relative to the photo camera's."""
    wrist_camera: bool = True
    """Include a camera mounted on the gripper (named "wrist")."""
    T_ee_wrist: tuple[float, ...] | None = None
    """Wrist camera pose in the end-effector frame, 16 row-major floats (None: the default
    mount, 6 cm behind the TCP and 6.5 cm to the side, looking along the approach axis)."""
    width: int = 320
    """Image width of the photo and static cameras."""
    height: int = 240
    """Image height of the photo and static cameras."""
    wrist_width: int = 160
    """Image width of the wrist camera."""
    wrist_height: int = 120
    """Image height of the wrist camera."""
    wrist_fov_y_deg: float = 70.0
    """Vertical field of view of the wrist camera."""
    seed: int = 0
    """Seed of the static view placement."""
    resolutions: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Per-camera (width, height) overrides by camera name."""


@dataclass
class RenderConfig:
    """How frames are rendered."""

    background_color: tuple[float, float, float] = (0.0, 0.0, 0.0)
    """Colour where no Gaussian covers a pixel (RGB in [0, 1])."""
    depth: bool = True
    """Render metric depth per camera (expected depth; 0 where alpha < min_alpha_for_depth)."""
    labels: bool = True
    """Render instance labels per camera (index into label_names, -1 for nothing)."""
    min_alpha_for_depth: float = 0.5
    """Pixels less opaque than this get depth 0 (no measurement)."""
    eps2d: float = 0.3
    """Low-pass filter added to every splat's 2D covariance (pixels squared), as gsplat's
    ``eps2d``; 0.3 is gsplat's default. It keeps sub-pixel splats from aliasing but widens
    silhouettes: where a surface is seen edge-on, many thin splats stack along each ray and
    their widened tails add up to an opaque rim about a pixel wide. Lower it to match a
    renderer with sharp edges (:class:`igen_gs.envs.demos.GeneratedConfig` uses 0.01 for
    robosuite's)."""
    draw_gripper: bool = True
    """Draw the robot at all (False: as robot.mode = none)."""
    robot: RobotConfig = field(default_factory=RobotConfig)
    """Which robot is drawn and how: the whole arm (default), the hand only, or none."""
    backend: str = "auto"
    """Rasterization backend ("auto": gsplat for CUDA tensors, the CPU kernels otherwise)."""
    device: str = "auto"
    """Where frames are composed and rendered: "auto" (the first CUDA device if there is
    one, else the CPU), "cpu", "cuda" or "cuda:N"."""
    progress: bool = False
    """Show a progress bar over frames."""


@dataclass
class VariationConfig:
    """Seeded randomisation of an episode (all sampled values are recorded in its metadata)."""

    enabled: bool = True
    """Apply the variations below (variation 0 of a job is also randomised when enabled)."""
    object_shift_m: float = 0.03
    """Objects' start positions move by up to this much on the support plane."""
    object_yaw_deg: float = 25.0
    """... and turn by up to this much about the vertical."""
    place_offset_m: float = 0.012
    """Placements land up to this far from the target's centre."""
    colour_jitter: float = 0.06
    """Lighting-free colour jitter: brightness and per-channel gains within +- this."""
    randomize_cameras: bool = True
    """New static camera placements per variation (within the rig's limits)."""


@dataclass
class EpisodeConfig:
    """Everything that turns a scene and an instruction into a recorded episode."""

    rig: RigConfig = field(default_factory=RigConfig)
    render: RenderConfig = field(default_factory=RenderConfig)
    plan: PlanConfig = field(default_factory=PlanConfig)
    variation: VariationConfig = field(default_factory=VariationConfig)
    action_kind: Literal["ee_abs", "ee_delta", "ee_6d", "joints"] = "ee_abs"
    """Action format (see igen_gs.planning.actions)."""
    write_depth: bool = True
    """Store depth maps (uint16 mm) beside the dataset."""
    write_labels: bool = True
    """Store instance label maps beside the dataset."""
