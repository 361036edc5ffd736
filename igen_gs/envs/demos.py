"""Demonstrations for the policy benchmark, all in one action representation (``ee_6d``:
target TCP pose + gripper in the robot base frame, see :mod:`igen_gs.envs.control`):

* :func:`record_expert_demos` -- "real" demonstrations: the scripted expert with privileged
  state executed in robosuite, recorded with the simulator's own rendered observations;
* :func:`generated_demos` -- demonstrations generated from ONE photo: one reset, one
  ``agentview`` photo with metric depth and instance masks, lifted (the robot erased), then
  for each variation the objects moved to a pose drawn from the task's initial-state range,
  the instruction planned with the base at the simulator's pose, rendered from the
  ``agentview`` pose at the policy's resolution;
* :func:`replay_open_loop` -- the generated trajectories executed open loop in robosuite, each
  from its own variation's object poses (separates bad actions from bad pictures).

Every dataset is LeRobot v3 written by :class:`igen_gs.io.LeRobotWriter` at the control rate;
camera name ``agentview`` in both sources.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..planning.actions import ACTION_NAMES, STATE_NAMES
from .control import pose_to_action
from .expert import ExpertConfig, ScriptedExpert
from .robosuite import RobosuiteConfig, RobosuiteEnv, lift_inputs

log = logging.getLogger(__name__)

INSTRUCTIONS = {"Lift": "lift the cube by 15 cm", "Stack": "stack the cubeA on the cubeB"}
CAMERA = "agentview"


def _writer(out: Path, fps: int, source: str):
    from ..io import LeRobotWriter

    return LeRobotWriter(out, fps=fps, state_names=STATE_NAMES,
                         action_names=ACTION_NAMES["ee_6d"], previews=False,
                         extra_info={"source": source, "action_kind": "ee_6d"})


def _camera_info(env: RobosuiteEnv):
    from ..io.lerobot import CameraInfo

    cfg = env.config
    ph = env.capture(CAMERA, cfg.width, cfg.height)
    return {CAMERA: CameraInfo(cfg.width, cfg.height, ph["K"], T_world_cam=ph["T_world_cam"])}


def _bar(total: int, desc: str, progress: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="ep", disable=not progress, leave=False)


class _Observed:
    """What a policy saw over one episode: ``agentview`` frames and proprioceptive states
    (each quaternion's sign kept continuous with the previous one's)."""

    def __init__(self):
        self.frames: list[np.ndarray] = []
        self.states: list[np.ndarray] = []
        self._q = None

    def add(self, obs) -> None:
        s = obs.policy_state(self._q)
        self._q = s[3:7]
        self.frames.append(obs.images[CAMERA])
        self.states.append(s)


# ---------------------------------------------------------------------- expert
def run_expert(env: RobosuiteEnv, expert: ScriptedExpert, seed: int, nominal=None,
               hold_steps: int = 5, record: bool = True) -> dict[str, Any]:
    """One expert episode from ``seed``: frames, states, actions, success. With ``nominal``
    (object poses the expert believes), it is the blind baseline."""
    obs = env.reset(seed)
    expert.reset(obs, nominal)
    seen, actions = _Observed(), []
    held = 0
    success = False
    for _ in range(env.config.horizon_steps):
        T, g = expert.act(obs)
        if record:
            seen.add(obs)
            actions.append(pose_to_action(T, g))
        obs = env.step_to(T, g)
        success = success or obs.success
        if expert.done:
            held += 1
            if held > hold_steps:
                break
    return {"success": bool(success), "frames": seen.frames, "states": seen.states,
            "actions": actions, "steps": len(actions) if record else held}


def record_expert_demos(out, num: int, env_config: RobosuiteConfig | None = None,
                        first_seed: int = 0, expert: ExpertConfig | None = None,
                        max_attempts: int | None = None, progress: bool = True
                        ) -> dict[str, Any]:
    """``num`` successful expert demonstrations from seeds ``first_seed``, ``first_seed + 1``,
    ... (failures are counted and skipped) into the LeRobot dataset ``out``. Returns the
    attempts, successes, seeds used and seconds."""
    from ..io.lerobot import EpisodeData

    cfg = env_config or RobosuiteConfig()
    t0 = time.perf_counter()
    attempts, seeds = 0, []
    max_attempts = max_attempts or 2 * num + 10
    with RobosuiteEnv(cfg) as env:
        exp = ScriptedExpert(cfg.task, env.info["object_sizes"], expert)
        cams = _camera_info(env)
        writer = _writer(Path(out), cfg.control_freq, f"robosuite {cfg.task} scripted expert")
        bar = _bar(num, f"expert {cfg.task}", progress)
        try:
            seed = first_seed
            while len(seeds) < num and attempts < max_attempts:
                key = f"expert_seed_{seed:06d}"
                attempts += 1
                if writer.has_episode(key):
                    seeds.append(seed)
                    bar.update(1)
                    seed += 1
                    continue
                ep = run_expert(env, exp, seed)
                if ep["success"]:
                    writer.add_episode(EpisodeData(
                        key=key, task=INSTRUCTIONS.get(cfg.task, cfg.task),
                        frames={CAMERA: np.stack(ep["frames"])}, state=np.stack(ep["states"]),
                        action=np.stack(ep["actions"]), cameras=cams,
                        extras={"seed": seed, "source": "scripted expert"}))
                    seeds.append(seed)
                    bar.update(1)
                seed += 1
        finally:
            bar.close()
            writer.close()
    if len(seeds) < num:
        raise ValueError(f"the expert succeeded only {len(seeds)} times in {attempts} attempts")
    return {"attempts": attempts, "successes": len(seeds), "seeds": seeds,
            "seconds": time.perf_counter() - t0}


# ---------------------------------------------------------------------- generated
@dataclass
class GeneratedConfig:
    """Demonstrations generated from one photo."""

    photo_seed: int = 0
    """The reset whose agentview photo is lifted (the one photo)."""
    lift_size: int | None = None
    """Photo resolution for lifting (square); None: the observations' size. At the policy's
    84 x 84, lifting at 84 renders the photo's own view at 28.7 dB / SSIM 0.93 against the
    simulator (robot pixels left out), lifting at 128 or 168 and rendering at 84 at 24.9 /
    24.1 dB (the splats of a finer lift alias when drawn smaller)."""
    erase_robot: bool = True
    """Erase the robot from the photo before lifting (it is drawn per frame instead)."""
    robot_appearance: bool = True
    """Colour and light the drawn robot from the photo
    (:func:`igen_gs.robot.appearance.fit_appearance` at the photo's joint angles) instead of
    its meshes' material colours; written beside the dataset as
    ``<dataset>_robot_appearance.npz``. Measured on Lift (2 episodes, 16 frames): the
    robot's pixels 12.1 -> 15.8 dB against the simulator's renders, whole frames 19.3 ->
    20.8 dB."""
    appearance_size: int = 256
    """Resolution (square) of the photo the robot's appearance is taken from: the same photo
    (same reset and camera) at a camera's usual resolution rather than the policy's; at 84 the
    robot's pixels reach 14.8 dB instead of 15.8."""
    robot_calibration_views: int = 16
    """Further photos of the robot for its appearance (a calibration of the robot, not of
    the scene): the arm moved to this many joint configurations around the photo's (each
    joint within +- ``robot_calibration_rad``, seeded), photographed by the same camera;
    only the robot's pixels are used (``more_views`` of
    :func:`igen_gs.robot.appearance.fit_appearance`). The one photo shows little more than
    the top of the hand; the other links take their meshes' colours times a fitted gain.
    Measured on Lift (8 episodes, against the simulator's renders of the same states): 16
    views take the robot's pixels from 17.1 to 19.8 dB (pooled frames 23.2 -> 24.1 dB); the
    policy trained on 100 such episodes succeeded 3/50, against 5/50 without (the 8000-step
    recipe); with ``robot_inset_m=0.002`` (frames 22.90 -> 24.15 dB, 5 episodes) and the
    16000-step recipe 42/50, against 45-47/50 without. 0: the photo alone. 16 is part of
    the default set since 2026-12-03 (see ``robot_mount``)."""
    robot_calibration_rad: float = 0.6
    """Joint range of the calibration views (radians)."""
    robot_inset_m: float = 0.001
    """The drawn robot's Gaussians moved this far into its links (``RobotConfig.inset``,
    metres), for the appearance fit and the frames alike: the flat splats reach past the
    meshes' outlines, so at 84 x 84 the Gaussian arm covers about 7 % more pixels than the
    simulator's. Measured on Lift with 16 calibration views (5 episodes, 200 frames): 1 mm
    25.06 dB, 2 mm 25.09, 3 mm 24.78 with ``supersample=2``. 0: on the surface (the
    default until 2026-12-03; 1 mm is part of the default set, see ``robot_mount``)."""
    robot_spacing_m: float = 0.002
    """Distance between the drawn robot's Gaussians on its link meshes (``RobotConfig.spacing``,
    metres), for the appearance fit and the frames alike; finer Gaussians draw finer detail
    and a tighter outline, at the cost of more of them (4 mm: 62k, 2 mm: 248k). Measured on
    Lift (5 episodes, 200 frames at 84 x 84, with the reverted depth registration of commit
    7ddf484): 2 mm with ``robot_inset_m=0.001`` 22.98 -> 23.45 dB; with 16 calibration views
    and ``supersample=2`` too 26.36 dB (4 mm with a 2 mm inset: 25.02); without the depth
    registration (the code now) that set gives 26.61 dB / SSIM 0.948. 2 mm is part of the
    default set since 2026-12-03 (4 mm before; see ``robot_mount``)."""
    robot_specular: bool = False
    """Fit white highlights to the robot's lights as well (``specular`` of
    :func:`igen_gs.robot.appearance.fit_appearance`): the simulator draws its Panda with
    Blinn-Phong highlights (materials' specular 0.5, shininess 0.45) that the view-independent
    lights cannot give. Measured on Lift (5 episodes, 200 frames at 84 x 84): alone 22.90 ->
    22.79 dB; with 16 calibration views and a 2 mm inset 24.15 -> 24.24; with
    ``supersample=2`` too 25.09 -> 25.22 (the fitted highlights come out weak and broad).
    False: no highlights."""
    robot_mount: bool = True
    """Draw robosuite's mount (the black pedestal under the Panda) with the robot: its mesh,
    exported from the simulator (:func:`igen_gs.envs.robosuite.mount_mesh`, the part the
    camera can see), joins the base link and is coloured by the same appearance fit; written
    beside the dataset as ``<dataset>_robot_mount.ply``. Its pixels in the photo stay in the
    lifted background all the same (erased, the fill on the table's plane would hide the
    pedestal below the table's edge); the mesh shows where the arm hid it in the photo.
    False: the pedestal is in the background only, and where the arm hid it, the erased
    background's fill shows as the arm moves away. Measured (5 episodes, 200 frames at
    84 x 84): Lift defaults 22.90 -> 23.42 dB; with ``robot_spacing_m=0.002``,
    ``robot_inset_m=0.001``, 16 calibration views and ``supersample=2`` 26.61 -> 27.25 dB /
    SSIM 0.953 (the mount's share of the squared error 16 -> 5 %); Stack, that set, 26.44 ->
    26.99 dB / 0.952. About 150k more Gaussians at 2 mm. The generated-100 Lift policy on
    that set's frames: 44/50 (without the mount 38/50; the defaults 45-47/50). The
    default since 2026-12-03, with that set (2 mm, 1 mm inset, 16 calibration views,
    ``supersample=2``): the arm's back faces left out (``RobotConfig.backface_cos``) and
    variations rendered in worker processes brought its cost near the old defaults'."""
    variation_seed: int = 0
    """Seed of the object poses of the variations."""
    prefix_max_speed: float = 0.25
    """Speed of the move from the simulator's start pose to the plan's first pose (m/s)."""
    start_jitter_m: float = 0.0
    """Each variation's start TCP is moved by up to +- this per axis (metres) ..."""
    start_jitter_rad: float = 0.0
    """... and turned by up to +- this about the vertical (radians). From one fixed start, the
    position along the straight move to the pre-grasp pose already says where the object is,
    and a policy learns that instead of looking: on Lift (100 episodes, before
    ``start_joint_noise_rad``), swapping the image moved its prediction by 3.2 mm, and it
    succeeded 0/50. This jitter (0.03 m, 0.15 rad until 2026-12-02) fixed that, but it never
    tilts the hand; ``start_joint_noise_rad`` starts the arm as robosuite does and is the
    default now (this jitter defaults to 0). Measured on Lift (generated-100, 50 rollouts):
    the jitter 13/50, the joint noise 42/50."""
    start_joint_noise_rad: float = 0.02
    """Each variation starts from the photo's joint angles plus Gaussian noise of this
    standard deviation per joint (radians; its TCP by the Panda's forward kinematics), then
    moved by the Cartesian jitter (``start_jitter_m``, ``start_jitter_rad``) if any.
    robosuite resets its Panda so (``initialization_noise``, Gaussian, magnitude 0.02), and
    the noise tilts the hand by a few degrees as well as moving it by about a centimetre.
    The start decides: on Lift (50 rollouts) the scripted expert's demonstrations from our
    variations' object poses teach 36/50 from each seed's own reset, 40/50 from the photo's
    reset with the arm set to each seed's joint angles, and 14/50 from the photo's reset
    alone; generated-100 from one photo 42/50 with this noise, 13/50 with the Cartesian
    jitter (0.03 m, 0.15 rad). 0: off (its draws come from a generator of their own, so the
    other draws do not change)."""
    min_object_distance_m: float | None = None
    """Objects' centres at least this far apart (several objects). None: robosuite's own rule
    (its placement sampler with ``ensure_valid_placement``): two centres farther apart than
    the sum of the objects' horizontal radii, half the diagonals of their footprints (Stack:
    6.4 cm). Until 2026-12-02 this was 8 cm, so no generated episode had its cubes closer
    than that, though about a sixth of robosuite's Stack resets do."""
    drop_idle_open: bool = True
    """Drop the plan's "open" step when the fingers are already open (see
    :func:`with_prefix`): 12 frames of standing still on Lift."""
    contact_opening: bool = True
    """Frames and states show the fingers stopped by the grasped object (its width), the
    actions command the plan's narrower grip (:func:`contact_opening`)."""
    held_opening_jitter_m: float = 0.0
    """With ``contact_opening``: the opening shown while holding is widened by a uniform draw
    in [0, this] per episode (the simulator reports 0.55-0.62 on a cube held off its faces,
    where the lifted width gives about 0.5). 0: off. Measured on Lift generated-100 with
    0.012: 6/50 once (grasps up to 40 degrees off the faces), 1/50 with face-aligned grasps
    (2/50 without it)."""
    perturb_m: float = 0.0
    """Corrective data (DART-style noise): the TCP path drawn in the frames and states is
    pushed off the plan by smooth random offsets of up to this (metres) that return to it
    before the fingers close (:func:`perturb_approach`), while the actions stay those of the
    plan -- so the data shows how to get back from where a policy drifts. 0: off. Measured on
    Lift (generated-100, before the grasp-choice fix): 3/50 with 3 cm, 3/50 without."""
    action_lead_steps: int = 4
    """The action at step t is the planned TCP pose and opening at t + this (1: the next
    pose). robosuite's OSC controller lags a moving target: the scripted expert's targets run
    26 mm ahead of its TCP (median over 100 demonstrations; 1.4 mm for next-pose targets of
    generated data), i.e. about 4 steps of motion at its speeds. With next-pose targets, a
    policy commands targets a few millimetres ahead of the TCP and the lagging controller
    follows them at a fraction of the demonstrated speed."""
    gripper_lead_steps: int | None = None
    """The gripper value of the action at step t is the planned opening at t + this (None:
    ``action_lead_steps``, as the pose). The lead is for the arm's lag; robosuite's fingers
    answer the sign of the command at once. Measured on Lift (40 episodes each, the step where
    the command first closes the fingers): with the lead of 4 the TCP is 1.25 cm above its
    lowest point (2 steps before it), the scripted expert's 0.42 cm."""
    track_controller: bool = False
    """Frames and states show the TCP path of an arm tracking the actions' targets (a
    second-order model of the controller, identified once from free-space moves of the arm,
    :mod:`igen_gs.envs.tracking`) instead of the exact plan: it lags moving targets and
    overshoots where they stop, as the simulator's arm does."""
    supersample: int = 2
    """Frames rendered at this many times the observations' width and height and averaged
    down (a box filter), as MuJoCo's multisampling anti-aliases the simulator's edges; the
    photo is lifted at that resolution too (unless ``lift_size`` is set), so the splats are
    drawn at the size they were refined at. Measured on Lift (5 episodes, 200 frames): 2 takes
    the frames from 22.90 to 23.46 dB, and with ``robot_calibration_views=16`` and
    ``robot_inset_m=0.002`` to 25.09 dB (4: 24.94), but the policy trained on 100 such
    episodes succeeded 39/50 against 45-47/50 with the defaults. 1: rendered at the
    observations' size (the default until 2026-12-03; 2 is part of the default set, see
    ``robot_mount``)."""
    render_eps2d: float = 0.01
    """The renderer's low-pass filter (:attr:`igen_gs.episode.config.RenderConfig.eps2d`,
    pixels squared) for the generated frames. robosuite's renders have sharp edges; with
    gsplat's default 0.3 the drawn arm and the moved cube come out about a pixel wider all
    round at 84 x 84. The lift's colour refinement uses the same filter
    (``LiftConfig.refine_eps2d``, unless ``lift_options`` set it). Frames against the
    simulator's renders of the same states (Lift, 8 episodes, every third frame, 265 frames,
    median): 0.3 -> 20.35 dB / SSIM 0.816; refined at 0.3 and rendered at 0.1 -> 21.73 /
    0.856, at 0.03 -> 22.32 / 0.871, at 0.01 -> 22.52 / 0.873, at 0 -> 22.64 / 0.875;
    refined and rendered at 0.1 -> 21.86 / 0.862, at 0.01 -> 23.06 / 0.892 (gsplat's
    "antialiased" mode at 0.3: 16.0 dB, the lifted background turns translucent). 0.01 keeps
    a floor under edge-on splats' degenerate covariances."""
    timing: str = "plan"
    """How the generated arm moves through the plan. "plan": the TCP is where the plan says at
    each frame, and the action at step t is the plan's pose ``action_lead_steps`` ahead.
    "expert": the plan's waypoints driven the way the scripted expert drives the simulator's
    arm (:func:`igen_gs.envs.tracking.target_law`): a target moving at the speed limits to
    each waypoint and waiting there until the TCP is within 1.2 cm, the gripper command
    ramped over 12 steps; the frames and states show the TCP and fingers of an arm
    following those targets (the tracking model identified once from free-space moves of the
    simulator's arm, as for ``track_controller``), and the actions are the targets. Measured
    on Lift (generated-100, 50 rollouts): "expert" 7/50 with the Cartesian start jitter,
    24/50 with the start joint noise, against "plan" 13/50 and 42/50."""
    lift_options: dict[str, Any] = field(default_factory=dict)
    """Extra LiftConfig options."""
    motion_options: dict[str, Any] = field(default_factory=lambda: {
        "profile": "trapezoid", "max_accel": 2.5, "settle_seconds": 0.1, "squeeze_m": 0.008})
    """:class:`igen_gs.planning.motion_config.MotionConfig` options for the plan (its ``fps``
    is the environment's control rate). The default plans move at the speed limit between
    waypoints (trapezoidal velocity, 2.5 m/s^2) and pause 0.1 s after the grasp: on Lift they
    last 62 steps (median), as the scripted expert's 61, where MotionConfig's own defaults
    (minimum jerk, 0.8 m/s^2, 0.2 s) take 98. Measured on Lift (generated-100, 50 rollouts):
    13/50 against 5/50 with MotionConfig's defaults (``{}``). The grip closes 8 mm inside
    the lifted object's width (MotionConfig's default 4 mm): a width measured on the lifted
    Gaussians is a little wide (Lift's cube at 168 px: 4.7-4.9 cm from the lift, 4.0-4.2 cm
    in the simulator), and with 4 mm the gripper command stops where the fingers touch and
    the cube slips (open-loop replay of the quick benchmark's 2 plans: 0/2; with 8 mm: 2/2;
    the fingers drawn in the frames stay at the object's width either way)."""

    def __post_init__(self):
        for name in ("start_jitter_m", "start_jitter_rad", "start_joint_noise_rad",
                     "held_opening_jitter_m", "perturb_m", "render_eps2d",
                     "robot_calibration_views", "robot_calibration_rad", "robot_inset_m"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"GeneratedConfig.{name} must be >= 0, got {getattr(self, name)}")
        if self.min_object_distance_m is not None and not self.min_object_distance_m >= 0:
            raise ValueError("GeneratedConfig.min_object_distance_m must be >= 0 or None (the "
                             f"simulator's rule), got {self.min_object_distance_m}")
        if not 0.001 <= self.robot_spacing_m <= 0.02:
            raise ValueError(f"GeneratedConfig.robot_spacing_m must be within [0.001, 0.02] "
                             f"(metres), got {self.robot_spacing_m}")
        if not (isinstance(self.supersample, int) and 1 <= self.supersample <= 8):
            raise ValueError(f"GeneratedConfig.supersample must be a whole number in [1, 8], "
                             f"got {self.supersample!r}")
        if not self.prefix_max_speed > 0:
            raise ValueError(f"GeneratedConfig.prefix_max_speed must be > 0 (m/s), got "
                             f"{self.prefix_max_speed}")
        from ..planning.motion_config import MotionConfig

        unknown = set(self.motion_options) - {f.name for f in fields(MotionConfig)} | \
            ({"fps"} & set(self.motion_options))
        if unknown:
            raise ValueError(f"GeneratedConfig.motion_options must be MotionConfig options "
                             f"other than fps (the environment's control rate), got "
                             f"{sorted(unknown)}")
        if self.timing not in ("plan", "expert"):
            raise ValueError(f"GeneratedConfig.timing must be 'plan' or 'expert', got "
                             f"{self.timing!r}")
        if self.action_lead_steps < 1:
            raise ValueError(f"GeneratedConfig.action_lead_steps must be >= 1, got "
                             f"{self.action_lead_steps}")
        if self.gripper_lead_steps is not None and self.gripper_lead_steps < 1:
            raise ValueError(f"GeneratedConfig.gripper_lead_steps must be >= 1 or None, got "
                             f"{self.gripper_lead_steps}")


def placement_radii(object_sizes: dict[str, np.ndarray]) -> dict[str, float]:
    """Each object's horizontal radius (metres): half the diagonal of its footprint, from its
    full box size [3]. robosuite's placement sampler keeps two objects' centres farther apart
    than the sum of their radii."""
    return {n: float(np.linalg.norm(np.asarray(s, dtype=np.float64)[:2]) / 2)
            for n, s in object_sizes.items()}


def sample_object_poses(rng: np.random.Generator, rest: dict[str, np.ndarray],
                        env_config: RobosuiteConfig,
                        min_distance: float | dict[str, float] = 0.08
                        ) -> dict[str, np.ndarray]:
    """Simulator object poses drawn like the environment's placement: x, y uniform within the
    configured range about the table centre, yaw uniform (any yaw) about the vertical, height
    as at ``rest``; several objects apart: centres at least ``min_distance`` apart (metres),
    or, given radii by name (:func:`placement_radii`), farther apart than the sum of the two
    radii (robosuite's rule)."""
    r = env_config.placement_xy_m
    if r is None:
        raise ValueError("generated demos need an explicit placement range (placement_xy_m)")
    names = list(rest)
    pairs = [(i, j) for i in range(len(names)) for j in range(i + 1, len(names))]
    for _ in range(1000):
        out, centres = {}, []
        for name, T0 in rest.items():
            x, y = rng.uniform(-r, r, 2)
            yaw = rng.uniform(0, 2 * math.pi) if env_config.any_yaw else 0.0
            c, s = math.cos(yaw), math.sin(yaw)
            T = np.eye(4)
            T[:3, :3] = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
            T[:3, 3] = [x, y, T0[2, 3]]
            out[name] = T
            centres.append((x, y))
        if isinstance(min_distance, dict):  # robosuite: farther than the sum of the radii
            ok = all(math.dist(centres[i], centres[j])
                     > min_distance[names[i]] + min_distance[names[j]] for i, j in pairs)
        else:
            ok = all(math.dist(centres[i], centres[j]) >= min_distance for i, j in pairs)
        if ok:
            return out
    raise ValueError("could not place the objects apart within the range")


def lead_actions(actions: np.ndarray, lead_steps: int, gripper_lead_steps: int | None = None
                 ) -> np.ndarray:
    """Actions [T, A] whose row t is the next-pose action of step t + ``lead_steps`` - 1 (the
    last row repeated past the end): the target ``lead_steps`` poses ahead. With
    ``gripper_lead_steps``, the last column (the gripper) leads by that many steps instead."""
    for name, n in (("action_lead_steps", lead_steps), ("gripper_lead_steps",
                                                         gripper_lead_steps)):
        if n is not None and n < 1:
            raise ValueError(f"{name} must be 1 or more, got {n}")
    a = np.asarray(actions)
    idx = np.minimum(np.arange(len(a)) + lead_steps - 1, len(a) - 1)
    out = a[idx]
    if gripper_lead_steps is not None:
        g = np.minimum(np.arange(len(a)) + gripper_lead_steps - 1, len(a) - 1)
        out = out.copy()
        out[:, -1] = a[g, -1]
    return out


def _first_closing(opening_m: np.ndarray) -> int | None:
    """Index of the last frame before the finger opening first shrinks (None: it never does)."""
    closing = np.nonzero(np.diff(np.asarray(opening_m, dtype=np.float64)) < -1e-6)[0]
    return int(closing[0]) if len(closing) else None


def perturb_approach(traj, rng: np.random.Generator, amplitude_m: float,
                     bumps: int = 2):
    """``traj`` with its TCP positions offset, before the fingers first close, by ``bumps``
    smooth random offsets (each a sin^2 bump 0.5 to 1.5 s long, its direction uniform in a
    ball of radius ``amplitude_m``, half that vertically) that vanish by the first closing
    frame; later frames, the object poses and the rotations are unchanged; joint angles are
    recomputed when the trajectory had them. Returns the trajectory (itself when there is no
    closing or ``amplitude_m`` is 0; the draws are taken all the same)."""
    from ..planning.kinematics import joint_trajectory

    n = len(traj)
    draws = [(rng.uniform(-1, 1, 3), rng.uniform(0.5, 1.5), rng.uniform(0, 1))
             for _ in range(bumps)]
    end = _first_closing(traj.gripper_opening_m) or 0
    if amplitude_m <= 0 or end < 4:
        return traj
    t = np.arange(n, dtype=np.float64)
    off = np.zeros((n, 3))
    for d, dur_s, where in draws:
        if np.linalg.norm(d) > 1:
            d = d / np.linalg.norm(d)
        d = d * amplitude_m * np.array([1.0, 1.0, 0.5])
        w = min(float(end), dur_s * traj.fps)
        t0 = where * (end - w)
        u = np.clip((t - t0) / w, 0.0, 1.0)
        off += d[None] * np.sin(np.pi * u)[:, None] ** 2
    off[end:] = 0.0
    T = np.array(traj.T_world_ee, copy=True)
    T[:, :3, 3] += off
    out = replace(traj, T_world_ee=T)
    if traj.joint_positions is not None:
        out.joint_positions = joint_trajectory(T, traj.T_world_base, out.step_labels())
    return out


def contact_opening(traj, squeeze_m: float):
    """``traj`` with the finger opening it shows (frames, states) stopped by the object: from
    the first closing frame, the opening is at least the closed target + ``squeeze_m`` (the
    object's width between the fingers; the planner commands that much less to grip) until
    the fingers open past it again. The commanded openings (actions) are the plan's. A real
    gripper's fingers stop on the object: in robosuite the measured opening stays at the cube's
    width while the command is narrower, and a policy that saw the plan's narrower opening
    took the gripper for still closing and waited, the cube in its fingers (Lift)."""
    g = np.asarray(traj.gripper_opening_m, dtype=np.float64)
    last_open = _first_closing(g)
    if last_open is None:
        return traj
    t0 = last_open + 1
    t = t0
    while t + 1 < len(g) and g[t + 1] < g[t] - 1e-9:
        t += 1
    width = g[t] + squeeze_m
    shown = g.copy()
    for k in range(t0, len(g)):
        if k > t and g[k] > width:
            break
        shown[k] = max(g[k], width)
    ratio = traj.gripper / np.where(g > 0, g, 1.0)
    ratio[g <= 0] = 1.0 / traj.max_opening_m
    return replace(traj, gripper_opening_m=shown, gripper=shown * ratio)


def box_down(frames: np.ndarray, factor: int) -> np.ndarray:
    """uint8 frames [..., H * factor, W * factor, C] averaged over factor x factor blocks
    (rounded to the nearest level): [..., H, W, C]."""
    *lead, H, W, C = frames.shape
    if H % factor or W % factor:
        raise ValueError(f"frames of {H}x{W} do not divide into {factor}x{factor} blocks")
    x = frames.reshape(*lead, H // factor, factor, W // factor, factor, C)
    return np.rint(x.mean(axis=(-4, -2), dtype=np.float64)).astype(np.uint8)


def lift_photo(env: RobosuiteEnv, cfg: GeneratedConfig) -> dict[str, Any]:
    """Reset to ``cfg.photo_seed``, take the photo, lift it. Returns the scene, the photo's
    state and each object's ``T_lift_sim`` (lifted object frame -> simulator body frame)."""
    from ..lifting import lift

    env.reset(cfg.photo_seed)
    w, h = ((env.config.width * cfg.supersample, env.config.height * cfg.supersample)
            if cfg.lift_size is None else (cfg.lift_size, cfg.lift_size))
    photo = env.capture(CAMERA, w, h)
    # the mount is not erased even when drawn: its pixels stay in the background at their
    # own depth (the erased region's fill lies on the table's plane, in front of the pedestal
    # below the table's edge, and would hide the drawn one); its mesh fills in behind the arm
    inp = lift_inputs(photo, env.object_names)
    mount = write_mount(env, photo) if cfg.robot_mount else None
    t0 = time.perf_counter()
    scene = lift(inp["image"], inp["depth"], inp["K"], masks=inp["masks"],
                 T_world_cam=inp["T_world_cam"],
                 erase={"robot": inp["robot_mask"]} if cfg.erase_robot and
                 inp["robot_mask"].any() else None,
                 **{"refine_eps2d": cfg.render_eps2d, **cfg.lift_options})
    missing = [n for n in env.object_names if n not in scene.objects]
    if missing:
        raise ValueError(f"the photo of seed {cfg.photo_seed} does not show {missing}")
    T_lift_sim = {n: np.linalg.inv(scene.poses[n].numpy()) @ inp["object_poses"][n]
                  for n in env.object_names}
    appearance = None
    if cfg.robot_appearance and inp["robot_mask"].any():
        from ..episode.rigs import up_vector
        from ..robot.appearance import fit_appearance
        from ..robot.gaussians import robot_gaussians
        from ..robot.model import load_robot

        view = robot_view(env, cfg.appearance_size, cfg.robot_mount)
        more = robot_calibration_views(env, cfg) if cfg.robot_calibration_views else []
        appearance = fit_appearance(robot_gaussians(load_robot(mount=mount),
                                                    cfg.robot_spacing_m,
                                                    inset=cfg.robot_inset_m),
                                    **view,
                                    up=up_vector(scene).numpy(), more_views=more,
                                    specular=cfg.robot_specular)
        if more:
            env.reset(cfg.photo_seed)
    return {"scene": scene, "photo": photo, "T_lift_sim": T_lift_sim,
            "robot_appearance": appearance, "robot_mount": mount,
            "lift_seconds": time.perf_counter() - t0}


def write_mount(env: RobosuiteEnv, photo: dict[str, Any]) -> str:
    """The part of the robot's mount that ``photo``'s camera can see
    (:func:`igen_gs.envs.robosuite.mount_mesh`) as a PLY file in the robot base frame, kept in
    the robot cache under its content's hash (the same mount, the same file); its path."""
    import hashlib

    from ..outputs import atomic_write_bytes
    from ..robot.gaussians import cache_dir
    from .robosuite import mount_mesh

    data = mount_mesh(env.mount(), photo).export(file_type="ply")
    path = cache_dir() / "mounts" / f"{hashlib.sha256(data).hexdigest()[:32]}.ply"
    if not path.is_file():
        atomic_write_bytes(path, data)
    return str(path)


def robot_view(env: RobosuiteEnv, size: int, mount: bool = False) -> dict[str, Any]:
    """The simulator's current state photographed by the policy's camera (``size`` square)
    as the photo arguments of :func:`igen_gs.robot.appearance.fit_appearance` (``rgb``,
    ``K``, ``T_world_cam``, ``T_world_base``, ``q``, ``opening``, ``robot_mask``,
    ``depth``); with ``mount``, the robot's mask holds the mount's pixels too."""
    cap = env.capture(CAMERA, size, size)
    li = lift_inputs(cap, env.object_names, mount=mount)
    return dict(rgb=li["image"], K=li["K"], T_world_cam=li["T_world_cam"],
                T_world_base=cap["T_world_base"], q=cap["joint_positions"],
                opening=float(cap["opening_m"]), robot_mask=li["robot_mask"],
                depth=li["depth"])


def robot_calibration_views(env: RobosuiteEnv, cfg: GeneratedConfig) -> list[dict[str, Any]]:
    """``cfg.robot_calibration_views`` photos of the robot (``appearance_size`` square, the
    policy's camera) at joint angles drawn around those of the photo's reset, each joint
    within +- ``cfg.robot_calibration_rad`` and the fingers anywhere between closed and
    open (seeded by ``cfg.photo_seed``), as
    :func:`igen_gs.robot.appearance.fit_appearance`'s ``more_views``. Leaves
    the simulator at those joint angles: reset it after."""
    from .control import MAX_OPENING_M

    q0 = np.asarray(env.reset(cfg.photo_seed).joint_positions, dtype=np.float64)
    rng = np.random.default_rng([cfg.photo_seed, 7])
    views = []
    for _ in range(cfg.robot_calibration_views):
        env.set_state(joint_positions=q0 + rng.uniform(-1, 1, q0.shape) *
                      cfg.robot_calibration_rad,
                      opening_m=float(rng.uniform(0.0, MAX_OPENING_M)))
        views.append(robot_view(env, cfg.appearance_size, cfg.robot_mount))
    return views


def _prefix(T_from: np.ndarray, T_to: np.ndarray, fps: float, max_speed: float,
            max_angular_speed: float = 1.2, motion=None) -> np.ndarray:
    """TCP poses [n, 4, 4] from ``T_from`` to just before ``T_to`` (position linear, rotation
    about one axis), under the speed limits: minimum-jerk timing lasting at least 0.25 s, or,
    with ``motion`` (a :class:`~igen_gs.planning.motion_config.MotionConfig`) whose profile is
    not "min_jerk", that profile's timing at ``max_speed`` and ``motion``'s other limits."""
    from .control import rotvec
    from .expert import _rotvec_to_matrix

    if motion is not None and motion.profile != "min_jerk":
        from ..planning.motion import interpolate, segment_profile

        s = segment_profile(T_from, T_to, replace(motion, fps=fps, max_speed=max_speed))
        return interpolate(T_from, T_to, np.concatenate([[0.0], s[:-1]]))

    dp = T_to[:3, 3] - T_from[:3, 3]
    rv = rotvec(T_to[:3, :3] @ T_from[:3, :3].T)
    # minimum jerk peaks at 1.875 x the mean speed
    dur = max(1.875 * np.linalg.norm(dp) / max_speed,
              1.875 * np.linalg.norm(rv) / max_angular_speed, 0.25)
    n = int(math.ceil(dur * fps))
    out = []
    for k in range(n):
        s = k / n
        s = 10 * s**3 - 15 * s**4 + 6 * s**5
        T = np.eye(4)
        T[:3, 3] = T_from[:3, 3] + s * dp
        T[:3, :3] = _rotvec_to_matrix(s * rv) @ T_from[:3, :3]
        out.append(T)
    return np.stack(out)


def start_pose(start, T_world_base: np.ndarray, joint_noise_rad: float,
               rng: np.random.Generator) -> np.ndarray:
    """``T_world_tcp`` [4, 4] of the simulator's start observation ``start`` with its joint
    angles perturbed by Gaussian noise of ``joint_noise_rad`` (radians) per joint (Panda
    forward kinematics); the observed pose itself when the noise is 0."""
    if joint_noise_rad <= 0:
        return np.asarray(start.T_world_tcp, dtype=np.float64).copy()
    from ..planning.kinematics import fk

    q = np.asarray(start.joint_positions, dtype=np.float64)
    q = q + rng.normal(0.0, joint_noise_rad, q.shape)
    return np.asarray(T_world_base, dtype=np.float64) @ fk(q)


def jitter_start(T_world_tcp: np.ndarray, rng: np.random.Generator, jitter_m: float,
                 jitter_rad: float) -> np.ndarray:
    """``T_world_tcp`` moved by a uniform offset within +- ``jitter_m`` per world axis and
    turned by a uniform angle within +- ``jitter_rad`` about the world vertical (about its own
    position). The draws are taken even when both are 0 (same random stream)."""
    d = rng.uniform(-1.0, 1.0, 3) * jitter_m
    a = rng.uniform(-1.0, 1.0) * jitter_rad
    c, s = math.cos(a), math.sin(a)
    out = np.array(T_world_tcp, dtype=np.float64, copy=True)
    out[:3, :3] = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]) @ out[:3, :3]
    out[:3, 3] += d
    return out


