"""How fast the whole arm is drawn into frames (the robosuite benchmark's costliest stage).

A built-in tabletop scene with the Panda at 2 mm Gaussian spacing (about 230k Gaussians, as the
benchmark's default robot; the benchmark adds robosuite's mount to the base link), 60 frames of
a joint trajectory (the arm moving for 40 frames, then resting while only the fingers open), one
static camera at the policy's supersampled 168x168 and at 640x480. Three ways, each frame of
the three interleaved so that a busy machine slows all alike, in one process:

* ``per-Gaussian`` (the baseline, the path before 2026-12-03): every Gaussian posed by its own
  link transform (``pose_links_reference``), all of them rasterized;
* ``link by link``: :class:`igen_gs.episode.render.EpisodeRenderer` with every Gaussian drawn
  (``RobotConfig.backface_cos=None``): one matmul per link, unchanged links reused;
* ``back faces out``: the same with the default ``backface_cos=-0.1``.

Prints median milliseconds per frame and the ratio to the baseline, the Gaussians drawn, and
the PSNR of each way's frames against the baseline's; writes JSON.

    python eval/bench_arm.py [--frames 60] [--threads 1] [--out eval/results/bench_arm.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
Q0 = np.array([0.2, -0.3, 0.1, -2.2, 0.0, 2.0, 0.8])


def trajectory(n: int) -> tuple[np.ndarray, np.ndarray]:
    """[n, 7] joint angles (moving for the first two thirds, then resting) and [n] openings
    (closed, opening in the last third)."""
    s = np.minimum(np.arange(n), 2 * n // 3) / max(n - 1, 1)
    q = Q0 + np.outer(np.sin(np.pi * s), [0.4, 0.3, -0.2, 0.4, 0.3, -0.3, 0.5])
    opening = np.where(np.arange(n) < 2 * n // 3, 0.02, np.linspace(0.02, 0.08, n))
    return q, opening


class PerGaussian:
    """The baseline: the scene plus every robot Gaussian, posed per Gaussian, rasterized."""

    def __init__(self, scene, robot, rg, T_world_base, cam, eps2d):
        import torch

        from igen_gs.render.sh import sh_colors

        self.robot, self.rg, self.Tb, self.cam, self.eps2d = robot, rg, T_world_base, cam, eps2d
        bg = scene.background
        objs = [f.transform(scene.poses[n]) for n, f in scene.objects.items()]
        self.static = [torch.cat([bg.means, *[o.means for o in objs]]),
                       torch.cat([bg.quats, *[o.quats for o in objs]]),
                       torch.cat([bg.scales, *[o.scales for o in objs]]),
                       torch.cat([bg.opacities, *[o.opacities for o in objs]]),
                       torch.cat([sh_colors(f.sh, f.means, None) for f in [bg, *objs]])]

    def render(self, q, opening):
        import torch

        from igen_gs.render import rasterization
        from igen_gs.robot.gaussians import pose_links_reference

        means, quats, rgb = pose_links_reference(
            self.rg, self.rg.link_transforms(self.Tb, q, opening))
        m, qu, sc, op, col = self.static
        viewmat = torch.linalg.inv(self.cam.T_world_cam)[None].float()
        img, _, _ = rasterization(
            torch.cat([m, means]), torch.cat([qu, quats]), torch.cat([sc, self.rg.scales]),
            torch.cat([op, self.rg.opacities]), torch.cat([col, rgb]), viewmat,
            self.cam.K[None].float(), self.cam.width, self.cam.height,
            backgrounds=torch.zeros(1, 3), eps2d=self.eps2d, return_meta=False)
        return (img[0].clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy()


def run(width: int, height: int, frames: int) -> dict:
    import torch

    from igen_gs.episode.config import RenderConfig, RigConfig
    from igen_gs.episode.render import EpisodeRenderer, _check_trajectory
    from igen_gs.episode.rigs import make_rig
    from igen_gs.robot.config import RobotConfig
    from igen_gs.robot.gaussians import robot_gaussians
    from igen_gs.robot.model import load_robot
    from igen_gs.scene.builtin import builtin_camera, builtin_scene

    scene = builtin_scene(spacing=0.006)
    scene.camera = builtin_camera(width, height)
    robot = load_robot()
    Tb = np.eye(4)
    Tb[:3, 3] = np.array([0.0, 0.35, 0.45]) - robot.link_poses(Q0)["panda_link4"][:3, 3]
    q, opening = trajectory(frames)
    T_ee = np.stack([Tb @ robot.tcp_pose(qq) for qq in q])
    rig = make_rig(scene, RigConfig(num_static_views=0, wrist_camera=False, width=width,
                                    height=height))
    T_ee, op, poses = _check_trajectory(T_ee, opening, {}, scene)
    eps2d = 0.01  # the robosuite benchmark's
    ways = {}
    for name, cos in (("link by link", None), ("back faces out", -0.1)):
        cfg = RenderConfig(depth=False, labels=False, eps2d=eps2d,
                           robot=RobotConfig(spacing=0.002, inset=0.001, backface_cos=cos))
        ways[name] = EpisodeRenderer(scene, poses, rig, cfg, None, q, Tb)
    rg = robot_gaussians(robot, 0.002, 0.001)
    base = PerGaussian(scene, robot, rg, Tb, rig.static[0], eps2d)
    secs = {"per-Gaussian": [], **{k: [] for k in ways}}
    psnr = {k: [] for k in ways}
    drawn = {k: [] for k in ways}
    with torch.no_grad():
        for t in range(frames):
            t0 = time.perf_counter()
            ref = base.render(q[t], float(op[t]))
            secs["per-Gaussian"].append(time.perf_counter() - t0)
            for name, r in ways.items():
                t0 = time.perf_counter()
                img = r.render_frame(t, T_ee[t], float(op[t]))["photo"]["rgb"]
                secs[name].append(time.perf_counter() - t0)
                mse = float(((img.astype(float) - ref.astype(float)) ** 2).mean())
                psnr[name].append(99.0 if mse == 0 else 10 * np.log10(255.0 ** 2 / mse))
                drawn[name].append(len(r._arm(rig.static)["means"]))
    med = {k: 1000 * statistics.median(v) for k, v in secs.items()}
    return {"size": [width, height], "frames": frames, "robot_gaussians": len(rg),
            "ms_per_frame_median": med,
            "ratio_to_per_gaussian": {k: med["per-Gaussian"] / v for k, v in med.items()},
            "robot_gaussians_drawn_median": {"per-Gaussian": len(rg),
                                             **{k: statistics.median(v)
                                                for k, v in drawn.items()}},
            "psnr_vs_per_gaussian_min": {k: min(v) for k, v in psnr.items()}}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=60)
    p.add_argument("--threads", type=int, default=1, help="torch and kernel threads")
    p.add_argument("--sizes", nargs="+", default=["168x168", "640x480"], metavar="WxH")
    p.add_argument("--out", type=Path, default=REPO / "eval" / "results" / "bench_arm.json")
    a = p.parse_args(argv)
    if a.frames < 2 or a.threads < 1:
        p.error("--frames must be at least 2 and --threads at least 1")
    import torch
    from rich.console import Console
    from rich.table import Table

    torch.set_num_threads(a.threads)
    rows = [run(*(int(v) for v in s.split("x")), a.frames) for s in a.sizes]
    table = Table(title=f"the arm drawn, {a.frames} frames, {a.threads} thread(s): median "
                        f"ms per frame (x faster than per-Gaussian)")
    for c in ("size", "way", "ms / frame", "x", "robot Gaussians drawn", "min PSNR vs base"):
        table.add_column(c, justify="right")
    for r in rows:
        for way, ms in r["ms_per_frame_median"].items():
            table.add_row(f"{r['size'][0]}x{r['size'][1]}", way, f"{ms:.1f}",
                          f"{r['ratio_to_per_gaussian'][way]:.2f}",
                          f"{r['robot_gaussians_drawn_median'][way]:.0f}",
                          "-" if way == "per-Gaussian" else
                          f"{r['psnr_vs_per_gaussian_min'][way]:.1f} dB")
    Console(width=120).print(table)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps({"command": " ".join(["python", *sys.argv]),
                                 "threads": a.threads, "rows": rows}, indent=1))
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
