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
        if t[min(b, len(t) - 1)] - t[a] >= 0.25:  # room for a label
            ax3.text(t[a], traj.max_opening_m * 100, traj.phase[a], fontsize=6, rotation=90,
                     va="top")
    ax4 = fig.add_subplot(1, 2, 2)
    from matplotlib.lines import Line2D

    colours = matplotlib.colormaps["tab10"]
    handles = []
    for i, name in enumerate(scene.object_names):
        start = tf.to_task(object_points(scene, name, traj.object_poses[name][0]))
        end = tf.to_task(object_points(scene, name, traj.object_poses[name][-1]))
        c = colours(i % 10)
        ax4.scatter(-start[::7, 1], start[::7, 0], s=1, color=c, alpha=0.25)
        ax4.scatter(-end[::7, 1], end[::7, 0], s=1, color=c)
        handles.append(Line2D([], [], ls="", marker="o", ms=5, color=c, label=name))
    ax4.plot(-p[:, 1], p[:, 0], color="k", lw=1)
    handles.append(Line2D([], [], color="k", lw=1, label="TCP path"))
    closes = [i for i in range(1, len(t)) if traj.phase[i] == "close" and
              traj.phase[i - 1] != "close"]
    if closes:
        ax4.plot(-p[closes, 1], p[closes, 0], "kx", ms=7, zorder=5)
        handles.append(Line2D([], [], ls="", marker="x", ms=7, color="k", label="grasp"))
    ax4.set_aspect("equal")
    base = tf.to_task(traj.T_world_base[:3, 3][None])[0]
    (x0, x1), (y0, y1) = ax4.get_xlim(), ax4.get_ylim()
    if x0 <= -base[1] <= x1 and y0 <= base[0] <= y1:
        ax4.plot(-base[1], base[0], "k^", ms=8)
        handles.append(Line2D([], [], ls="", marker="^", ms=8, color="k", label="robot base"))
    else:  # off the plot: say where
        ax4.text(0.5, 0.01, f"robot base at right {-base[1]:+.2f} m, forward {base[0]:+.2f} m",
                 transform=ax4.transAxes, ha="center", va="bottom", fontsize=7)
    ax4.set_xlabel("right (m)")
    ax4.set_ylabel("forward (m)")
    ax4.set_title("top view (faint: start, solid: end)", fontsize=9)
    ax4.legend(handles=handles, fontsize=7, loc="upper right")
    fig.suptitle(traj.plan.instruction or "trajectory", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
