"""robosuite as the judge: a client for the environment server that runs in robosuite's own
virtual environment (:mod:`igen_gs.envs.robosuite_server`).

Why a bridge and not an extra: robosuite 1.5.2 needs ``mujoco<3.4`` and pulls ``mink``, which
takes NumPy down to 1.26, and ``opencv-python`` beside our ``opencv-python-headless``. So it
lives in its own venv (default ``~/.cache/igen-gs/robosuite-1.5.2-venv``, or the interpreter in
``IGEN_ROBOSUITE_PYTHON``) and this client drives it over stdin/stdout pipes with
:mod:`igen_gs.envs.wire` messages -- the pattern openpi uses to evaluate policies in LIBERO.

Observations: RGB of the chosen cameras (``agentview`` by default, ``robot0_eye_in_hand``
optional) at a small size (84 x 84 by default), top row first, plus the privileged state the
server reports (TCP pose, base pose, finger opening, arm joints, object poses, success). The
policy sees the images and :meth:`Observation.policy_state` (TCP pose and gripper in the base
frame) only.

Resets are deterministic per seed (robot noise and object placement draw from one generator
seeded at each reset). The initial-state range can be widened (default here: +-10 cm about the
table centre and any yaw, instead of Lift's +-3 cm) so that a controller blind to the images
cannot succeed by assuming the nominal pose.
"""

from __future__ import annotations

import logging
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import wire
from .control import MAX_OPENING_M, osc_command, state_vector

log = logging.getLogger(__name__)

DEFAULT_VENV = Path.home() / ".cache" / "igen-gs" / "robosuite-1.5.2-venv"
SERVER = Path(__file__).resolve().parent / "robosuite_server.py"
INSTALL_HINT = ("python3 -m venv ~/.cache/igen-gs/robosuite-1.5.2-venv && "
                "~/.cache/igen-gs/robosuite-1.5.2-venv/bin/pip install robosuite==1.5.2 "
                "'mujoco<3.4' h5py")
ROBOT_INSTANCES = ("Panda0", "PandaGripper0_right")
"""robosuite instance names of the robot that moves (its mask, for lifting with erase; the
static mount stays in the background unless it is drawn with the robot, :func:`mount_mesh`)."""
MOUNT_INSTANCE = "RethinkMount0"
"""robosuite's instance name of the pedestal the Panda stands on."""


def robosuite_python() -> Path | None:
    """The interpreter of robosuite's venv: ``IGEN_ROBOSUITE_PYTHON`` or the default venv's,
    None when neither exists."""
    env = os.environ.get("IGEN_ROBOSUITE_PYTHON")
    if env:
        return Path(env) if Path(env).is_file() else None
    p = DEFAULT_VENV / "bin" / "python"
    return p if p.is_file() else None


@dataclass
class RobosuiteConfig:
    """A robosuite task as the benchmark uses it (lengths in metres, angles in radians)."""

    task: str = "Lift"
    """Single-arm Panda task (Lift, Stack, ...)."""
    cameras: tuple[str, ...] = ("agentview",)
    """Cameras whose RGB the policy sees (``robot0_eye_in_hand`` is the wrist camera)."""
    width: int = 84
    """Image width of the observations."""
    height: int = 84
    """Image height of the observations."""
    placement_xy_m: float | None = 0.10
    """Objects start within +- this of the table centre (None: the task's own range)."""
    any_yaw: bool = True
    """Objects start at any yaw (with ``placement_xy_m``)."""
    horizon_steps: int = 160
    """Steps of a rollout (at ``control_freq``)."""
    control_freq: int = 20
    """Control rate, Hz."""
    model_seed: int = 0
    """Seed of the environment's construction (object sizes); resets take their own."""
    python: str | None = None
    """robosuite venv interpreter (None: :func:`robosuite_python`)."""

    def placement(self) -> dict | None:
        if self.placement_xy_m is None:
            return None
        r = float(self.placement_xy_m)
        return {"x_range": [-r, r], "y_range": [-r, r],
                "yaw_range": None if self.any_yaw else [0.0, 0.0]}


