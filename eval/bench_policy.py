"""Does the data teach a policy? Closed-loop benchmark in robosuite.

Per task: the scripted expert (privileged state) and a blind baseline (the same expert acting
on the nominal object pose, no vision); policies of ONE recipe (igen_gs.policy, same
hyperparameters and gradient steps) trained on N "real" demonstrations (the expert in the
simulator, its own renders) and on N demonstrations generated from ONE photo of the simulator
(lifted, robot erased, planned, rendered by igen-gs); closed-loop rollouts from seeds no
training set used (eval seeds start at 100000; expert demos use seeds 0, 1, ...; the photo is
seed 0), success by robosuite's _check_success(), 95 % Wilson intervals. Also: open-loop replay
of the generated trajectories in robosuite (bad actions vs bad pictures) and the realism of
generated frames against the simulator's render of the same states (PSNR/SSIM, same
resolution), plus same-view PSNR/SSIM of the lifted photo.

    python eval/bench_policy.py --task Lift [--quick] [--real 25 100] [--generated 100 1000]
        [--executed 100] [--motion KEY=VALUE ...] [--steps 16000] [--threads 1] [--rollouts 50]
        [--gen-workers 2] [--work DIR] [--out eval/results]

--executed N adds a diagnosis row: a policy trained on N of the generated plans as the
simulator executes them open loop, recorded with its own pictures (replay_open_loop's
``record``): the plans without our pictures.

--quick (a few demos, a few hundred steps, 2 rollouts) checks the plumbing only: its success
rates mean nothing. Needs robosuite's venv (IGEN_ROBOSUITE_PYTHON or
~/.cache/igen-gs/robosuite-1.5.2-venv); JSON to eval/results/bench_policy_<task>[_quick].json,
a plot of success against the number of demonstrations beside it.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
EVAL_SEED0 = 100_000


def option_value(text: str, what: str) -> bool | int | float:
    """A GeneratedConfig option's value from the command line: true/false, a whole number or
    a decimal; ValueError naming ``what`` otherwise."""
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    raise ValueError(f"{what}: {text!r} is not a number or true/false")


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", default="Lift", choices=["Lift", "Stack"])
    p.add_argument("--quick", action="store_true", help="plumbing check: tiny everything")
    p.add_argument("--real", type=int, nargs="*", default=None,
                   help="real demo counts (none given: no real demos, e.g. for a --motion run "
                        "beside a finished one)")
    p.add_argument("--generated", type=int, nargs="+", default=None,
                   help="generated demo counts")
    p.add_argument("--executed", type=int, nargs="*", default=None,
                   help="diagnosis: policies trained on that many generated plans as the "
                        "simulator executes and renders them (default: none; --quick: 2)")
    p.add_argument("--motion", nargs="+", default=[], metavar="KEY=VALUE",
                   help="MotionConfig options of the generated plans (numbers or words), e.g. "
                        "profile=trapezoid max_accel=2.5 settle_seconds=0.1")
    p.add_argument("--gen", nargs="+", default=[], metavar="KEY=VALUE",
                   help="other GeneratedConfig options of the generated data (numbers or "
                        "true/false), e.g. robot_calibration_views=16 robot_inset_m=0.002")
    p.add_argument("--steps", type=int, default=None, help="gradient steps per policy")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads while training (2 halves the time when the benchmark "
                        "runs alone on 2 cores; float sums differ, the recipe does not)")
    p.add_argument("--gen-workers", type=int, default=None,
                   help="worker processes rendering the generated episodes, one thread each "
                        "(default: 1 with --quick, else up to 2, the cores here)")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--train-seed", type=int, default=0,
                   help="seed of the policies' initialisation and batches (TrainConfig.seed): "
                        "another seed shows the recipe's own spread on the same data")
    p.add_argument("--proprio-noise-m", type=float, default=None,
                   help="position noise of the recipe (TrainConfig.proprio_noise_m; default "
                        "its default, 0: off)")
    p.add_argument("--rollouts", type=int, default=None, help="closed-loop rollouts per policy")
    p.add_argument("--horizon", type=int, default=None, help="steps per rollout (20 Hz)")
    p.add_argument("--replay", type=int, default=None, help="generated episodes replayed")
    p.add_argument("--realism-episodes", type=int, default=None,
                   help="generated episodes scored against the simulator's renders (the "
                        "first ones; default 100, the generated-100 set; --quick: 1)")
    p.add_argument("--realism-frames", type=int, default=None,
                   help="frames scored per episode, evenly spaced; 0: all of them (default "
                        "0; --quick: 8)")
    p.add_argument("--work", type=Path, default=None,
                   help="datasets and policies (default eval/results/work_<task>[_quick]; "
                        "reused when present)")
    p.add_argument("--out", type=Path, default=REPO / "eval" / "results")
    p.add_argument("--no-baselines", action="store_true",
                   help="skip the expert and blind rollouts")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    q = a.quick
    defaults = {"real": ([2], [25, 100]), "generated": ([2], [100, 1000]), "executed": ([2], []),
                "steps": (200, 16000), "batch_size": (16, 64), "rollouts": (2, 50),
                "horizon": (60, 200 if a.task == "Lift" else 320), "replay": (2, 50),
                "realism_episodes": (1, 100), "realism_frames": (8, 0)}
    for name, (quick, full) in defaults.items():
        if getattr(a, name) is None:
            setattr(a, name, quick if q else full)
    for name in ("real", "generated", "executed"):
        if any(n <= 0 for n in getattr(a, name)):
            p.error(f"--{name} counts must be positive")
    for name in ("steps", "batch_size", "rollouts", "horizon", "threads"):
        if getattr(a, name) <= 0:
            p.error(f"--{name.replace('_', '-')} must be positive")
    if a.train_seed < 0:
        p.error("--train-seed must be 0 or more")
    if a.gen_workers is None:
        import os

        a.gen_workers = 1 if q else max(1, min(2, os.cpu_count() or 1))
    if a.gen_workers < 1:
        p.error("--gen-workers must be 1 or more")
    if a.proprio_noise_m is not None and not a.proprio_noise_m >= 0:
        p.error("--proprio-noise-m must be 0 (off) or more")
    for name in ("replay", "realism_episodes", "realism_frames"):
        if getattr(a, name) < 0:
            p.error(f"--{name.replace('_', '-')} must be 0 (skip) or more")
    a.motion_options = {}
    for kv in a.motion:
        key, sep, val = kv.partition("=")
        if not sep or not key or not val:
            p.error(f"--motion takes KEY=VALUE pairs, got {kv!r}")
        try:
            a.motion_options[key] = float(val)
        except ValueError:
            a.motion_options[key] = val
    try:
        from igen_gs.envs.demos import GeneratedConfig
        from igen_gs.planning.motion_config import MotionConfig

        default = GeneratedConfig().motion_options
        a.motion_options = {**default, **a.motion_options}
        GeneratedConfig(motion_options=a.motion_options)
        MotionConfig(**a.motion_options)
    except (TypeError, ValueError) as e:
        p.error(f"--motion: {e}")
    a.gen_options = {}
    for kv in a.gen:
        key, sep, val = kv.partition("=")
        if not sep or not key or not val:
            p.error(f"--gen takes KEY=VALUE pairs, got {kv!r}")
        if key in ("motion_options", "photo_seed"):
            p.error(f"--gen {key}: set by the benchmark (use --motion for the plans' timing)")
        try:
            a.gen_options[key] = option_value(val, f"--gen {key}")
        except ValueError as e:
            p.error(str(e))
    try:
        GeneratedConfig(**a.gen_options)
    except (TypeError, ValueError) as e:
        p.error(f"--gen: {e}")
    tag = a.task + ("_quick" if q else "") + "".join(
        f"_{k}{v:g}" if isinstance(v, float) else f"_{k}-{v}"
        for k, v in sorted(a.motion_options.items()) if default.get(k) != v) + "".join(
        f"_{k}-{str(v).lower()}" if isinstance(v, bool) else f"_{k}{v:g}"
        for k, v in sorted(a.gen_options.items())) + (
        f"_seed{a.train_seed}" if a.train_seed else "")
    a.work = a.work or a.out / f"work_{tag}"
    a.tag = tag
    return a


def realism(env, dataset: Path, episodes: int, frames_per_ep: int,
            progress: bool = False) -> dict:
    """PSNR/SSIM of generated frames against the simulator's renders of the same states: the
    first ``episodes`` episodes, ``frames_per_ep`` evenly spaced frames of each (0: all)."""
    from igen_gs.envs.demos import _bar, sim_renders_of_episode
    from igen_gs.io import load_lerobot_dataset
    from igen_gs.metrics.image import psnr, ssim

    ds = load_lerobot_dataset(dataset)
    ps, ss = [], []
    eps = ds.episodes[:episodes]
    bar = _bar(len(eps), "realism", progress)
    for ep in eps:
        frames = ep.frames("agentview")
        if frames_per_ep > 0:
            idx = np.unique(np.linspace(0, ep.length - 1, frames_per_ep).round().astype(int))
        else:
            idx = np.arange(ep.length)
        sims = sim_renders_of_episode(env, ep, idx.tolist())
        bar.update(1)
        for t, sim in sims.items():
            a = frames[t].astype(np.float32) / 255
            b = sim.astype(np.float32) / 255
            ps.append(psnr(a, b))
            ss.append(ssim(a, b))
    bar.close()
    return {"episodes": len(eps), "frames": len(ps), "psnr_median": float(np.median(ps)),
            "ssim_median": float(np.median(ss)), "psnr_min": float(np.min(ps))}


def same_view(lifted: dict, width: int, height: int, env, photo_seed: int,
              eps2d: float = 0.3) -> dict:
    """The lifted scene rendered from the photo's camera at the policy size (with the
    generated frames' filter ``eps2d``) vs the simulator's render of the photo's state at that
    size (the lift's own fidelity, robot erased: the simulator's render shows the robot)."""
    import torch

    from igen_gs.envs.robosuite import ROBOT_INSTANCES
    from igen_gs.metrics.image import psnr, ssim
    from igen_gs.scene.camera import Camera

    env.reset(photo_seed)
    ph = env.capture("agentview", width, height)
    cam = Camera(torch.from_numpy(ph["K"]), torch.from_numpy(ph["T_world_cam"]), width, height)
    out = lifted["scene"].render(cam, labels=False, eps2d=eps2d)["rgb"][0].clamp(0, 1).numpy()
    sim = ph["rgb"].astype(np.float32) / 255
    robot = np.zeros(ph["depth"].shape, dtype=bool)
    for n in ROBOT_INSTANCES:
        robot |= ph["masks"].get(n, np.zeros_like(robot))
    return {"psnr": psnr(out, sim), "ssim": ssim(out, sim),
            "psnr_without_robot_pixels": psnr(out, sim, mask=~robot)}


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for src, colour in (("real", "tab:blue"), ("generated", "tab:orange"),
                        ("executed", "tab:green")):
        rows = sorted((int(k), v) for k, v in results["policies"].get(src, {}).items())
        if not rows:
            continue
        n = [r[0] for r in rows]
        rate = [r[1]["rate"] for r in rows]
        lo = [max(r[1]["rate"] - r[1]["ci95"][0], 0.0) for r in rows]  # 0/n: lo ~ -1e-17
        hi = [max(r[1]["ci95"][1] - r[1]["rate"], 0.0) for r in rows]
        ax.errorbar(n, rate, yerr=[lo, hi], marker="o", capsize=3, color=colour, label=src)
    for key, style in (("expert", "--"), ("blind", ":")):
        if key in results:
            ax.axhline(results[key]["rate"], ls=style, color="grey", label=key)
    ax.set_xscale("log")
    ax.set_xlabel("demonstrations")
    ax.set_ylabel("closed-loop success")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"robosuite {results['task']} ({results['config']['rollouts']} rollouts, 95 % CI)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def table(res: dict) -> str:
    lines = ["| policy | success | 95 % CI | train s | demos/frames |",
             "| --- | --- | --- | --- | --- |"]

    def row(name, r, train=" | "):
        lo, hi = r["ci95"]
        lines.append(f"| {name} | {r['successes']}/{r['trials']} ({100 * r['rate']:.0f} %) | "
                     f"{100 * lo:.0f}-{100 * hi:.0f} % | {train} |")

    if "expert" in res:
        row("expert (privileged state)", res["expert"])
    names = {"executed": "generated plans executed in the simulator"}
    for src in ("real", "generated", "executed"):
        for n, r in sorted(res["policies"].get(src, {}).items(), key=lambda x: int(x[0])):
            t = r["train"]
            row(f"{names.get(src, src)}-{n}", r,
                f"{t['seconds']:.0f} | {t['episodes']}/{t['frames']}")
    if "blind" in res:
        row("blind baseline (nominal pose)", res["blind"])
    return "\n".join(lines)


def main(argv=None) -> int:
    a = parse(argv)
    logging.basicConfig(level=logging.WARNING)
    from igen_gs.envs.demos import (
        GeneratedConfig,
        generated_demos,
        lift_photo,
        record_expert_demos,
        replay_open_loop,
    )
    from igen_gs.envs.robosuite import RobosuiteConfig, RobosuiteEnv, robosuite_python
    from igen_gs.policy.data import load_samples
    from igen_gs.policy.rollout import evaluate_expert, evaluate_policy
    from igen_gs.policy.train import Policy, TrainConfig, train_policy

    if robosuite_python() is None:
        print("bench_policy: error: robosuite's venv is not installed (set IGEN_ROBOSUITE_PYTHON"
              " or see igen_gs/envs/robosuite.py)", file=sys.stderr)
        return 2
    progress = not a.no_progress
    env_cfg = RobosuiteConfig(task=a.task, horizon_steps=a.horizon)
    tcfg = TrainConfig(steps=a.steps, batch_size=a.batch_size, threads=a.threads,
                       seed=a.train_seed)
    if a.proprio_noise_m is not None:
        tcfg = replace(tcfg, proprio_noise_m=a.proprio_noise_m)
    eval_seeds = list(range(EVAL_SEED0, EVAL_SEED0 + a.rollouts))
    a.work.mkdir(parents=True, exist_ok=True)
    a.out.mkdir(parents=True, exist_ok=True)
    res: dict = {"task": a.task, "quick": a.quick,
                 "config": {"env": asdict(env_cfg), "train": asdict(tcfg),
                            "rollouts": a.rollouts, "eval_seeds": [eval_seeds[0],
                                                                   eval_seeds[-1]],
                            "real": a.real, "generated": a.generated,
                            "executed": a.executed, "motion_options": a.motion_options,
                            "generated_options": a.gen_options},
                 "stage_seconds": {}, "policies": {}}
    if a.quick:
        res["note"] = "--quick checks the plumbing only; these success rates mean nothing"
    out_json = a.out / f"bench_policy_{a.tag}.json"

    def stage(name, t0):
        res["stage_seconds"][name] = round(time.perf_counter() - t0, 1)
        out_json.write_text(json.dumps(res, indent=1))

    def cached(path: Path, compute):
        """A rollout result kept in the work directory, so that a rerun with more data (e.g.
        generated-1000 added to a finished run) computes only what is new."""
        if path.is_file():
            return json.loads(path.read_text())
        r = compute()
        r.pop("episodes", None)
        path.write_text(json.dumps(r))
        return r

    eval_tag = f"{a.rollouts}x{a.horizon}"
    if not a.no_baselines:
        t0 = time.perf_counter()
        res["expert"] = cached(a.work / f"eval_expert_{eval_tag}.json",
                               lambda: evaluate_expert(env_cfg, eval_seeds, progress=progress))
        res["blind"] = cached(a.work / f"eval_blind_{eval_tag}.json",
                              lambda: evaluate_expert(env_cfg, eval_seeds, blind=True,
                                                      progress=progress))
        stage("expert and blind rollouts", t0)

    real_dir = a.work / "real"
    if a.real:
        t0 = time.perf_counter()
        rec = record_expert_demos(real_dir, max(a.real), env_cfg, first_seed=0,
                                  progress=progress)
        res["real_demos"] = {k: rec[k] for k in ("attempts", "successes")}
        res["real_demos"]["expert_success_rate"] = rec["successes"] / rec["attempts"]
        stage("record real demos", t0)

    t0 = time.perf_counter()
    gen_dir = a.work / "generated"
    gcfg = GeneratedConfig(photo_seed=0, motion_options=a.motion_options, **a.gen_options)
    with RobosuiteEnv(replace(env_cfg, cameras=())) as env:
        lifted = lift_photo(env, gcfg)
        res["same_view"] = same_view(lifted, env_cfg.width, env_cfg.height, env,
                                     gcfg.photo_seed, gcfg.render_eps2d)
    gen = generated_demos(gen_dir, max(a.generated), env_cfg, gcfg, progress=progress,
                          lifted=lifted, workers=a.gen_workers)
    res["generated_demos"] = {"written": gen["written"], "failed": len(gen["failed"]),
                              "failures": gen["failed"][:5],
                              "seconds": {k: round(v, 1) for k, v in gen["seconds"].items()}}
    stage("generate demos", t0)

    rep = {"episodes": 0, "successes": 0}
    if a.replay > 0:
        t0 = time.perf_counter()
        rep = replay_open_loop(gen_dir, env_cfg, max_episodes=a.replay, progress=progress)
        res["replay"] = {"episodes": rep["episodes"], "successes": rep["successes"]}
        stage("open-loop replay", t0)

    exec_dir = a.work / "executed"
    if a.executed:
        # Diagnosis: the generated plans as the simulator executes them, recorded with its own
        # pictures: policies trained on them separate the plans from the pictures.
        t0 = time.perf_counter()
        ex = replay_open_loop(gen_dir, env_cfg, max_episodes=max(a.executed),
                              progress=progress, record=exec_dir)
        res["executed_demos"] = {"episodes": ex["episodes"], "successes": ex["successes"],
                                 "recorded": ex["recorded"]}
        if ex["recorded"] < max(a.executed):
            raise ValueError(f"only {ex['recorded']} of the {ex['episodes']} generated plans "
                             f"lifted the cube when executed; --executed {max(a.executed)} "
                             "needs that many")
        stage("record executed plans", t0)

    if a.realism_episodes > 0:
        t0 = time.perf_counter()
        with RobosuiteEnv(replace(env_cfg, cameras=())) as env:
            res["realism"] = realism(env, gen_dir, a.realism_episodes, a.realism_frames,
                                     progress=progress)
        stage("realism of generated frames", t0)

    for src, root, counts in (("real", real_dir, a.real), ("generated", gen_dir, a.generated),
                              ("executed", exec_dir, a.executed)):
        res["policies"][src] = {}
        for n in counts:
            t0 = time.perf_counter()
            # the recipe's position noise is part of the name: a rerun with another recipe
            # does not pick up policies trained with this one
            noise = f"_pn{tcfg.proprio_noise_m:g}" if tcfg.proprio_noise_m else ""
            noise += f"_seed{tcfg.seed}" if tcfg.seed else ""
            ckpt = a.work / f"policy_{src}_{n}_{tcfg.steps}{noise}.pt"
            if ckpt.is_file():
                pol = Policy.load(ckpt)
            else:
                samples = load_samples(root, tcfg.camera, tcfg.chunk, max_episodes=n)
                pol = train_policy(None, tcfg, progress=progress, samples=samples)
                pol.save(ckpt)
            ev = cached(ckpt.with_name(ckpt.stem + f"_eval_{eval_tag}.json"),
                        lambda pol=pol: evaluate_policy(pol, env_cfg, eval_seeds,
                                                        progress=progress))
            res["policies"][src][str(n)] = {**ev, "train": pol.info}
            stage(f"policy {src}-{n}", t0)

    out_json.write_text(json.dumps(res, indent=1))
    plot(res, a.out / f"bench_policy_{a.tag}.png")
    print(f"robosuite {a.task}: {a.rollouts} rollouts per row, {a.steps} gradient steps per "
          f"policy{' (--quick: plumbing only)' if a.quick else ''}")
    print(table(res))
    if "executed_demos" in res:
        e = res["executed_demos"]
        print(f"generated plans executed and recorded by the simulator: {e['recorded']} of "
              f"{e['episodes']}")
    if "real_demos" in res:
        print(f"expert demos: {res['real_demos']['successes']}/{res['real_demos']['attempts']} "
              "attempts succeeded")
    print(f"generated: {gen['written']} written, {len(gen['failed'])} failed to plan; "
          f"open-loop replay {rep['successes']}/{rep['episodes']}")
    sv = res["same_view"]
    print(f"same-view lift vs simulator render: {sv['psnr']:.2f} dB / SSIM {sv['ssim']:.3f} "
          f"({sv['psnr_without_robot_pixels']:.2f} dB without the robot's pixels)")
    if "realism" in res:
        r = res["realism"]
        print(f"generated frames vs simulator renders of the same states: median "
              f"{r['psnr_median']:.2f} dB / SSIM {r['ssim_median']:.3f} over {r['frames']} "
              f"frames of {r['episodes']} episodes (min {r['psnr_min']:.2f} dB)")
    print("stage seconds: " + ", ".join(f"{k} {v}" for k, v in res["stage_seconds"].items()))
    print(f"wrote {out_json}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ValueError as e:
        print(f"bench_policy: error: {e}", file=sys.stderr)
        sys.exit(2)
