"""Closed-loop evaluation in robosuite: a policy (or the expert, or the blind baseline) from
seeds no training set used; success by the task's own ``_check_success()`` at any step."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from ..envs.control import action_to_pose
from ..envs.robosuite import RobosuiteConfig, RobosuiteEnv
from .stats import rate_summary


def rollout_policy(env: RobosuiteEnv, policy, seed: int, camera: str = "agentview") -> dict:
    """One closed-loop episode: predict a chunk, execute ``policy.config.execute`` of its
    targets, repeat until success or the horizon."""
    obs = env.reset(seed)
    prev_q = None
    steps = 0
    while steps < env.config.horizon_steps:
        state = obs.policy_state(prev_q)
        prev_q = state[3:7]
        chunk = policy.act(obs.images[camera], state)
        for a in chunk[:policy.config.execute]:
            T, g = action_to_pose(a)
            obs = env.step_to(T, g)
            steps += 1
            if obs.success:
                return {"seed": seed, "success": True, "steps": steps}
    return {"seed": seed, "success": False, "steps": steps}


def evaluate_policy(policy, env_config: RobosuiteConfig, seeds, progress: bool = True
                    ) -> dict[str, Any]:
    """Roll ``policy`` out from every seed; success rate with its 95 % Wilson interval."""
    import torch
    from tqdm.auto import tqdm

    seeds = list(seeds)
    t0 = time.perf_counter()
    results = []
    threads = torch.get_num_threads()
    torch.set_num_threads(policy.config.threads)
    try:
        with RobosuiteEnv(env_config) as env:
            for s in tqdm(seeds, desc="rollouts", unit="ep", disable=not progress,
                          leave=False):
                results.append(rollout_policy(env, policy, s, policy.config.camera))
    finally:
        torch.set_num_threads(threads)
    n = sum(r["success"] for r in results)
    return {**rate_summary(n, len(seeds)), "seeds": seeds, "episodes": results,
            "seconds": time.perf_counter() - t0}


def evaluate_expert(env_config: RobosuiteConfig, seeds, blind: bool = False,
                    progress: bool = True) -> dict[str, Any]:
    """The scripted expert (privileged object poses), or with ``blind`` the same expert
    acting on the nominal poses (no vision), from every seed."""
    from tqdm.auto import tqdm

    from ..envs.demos import run_expert
    from ..envs.expert import ScriptedExpert, nominal_poses

    seeds = list(seeds)
    t0 = time.perf_counter()
    results = []
    with RobosuiteEnv(replace(env_config, cameras=())) as env:
        exp = ScriptedExpert(env_config.task, env.info["object_sizes"])
        for s in tqdm(seeds, desc="blind" if blind else "expert", unit="ep",
                      disable=not progress, leave=False):
            nominal = None
            if blind:
                obs = env.reset(s)
                nominal = nominal_poses(obs, env.info["table_height"], env.info["object_sizes"])
            r = run_expert(env, exp, s, nominal=nominal, record=False)
            results.append({"seed": s, "success": r["success"]})
    n = sum(r["success"] for r in results)
    return {**rate_summary(n, len(seeds)), "seeds": seeds, "episodes": results,
            "seconds": time.perf_counter() - t0}
