"""The embedded default job (``igen demo``): no downloads, no GPU.

1. build a synthetic tabletop world and ray-cast its photo and metric depth;
2. lift the photo (with its depth and the objects' masks) into a Gaussian scene -> ``scene/``;
3. plan "put the red block on the blue plate" -> ``trajectory.json`` / ``.npz``;
4. render the photo view, two more views and the wrist camera with the whole Franka Panda
   drawn in (every link posed by the planned joint angles; ``episode.render.robot.mode``);
5. write a LeRobot v3.0 dataset -> ``dataset/``, with previews -> ``previews/``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from .episode.config import EpisodeConfig, RigConfig, VariationConfig


@dataclass
class DemoConfig:
    """The demo's knobs."""

    out: Path = Path("outputs/demo")
    """Output directory (scene/, trajectory.*, dataset/, previews/)."""
    instruction: str = "put the red block on the blue plate"
    """What the robot should do."""
    seed: int = 0
    """World and episode seed."""
    photo_width: int = 640
    """Size of the synthetic photo that is lifted."""
    photo_height: int = 480
    stride: int = 2
    """Lift one Gaussian per stride x stride pixels (2 is plenty for 320x240 views)."""
    episode: EpisodeConfig = field(default_factory=lambda: EpisodeConfig(
        rig=RigConfig(width=320, height=240), variation=VariationConfig(enabled=False)))
    """Episode options (cameras, rendering, planning, actions)."""
    device: str | None = None
    """Where lifting and rendering run: "auto" (the first CUDA device when there is one, else
    the CPU), "cpu", "cuda" or "cuda:N"; sets episode.render.device (None: keep it, "auto")."""


def run_demo(cfg: DemoConfig, progress=None) -> dict:
    """Run the demo; ``progress(stage_name)`` is called before each stage. Returns a summary
    with the output paths and seconds per stage."""
    import shutil
    from dataclasses import replace

    from .device import resolve_device
    from .io import LeRobotWriter
    from .lifting import lift
    from .planning.actions import ACTION_NAMES, STATE_NAMES
    from .synthetic import make_tabletop_world

    if cfg.device is not None:
        resolve_device(cfg.device)  # a bad or unavailable device fails before any work
        cfg = replace(cfg, episode=replace(cfg.episode, render=replace(cfg.episode.render,
                                                                       device=cfg.device)))
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    times: dict[str, float] = {}

    def stage(name):
        if progress is not None:
            progress(name)
        return time.perf_counter()

    t = stage("synthetic photo")
    world = make_tabletop_world(cfg.seed)
    cam = world.default_camera(cfg.photo_width, cfg.photo_height)
    obs = world.render(cam)
    times["photo"] = time.perf_counter() - t

    t = stage("lift")
    scene = lift(obs["rgb"], obs["depth"], cam.K, masks=obs["masks"],
                 T_world_cam=cam.T_world_cam, stride=cfg.stride,
                 device=cfg.episode.render.device)
    scene.save(out / "scene")
    times["lift"] = time.perf_counter() - t

    from .episode.produce import pack_episode, render_trajectory
    from .planning import plan_task

    t = stage("plan")
    traj = plan_task(scene, cfg.instruction, cfg.episode.plan)
    traj.save(out / "trajectory.json")
    times["plan"] = time.perf_counter() - t

    t = stage("render")
    frames, rig = render_trajectory(scene, traj, cfg.episode)
    times["render"] = time.perf_counter() - t

    t = stage("write")
    dataset = out / "dataset"
    if dataset.exists():  # the demo always writes a fresh dataset
        shutil.rmtree(dataset)
    writer = LeRobotWriter(dataset, fps=int(traj.fps), state_names=STATE_NAMES,
                           action_names=ACTION_NAMES[cfg.episode.action_kind],
                           previews_dir=out / "previews",
                           extra_info={"source": "igen demo", "action_kind":
                                       cfg.episode.action_kind})
    ep = pack_episode(f"demo/{cfg.seed}", scene, traj, frames, cfg.episode, rig,
                      {"seed": cfg.seed, "world": "igen_gs.synthetic default tabletop"})
    writer.add_episode(ep)
    times["write"] = time.perf_counter() - t
    return {"out": str(out), "scene": str(out / "scene"),
            "trajectory": str(out / "trajectory.json"), "dataset": str(dataset),
            "previews": str(out / "previews"), "frames": len(traj),
            "cameras": frames.camera_names, "steps": [s.describe() for s in traj.plan.steps],
            "robot_mode": frames.robot_mode,
            "seconds": times}
