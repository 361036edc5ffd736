"""Planning benchmark: instruction -> trajectory on synthetic tabletop worlds.

For each task (1, 2 and 3 plan steps) on the worlds of seeds 0..N-1 (Gaussian scenes at 5 mm
spacing, the default 320x240 camera), ``plan_task`` runs with the Panda kinematics check
(every frame solved by inverse kinematics) and without it (the baseline: parsing, grasp
synthesis, motion and scene evolution only), in the same process, after one warm-up run
(imports, the robot model). Reported: median and max wall time over the worlds, the ratio of
the medians (full / baseline), frames per trajectory, and how many worlds were unreachable.
The target is < 1 s for a 3-step task.

    python eval/bench_plan.py                 # 5 worlds; writes eval/results/bench_plan.json
    python eval/bench_plan.py --worlds 10 --out /tmp/bench_plan.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

TASKS = [
    ("1 step", "push the mug forward 5 cm"),
    ("2 steps", "put the red block on the blue plate"),
    ("3 steps", "put the red block on the blue plate then push the mug left 5 cm"),
    ("3 steps", "pick up the green can, put it on the blue plate, then rotate the red block "
                "by 45 degrees"),
]


def run(worlds: int) -> list[dict]:
    from igen_gs.planning import PlanConfig, UnreachableError, plan_task
    from igen_gs.synthetic import make_tabletop_world

    scenes = []
    for seed in range(worlds):
        w = make_tabletop_world(seed)
        s = w.gaussian_scene(spacing=0.005)
        s.camera = w.default_camera(320, 240)
        scenes.append(s)
    plan_task(scenes[0], TASKS[0][1])  # warm-up
    rows = []
    for label, instruction in TASKS:
        full, base, frames, steps, unreachable = [], [], [], 0, 0
        for s in scenes:
            t0 = time.perf_counter()
            try:
                traj = plan_task(s, instruction)
            except UnreachableError:
                unreachable += 1
                continue
            full.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            plan_task(s, instruction, PlanConfig(check_reachability=False))
            base.append(time.perf_counter() - t0)
            frames.append(len(traj))
            steps = len(traj.plan.steps)
        rows.append({
            "task": label, "instruction": instruction, "plan_steps": steps,
            "worlds": len(scenes), "unreachable": unreachable,
            "median_s": statistics.median(full) if full else None,
            "max_s": max(full) if full else None,
            "baseline_median_s": statistics.median(base) if base else None,
            "ratio_vs_baseline": (statistics.median(full) / statistics.median(base))
            if full else None,
            "median_frames": statistics.median(frames) if frames else None,
        })
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worlds", type=int, default=5)
    ap.add_argument("--out", type=Path, default=REPO / "eval/results/bench_plan.json")
    args = ap.parse_args()
    rows = run(args.worlds)
    head = (f"{'task':8} {'steps':>5} {'frames':>6} {'median s':>9} {'max s':>7} "
            f"{'no-IK s':>8} {'ratio':>6} {'unreach':>7}  instruction")
    print(head)
    print("-" * len(head))
    for r in rows:
        def f(v, fmt):
            return format(v, fmt) if v is not None else "-"
        print(f"{r['task']:8} {r['plan_steps']:>5} {f(r['median_frames'], '6.0f')} "
              f"{f(r['median_s'], '9.3f')} {f(r['max_s'], '7.3f')} "
              f"{f(r['baseline_median_s'], '8.3f')} {f(r['ratio_vs_baseline'], '6.2f')} "
              f"{r['unreachable']:>4}/{r['worlds']:<2}  {r['instruction']}")
    doc = {"benchmark": "plan", "machine": {"cpus": os.cpu_count(),
                                            "python": platform.python_version(),
                                            "load_avg": os.getloadavg()},
           "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1))
    os.replace(tmp, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