@dataclass
class Observation:
    """One step's observation and privileged state (world frame unless named)."""

    images: dict[str, np.ndarray]
    T_world_tcp: np.ndarray
    T_world_base: np.ndarray
    opening_m: float
    joint_positions: np.ndarray
    object_poses: dict[str, np.ndarray]
    success: bool
    reward: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def T_base_tcp(self) -> np.ndarray:
        return np.linalg.inv(self.T_world_base) @ self.T_world_tcp

    @property
    def gripper(self) -> float:
        """Normalised finger opening (0 closed, 1 = 8 cm)."""
        return float(np.clip(self.opening_m / MAX_OPENING_M, 0.0, 1.0))

    def policy_state(self, previous_quat: np.ndarray | None = None) -> np.ndarray:
        """x, y, z, qw, qx, qy, qz, gripper in the base frame (float32 [8])."""
        return state_vector(self.T_base_tcp, self.gripper, previous_quat)

    @classmethod
    def from_reply(cls, r: dict) -> Observation:
        return cls(images=r.get("images", {}), T_world_tcp=r["T_world_tcp"],
                   T_world_base=r["T_world_base"], opening_m=float(r["opening_m"]),
                   joint_positions=r["joint_positions"], object_poses=r["object_poses"],
                   success=bool(r["success"]), reward=float(r.get("reward", 0.0)),
                   extra={k: v for k, v in r.items() if k in ("rgb", "depth", "masks", "K",
                                                              "T_world_cam")})


