"""Load a dataset written by igen-gs with the real ``lerobot`` (its LeRobotDataset, video
backend pyav) and check it against what was written.

lerobot pins an older torch, so it lives in its own virtual environment, never in the
project's; run this script with that environment's python:

    python3 -m venv /work/lerobot-venv && /work/lerobot-venv/bin/pip install lerobot==0.4.4
    /work/lerobot-venv/bin/python eval/check_lerobot_load.py --root DATASET [--expect EXPECT.npz]

``--expect`` is an .npz with, per episode i, ``state_i``, ``action_i`` and ``frames_i_<camera>``
(uint8 [T, H, W, 3]) as written; without it only lerobot's own consistency is checked.
Prints one JSON report line; exit status 1 if a check fails.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--expect", default=None)
    ap.add_argument("--min-psnr", type=float, default=30.0)
    a = ap.parse_args()

    import numpy as np
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    ds = LeRobotDataset(repo_id="igen-gs/check", root=Path(a.root), video_backend="pyav")
    report = {"lerobot_dataset_len": len(ds), "num_episodes": ds.num_episodes, "fps": ds.fps,
              "camera_keys": list(ds.meta.camera_keys), "failures": []}
    expect = np.load(a.expect) if a.expect else None
    worst_psnr = float("inf")
    max_action_err = 0.0
    for i in range(len(ds)):
        item = ds[i]
        ep = int(item["episode_index"])
        t = int(item["frame_index"])
        if expect is None:
            continue
        for name in ("state", "action"):
            key = "observation.state" if name == "state" else "action"
            want = expect[f"{name}_{ep}"][t]
            got = item[key].numpy()
            err = float(np.abs(got - want).max())
            max_action_err = max(max_action_err, err)
            if err > 0:
                report["failures"].append(f"episode {ep} frame {t}: {key} differs by {err}")
        for cam in ds.meta.camera_keys:
            short = cam.split(".")[-1]
            want = expect[f"frames_{ep}_{short}"][t].astype(np.float64) / 255.0
            got = item[cam].permute(1, 2, 0).numpy().astype(np.float64)  # CHW float [0, 1]
            mse = float(((got - want) ** 2).mean())
            psnr = 10 * np.log10(1.0 / max(mse, 1e-12))
            worst_psnr = min(worst_psnr, psnr)
            if psnr < a.min_psnr:
                report["failures"].append(f"episode {ep} frame {t} {cam}: PSNR {psnr:.1f} dB")
    if expect is not None:
        total = sum(expect[f"state_{e}"].shape[0] for e in range(ds.num_episodes))
        if total != len(ds):
            report["failures"].append(f"lerobot sees {len(ds)} frames, {total} were written")
        report["worst_frame_psnr_db"] = round(worst_psnr, 2)
        report["max_state_action_abs_error"] = max_action_err
    tasks = [ds.meta.tasks.index[k] for k in range(len(ds.meta.tasks))]
    report["tasks"] = tasks
    report["ok"] = not report["failures"]
    report["failures"] = report["failures"][:10]
    print(json.dumps(report))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
