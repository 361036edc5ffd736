"""``igen render-episode``: a scene and a planned trajectory -> a one-episode dataset."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from igen_gs.episode.config import EpisodeConfig


@dataclass
class RenderEpisodeCommand:
    """Render a trajectory (from igen plan) on a scene from the rig's cameras with the robot
    drawn in (the whole arm posed by the planned joint angles; --config.render.robot.mode
    hand|none for the hand only or nothing, --config.render.robot.urdf for another robot), and
    append it to a LeRobot v3.0 dataset (with previews)."""

    scene: Path
    """Scene directory."""
    plan: Path
    """Trajectory written by igen plan (.json with its .npz)."""
    out: Path = Path("outputs/episode")
    """Dataset directory (created with its first episode, or an igen-gs dataset appended
    to; any other non-empty directory is refused)."""
    config: EpisodeConfig = field(default_factory=EpisodeConfig)
    """Cameras, rendering and action options."""

    def main(self) -> None:
        from igen_gs.episode.produce import pack_episode, render_trajectory
        from igen_gs.io import LeRobotWriter
        from igen_gs.io.lerobot import claim_dataset
        from igen_gs.planning import Trajectory
        from igen_gs.planning.actions import ACTION_NAMES, STATE_NAMES
        from igen_gs.scene import Scene

        claim_dataset(self.out)  # before any work: a bad --out fails now
        scene = Scene.load(self.scene)
        traj = Trajectory.load(self.plan)
        missing = set(traj.object_poses) - set(scene.object_names)
        if missing:
            raise ValueError(f"the trajectory moves objects the scene does not have: "
                             f"{', '.join(sorted(missing))}")
        # Opened before rendering: a dataset that cannot take this episode fails now.
        writer = LeRobotWriter(self.out, fps=int(traj.fps), state_names=STATE_NAMES,
                               action_names=ACTION_NAMES[self.config.action_kind])
        key = f"{self.scene.resolve().name}/{Path(self.plan).stem}"
        if writer.has_episode(key):
            raise ValueError(f"{self.out} already holds episode {key!r}")
        self.config.render.progress = sys.stderr.isatty()
        frames, rig = render_trajectory(scene, traj, self.config)
        idx = writer.add_episode(pack_episode(key, scene, traj, frames, self.config, rig))
        print(f"wrote episode {idx} ({len(traj)} frames x {len(frames.camera_names)} cameras: "
              f"{', '.join(frames.camera_names)}) to {self.out}; "
              f"render {frames.render_seconds:.1f} s")


COMMAND = ("render-episode", RenderEpisodeCommand)