OPEN_FRAMES = 8
"""Frames over which the fingers go from the simulator's start opening to the plan's."""


def with_prefix(traj, T_start: np.ndarray, max_speed: float,
                start_opening_m: float | None = None, drop_idle_open: bool = False,
                motion=None):
    """``traj`` starting at ``T_start`` (the simulator's start pose) instead of the planner's
    home pose: its first travel (home -> up -> over the pre-grasp) is replaced by a direct move
    from ``T_start`` to the pose over the pre-grasp (objects at rest, phase "start"); joint
    angles are recomputed when the trajectory had them. With ``start_opening_m`` (the
    simulator's finger opening at the start) the fingers go linearly from it to the plan's
    opening over the first :data:`OPEN_FRAMES` frames, so that the first states are the
    simulator's: a policy that never saw its start opening (robosuite's Panda starts half
    open) took it for a grasp in progress and hovered, 0/50 on Lift. With ``drop_idle_open``,
    a plan's "open" step that neither moves nor changes the opening (the fingers were already
    open) is dropped as well: standing still with nothing changing in view, a policy cannot
    tell when to go on. ``motion``: the plan's
    :class:`~igen_gs.planning.motion_config.MotionConfig`, whose profile the move follows
    (see :func:`_prefix`)."""
    from ..planning.kinematics import joint_trajectory
    from ..planning.types import Trajectory

    k = next((t for t, p in enumerate(traj.phase) if p not in ("start", "transport")), 1)
    if drop_idle_open and 0 < k < len(traj) and traj.phase[k] == "open":
        e = next((t for t in range(k, len(traj)) if traj.phase[t] != "open"), len(traj))
        still = np.ptp(traj.T_world_ee[k - 1:e, :3, 3], axis=0).max() < 1e-6
        if still and np.ptp(traj.gripper_opening_m[k - 1:e]) < 1e-3 and e < len(traj):
            k = e
    k = max(0, k - 1)
    traj = Trajectory(
        timestamps=traj.timestamps[k:] - traj.timestamps[k], T_world_ee=traj.T_world_ee[k:],
        gripper=traj.gripper[k:], gripper_opening_m=traj.gripper_opening_m[k:],
        attached=traj.attached[k:], object_poses={n: P[k:] for n, P in traj.object_poses.items()},
        step_index=traj.step_index[k:], phase=traj.phase[k:], plan=traj.plan, fps=traj.fps,
        max_opening_m=traj.max_opening_m, T_world_base=traj.T_world_base,
        joint_positions=None if traj.joint_positions is None else traj.joint_positions[k:])
    pre = _prefix(T_start, traj.T_world_ee[0], traj.fps, max_speed, motion=motion)
    n = len(pre)
    T_world_ee = np.concatenate([pre, traj.T_world_ee])
    open_m = np.full(n, traj.gripper_opening_m[0])
    if start_opening_m is not None:
        k = min(n, OPEN_FRAMES)
        open_m[:k] = np.linspace(float(start_opening_m), traj.gripper_opening_m[0], k + 1)[:k]
    g = open_m * (traj.gripper[0] / traj.gripper_opening_m[0]) if traj.gripper_opening_m[0] \
        else np.full(n, traj.gripper[0])
    out = Trajectory(
        timestamps=np.arange(n + len(traj)) / traj.fps, T_world_ee=T_world_ee,
        gripper=np.concatenate([g, traj.gripper]),
        gripper_opening_m=np.concatenate([open_m, traj.gripper_opening_m]),
        attached=[""] * n + list(traj.attached),
        object_poses={k: np.concatenate([np.repeat(P[:1], n, 0), P])
                      for k, P in traj.object_poses.items()},
        step_index=np.concatenate([np.full(n, -1), traj.step_index]),
        phase=["start"] * n + list(traj.phase), plan=traj.plan, fps=traj.fps,
        max_opening_m=traj.max_opening_m, T_world_base=traj.T_world_base)
    if traj.joint_positions is not None:
        out.joint_positions = joint_trajectory(T_world_ee, traj.T_world_base,
                                               out.step_labels())
    return out


