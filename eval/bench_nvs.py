"""Novel-view synthesis on real RGB-D frames (../shared/data/redkitchen).

For every stored frame i (or every --step-th) and k in 3, 9, 30 (frame numbers; the stored
frames are 0, 3, 6, ...), frame i is lifted with its depth and rendered at the pose of frame
i + k, and scored against the real frame i + k on its pixels with valid depth ("valid") and on
those frame i saw ("seen"): PSNR, SSIM, LPIPS (when the backbone weights are on this machine)
and coverage, for the lifted render as it is and with its disoccluded pixels inpainted (as
``igen augment`` writes them), beside the copy-frame and z-buffered point-warp baselines
computed in the same run on the same pixels (nvs_common.py). Medians over all pairs.

    python eval/bench_nvs.py [--step 1] [--out eval/results/bench_nvs.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

REPO = Path(__file__).resolve().parents[1]
REDKITCHEN = Path(os.environ.get("IGEN_REDKITCHEN", REPO.parent / "shared/data/redkitchen"))
KS = (3, 9, 30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--step", type=int, default=1, help="use every n-th stored frame as source")
    ap.add_argument("--out", default=str(REPO / "eval/results/bench_nvs.json"))
    a = ap.parse_args()
    if not (REDKITCHEN / "camera-intrinsics.txt").is_file():
        sys.exit(f"redkitchen not found at {REDKITCHEN}")
    from nvs_common import score_pair
    from rich.console import Console
    from rich.table import Table

    from igen_gs import lift
    from igen_gs.augment import fill_holes
    from igen_gs.metrics import lpips, lpips_backbone_path
    from igen_gs.rgbd import RGBDFolder

    lpips_note = None
    try:
        lpips_backbone_path("alex")
        use_lpips = True
    except (ValueError, FileNotFoundError) as e:
        use_lpips, lpips_note = False, str(e)
    def lpips_scores(img, target, valid, seen):
        if not use_lpips:
            return {}
        return {"lpips_valid": lpips(img, target, mask=valid),
                "lpips_seen": lpips(img, target, mask=seen)}

    folder = RGBDFolder(REDKITCHEN)
    sources = [i for i in folder.indices[::a.step] if any(i + k in folder for k in KS)]
    rows = {k: {"lift": [], "lift+fill": [], "copy": [], "warp": []} for k in KS}
    t0 = time.perf_counter()
    cache = {}

    def frame(i):
        if i not in cache:
            if len(cache) > 40:
                cache.clear()
            cache[i] = folder.frame(i)
        return cache[i]

    for n, i in enumerate(sources):
        fi = frame(i)
        scene = lift(fi.rgb, fi.depth, fi.K, T_world_cam=fi.T_world_cam)
        for k in KS:
            if i + k not in folder:
                continue
            fj = frame(i + k)
            scores = score_pair(scene, fi, fj, fill=fill_holes, extra=lpips_scores)
            for method, r in scores.items():
                rows[k][method].append(r)
        print(f"\r{n + 1}/{len(sources)} source frames", end="", file=sys.stderr)
    print(file=sys.stderr)
    summary = {}
    for k in KS:
        summary[k] = {}
        for m, lst in rows[k].items():
            keys = sorted({key for r in lst for key in r})
            summary[k][m] = {key: statistics.median(r[key] for r in lst if key in r)
                             for key in keys}
            summary[k][m]["pairs"] = len(lst)
    took = time.perf_counter() - t0
    title = f"redkitchen novel views: medians over all pairs ({took:.0f} s)"
    t = Table(title=title + ("" if use_lpips else "; LPIPS n/a: no backbone weights here"))
    cols = ["k", "method", "pairs", "PSNR valid", "SSIM valid", "cover valid", "PSNR seen",
            "SSIM seen", "cover seen"] + (["LPIPS valid", "LPIPS seen"] if use_lpips else [])
    for c in cols:
        t.add_column(c, justify="right")
    for k in KS:
        for m, r in summary[k].items():
            vals = [str(k), m, str(r["pairs"])] + [
                f"{r.get(x, float('nan')):.3f}" if "ssim" in x or "cover" in x or "lpips" in x
                else f"{r.get(x, float('nan')):.2f}"
                for x in ("psnr_valid", "ssim_valid", "coverage_valid", "psnr_seen", "ssim_seen",
                          "coverage_seen") + (("lpips_valid", "lpips_seen") if use_lpips else ())]
            t.add_row(*vals)
    Console(width=140).print(t)
    if lpips_note:
        print(f"LPIPS skipped: {lpips_note}")
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"command": " ".join(["python", *sys.argv]), "sources": sources,
                               "lpips": use_lpips, "lpips_note": lpips_note,
                               "summary": summary}, indent=2, default=float))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