class RobosuiteEnv:
    """One robosuite environment in a server process (see the module docstring). Use as a
    context manager, or call :meth:`close`."""

    def __init__(self, config: RobosuiteConfig | None = None):
        self.config = cfg = config or RobosuiteConfig()
        py = Path(cfg.python) if cfg.python else robosuite_python()
        if py is None or not py.is_file():
            raise ValueError("robosuite's venv is not installed (set IGEN_ROBOSUITE_PYTHON or "
                             f"run: {INSTALL_HINT})")
        self._log = tempfile.NamedTemporaryFile(prefix="igen-robosuite-", suffix=".log",
                                                delete=False)
        env = {**os.environ, "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl"),
               "PYTHONPATH": "", "OMP_NUM_THREADS": "1"}
        self._proc = subprocess.Popen([str(py), str(SERVER)], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=self._log, env=env)
        try:
            self.info = self._call("make", task=cfg.task, seed=cfg.model_seed,
                                   cameras=list(cfg.cameras), width=cfg.width,
                                   height=cfg.height, placement=cfg.placement(),
                                   horizon=cfg.horizon_steps + 10,
                                   control_freq=cfg.control_freq)
        except BaseException:
            self.close()
            raise
        self._last: Observation | None = None

    # ------------------------------------------------------------------ plumbing
    def _call(self, cmd: str, **kwargs) -> dict:
        if self._proc.poll() is not None:
            raise RuntimeError(f"the robosuite server exited ({self._proc.returncode}); "
                               f"log: {self._log_tail()}")
        try:
            wire.write_message(self._proc.stdin, {"cmd": cmd, **kwargs})
            reply = wire.read_message(self._proc.stdout)
        except (EOFError, BrokenPipeError) as e:
            raise RuntimeError(f"the robosuite server died during {cmd!r} ({e}); log: "
                               f"{self._log_tail()}") from None
        if not reply.pop("ok", False):
            raise ValueError(f"robosuite {cmd}: {reply.get('error')}")
        return reply

    def _log_tail(self) -> str:
        try:
            lines = Path(self._log.name).read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(lines[-3:]) or "(empty)"

    def close(self) -> None:
        if getattr(self, "_proc", None) is None:
            return
        if self._proc.poll() is None:
            try:
                self._call("close")
            except (RuntimeError, ValueError):
                pass
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        for s in (self._proc.stdin, self._proc.stdout):
            if s is not None:
                s.close()
        self._log.close()
        Path(self._log.name).unlink(missing_ok=True)
        self._proc = None

    def __enter__(self) -> RobosuiteEnv:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass

    # ------------------------------------------------------------------ episodes
    @property
    def object_names(self) -> list[str]:
        return list(self.info["objects"])

    def reset(self, seed: int) -> Observation:
        """The initial state of ``seed`` (the same seed, the same state)."""
        self._last = Observation.from_reply(self._call("reset", seed=int(seed)))
        return self._last

    def step_raw(self, action: np.ndarray) -> Observation:
        """One control step with a raw controller input [7] (OSC delta + gripper)."""
        self._last = Observation.from_reply(self._call("step", action=np.asarray(
            action, np.float64)))
        return self._last

    def step_to(self, T_base_target: np.ndarray, gripper: float) -> Observation:
        """One control step towards a target TCP pose (base frame) and gripper opening
        (normalised) -- the one conversion every data source and policy goes through."""
        if self._last is None:
            raise ValueError("reset the environment before stepping")
        return self.step_raw(osc_command(self._last.T_base_tcp, T_base_target, gripper,
                                         self._last.gripper))

    def state(self) -> Observation:
        return Observation.from_reply(self._call("state"))

    def set_state(self, object_poses: dict[str, np.ndarray] | None = None,
                  joint_positions: np.ndarray | None = None,
                  opening_m: float | None = None) -> Observation:
        """Place the objects (their simulator bodies' ``T_world_obj``), arm joints and fingers
        and return the state; the next step's controller starts from there."""
        r = self._call("set_state", object_poses=object_poses, joint_positions=joint_positions,
                       opening_m=opening_m)
        self._last = Observation.from_reply({**r, "images": self.render_images()})
        return self._last

    def render_images(self) -> dict[str, np.ndarray]:
        cfg = self.config
        return {c: self._call("render", camera=c, width=cfg.width, height=cfg.height)["rgb"]
                for c in cfg.cameras}

    def render(self, camera: str, width: int, height: int) -> np.ndarray:
        return self._call("render", camera=camera, width=width, height=height)["rgb"]

    def mount(self) -> dict[str, np.ndarray]:
        """The robot's mount (:data:`MOUNT_INSTANCE`) as drawn now, one triangle mesh in the
        world frame: ``vertices`` [V, 3] metres, ``faces`` [F, 3], ``face_rgb`` [F, 3]."""
        return self._call("mount", instance=MOUNT_INSTANCE)

    def capture(self, camera: str = "agentview", width: int = 256, height: int = 256
                ) -> dict[str, Any]:
        """A photo of the current state for lifting: ``rgb`` uint8 [H, W, 3], ``depth``
        float32 metres [H, W], ``masks`` (robosuite instance -> bool [H, W]), ``K`` [3, 3],
        ``T_world_cam`` [4, 4] (OpenCV axes), plus the state (poses, joints)."""
        return self._call("capture", camera=camera, width=int(width), height=int(height))


def lift_inputs(photo: dict[str, Any], objects: list[str], mount: bool = False
                ) -> dict[str, Any]:
    """The inputs of :func:`igen_gs.lift` from a :meth:`RobosuiteEnv.capture`: image, metric
    depth, K, T_world_cam, the task objects' masks, the robot's mask (for ``erase``; with
    ``mount``, the mount's pixels too: the pixels an appearance fit of a robot drawn with its
    mount colours it from) and the robot base pose."""
    masks = photo["masks"]
    missing = [o for o in objects if o not in masks]
    if missing:
        raise ValueError(f"no instance mask for {', '.join(missing)} "
                         f"(instances: {', '.join(masks)})")
    robot = _union(masks, ROBOT_INSTANCES + ((MOUNT_INSTANCE,) if mount else ()),
                   photo["depth"].shape)
    return {"image": photo["rgb"], "depth": photo["depth"], "K": photo["K"],
            "T_world_cam": photo["T_world_cam"],
            "masks": {o: masks[o] for o in objects if masks[o].any()},
            "robot_mask": robot, "T_world_base": photo["T_world_base"],
            "object_poses": photo["object_poses"]}


