"""Episode generation speed.

Part 1, per stage, one process: a synthetic tabletop photo (640x480) is lifted with its depth
and masks; a pick-and-place is planned; 60 frames (the first 60 of the trajectory, 4 s at
15 Hz) are rendered from 4 cameras (photo view, two static views, wrist camera, all at one
resolution) with the whole Panda arm drawn in (the default robot mode); the frames are encoded
and written as a LeRobot v3.0 episode (videos, data, depth and label extras; previews off).
Resolutions 320x240 and 640x480; medians over --reps episodes. The same clip is also rendered
with the hand only and with no robot, in the same process, so the arm's cost is measured on
the same (possibly busy) machine, once per mode (columns "render hand", "render none") and
once with the three modes' frames interleaved: "arm/hand" is the ratio of the interleaved
render times, "arm share" the part of the arm's that the robot adds, (arm - none) / arm.

Part 2, throughput: episodes per hour of ``igen generate`` on a manifest of --jobs photos, with
2 local worker processes and with Ray (2 workers, local cluster), previews off, 320x240.

    python eval/bench_episode.py [--reps 3] [--jobs 4] [--resolutions 640x480]
                                 [--out eval/results/bench_episode.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
INSTRUCTION = "put the red block on the blue plate"


def rig(width: int, height: int):
    from igen_gs.episode.config import RigConfig

    return RigConfig(width=width, height=height, wrist_width=width, wrist_height=height,
                     num_static_views=2)


def one_episode(width: int, height: int, seed: int, workdir: Path) -> dict[str, float]:
    from igen_gs import lift
    from igen_gs.episode.config import EpisodeConfig, VariationConfig
    from igen_gs.episode.produce import pack_episode, render_trajectory
    from igen_gs.io import LeRobotWriter
    from igen_gs.planning import plan_task
    from igen_gs.planning.actions import ACTION_NAMES, STATE_NAMES
    from igen_gs.synthetic import make_tabletop_world

    world = make_tabletop_world(seed)
    cam = world.default_camera(640, 480)
    obs = world.render(cam)
    cfg = EpisodeConfig(rig=rig(width, height), variation=VariationConfig(enabled=False))
    times = {}
    t = time.perf_counter()
    scene = lift(obs["rgb"], obs["depth"], cam.K, masks=obs["masks"],
                 T_world_cam=cam.T_world_cam, stride=1 if width >= 640 else 2)
    times["lift"] = time.perf_counter() - t
    t = time.perf_counter()
    traj = plan_task(scene, INSTRUCTION, cfg.plan)
    times["plan"] = time.perf_counter() - t
    # The first 60 frames (a clip of the episode: approach and grasp).
    n = min(60, len(traj))
    clip = replace(traj, timestamps=traj.timestamps[:n], T_world_ee=traj.T_world_ee[:n],
                   gripper=traj.gripper[:n], gripper_opening_m=traj.gripper_opening_m[:n],
                   attached=traj.attached[:n],
                   object_poses={k: v[:n] for k, v in traj.object_poses.items()},
                   step_index=traj.step_index[:n], phase=traj.phase[:n],
                   joint_positions=None if traj.joint_positions is None
                   else traj.joint_positions[:n])
    from igen_gs.robot import RobotConfig

    for mode in ("none", "hand", "arm"):  # arm last: its frames are the ones written
        mcfg = replace(cfg, render=replace(cfg.render, robot=RobotConfig(mode=mode)))
        t = time.perf_counter()
        frames, r = render_trajectory(scene, clip, mcfg)
        times[f"render_{mode}"] = time.perf_counter() - t
    assert frames.robot_mode == "arm"
    times["render"] = times["render_arm"]
    times["arm_gaussians"] = frames.robot_gaussians
    times.update(interleaved(scene, clip, cfg))
    ep = pack_episode(f"bench/{seed}", scene, clip, frames, cfg, r)
    root = workdir / f"ds-{width}-{seed}"
    shutil.rmtree(root, ignore_errors=True)
    writer = LeRobotWriter(root, fps=int(traj.fps), state_names=STATE_NAMES,
                           action_names=ACTION_NAMES[cfg.action_kind], previews=False)
    t = time.perf_counter()
    writer.add_episode(ep)
    times["encode+write"] = time.perf_counter() - t
    times["total"] = sum(times[k] for k in ("lift", "plan", "render", "encode+write"))
    times["frames"] = n
    times["cameras"] = len(frames.camera_names)
    return times


def interleaved(scene, clip, cfg) -> dict[str, float]:
    """Render seconds per mode with the three modes' frames interleaved (frame t with no
    robot, the hand, the arm, then t + 1, ...), so a busy machine slows all three alike."""
    from dataclasses import replace as dc_replace

    import torch

    from igen_gs.episode.render import EpisodeRenderer, _check_trajectory
    from igen_gs.episode.rigs import make_rig
    from igen_gs.robot import RobotConfig

    rig = make_rig(scene, cfg.rig)
    T_ee, opening, poses = _check_trajectory(clip.T_world_ee, clip.gripper_opening_m,
                                             clip.object_poses, scene)
    rs = {m: EpisodeRenderer(scene, poses, rig, dc_replace(cfg.render, robot=RobotConfig(mode=m)),
                             None, clip.joint_positions, clip.T_world_base)
          for m in ("none", "hand", "arm")}
    secs = dict.fromkeys(rs, 0.0)
    with torch.no_grad():
        for t in range(len(clip)):
            for m, r in rs.items():
                t0 = time.perf_counter()
                r.render_frame(t, T_ee[t], float(opening[t]))
                secs[m] += time.perf_counter() - t0
    return {f"interleaved_{m}": v for m, v in secs.items()}


def throughput(executor: str, jobs: int, workdir: Path) -> dict[str, float]:
    from PIL import Image

    from igen_gs.batch.generate import generate_dataset
    from igen_gs.batch.generate_config import GenerateConfig
    from igen_gs.episode.config import EpisodeConfig
    from igen_gs.imageio import write_depth_png, write_rgb
    from igen_gs.synthetic import make_tabletop_world

    d = workdir / f"jobs-{executor}"
    d.mkdir(parents=True, exist_ok=True)
    lines = []
    for j in range(jobs):
        world = make_tabletop_world(100 + j)
        cam = world.default_camera(320, 240)
        obs = world.render(cam)
        write_rgb(d / f"photo{j}.png", obs["rgb"])
        write_depth_png(d / f"depth{j}.png", obs["depth"])
        masks = {}
        for name, m in obs["masks"].items():
            p = d / f"mask{j}_{name.replace(' ', '_')}.png"
            Image.fromarray(m.astype(np.uint8) * 255).save(p)
            masks[name] = str(p)
        K = cam.K.numpy()
        lines.append(json.dumps({"id": f"job{j}", "image": str(d / f"photo{j}.png"),
                                 "depth": str(d / f"depth{j}.png"), "masks": masks,
                                 "intrinsics": [K[0, 0], K[1, 1], K[0, 2], K[1, 2]],
                                 "instruction": INSTRUCTION, "seed": j, "variations": 1}))
    (d / "jobs.jsonl").write_text("\n".join(lines) + "\n")
    cfg = GenerateConfig(executor=executor, workers=2, previews=False,
                         episode=EpisodeConfig(rig=rig(320, 240)))
    out = d / "ds"
    shutil.rmtree(out, ignore_errors=True)
    t = time.perf_counter()
    s = generate_dataset(d / "jobs.jsonl", out, cfg, progress=False)
    secs = time.perf_counter() - t
    return {"episodes": len(s["written"]), "failed": len(s["failed"]), "seconds": secs,
            "episodes_per_hour": 3600 * len(s["written"]) / secs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=4)
    ap.add_argument("--out", default=str(REPO / "eval/results/bench_episode.json"))
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--resolutions", nargs="+", default=["320x240", "640x480"],
                    help="per-stage part at these WxH")
    a = ap.parse_args()
    from rich.console import Console
    from rich.table import Table

    workdir = Path(tempfile.mkdtemp(prefix="igen-bench-episode-"))
    result = {"command": " ".join(["python", *sys.argv]), "per_stage": {}}
    # The robot's link Gaussians are built once per process (then cached): timed apart.
    from igen_gs.robot.gaussians import robot_gaussians
    from igen_gs.robot.model import load_robot

    t0 = time.perf_counter()
    robot_gaussians(load_robot())
    result["robot_build_seconds"] = time.perf_counter() - t0
    con = Console(width=120)
    t = Table(title="one episode, 60 frames x 4 cameras, arm drawn (median seconds)")
    for c in ("resolution", "lift", "plan", "render", "encode+write", "total", "render hand",
              "render none", "arm/hand", "arm share", "arm Gaussians"):
        t.add_column(c, justify="right")
    for w, h in (tuple(int(v) for v in r.split("x")) for r in a.resolutions):
        runs = [one_episode(w, h, seed, workdir) for seed in range(a.reps)]
        for r in runs:
            r["arm/hand"] = r["interleaved_arm"] / r["interleaved_hand"]
            r["arm_share"] = (r["interleaved_arm"] - r["interleaved_none"]) / r["interleaved_arm"]
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        result["per_stage"][f"{w}x{h}"] = {"median": med, "runs": runs}
        t.add_row(f"{w}x{h}", *[f"{med[k]:.2f}" for k in ("lift", "plan", "render",
                                                           "encode+write", "total",
                                                           "render_hand", "render_none",
                                                           "arm/hand")],
                  f"{100 * med['arm_share']:.0f} %", f"{med['arm_gaussians']:.0f}")
    con.print(t)
    con.print(f"robot model + link Gaussians built once per process in "
              f"{result['robot_build_seconds']:.1f} s (not in the table)")
    if not a.skip_throughput:
        tt = Table(title=f"igen generate, {a.jobs} photos, 2 workers, 320x240 x 4 cameras")
        for c in ("executor", "episodes", "seconds", "episodes/hour"):
            tt.add_column(c, justify="right")
        result["throughput"] = {}
        for ex in ("local", "ray"):
            r = throughput(ex, a.jobs, workdir)
            result["throughput"][ex] = r
            tt.add_row(ex, str(r["episodes"]), f"{r['seconds']:.1f}",
                       f"{r['episodes_per_hour']:.0f}")
        con.print(tt)
    shutil.rmtree(workdir, ignore_errors=True)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=float))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