@dataclass
class _VariationContext:
    """What every variation of one :func:`generated_demos` run shares (sent once to each
    worker process)."""

    scene: Any
    T_lift_sim: dict[str, np.ndarray]
    T_world_base: np.ndarray
    instruction: str
    cfg: GeneratedConfig
    plan_cfg: Any
    ep_cfg: Any
    tracking: Any
    cams: Any


def _variation(ctx: _VariationContext, i: int, sim_poses: dict[str, np.ndarray],
               T_start: np.ndarray, start_opening: float) -> dict[str, Any]:
    """Variation ``i``: the objects at ``sim_poses``, planned, retimed and rendered from the
    robot's start ``T_start``. Returns ``{"episode", "plan", "render"}`` (seconds), or
    ``{"failed": one line}`` when the plan fails."""
    import torch

    from ..episode.produce import pack_episode, render_trajectory
    from ..planning import plan_task
    from ..planning.actions import actions_from_trajectory
    from ..scene.scene import Scene
    from .tracking import target_law, track_trajectory

    cfg, plan_cfg, ep_cfg, scene = ctx.cfg, ctx.plan_cfg, ctx.ep_cfg, ctx.scene
    key = f"generated_{i:06d}"
    poses = {n: torch.from_numpy(sim_poses[n] @ np.linalg.inv(ctx.T_lift_sim[n]))
             for n in scene.object_names}
    scene_v = Scene(scene.background, scene.objects, poses, scene.camera,
                    scene.support_plane, dict(scene.meta))
    t0 = time.perf_counter()
    try:
        traj = plan_task(scene_v, ctx.instruction, plan_cfg)
        traj = with_prefix(traj, T_start, cfg.prefix_max_speed, start_opening,
                           drop_idle_open=cfg.drop_idle_open, motion=plan_cfg.motion)
    except ValueError as e:
        return {"failed": f"{key}: {e}"}
    t_plan = time.perf_counter() - t0
    shown = traj
    actions = None
    if cfg.timing == "expert":
        try:
            shown, targets, commands = target_law(
                traj, ctx.tracking, squeeze_m=plan_cfg.motion.squeeze_m)
        except ValueError as e:
            return {"failed": f"{key}: {e}"}
        T_base_world = np.linalg.inv(ctx.T_world_base)
        actions = np.stack([pose_to_action(T_base_world @ T, c)
                            for T, c in zip(targets, commands)])
    elif cfg.contact_opening:
        extra = np.random.default_rng([cfg.variation_seed, i, 2]).uniform(
            0.0, cfg.held_opening_jitter_m)
        shown = contact_opening(traj, plan_cfg.motion.squeeze_m + extra)
    if cfg.track_controller and actions is None:
        lead = np.minimum(np.arange(len(traj)) + cfg.action_lead_steps, len(traj) - 1)
        shown = track_trajectory(shown, traj.T_world_ee[lead, :3, 3], ctx.tracking,
                                 floor_z=float(traj.T_world_ee[:, 2, 3].min()))
    if cfg.perturb_m > 0:
        try:
            shown = perturb_approach(
                shown, np.random.default_rng([cfg.variation_seed, i, 1]), cfg.perturb_m)
        except ValueError as e:
            return {"failed": f"{key}: {e}"}
    t0 = time.perf_counter()
    frames, rig = render_trajectory(scene_v, shown, ep_cfg)
    if cfg.supersample > 1:
        frames.rgb = {n: box_down(im, cfg.supersample) for n, im in frames.rgb.items()}
    t_render = time.perf_counter() - t0
    ep = pack_episode(key, scene_v, shown, frames, ep_cfg, rig, extras={
        "variation_index": i, "photo_seed": cfg.photo_seed,
        "T_world_tcp_start": np.round(T_start, 6).tolist(),
        "sim_object_poses": {n: P.tolist() for n, P in sim_poses.items()},
        "T_lift_sim": {n: T.tolist() for n, T in ctx.T_lift_sim.items()},
        "joint_positions": None if shown.joint_positions is None else
        np.round(shown.joint_positions, 6).tolist()},
        action=actions if actions is not None else
        lead_actions(actions_from_trajectory(traj, "ee_6d"), cfg.action_lead_steps,
                     cfg.gripper_lead_steps))
    ep.frames = {CAMERA: ep.frames["photo"]}
    ep.cameras = ctx.cams
    ep.captions = None
    return {"episode": ep, "plan": t_plan, "render": t_render}