def mount_mesh(mount: dict[str, np.ndarray], photo: dict[str, Any], margin_m: float = 0.02,
               grow_px: int = 2, max_edge_m: float = 0.01):
    """The part of the robot's mount (:meth:`RobosuiteEnv.mount`) that the photo's camera can
    ever see, as a ``trimesh.Trimesh`` in the robot base frame with face colours (for
    ``RobotConfig.mount``). The mount is static, so a face is kept when a vertex or its
    centroid falls on a pixel that shows the robot (the arm may move away and reveal it) or
    the mount no more than ``margin_m`` behind the photo's depth there (both masks grown by
    ``grow_px`` pixels; faces first split to edges of at most ``max_edge_m``); faces outside
    the image, behind the table or behind the mount's own front are dropped: the pedestal is
    a metre tall, and Gaussians where no camera looks cost time and show nothing (Lift's
    agentview at 168 x 168 keeps 0.50 m^2 of it, about 150k Gaussians at 2 mm)."""
    import trimesh

    v, f, rgb = (np.asarray(mount["vertices"], np.float64), np.asarray(mount["faces"], np.int64),
                 np.asarray(mount["face_rgb"], np.float64))
    # large faces (a pedestal's flat sides) are split first, so that the test below, which
    # looks at a face's corners and centre, sees every part of them
    v, f, idx = trimesh.remesh.subdivide_to_size(v, f, max_edge=max_edge_m, return_index=True)
    rgb = rgb[idx]
    K, T_wc = np.asarray(photo["K"], np.float64), np.asarray(photo["T_world_cam"], np.float64)
    depth = np.asarray(photo["depth"], np.float64)
    H, W = depth.shape
    robot = _grow(_union(photo["masks"], ROBOT_INSTANCES, (H, W)), grow_px)
    own = _grow(_union(photo["masks"], (MOUNT_INSTANCE,), (H, W)), grow_px)
    pts = np.concatenate([v[f].mean(1)[:, None], v[f]], 1)  # [F, 4, 3] centroid, corners
    T_cw = np.linalg.inv(T_wc)
    pc = pts @ T_cw[:3, :3].T + T_cw[:3, 3]
    z = pc[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.floor(K[0, 0] * pc[..., 0] / z + K[0, 2]).astype(np.int64)
        r = np.floor(K[1, 1] * pc[..., 1] / z + K[1, 2]).astype(np.int64)
    inside = (z > 1e-6) & (u >= 0) & (u < W) & (r >= 0) & (r < H)
    uc, rc = np.clip(u, 0, W - 1), np.clip(r, 0, H - 1)
    seen = inside & (robot[rc, uc] | (own[rc, uc] & (z <= depth[rc, uc] + margin_m)))
    keep = seen.any(1)
    if not keep.any():
        raise ValueError("the photo shows no part of the robot's mount")
    T_bw = np.linalg.inv(np.asarray(photo["T_world_base"], np.float64))
    vb = v @ T_bw[:3, :3].T + T_bw[:3, 3]
    used, f_new = np.unique(f[keep], return_inverse=True)
    rgb = np.clip(np.round(rgb[keep] * 255), 0, 255)
    mesh = trimesh.Trimesh(vb[used], f_new.reshape(-1, 3), process=False)
    mesh.visual.face_colors = np.concatenate(
        [rgb.astype(np.uint8), np.full((len(rgb), 1), 255, np.uint8)], 1)
    return mesh


def _union(masks: dict[str, np.ndarray], names, shape) -> np.ndarray:
    """bool [H, W]: the pixels of any of the instances ``names`` that ``masks`` has."""
    out = np.zeros(shape, dtype=bool)
    for name in names:
        if name in masks:
            out |= masks[name]
    return out


def _grow(mask: np.ndarray, px: int) -> np.ndarray:
    """``mask`` dilated by ``px`` pixels (a square neighbourhood)."""
    from scipy.ndimage import binary_dilation

    return binary_dilation(mask, np.ones((2 * px + 1, 2 * px + 1), bool)) if px > 0 else mask
