"""Check datasets against the real ``lerobot`` (0.4.x), in both directions.

lerobot pins an older torch, so it lives in its own virtual environment, never in the
project's; run this script with that environment's python (``.ci/run`` prepares one):

    python3 -m venv /work/lerobot-venv && /work/lerobot-venv/bin/pip install lerobot==0.4.4
    /work/lerobot-venv/bin/python eval/check_lerobot_load.py --root DATASET [--expect X.npz]
    /work/lerobot-venv/bin/python eval/check_lerobot_load.py --make-reference OUT --expect X.npz

Default mode: load DATASET (one igen-gs wrote) with ``LeRobotDataset(..., video_backend=
"pyav")`` and check, against ``--expect``, every frame: ``observation.state`` and ``action``
bit-exact, each camera's decoded image within ``--min-psnr`` dB of what was written, episode
and frame indices, the task string; then the episode table (lengths, index ranges), the
statistics lerobot loads, a DataLoader pass, and action chunks across episode ends with
``delta_timestamps`` (padding flags must mark exactly the steps past the end).

``--make-reference OUT``: have lerobot itself write the episodes of ``--expect`` to OUT (its
own writer: several episodes per data/video file, h264), so igen-gs's reader can be checked
on files it did not write.

``--expect`` is an .npz with, per episode i: ``state_i`` [T, S], ``action_i`` [T, A] (float32),
``task_i`` (a string) and ``frames_i_<camera>`` (uint8 [T, H, W, 3]). Prints one JSON line;
exit status 1 if any check fails.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

IMAGE_PREFIX = "observation.images."


def _episodes(expect) -> list[int]:
    return sorted(int(k.split("_")[1]) for k in expect.files if k.startswith("state_"))


def _cameras(expect, ep: int) -> list[str]:
    pre = f"frames_{ep}_"
    return sorted(k[len(pre):] for k in expect.files if k.startswith(pre))


def check(root: Path, expect_path: str | None, min_psnr: float) -> dict:
    import numpy as np
    import torch
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    ds = LeRobotDataset(repo_id="igen-gs/check", root=root, video_backend="pyav")
    fails: list[str] = []
    report: dict = {"lerobot_dataset_len": len(ds), "num_episodes": ds.num_episodes,
                    "fps": ds.fps, "camera_keys": list(ds.meta.camera_keys)}
    tasks = [ds.meta.tasks.index[k] for k in range(len(ds.meta.tasks))]
    report["tasks"] = tasks
    expect = np.load(expect_path) if expect_path else None

    # Episode table: contiguous index ranges.
    lengths = []
    for i in range(ds.meta.total_episodes):
        e = ds.meta.episodes[i]
        lengths.append(int(e["length"]))
        if int(e["dataset_to_index"]) - int(e["dataset_from_index"]) != int(e["length"]):
            fails.append(f"episode {i}: index range does not match its length")
        if i and int(e["dataset_from_index"]) != int(ds.meta.episodes[i - 1]["dataset_to_index"]):
            fails.append(f"episode {i}: index range not contiguous with episode {i - 1}")
    report["episode_lengths"] = lengths

    worst_psnr, max_err = float("inf"), 0.0
    for i in range(len(ds)):
        item = ds[i]
        ep, t = int(item["episode_index"]), int(item["frame_index"])
        if expect is None:
            continue
        if int(item["index"]) != i:
            fails.append(f"item {i}: index {int(item['index'])}")
        if item["task"] != str(expect[f"task_{ep}"]):
            fails.append(f"episode {ep} frame {t}: task {item['task']!r}")
        for name, key in (("state", "observation.state"), ("action", "action")):
            err = float(np.abs(item[key].numpy() - expect[f"{name}_{ep}"][t]).max())
            max_err = max(max_err, err)
            if err > 0:
                fails.append(f"episode {ep} frame {t}: {key} differs by {err}")
        for cam in _cameras(expect, ep):
            want = expect[f"frames_{ep}_{cam}"][t].astype(np.float64) / 255.0
            got = item[IMAGE_PREFIX + cam].permute(1, 2, 0).numpy().astype(np.float64)
            got = got[:want.shape[0], :want.shape[1]]  # odd sizes are stored padded
            psnr = 10 * np.log10(1.0 / max(float(((got - want) ** 2).mean()), 1e-12))
            worst_psnr = min(worst_psnr, psnr)
            if psnr < min_psnr:
                fails.append(f"episode {ep} frame {t} {cam}: PSNR {psnr:.1f} dB")
    if expect is not None:
        eps = _episodes(expect)
        want_lengths = [int(expect[f"state_{e}"].shape[0]) for e in eps]
        if want_lengths != lengths:
            fails.append(f"episode lengths {lengths}, written {want_lengths}")
        report["worst_frame_psnr_db"] = round(worst_psnr, 2)
        report["max_state_action_abs_error"] = max_err

    # Statistics as lerobot loads them (used for normalisation by its policies).
    st = ds.meta.stats or {}
    for key in ["observation.state", "action", *ds.meta.camera_keys]:
        if key not in st or not {"mean", "std", "min", "max", "count"} <= set(st[key]):
            fails.append(f"stats.json lacks statistics of {key}")
    for key in ds.meta.camera_keys:
        if key in st and tuple(np.asarray(st[key]["mean"]).shape) != (3, 1, 1):
            fails.append(f"stats of {key}: mean shape {np.asarray(st[key]['mean']).shape}")

    # Batches through a DataLoader, as training does.
    loader = torch.utils.data.DataLoader(ds, batch_size=8, shuffle=False, num_workers=0)
    seen = sum(int(b["index"].shape[0]) for b in loader)
    if seen != len(ds):
        fails.append(f"DataLoader yielded {seen} items of {len(ds)}")

    # Action chunks across episode ends: padding must flag exactly the steps past the end.
    horizon = 4
    chunked = LeRobotDataset(repo_id="igen-gs/check", root=root, video_backend="pyav",
                             delta_timestamps={"action": [k / ds.fps for k in range(horizon)]})
    pad_errors = 0
    for ep_i in range(ds.meta.total_episodes):
        e = ds.meta.episodes[ep_i]
        last = int(e["dataset_to_index"]) - 1
        for i in range(max(int(e["dataset_from_index"]), last - horizon), last + 1):
            item = chunked[i]
            want_pad = [i + k > last for k in range(horizon)]
            if item["action_is_pad"].tolist() != want_pad:
                pad_errors += 1
            if expect is not None:
                t = i - int(e["dataset_from_index"])
                a = expect[f"action_{ep_i}"]
                want = np.stack([a[min(t + k, len(a) - 1)] for k in range(horizon)])
                if not np.array_equal(item["action"].numpy(), want):
                    pad_errors += 1
    if pad_errors:
        fails.append(f"{pad_errors} action chunks wrong at episode ends")
    report["chunks_checked_at_episode_ends"] = True
    report["failures"] = fails[:10]
    report["num_failures"] = len(fails)
    report["ok"] = not fails
    return report


def make_reference(out: Path, expect_path: str, fps: int) -> dict:
    """Write the episodes of ``expect_path`` with lerobot's own writer."""
    import numpy as np
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    expect = np.load(expect_path)
    eps = _episodes(expect)
    cams = _cameras(expect, eps[0])
    features = {IMAGE_PREFIX + c: {"dtype": "video",  # lerobot compares shapes as tuples
                                   "shape": tuple(expect[f"frames_{eps[0]}_{c}"].shape[1:]),
                                   "names": ["height", "width", "channels"]} for c in cams}
    for name, key in (("state", "observation.state"), ("action", "action")):
        d = int(expect[f"{name}_{eps[0]}"].shape[1])
        features[key] = {"dtype": "float32", "shape": (d,),
                         "names": [f"{name}{i}" for i in range(d)]}
    ds = LeRobotDataset.create(repo_id="igen-gs/reference", fps=fps, features=features,
                               root=out, robot_type="franka", use_videos=True, vcodec="h264")
    for e in eps:
        task = str(expect[f"task_{e}"])
        for t in range(expect[f"state_{e}"].shape[0]):
            frame = {"observation.state": expect[f"state_{e}"][t],
                     "action": expect[f"action_{e}"][t], "task": task}
            for c in cams:
                frame[IMAGE_PREFIX + c] = expect[f"frames_{e}_{c}"][t]
            ds.add_frame(frame)
        ds.save_episode(parallel_encoding=False)
    ds.finalize()
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    return {"reference": str(out), "episodes": len(eps), "files": files, "ok": True}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", help="dataset to load with lerobot")
    ap.add_argument("--expect", default=None, help=".npz of what was written")
    ap.add_argument("--min-psnr", type=float, default=30.0)
    ap.add_argument("--make-reference", default=None, help="write --expect with lerobot here")
    ap.add_argument("--fps", type=int, default=15, help="fps of --make-reference")
    a = ap.parse_args()
    if a.make_reference:
        if not a.expect:
            ap.error("--make-reference needs --expect")
        report = make_reference(Path(a.make_reference), a.expect, a.fps)
    elif a.root:
        report = check(Path(a.root), a.expect, a.min_psnr)
    else:
        ap.error("give --root DATASET or --make-reference OUT")
    print(json.dumps(report))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
