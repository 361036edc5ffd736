"""Rendering benchmark: native CPU kernels vs the PyTorch reference (and gsplat on CUDA).

Scenes
  * ``redkitchen``: frame 0 of ../shared/data/redkitchen (640x480 Kinect RGB-D) lifted to one
    Gaussian per valid depth pixel (~270K), unprojected with its depth and intrinsics,
    isotropic scale 0.6 * z / f (a pixel footprint), opacity 0.95, rendered at its own camera.
  * ``random-<N>``: N random Gaussians in a 2 x 1.5 x 4 m box in front of the camera, scales
    log-normal around 1 cm, opacities U(0.1, 1), at 320x240, 640x480 and 1280x960.

Each configuration runs in its own subprocess so that its peak memory (VmHWM) can be reported;
inside it, the CPU kernel and the reference run on the same inputs, and the ratio is taken in
that process. Times are medians over repetitions (the reference, which is slow, runs fewer).

    python eval/bench_render.py                    # all; writes eval/results/bench_render.json
    python eval/bench_render.py --only redkitchen  # one scene
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REDKITCHEN = Path(os.environ.get("IGEN_REDKITCHEN", REPO.parent / "shared/data/redkitchen"))


def _vm_kib(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def make_scene(name: str, width: int, height: int):
    import numpy as np
    import torch

    if name == "redkitchen":
        from igen_gs.rgbd import RGBDFolder

        fr = RGBDFolder(REDKITCHEN)[0]
        K = fr.K
        v, u = np.nonzero(fr.depth > 0)
        z = fr.depth[v, u].astype(np.float64)
        x = (u + 0.5 - K[0, 2]) / K[0, 0] * z
        y = (v + 0.5 - K[1, 2]) / K[1, 1] * z
        means = torch.from_numpy(np.stack([x, y, z], 1)).float()
        n = means.shape[0]
        scales = torch.from_numpy(0.6 * z / K[0, 0]).float()[:, None].repeat(1, 3)
        quats = torch.zeros(n, 4)
        quats[:, 0] = 1
        opac = torch.full((n,), 0.95)
        colors = torch.from_numpy(fr.rgb[v, u].astype(np.float32) / 255.0)
        viewmats = torch.eye(4)[None]
        Ks = torch.from_numpy(K).float()[None]
        return means, quats, scales, opac, colors, viewmats, Ks, 640, 480
    n = int(name.split("-")[1])
    g = torch.Generator().manual_seed(0)
    means = (torch.rand(n, 3, generator=g) - 0.5) * torch.tensor([2.0, 1.5, 4.0])
    means[:, 2] += 4.0
    quats = torch.randn(n, 4, generator=g)
    scales = torch.exp(torch.randn(n, 3, generator=g) * 0.5 - 4.6)
    opac = torch.rand(n, generator=g) * 0.9 + 0.1
    colors = torch.rand(n, 3, generator=g)
    f = 0.8 * width
    Ks = torch.tensor([[[f, 0, width / 2], [0, f, height / 2], [0, 0, 1.0]]])
    return means, quats, scales, opac, colors, torch.eye(4)[None], Ks, width, height


def run_one(name: str, width: int, height: int, reps: int, ref_reps: int) -> dict:
    import torch

    from igen_gs.render import rasterization, simd_levels

    torch.set_num_threads(int(os.environ.get("IGEN_BENCH_THREADS", os.cpu_count() or 1)))
    start_kib = _vm_kib("VmRSS")
    scene = make_scene(name, width, height)
    means, quats, scales, opac, colors, viewmats, Ks, W, H = scene
    base_kib = _vm_kib("VmRSS")
    args = (means, quats, scales, opac, colors, viewmats, Ks, W, H)
    rasterization(*args, backend="cpu")  # warm-up (thread pool, page faults)
    times, stages = [], []
    for _ in range(reps):
        t0 = time.perf_counter()
        out, alpha, meta = rasterization(*args, backend="cpu")
        times.append((time.perf_counter() - t0) * 1e3)
        stages.append(meta["timings_ms"])
    peak_kib = _vm_kib("VmHWM")
    row = {
        "scene": name, "width": W, "height": H, "num_gaussians": int(means.shape[0]),
        "simd": simd_levels()[0], "threads": torch.get_num_threads(),
        "cpu_ms": statistics.median(times),
        "cpu_stage_ms": {k: statistics.median(s[k] for s in stages) for k in stages[0]},
        "peak_rss_mib": peak_kib / 1024, "rss_before_render_mib": base_kib / 1024,
        "scene_mib": (base_kib - start_kib) / 1024,
        "render_extra_mib": (peak_kib - base_kib) / 1024,
        "n_isects": int(meta["flatten_ids"].numel()),
    }
    if ref_reps > 0:
        rtimes = []
        for _ in range(ref_reps):
            t0 = time.perf_counter()
            ref_out, ref_alpha, ref_meta = rasterization(*args, backend="torch")
            rtimes.append((time.perf_counter() - t0) * 1e3)
        ok = ~ref_meta["ambiguous"]
        row["reference_ms"] = statistics.median(rtimes)
        row["speedup_vs_reference"] = row["reference_ms"] / row["cpu_ms"]
        row["max_abs_diff_vs_reference"] = float((out - ref_out).abs()[ok].max())
    if torch.cuda.is_available():
        cargs = [t.cuda() if hasattr(t, "cuda") else t for t in args]
        rasterization(*cargs, backend="gsplat")
        torch.cuda.synchronize()
        gt = []
        for _ in range(reps):
            t0 = time.perf_counter()
            rasterization(*cargs, backend="gsplat")
            torch.cuda.synchronize()
            gt.append((time.perf_counter() - t0) * 1e3)
        row["gsplat_ms"] = statistics.median(gt)
    return row


CONFIGS = [("redkitchen", 640, 480)] + [
    (f"random-{n}", w, h) for n in (10_000, 100_000, 1_000_000)
    for (w, h) in ((320, 240), (640, 480), (1280, 960))
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--only", default=None, help="run configs whose scene name contains this")
    ap.add_argument("--reps", type=int, default=15, help="CPU kernel repetitions (median)")
    ap.add_argument("--ref-reps", type=int, default=3, help="reference repetitions (median)")
    ap.add_argument("--out", default=str(REPO / "eval/results/bench_render.json"))
    ap.add_argument("--one", nargs=3, metavar=("SCENE", "W", "H"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        print(json.dumps(run_one(a.one[0], int(a.one[1]), int(a.one[2]), a.reps, a.ref_reps)))
        return

    rows = []
    for name, w, h in CONFIGS:
        if a.only and a.only not in name:
            continue
        if name == "redkitchen" and not (REDKITCHEN / "camera-intrinsics.txt").is_file():
            print(f"skipping redkitchen: {REDKITCHEN} not found", file=sys.stderr)
            continue
        # The reference is slow on the biggest scenes: one repetition there.
        ref_reps = a.ref_reps if not name.endswith("1000000") else 1
        cmd = [sys.executable, __file__, "--one", name, str(w), str(h), "--reps", str(a.reps),
               "--ref-reps", str(ref_reps)]
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if res.returncode != 0:
            print(f"{name} {w}x{h} failed:\n{res.stderr}", file=sys.stderr)
            continue
        row = json.loads(res.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(f"done {name} {w}x{h}: cpu {row['cpu_ms']:.1f} ms", file=sys.stderr)

    from rich.console import Console
    from rich.table import Table

    t = Table(title="igen_gs.rasterization, median ms/frame (CPU kernel vs PyTorch reference)")
    for col in ("scene", "size", "N", "cpu ms", "project/bin/raster", "ref ms", "ratio",
                "max|diff|", "scene MiB", "render MiB"):
        t.add_column(col, justify="right")
    for r in rows:
        st = r["cpu_stage_ms"]
        t.add_row(r["scene"], f"{r['width']}x{r['height']}", f"{r['num_gaussians']:,}",
                  f"{r['cpu_ms']:.1f}", f"{st['project']:.1f}/{st['bin']:.1f}/{st['raster']:.1f}",
                  f"{r.get('reference_ms', float('nan')):.0f}",
                  f"{r.get('speedup_vs_reference', float('nan')):.0f}x",
                  f"{r.get('max_abs_diff_vs_reference', float('nan')):.1e}",
                  f"{r['scene_mib']:.0f}", f"{r['render_extra_mib']:.0f}")
    Console(width=150).print(t)
    print("render MiB: peak RSS during the CPU renders minus RSS with the scene loaded "
          "(outputs, meta and kernel workspace).")
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"command": " ".join([Path(sys.executable).name, *sys.argv]),
            "cpu_count": os.cpu_count(), "rows": rows}
    out.write_text(json.dumps(meta, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
