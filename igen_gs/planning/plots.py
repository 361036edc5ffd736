"""Pictures of a trajectory: position, speed and gripper over time, and a top view."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..scene.scene import Scene
from .geometry import object_points, task_frame
from .types import Trajectory


def plot_trajectory(traj: Trajectory, scene: Scene, path) -> Path:
    """Write a PNG with (left) TCP position in the task frame, speed and gripper opening over
    time, phases shaded, and (right) a top view of the objects' start and end positions and
    the TCP path. Returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tf = task_frame(scene)
    t = traj.timestamps
    p = tf.to_task(traj.T_world_ee[:, :3, 3])
    v = np.r_[0.0, np.linalg.norm(np.diff(p, axis=0), axis=1) * traj.fps]
    fig = plt.figure(figsize=(12, 6), dpi=100)
    ax1 = fig.add_subplot(3, 2, 1)
    for i, lab in enumerate(("forward x", "left y", "up z")):
        ax1.plot(t, p[:, i], label=lab)
    ax1.set_ylabel("TCP position (m)")
    ax1.legend(fontsize=7, loc="upper right")
    ax2 = fig.add_subplot(3, 2, 3, sharex=ax1)
    ax2.plot(t, v, color="k")
    ax2.set_ylabel("speed (m/s)")
    ax3 = fig.add_subplot(3, 2, 5, sharex=ax1)
    ax3.plot(t, traj.gripper_opening_m * 100, color="tab:purple")
    ax3.set_ylabel("opening (cm)")
    ax3.set_xlabel("time (s)")
    # Shade the phases.
    edges = [0] + [i for i in range(1, len(t)) if traj.phase[i] != traj.phase[i - 1]] + [len(t)]
    for k, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
        for ax in (ax1, ax2, ax3):
            ax.axvspan(t[a], t[min(b, len(t) - 1)], color="0.9" if k % 2 else "1.0", zorder=0)
        ax3.text(t[a], ax3.get_ylim()[1] if False else traj.gripper_opening_m.max() * 100,
                 traj.phase[a], fontsize=6, rotation=90, va="top")
    ax4 = fig.add_subplot(1, 2, 2)
    colours = matplotlib.colormaps["tab10"]
    for i, name in enumerate(scene.object_names):
        start = tf.to_task(object_points(scene, name, traj.object_poses[name][0]))
        end = tf.to_task(object_points(scene, name, traj.object_poses[name][-1]))
        c = colours(i % 10)
        ax4.scatter(-start[::7, 1], start[::7, 0], s=1, color=c, alpha=0.25)
        ax4.scatter(-end[::7, 1], end[::7, 0], s=1, color=c, label=name)
    ax4.plot(-p[:, 1], p[:, 0], color="k", lw=1, label="TCP path")
    ax4.set_aspect("equal")
    ax4.set_xlabel("right (m)")
    ax4.set_ylabel("forward (m)")
    ax4.set_title("top view (faint: start, solid: end)", fontsize=9)
    ax4.legend(fontsize=7, markerscale=6, loc="upper right")
    fig.suptitle(traj.plan.instruction or "trajectory", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
