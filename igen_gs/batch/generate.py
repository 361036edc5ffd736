"""Batch generation: a manifest of photos + instructions -> one LeRobot dataset.

Each (job, variation) is one task for the executor (worker processes, or one Ray task each):
it lifts the job's photo, applies the variation (seeded: object start poses, placements,
camera placements, colour jitter), plans, renders and returns the episode. The driver is the
only writer: it appends finished episodes to the dataset as they arrive, records failures with
their reasons in ``failures.jsonl`` (never stopping the batch), and skips episodes whose key is
already in the dataset, so an interrupted batch resumes where it stopped.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from ..lifting.config import LiftConfig
from .generate_config import GenerateConfig
from .manifest import Job, episode_key, read_manifest

log = logging.getLogger(__name__)


_LIFTED: dict[str, Any] = {}


def _lifted(job: Job, lift_cfg: LiftConfig):
    """The job's scene, lifted once per worker and reused for its variations."""
    from ..lifting import lift

    cache_key = repr((job, lift_cfg))
    if cache_key in _LIFTED:
        return _LIFTED[cache_key]
    for p in [job.image, job.depth, *job.masks.values()]:
        if p is not None and not Path(p).is_file():
            raise FileNotFoundError(f"job {job.id}: file not found: {p}")
    cfg = LiftConfig(**{**lift_cfg.__dict__, "depth_scale": job.depth_scale})
    scene = lift(job.image, job.depth, job.intrinsics,
                 masks={k: str(v) for k, v in job.masks.items()} or None,
                 prompts=job.prompts or None, config=cfg)
    _LIFTED.clear()  # one job's scene at a time: variations of a job arrive together
    _LIFTED[cache_key] = scene
    return scene


def with_device(cfg: GenerateConfig) -> GenerateConfig:
    """``cfg`` with ``cfg.device`` (when set) copied into its lift and render options; a bad
    or unavailable device raises a one-line ValueError here, before any worker starts."""
    from dataclasses import replace

    from ..device import resolve_device

    if cfg.device is None:
        return cfg
    resolve_device(cfg.device)
    return replace(cfg, lift=replace(cfg.lift, device=cfg.device),
                   episode=replace(cfg.episode, render=replace(cfg.episode.render,
                                                               device=cfg.device)))


def job_gpus(cfg: GenerateConfig) -> int:
    """How many CUDA devices the workers use: 0 when the jobs render on the CPU, 1 for an
    explicit ``cuda:N`` (shared by every worker), else every visible one."""
    from ..device import resolve_device

    devices = {resolve_device(cfg.lift.device), resolve_device(cfg.episode.render.device)}
    cuda = [d for d in devices if d.type == "cuda"]
    if not cuda:
        return 0
    specs = {cfg.lift.device, cfg.episode.render.device}
    if any(s.strip().lower().startswith("cuda:") for s in specs):
        if cfg.executor == "ray":
            raise ValueError("Ray picks each task's GPU: with --executor ray use --device cuda "
                             "or auto, not cuda:N")
        return 1
    import torch

    return torch.cuda.device_count()


def run_job(task: tuple[Job, int, GenerateConfig]) -> dict[str, Any]:
    """One episode of one job (runs in a worker). Returns the episode record and timings."""
    from ..episode.produce import produce_episode

    job, variation, cfg = task
    t0 = time.perf_counter()
    scene = _lifted(job, cfg.lift)
    t_lift = time.perf_counter() - t0
    ep, traj, timings = produce_episode(scene, job.instruction, episode_key(job.id, variation),
                                        cfg.episode, seed=job.seed * 1000 + variation)
    ep.extras.update({"job": job.id, "variation_index": variation, "image": str(job.image)})
    return {"episode": ep, "timings": {"lift": t_lift, **timings}, "fps": traj.fps}


def generate_dataset(manifest, out, cfg: GenerateConfig | None = None,
                     progress: bool = True) -> dict[str, Any]:
    """Run a manifest into the dataset at ``out``; returns a summary (written, skipped,
    failed with reasons, seconds). Failures never stop the batch; they are appended to
    ``out/failures.jsonl`` once the dataset exists (a batch whose every job failed creates
    nothing). An episode that another writer committed meanwhile counts as skipped."""
    from ..io import EpisodeExistsError, LeRobotWriter
    from ..planning.actions import ACTION_NAMES, STATE_NAMES
    from .executors import make_executor

    cfg = with_device(cfg or GenerateConfig())
    jobs = read_manifest(manifest)
    out = Path(out)
    fps = cfg.episode.plan.motion.fps
    writer = LeRobotWriter(out, fps=int(fps), state_names=STATE_NAMES,
                           action_names=ACTION_NAMES[cfg.episode.action_kind],
                           previews=cfg.previews,
                           extra_info={"source": f"igen generate {Path(manifest).name}",
                                       "action_kind": cfg.episode.action_kind})
    tasks, skipped = [], []
    for job in jobs:
        for v in range(job.variations):
            key = episode_key(job.id, v)
            if writer.has_episode(key):
                skipped.append(key)
            else:
                tasks.append((job, v, cfg))
    failures: list[dict] = []
    written: list[str] = []
    stage_seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    executor = make_executor(cfg.executor, cfg.workers, cfg.ray_address, gpus=job_gpus(cfg))
    bar = None
    if progress and tasks:
        from tqdm import tqdm

        bar = tqdm(total=len(tasks), desc="episodes", unit="ep")
    try:
        for (job, v, _), ok, value in executor.map_unordered(run_job, tasks):
            key = episode_key(job.id, v)
            if ok:
                tw = time.perf_counter()
                try:
                    writer.add_episode(value["episode"])
                    written.append(key)
                    for k, s in value["timings"].items():
                        stage_seconds[k] = stage_seconds.get(k, 0.0) + s
                    stage_seconds["write"] = stage_seconds.get("write", 0.0) + \
                        time.perf_counter() - tw
                except EpisodeExistsError:  # another writer committed it meanwhile: done
                    skipped.append(key)
                except ValueError as e:
                    failures.append({"key": key, "reason": f"write: {e}"})
            else:
                failures.append({"key": key, "reason": value})
            if bar is not None:
                bar.update(1)
                bar.set_postfix(failed=len(failures))
    finally:
        if bar is not None:
            bar.close()
        if failures and out.is_dir():  # no dataset yet: nothing is created for failures
            path = out / "failures.jsonl"
            with open(path, "a") as f:
                for fl in failures:
                    f.write(json.dumps({**fl, "time": time.time(), "pid": os.getpid()}) + "\n")
    return {"dataset": str(out), "written": written, "skipped": skipped, "failed": failures,
            "episodes_in_dataset": writer.num_episodes, "seconds": time.perf_counter() - t0,
            "stage_seconds": stage_seconds}
