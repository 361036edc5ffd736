"""Which generation options bring the generated frames closest to the simulator's renders?

For each option set (GeneratedConfig fields; the defaults always run first, as the baseline in
the same process): lift the one photo, generate a few episodes, and score their frames against
robosuite's renders of the same states (object poses, joint angles and finger opening set in
the simulator; the policy's resolution), as bench_policy.py's realism stage does. Prints a
table with each set's median PSNR / SSIM and its difference to the baseline, and writes JSON.
No policy is trained: whether a set also teaches as well is bench_policy.py's question
(``--gen KEY=VALUE ...``).

    python eval/realism_options.py --task Lift \
        --set robot_calibration_views=16,robot_inset_m=0.002 --set supersample=2 \
        [--episodes 5] [--frames-per-episode 40] [--out eval/results]

Needs robosuite's venv (IGEN_ROBOSUITE_PYTHON or ~/.cache/igen-gs/robosuite-1.5.2-venv).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_policy import option_value  # noqa: E402  (the same values as bench_policy's --gen)


def parse_set(text: str) -> dict:
    """``"a=1,b=0.5,c=true"`` -> ``{"a": 1, "b": 0.5, "c": True}`` (numbers and true/false);
    ValueError naming the bad part."""
    out: dict = {}
    for kv in filter(None, text.split(",")):
        key, sep, val = kv.partition("=")
        key, val = key.strip(), val.strip()
        if not sep or not key or not val:
            raise ValueError(f"--set takes KEY=VALUE[,KEY=VALUE...], got {kv!r}")
        out[key] = option_value(val, f"--set {key}")
    if not out:
        raise ValueError("--set needs at least one KEY=VALUE")
    return out


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", default="Lift", choices=["Lift", "Stack"])
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="K=V[,K=V]",
                   help="one option set (GeneratedConfig fields); repeat for more")
    p.add_argument("--episodes", type=int, default=5)
    p.add_argument("--frames-per-episode", type=int, default=40)
    p.add_argument("--workers", type=int, default=2,
                   help="worker processes rendering the episodes (one thread each)")
    p.add_argument("--out", type=Path, default=REPO / "eval" / "results")
    a = p.parse_args(argv)
    if a.episodes <= 0 or a.frames_per_episode <= 0 or a.workers <= 0:
        p.error("--episodes, --frames-per-episode and --workers must be positive")
    from igen_gs.envs.demos import GeneratedConfig

    a.option_sets = [{}]
    for text in a.sets:
        try:
            opts = parse_set(text)
            if "photo_seed" in opts:
                raise ValueError("--set photo_seed: the one photo is the benchmark's (seed 0)")
            GeneratedConfig(**opts)
        except (TypeError, ValueError) as e:
            p.error(str(e))
        a.option_sets.append(opts)
    return a


def main(argv=None) -> int:
    a = parse(argv)
    import bench_policy as bp

    from igen_gs.envs.demos import GeneratedConfig, generated_demos, lift_photo
    from igen_gs.envs.robosuite import RobosuiteConfig, RobosuiteEnv, robosuite_python

    if robosuite_python() is None:
        print("realism_options: error: robosuite's venv is not installed (set "
              "IGEN_ROBOSUITE_PYTHON or see igen_gs/envs/robosuite.py)", file=sys.stderr)
        return 2
    ecfg = RobosuiteConfig(task=a.task)
    rows = []
    with tempfile.TemporaryDirectory(prefix="igen-realism-") as tmp:
        for k, opts in enumerate(a.option_sets):
            cfg = GeneratedConfig(photo_seed=0, **opts)
            t0 = time.perf_counter()
            with RobosuiteEnv(replace(ecfg, cameras=())) as env:
                lifted = lift_photo(env, cfg)
            data = Path(tmp) / f"set_{k}"
            gen = generated_demos(data, a.episodes, ecfg, cfg, progress=False, lifted=lifted,
                                  workers=a.workers)
            with RobosuiteEnv(replace(ecfg, cameras=())) as env:
                score = bp.realism(env, data, a.episodes, a.frames_per_episode)
            rows.append({"options": opts, **score, "written": gen["written"],
                         "seconds": round(time.perf_counter() - t0, 1)})
            name = ",".join(f"{k}={v}" for k, v in opts.items()) or "defaults (baseline)"
            print(f"{name}: {score['psnr_median']:.2f} dB / SSIM {score['ssim_median']:.3f}",
                  flush=True)
    base = rows[0]
    lines = ["| options | PSNR median (dB) | vs baseline | SSIM median | frames | s |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        name = ", ".join(f"{k}={v}" for k, v in r["options"].items()) or "defaults (baseline)"
        lines.append(f"| {name} | {r['psnr_median']:.2f} | "
                     f"{r['psnr_median'] - base['psnr_median']:+.2f} | {r['ssim_median']:.3f} | "
                     f"{r['frames']} | {r['seconds']:.0f} |")
    print(f"robosuite {a.task}: generated frames vs the simulator's renders of the same states "
          f"({a.episodes} episodes, up to {a.frames_per_episode} frames each, "
          f"{ecfg.width}x{ecfg.height})")
    print("\n".join(lines))
    a.out.mkdir(parents=True, exist_ok=True)
    out = a.out / f"realism_options_{a.task}.json"
    out.write_text(json.dumps({"task": a.task, "episodes": a.episodes,
                               "frames_per_episode": a.frames_per_episode,
                               "size": [ecfg.width, ecfg.height], "rows": rows}, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ValueError as e:
        print(f"realism_options: error: {e}", file=sys.stderr)
        sys.exit(2)