_CONTEXTS: dict[str, _VariationContext] = {}


def _variation_job(job: tuple) -> dict[str, Any]:
    """A worker's job: ``(context file, i, sim_poses, T_start, start_opening)``; the context
    is read once per process."""
    import pickle

    path, *args = job
    if path not in _CONTEXTS:
        _CONTEXTS.clear()
        with open(path, "rb") as f:
            _CONTEXTS[path] = pickle.load(f)
    return _variation(_CONTEXTS[path], *args)


def generated_demos(out, num: int, env_config: RobosuiteConfig | None = None,
                    config: GeneratedConfig | None = None, progress: bool = True,
                    lifted: dict[str, Any] | None = None, workers: int = 1) -> dict[str, Any]:
    """``num`` demonstrations generated from one photo into the LeRobot dataset ``out``
    (see the module docstring). Variations whose plan fails are skipped and counted.
    Each episode's extras hold ``sim_object_poses`` (the simulator poses of its start) for
    :func:`replay_open_loop`, ``T_lift_sim`` (lifted object frame -> simulator body) and the
    planned ``joint_positions`` for :func:`sim_renders_of_episode`. Returns counts and
    seconds per stage (plan and render summed over the workers).

    ``workers`` > 1: variations are planned and rendered in that many local worker processes
    (:class:`igen_gs.batch.executors.LocalExecutor`, one thread each; the one writer stays
    here and writes episodes in order), the same episodes as with one. On this 2-core machine
    two single-threaded workers render about 1.5x as fast as one process on two threads:
    much of a frame's time is many small tensor operations that a second thread cannot
    share."""
    import pickle
    import tempfile

    from ..episode.config import EpisodeConfig, RenderConfig, RigConfig, VariationConfig
    from ..planning.config import PlanConfig
    from ..robot.config import RobotConfig
    from .tracking import identify_tracking

    if not (isinstance(workers, int) and workers >= 1):
        raise ValueError(f"workers must be a whole number >= 1, got {workers!r}")
    ecfg = env_config or RobosuiteConfig()
    cfg = config or GeneratedConfig()
    instruction = INSTRUCTIONS.get(ecfg.task)
    if instruction is None:
        raise ValueError(f"no instruction for task {ecfg.task!r} (known: {list(INSTRUCTIONS)})")
    t_all = time.perf_counter()
    with RobosuiteEnv(replace(ecfg, cameras=())) as env:
        if lifted is None:
            lifted = lift_photo(env, cfg)
        tracking = None
        if cfg.track_controller or cfg.timing == "expert":
            tracking = identify_tracking(env, cfg.photo_seed)
        start = env.reset(cfg.photo_seed)
        cams = _camera_info(env)
        apart = (placement_radii(env.info["object_sizes"]) if cfg.min_object_distance_m is None
                 else cfg.min_object_distance_m)
    scene, T_lift_sim = lifted["scene"], lifted["T_lift_sim"]
    rest = lifted["photo"]["object_poses"]
    T_world_base = np.asarray(lifted["photo"]["T_world_base"])
    plan_cfg = PlanConfig(robot_base=tuple(T_world_base.reshape(-1).tolist()))
    plan_cfg = replace(plan_cfg, motion=replace(plan_cfg.motion, **cfg.motion_options,
                                                fps=float(ecfg.control_freq)))
    render_cfg = RenderConfig(depth=False, labels=False, eps2d=cfg.render_eps2d,
                              robot=RobotConfig(spacing=cfg.robot_spacing_m,
                                                inset=cfg.robot_inset_m))
    if lifted.get("robot_mount") is not None:
        from ..outputs import atomic_write_bytes

        mount_path = atomic_write_bytes(Path(out).with_name(Path(out).name + "_robot_mount.ply"),
                                        Path(lifted["robot_mount"]).read_bytes())
        render_cfg = replace(render_cfg, robot=replace(render_cfg.robot,
                                                       mount=str(mount_path)))
    if lifted.get("robot_appearance") is not None:
        app_path = lifted["robot_appearance"].save(
            Path(out).with_name(Path(out).name + "_robot_appearance.npz"))
        render_cfg = replace(render_cfg, robot=replace(render_cfg.robot,
                                                       appearance=str(app_path)))
    ep_cfg = EpisodeConfig(
        rig=RigConfig(photo_camera=True, num_static_views=0, wrist_camera=False,
                      width=ecfg.width * cfg.supersample,
                      height=ecfg.height * cfg.supersample),
        render=render_cfg,
        plan=plan_cfg, variation=VariationConfig(enabled=False), action_kind="ee_6d",
        write_depth=False, write_labels=False)
    ctx = _VariationContext(scene, T_lift_sim, T_world_base, instruction, cfg, plan_cfg, ep_cfg,
                            tracking, cams)
    writer = _writer(Path(out), ecfg.control_freq, f"igen-gs from one {ecfg.task} photo")
    rng = np.random.default_rng(cfg.variation_seed)
    timings = {"lift": lifted.get("lift_seconds", 0.0), "plan": 0.0, "render": 0.0,
               "write": 0.0}
    failures: list[str] = []
    written = 0
    bar = _bar(num, f"generated {ecfg.task}", progress)
    # every variation's draws come from one generator, in order, written or not: the same
    # episode i whatever was written before or how many workers run
    jobs = []
    for i in range(num):
        sim_poses = sample_object_poses(rng, rest, ecfg, apart)
        T_start = start_pose(start, T_world_base, cfg.start_joint_noise_rad,
                             np.random.default_rng([cfg.variation_seed, i, 3]))
        T_start = jitter_start(T_start, rng, cfg.start_jitter_m, cfg.start_jitter_rad)
        if writer.has_episode(f"generated_{i:06d}"):
            written += 1
            bar.update(1)
            continue
        jobs.append((i, sim_poses, T_start, float(start.opening_m)))

    def take(i: int, res: dict[str, Any]) -> None:
        nonlocal written
        if "failed" in res:
            failures.append(res["failed"])
            return
        timings["plan"] += res["plan"]
        timings["render"] += res["render"]
        t0 = time.perf_counter()
        writer.add_episode(res["episode"])
        timings["write"] += time.perf_counter() - t0
        written += 1
        bar.update(1)

    try:
        if workers == 1 or len(jobs) <= 1:
            for job in jobs:
                take(job[0], _variation(ctx, *job))
        else:
            from ..batch.executors import LocalExecutor

            with tempfile.TemporaryDirectory(prefix="igen-generated-") as tmp:
                path = str(Path(tmp) / "context.pkl")
                with open(path, "wb") as f:
                    pickle.dump(ctx, f)
                done: dict[int, dict[str, Any]] = {}
                order = iter([job[0] for job in jobs])
                nxt = next(order, None)
                ex = LocalExecutor(workers, threads_per_worker=1)
                for item, ok, value in ex.map_unordered(_variation_job,
                                                        [(path, *job) for job in jobs]):
                    done[item[1]] = value if ok else {
                        "failed": f"generated_{item[1]:06d}: {value}"}
                    while nxt is not None and nxt in done:  # written in order
                        take(nxt, done.pop(nxt))
                        nxt = next(order, None)
    finally:
        bar.close()
        writer.close()
    return {"written": written, "failed": failures, "seconds": timings,
            "total_seconds": time.perf_counter() - t_all,
            "tracking": None if tracking is None else asdict(tracking)}


