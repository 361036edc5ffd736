"""One GPU check: gsplat on CUDA against the CPU kernels, on every stage that renders.

    python eval/gpu_check.py            # writes eval/results/gpu_check.json, prints a table

Sections (each with the CPU figures of the same run beside the CUDA ones):

* ``parity``: frames of ../shared/data/redkitchen (640x480 Kinect RGB-D) unprojected to one
  Gaussian per valid depth pixel (as eval/bench_render.py does), four depth-band labels;
  gsplat vs CPU kernels in colour (PSNR), alpha (max abs), expected depth (median abs, where
  both are opaque) and labels (agreement of the per-pixel argmax).
* ``render``: milliseconds per render of those scenes (median of ``--repeats``), both backends.
* ``episode``: one 640x480, 4-camera, ``--frames``-frame episode of the built-in scene with the
  gripper, on cuda and on cpu: seconds and agreement (PSNR, median depth error, labels).
* ``generate``: ``igen generate`` of ``--episodes`` episodes from one synthetic photo with
  ``--device cuda`` (episodes/hour; ``torch.cuda.max_memory_allocated`` of one episode run in
  this process) and of
  ``--cpu-episodes`` with ``--device cpu`` (episodes/hour).

Without CUDA it stops at once with one line (exit status 2). Budget: < 5 minutes on one GPU
with the defaults.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REDKITCHEN = Path(os.environ.get("IGEN_REDKITCHEN", REPO.parent / "shared/data/redkitchen"))
OUT = REPO / "eval" / "results" / "gpu_check.json"
NO_CUDA = "gpu_check: CUDA is not available here (torch.cuda.is_available() is False); " \
          "run it on a machine with an NVIDIA GPU"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frames-idx", type=int, nargs="+", default=[0, 3, 6],
                   help="redkitchen frame numbers for parity and render timings")
    p.add_argument("--repeats", type=int, default=5, help="timed renders per backend")
    p.add_argument("--frames", type=int, default=60, help="frames of the episode")
    p.add_argument("--episodes", type=int, default=100, help="episodes generated on cuda")
    p.add_argument("--cpu-episodes", type=int, default=4, help="episodes generated on cpu")
    p.add_argument("--workers", type=int, default=max(1, min(8, (os.cpu_count() or 2) // 2)),
                   help="igen generate workers (they share the GPU)")
    p.add_argument("--skip", nargs="*", default=[],
                   choices=["parity", "render", "episode", "generate"])
    p.add_argument("--out", type=Path, default=OUT, help="JSON output")
    a = p.parse_args(argv)
    for name in ("repeats", "frames", "episodes", "cpu_episodes", "workers"):
        if getattr(a, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    return a


# ----------------------------------------------------------------------------- measurements
def _psnr(a, b) -> float:
    import numpy as np

    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


def _redkitchen_gaussians(index: int):
    import numpy as np
    import torch

    from igen_gs.rgbd import RGBDFolder

    frames = RGBDFolder(REDKITCHEN)
    if index not in frames:
        raise ValueError(f"{REDKITCHEN} has no frame {index}; it has {frames.indices}")
    fr = frames.frame(index)
    K = fr.K
    v, u = np.nonzero(fr.depth > 0)
    z = fr.depth[v, u].astype(np.float64)
    x = (u + 0.5 - K[0, 2]) / K[0, 0] * z
    y = (v + 0.5 - K[1, 2]) / K[1, 1] * z
    n = len(z)
    g = {"means": torch.from_numpy(np.stack([x, y, z], 1)).float(),
         "quats": torch.tensor([[1.0, 0, 0, 0]]).repeat(n, 1),
         "scales": torch.from_numpy(0.6 * z / K[0, 0]).float()[:, None].repeat(1, 3),
         "opacities": torch.full((n,), 0.95),
         "colors": torch.from_numpy(fr.rgb[v, u].astype(np.float32) / 255.0),
         "viewmats": torch.eye(4)[None], "Ks": torch.from_numpy(K).float()[None],
         "label_ids": torch.from_numpy(np.digitize(z, np.quantile(z, [0.25, 0.5, 0.75]))).long()}
    H, W = fr.depth.shape
    return g, W, H


def _render(g: dict, W: int, H: int, device: str):
    import torch

    from igen_gs.render import rasterization

    t = {k: v.to(device) for k, v in g.items()}
    with torch.no_grad():
        img, alpha, meta = rasterization(
            t["means"], t["quats"], t["scales"], t["opacities"], t["colors"], t["viewmats"],
            t["Ks"], W, H, render_mode="RGB+ED", label_ids=t["label_ids"], num_labels=4,
            return_meta=False)
    if device != "cpu":
        torch.cuda.synchronize()
    return img, alpha, meta


def check_parity_and_render(idx: list[int], repeats: int) -> tuple[list[dict], list[dict]]:
    import numpy as np
    import torch

    parity, timing = [], []
    for i in idx:
        g, W, H = _redkitchen_gaussians(i)
        out = {}
        for dev in ("cpu", "cuda"):
            _render(g, W, H, dev)  # warm-up
            ms = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                img, alpha, meta = _render(g, W, H, dev)
                ms.append(1e3 * (time.perf_counter() - t0))
            out[dev] = (img.cpu(), alpha.cpu(), meta["label_weights"].cpu())
            timing.append({"frame": i, "gaussians": len(g["means"]), "size": f"{W}x{H}",
                           "backend": "gsplat" if dev == "cuda" else "cpu",
                           "ms_median": float(np.median(ms))})
        (ic, ac, lc), (ig, ag, lg) = out["cpu"], out["cuda"]
        both = (ac[0, ..., 0] > 0.5) & (ag[0, ..., 0] > 0.5)
        depth_err = (ic[0, ..., 3] - ig[0, ..., 3]).abs()[both]
        parity.append({
            "frame": i,
            "colour_psnr_db": _psnr(ic[0, ..., :3].clamp(0, 1), ig[0, ..., :3].clamp(0, 1)),
            "alpha_max_abs": float((ac - ag).abs().max()),
            "depth_median_abs_mm": 1e3 * float(depth_err.median()) if len(depth_err) else None,
            "labels_agree": float((lc[0].argmax(-1) == lg[0].argmax(-1)).float().mean()),
            "torch": torch.__version__})
    return parity, timing


def check_episode(frames: int) -> dict:
    import numpy as np
    import torch

    from igen_gs.episode import RenderConfig, RigConfig, make_rig, render_episode
    from igen_gs.robot import RobotConfig
    from igen_gs.scene import frames as fr
    from igen_gs.scene.builtin import builtin_camera, builtin_scene

    scene = builtin_scene()
    scene.camera = builtin_camera(640, 480)
    rig = make_rig(scene, RigConfig(num_static_views=3, wrist_camera=False, width=640,
                                    height=480))
    down = fr.make_T(fr.axis_angle_to_rotmat([1.0, 0.0, 0.0], torch.pi))
    z = torch.linspace(0.30, 0.03, frames)
    T_world_ee = torch.stack([fr.translation(-0.15, -0.05, float(v)) @ down for v in z])
    opening = torch.full((frames,), 0.08, dtype=torch.float64)
    res = {"cameras": len(rig.names), "size": "640x480", "frames": frames}
    eps = {}
    for dev in ("cpu", "cuda"):
        cfg = RenderConfig(device=dev, robot=RobotConfig(mode="hand"))
        t0 = time.perf_counter()
        eps[dev] = render_episode(scene, T_world_ee, opening, {}, rig, cfg)
        res[f"{dev}_seconds"] = time.perf_counter() - t0
        res[f"{dev}_frames_per_s"] = frames * len(rig.names) / res[f"{dev}_seconds"]
    a, b = eps["cpu"], eps["cuda"]
    res["psnr_db_min"] = min(_psnr(a.rgb[n] / 255.0, b.rgb[n] / 255.0) for n in a.camera_names)
    res["depth_median_abs_mm_max"] = max(
        1e3 * float(np.median(np.abs(a.depth[n] - b.depth[n])[(a.depth[n] > 0) &
                                                              (b.depth[n] > 0)]))
        for n in a.camera_names)
    res["labels_agree_min"] = min(float(np.mean(a.labels[n] == b.labels[n]))
                                  for n in a.camera_names)
    return res


def _photo_job(d: Path, variations: int) -> Path:
    import numpy as np
    from PIL import Image

    from igen_gs.imageio import write_depth_png, write_rgb
    from igen_gs.synthetic import make_tabletop_world

    world = make_tabletop_world(0)
    cam = world.default_camera(640, 480)
    obs = world.render(cam)
    write_rgb(d / "photo.png", obs["rgb"])
    write_depth_png(d / "depth.png", obs["depth"])
    (d / "masks").mkdir(exist_ok=True)
    masks = {}
    for name, m in obs["masks"].items():
        p = f"masks/{name.replace(' ', '_')}.png"
        Image.fromarray(m.astype(np.uint8) * 255).save(d / p)
        masks[name] = p
    K = cam.K.numpy()
    job = {"id": "photo", "image": "photo.png", "depth": "depth.png",
           "intrinsics": [K[0, 0], K[1, 1], K[0, 2], K[1, 2]], "masks": masks,
           "instruction": "put the red block on the blue plate", "seed": 0,
           "variations": variations}
    (d / "jobs.jsonl").write_text(json.dumps(job) + "\n")
    return d / "jobs.jsonl"


def check_generate(episodes: int, cpu_episodes: int, workers: int) -> dict:
    import torch

    from igen_gs.batch.generate import generate_dataset
    from igen_gs.batch.generate_config import GenerateConfig

    res = {"workers": workers}
    with tempfile.TemporaryDirectory() as tmp:
        for dev, n in (("cuda", episodes), ("cpu", cpu_episodes)):
            d = Path(tmp) / dev
            d.mkdir()
            manifest = _photo_job(d, n)
            cfg = GenerateConfig(workers=workers, device=dev, previews=False)
            s = generate_dataset(manifest, d / "ds", cfg, progress=False)
            res[f"{dev}_episodes"] = len(s["written"])
            res[f"{dev}_failed"] = len(s["failed"])
            res[f"{dev}_seconds"] = s["seconds"]
            res[f"{dev}_episodes_per_hour"] = 3600 * len(s["written"]) / s["seconds"]
        # The workers are separate processes: the peak CUDA memory of one episode (lift,
        # plan, render) is measured by running one more here, in this process.
        from igen_gs.batch.generate import run_job, with_device
        from igen_gs.batch.manifest import read_manifest

        job = read_manifest(_photo_job(Path(tmp) / "cuda", 1))[0]
        torch.cuda.reset_peak_memory_stats()
        run_job((job, 0, with_device(GenerateConfig(device="cuda", previews=False))))
        res["episode_max_memory_allocated_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return res


# ----------------------------------------------------------------------------- report
def _fmt(v) -> str:
    if isinstance(v, float):
        return "inf" if math.isinf(v) else f"{v:.4g}"
    return "-" if v is None else str(v)


def format_table(figures: dict) -> str:
    """The figures as one plain-text table per section (rows: entries, columns: keys)."""
    lines = []
    for section, rows in figures.items():
        if section == "meta":
            continue
        rows = rows if isinstance(rows, list) else [rows]
        if not rows:
            continue
        keys = list(dict.fromkeys(k for r in rows for k in r))
        cells = [keys] + [[_fmt(r.get(k)) for k in keys] for r in rows]
        widths = [max(len(c[i]) for c in cells) for i in range(len(keys))]
        lines.append(f"== {section}")
        for c in cells:
            lines.append("  ".join(s.rjust(w) for s, w in zip(c, widths)))
        lines.append("")
    return "\n".join(lines)


def write_json(figures: dict, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean = json.loads(json.dumps(figures, default=str).replace("Infinity", "null"))
    path.write_text(json.dumps(clean, indent=2) + "\n")
    return path


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print(NO_CUDA, file=sys.stderr)
        return 2
    figures: dict = {"meta": {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__,
                              "cuda": torch.version.cuda, "cpu_threads": torch.get_num_threads(),
                              "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}}
    t0 = time.perf_counter()
    if "parity" not in args.skip or "render" not in args.skip:
        if REDKITCHEN.is_dir():
            figures["parity"], figures["render"] = check_parity_and_render(args.frames_idx,
                                                                           args.repeats)
        else:
            figures["meta"]["redkitchen"] = f"missing: {REDKITCHEN}"
    if "episode" not in args.skip:
        figures["episode"] = check_episode(args.frames)
    if "generate" not in args.skip:
        figures["generate"] = check_generate(args.episodes, args.cpu_episodes, args.workers)
    figures["meta"]["seconds"] = time.perf_counter() - t0
    print(format_table(figures))
    print(f"wrote {write_json(figures, args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
