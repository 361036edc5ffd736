"""Lifting quality and speed.

Real data (../shared/data/redkitchen, Kinect RGB-D, ground-truth camera-to-world poses): lift
frame i with its depth; render at its own camera (PSNR against the input, valid-depth pixels)
and at the cameras of frames i + k for k = 3, 9, 30 (frame numbers: the stored frames are
0, 3, 6, ..., so these are 1, 3 and 10 stored frames later), scored on the target's valid-depth
pixels and on those frame i saw, beside the copy-frame and z-buffered point-warp baselines
computed in the same run on the same pixels (see nvs_common.py). Medians over source frames.

Synthetic (igen_gs.synthetic): lift the photo with its depth and masks, move one object by
10 cm and turn it 30 degrees, compare with the ray caster's ground truth of the moved scene on
the whole image and on the revealed region (where the object was and no longer is).

    python eval/bench_lift.py [--sources 10] [--out eval/results/bench_lift.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

REPO = Path(__file__).resolve().parents[1]
REDKITCHEN = Path(os.environ.get("IGEN_REDKITCHEN", REPO.parent / "shared/data/redkitchen"))


def real_data(n_sources: int) -> dict:
    from nvs_common import point_warp, render_scene, score, seen_mask

    from igen_gs import lift
    from igen_gs.metrics import psnr
    from igen_gs.rgbd import RGBDFolder

    folder = RGBDFolder(REDKITCHEN)
    ks = (3, 9, 30)
    candidates = [i for i in folder.indices if all(i + k in folder._color for k in ks)]
    step = max(1, len(candidates) // n_sources)
    sources = candidates[::step][:n_sources]
    rows = {k: {"lift": [], "copy": [], "warp": []} for k in ks}
    same_view, lift_seconds = [], []
    for i in sources:
        fi = folder.frame(i)
        H, W = fi.depth.shape
        t0 = time.perf_counter()
        scene = lift(fi.rgb, fi.depth, fi.K, T_world_cam=fi.T_world_cam)
        lift_seconds.append(time.perf_counter() - t0)
        img, _ = render_scene(scene, fi.K, fi.T_world_cam, W, H)
        same_view.append(psnr(img, fi.rgb / 255.0, fi.depth > 0))
        for k in ks:
            fj = folder.frame(i + k)
            target = fj.rgb / 255.0
            valid = fj.depth > 0
            seen = seen_mask(fj.depth, fj.K, fj.T_world_cam, fi.depth, fi.K, fi.T_world_cam)
            pred, drawn = render_scene(scene, fj.K, fj.T_world_cam, W, H)
            rows[k]["lift"].append(score(pred, target, drawn, valid, seen))
            rows[k]["copy"].append(score(fi.rgb / 255.0, target, np.ones_like(valid), valid,
                                         seen))
            warp, hit = point_warp(fi.rgb, fi.depth, fi.K, fi.T_world_cam, fj.K,
                                   fj.T_world_cam, H, W)
            rows[k]["warp"].append(score(warp, target, hit, valid, seen))
    summary = {}
    for k in ks:
        summary[k] = {}
        for method, lst in rows[k].items():
            keys = lst[0].keys()
            summary[k][method] = {m: statistics.median(r[m] for r in lst if m in r) for m in keys}
    return {"sources": sources, "same_view_psnr": statistics.median(same_view),
            "same_view_psnr_min": min(same_view), "lift_seconds": statistics.median(lift_seconds),
            "novel_views": summary}


def synthetic() -> dict:
    import torch

    from igen_gs import lift
    from igen_gs.metrics import psnr
    from igen_gs.scene import frames
    from igen_gs.synthetic import make_tabletop_world

    out = {}
    for seed in (0, 1, 2):
        world = make_tabletop_world(seed)
        cam = world.default_camera(640, 480)
        obs = world.render(cam)
        t0 = time.perf_counter()
        scene = lift(obs["rgb"], obs["depth"], cam.K, masks=obs["masks"],
                     T_world_cam=cam.T_world_cam)
        secs = time.perf_counter() - t0
        same = scene.render(scene.camera, labels=False)["rgb"][0].clamp(0, 1).numpy()
        name = "mug"
        T = world.poses[name].clone()
        turn = frames.axis_angle_to_rotmat(torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64),
                                           torch.tensor(math.radians(30.0), dtype=torch.float64))
        T[:3, :3] = turn @ T[:3, :3]
        T[:3, 3] += torch.tensor([0.0, -0.10, 0.0], dtype=torch.float64)
        gt = world.move(name, T).render(cam)
        delta = T @ frames.invert_T(world.poses[name])
        moved = scene.render(scene.camera, object_poses={name: delta @ scene.poses[name]},
                             labels=False)["rgb"][0].clamp(0, 1).numpy()
        revealed = obs["masks"][name] & ~gt["masks"][name]
        out[seed] = {"same_view_psnr": psnr(same, obs["rgb"] / 255.0),
                     "moved_psnr_whole": psnr(moved, gt["rgb"] / 255.0),
                     "moved_psnr_revealed": psnr(moved, gt["rgb"] / 255.0, revealed),
                     "revealed_pixels": int(revealed.sum()), "lift_seconds": secs}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sources", type=int, default=10, help="source frames from redkitchen")
    ap.add_argument("--out", default=str(REPO / "eval/results/bench_lift.json"))
    a = ap.parse_args()
    from rich.console import Console
    from rich.table import Table

    result = {"command": " ".join(["python", *sys.argv])}
    con = Console(width=130)
    if (REDKITCHEN / "camera-intrinsics.txt").is_file():
        real = real_data(a.sources)
        result["redkitchen"] = real
        t = Table(title=f"redkitchen novel views (median over {len(real['sources'])} source "
                        f"frames; same-view PSNR {real['same_view_psnr']:.2f} dB, min "
                        f"{real['same_view_psnr_min']:.2f}; lift {real['lift_seconds']:.2f} s)")
        for c in ("k (frames)", "method", "PSNR valid", "SSIM valid", "cover valid",
                  "PSNR seen", "SSIM seen", "cover seen"):
            t.add_column(c, justify="right")
        for k, methods in real["novel_views"].items():
            for m, r in methods.items():
                t.add_row(str(k), m, f"{r['psnr_valid']:.2f}", f"{r['ssim_valid']:.3f}",
                          f"{r['coverage_valid']:.3f}", f"{r.get('psnr_seen', float('nan')):.2f}",
                          f"{r.get('ssim_seen', float('nan')):.3f}",
                          f"{r.get('coverage_seen', float('nan')):.4f}")
        con.print(t)
    else:
        print(f"redkitchen not found at {REDKITCHEN}: real-data part skipped", file=sys.stderr)
    syn = synthetic()
    result["synthetic"] = syn
    t = Table(title="synthetic: mug moved 10 cm and turned 30 deg vs ray-cast ground truth")
    for c in ("seed", "same-view PSNR", "moved PSNR (whole)", "moved PSNR (revealed)",
              "revealed px", "lift s"):
        t.add_column(c, justify="right")
    for seed, r in syn.items():
        t.add_row(str(seed), f"{r['same_view_psnr']:.2f}", f"{r['moved_psnr_whole']:.2f}",
                  f"{r['moved_psnr_revealed']:.2f}", str(r["revealed_pixels"]),
                  f"{r['lift_seconds']:.2f}")
    con.print(t)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=float))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