def replay_open_loop(dataset, env_config: RobosuiteConfig | None = None,
                     max_episodes: int | None = None, extra_steps: int = 10,
                     progress: bool = True, record=None) -> dict[str, Any]:
    """Execute each generated episode's actions open loop in robosuite, from its own
    variation's object poses (``sim_object_poses``) and its own start (the arm at the
    episode's first joint angles and finger opening, where it has them; else the photo's
    reset), through the same target-pose -> OSC conversion; success by the task's own check
    (at the end, after ``extra_steps`` more steps holding the last action). Returns
    per-episode results.

    With ``record`` (a directory), every successful replay is also written there as a LeRobot
    v3 episode (same key) holding what the simulator showed while executing it: its own
    ``agentview`` frames and proprioceptive states, one per action of the source episode, with
    those actions. A policy trained on it sees the generated plans but only the simulator's
    pictures, arm and dynamics, which separates the plans from the pictures. An interrupted
    recording resumes: episodes already written are not replayed again."""
    from ..io import load_lerobot_dataset
    from ..io.lerobot import EpisodeData
    from .control import MAX_OPENING_M, action_to_pose

    ecfg = env_config or RobosuiteConfig()
    ecfg = replace(ecfg, cameras=(CAMERA,) if record is not None else ())
    ds = load_lerobot_dataset(dataset)
    eps = ds.episodes[:max_episodes] if max_episodes else ds.episodes
    results = []
    writer = None
    with RobosuiteEnv(ecfg) as env:
        if record is not None:
            writer = _writer(Path(record), ecfg.control_freq,
                             f"{Path(dataset).name} executed open loop in robosuite "
                             f"{ecfg.task}")
            cams = _camera_info(env)
        bar = _bar(len(eps), "replay", progress)
        try:
            for ep in eps:
                poses = ep.extras.get("sim_object_poses")
                if poses is None:
                    raise ValueError(f"episode {ep.key} has no sim_object_poses: not a "
                                     "generated episode of this benchmark")
                if writer is not None and writer.has_episode(ep.key):
                    results.append({"key": ep.key, "success": True, "recorded": True})
                    bar.update(1)
                    continue
                env.reset(int(ep.extras.get("photo_seed", 0)))
                q = ep.extras.get("joint_positions")
                obs = env.set_state(
                    object_poses={n: np.asarray(P) for n, P in poses.items()},
                    joint_positions=None if q is None else np.asarray(q[0], dtype=np.float64),
                    opening_m=None if q is None else float(ep.state[0, 7]) * MAX_OPENING_M)
                acts = np.asarray(ep.action)
                seen = _Observed()
                for t, a in enumerate(list(acts) + [acts[-1]] * extra_steps):
                    if writer is not None and t < len(acts):
                        seen.add(obs)
                    T, g = action_to_pose(a)
                    obs = env.step_to(T, g)
                ok = bool(obs.success)
                results.append({"key": ep.key, "success": ok, "recorded": ok and
                                writer is not None})
                if ok and writer is not None:
                    writer.add_episode(EpisodeData(
                        key=ep.key, task=ep.task, frames={CAMERA: np.stack(seen.frames)},
                        state=np.stack(seen.states), action=acts.astype(np.float32), cameras=cams,
                        extras={"source": f"{ep.key} of {Path(dataset).name} executed open "
                                          "loop", "sim_object_poses": poses,
                                "photo_seed": int(ep.extras.get("photo_seed", 0))}))
                bar.update(1)
        finally:
            bar.close()
            if writer is not None:
                writer.close()
    n_ok = sum(r["success"] for r in results)
    return {"episodes": len(results), "successes": n_ok, "results": results,
            "recorded": sum(r["recorded"] for r in results)}


def sim_renders_of_episode(env: RobosuiteEnv, episode, frames: list[int] | None = None
                           ) -> dict[int, np.ndarray]:
    """The simulator's own render (agentview, the env's observation size) of a generated
    episode's states: objects at the episode's poses (lifted frames mapped to the simulator's
    bodies), arm joints at the planned angles, fingers at the planned opening. Frame index ->
    uint8 [H, W, 3]."""
    ex = episode.extras
    if ex.get("joint_positions") is None or "T_lift_sim" not in ex:
        raise ValueError(f"episode {episode.key} lacks joint_positions or T_lift_sim")
    q = np.asarray(ex["joint_positions"], dtype=np.float64)
    T_ls = {n: np.asarray(T) for n, T in ex["T_lift_sim"].items()}
    poses = episode.object_poses()
    opening = episode.state[:, 7] * 0.08
    cfg = env.config
    out = {}
    for t in (range(episode.length) if frames is None else frames):
        env.set_state(object_poses={n: poses[n][t] @ T_ls[n] for n in T_ls},
                      joint_positions=q[t], opening_m=float(opening[t]))
        out[t] = env.render(CAMERA, cfg.width, cfg.height)
    return out
